// One decision of a hit, for both HTTP stacks. A GET or HEAD of a registry file or tarball
// that memory (or, for a large tarball, the index) can answer at once gets everything its
// response needs from `find`: the bytes or the file, headers prepared once per cached
// entry, whether this viewer may have it (the repository's lookup applies the policy), and
// what to count. The node:http fast path (fast-path.ts) writes it without Hono; the routes
// (app.ts) ask the same lookup first and write it as a Response. Anything it cannot answer
// (a miss, a token to check, a release the policy is not known to allow) goes the slow way.
import { open, type FileHandle } from 'node:fs/promises';
import type { AccessControl } from '../auth/access-control.js';
import type { Route } from '../metrics/metrics.js';
import {
  isFileHit,
  isRegistryHit,
  type CachedTarballFile,
  type Hit,
  type HotTarball,
  type RegistryFile,
  type Repository,
  type View,
} from '../repository/repository.js';
import { matchesIfNoneMatch } from './conditional.js';
import {
  ATTACHMENT,
  NOSNIFF,
  POLICY_HIDDEN_HEADER,
  REGISTRY_CACHE_CONTROL,
  REGISTRY_CONTENT_TYPE,
  SANDBOX_POLICY,
  TARBALL_CACHE_CONTROL,
  TARBALL_CONTENT_TYPE,
  secondsLeft,
  sharedCacheControl,
} from './headers.js';

interface PreparedCommon {
  /** What the repository counts once it is served (Repository.countHit). */
  readonly hit: Hit;
  readonly etag: string;
  /** Header names and values, flat as writeHead takes them: a 200's (with content-length), a 304's. */
  readonly ok: readonly string[];
  readonly notModified: readonly string[];
  /** What the policy took out of a registry file: logged with the request. */
  readonly policyHidden: string | undefined;
  /** The metrics' route label, known with the entry (routeOf would split the URL on every request). */
  readonly route: Route;
}

/**
 * Everything a response to a hit needs: the bytes held in memory, or a cached tarball's
 * file (opened with openHitFile, which checks it is still what the index says).
 */
export type PreparedHit = PreparedCommon &
  ({ readonly body: Buffer; readonly file: undefined } | { readonly body: undefined; readonly file: CachedTarballFile });

/**
 * Who asks: a request without credentials (it may read only what anonymous clients may),
 * or one with a token the routes' guard let in. Tokens are checked by the guard alone,
 * which knows the client's address (for its failure count). An anonymous answer of a
 * registry file may be kept by a shared cache in front (sharedCacheControl); an answer to a
 * token is not offered to one.
 */
export type Viewer = 'anonymous' | 'authorized';

/** An anonymous registry answer's headers, good until `until` (ms), when the lifetime they offer a shared cache drops a second. */
interface SharedPrepared {
  readonly hit: PreparedHit;
  readonly until: number;
}

interface RegistryPrepared {
  resigned?: PreparedHit;
  original?: PreparedHit;
  resignedShared?: SharedPrepared;
  originalShared?: SharedPrepared;
}

export class HitLookup {
  // Headers are prepared once per cached entry, for as long as the entry lives (an anonymous
  // registry answer's once per second of its lifetime at most).
  private readonly registryPrepared = new WeakMap<RegistryFile, RegistryPrepared>();
  private readonly tarballPrepared = new WeakMap<HotTarball, PreparedHit>();

