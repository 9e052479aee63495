// HTTP routes: validate the path, call the repository, write headers. Nothing else.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AccessControl } from '../auth/access-control.js';
import { adminRoutes, type AdminDependencies } from './admin-routes.js';
import { policyRoutes, type PolicyCheckDependencies } from './policy-routes.js';
import type { Metrics } from '../metrics/metrics.js';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { BadRequestError, MethodNotAllowedError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CacheStatus, PassthroughResult, RegistryResult, Repository, TarballResult, View } from '../repository/repository.js';
import { isPackageName, isPolicyName, splitRelease } from '../registry/resource.js';
import type { StoredBlob } from '../store/blob-store.js';
import { matchesIfNoneMatch } from './conditional.js';
import { openHitFile, statusOf, type HitLookup, type PreparedHit, type Viewer } from './hit.js';
import {
  ATTACHMENT,
  DOCS_CONTENT_TYPE,
  POLICY_HIDDEN_HEADER,
  REGISTRY_CACHE_CONTROL,
  REGISTRY_CONTENT_TYPE,
  TARBALL_CACHE_CONTROL,
  TARBALL_CONTENT_TYPE,
  installsContentType,
  privateCacheControl,
  secondsLeft,
  sharedCacheControl,
} from './headers.js';
import { classifyInstallsPath } from '../installs/builds-csv.js';
import { errorResponse } from './error-response.js';
import { refuseCrossSite } from './cross-site.js';
import { requestContext, type RequestVariables } from './request-context.js';
import { clientContext, type TrustedProxies } from './client-address.js';
import type { ContinueChecks } from './continue-checks.js';
import { hexApiRoutes } from '../hex-api/routes.js';
import type { ApiRelay } from '../hex-api/api-relay.js';
import { hostedApiRoutes, hostedDeployRoutes, type HostedApiDependencies } from '../hex-api/hosted-routes.js';

export interface HttpDependencies {
  /** Every repository served: the public one at / (and /mirror), the others (organizations) at /repos/NAME. */
  repositories: ReadonlyMap<string, Repository>;
  /** The public repository's name, as tokens list it ("hexpm"). */
  publicRepository: string;
  /** /installs/...: the builds server's files, lists verified with their .signed files. */
  installs: { get(path: string): Promise<PassthroughResult> };
  /** What memory can answer at once: the fast path's lookup, which the routes ask first too. */
  hits: HitLookup;
  /** cache.registryTtlSeconds in ms: how long a shared cache in front may keep an anonymous answer of a registry file at most. */
  registryTtlMs: number;
  access: AccessControl;
  /** Which peers' X-Forwarded-* headers are believed (http.trustedProxies). */
  trustedProxies: TrustedProxies;
  /** Whether /metrics needs a token with the metrics right (metrics.requireToken). */
  metricsRequireToken: boolean;
  admin: AdminDependencies;
  /** POST /api/policy/check. */
  policyCheck: PolicyCheckDependencies;
  /** The public repository's package information from the upstream Hex API (/api/packages…). */
  apiRelay: Pick<ApiRelay, 'get'>;
  /** Uploads judged before their body is read (expect: 100-continue): where upload routes register their rule. */
  continueChecks: ContinueChecks;
  /** Publishing to hosted repositories (/api/repos/NAME/…, PUT /repos/NAME/tarballs/…); none without a hosted store. */
  hostedApi?: Pick<HostedApiDependencies, 'store' | 'publishing'>;
  metrics: Metrics;
  /** What /readyz checks: each named check and whether it passes. */
  readiness: () => Record<string, boolean>;
  log: Logger;
  /** The web UI at /ui; without it there is none. */
  ui?: UiMount;
}

/** The web UI (src/ui/, a layer above this one): what adds its routes, and what keeps the server errors its status page shows. */
export interface UiMount {
  mount(app: Hono<Env>, path: string): void;
  errors: { record(error: unknown, status: number, method: string, path: string): void };
}

export type Env = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables };

const ROUTES_HINT =
  'hexproxy serves /names, /versions, /packages/NAME, /tarballs/NAME-VERSION.tar, /docs/NAME-VERSION.tar.gz, /installs/..., /public_key and /healthz, and the same under /mirror/ (pass-through view)';

