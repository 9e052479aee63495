// Keeps cached tarballs under cache.maxCacheBytes by removing the least recently used
// unpinned ones. The index row goes first, so a request never finds a row whose file is
// being deleted; a reader that already opened the file keeps reading it.
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, TarballRow } from '../store/cache-index.js';
import { tarballKey } from './layout.js';

export interface EvictionResult {
  evicted: TarballRow[];
  bytesFreed: number;
  /** Bytes still cached; above the limit only when pinned tarballs alone exceed it. */
  bytesCached: number;
}

export class CacheEvictor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<EvictionResult> | undefined;

  constructor(
    private readonly index: CacheIndex,
    private readonly blobs: BlobStore,
    private readonly maxBytes: number,
    private readonly log: Logger,
    /** Told of each eviction, so in-memory copies go too. */
    private readonly onEvicted: (row: TarballRow) => void = () => undefined,
  ) {}

  /** Evicts down to 90% of the limit, so the next few fills do not each trigger a pass. */
  run(): Promise<EvictionResult> {
    this.running ??= this.evict().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(everyMs: number): void {
    if (this.maxBytes <= 0) return;
    this.timer = setInterval(() => {
      this.run().catch((error: unknown) => this.log.error({ err: errorMessage(error) }, 'cache eviction failed'));
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async evict(): Promise<EvictionResult> {
    let bytesCached = this.index.tarballTotals().bytes;
    const result: EvictionResult = { evicted: [], bytesFreed: 0, bytesCached };
    if (this.maxBytes <= 0 || bytesCached <= this.maxBytes) return result;
    const target = Math.floor(this.maxBytes * 0.9);
    while (bytesCached > target) {
      const batch = this.index.listEvictable(100);
      if (batch.length === 0) break;
      for (const row of batch) {
        if (bytesCached <= target) break;
        await removeTarball(this.index, this.blobs, row);
        this.onEvicted(row);
        bytesCached -= row.size;
        result.evicted.push(row);
        result.bytesFreed += row.size;
      }
    }
    result.bytesCached = bytesCached;
    if (result.evicted.length > 0) {
      this.log.info(
        { evicted: result.evicted.length, bytesFreed: result.bytesFreed, bytesCached, maxBytes: this.maxBytes },
        'evicted least recently used tarballs',
      );
    }
    if (bytesCached > this.maxBytes) {
      this.log.warn({ bytesCached, maxBytes: this.maxBytes }, 'pinned tarballs alone exceed cache.maxCacheBytes; nothing more can be evicted');
    }
    return result;
  }
}

export async function removeTarball(index: CacheIndex, blobs: BlobStore, row: TarballRow): Promise<void> {
  const key = tarballKey(row.repo, row.name, row.version);
  if (!blobs.deleteRevision) {
    index.removeTarball(row.repo, row.name, row.version);
    await blobs.delete(key);
    return;
  }
  const evicted = (await blobs.open(key))?.revision;
  index.removeTarball(row.repo, row.name, row.version);
  // Once the row is gone a request may fetch the tarball again and commit it under the same
  // key: only the file that was evicted goes, never that fresh one (its row is on the way).
  if (evicted !== undefined) await blobs.deleteRevision(key, evicted, () => true);
}
