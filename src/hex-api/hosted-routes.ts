// The publishing API of hosted repositories, as Mix (Hex), hex_core and rebar3_hex speak it
// (hexpm's release, docs, retirement and package controllers), under /api/repos/NAME, and
// the plain deploy for scripts (PUT /repos/NAME/tarballs/NAME-VERSION.tar, as Artifactory
// offers). Writes need a token whose --write names the repository; they are judged, token
// and size, before a byte of the upload is read (continue-checks.ts, for `expect:
// 100-continue` and for requests without it alike). Reads need --read. Answers are Erlang
// terms or JSON by the client's Accept (respond.ts); the deploy answers in plain text.
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AccessControl } from '../auth/access-control.js';
import type { TokenRecord } from '../auth/token-store.js';
import {
  BadRequestError,
  ClientClosedRequestError,
  HexproxyError,
  InvalidPackageError,
  InvalidRetirementError,
  NotFoundError,
  RequestTooLargeError,
  UnsupportedMediaTypeError,
  UpstreamUnavailableError,
} from '../errors.js';
import { DEFAULT_DOCS_LIMITS, DEFAULT_PACKAGE_LIMITS } from '../hosted/limits.js';
import type { HostedStore } from '../hosted/hosted-store.js';
import { packageNameProblem } from '../hosted/package-name.js';
import type { PublishService } from '../hosted/publish.js';
import { RETIREMENT_REASONS, type Retirement, type RetirementReason } from '../hosted/release.js';
import type { Env } from '../http/app.js';
import type { ContinueChecks, ContinueRequest } from '../http/continue-checks.js';
import type { Metrics } from '../metrics/metrics.js';
import { isPackageName, isVersion, splitRelease } from '../registry/resource.js';
import { baseUrlOf } from './base-url.js';
import { decodeTerm, type DecodedTerm } from './etf.js';
import { docsTarballUrl, packageView, releaseUrl, releaseView } from './hosted-views.js';
import { hexFormat, hexResponse } from './respond.js';

export interface HostedApiDependencies {
  access: AccessControl;
  store: Pick<HostedStore, 'hosts' | 'repositories' | 'packageInfo' | 'release' | 'listPackages' | 'revert' | 'retire' | 'deleteDocs'>;
  publishing: Pick<PublishService, 'publish' | 'publishDocs'>;
  continueChecks: Pick<ContinueChecks, 'register'>;
  metrics: Pick<Metrics, 'published' | 'publishRefused'>;
  /** The public repository ("hexpm"): a mirror of hex.pm, never published to. */
  publicRepository: string;
}

// A retirement is a reason and a message of at most 140 characters, in a small map.
const MAX_RETIREMENT_BYTES = 64 * 1024;
// hexpm's page size for package listings.
const PACKAGES_PER_PAGE = 100;
const MAX_SEARCH_LENGTH = 256;

const REPO = '([a-z0-9_]+)';
const SEGMENT = '[^/]+';
const RELEASES_PATH = new RegExp(`^/api/repos/${REPO}/packages/${SEGMENT}/releases$`);
// Older clients (Hex before 2.3, hex_core before 0.12): the name comes from the tarball only.
const PUBLISH_PATH = new RegExp(`^/api/repos/${REPO}/publish$`);
const DOCS_PATH = new RegExp(`^/api/repos/${REPO}/packages/${SEGMENT}/releases/${SEGMENT}/docs$`);
const RETIRE_PATH = new RegExp(`^/api/repos/${REPO}/packages/${SEGMENT}/releases/${SEGMENT}/retire$`);
const DEPLOY_PATH = new RegExp(`^/repos/${REPO}/tarballs/${SEGMENT}$`);
// Publishing without --organization: hexproxy publishes to hosted repositories only.
const PUBLIC_PUBLISH_PATH = /^\/api\/(?:packages\/[^/]+\/releases|publish)$/;

