// /installs/* from the builds server (builds.hex.pm): what `mix local.hex`, `mix local.rebar`
// and the Hex client's update check fetch. A build list (CSV) and its `.signed` file are
// fetched, verified and cached as a pair: the list must verify with its `.signed` and the
// builds server's key (Elixir's, installs.publicKey), as Mix checks it, or neither is served
// nor stored. Both are served from the same verified pair, so a client never gets a list
// with the signature of another, and they are revalidated together after the TTL. Each
// build (.ez archive or rebar escript) is fetched only when a verified list names it, and
// stored only when its SHA-512 is the one the list gives; builds never change. A list that
// is not cached and cannot be fetched (offline, builds server out of reach) is a miss (404),
// not a server error: Hex's update check asks for hex-1.x.csv from every fresh Mix home.
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import {
  BuildListUnavailableError,
  HexproxyError,
  NotFoundError,
  OfflineMissError,
  StorageError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  VerificationError,
  allowsStale,
  errorMessage,
} from '../errors.js';
import type { Logger } from '../log.js';
import { installsPath, passthroughKey } from '../cache/layout.js';
import { confirmedAt, isFreshRow } from '../cache/rows.js';
import type { PassthroughResult } from '../mirror/passthrough-mirror.js';
import type { CacheStatus } from '../mirror/registry-mirror.js';
import { SingleFlight } from '../mirror/single-flight.js';
import { commitWithRow, stageDownload, type StagedDownload } from '../mirror/staged-download.js';
import { bufferBlob, type BlobStore } from '../store/blob-store.js';
import type { CacheIndex, PassthroughRow } from '../store/cache-index.js';
import type { UpstreamBody, UpstreamClient } from '../upstream/upstream-client.js';
import { displayUrl } from '../upstream/display-url.js';
import { buildListNames, classifyInstallsPath, listReaders, parseBuildList, type BuildEntry, type BuildListName } from './builds-csv.js';
import { listSignatureProblem } from './signed-list.js';

export interface InstallsMirrorOptions {
  upstream: UpstreamClient;
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  /** How long a verified list pair is served before it is revalidated. */
  ttlMs: number;
  /**
   * How long, after the builds server could not be reached for a list, it is not asked for
   * that list again (cache.notFoundTtlSeconds): the cached pair is served stale meanwhile,
   * or the list answered as missing at once.
   */
  unreachableTtlMs: number;
  maxBytes: number;
  /** The key the builds server signs its lists with (installs.publicKey). */
  listKey: KeyObject;
  /** Where that key comes from, for error messages: the PEM file. */
  listKeyFile: string;
}

export interface ListedBuild extends BuildEntry {
  list: BuildListName;
}

/** A list and its .signed file that verify together, with the builds the list names. */
interface ListPair {
  list: Part;
  signed: Part;
  entries: Map<string, BuildEntry>;
  cache: CacheStatus;
}

interface Part {
  row: PassthroughRow;
  bytes: Buffer;
}

/** What the cache holds of a pair: usable, or there but not usable (and why). */
type CachedPair = { pair: ListPair } | { problem: string };

/** One half of a pair as the builds server answered: new bytes (staged, not yet visible) or "not modified". */
type Fetched = { staged: StagedDownload; bytes: Buffer; etag: string | null } | { notModified: true };

export class InstallsMirror {
  private readonly builds = new SingleFlight<PassthroughResult>();
  private readonly pairs = new SingleFlight<ListPair>();
  /** The parsed list of each verified pair, by the SHA-256s of the list and its .signed. */
  private readonly parsed = new Map<BuildListName, { key: string; entries: Map<string, BuildEntry> }>();
  /** Lists the builds server could not be reached for lately: why, and until when it is not asked again. */
  private readonly unreachable = new Map<BuildListName, { until: number; error: HexproxyError }>();

  constructor(private readonly options: InstallsMirrorOptions) {}

