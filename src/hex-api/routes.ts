// The Hex HTTP API under /api (HEX_API_URL=http://PROXY/api): who a token is (GET
// /api/users/me, which `mix hex.publish` asks first) and the public repository's package
// information relayed from upstream (api-relay.ts). Its errors are written as hexpm writes
// them, in Erlang terms or JSON by the client's Accept (error-response.ts); hexproxy's own
// /api/admin and /api/policy keep theirs.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AccessControl } from '../auth/access-control.js';
import type { TokenRecord } from '../auth/token-store.js';
import { BadRequestError } from '../errors.js';
import type { Env } from '../http/app.js';
import type { ContinueChecks } from '../http/continue-checks.js';
import { matchesIfNoneMatch } from '../http/conditional.js';
import { REGISTRY_CACHE_CONTROL } from '../http/headers.js';
import { isPackageName, isVersion } from '../registry/resource.js';
import type { ApiRelay, RelayedAnswer } from './api-relay.js';
import type { Term } from './etf.js';
import { contentTypeOf, hexFormat, hexResponse, type HexFormat } from './respond.js';

export interface HexApiDependencies {
  access: AccessControl;
  /** The public repository's name ("hexpm"): reading its information needs what reading it needs. */
  publicRepository: string;
  relay: Pick<ApiRelay, 'get'>;
  /**
   * Where upload routes register what is checked before their body is read (expect:
   * 100-continue); register() also returns that check as middleware for their requests
   * without expect. No route here takes an upload yet: the publishing routes will.
   */
  continueChecks?: ContinueChecks;
}

/** hexproxy's own endpoints under /api, whose errors stay plain text. */
const HEXPROXY_OWN = /^\/api\/(?:admin|policy)(?:\/|$)/;

/** The sort orders hexpm's package search takes ("downloads" is Mix's name for total_downloads). */
const SORTS = new Set(['name', 'recent_downloads', 'total_downloads', 'inserted_at', 'updated_at', 'downloads']);
const MAX_SEARCH_LENGTH = 256;
const MAX_PAGE = 10_000;

/** Mounted at /api. */
export function hexApiRoutes({ access, publicRepository, relay }: HexApiDependencies): Hono<Env> {
  const routes = new Hono<Env>();

  // Every error under /api but hexproxy's own endpoints, unknown paths included, is a Hex API error.
  routes.use('*', async (c, next) => {
    if (!HEXPROXY_OWN.test(c.req.path)) c.set('errorFormat', hexFormat(c.req.header('accept')));
    await next();
  });

  // Which token this is, as hexpm's user: Mix asks before publishing and lists `organizations`.
  routes.get('/users/me', (c) => {
    const token = access.check(c.req.header('authorization'), c.get('client').address, 'token');
    return hexResponse(hexFormat(c.req.header('accept')), userOf(token), 200, { 'cache-control': 'private, no-store' });
  });

  const readGuard: MiddlewareHandler<Env> = async (c, next) => {
    access.check(c.req.header('authorization'), c.get('client').address, 'read', publicRepository);
    await next();
  };
  const relayed = async (c: Context<Env>, path: string): Promise<Response> => {
    const format = hexFormat(c.req.header('accept'));
    return relayResponse(c, await relay.get(path, format), format);
  };

  // hexpm answers the public repository at /api/packages and at /api/repos/hexpm/packages alike
  // (Mix asks the latter before publishing without --organization).
  for (const prefix of ['', `/repos/${publicRepository}`]) {
    routes.get(`${prefix}/packages`, readGuard, (c) => relayed(c, `packages${searchQuery(c)}`));
    routes.get(`${prefix}/packages/:name`, readGuard, (c) => relayed(c, `packages/${packageName(c.req.param('name'))}`));
    routes.get(`${prefix}/packages/:name/releases/:version`, readGuard, (c) =>
      relayed(c, `packages/${packageName(c.req.param('name'))}/releases/${version(c.req.param('version'))}`),
    );
  }
  return routes;
}

/**
 * hexpm's user map for a token: the token's name as `username`, no e-mail (hexpm leaves out
 * one that is not public), and as `organizations` the repositories it may publish to.
 */
function userOf(token: TokenRecord): Term {
  return {
    username: token.name,
    full_name: null,
    handles: {},
    inserted_at: token.createdAt,
    updated_at: token.createdAt,
    organizations: [...(token.write ?? [])].sort().map((name) => ({ name, role: 'write' })),
    packages: [],
  };
}

function packageName(name: string): string {
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
  return name;
}

function version(value: string): string {
  if (!isVersion(value)) throw new BadRequestError(`"${value}" is not a SemVer version`);
  return value;
}

/** The search, sort and page a client gives, checked and in one order (the cache key); anything else is not relayed. */
function searchQuery(c: Context<Env>): string {
  const params: [string, string][] = [];
  const search = c.req.query('search');
  if (search !== undefined) {
    if (search.length > MAX_SEARCH_LENGTH) throw new BadRequestError(`search is ${search.length} characters, over the ${MAX_SEARCH_LENGTH} relayed`);
    params.push(['search', search]);
  }
  const sort = c.req.query('sort');
  if (sort !== undefined) {
    if (!SORTS.has(sort)) throw new BadRequestError(`sort=${sort} is not one of ${[...SORTS].join(', ')}`);
    params.push(['sort', sort]);
  }
  const page = c.req.query('page');
  if (page !== undefined) {
    if (!/^[1-9]\d{0,4}$/.test(page) || Number(page) > MAX_PAGE) throw new BadRequestError(`page=${page} is not a page number from 1 to ${MAX_PAGE}`);
    params.push(['page', page]);
  }
  return params.length === 0 ? '' : `?${new URLSearchParams(params).toString()}`;
}

function relayResponse(c: Context<Env>, answer: RelayedAnswer, format: HexFormat): Response {
  const headers: Record<string, string> = {
    'content-type': contentTypeOf(format),
    etag: answer.etag,
    'cache-control': REGISTRY_CACHE_CONTROL,
    vary: 'accept',
    'x-hexproxy-cache': answer.cache.toUpperCase(),
  };
  // Served from memory because upstream failed: said as the repository routes say it.
  if (answer.cache === 'stale') headers['warning'] = '110 hexproxy "Response is Stale"';
  if (matchesIfNoneMatch(c.req.header('if-none-match'), answer.etag)) return new Response(null, { status: 304, headers });
  headers['content-length'] = String(answer.body.length);
  return new Response(c.req.method === 'HEAD' ? null : (answer.body as Uint8Array<ArrayBuffer>), { status: 200, headers });
}
