// What clients use, counted in memory and written in one transaction every few seconds,
// so serving from cache never waits on a database write. Feeds `cache stats` and LRU
// eviction (last use).
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { CacheIndex } from '../store/cache-index.js';
import type { CacheStatus } from './registry-mirror.js';

interface PendingHit {
  repo: string;
  name: string;
  version: string;
  hits: number;
  lastUsedAt: number;
}

// Counter names built once: registry() runs on every hot request.
const REGISTRY_COUNTERS: Record<CacheStatus, string> = {
  hit: 'registry_hit',
  miss: 'registry_miss',
  revalidated: 'registry_revalidated',
  stale: 'registry_stale',
};

export class UsageRecorder {
  private hits = new Map<string, PendingHit>();
  private counters = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly index: CacheIndex,
    private readonly log: Logger,
    flushEveryMs = 5000,
  ) {
    this.timer = setInterval(() => this.flush(), flushEveryMs);
    this.timer.unref();
  }

  tarball(repo: string, name: string, version: string, cache: 'hit' | 'miss'): void {
    this.count(`tarball_${cache}`);
    if (cache === 'miss') return;
    const key = `${repo}/${name}/${version}`;
    const entry = this.hits.get(key);
    const now = Date.now();
    if (entry) {
      entry.hits += 1;
      entry.lastUsedAt = now;
    } else {
      this.hits.set(key, { repo, name, version, hits: 1, lastUsedAt: now });
    }
  }

  registry(cache: CacheStatus): void {
    this.count(REGISTRY_COUNTERS[cache]);
  }

  private count(name: string): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + 1);
  }

  flush(): void {
    if (this.hits.size === 0 && this.counters.size === 0) return;
    const hits = this.hits;
    const counters = this.counters;
    this.hits = new Map();
    this.counters = new Map();
    try {
      this.index.saveUsage(hits.values(), counters.entries());
    } catch (error: unknown) {
      this.log.warn({ err: errorMessage(error) }, 'cannot record cache usage');
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