/** The Hex API of hosted repositories; mounted at /api, after the Hex API's own routes (hexpm's public repository is theirs). */
export function hostedApiRoutes(deps: HostedApiDependencies): Hono<Env> {
  const { access, store, publishing, metrics } = deps;
  const routes = new Hono<Env>();
  const writer = writeAccess(deps);

  // The checks made before a body is read (continue-checks.ts): who, then how much.
  const guard = (path: RegExp, maxBytes: number, limitName: string, isPublish: boolean) =>
    deps.continueChecks.register({
      method: 'POST',
      path,
      maxBytes,
      limitName,
      errors: 'hex',
      authorize: (request) => void writer.authorize(request, isPublish),
    });
  const releasesGuard = guard(RELEASES_PATH, DEFAULT_PACKAGE_LIMITS.tarballBytes, "hex.pm's package tarball limit", true);
  const publishGuard = guard(PUBLISH_PATH, DEFAULT_PACKAGE_LIMITS.tarballBytes, "hex.pm's package tarball limit", true);
  const docsGuard = guard(DOCS_PATH, DEFAULT_DOCS_LIMITS.tarballBytes, "hex.pm's docs tarball limit", false);
  const retireGuard = guard(RETIRE_PATH, MAX_RETIREMENT_BYTES, 'the size of a retirement', false);
  const publicPublishGuard = deps.continueChecks.register({
    method: 'POST',
    path: PUBLIC_PUBLISH_PATH,
    maxBytes: DEFAULT_PACKAGE_LIMITS.tarballBytes,
    limitName: "hex.pm's package tarball limit",
    errors: 'hex',
    authorize: () => {
      throw notPublicRepository(deps);
    },
  });

  const publish = async (c: Context<Env>, expectedName: string | undefined): Promise<Response> => {
    const repo = c.req.param('repo') ?? '';
    const token = writer.token(c, repo);
    try {
      const replace = replaceOf(c.req.query('replace'));
      const tarball = await readBody(c, DEFAULT_PACKAGE_LIMITS.tarballBytes);
      const result = await publishing.publish({
        repo,
        tarball,
        expected: expectedName === undefined ? {} : { name: expectedName },
        replace,
        publisher: token.name,
      });
      metrics.published(repo, result.created ? 'created' : 'replaced');
      const urls = { base: baseUrlOf(c) };
      const { name, version } = result.release;
      return hexResponse(
        hexFormat(c.req.header('accept')),
        releaseView(urls, result.release),
        result.created ? 201 : 200,
        result.created ? { location: releaseUrl(urls, repo, name, version) } : {},
      );
    } catch (error: unknown) {
      metrics.publishRefused(repo, refusalReason(error));
      throw error;
    }
  };

  routes.post('/repos/:repo/packages/:name/releases', releasesGuard, (c) => publish(c, urlPackageName(c.req.param('name'))));
  routes.post('/repos/:repo/publish', publishGuard, (c) => publish(c, undefined));
  routes.post('/packages/:name/releases', publicPublishGuard, () => {
    throw notPublicRepository(deps);
  });
  routes.post('/publish', publicPublishGuard, () => {
    throw notPublicRepository(deps);
  });

  routes.post('/repos/:repo/packages/:name/releases/:version/docs', docsGuard, async (c) => {
    const { repo, name, version } = releaseParams(c);
    writer.token(c, repo);
    const docs = await readBody(c, DEFAULT_DOCS_LIMITS.tarballBytes);
    await publishing.publishDocs(repo, name, version, docs);
    // As hexpm: 201, `location` the docs tarball; Mix prints it when the API is not hex.pm's.
    return new Response(null, {
      status: 201,
      headers: { location: docsTarballUrl({ base: baseUrlOf(c) }, repo, name, version), 'cache-control': 'no-store' },
    });
  });

  routes.delete('/repos/:repo/packages/:name/releases/:version/docs', async (c) => {
    const { repo, name, version } = releaseParams(c);
    writer.token(c, repo);
    if (!(await store.deleteDocs(repo, name, version))) throw new NotFoundError(`${repo}/${name} ${version} has no published docs`);
    return noContent();
  });

  routes.delete('/repos/:repo/packages/:name/releases/:version', async (c) => {
    const { repo, name, version } = releaseParams(c);
    writer.token(c, repo);
    await store.revert(repo, name, version);
    return noContent();
  });

  routes.post('/repos/:repo/packages/:name/releases/:version/retire', retireGuard, async (c) => {
    const { repo, name, version } = releaseParams(c);
    writer.token(c, repo);
    const body = await readBody(c, MAX_RETIREMENT_BYTES);
    await store.retire(repo, name, version, retirementOf(body, c.req.header('content-type')));
    return noContent();
  });

  routes.delete('/repos/:repo/packages/:name/releases/:version/retire', async (c) => {
    const { repo, name, version } = releaseParams(c);
    writer.token(c, repo);
    await store.retire(repo, name, version, undefined);
    return noContent();
  });

  // Reading: what `mix hex.info PKG [VERSION] --organization NAME` and `mix hex.package search` ask.
  const reader = (c: Context<Env>): string => {
    const repo = c.req.param('repo') ?? '';
    requireHosted(deps, repo);
    access.check(c.req.header('authorization'), c.get('client').address, 'read', repo);
    return repo;
  };

  routes.get('/repos/:repo/packages', (c) => {
    const repo = reader(c);
    const search = c.req.query('search');
    if (search !== undefined && search.length > MAX_SEARCH_LENGTH)
      throw new BadRequestError(`search is ${search.length} characters, over ${MAX_SEARCH_LENGTH}`);
    const page = pageOf(c.req.query('page'));
    const summaries = store.listPackages(repo, search === undefined ? {} : { search: searchTerm(search) });
    const urls = { base: baseUrlOf(c) };
    const shown = summaries.slice((page - 1) * PACKAGES_PER_PAGE, page * PACKAGES_PER_PAGE).flatMap((summary) => {
      const pkg = store.packageInfo(repo, summary.name);
      return pkg ? [packageView(urls, pkg)] : [];
    });
    return hexResponse(hexFormat(c.req.header('accept')), shown, 200, { 'cache-control': 'private, no-store' });
  });

  routes.get('/repos/:repo/packages/:name', (c) => {
    const repo = reader(c);
    const name = c.req.param('name');
    const pkg = isPackageName(name) ? store.packageInfo(repo, name) : undefined;
    if (!pkg) throw new NotFoundError(`no package ${name} in repository ${repo}`);
    return hexResponse(hexFormat(c.req.header('accept')), packageView({ base: baseUrlOf(c) }, pkg), 200, { 'cache-control': 'private, no-store' });
  });

  routes.get('/repos/:repo/packages/:name/releases/:version', (c) => {
    const repo = reader(c);
    const name = c.req.param('name');
    const version = c.req.param('version');
    const release = isPackageName(name) && isVersion(version) ? store.release(repo, name, version) : undefined;
    if (!release) throw new NotFoundError(`no release ${name} ${version} in repository ${repo}`);
    return hexResponse(hexFormat(c.req.header('accept')), releaseView({ base: baseUrlOf(c) }, release), 200, {
      'cache-control': 'private, no-store',
    });
  });

  return routes;
}