  /** `path` is relative to /installs/ and made of safe segments only. */
  async get(path: string): Promise<PassthroughResult> {
    const what = classifyInstallsPath(path);
    switch (what.kind) {
      case 'list':
      case 'signature': {
        const pair = await this.pair(what.list, false);
        return served(what.kind === 'list' ? pair.list : pair.signed, pair.cache);
      }
      case 'build':
        return this.build(path, what.list);
      case 'unknown':
        throw new NotFoundError(
          `hexproxy does not serve /installs/${path}: it serves the build lists ${buildListNames.map((name) => `/installs/${name}`).join(', ')} (and their .signed files), and the builds they list`,
        );
    }
  }

  /** Every build a verified list names, from the cache or (when stale) the builds server. */
  async listed(list: BuildListName): Promise<ListedBuild[]> {
    const { entries } = await this.pair(list, false);
    return [...entries.values()].map((entry) => ({ ...entry, list }));
  }

  private async build(path: string, list: BuildListName): Promise<PassthroughResult> {
    // Checked against a verified list when it was stored, and builds never change.
    const cached = await this.cachedFile(cacheKey(path));
    if (cached) return served(cached, 'hit');
    // Refused without asking (offline): a miss at once, before the list is looked up to check it against.
    const refused = this.options.upstream.refusal(`/installs/${path}`);
    if (refused) throw refused;
    return this.builds.run(path, async () => {
      const expected = await this.expectedDigest(path, list);
      return this.fetchChecked(path, list, expected);
    });
  }

  private async expectedDigest(path: string, list: BuildListName): Promise<string> {
    // A build is asked for by mix local.hex or local.rebar on purpose: its failure is a server error, with the builds server's reason.
    const loud = (error: unknown): never => {
      throw error instanceof BuildListUnavailableError && error.cause instanceof HexproxyError ? error.cause : error;
    };
    let pair = await this.pair(list, false).catch(loud);
    // Published since the cached list was fetched? Ask once, like a missing release.
    if (!pair.entries.has(path) && pair.cache === 'hit') pair = await this.pair(list, true).catch(loud);
    const entry = pair.entries.get(path);
    if (!entry) {
      const staleness = pair.cache === 'stale' ? ' (a cached copy: the builds server could not be asked)' : '';
      throw new NotFoundError(`/installs/${path} is not listed in /installs/${list}${staleness}`);
    }
    return entry.sha512;
  }

  /**
   * The verified pair of a list: cached within the TTL, else from the builds server (or the
   * cached one, stale, if that fails). Nothing cached and the builds server out of reach
   * (offline, or it could not be reached): BuildListUnavailableError, a miss.
   */
  private async pair(list: BuildListName, revalidate: boolean): Promise<ListPair> {
    const cached = await this.cachedPair(list);
    const usable = cached && 'pair' in cached ? cached.pair : undefined;
    if (usable && !revalidate && this.isFresh(usable.list.row)) return usable;
    // Failed a moment ago: answered at once, not after another wait for the same failure.
    const recent = this.recentFailure(list);
    if (recent) {
      if (usable) return { ...usable, cache: 'stale' };
      if (!cached) throw this.unreachableMiss(list, recent);
    }
    return this.pairs.run(list, async () => {
      try {
        const pair = await this.fetchPair(list, usable);
        this.unreachable.delete(list);
        return pair;
      } catch (error: unknown) {
        if (error instanceof NotFoundError && usable) await this.forget(list);
        const outOfReach = error instanceof UpstreamUnavailableError || error instanceof UpstreamTimeoutError;
        if (outOfReach) this.unreachable.set(list, { until: Date.now() + this.options.unreachableTtlMs, error });
        if (usable && allowsStale(error)) {
          const level = error instanceof VerificationError ? 'error' : 'debug';
          this.options.log[level]({ path: `/installs/${list}`, err: error.message }, 'serving a stale build list');
          return { ...usable, cache: 'stale' };
        }
        if (outOfReach && !cached) throw this.unreachableMiss(list, error);
        if (error instanceof OfflineMissError) throw this.offlineMiss(list, cached);
        throw error;
      }
    });
  }

