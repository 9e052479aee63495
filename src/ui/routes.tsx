// The web UI at /ui: server-rendered HTML (Hono's JSX), no JavaScript needed, no external
// assets. Packages (what is cached), a page per package (with what the policy blocks), Set
// me up, Status. Private organizations' packages are shown only to viewers whose token may
// read them; with auth.requireToken the UI itself needs a token (same 401/429 as the
// repository routes).
import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import type { AccessControl } from '../auth/access-control.js';
import { BadRequestError, HexproxyError, NotFoundError, OfflineMissError, UnauthorizedError } from '../errors.js';
import { errorResponse } from '../http/error-response.js';
import type { RequestVariables } from '../http/request-context.js';
import type { KeyPair } from '../keys/keypair.js';
import type { Logger } from '../log.js';
import type { Repository } from '../repository/repository.js';
import { cacheStats } from '../ops/cache-stats.js';
import type { ActivePolicy } from '../policy/active-policy.js';
import { decideRelease, describeDecision, describeReason, type PackageFacts } from '../policy/decide.js';
import { describePolicy } from '../policy/describe.js';
import { isPackageName, isVersion } from '../registry/resource.js';
import type { ReleaseIndex } from '../registry/release-index.js';
import type { Release } from '../registry/types.js';
import type { CacheIndex, CachedPackageSort } from '../store/cache-index.js';
import { displayUrl } from '../upstream/display-url.js';
import type { UpstreamHealth } from '../upstream/health.js';
import { CONTENT_SECURITY_POLICY, type Chrome } from './layout.js';
import { ErrorPage } from './pages/error.js';
import { packagePageData } from './package-view.js';
import { PackagePage, type PackageView, type ReleasePolicy } from './pages/package.js';
import { PackagesPage, SORTS } from './pages/packages.js';
import { SetupPage } from './pages/setup.js';
import { StatusPage } from './pages/status.js';
import type { RecentErrors } from './recent-errors.js';
import { baseUrlOf, mayRead, viewerOf, type Viewer } from './viewer.js';

export interface UiDependencies {
  access: AccessControl;
  index: CacheIndex;
  /** The public repository's upstream health (organizations share it). */
  health: UpstreamHealth;
  keys: Pick<KeyPair, 'publicKeyPem' | 'fingerprint'>;
  /** The public repository's name ("hexpm"). */
  publicRepository: string;
  /** Every repository hexproxy serves (the public one and organizations): package pages read its registry. */
  repositories: ReadonlyMap<string, Pick<Repository, 'registry'>>;
  upstreamUrl: string;
  offline: boolean;
  /** cache.maxCacheBytes; 0 means no limit. */
  maxCacheBytes: number;
  errors: RecentErrors;
  log: Logger;
  version: string;
  /** The policy in force: package pages mark the releases it blocks, Status sums it up. */
  policy: ActivePolicy;
}

type Env = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables & { viewer: Viewer } };

const PAGE_SIZE = 100;
const MAX_SEARCH = 100;

