import { describe, expect, it } from 'vitest';
import { createLimiter, mapLimited } from '../../src/util/concurrency.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('createLimiter', () => {
  it('runs at most `limit` tasks at once, in order, and passes results and errors through', async () => {
    const limit = createLimiter(2);
    const started: number[] = [];
    const release: (() => void)[] = [];
    const tasks = [0, 1, 2, 3].map((n) =>
      limit(async () => {
        started.push(n);
        await new Promise<void>((resolve) => release.push(resolve));
        if (n === 3) throw new Error('task 3 failed');
        return n * 10;
      }),
    );
    const settled = Promise.allSettled(tasks);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    release.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    while (started.length < 4 || release.length > 0) {
      release.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const results = await settled;
    expect(results.slice(0, 3)).toEqual([0, 10, 20].map((value) => ({ status: 'fulfilled', value })));
    expect(results[3]).toMatchObject({ status: 'rejected', reason: new Error('task 3 failed') });
  });

  it('rejects a limit below 1', () => {
    expect(() => createLimiter(0)).toThrow(RangeError);
    expect(() => createLimiter(1.5)).toThrow(/whole number/);
  });
});

describe('mapLimited', () => {
  it("runs at most `limit` tasks at once, starts them in order, and gives the results in the items' order", async () => {
    const started: number[] = [];
    const release = new Map<number, () => void>();
    let active = 0;
    let most = 0;
    const mapped = mapLimited([0, 1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      active += 1;
      most = Math.max(most, active);
      await new Promise<void>((resolve) => release.set(n, resolve));
      active -= 1;
      return n * 10;
    });
    await tick();
    expect(started).toEqual([0, 1]);
    // Finishing out of order: the freed slot takes the next item.
    release.get(1)?.();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    for (const n of [2, 0, 3, 4]) {
      release.get(n)?.();
      await tick();
    }
    expect(await mapped).toEqual([0, 10, 20, 30, 40]);
    expect(most).toBe(2);
  });

  it('rejects with the first failure, and the other runners still go through the list', async () => {
    const done: number[] = [];
    const mapped = mapLimited([0, 1, 2, 3, 4, 5], 2, async (n) => {
      await tick();
      if (n === 1) throw new Error('item 1 failed');
      done.push(n);
      return n;
    });
    await expect(mapped).rejects.toThrow('item 1 failed');
    for (let i = 0; i < 10; i += 1) await tick();
    expect(done).toEqual([0, 2, 3, 4, 5]);
  });

  it('takes an empty list, and refuses a limit below 1 or not whole', async () => {
    expect(await mapLimited([], 4, async () => 1)).toEqual([]);
    await expect(mapLimited([1], 0, async (n) => n)).rejects.toThrow(RangeError);
    await expect(mapLimited([1], 1.5, async (n) => n)).rejects.toThrow('concurrency must be a whole number of at least 1, got 1.5');
  });
});