  private recentFailure(list: BuildListName): HexproxyError | undefined {
    const failure = this.options.unreachableTtlMs > 0 ? this.unreachable.get(list) : undefined;
    if (failure === undefined) return undefined;
    if (Date.now() < failure.until) return failure.error;
    this.unreachable.delete(list);
    return undefined;
  }

  private unreachableMiss(list: BuildListName, cause: HexproxyError): BuildListUnavailableError {
    return new BuildListUnavailableError(
      `/installs/${list} is not cached, and the builds server (installs.url ${displayUrl(this.options.upstream.baseUrl)}) cannot be reached (${cause.message}); ${this.remedy(list)}`,
      { cause },
    );
  }

  /** Offline, a list that is not cached (or not usable) says so in its own words: Hex prints them. */
  private offlineMiss(list: BuildListName, cached: CachedPair | undefined): HexproxyError {
    if (cached && 'problem' in cached)
      return new OfflineMissError(`/installs/${list} is cached, but ${cached.problem}; hexproxy runs offline and cannot fetch it again`);
    return new BuildListUnavailableError(`/installs/${list} is not cached, and hexproxy runs offline (--offline); ${this.remedy(list)}`);
  }

  /** Who needs the list and how to have it, for a miss: one line, as Hex prints it under "Failed to check for new Hex version". */
  private remedy(list: BuildListName): string {
    return `only ${listReaders(list)} (to serve it, cache it with hexproxy prewarm --installs where the builds server can be reached, or import a bundle that has it)`;
  }

  /** The cached pair if both files are there and verify together; what is wrong otherwise; undefined if neither is cached. */
  private async cachedPair(list: BuildListName): Promise<CachedPair | undefined> {
    const [list_, signed] = await Promise.all([this.cachedBytes(cacheKey(list)), this.cachedBytes(cacheKey(`${list}.signed`))]);
    if (!list_ && !signed) return undefined;
    if (!list_ || !signed) return { problem: `without its ${list_ ? '.signed file' : 'list'}` };
    const entries = this.verifiedEntries(list, list_, signed);
    if (typeof entries === 'string') {
      this.options.log.error({ path: `/installs/${list}`, err: entries }, 'a cached build list does not verify with its .signed file; not served');
      return { problem: `it does not verify with its .signed file (${entries})` };
    }
    return { pair: { list: list_, signed, entries, cache: 'hit' } };
  }

  /** The builds a list names, if it verifies with its .signed file; why not otherwise. Verified once per pair of bytes. */
  private verifiedEntries(list: BuildListName, listPart: Part, signedPart: Part): Map<string, BuildEntry> | string {
    const key = `${listPart.row.sha256} ${signedPart.row.sha256}`;
    const known = this.parsed.get(list);
    if (known?.key === key) return known.entries;
    const problem = listSignatureProblem(listPart.bytes, signedPart.bytes, this.options.listKey);
    if (problem !== undefined) return problem;
    const entries = parseBuildList(list, listPart.bytes);
    this.parsed.set(list, { key, entries });
    return entries;
  }