/** The plain deploy, mounted at /repos: `curl -X PUT -H "authorization: $TOKEN" --data-binary @pkg-1.0.0.tar …/repos/acme/tarballs/pkg-1.0.0.tar`. */
export function hostedDeployRoutes(deps: HostedApiDependencies): Hono<Env> {
  const { publishing, metrics } = deps;
  const routes = new Hono<Env>();
  const writer = writeAccess(deps);
  const guard = deps.continueChecks.register({
    method: 'PUT',
    path: DEPLOY_PATH,
    maxBytes: DEFAULT_PACKAGE_LIMITS.tarballBytes,
    limitName: "hex.pm's package tarball limit",
    errors: 'text',
    authorize: (request) => void writer.authorize(request, true),
  });

  routes.put('/:repo/tarballs/:file', guard, async (c) => {
    const repo = c.req.param('repo');
    const token = writer.token(c, repo);
    try {
      const file = c.req.param('file');
      const release = file.endsWith('.tar') ? splitRelease(file.slice(0, -'.tar'.length)) : undefined;
      if (!release) throw new BadRequestError(`"${file}" is not NAME-VERSION.tar with a valid package name and version`);
      const replace = replaceOf(c.req.query('replace'));
      const tarball = await readBody(c, DEFAULT_PACKAGE_LIMITS.tarballBytes);
      const result = await publishing.publish({ repo, tarball, expected: release, replace, publisher: token.name });
      metrics.published(repo, result.created ? 'created' : 'replaced');
      const { name, version } = result.release;
      const checksum = result.release.outerChecksum.toString('hex');
      const text = `${result.created ? 'published' : 'replaced'} ${repo}/${name} ${version} (sha256 ${checksum})\n`;
      return new Response(text, {
        status: result.created ? 201 : 200,
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          ...(result.created && { location: `${baseUrlOf(c)}/repos/${repo}/tarballs/${name}-${version}.tar` }),
        },
      });
    } catch (error: unknown) {
      metrics.publishRefused(repo, refusalReason(error));
      throw error;
    }
  });
  return routes;
}