export function createUiRoutes(deps: UiDependencies): Hono<Env> {
  const { access, index, health, keys, publicRepository, repositories } = deps;
  // The public repository first, then organizations by name.
  const served = [publicRepository, ...[...repositories.keys()].filter((name) => name !== publicRepository).sort()];
  const routes = new Hono<Env>();

  const chromeOf = (viewer: Viewer | undefined): Chrome => ({
    tokenName: viewer?.token?.name,
    canSignIn: served.length > 1 || !access.anonymousMayRead(publicRepository),
    version: deps.version,
  });

  const page = async (c: Context<Env>, element: JSX.Element, status = 200, headers: Record<string, string> = {}): Promise<Response> =>
    new Response(`<!DOCTYPE html>${await element}`, {
      status,
      headers: {
        ...headers,
        'content-type': 'text/html; charset=utf-8',
        // Pages depend on who asks (tokens): never kept by a shared cache, nor by the browser.
        'cache-control': 'no-store',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin',
      },
    });

  /** The HTML twin of errorResponse: same status, headers, log line and error record. */
  const errorPage = async (c: Context<Env>, error: unknown, message?: string): Promise<Response> => {
    const text = errorResponse(error, c.get('log') ?? deps.log, c.env?.incoming);
    deps.errors.record(error, text.status, c.req.method, c.req.path);
    const headers: Record<string, string> = {};
    text.headers.forEach((value, name) => {
      if (name !== 'content-type' && name !== 'content-length') headers[name] = value;
    });
    const shown = message ?? (error instanceof HexproxyError ? error.message : 'internal error; see the hexproxy log for details');
    const code = text.headers.get('x-hexproxy-error') ?? undefined;
    return page(c, <ErrorPage chrome={chromeOf(c.get('viewer'))} status={text.status} code={code} message={shown} />, text.status, headers);
  };

  routes.onError((error, c) => errorPage(c, error));

  routes.use('*', async (c, next) => {
    c.set('viewer', viewerOf(access, c.req.header('authorization'), addressOf(c), publicRepository, served));
    await next();
  });

  const packagesPage = (c: Context<Env>): Promise<Response> => {
    const viewer = c.get('viewer');
    const search = c.req.query('q')?.trim() ?? '';
    if (search.length > MAX_SEARCH) throw new BadRequestError(`the search is longer than ${MAX_SEARCH} characters`);
    const sortParam = c.req.query('sort');
    const sort: CachedPackageSort = sortParam !== undefined && Object.hasOwn(SORTS, sortParam) ? sortParam as CachedPackageSort : 'name';
    const pageNumber = Math.min(100_000, Math.max(1, Math.floor(Number(c.req.query('page') ?? 1)) || 1));
    const result = index.cachedPackages({ repos: viewer.repositories, search, sort, limit: PAGE_SIZE, offset: (pageNumber - 1) * PAGE_SIZE });
    const lowered = search.toLowerCase();
    const lookup = isPackageName(lowered) && mayRead(viewer, publicRepository)
      && !result.packages.some((row) => row.name === lowered && row.repo === publicRepository) ? lowered : undefined;
    return page(c, (
      <PackagesPage
        chrome={chromeOf(viewer)} search={search} sort={sort} page={pageNumber} pageSize={PAGE_SIZE}
        total={result.total} packages={result.packages} publicRepository={publicRepository}
        repositories={viewer.repositories} lookup={lookup} now={Date.now()}
      />
    ));
  };

  routes.get('/', packagesPage);
  routes.get('/packages', packagesPage);

  const packagePage = async (c: Context<Env>, repository: string, name: string): Promise<Response> => {
    if (!isPackageName(name)) throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
    const version = c.req.query('version');
    if (version !== undefined && !isVersion(version)) throw new BadRequestError(`"${version}" is not a SemVer version`);
    const pageParam = c.req.query('page');
    if (pageParam !== undefined && !/^[1-9]\d{0,8}$/.test(pageParam)) throw new BadRequestError(`page=${pageParam.slice(0, 20)} is not a page number (1, 2, …)`);
    const mirror = repositories.get(repository);
    if (!mirror) throw new NotFoundError(`organization ${repository} is not configured in hexproxy`);
    const cached = index.listPackageTarballs(repository, name);
    let releases: ReleaseIndex | undefined;
    let registry: PackageView['registry'];
    try {
      const result = await mirror.registry.get({ kind: 'package', name });
      releases = mirror.registry.releaseIndex(result.file);
      const { checkedAt, upstreamAsOf } = result.file.row;
      registry = { state: result.cache === 'stale' ? 'stale' : 'fresh', checkedAt, upstreamAsOf };
    } catch (error: unknown) {
      if (!(error instanceof HexproxyError)) throw error;
      if (cached.length === 0) {
        if (error instanceof NotFoundError) throw new NotFoundError(`there is no package ${name} in ${repository}: upstream has none, and hexproxy has none cached`);
        if (error instanceof OfflineMissError) return errorPage(c, error, `hexproxy cannot show ${name}: it has nothing of it cached, and it runs in offline mode (--offline), so it does not ask upstream`);
        return errorPage(c, error, `hexproxy cannot show ${name}: it has nothing of it cached, and fetching its registry file failed: ${error.message}`);
      }
      if (error.status >= 500) deps.errors.record(error, error.status, c.req.method, c.req.path);
      registry = { state: 'unavailable', reason: error instanceof NotFoundError ? 'upstream no longer has it' : error.message };
    }
    // Decided on the unfiltered package, as the filtered registry files are (src/policy/filter.ts).
    const applies = deps.policy.appliesTo(repository);
    const policy = deps.policy.current;
    const now = Math.floor(deps.policy.nowMs() / 1000);
    const decide = applies && releases
      ? (pkg: PackageFacts, release: Release): ReleasePolicy => {
        const { decision } = decideRelease(policy, pkg, release, now);
        if (!decision.allowed) return { blocked: true, reasons: decision.reasons.map(describeReason) };
        const { rule } = decision;
        return rule
          ? { blocked: false, rule: { key: rule.key, text: rule.text, comment: rule.comment, note: `${describeDecision(decision)}${rule.comment ? ` (${rule.comment})` : ''}` } }
          : { blocked: false };
      }
      : undefined;
    const { view, selected } = packagePageData({
      repository, name, index: releases, cached, registry, decide, version, page: pageParam === undefined ? undefined : Number(pageParam),
    });
    if (applies) view.policy = { decided: decide !== undefined, tarballs: policy.tarballs };
    const viewer = c.get('viewer');
    return page(c, (
      <PackagePage
        chrome={chromeOf(viewer)} view={view} selected={selected} publicRepository={publicRepository}
        readable={viewer.repositories.filter((repo) => repositories.has(repo))} offline={deps.offline} now={Date.now()}
      />
    ));
  };

  routes.get('/packages/:name', (c) => {
    const viewer = c.get('viewer');
    // The public repository's pages follow its read rule (a token that reads only an organization gets 403).
    if (!mayRead(viewer, publicRepository)) access.check(c.req.header('authorization'), addressOf(c), 'read', publicRepository);
    return packagePage(c, publicRepository, c.req.param('name'));
  });

  routes.get('/repos/:org/packages/:name', (c) => {
    const org = c.req.param('org');
    if (!repositories.has(org) || org === publicRepository) throw new NotFoundError(`organization ${org} is not configured in hexproxy`);
    // No token: 401 (the browser asks for one); a token that may not read it: 403.
    access.check(c.req.header('authorization'), addressOf(c), 'read', org);
    return packagePage(c, org, c.req.param('name'));
  });

  routes.get('/setup', (c) => {
    const viewer = c.get('viewer');
    return page(c, (
      <SetupPage
        chrome={chromeOf(viewer)} baseUrl={baseUrlOf((name) => c.req.header(name), c.req.url, c.get('client').viaTrustedProxy)}
        publicKeyPem={keys.publicKeyPem} fingerprint={keys.fingerprint} publicRepository={publicRepository}
        tokenRequired={!access.anonymousMayRead(publicRepository)}
        organizations={viewer.repositories.filter((repo) => repo !== publicRepository)}
        policyApplies={deps.policy.appliesTo(publicRepository)}
      />
    ));
  });

  routes.get('/status', (c) => {
    const viewer = c.get('viewer');
    // Figures of the repositories the viewer may read (admin rights or not).
    const stats = cacheStats(index, 0, viewer.everything ? undefined : { repositories: viewer.repositories, publicRepository });
    const errors = deps.errors.list((repo) => mayRead(viewer, repo), viewer.everything);
    const summary = describePolicy(deps.policy.current);
    // Organizations the viewer may not read are not named to it.
    const policyRepositories = summary.repositories.filter((repo) => mayRead(viewer, repo));
    return page(c, (
      <StatusPage
        chrome={chromeOf(viewer)}
        upstream={{
          url: displayUrl(deps.upstreamUrl),
          state: health.state,
          lastContact: health.lastContact,
          coolingDownUntil: health.coolingDownUntil(),
          // Upstream messages name the path that failed, of any repository.
          lastFailure: viewer.everything && health.state !== 'online' ? health.lastFailure : undefined,
          offline: deps.offline,
        }}
        stats={stats} maxCacheBytes={deps.maxCacheBytes} errors={errors} errorsFiltered={!viewer.everything} figuresScoped={!viewer.everything} now={Date.now()}
        policy={{
          ...summary, repositories: policyRepositories, hiddenRepositories: summary.repositories.length - policyRepositories.length,
          generation: deps.policy.generation,
        }}
      />
    ));
  });

  // Where the browser is asked for a token (basic auth: any user name, the token as password).
  routes.get('/login', (c) => {
    if (c.get('viewer').token === undefined) throw new UnauthorizedError('sign in with a hexproxy token as the password (any user name)');
    return c.redirect('/ui/packages', 303);
  });

  routes.get('*', (c) => {
    if (c.req.path === '/ui/') return c.redirect('/ui', 301);
    throw new NotFoundError(`the web UI has no page ${c.req.path}; it has /ui/packages, /ui/packages/NAME, /ui/setup and /ui/status`);
  });

  return routes;
}

const addressOf = (c: Context<Env>): string => c.get('client').address;