  /** `registryTtlMs`: cache.registryTtlSeconds, which bounds what a shared cache in front may keep a registry file for. */
  constructor(
    private readonly access: Pick<AccessControl, 'anonymousMayRead'>,
    private readonly registryTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The hit for `path` ("names", "packages/NAME", "tarballs/NAME-VERSION.tar") of `repository` in `view`, if there is one this viewer may have. */
  find(repository: Repository, path: string, view: View, viewer: Viewer): PreparedHit | undefined {
    if (viewer === 'anonymous' && !this.access.anonymousMayRead(repository.name)) return undefined;
    const hit = repository.lookup(path, view);
    if (hit === undefined) return undefined;
    if (isRegistryHit(hit)) return this.registry(hit, view, viewer);
    if (isFileHit(hit)) return preparedFile(hit);
    let tarball = this.tarballPrepared.get(hit);
    if (!tarball)
      this.tarballPrepared.set(
        hit,
        (tarball = preparedBytes(hit, hit.etag, hit.body, TARBALL_CACHE_CONTROL, TARBALL_CONTENT_TYPE, undefined, 'tarballs')),
      );
    return tarball;
  }

  private registry(file: RegistryFile, view: View, viewer: Viewer): PreparedHit {
    let views = this.registryPrepared.get(file);
    if (!views) this.registryPrepared.set(file, (views = {}));
    if (viewer === 'authorized') return (views[view] ??= preparedRegistry(file, view, REGISTRY_CACHE_CONTROL));
    const key = view === 'original' ? 'originalShared' : 'resignedShared';
    const now = this.now();
    const known = views[key];
    if (known && now <= known.until) return known.hit;
    const left = secondsLeft(file.row.checkedAt, this.registryTtlMs, now);
    // `left` holds while checkedAt + TTL - now ≥ left seconds; with nothing left it never changes.
    const until = left >= 1 ? file.row.checkedAt + this.registryTtlMs - left * 1000 : Infinity;
    const hit = preparedRegistry(file, view, sharedCacheControl(left));
    views[key] = { hit, until };
    return hit;
  }
}

function preparedRegistry(file: RegistryFile, view: View, cacheControl: string): PreparedHit {
  const { body, etag } = view === 'original' ? file.original : file;
  const hidden = view === 'original' ? undefined : file.policyHidden;
  return preparedBytes(file, etag, body, cacheControl, REGISTRY_CONTENT_TYPE, hidden, ROUTE_OF_RESOURCE[file.resource.kind]);
}

/** 304 when the client holds this ETag (If-None-Match), else 200. */
export function statusOf(hit: PreparedHit, ifNoneMatch: string | undefined): 200 | 304 {
  return ifNoneMatch !== undefined && matchesIfNoneMatch(ifNoneMatch, hit.etag) ? 304 : 200;
}

/**
 * The hit's file, open, if it is still there with the size the index says; undefined
 * otherwise (no file, or one cut short behind hexproxy's back), and the slow way refetches.
 */
export async function openHitFile(file: CachedTarballFile): Promise<FileHandle | undefined> {
  const handle = await open(file.path, 'r').catch(() => undefined);
  if (!handle) return undefined;
  const size = await handle.stat().then(
    (stats) => stats.size,
    () => -1,
  );
  if (size === file.row.size) return handle;
  await handle.close().catch(() => undefined);
  return undefined;
}

/** A cached tarball's file: its row is read from the index on each lookup, so this is prepared each time. */
function preparedFile(file: CachedTarballFile): PreparedHit {
  const notModified = commonHeaders(file.etag, TARBALL_CACHE_CONTROL, TARBALL_CONTENT_TYPE, undefined);
  return {
    hit: file,
    etag: file.etag,
    body: undefined,
    file,
    ok: withLength(notModified, file.row.size),
    notModified,
    policyHidden: undefined,
    route: 'tarballs',
  };
}

function preparedBytes(
  hit: Hit,
  etag: string,
  body: Buffer,
  cacheControl: string,
  contentType: string,
  policyHidden: string | undefined,
  route: Route,
): PreparedHit {
  const notModified = commonHeaders(etag, cacheControl, contentType, policyHidden);
  return { hit, etag, body, file: undefined, ok: withLength(notModified, body.length), notModified, policyHidden, route };
}

const ROUTE_OF_RESOURCE: Record<RegistryFile['resource']['kind'], Route> = {
  names: 'names',
  versions: 'versions',
  package: 'packages',
  policy: 'policies',
};

/** The routes' headers for the same answer (src/http/app.ts, and requestContext's on every response). */
function commonHeaders(etag: string, cacheControl: string, contentType: string, policyHidden: string | undefined): string[] {
  const headers = [
    'etag',
    etag,
    'cache-control',
    cacheControl,
    'x-hexproxy-cache',
    'HIT',
    'content-type',
    contentType,
    'content-disposition',
    ATTACHMENT,
    'x-content-type-options',
    NOSNIFF,
    'content-security-policy',
    SANDBOX_POLICY,
  ];
  if (policyHidden !== undefined) headers.push(POLICY_HIDDEN_HEADER, policyHidden);
  return headers;
}

const withLength = (headers: readonly string[], length: number): string[] => [...headers, 'content-length', String(length)];