/** Who may write where: the check before the body (counted as a refusal when it fails a publish) and the token for the handler. */
function writeAccess({ access, store, metrics, publicRepository }: HostedApiDependencies): {
  authorize(request: ContinueRequest, isPublish: boolean): TokenRecord;
  token(c: Context<Env>, repo: string): TokenRecord;
} {
  const check = (repo: string, authorization: string | undefined, address: string): TokenRecord => {
    if (repo === publicRepository) throw notPublicRepository({ store, publicRepository });
    requireHosted({ store }, repo);
    return access.check(authorization, address, 'write', repo);
  };
  return {
    authorize({ match, authorization, client }, isPublish) {
      const repo = match[1] ?? '';
      try {
        return check(repo, authorization, client.address);
      } catch (error: unknown) {
        if (isPublish && store.hosts(repo)) metrics.publishRefused(repo, refusalReason(error));
        throw error;
      }
    },
    token: (c, repo) => check(repo, c.req.header('authorization'), c.get('client').address),
  };
}

function requireHosted({ store }: Pick<HostedApiDependencies, 'store'>, repo: string): void {
  if (store.hosts(repo)) return;
  const hosted = store.repositories();
  throw new NotFoundError(
    `hexproxy hosts no repository ${repo} (${hosted.length > 0 ? `it hosts ${hosted.join(', ')}` : 'none is configured'}: config key hosted); Mix's --organization and rebar3's -r name the repository`,
  );
}

function notPublicRepository({ store, publicRepository }: Pick<HostedApiDependencies, 'store' | 'publicRepository'>): NotFoundError {
  const hosted = store.repositories();
  return new NotFoundError(
    `hexproxy does not publish to the public repository ${publicRepository} (a mirror of hex.pm); publish to a hosted repository: ${
      hosted.length > 0 ? hosted.map((name) => `mix hex.publish --organization ${name}`).join(', or ') : 'none is configured (config key hosted)'
    }`,
  );
}

/** The whole request body, at most `maxBytes` (the guard judged Content-Length already); a client that went away is not judged. */
async function readBody(c: Context<Env>, maxBytes: number): Promise<Buffer> {
  const bytes = Buffer.from(await c.req.arrayBuffer());
  const incoming = c.env?.incoming;
  if (incoming && !incoming.complete) throw new ClientClosedRequestError('the client closed the connection before sending its whole upload');
  if (bytes.length > maxBytes) throw new RequestTooLargeError(`the upload is ${bytes.length} bytes, over the ${maxBytes} bytes this takes`);
  return bytes;
}

