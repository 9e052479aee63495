// The admin API (/api/admin/..., admin tokens only): cache figures and entries, evicting,
// and pre-warming from specs. Each endpoint reuses the operations the CLI runs.
import { Hono, type MiddlewareHandler } from 'hono';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { AccessControl } from '../auth/access-control.js';
import { BadRequestError, ConfigError, NotFoundError } from '../errors.js';
import type { ActivePolicy } from '../policy/active-policy.js';
import { describePolicy } from '../policy/describe.js';
import type { RegistryMirror } from '../mirror/registry-mirror.js';
import type { TarballMirror } from '../mirror/tarball-mirror.js';
import { cacheStats } from '../ops/cache-stats.js';
import { evictPackage } from '../ops/cache-evict.js';
import { fetchReleases } from '../ops/fetch-releases.js';
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
  /** Every repository hexproxy serves ("hexpm", organizations), with its mirrors. */
  repositories: ReadonlyMap<string, { registry: RegistryMirror; tarballs: TarballMirror }>;
  publicRepository: string;
  policy: ActivePolicy;
  /** Reads the configuration again and puts its policy in force; throws ConfigError if it is invalid. */
  reloadPolicy: () => void;
}

type Env = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables };

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

export function adminRoutes(deps: AdminDependencies): Hono<Env> {
  const { access, index, blobs, health, repositories, publicRepository, policy, reloadPolicy } = deps;
  const routes = new Hono<Env>();
  const guard: MiddlewareHandler<Env> = async (c, next) => {
    access.check(c.req.header('authorization'), c.env?.incoming?.socket.remoteAddress ?? 'unknown', 'admin');
    await next();
  };
  const mirrorsOf = (repo: string | undefined) => {
    const name = repo ?? publicRepository;
    const mirrors = repositories.get(name);
    if (!mirrors) throw new NotFoundError(`no repository ${name}; hexproxy serves ${[...repositories.keys()].join(', ')}`);
    return { name, ...mirrors };
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

  routes.get('/policy', guard, (c) => c.json({ generation: policy.generation, ...describePolicy(policy.current) }));

  // Reads the config file again; an invalid policy section leaves the one in force.
  routes.post('/policy/reload', guard, (c) => {
    try {
      reloadPolicy();
    } catch (error: unknown) {
      if (error instanceof ConfigError) throw new BadRequestError(`the policy was not reloaded and the previous one stays in force: ${error.message}`, { cause: error });
      throw error;
    }
    return c.json({ generation: policy.generation, ...describePolicy(policy.current) });
  });

  routes.get('/stats', guard, (c) => c.json({ ...cacheStats(index, 20), upstream: { state: health.state } }));

  // Cached tarballs, a page at a time: ?repo=hexpm&after=NAME-VERSION&limit=100.
  routes.get('/cache', guard, (c) => {
    const { name: repo } = mirrorsOf(c.req.query('repo'));
    const limit = Math.min(1000, Math.max(1, Number(c.req.query('limit') ?? 100) || 100));
    const afterParam = c.req.query('after');
    const after = afterParam === undefined ? undefined : splitRelease(afterParam);
    if (afterParam !== undefined && !after) throw new BadRequestError(`after=${afterParam} is not NAME-VERSION`);
    const rows = index.tarballPage(after ? { repo, ...after } : { repo, name: '', version: '' }, limit).filter((row) => row.repo === repo);
    const last = rows[rows.length - 1];
    return c.json({
      repo,
      entries: rows.map(({ name, version, size, sha256, hits, lastUsedAt, fetchedAt, pinned }) => ({ name, version, size, sha256, hits, lastUsedAt, fetchedAt, pinned })),
      next: rows.length === limit && last ? `${last.name}-${last.version}` : null,
    });
  });

  routes.post('/evict', guard, async (c) => {
    const request = await body(evictBody, () => requestText(() => c.req.text(), c.env?.incoming));
    const { name: repo, registry, tarballs } = mirrorsOf(request.repo);
    const report = await evictPackage(index, blobs, repo, request.name, request.version);
    // In-process: the memory copies go with the files (another process would be noticed through the index).
    for (const row of report.tarballs) tarballs.forget(row.name, row.version);
    if (report.registryFile) registry.forgetMemory(`packages/${request.name}`);
    return c.json({ repo, tarballs: report.tarballs.map((row) => `${row.name}-${row.version}`), registryFile: report.registryFile });
  });

  routes.post('/prewarm', guard, async (c) => {
    const request = await body(prewarmBody, () => requestText(() => c.req.text(), c.env?.incoming));
    const { name: repo, registry, tarballs } = mirrorsOf(request.repo);
    const plan = await planPrewarm({ mixLocks: [], rebarLocks: [], specs: request.specs, withOptional: request.withOptional ?? false, concurrency: 8 }, registry, repo);
    const summary = await fetchReleases(plan.targets, { repo, index, registry, tarballs, concurrency: 8, pin: request.pin ?? false });
    const named = (t: { name: string; version: string }): string => `${t.name}@${t.version}`;
    return c.json({
      repo,
      fetched: summary.fetched.map(named).sort(),
      cached: summary.cached.map(named).sort(),
      failed: [...plan.failed.map((f) => ({ what: f.what, reason: f.reason })), ...summary.failed.map((f) => ({ what: named(f.target), reason: f.reason }))],
      skipped: plan.skipped,
    }, summary.failed.length + plan.failed.length > 0 ? 207 : 200);
  });

  return routes;
}