  /** Fetches the list and its .signed (conditionally when a verified pair is cached), verifies them together, then stores both. */
  private async fetchPair(list: BuildListName, cached: ListPair | undefined): Promise<ListPair> {
    const { index, log, listKey, listKeyFile } = this.options;
    const listPath = cacheKey(list);
    const signedPath = cacheKey(`${list}.signed`);
    const fetchedList = await this.fetchPart(listPath, cached?.list);
    let fetchedSigned: Fetched;
    try {
      fetchedSigned = await this.fetchPart(signedPath, cached?.signed);
    } catch (error: unknown) {
      if ('staged' in fetchedList) await fetchedList.staged.writer.abort();
      if (error instanceof NotFoundError) {
        throw new VerificationError(`the builds server has no /installs/${list}.signed, so /installs/${list} cannot be verified; not stored`, {
          cause: error,
        });
      }
      throw error;
    }
    const now = Date.now();
    const listBytes = 'bytes' in fetchedList ? fetchedList.bytes : cached?.list.bytes;
    const signedBytes = 'bytes' in fetchedSigned ? fetchedSigned.bytes : cached?.signed.bytes;
    const abort = async (): Promise<void> => {
      for (const part of [fetchedList, fetchedSigned]) if ('staged' in part) await part.staged.writer.abort();
    };
    if (!listBytes || !signedBytes) {
      await abort();
      throw new VerificationError(`the builds server answered 304 for /installs/${list} or its .signed without a conditional request`);
    }
    if (cached && 'notModified' in fetchedList && 'notModified' in fetchedSigned) {
      index.transaction(() => {
        index.touchPassthroughFile(listPath, now);
        index.touchPassthroughFile(signedPath, now);
      });
      const touch = (part: Part): Part => ({ ...part, row: confirmedAt(part.row, now) });
      return { ...cached, list: touch(cached.list), signed: touch(cached.signed), cache: 'revalidated' };
    }
    const problem = listSignatureProblem(listBytes, signedBytes, listKey);
    if (problem !== undefined) {
      await abort();
      const message = `/installs/${list} from the builds server does not verify with /installs/${list}.signed and the key in installs.publicKey (${listKeyFile}): ${problem}; not stored`;
      log.warn({ path: `/installs/${list}`, err: message }, 'a build list from the builds server does not verify; not stored');
      throw new VerificationError(message);
    }
    const rowOf = (path: string, part: Fetched, previous: Part | undefined): PassthroughRow | undefined => {
      if ('staged' in part) {
        return {
          path,
          upstreamEtag: part.etag,
          sha256: part.staged.sha256,
          size: part.staged.size,
          fetchedAt: now,
          checkedAt: now,
          upstreamAsOf: now,
        };
      }
      return previous && confirmedAt(previous.row, now);
    };
    const listRow = rowOf(listPath, fetchedList, cached?.list);
    const signedRow = rowOf(signedPath, fetchedSigned, cached?.signed);
    if (!listRow || !signedRow) throw new VerificationError(`/installs/${list}: a half of the pair is missing`);
    await this.commitPair([
      [listPath, fetchedList, listRow],
      [signedPath, fetchedSigned, signedRow],
    ]);
    const pair: ListPair = {
      list: { row: listRow, bytes: listBytes },
      signed: { row: signedRow, bytes: signedBytes },
      entries: parseBuildList(list, listBytes),
      cache: cached ? 'revalidated' : 'miss',
    };
    this.parsed.set(list, { key: `${listRow.sha256} ${signedRow.sha256}`, entries: pair.entries });
    return pair;
  }

  private async fetchPart(path: string, cached: Part | undefined): Promise<Fetched> {
    const { upstream, blobs, maxBytes } = this.options;
    const result = await upstream.getIfChanged(path, cached?.row.upstreamEtag ?? null);
    if (result.status === 304) return { notModified: true };
    const staged = await stageDownload(blobs, passthroughKey(path), result, {
      maxBytes,
      what: `/${path}`,
      limitSetting: 'cache.maxTarballBytes',
      keepBytes: true,
    });
    return { staged, bytes: staged.bytes ?? Buffer.alloc(0), etag: result.etag ?? null };
  }

