// Registry files (/names, /versions, /packages/NAME): fetched upstream, verified, kept as
// the upstream's original bytes, and served re-signed with hexproxy's key. Revalidated
// after a TTL; served stale when upstream fails.
import { createHash, type KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { NotFoundError, VerificationError, allowsStale, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeNames, decodePackage } from '../registry/codec.js';
import { openRegistryFile, sealRegistryFile } from '../registry/registry-file.js';
import { ReleaseIndexCache, type ReleaseIndex } from '../registry/release-index.js';
import type { Names, Package } from '../registry/types.js';
import { describeResource, resourcePath, type RegistryResource } from '../registry/resource.js';
import { registryKey } from '../cache/layout.js';
import { confirmedAt, isFreshRow, revalidateInFull } from '../cache/rows.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, RegistryRow } from '../store/cache-index.js';
import { readBody } from '../upstream/client.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { MemoryBudget } from '../upstream/memory-budget.js';
import { SingleFlight } from './single-flight.js';

export type CacheStatus = 'hit' | 'miss' | 'revalidated' | 'stale';

export interface RegistryFile {
  resource: RegistryResource;
  row: RegistryRow;
  /**
   * The verified upstream payload, byte for byte. Decoded on demand (decodeRegistryPayload):
   * a decoded message takes several times its payload's size in heap, and only misses and
   * operations need one, while the memory cache holds thousands of entries.
   */
  payload: Buffer;
  /** What clients of the re-signed view get: gzip(Signed{payload, hexproxy's signature}). */
  body: Buffer;
  etag: string;
  /** The upstream's own signed file, byte for byte: what the pass-through view serves. */
  original: { body: Buffer; etag: string };
  /** Set on a file the policy took releases out of: what it took (src/policy/hidden.ts). */
  policyHidden?: string;
}

export interface RegistryResult {
  file: RegistryFile;
  cache: CacheStatus;
}

export interface RegistryMirrorOptions {
  repo: string;
  upstream: UpstreamClient;
  upstreamKey: KeyObject;
  signingKey: KeyObject;
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  ttlMs: number;
  notFoundTtlMs: number;
  memoryMaxBytes: number;
  maxRegistryBytes: number;
  /** What files being fetched and inflated take at once, shared by every repository (cache.registryFetchMemoryBytes). */
  fetchBudget: MemoryBudget;
}

export class RegistryMirror {
  /** Entries remember the index's writesElsewhere() they were made under. */
  private readonly memory: LRUCache<string, { file: RegistryFile; generation: number }>;
  private readonly notFound: LRUCache<string, true>;
  private readonly flights = new SingleFlight<RegistryResult>();
  // Besides the files: indexes of the package files read lately, up to memoryMaxBytes more.
  private readonly indexes: ReleaseIndexCache;

  constructor(private readonly options: RegistryMirrorOptions) {
    this.indexes = new ReleaseIndexCache(options.memoryMaxBytes);
    this.memory = new LRUCache<string, { file: RegistryFile; generation: number }>({
      maxSize: options.memoryMaxBytes,
      sizeCalculation: ({ file }) => registryEntryCost(file),
    });
    this.notFound = new LRUCache<string, true>({ max: 10_000, ttl: Math.max(1, options.notFoundTtlMs) });
  }

  /** The repository it mirrors, as hexproxy names it ("hexpm", an organization). */
  get repo(): string {
    return this.options.repo;
  }

  /** The key its upstream files verify with (upstream.publicKey, or the organization's publicKey). */
  get upstreamKey(): KeyObject {
    return this.options.upstreamKey;
  }

  /** What the in-memory LRU currently charges against cache.memoryMaxBytes. */
  memoryBytes(): number {
    return this.memory.calculatedSize;
  }

  /** Drops one file's in-memory copy (after it was evicted in this process). */
  forgetMemory(path: string): void {
    this.memory.delete(path);
  }

  /** Empties the in-memory LRU; the next requests read from disk (and verify) again. */
  dropMemory(): void {
    this.memory.clear();
  }

  /**
   * The file at `path` ("names", "packages/NAME") if memory holds it, fresh and made since
   * the last write by another process: what can be served without any I/O.
   */
  peek(path: string): RegistryFile | undefined {
    const hot = this.memory.get(path);
    return hot && hot.generation === this.options.index.writesElsewhere() && this.isFresh(hot.file.row) ? hot.file : undefined;
  }

  /** `revalidate` asks upstream even within the TTL (e.g. a release not yet seen). */
  async get(resource: RegistryResource, revalidate = false): Promise<RegistryResult> {
    const path = resourcePath(resource);
    const hot = revalidate ? undefined : this.peek(path);
    if (hot) return { file: hot, cache: 'hit' };
    const result = await this.flights.run(path, () => this.resolve(resource, revalidate));
    // Joined a plain lookup that answered from cache: the caller asked for upstream's word.
    if (revalidate && result.cache === 'hit') {
      return this.flights.run(path, () => this.resolve(resource, true));
    }
    return result;
  }

  /**
   * A package file that lists every one of `versions` if upstream does: a copy served from
   * cache within its TTL may predate a release, so upstream is asked again once when it
   * lacks one. Returned with its release index, since every caller reads its releases.
   */
  async packageListing(name: string, versions: readonly string[]): Promise<{ result: RegistryResult; index: ReleaseIndex }> {
    const result = await this.get({ kind: 'package', name });
    const index = this.releaseIndex(result.file);
    const lacksOne = versions.some((version) => index.positionOf(version) === undefined);
    if (!lacksOne || result.cache !== 'hit') return { result, index };
    const fresh = await this.get({ kind: 'package', name }, true);
    return { result: fresh, index: this.releaseIndex(fresh.file) };
  }

  /**
   * The releases of a package file, indexed once for as long as the index is kept (see
   * release-index.ts): a release is read without decoding the whole package each time.
   */
  releaseIndex(file: RegistryFile): ReleaseIndex {
    return this.indexes.of(file.payload);
  }

  private async resolve(resource: RegistryResource, revalidate: boolean): Promise<RegistryResult> {
    const path = resourcePath(resource);
    const cached = await this.cached(resource);
    if (cached && !revalidate && this.isFresh(cached.row)) return { file: cached, cache: 'hit' };
    if (!revalidate && this.notFound.has(path)) throw new NotFoundError(`upstream has no ${describeResource(resource)}`);
    try {
      return await this.fetch(resource, cached);
    } catch (error: unknown) {
      if (error instanceof NotFoundError) {
        this.notFound.set(path, true);
        if (cached) await this.forget(path);
        throw error;
      }
      if (cached && allowsStale(error)) {
        const level = error instanceof VerificationError ? 'error' : 'debug';
        this.options.log[level]({ resource: path, err: error.message }, 'serving a stale registry file');
        return { file: cached, cache: 'stale' };
      }
      throw error;
    }
  }

  private async fetch(resource: RegistryResource, cached: RegistryFile | undefined): Promise<RegistryResult> {
    const { upstream, repo } = this.options;
    const path = resourcePath(resource);
    const result = await upstream.getIfChanged(path, cached?.row.upstreamEtag ?? null);
    const now = Date.now();
    if (result.status === 304) {
      if (!cached) throw new VerificationError(`upstream answered 304 for ${describeResource(resource)} without a conditional request`);
      this.options.index.touchRegistryFile(repo, path, now);
      const file = { ...cached, row: confirmedAt(cached.row, now) };
      this.remember(path, file);
      return { file, cache: 'revalidated' };
    }
    // Held from the first byte read until the file is verified and sealed; the memory
    // LRU (cache.memoryMaxBytes) accounts for what is kept after that.
    const lease = this.options.fetchBudget.lease(describeResource(resource));
    try {
      const body = await readBody(result, this.options.maxRegistryBytes, describeResource(resource), lease);
      const verified = await openRegistryFile(body, resource, {
        publicKey: this.options.upstreamKey,
        repository: repo,
        maxBytes: this.options.maxRegistryBytes,
        lease,
      });
      const row: RegistryRow = {
        repo,
        path,
        upstreamEtag: result.etag ?? null,
        sha256: sha256Hex(body),
        size: body.length,
        fetchedAt: now,
        checkedAt: now,
        upstreamAsOf: now,
      };
      // Verified bytes are good to serve even when they cannot be cached.
      await this.store(path, body, row, cached !== undefined).catch((error: unknown) => {
        this.options.log.error({ resource: path, err: errorMessage(error) }, 'cannot cache a registry file');
      });
      const file = await this.seal(resource, row, body, verified.payload);
      this.remember(path, file);
      this.notFound.delete(path);
      return { file, cache: cached ? 'revalidated' : 'miss' };
    } finally {
      lease.release();
    }
  }

  /** The blob first: an index row must never name bytes that are not on disk. */
  private async store(path: string, body: Buffer, row: RegistryRow, hadRow: boolean): Promise<void> {
    const key = registryKey(this.options.repo, path);
    await this.options.blobs.put(key, body);
    try {
      this.options.index.saveRegistryFile(row);
    } catch (error: unknown) {
      // With an older row the file is still found (and verified) under it; without one
      // it would only take space.
      if (!hadRow) await this.options.blobs.delete(key).catch(() => undefined);
      throw error;
    }
  }

  /** The cached copy, from memory or from disk (verified again on the way in). */
  private async cached(resource: RegistryResource): Promise<RegistryFile | undefined> {
    const { repo, index, blobs, log } = this.options;
    const path = resourcePath(resource);
    const row = index.findRegistryFile(repo, path);
    if (!row) return undefined;
    const hot = this.memory.get(path)?.file;
    if (hot && hot.row.sha256 === row.sha256) {
      const file = { ...hot, row };
      this.remember(path, file);
      return file;
    }
    const body = await blobs.read(registryKey(repo, path));
    if (!body) {
      index.removeRegistryFile(repo, path);
      return undefined;
    }
    try {
      const verified = await openRegistryFile(body, resource, {
        publicKey: this.options.upstreamKey,
        repository: repo,
        maxBytes: this.options.maxRegistryBytes,
        source: 'cache',
      });
      // A crash between writing the blob and its row leaves a newer blob: keep it, but
      // drop the ETag so the next revalidation fetches in full.
      const actual = sha256Hex(body);
      const consistent = actual === row.sha256 ? row : revalidateInFull({ ...row, sha256: actual, size: body.length });
      const file = await this.seal(resource, consistent, body, verified.payload);
      this.remember(path, file);
      return file;
    } catch (error: unknown) {
      log.error({ resource: path, err: errorMessage(error) }, 'a cached registry file no longer verifies; discarding it');
      await this.forget(path);
      return undefined;
    }
  }

  private async seal(resource: RegistryResource, row: RegistryRow, original: Buffer, payload: Buffer): Promise<RegistryFile> {
    const body = await sealRegistryFile(payload, this.options.signingKey);
    return {
      resource,
      row,
      payload: ownBytes(payload),
      body: ownBytes(body),
      etag: `"${sha256Hex(body).slice(0, 40)}"`,
      original: { body: ownBytes(original), etag: `"${sha256Hex(original).slice(0, 40)}"` },
    };
  }

  private async forget(path: string): Promise<void> {
    this.memory.delete(path);
    this.options.index.removeRegistryFile(this.options.repo, path);
    await this.options.blobs.delete(registryKey(this.options.repo, path));
  }

  private remember(path: string, file: RegistryFile): void {
    this.memory.set(path, { file, generation: this.options.index.writesElsewhere() });
  }

  private isFresh(row: RegistryRow): boolean {
    return isFreshRow(row, this.options.ttlMs);
  }
}

/**
 * A copy in memory of its own when `bytes` is a view into a larger buffer: zlib hands out
 * slices of its 16 KiB output chunks and payloads are slices of their Signed message, and
 * an entry kept in the LRU would keep all of that alive while being charged for its length.
 */
function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(copy);
  return copy;
}

/** The decoded Package of a /packages/NAME file; decoded anew on each call. */
export const packageOf = (file: RegistryFile): Package => decodePackage(file.payload);

/** The decoded Names of the /names file; decoded anew on each call. */
export const namesOf = (file: RegistryFile): Names => decodeNames(file.payload);

/** Bytes an entry keeps alive: its three buffers, plus the row, ETags and object overhead. */
export const registryEntryCost = (file: RegistryFile): number =>
  file.body.length + file.original.body.length + file.payload.length + ENTRY_OVERHEAD_BYTES;

// Measured by test/integration/registry-memory.test.ts: about 1.4 KiB of strings, objects and
// buffer headers per entry, rounded up.
const ENTRY_OVERHEAD_BYTES = 2048;

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