export function createHttpApp({
  repositories,
  publicRepository,
  installs,
  hits,
  registryTtlMs,
  access,
  trustedProxies,
  metricsRequireToken,
  admin,
  policyCheck,
  apiRelay,
  continueChecks,
  hostedApi,
  metrics,
  readiness,
  log,
  ui,
}: HttpDependencies): Hono<Env> {
  const app = new Hono<Env>();

  app.use(requestContext(log, metrics));
  // Before any route or token check: no page of another origin may change anything.
  app.use(refuseCrossSite());
  app.use(clientContext(trustedProxies));

  // Live: the process answers. Ready: it can serve (index open, key loaded).
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const checks = readiness();
    const failing = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    const body = {
      status: failing.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(Object.entries(checks).map(([name, ok]) => [name, ok ? 'ok' : 'failing'])),
    };
    return c.json(body, failing.length === 0 ? 200 : 503, { 'cache-control': 'no-store' });
  });
  // Its figures are traffic and cache contents, and its labels name organizations: closed where reads are (metrics.requireToken).
  app.get('/metrics', async (c) => {
    if (metricsRequireToken) access.check(c.req.header('authorization'), c.get('client').address, 'metrics');
    return c.body(await metrics.text(), 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  });

  app.route('/api/admin', adminRoutes(admin));
  app.route('/api/policy', policyRoutes(policyCheck, continueChecks));
  app.route('/api', hexApiRoutes({ access, publicRepository, relay: apiRelay, continueChecks }));
  const hostedDependencies = hostedApi && { ...hostedApi, access, continueChecks, metrics, publicRepository };
  if (hostedDependencies) {
    app.route('/api', hostedApiRoutes(hostedDependencies));
    app.route('/repos', hostedDeployRoutes(hostedDependencies));
  }
  ui?.mount(app, '/ui');
  const served = repositories.get(publicRepository);
  if (served) {
    const builds = countedInstalls(installs, metrics);
    const common = {
      repository: served,
      guard: readGuard(access, publicRepository),
      hits,
      lifetimes: lifetimes(access, publicRepository, registryTtlMs),
      installs: builds,
    };
    app.route('/mirror', repositoryRoutes({ ...common, view: 'original' }));
    app.route('/', repositoryRoutes({ ...common, view: 'resigned' }));
  }
  for (const [name, organization] of repositories) {
    if (name !== publicRepository)
      app.route(
        `/repos/${name}`,
        repositoryRoutes({
          repository: organization,
          view: 'resigned',
          guard: readGuard(access, name, true),
          hits,
          lifetimes: lifetimes(access, name, registryTtlMs),
        }),
      );
  }
  app.all('/repos/:org/*', (c) => {
    throw new NotFoundError(`organization ${c.req.param('org')} is not configured in hexproxy (config key organizations)`);
  });

  app.all('*', (c) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      throw new MethodNotAllowedError(`method ${c.req.method} is not allowed; hexproxy is read-only (GET, HEAD)`);
    }
    throw new NotFoundError(`no such path ${c.req.path}; ${ROUTES_HINT}`);
  });

  app.onError((error, c) => {
    const response = errorResponse(error, c.get('log') ?? log, c.env?.incoming, c.get('errorFormat'));
    // Server errors feed the UI's status page (its own errors are recorded by its handler).
    ui?.errors.record(error, response.status, c.req.method, c.req.path);
    return response;
  });
  return app;
}

/** /installs/...: from the builds server, lists served only if they verify with their .signed file, builds checked against their list. */
function countedInstalls(installs: HttpDependencies['installs'], metrics: Metrics): HttpDependencies['installs'] {
  return {
    async get(path) {
      const result = await installs.get(path);
      metrics.cache('installs', result.cache);
      return result;
    },
  };
}

/**
 * Reading a repository needs a token allowed to, unless anonymous reads of it are on (its
 * public key is not guarded). The answers of a repository that needs a token (a private one,
 * or the public one under auth.requireToken) must not be kept by shared caches.
 */
function readGuard(access: AccessControl, repositoryName: string, isPrivate = false): MiddlewareHandler<Env> {
  return async (c, next) => {
    access.check(c.req.header('authorization'), c.get('client').address, 'read', repositoryName);
    await next();
    if ((isPrivate || !access.anonymousMayRead(repositoryName)) && c.res.status < 400) {
      c.res.headers.set('cache-control', privateCacheControl(c.res.headers.get('cache-control')));
    }
  };
}

/**
 * The Cache-Control of a repository's registry and pass-through answers. An anonymous one
 * (only where anonymous clients may read) offers a shared cache in front what is left of
 * hexproxy's freshness (sharedCacheControl); one to a token, or one served stale, offers it
 * nothing. Tarballs are immutable whoever asks (TARBALL_CACHE_CONTROL).
 */
interface Lifetimes {
  /** The viewer of a hit (hit.ts): who may be offered the shared-cache lifetime. */
  viewer(c: Context<Env>): Viewer;
  /** For a file upstream last confirmed at `checkedAt`; `immutable` ones (docs, builds) are never revalidated, so a full TTL each time. */
  cacheControl(c: Context<Env>, cache: CacheStatus, checkedAt: number, immutable?: boolean): string;
}

