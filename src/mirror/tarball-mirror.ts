// Package tarballs: immutable, so a cached one is served from disk forever. A miss is
// fetched, checked against the checksum in the verified registry entry, and only then
// committed to disk and the index.
import { LRUCache } from 'lru-cache';
import { NotFoundError, StorageError, UpstreamUnavailableError, VerificationError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { expectedChecksum, type ExpectedChecksum } from '../registry/tarball-checksum.js';
import type { Release } from '../registry/types.js';
import { tarballKey } from '../cache/layout.js';
import { newTarballRow } from '../cache/rows.js';
import { verifyTarball } from '../cache/verify-tarball.js';
import { bufferBlob, type BlobStore, type StoredBlob } from '../store/blob-store.js';
import type { CacheIndex, TarballRow } from '../store/cache-index.js';
import { readBody } from '../upstream/client.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { sha256Hex, type RegistryMirror } from './registry-mirror.js';
import { SingleFlight } from './single-flight.js';
import { commitWithRow, stageDownload } from './staged-download.js';

export interface TarballResult {
  blob: StoredBlob;
  row: TarballRow;
  etag: string;
  cache: 'hit' | 'miss';
  /** The whole tarball, when it is small enough to be kept in memory. */
  bytes?: Buffer;
  /**
   * A small miss is answered from its verified bytes while they are written to disk;
   * this settles once they are (rejecting if they could not be).
   */
  stored?: Promise<void>;
}

/** A tarball held in memory: served with no I/O at all. */
export interface HotTarball {
  body: Buffer;
  row: TarballRow;
  etag: string;
}

/** Tarballs up to this size are kept in memory; larger ones are streamed from disk. */
export const HOT_TARBALL_MAX_BYTES = 1024 * 1024;

export interface TarballMirrorOptions {
  repo: string;
  upstream: UpstreamClient;
  registry: RegistryMirror;
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  maxTarballBytes: number;
  notFoundTtlMs: number;
  /** Bound of the in-memory copies of small tarballs; 0 keeps none. */
  memoryBytes: number;
}

export class TarballMirror {
  private readonly flights = new SingleFlight<TarballResult>((result) => result.stored);
  // Releases the verified registry does not list, so repeated requests for a version that
  // does not exist do not each make hexproxy ask upstream again.
  private readonly missingReleases: LRUCache<string, true>;
  // Hot small tarballs, like nginx's open_file_cache plus the page cache in one. Entries
  // remember the index's writesElsewhere() so an eviction by another process is noticed.
  private readonly memory: LRUCache<string, { hot: HotTarball; generation: number }> | undefined;
  private readonly storing = new Set<Promise<void>>();
  // Small tarballs whose file this process has checksummed (read in, or written itself),
  // by the row's SHA-256: when memory has no room for one, it is streamed from disk like a
  // large one rather than read and hashed again on every hit (an LRU over a working set
  // larger than itself would do exactly that).
  private readonly checkedFiles = new LRUCache<string, string>({ max: 1_000_000 });

  constructor(private readonly options: TarballMirrorOptions) {
    this.missingReleases = new LRUCache<string, true>({ max: 10_000, ttl: Math.max(1, options.notFoundTtlMs) });
    if (options.memoryBytes > 0) {
      this.memory = new LRUCache({ maxSize: options.memoryBytes, sizeCalculation: ({ hot }) => hot.body.length + 512 });
    }
  }

  /** The tarball if memory holds it (and no other process has written the index since). */
  peek(name: string, version: string): HotTarball | undefined {
    const entry = this.memory?.get(`${name}-${version}`);
    return entry && entry.generation === this.options.index.writesElsewhere() ? entry.hot : undefined;
  }

  /**
   * The indexed local file of a cached tarball that is not in memory and need not be read
   * in (too large, or already checksummed here): no I/O beyond the index. The caller opens
   * it and must check its size against the row, as `get` does.
   */
  cachedFile(name: string, version: string): { row: TarballRow; path: string; etag: string } | undefined {
    const { repo, index, blobs } = this.options;
    if (!blobs.localPath) return undefined;
    const row = index.findTarball(repo, name, version);
    if (!row) return undefined;
    // One memory can hold, never checked by this process, is left to `get`, which reads it
    // in and checks its SHA-256 first.
    const unchecked = this.checkedFiles.get(`${name}-${version}`) !== row.sha256;
    if (this.memory && row.size <= HOT_TARBALL_MAX_BYTES && unchecked) return undefined;
    return { row, path: blobs.localPath(tarballKey(repo, name, version)), etag: `"${row.sha256}"` };
  }

  /** Drops the in-memory copy (after an eviction). */
  forget(name: string, version: string): void {
    this.memory?.delete(`${name}-${version}`);
    this.checkedFiles.delete(`${name}-${version}`);
  }

  /** Settles once every store behind an early answer has finished (for shutdown). */
  async drain(): Promise<void> {
    while (this.storing.size > 0) await Promise.allSettled([...this.storing]);
  }

  /** What the in-memory copies take, against cache.memoryTarballBytes. */
  memoryBytes(): number {
    return this.memory?.calculatedSize ?? 0;
  }

  /**
   * A verified tarball, cached. `waitForDisk: false` (serving clients) answers a small miss
   * as soon as it is verified, before it is durable on disk; operations that rely on the
   * cache (pre-warm, pin) wait, and see the error if it could not be stored.
   */
  async get(name: string, version: string, { waitForDisk = true }: { waitForDisk?: boolean } = {}): Promise<TarballResult> {
    const cached = await this.cached(name, version);
    if (cached) return cached;
    // Refused without asking (offline): a miss at once, before the release is looked up to check it against.
    const refused = this.options.upstream.refusal(`tarball ${name}-${version}`);
    if (refused) throw refused;
    const result = await this.flights.run(`${name}-${version}`, () => this.fill(name, version));
    if (waitForDisk && result.stored) await result.stored;
    return result;
  }

  private async cached(name: string, version: string): Promise<TarballResult | undefined> {
    const { repo, index, blobs } = this.options;
    const row = index.findTarball(repo, name, version);
    if (!row) return undefined;
    const blob = await blobs.open(tarballKey(repo, name, version));
    if (!blob || blob.size !== row.size) {
      // The file went missing or was cut short behind our back: refetch rather than serve it.
      this.options.log.warn({ tarball: `${name}-${version}` }, 'an indexed tarball is missing or has the wrong size on disk; refetching');
      index.removeTarball(repo, name, version);
      return undefined;
    }
    const result: TarballResult = { blob, row, etag: `"${row.sha256}"`, cache: 'hit' };
    if (!this.memory || row.size > HOT_TARBALL_MAX_BYTES) return result;
    // Read once into memory, and checked on the way: bytes that rotted on disk (or were
    // changed behind hexproxy's back) are refetched, not kept and served for ever after.
    const bytes = await blobs.read(tarballKey(repo, name, version));
    if (!bytes || bytes.length !== row.size || sha256Hex(bytes) !== row.sha256) {
      this.options.log.error({ tarball: `${name}-${version}` }, 'a cached tarball no longer matches its SHA-256 on disk; refetching it');
      index.removeTarball(repo, name, version);
      return undefined;
    }
    this.keepInMemory(name, version, result, bytes);
    return result;
  }

  /** Small tarballs are kept, so later hits cost no I/O. */
  private keepInMemory(name: string, version: string, result: TarballResult, bytes: Buffer): void {
    result.bytes = bytes;
    this.checkedFiles.set(`${name}-${version}`, result.row.sha256);
    this.memory?.set(`${name}-${version}`, {
      hot: { body: bytes, row: result.row, etag: result.etag },
      generation: this.options.index.writesElsewhere(),
    });
  }

  private async fill(name: string, version: string): Promise<TarballResult> {
    const { repo, upstream, blobs, index, maxTarballBytes } = this.options;
    const expected = expectedChecksum(await this.findRelease(name, version));
    const path = `tarballs/${name}-${version}.tar`;
    let result;
    try {
      result = await upstream.get(path);
    } catch (error: unknown) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`upstream has no tarball for ${name} ${version}, although its registry lists it`, { cause: error });
      }
      throw error;
    }
    const key = tarballKey(repo, name, version);
    if (result.contentLength !== undefined && result.contentLength <= Math.min(HOT_TARBALL_MAX_BYTES, maxTarballBytes)) {
      return this.fillSmall(
        name,
        version,
        expected,
        await readBody(result, Math.min(HOT_TARBALL_MAX_BYTES, maxTarballBytes), `tarball ${name} ${version}`),
      );
    }
    const staged = await stageDownload(blobs, key, result, {
      maxBytes: maxTarballBytes,
      what: `tarball ${name} ${version}`,
      limitSetting: 'cache.maxTarballBytes',
      // Old releases carry only the inner checksum, which needs the whole file to compute.
      keepBytes: expected.kind === 'inner',
    });
    const mismatch = await verifyTarball(expected, staged);
    if (mismatch !== undefined) {
      await staged.writer.abort();
      throw notTheRelease(name, version, mismatch);
    }
    const now = Date.now();
    const row = newTarballRow({ repo, name, version, size: staged.size, sha256: staged.sha256 }, now);
    await commitWithRow(staged, blobs, key, () => index.saveTarball(row));
    const blob = await blobs.open(key);
    if (!blob) throw new StorageError(`tarball ${name} ${version} vanished from the cache right after it was written`);
    const filled: TarballResult = { blob, row, etag: `"${row.sha256}"`, cache: 'miss' };
    if (this.memory && row.size <= HOT_TARBALL_MAX_BYTES) {
      // Just written from verified bytes; a file replaced meanwhile is left to the next hit.
      const bytes = staged.bytes ?? (await blobs.read(key));
      if (bytes && bytes.length === row.size) this.keepInMemory(name, version, filled, bytes);
    }
    return filled;
  }

  /**
   * Small tarballs are read whole, verified, and answered at once; the disk write (with
   * its fsyncs) goes on behind the answer, under the same single flight.
   */
  private async fillSmall(name: string, version: string, expected: ExpectedChecksum, bytes: Buffer): Promise<TarballResult> {
    const { repo, blobs, index, log } = this.options;
    const sha256 = sha256Hex(bytes);
    const mismatch = await verifyTarball(expected, { sha256, bytes });
    if (mismatch !== undefined) throw notTheRelease(name, version, mismatch);
    const now = Date.now();
    const row = newTarballRow({ repo, name, version, size: bytes.length, sha256 }, now);
    const result: TarballResult = { blob: bufferBlob(bytes), row, etag: `"${sha256}"`, cache: 'miss', bytes };
    const key = tarballKey(repo, name, version);
    result.stored = (async () => {
      const writer = await blobs.begin(key);
      try {
        await writer.write(bytes);
      } catch (error: unknown) {
        await writer.abort();
        throw error;
      }
      await commitWithRow({ writer, sha256, size: bytes.length }, blobs, key, () => index.saveTarball(row));
      this.keepInMemory(name, version, result, bytes);
    })();
    // The client has its verified bytes either way; the next request tries to store them again.
    const stored = result.stored;
    this.storing.add(stored);
    stored
      .catch((error: unknown) => log.error({ tarball: `${name}-${version}`, err: errorMessage(error) }, 'cannot cache a tarball'))
      .finally(() => this.storing.delete(stored));
    return result;
  }

  /** The release from the verified registry; asks upstream again if it is not listed yet. */
  private async findRelease(name: string, version: string): Promise<Release> {
    const { registry } = this.options;
    const key = `${name}-${version}`;
    if (this.missingReleases.has(key)) throw new NotFoundError(`package ${name} has no release ${version}`);
    const { result, index } = await registry.packageListing(name, [version]);
    const position = index.positionOf(version);
    if (position !== undefined) return index.releaseAt(position);
    if (result.cache === 'stale') {
      throw new UpstreamUnavailableError(`${name} ${version} is not in the cached registry and upstream cannot be reached to check for it`);
    }
    this.missingReleases.set(key, true);
    throw new NotFoundError(`package ${name} has no release ${version}`);
  }
}

const notTheRelease = (name: string, version: string, mismatch: string): VerificationError =>
  new VerificationError(`tarball ${name} ${version} from upstream does not match the registry: ${mismatch}; not cached`);
