// The admin API (/api/admin/..., admin tokens only): cache figures and entries, evicting,
// and pre-warming from specs. Each endpoint reuses the operations the CLI runs. Admin
// rights do not widen read rights: an operation on a repository needs read rights on it
// too, and figures cover only the repositories the token may read.
import { Hono, type MiddlewareHandler } from 'hono';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { AccessControl } from '../auth/access-control.js';
import type { TokenRecord } from '../auth/token-store.js';
import { BadRequestError, ConfigError, ForbiddenError, NotFoundError, UnsupportedMediaTypeError } from '../errors.js';
import type { ActivePolicy } from '../policy/active-policy.js';
import { describePolicy } from '../policy/describe.js';
import type { Repository } from '../repository/repository.js';
import { cacheStats } from '../cache/stats.js';
import { evictPackage } from '../cache/evict.js';
import { fetchReleases, type ReleaseTarget } from '../ops/fetch-releases.js';
import { planPrewarm } from '../ops/prewarm.js';
import { isPackageName, isVersion, splitRelease } from '../registry/resource.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import type { UpstreamHealth } from '../upstream/health.js';
import type { RequestVariables } from './request-context.js';
import { requestText } from './request-body.js';

export interface AdminDependencies {
  access: AccessControl;
  index: CacheIndex;
  blobs: BlobStore;
  health: UpstreamHealth;
  /** Every repository hexproxy serves ("hexpm", organizations). */
  repositories: ReadonlyMap<string, Pick<Repository, 'registry' | 'tarballs'>>;
  publicRepository: string;
  policy: ActivePolicy;
  /** Reads the configuration again and puts its policy in force; throws ConfigError if it is invalid. */
  reloadPolicy: () => void;
}

type Env = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables & { token: TokenRecord | undefined } };

const evictBody = z.strictObject({
  repo: z.string().optional(),
  name: z.string().refine(isPackageName, 'must be a package name'),
  version: z.string().refine(isVersion, 'must be a SemVer version').optional(),
});

const prewarmBody = z.strictObject({
  repo: z.string().optional(),
  specs: z.array(z.string().min(1)).min(1).max(1000),
  withOptional: z.boolean().optional(),
  pin: z.boolean().optional(),
});

/**
 * Admin bodies come as JSON only: a page of another origin can send text/plain, a form or
 * an untyped body without a preflight, but not application/json. A POST without a body
 * (curl -X POST …/policy/reload) needs no type.
 */
function requireJson(contentType: string | undefined, contentLength: string | undefined, transferEncoding: string | undefined): void {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/json') return;
  const hasBody = transferEncoding !== undefined || (contentLength !== undefined && contentLength.trim() !== '0');
  if (contentType === undefined && !hasBody) return;
  throw new UnsupportedMediaTypeError(
    `send the body as JSON with Content-Type: application/json (this request's is ${contentType === undefined ? 'missing' : `"${contentType}"`}), e.g. curl -H 'content-type: application/json' -d '{"name": "plug"}'`,
  );
}

