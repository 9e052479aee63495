// Tarball hits are counted in memory and written in one transaction every few seconds,
// so serving a cached tarball never waits on a database write.
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { CacheIndex } from '../store/cache-index.js';

interface Pending {
  repo: string;
  name: string;
  version: string;
  hits: number;
  lastUsedAt: number;
}

export class HitCounter {
  private pending = new Map<string, Pending>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly index: CacheIndex, private readonly log: Logger, flushEveryMs = 5000) {
    this.timer = setInterval(() => this.flush(), flushEveryMs);
    this.timer.unref();
  }

  record(repo: string, name: string, version: string): void {
    const key = `${repo}/${name}/${version}`;
    const entry = this.pending.get(key);
    const now = Date.now();
    if (entry) {
      entry.hits += 1;
      entry.lastUsedAt = now;
    } else {
      this.pending.set(key, { repo, name, version, hits: 1, lastUsedAt: now });
    }
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      this.index.saveHits(batch.values());
    } catch (error: unknown) {
      this.log.warn({ err: errorMessage(error) }, 'cannot record tarball hits');
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