  /** Both files, then both rows in one transaction: other processes see the old pair or the new one. */
  private async commitPair(parts: readonly (readonly [string, Fetched, PassthroughRow])[]): Promise<void> {
    const { index, blobs } = this.options;
    const committed: string[] = [];
    try {
      for (const [path, part] of parts) {
        if (!('staged' in part)) continue;
        await part.staged.writer.commit();
        committed.push(path);
      }
      index.transaction(() => {
        for (const [path, part, row] of parts) {
          if ('staged' in part) index.savePassthroughFile(row);
          else index.touchPassthroughFile(path, row.checkedAt);
        }
      });
    } catch (error: unknown) {
      for (const [path, part] of parts) if ('staged' in part && !committed.includes(path)) await part.staged.writer.abort().catch(() => undefined);
      // Files the index does not name (or names with other bytes) would only be refused later.
      for (const path of committed) await blobs.delete(passthroughKey(path)).catch(() => undefined);
      if (error instanceof HexproxyError) throw error;
      throw new StorageError(`cannot store /${parts[0]?.[0] ?? 'installs'}: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async fetchChecked(path: string, list: BuildListName, expected: string): Promise<PassthroughResult> {
    const { upstream, index, blobs, maxBytes, log } = this.options;
    const key = cacheKey(path);
    const blobKey = passthroughKey(key);
    const result = await upstream.get(key);
    const sha512 = createHash('sha512');
    const staged = await stageDownload(
      blobs,
      blobKey,
      { ...result, body: hashing(result.body, sha512) },
      {
        maxBytes,
        what: `/installs/${path}`,
        limitSetting: 'cache.maxTarballBytes',
      },
    );
    const actual = sha512.digest('hex');
    if (actual !== expected) {
      await staged.writer.abort();
      log.warn({ path: `/installs/${path}`, expected, actual }, 'build does not match the SHA-512 its list gives; not stored');
      throw new VerificationError(
        `/installs/${path} from the builds server does not match /installs/${list}: expected SHA-512 ${expected}, got ${actual}; not stored`,
      );
    }
    const now = Date.now();
    const row: PassthroughRow = {
      path: key,
      upstreamEtag: result.etag ?? null,
      sha256: staged.sha256,
      size: staged.size,
      fetchedAt: now,
      checkedAt: now,
      upstreamAsOf: now,
    };
    await commitWithRow(staged, blobs, blobKey, () => index.savePassthroughFile(row));
    const blob = await blobs.open(blobKey);
    if (!blob) throw new StorageError(`/installs/${path} vanished from the cache right after it was written`);
    return { blob, row, etag: etagOf(row), cache: 'miss' };
  }

  /** A cached file with its row, whatever its age; a row whose file is missing or short is dropped. */
  private async cachedFile(path: string): Promise<PassthroughResult | undefined> {
    const { index, blobs } = this.options;
    const row = index.findPassthroughFile(path);
    if (!row) return undefined;
    const blob = await blobs.open(passthroughKey(path));
    if (!blob || blob.size !== row.size) {
      index.removePassthroughFile(path);
      return undefined;
    }
    return { blob, row, etag: etagOf(row), cache: 'hit' };
  }

  /** A cached list or .signed file, read whole (they are small): served from these bytes, which were verified. */
  private async cachedBytes(path: string): Promise<Part | undefined> {
    const cached = await this.cachedFile(path);
    if (!cached) return undefined;
    const bytes = await readAll(cached.blob.stream());
    return bytes.length === cached.row.size ? { row: cached.row, bytes } : undefined;
  }

  private async forget(list: BuildListName): Promise<void> {
    for (const path of [cacheKey(list), cacheKey(`${list}.signed`)]) {
      this.options.index.removePassthroughFile(path);
      await this.options.blobs.delete(passthroughKey(path));
    }
  }

  private isFresh(row: PassthroughRow): boolean {
    return isFreshRow(row, this.options.ttlMs);
  }
}

/** Installs files share the pass-through table and blob layout (passthrough/installs/…). */
const cacheKey = installsPath;

const etagOf = (row: PassthroughRow): string => `"${row.sha256.slice(0, 40)}"`;

function served(part: Part | PassthroughResult, cache: CacheStatus): PassthroughResult {
  if ('blob' in part) return { ...part, cache };
  return { blob: bufferBlob(part.bytes), row: part.row, etag: etagOf(part.row), cache };
}

/** The same body, with every chunk also fed to `hash` as it is read. */
function hashing(body: UpstreamBody, hash: Hash): UpstreamBody {
  return {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of body) {
        hash.update(chunk);
        yield chunk;
      }
    },
    dump: () => body.dump(),
    destroy: (error) => body.destroy(error),
  };
}

async function readAll(stream: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