export function adminRoutes(deps: AdminDependencies): Hono<Env> {
  const { access, index, blobs, health, repositories, publicRepository, policy, reloadPolicy } = deps;
  const routes = new Hono<Env>();
  const guard: MiddlewareHandler<Env> = async (c, next) => {
    c.set('token', access.check(c.req.header('authorization'), c.get('client').address, 'admin'));
    if (c.req.method === 'POST') requireJson(c.req.header('content-type'), c.req.header('content-length'), c.req.header('transfer-encoding'));
    await next();
  };
  const repositoryOf = (token: TokenRecord | undefined, repo: string | undefined) => {
    const name = repo ?? publicRepository;
    const repository = repositories.get(name);
    // As on the repository routes: 404 for one not served (listing only those it may read), 403 for one it may not read.
    const readable = [...repositories.keys()].filter((served) => access.mayRead(token, served));
    if (!repository) throw new NotFoundError(`no repository ${name}; hexproxy serves ${readable.join(', ') || 'none this token may read'}`);
    if (!access.mayRead(token, name)) {
      throw new ForbiddenError(
        `token ${token?.name ?? '?'} has admin rights but may not read repository ${name}; admin operations on a repository need read rights on it too (hexproxy token create NAME --read ${name} --admin)`,
      );
    }
    return { name, registry: repository.registry, tarballs: repository.tarballs };
  };
  const body = async <T>(schema: z.ZodType<T>, read: () => Promise<string>): Promise<T> => {
    // Read first, outside the try: a client that goes away mid-body is not a bad request.
    const text = await read();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BadRequestError('the request body must be JSON');
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new BadRequestError(`request body: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  };

  // The repositories the policy is restricted to, of those the token may read.
  const policyFor = (token: TokenRecord | undefined) => {
    const summary = describePolicy(policy.current);
    return { generation: policy.generation, ...summary, repositories: summary.repositories.filter((repo) => access.mayRead(token, repo)) };
  };

  routes.get('/policy', guard, (c) => c.json(policyFor(c.get('token'))));

  // Reads the config file again; an invalid policy section leaves the one in force.
  routes.post('/policy/reload', guard, (c) => {
    try {
      reloadPolicy();
    } catch (error: unknown) {
      if (error instanceof ConfigError)
        throw new BadRequestError(`the policy was not reloaded and the previous one stays in force: ${error.message}`, { cause: error });
      throw error;
    }
    return c.json(policyFor(c.get('token')));
  });

  routes.get('/stats', guard, (c) => {
    const token = c.get('token');
    const readable = [...repositories.keys()].filter((repo) => access.mayRead(token, repo));
    const scope = readable.length === repositories.size ? undefined : { repositories: readable, publicRepository };
    return c.json({ ...cacheStats(index, 20, scope), upstream: { state: health.state } });
  });

  // Cached tarballs, a page at a time: ?repo=hexpm&after=NAME-VERSION&limit=100.
  routes.get('/cache', guard, (c) => {
    const { name: repo } = repositoryOf(c.get('token'), c.req.query('repo'));
    const limit = Math.min(1000, Math.max(1, Number(c.req.query('limit') ?? 100) || 100));
    const afterParam = c.req.query('after');
    const after = afterParam === undefined ? undefined : splitRelease(afterParam);
    if (afterParam !== undefined && !after) throw new BadRequestError(`after=${afterParam} is not NAME-VERSION`);
    const rows = index.tarballPage(after ? { repo, ...after } : { repo, name: '', version: '' }, limit).filter((row) => row.repo === repo);
    const last = rows[rows.length - 1];
    return c.json({
      repo,
      entries: rows.map(({ name, version, size, sha256, hits, lastUsedAt, fetchedAt, pinned }) => ({
        name,
        version,
        size,
        sha256,
        hits,
        lastUsedAt,
        fetchedAt,
        pinned,
      })),
      next: rows.length === limit && last ? `${last.name}-${last.version}` : null,
    });
  });

  routes.post('/evict', guard, async (c) => {
    const request = await body(evictBody, () => requestText(() => c.req.text(), c.env?.incoming));
    const { name: repo, registry, tarballs } = repositoryOf(c.get('token'), request.repo);
    const report = await evictPackage(index, blobs, repo, request.name, request.version);
    // In-process: the memory copies go with the files (another process would be noticed through the index).
    for (const row of report.tarballs) tarballs.forget(row.name, row.version);
    if (report.registryFile) registry.forgetMemory(`packages/${request.name}`);
    return c.json({ repo, tarballs: report.tarballs.map((row) => `${row.name}-${row.version}`), registryFile: report.registryFile });
  });

  // Specs are looked up in `repo`; dependencies are followed into the repository each names
  // (an organization's package depends on public ones in hexpm), if the token may read it.
  routes.post('/prewarm', guard, async (c) => {
    const request = await body(prewarmBody, () => requestText(() => c.req.text(), c.env?.incoming));
    const token = c.get('token');
    const { name: repo } = repositoryOf(token, request.repo);
    const refuses = (other: string): string | undefined =>
      access.mayRead(token, other) ? undefined : `token ${token?.name ?? '?'} may not read repository ${other}`;
    const plan = await planPrewarm(
      { mixLocks: [], rebarLocks: [], specs: request.specs, withOptional: request.withOptional ?? false, concurrency: 8, repos: [repo], refuses },
      { repositories, publicRepository },
    );
    const summary = await fetchReleases(plan.targets, { index, repositories, concurrency: 8, pin: request.pin ?? false });
    // Releases of another repository than `repo` are named REPO/NAME@VERSION.
    const named = (t: ReleaseTarget): string => `${t.repo === repo ? '' : `${t.repo}/`}${t.name}@${t.version}`;
    return c.json(
      {
        repo,
        fetched: summary.fetched.map(named).sort(),
        cached: summary.cached.map(named).sort(),
        failed: [
          ...plan.failed.map((f) => ({ what: f.what, reason: f.reason })),
          ...summary.failed.map((f) => ({ what: named(f.target), reason: f.reason })),
        ],
        skipped: plan.skipped,
      },
      summary.failed.length + plan.failed.length > 0 ? 207 : 200,
    );
  });

  return routes;
}