/** ?replace=true|false (hexpm's); absent is false: replacing is never done unasked. */
function replaceOf(value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new BadRequestError(`replace=${value} is neither true nor false`);
}

function urlPackageName(name: string): string {
  const problem = packageNameProblem(name);
  if (problem !== undefined) throw new InvalidPackageError({ name: problem });
  return name;
}

function releaseParams(c: Context<Env>): { repo: string; name: string; version: string } {
  const repo = c.req.param('repo') ?? '';
  const name = c.req.param('name') ?? '';
  const version = c.req.param('version') ?? '';
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
  if (!isVersion(version)) throw new BadRequestError(`"${version}" is not a SemVer version`);
  return { repo, name, version };
}

function pageOf(value: string | undefined): number {
  if (value === undefined) return 1;
  if (!/^[1-9]\d{0,4}$/.test(value)) throw new BadRequestError(`page=${value} is not a page number from 1 to 99999`);
  return Number(value);
}

/** hexpm's search takes `name:foo` and the like; a plain word, and the word of a `name:` field, are matched here. */
const searchTerm = (search: string): string =>
  search
    .replace(/^name:/, '')
    .replace(/\*/g, '')
    .trim();

/** The retirement a client sends: `%{"reason" => ..., "message" => ...}` as Erlang terms (Mix, rebar3_hex) or JSON. */
function retirementOf(body: Buffer, contentType: string | undefined): Retirement {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  let term: DecodedTerm;
  if (type === 'application/json') {
    try {
      term = JSON.parse(body.toString('utf8')) as DecodedTerm;
    } catch {
      throw new BadRequestError('the body is not JSON: send {"reason": "...", "message": "..."}');
    }
  } else if (type === 'application/vnd.hex+erlang' || type === '') {
    term = decodeTerm(body, { maxBytes: MAX_RETIREMENT_BYTES });
  } else {
    throw new UnsupportedMediaTypeError(
      `a retirement is sent as application/vnd.hex+erlang (what Mix and rebar3 send) or application/json, not ${type}`,
    );
  }
  if (term === null || typeof term !== 'object' || Array.isArray(term) || term instanceof Uint8Array) {
    throw new InvalidRetirementError({ retirement: 'must be a map of reason and message' });
  }
  const { reason, message } = term;
  const errors: Record<string, string> = {};
  const known = RETIREMENT_REASONS.find((candidate) => candidate === reason);
  if (known === undefined) {
    errors['reason'] =
      `${typeof reason === 'string' ? JSON.stringify(reason) : 'no reason'} is not a retirement reason: use one of ${RETIREMENT_REASONS.join(', ')}`;
  }
  if (message !== undefined && message !== null && typeof message !== 'string') errors['message'] = 'must be a string';
  // hexpm's rule (ReleaseRetirement.changeset): 3 to 140 characters when there is one.
  const text = typeof message === 'string' ? message : '';
  const length = [...text].length;
  if (typeof message === 'string' && (length < 3 || length > 140)) {
    errors['message'] = `is ${length} characters: a retirement message has 3 to 140 (mix hex.retire --message "...")`;
  }
  if (Object.keys(errors).length > 0 || known === undefined) throw new InvalidRetirementError({ retirement: errors });
  return { reason: known satisfies RetirementReason, message: text };
}

/** The label of a refused publish for /metrics: the error's code, a bad upload split into its tarball, its metadata and its dependencies. */
function refusalReason(error: unknown): string {
  if (error instanceof InvalidPackageError) {
    const fields = Object.keys(error.errors);
    if (fields.includes('tar')) return 'invalid_tarball';
    if (fields.length > 0 && fields.every((field) => field === 'requirements')) return 'dependency';
    return 'invalid_metadata';
  }
  // Publishing asks upstream nothing but whether the dependencies exist.
  if (error instanceof UpstreamUnavailableError) return 'dependency_unchecked';
  if (error instanceof HexproxyError) return error.code;
  return 'internal';
}

const noContent = (): Response => new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
