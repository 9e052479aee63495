// Files hexproxy relays without re-signing: /docs/* from the repository (the /installs build
// lists, which must verify, have their own mirror: src/installs/). Cached on disk; mutable ones are
// revalidated after the TTL, immutable ones never; served stale when upstream fails.
import { NotFoundError, StorageError, allowsStale } from '../errors.js';
import type { Logger } from '../log.js';
import { passthroughKey } from '../cache/layout.js';
import { confirmedAt, isFreshRow } from '../cache/rows.js';
import type { BlobStore, StoredBlob } from '../store/blob-store.js';
import type { CacheIndex, PassthroughRow } from '../store/cache-index.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { CacheStatus } from './registry-mirror.js';
import { SingleFlight } from './single-flight.js';
import { commitWithRow, stageDownload } from './staged-download.js';

export interface PassthroughResult {
  blob: StoredBlob;
  row: PassthroughRow;
  etag: string;
  cache: CacheStatus;
}

export interface PassthroughMirrorOptions {
  upstream: UpstreamClient;
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  ttlMs: number;
  maxBytes: number;
  /**
   * Cached paths start with this (an organization's "repos/ORG/"), which its upstream
   * client's base URL already holds: it is cut off before asking upstream.
   */
  pathPrefix?: string;
}

export class PassthroughMirror {
  private readonly flights = new SingleFlight<PassthroughResult>();

  constructor(private readonly options: PassthroughMirrorOptions) {}

  /**
   * `path` is already validated: safe segments only. `revalidate` asks upstream even when
   * the cached copy is still fresh (if upstream cannot be asked, the copy is served stale).
   */
  async get(path: string, immutable: boolean, revalidate = false): Promise<PassthroughResult> {
    const cached = await this.cached(path);
    if (cached && (immutable || (!revalidate && this.isFresh(cached.row)))) return cached;
    return this.flights.run(path, async () => {
      try {
        return await this.fetch(path, cached);
      } catch (error: unknown) {
        if (error instanceof NotFoundError && cached) await this.forget(path);
        if (cached && allowsStale(error)) return { ...cached, cache: 'stale' };
        throw error;
      }
    });
  }

  /** The cached copy, whatever its age, without asking upstream. */
  async cached(path: string): Promise<PassthroughResult | undefined> {
    const row = this.options.index.findPassthroughFile(path);
    if (!row) return undefined;
    const blob = await this.options.blobs.open(passthroughKey(path));
    if (!blob || blob.size !== row.size) {
      this.options.index.removePassthroughFile(path);
      return undefined;
    }
    return { blob, row, etag: `"${row.sha256.slice(0, 40)}"`, cache: 'hit' };
  }

  private async fetch(path: string, cached: PassthroughResult | undefined): Promise<PassthroughResult> {
    const { upstream, index, blobs, maxBytes } = this.options;
    // Refused without asking (offline): named as hexproxy serves it, with an organization's repos/ORG/.
    const refused = upstream.refusal(`/${path}`);
    if (refused) throw refused;
    const prefix = this.options.pathPrefix ?? '';
    const result = await upstream.getIfChanged(path.startsWith(prefix) ? path.slice(prefix.length) : path, cached?.row.upstreamEtag ?? null);
    const now = Date.now();
    if (result.status === 304 && cached) {
      index.touchPassthroughFile(path, now);
      return { ...cached, row: confirmedAt(cached.row, now), cache: 'revalidated' };
    }
    if (result.status === 304) throw new NotFoundError(`upstream answered 304 for /${path} without a conditional request`);
    const key = passthroughKey(path);
    const staged = await stageDownload(blobs, key, result, { maxBytes, what: `/${path}`, limitSetting: 'cache.maxTarballBytes' });
    const row: PassthroughRow = {
      path,
      upstreamEtag: result.etag ?? null,
      sha256: staged.sha256,
      size: staged.size,
      fetchedAt: now,
      checkedAt: now,
      upstreamAsOf: now,
    };
    await commitWithRow(staged, blobs, key, () => index.savePassthroughFile(row));
    const blob = await blobs.open(key);
    if (!blob) throw new StorageError(`/${path} vanished from the cache right after it was written`);
    return { blob, row, etag: `"${row.sha256.slice(0, 40)}"`, cache: cached ? 'revalidated' : 'miss' };
  }

  private async forget(path: string): Promise<void> {
    this.options.index.removePassthroughFile(path);
    await this.options.blobs.delete(passthroughKey(path));
  }

  private isFresh(row: PassthroughRow): boolean {
    return isFreshRow(row, this.options.ttlMs);
  }
}
