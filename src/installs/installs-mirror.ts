// /installs/* from the builds server (builds.hex.pm): what `mix local.hex`, `mix local.rebar`
// and the Hex client's update check fetch. The build lists (CSV) and their `.signed` files
// are relayed byte for byte and revalidated after the TTL: the signatures are made with
// Elixir's key and checked by Mix, so hexproxy can neither re-sign nor needs to verify
// them. Each build (.ez archive or rebar escript) is fetched only when the list names it,
// and stored only when its SHA-512 is the one the list gives; builds never change.
import { createHash, type Hash } from 'node:crypto';
import { NotFoundError, OfflineMissError, StorageError, VerificationError } from '../errors.js';
import type { Logger } from '../log.js';
import { passthroughBlobKey, type PassthroughMirror, type PassthroughResult } from '../mirror/passthrough-mirror.js';
import { SingleFlight } from '../mirror/single-flight.js';
import { commitWithRow, stageDownload } from '../mirror/staged-download.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, PassthroughRow } from '../store/cache-index.js';
import type { UpstreamBody, UpstreamClient } from '../upstream/client.js';
import { buildListNames, classifyInstallsPath, parseBuildList, type BuildEntry, type BuildListName } from './builds-csv.js';

export interface InstallsMirrorOptions {
  /** Relays the lists; built on the same builds-server client as `upstream`. */
  lists: PassthroughMirror;
  upstream: UpstreamClient;
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  offline: boolean;
  maxBytes: number;
}

export interface ListedBuild extends BuildEntry {
  list: BuildListName;
}

export class InstallsMirror {
  private readonly flights = new SingleFlight<PassthroughResult>();
  /** The parsed copy of each list, by the SHA-256 of its bytes. */
  private readonly parsed = new Map<BuildListName, { sha256: string; entries: Map<string, BuildEntry> }>();

  constructor(private readonly options: InstallsMirrorOptions) {}

  /** `path` is relative to /installs/ and made of safe segments only. */
  async get(path: string): Promise<PassthroughResult> {
    const what = classifyInstallsPath(path);
    switch (what.kind) {
      case 'list':
      case 'signature':
        return this.options.lists.get(cacheKey(path), false);
      case 'build':
        return this.build(path, what.list);
      case 'unknown':
        throw new NotFoundError(
          `hexproxy does not serve /installs/${path}: it serves the build lists ${buildListNames.map((name) => `/installs/${name}`).join(', ')} (and their .signed files), and the builds they list`,
        );
    }
  }

  /** Every build a list names, from the cache or (when stale) the builds server. */
  async listed(list: BuildListName): Promise<ListedBuild[]> {
    const { entries } = await this.entries(list, false);
    return [...entries.values()].map((entry) => ({ ...entry, list }));
  }

  private async build(path: string, list: BuildListName): Promise<PassthroughResult> {
    // Checked against its list when it was stored, and builds never change.
    const cached = await this.options.lists.cached(cacheKey(path));
    if (cached) return cached;
    if (this.options.offline) throw new OfflineMissError(`/installs/${path} is not cached and hexproxy runs offline`);
    return this.flights.run(path, async () => {
      const expected = await this.expectedDigest(path, list);
      return this.fetchChecked(path, list, expected);
    });
  }

  private async expectedDigest(path: string, list: BuildListName): Promise<string> {
    let { entries, cache } = await this.entries(list, false);
    // Published since the cached list was fetched? Ask once, like a missing release.
    if (!entries.has(path) && cache === 'hit') ({ entries, cache } = await this.entries(list, true));
    const entry = entries.get(path);
    if (!entry) {
      const staleness = cache === 'stale' ? ' (a cached copy: the builds server could not be asked)' : '';
      throw new NotFoundError(`/installs/${path} is not listed in /installs/${list}${staleness}`);
    }
    return entry.sha512;
  }

  private async entries(list: BuildListName, revalidate: boolean): Promise<{ entries: Map<string, BuildEntry>; cache: PassthroughResult['cache'] }> {
    const result = await this.options.lists.get(cacheKey(list), false, revalidate);
    const known = this.parsed.get(list);
    if (known && known.sha256 === result.row.sha256) return { entries: known.entries, cache: result.cache };
    const entries = parseBuildList(list, await readAll(result.blob.stream()));
    this.parsed.set(list, { sha256: result.row.sha256, entries });
    return { entries, cache: result.cache };
  }

  private async fetchChecked(path: string, list: BuildListName, expected: string): Promise<PassthroughResult> {
    const { upstream, index, blobs, maxBytes, log } = this.options;
    const key = cacheKey(path);
    const blobKey = passthroughBlobKey(key);
    const result = await upstream.get(key);
    const sha512 = createHash('sha512');
    const staged = await stageDownload(blobs, blobKey, { ...result, body: hashing(result.body, sha512) }, {
      maxBytes, what: `/installs/${path}`, limitSetting: 'cache.maxTarballBytes',
    });
    const actual = sha512.digest('hex');
    if (actual !== expected) {
      await staged.writer.abort();
      log.warn({ path: `/installs/${path}`, expected, actual }, 'build does not match the SHA-512 its list gives; not stored');
      throw new VerificationError(`/installs/${path} from the builds server does not match /installs/${list}: expected SHA-512 ${expected}, got ${actual}; not stored`);
    }
    const now = Date.now();
    const row: PassthroughRow = {
      path: key, upstreamEtag: result.etag ?? null,
      sha256: staged.sha256, size: staged.size, fetchedAt: now, checkedAt: now,
    };
    await commitWithRow(staged, blobs, blobKey, () => index.savePassthroughFile(row));
    const blob = await blobs.open(blobKey);
    if (!blob) throw new StorageError(`/installs/${path} vanished from the cache right after it was written`);
    return { blob, row, etag: `"${row.sha256.slice(0, 40)}"`, cache: 'miss' };
  }
}

/** Installs files share the pass-through table and blob layout (passthrough/installs/…). */
const cacheKey = (path: string): string => `installs/${path}`;

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