function lifetimes(access: Pick<AccessControl, 'anonymousMayRead'>, repositoryName: string, ttlMs: number): Lifetimes {
  const viewer = (c: Context<Env>): Viewer =>
    c.req.header('authorization') === undefined && access.anonymousMayRead(repositoryName) ? 'anonymous' : 'authorized';
  return {
    viewer,
    cacheControl(c, cache, checkedAt, immutable = false) {
      if (viewer(c) === 'authorized' || cache === 'stale') return REGISTRY_CACHE_CONTROL;
      return sharedCacheControl(immutable ? ttlMs / 1000 : secondsLeft(checkedAt, ttlMs, Date.now()));
    },
  };
}

interface RepositoryRoutes {
  repository: Repository;
  view: View;
  guard: MiddlewareHandler<Env>;
  hits: HitLookup;
  lifetimes: Lifetimes;
  /** The routes only the public repository has; organizations have dependency policies instead. */
  installs?: HttpDependencies['installs'];
}

function repositoryRoutes({ repository, view, guard, hits, lifetimes, installs }: RepositoryRoutes): Hono<Env> {
  // The guard on each route, not on '*': a sub-app mounted at '/' would otherwise guard
  // every path, /repos/ORG/... and /mirror/... included, with the public repository's rule.
  const routes = new Hono<Env>();

  routes.get('/public_key', (c) => {
    const pem = Buffer.from(view === 'resigned' ? repository.publicKey() : repository.originalPublicKey());
    const headers = { 'content-type': 'application/x-pem-file', 'cache-control': 'public, max-age=300', 'content-length': String(pem.length) };
    return new Response(c.req.method === 'HEAD' ? null : pem, { status: 200, headers });
  });

  // What memory (or, for a large tarball, the index) answers at once: the fast path's lookup, asked first.
  const hitFirst = async (c: Context<Env>, path: string, slow: () => Promise<Response>): Promise<Response> => {
    const hit = hits.find(repository, path, view, lifetimes.viewer(c));
    return (hit && (await hitResponse(c, repository, hit))) ?? slow();
  };

  routes.get('/names', guard, (c) => hitFirst(c, 'names', () => registryResponse(c, repository, () => repository.names(view), view, lifetimes)));
  routes.get('/versions', guard, (c) =>
    hitFirst(c, 'versions', () => registryResponse(c, repository, () => repository.versions(view), view, lifetimes)),
  );
  routes.get('/packages/:name', guard, async (c) => {
    const name = c.req.param('name');
    if (!isPackageName(name))
      throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
    return hitFirst(c, `packages/${name}`, () => registryResponse(c, repository, () => repository.package(name, view), view, lifetimes));
  });

  routes.get('/tarballs/:file', guard, async (c) => {
    const release = parseReleaseFile(c.req.param('file'), '.tar');
    return hitFirst(c, `tarballs/${release.name}-${release.version}.tar`, async () =>
      tarballResponse(c, await repository.tarball(release.name, release.version, view)),
    );
  });

  routes.get('/docs/:file', guard, async (c) => {
    const release = parseReleaseFile(c.req.param('file'), '.tar.gz');
    const docs = await repository.docs(release.name, release.version, view);
    return passthroughResponse(c, docs, DOCS_CONTENT_TYPE, lifetimes.cacheControl(c, docs.cache, docs.row.checkedAt, true));
  });

  if (!installs) {
    routes.get('/policies/:name', guard, async (c) => {
      const name = c.req.param('name');
      if (!isPolicyName(name))
        throw new BadRequestError(
          `"${name}" is not a valid policy name (3-64 lowercase letters, digits, "_", "-" or ".", starting and ending with a letter or digit)`,
        );
      return registryResponse(c, repository, () => repository.dependencyPolicy(name), view, lifetimes);
    });
    return routes;
  }

  routes.get('/installs/*', guard, async (c) => {
    const path = c.req.path.slice(c.req.path.indexOf('/installs/') + '/installs/'.length);
    if (!isSafeRelativePath(path)) throw new BadRequestError(`"/installs/${path}" is not a valid installs path`);
    const file = await installs.get(path);
    const immutable = classifyInstallsPath(path).kind === 'build';
    return passthroughResponse(c, file, installsContentType(path), lifetimes.cacheControl(c, file.cache, file.row.checkedAt, immutable));
  });

  return routes;
}

