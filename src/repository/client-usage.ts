// What clients use, counted once for every repository: in the cache index (cache stats,
// least-recently-used eviction, through the UsageRecorder's batched writes) and in the
// metrics. Operations (pre-warm, mirror, export) read the sources directly and count
// nothing, so only clients' reads are hits.
import type { Metrics } from '../metrics/metrics.js';
import type { UsageRecorder } from '../mirror/usage-recorder.js';
import type { CacheStatus } from '../mirror/registry-mirror.js';

export class ClientUsage {
  constructor(
    private readonly recorder: UsageRecorder,
    private readonly metrics?: Metrics,
  ) {}

  registry(cache: CacheStatus): void {
    this.recorder.registry(cache);
    this.metrics?.cache('registry', cache);
  }

  tarball(repo: string, name: string, version: string, cache: 'hit' | 'miss'): void {
    this.recorder.tarball(repo, name, version, cache);
    this.metrics?.cache('tarball', cache);
  }

  docs(cache: CacheStatus): void {
    this.metrics?.cache('docs', cache);
  }

  /** Writes what is counted but not yet in the index, and stops the periodic writes. */
  stop(): void {
    this.recorder.stop();
  }
}
