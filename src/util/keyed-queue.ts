// Runs work one at a time per key, in the order it was asked for, and work of different
// keys concurrently: the in-process half of serialising changes to one package (SQLite's
// write lock, BEGIN IMMEDIATE, is the half across processes).
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    // Runs after the previous one settles, whether it succeeded or not.
    const result = before.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
