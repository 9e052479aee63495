// One in-flight fill per key: concurrent callers share the first caller's promise. The
// fill does not depend on any caller's connection, and failures are not remembered.
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  /**
   * `holdUntil` keeps a fill's key taken after its value is ready, until the promise it
   * returns settles: a fill that answers before it has finished writing still makes later
   * callers join it rather than start another.
   */
  constructor(private readonly holdUntil?: (value: T) => Promise<unknown> | undefined) {}

  run(key: string, fill: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing) return existing;
    const promise = Promise.resolve().then(fill);
    this.inflight.set(key, promise);
    const forget = (): void => {
      this.inflight.delete(key);
    };
    promise.then((value) => {
      const held = this.holdUntil?.(value);
      if (held) held.then(forget, forget);
      else forget();
    }, forget);
    return promise;
  }

  get size(): number {
    return this.inflight.size;
  }
}
