// At most a few upstream requests at once per package, so one package whose answers
// crawl (a hostile or broken upstream dripping a byte at a time) cannot take the whole
// connection pool and stall every other package's misses. The others wait their turn,
// holding no connection; nothing waits while holding a slot, so this cannot deadlock.

/** The package a repository path belongs to ("tarballs/phoenix-1.7.0.tar" → "phoenix"); other paths are their own key. */
export function packageKeyOf(path: string): string {
  const match = /^\/*(?:packages\/([a-z][a-z0-9_]*)$|(?:tarballs|docs)\/([a-z][a-z0-9_]*)-)/.exec(path);
  return match?.[1] ?? match?.[2] ?? path.replace(/^\/+/, '');
}

export class PackageSlots {
  private readonly keys = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(readonly perKey: number) {
    if (!Number.isInteger(perKey) || perKey < 1) throw new RangeError(`slots per package must be a whole number of at least 1, got ${perKey}`);
  }

  /** Resolves with the function that gives the slot back (calling it again does nothing). */
  async acquire(key: string): Promise<() => void> {
    const entry = this.keys.get(key) ?? { active: 0, waiting: [] };
    this.keys.set(key, entry);
    // A freed slot is handed straight to the next waiter, so newcomers cannot overtake the queue.
    if (entry.active < this.perKey) entry.active += 1;
    else await new Promise<void>((resume) => entry.waiting.push(resume));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = entry.waiting.shift();
      if (next) return next();
      entry.active -= 1;
      if (entry.active === 0) this.keys.delete(key);
    };
  }
}