function parseReleaseFile(file: string, extension: string): { name: string; version: string } {
  const release = file.endsWith(extension) ? splitRelease(file.slice(0, -extension.length)) : undefined;
  if (!release) throw new BadRequestError(`"${file}" is not NAME-VERSION${extension} with a valid package name and SemVer version`);
  return release;
}

function isSafeRelativePath(path: string): boolean {
  return path.length > 0 && path.length <= 256 && path.split('/').every((segment) => /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/.test(segment));
}

/** A hit (hit.ts) as a Response; undefined when its file is no longer what the index says (the slow way refetches it). */
async function hitResponse(c: Context<Env>, repository: Repository, hit: PreparedHit): Promise<Response | undefined> {
  const status = statusOf(hit, c.req.header('if-none-match'));
  // HEAD: headers only (the file is checked, not read).
  const head = c.req.method === 'HEAD';
  let body: BodyInit | null = null;
  if (status === 200 && hit.file !== undefined) {
    const handle = await openHitFile(hit.file);
    if (!handle) return undefined;
    await handle.close().catch(() => undefined);
    // Streamed as the blob store streams a file to the routes (web streams over a plain file stream).
    if (!head) body = Readable.toWeb(createReadStream(hit.file.path)) as ReadableStream<Uint8Array>;
  } else if (status === 200 && !head && hit.body !== undefined) {
    body = hit.body as Uint8Array<ArrayBuffer>;
  }
  repository.countHit(hit.hit);
  return new Response(body, { status, headers: headersOf(status === 200 ? hit.ok : hit.notModified) });
}

/** Headers prepared flat (name, value, …) for node:http, as a Response's. */
function headersOf(flat: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i];
    const value = flat[i + 1];
    if (name !== undefined && value !== undefined) headers.append(name, value);
  }
  return headers;
}

async function registryResponse(
  c: Context<Env>,
  repository: Repository,
  fetch: () => Promise<RegistryResult>,
  view: View,
  lifetimes: Lifetimes,
): Promise<Response> {
  if (view === 'original') repository.assertUnfiltered();
  const result = await fetch();
  const { body, etag } = view === 'resigned' ? result.file : result.file.original;
  const headers = cacheHeaders(result.cache, etag, lifetimes.cacheControl(c, result.cache, result.file.row.checkedAt));
  headers['content-type'] = REGISTRY_CONTENT_TYPE;
  if (view === 'resigned' && result.file.policyHidden !== undefined) headers[POLICY_HIDDEN_HEADER] = result.file.policyHidden;
  return conditionalResponse(c, etag, headers, () => body as Uint8Array<ArrayBuffer>, body.length);
}

function tarballResponse(c: Context<Env>, result: TarballResult): Response {
  const headers = cacheHeaders(result.cache, result.etag, TARBALL_CACHE_CONTROL);
  headers['content-type'] = TARBALL_CONTENT_TYPE;
  const { bytes } = result;
  if (bytes) return conditionalResponse(c, result.etag, headers, () => bytes as Uint8Array<ArrayBuffer>, bytes.length);
  return blobResponse(c, result.blob, result.etag, headers);
}

/** `contentType`: hexproxy's, by the path; upstream's is never relayed. */
function passthroughResponse(c: Context<Env>, result: PassthroughResult, contentType: string, cacheControl: string): Response {
  const headers = cacheHeaders(result.cache, result.etag, cacheControl);
  headers['content-type'] = contentType;
  return blobResponse(c, result.blob, result.etag, headers);
}

function blobResponse(c: Context<Env>, blob: StoredBlob, etag: string, headers: Record<string, string>): Response {
  return conditionalResponse(c, etag, headers, () => Readable.toWeb(blob.stream()) as ReadableStream<Uint8Array>, blob.size);
}

function conditionalResponse(c: Context<Env>, etag: string, headers: Record<string, string>, body: () => BodyInit, length: number): Response {
  if (matchesIfNoneMatch(c.req.header('if-none-match'), etag)) return new Response(null, { status: 304, headers });
  headers['content-length'] = String(length);
  // HEAD: headers only, and no file is opened.
  return new Response(c.req.method === 'HEAD' ? null : body(), { status: 200, headers });
}

function cacheHeaders(cache: CacheStatus, etag: string, cacheControl: string): Record<string, string> {
  // nosniff and the sandbox policy are added to every response by requestContext.
  const headers: Record<string, string> = {
    etag,
    'cache-control': cacheControl,
    'x-hexproxy-cache': cache.toUpperCase(),
    'content-disposition': ATTACHMENT,
  };
  // Served from cache because upstream failed: say so, the way RFC 7234 did.
  if (cache === 'stale') headers['warning'] = '110 hexproxy "Response is Stale"';
  return headers;
}
