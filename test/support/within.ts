// A bound on how long a test waits for an event: a hang fails the test with what was awaited
// instead of running into vitest's timeout. Not a speed assertion: bounds are generous.

/** `promise`, or a rejection naming `what` once `boundMs` have passed without it settling. */
export async function within<T>(promise: Promise<T>, what: string, boundMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${boundMs} ms`)), boundMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
