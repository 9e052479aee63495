// The admin API over real HTTP: admin tokens only; stats, cache entries, pre-warming from
// specs and evicting, each checked against the cache and the upstream's hit counts; the
// policy in force and reloading it from the config file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePolicy } from '../../src/policy/describe.js';
import { compilePolicy, type PolicyConfig } from '../../src/policy/rules.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [
  { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0', dependencies: [{ package: 'beta', requirement: '~> 2.0' }] }] },
  { name: 'beta', releases: [{ version: '2.0.0' }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;
let admin = '';
let reader = '';

async function token(name: string, ...flags: string[]): Promise<string> {
  return tokenOf(proxy, name, ...flags);
}

async function tokenOf(target: TestProxy, name: string, ...flags: string[]): Promise<string> {
  const result = await runCli(['token', 'create', name, ...flags, '--data-dir', target.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

type ApiResult = { status: number; json: unknown; text: string };

async function api(method: 'GET' | 'POST' | 'PUT', path: string, authorization?: string, body?: unknown): Promise<ApiResult> {
  return apiOf(proxy, method, path, authorization, body);
}

async function apiOf(target: TestProxy, method: 'GET' | 'POST' | 'PUT', path: string, authorization?: string, body?: unknown): Promise<ApiResult> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers['authorization'] = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await request(`${target.url}${path}`, {
    method,
    headers,
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, json, text };
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
  admin = await token('ops', '--read', 'hexpm', '--admin');
  reader = await token('dev', '--read', 'hexpm');
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('the admin API', () => {
  it('is for admin tokens only', async () => {
    const anonymous = await api('GET', '/api/admin/stats');
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).toMatch(/the admin API needs a token with admin rights/);
    const notAdmin = await api('GET', '/api/admin/stats', reader);
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.text).toMatch(/token dev has no admin rights/);
    expect((await api('POST', '/api/admin/prewarm', reader, { specs: ['alpha'] })).status).toBe(403);
    expect(upstream.totalHits()).toBe(0);
  });

  it('pre-warms from specs, with dependencies, and lists what it cached', async () => {
    const warmed = await api('POST', '/api/admin/prewarm', admin, { specs: ['alpha@~> 1.1'] });
    expect(warmed.status, warmed.text).toBe(200);
    expect(warmed.json).toEqual({ repo: 'hexpm', fetched: ['alpha@1.1.0', 'beta@2.0.0'], cached: [], failed: [], skipped: [] });
    expect(upstream.hits('/tarballs/alpha-1.1.0.tar')).toBe(1);
    expect(upstream.hits('/tarballs/beta-2.0.0.tar')).toBe(1);
    const again = await api('POST', '/api/admin/prewarm', admin, { specs: ['alpha@~> 1.1'] });
    expect(again.json).toMatchObject({ fetched: [], cached: ['alpha@1.1.0', 'beta@2.0.0'] });

    const listed = await api('GET', '/api/admin/cache?limit=1', admin);
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({
      repo: 'hexpm',
      entries: [{ name: 'alpha', version: '1.1.0', size: upstream.tarball('alpha', '1.1.0').tar.length, pinned: false }],
      next: 'alpha-1.1.0',
    });
    const rest = await api('GET', '/api/admin/cache?after=alpha-1.1.0', admin);
    expect(rest.json).toMatchObject({ entries: [{ name: 'beta', version: '2.0.0' }], next: null });

    const stats = await api('GET', '/api/admin/stats', admin);
    expect(stats.json).toMatchObject({ tarballs: { count: 2 }, upstream: { state: 'online' } });
  });

  it('evicts a release, and the next request fetches it again', async () => {
    expect((await proxy.get('/tarballs/beta-2.0.0.tar')).headers['x-hexproxy-cache']).toBe('HIT');
    const evicted = await api('POST', '/api/admin/evict', admin, { name: 'beta', version: '2.0.0' });
    expect(evicted.status, evicted.text).toBe(200);
    expect(evicted.json).toEqual({ repo: 'hexpm', tarballs: ['beta-2.0.0'], registryFile: false });
    const refetched = await proxy.get('/tarballs/beta-2.0.0.tar');
    expect(refetched.headers['x-hexproxy-cache']).toBe('MISS');
    expect(upstream.hits('/tarballs/beta-2.0.0.tar')).toBe(2);
    expect((await api('POST', '/api/admin/evict', admin, { name: 'gamma' })).status).toBe(404);
  });

  it('refuses malformed requests with a reason', async () => {
    const notJson = await api('POST', '/api/admin/evict', admin, '{nope');
    expect(notJson.status).toBe(400);
    expect(notJson.text).toMatch(/the request body must be JSON/);
    const badName = await api('POST', '/api/admin/evict', admin, { name: '../etc' });
    expect(badName.status).toBe(400);
    expect(badName.text).toMatch(/request body: name: must be a package name/);
    expect((await api('POST', '/api/admin/prewarm', admin, { specs: [] })).status).toBe(400);
    expect((await api('GET', '/api/admin/cache?repo=initech', admin)).status).toBe(404);
    expect((await api('PUT', '/api/admin/stats', admin)).status).toBe(405);
  });
});

describe('the admin API for the policy', () => {
  // Every field set, so it is also the PolicyConfig the schema makes of it.
  const configured: PolicyConfig = {
    deny: ['beta', { match: 'alpha@< 1.1.0', comment: 'GHSA-old-alpha' }],
    allow: ['beta@2.0.0'],
    minReleaseAge: '7d',
    undatedReleases: 'allow',
    blockAdvisorySeverity: 'high',
    blockRetired: ['security'],
    tarballs: 'locked-ok',
  };
  const edited: PolicyConfig = {
    ...configured,
    deny: ['alpha'],
    allow: [],
    minReleaseAge: '0',
    blockAdvisorySeverity: undefined,
    blockRetired: true,
    tarballs: 'strict',
  };
  let policyProxy: TestProxy;
  let policyAdmin = '';
  let policyReader = '';
  const summaryOf = (section: PolicyConfig) => describePolicy(compilePolicy(section, 'hexpm'));
  const writePolicy = (section: object): void => {
    if (!policyProxy.configFile) throw new Error('the proxy was started without a config file');
    writeFileSync(policyProxy.configFile, JSON.stringify({ policy: section }));
  };

  beforeAll(async () => {
    policyProxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy: configured } });
    policyAdmin = await tokenOf(policyProxy, 'policy-ops', '--read', 'hexpm', '--admin');
    policyReader = await tokenOf(policyProxy, 'policy-dev', '--read', 'hexpm');
  });

  afterAll(async () => {
    await policyProxy?.close();
  });

  it('shows the policy in force and its generation', async () => {
    const shown = await apiOf(policyProxy, 'GET', '/api/admin/policy', policyAdmin);
    expect(shown.status, shown.text).toBe(200);
    expect(shown.json).toEqual({ generation: 0, ...summaryOf(configured) });
    // The same, spelt out.
    expect(shown.json).toEqual({
      generation: 0,
      active: true,
      repositories: ['hexpm'],
      rules: [
        { key: 'policy.deny[0]', action: 'deny', match: 'beta' },
        { key: 'policy.deny[1]', action: 'deny', match: 'alpha@< 1.1.0', comment: 'GHSA-old-alpha' },
        { key: 'policy.allow[0]', action: 'allow', match: 'beta@2.0.0' },
      ],
      minReleaseAge: '7d',
      undatedReleases: 'allow',
      blockAdvisorySeverity: 'high',
      blockRetired: ['security'],
      tarballs: 'locked-ok',
    });
    expect(policyProxy.server.hexproxy.policy.generation).toBe(0);
  });

  it('is for admin tokens only', async () => {
    expect((await apiOf(policyProxy, 'GET', '/api/admin/policy')).status).toBe(401);
    const notAdmin = await apiOf(policyProxy, 'GET', '/api/admin/policy', policyReader);
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.text).toMatch(/token policy-dev has no admin rights/);
    writePolicy(edited);
    const reload = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyReader);
    expect(reload.status).toBe(403);
    expect(reload.text).toMatch(/token policy-dev has no admin rights/);
    expect((await apiOf(policyProxy, 'POST', '/api/admin/policy/reload')).status).toBe(401);
    // Nothing was reloaded.
    expect(policyProxy.server.hexproxy.policy.generation).toBe(0);
    expect((await apiOf(policyProxy, 'GET', '/api/admin/policy', policyAdmin)).json).toEqual({ generation: 0, ...summaryOf(configured) });
    writePolicy(configured);
  });

  it('reloads the policy from the edited config file, in force at once', async () => {
    writePolicy(edited);
    const reloaded = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyAdmin);
    expect(reloaded.status, reloaded.text).toBe(200);
    expect(reloaded.json).toEqual({ generation: 1, ...summaryOf(edited) });
    expect(reloaded.json).toMatchObject({
      rules: [{ key: 'policy.deny[0]', action: 'deny', match: 'alpha' }],
      blockAdvisorySeverity: null,
      blockRetired: true,
      tarballs: 'strict',
    });
    expect((await apiOf(policyProxy, 'GET', '/api/admin/policy', policyAdmin)).json).toEqual({ generation: 1, ...summaryOf(edited) });
    expect(policyProxy.server.hexproxy.policy.generation).toBe(1);
    // In force: alpha is denied, and under "strict" so are its tarballs.
    const tarball = await policyProxy.get('/tarballs/alpha-1.0.0.tar');
    expect(tarball.status).toBe(403);
    expect(tarball.body.toString()).toMatch(/denied by policy\.deny\[0\] "alpha"/);
  });

  it('refuses an invalid edit with 400 naming the key, and keeps the previous policy', async () => {
    writePolicy({ ...edited, minReleaseAge: '7 days' });
    const badAge = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyAdmin);
    expect(badAge.status).toBe(400);
    expect(badAge.text).toMatch(/the policy was not reloaded and the previous one stays in force/);
    expect(badAge.text).toMatch(/config key policy\.minReleaseAge.*must be a duration such as "0", "7d"/);

    writePolicy({ ...edited, repositories: ['hexmp'] });
    const badRepository = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyAdmin);
    expect(badRepository.status).toBe(400);
    expect(badRepository.text).toMatch(
      /the previous one stays in force: config key policy\.repositories: "hexmp" is not a repository hexproxy serves/,
    );

    writePolicy({ ...edited, deny: ['alpha', 'beta@~>'] });
    const badRule = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyAdmin);
    expect(badRule.status).toBe(400);
    expect(badRule.text).toMatch(/the previous one stays in force: config key policy\.deny\[1\] .*"beta@~>" has an invalid requirement/);

    // The policy in force is still the one last reloaded, under the same generation.
    expect(policyProxy.server.hexproxy.policy.generation).toBe(1);
    expect((await apiOf(policyProxy, 'GET', '/api/admin/policy', policyAdmin)).json).toEqual({ generation: 1, ...summaryOf(edited) });
    expect((await policyProxy.get('/tarballs/alpha-1.0.0.tar')).status).toBe(403);

    writePolicy(configured);
    const back = await apiOf(policyProxy, 'POST', '/api/admin/policy/reload', policyAdmin);
    expect(back.status, back.text).toBe(200);
    expect(back.json).toEqual({ generation: 2, ...summaryOf(configured) });
  });
});

describe('admin rights do not bypass read scopes', () => {
  const ACME_KEY = 'acme-upstream-key-0123456789';
  let orgUpstream: FakeUpstream;
  let orgProxy: TestProxy;
  let hexpmAdmin = '';
  let acmeAdmin = '';

  beforeAll(async () => {
    orgUpstream = await startFakeUpstream({
      packages: [
        { name: 'jason', releases: [{ version: '1.4.0' }] },
        { name: 'erlpkg', releases: [{ version: '2.0.0' }] },
      ],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            { name: 'acme_core', releases: [{ version: '1.0.0' }] },
            { name: 'acme_web', releases: [{ version: '0.1.0' }] },
            // A private package depending on a public one (in hexpm) and on one of its own organization.
            {
              name: 'acme_erl',
              releases: [
                {
                  version: '1.0.0',
                  dependencies: [
                    { package: 'erlpkg', requirement: '~> 2.0', repository: 'hexpm' },
                    { package: 'acme_core', requirement: '~> 1.0' },
                  ],
                },
              ],
            },
          ],
        },
      },
    });
    const keyFile = join(tempDir('hexproxy-admin-orgs-'), 'acme.pem');
    writeFileSync(keyFile, orgUpstream.organization('acme').publicKeyPem);
    orgProxy = await startProxy({
      upstreamUrl: orgUpstream.url,
      upstreamPublicKeyPem: orgUpstream.publicKeyPem,
      config: { organizations: { acme: { authKey: ACME_KEY, publicKey: keyFile } }, policy: { repositories: ['hexpm', 'acme'], deny: ['left_pad'] } },
    });
    const created = await runCli(['token', 'create', 'ops', '--read', 'hexpm', '--admin', '--data-dir', orgProxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    // token create says what admin rights cover.
    expect(created.stderr).toMatch(/admin \(on the repositories it may read\)/);
    hexpmAdmin = created.stdout.trim();
    acmeAdmin = await tokenOf(orgProxy, 'acme-ops', '--read', 'hexpm,acme', '--admin');
    expect((await orgProxy.get('/tarballs/jason-1.4.0.tar')).status).toBe(200);
    expect((await orgProxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: acmeAdmin })).status).toBe(200);
    // Answered before it is stored: let the organization's tarball land in the cache.
    await orgProxy.server.hexproxy.repositories.get('acme')?.tarballs.drain();
    expect(orgProxy.server.hexproxy.index.findTarball('acme', 'acme_core', '1.0.0')).toBeDefined();
  });

  afterAll(async () => {
    await orgProxy?.close();
    await orgUpstream?.close();
  });

  it('refuses an admin without read rights on the repository: cache listing, evict and prewarm get 403', async () => {
    const listed = await apiOf(orgProxy, 'GET', '/api/admin/cache?repo=acme', hexpmAdmin);
    expect(listed.status).toBe(403);
    expect(listed.text).toMatch(/token ops has admin rights but may not read repository acme/);
    expect(listed.text).not.toMatch(/acme_core/);
    const hitsBefore = orgUpstream.totalHits();
    expect((await apiOf(orgProxy, 'POST', '/api/admin/prewarm', hexpmAdmin, { repo: 'acme', specs: ['acme_web'] })).status).toBe(403);
    expect(orgUpstream.totalHits(), 'a refused prewarm asks upstream nothing').toBe(hitsBefore);
    expect((await apiOf(orgProxy, 'POST', '/api/admin/evict', hexpmAdmin, { repo: 'acme', name: 'acme_core' })).status).toBe(403);
    expect(orgProxy.server.hexproxy.index.findTarball('acme', 'acme_core', '1.0.0'), 'still cached').toBeDefined();
    // Its own repository works.
    const own = await apiOf(orgProxy, 'GET', '/api/admin/cache?repo=hexpm', hexpmAdmin);
    expect(own.status).toBe(200);
    expect((own.json as { entries: { name: string }[] }).entries.map((entry) => entry.name)).toEqual(['jason']);
  });

  it("shows such an admin stats of the repositories it may read only, in the API and on the UI's Status page", async () => {
    const stats = await apiOf(orgProxy, 'GET', '/api/admin/stats', hexpmAdmin);
    expect(stats.status).toBe(200);
    expect(stats.text).not.toMatch(/acme/);
    const figures = stats.json as { tarballs: { count: number }; topPackages: { repo: string; name: string }[] };
    expect(figures.tarballs.count).toBe(1);
    expect(figures.topPackages.map((row) => `${row.repo}/${row.name}`)).toEqual(['hexpm/jason']);

    // The policy in force names only the repositories it may read.
    const policy = await apiOf(orgProxy, 'GET', '/api/admin/policy', hexpmAdmin);
    expect(policy.status).toBe(200);
    expect((policy.json as { repositories: string[] }).repositories).toEqual(['hexpm']);
    expect(((await apiOf(orgProxy, 'GET', '/api/admin/policy', acmeAdmin)).json as { repositories: string[] }).repositories).toEqual([
      'hexpm',
      'acme',
    ]);

    const all = await apiOf(orgProxy, 'GET', '/api/admin/stats', acmeAdmin);
    const allFigures = all.json as { tarballs: { count: number }; topPackages: { repo: string; name: string }[] };
    expect(allFigures.tarballs.count).toBe(2);
    expect(allFigures.topPackages.map((row) => `${row.repo}/${row.name}`).sort()).toEqual(['acme/acme_core', 'hexpm/jason']);

    const basic = (secret: string): string => `Basic ${Buffer.from(`:${secret}`).toString('base64')}`;
    const tarballsShown = (html: string): string | undefined =>
      /Package tarballs(?:<span[^>]*>[^<]*<\/span>)?<\/td><td class="num">([^<]*)<\/td>/.exec(html)?.[1];
    const status = await orgProxy.get('/ui/status', { authorization: basic(hexpmAdmin) });
    expect(status.status).toBe(200);
    expect(tarballsShown(status.body.toString())).toBe('1');
    const page = await orgProxy.get('/ui/repos/acme/packages/acme_core', { authorization: basic(hexpmAdmin) });
    expect(page.status).toBe(403);
    expect(page.body.toString()).not.toMatch(/1\.0\.0/);
    const statusAll = await orgProxy.get('/ui/status', { authorization: basic(acmeAdmin) });
    expect(tarballsShown(statusAll.body.toString())).toBe('2');
  });

  it('lets an admin with read rights on it do all of that', async () => {
    const listed = await apiOf(orgProxy, 'GET', '/api/admin/cache?repo=acme', acmeAdmin);
    expect(listed.status, listed.text).toBe(200);
    expect((listed.json as { entries: { name: string }[] }).entries.map((entry) => entry.name)).toEqual(['acme_core']);
    const warmed = await apiOf(orgProxy, 'POST', '/api/admin/prewarm', acmeAdmin, { repo: 'acme', specs: ['acme_web'] });
    expect(warmed.status, warmed.text).toBe(200);
    expect((warmed.json as { fetched: string[] }).fetched).toEqual(['acme_web@0.1.0']);
    const evicted = await apiOf(orgProxy, 'POST', '/api/admin/evict', acmeAdmin, { repo: 'acme', name: 'acme_web' });
    expect(evicted.status, evicted.text).toBe(200);
    expect((evicted.json as { tarballs: string[] }).tarballs).toEqual(['acme_web-0.1.0']);
  });

  it("pre-warms an organization's package with its public dependencies, from hexpm, when the token may read both", async () => {
    const warmed = await apiOf(orgProxy, 'POST', '/api/admin/prewarm', acmeAdmin, { repo: 'acme', specs: ['acme_erl'] });
    expect(warmed.status, warmed.text).toBe(200);
    // Releases of another repository than the one asked for are named REPO/NAME@VERSION.
    expect(warmed.json).toEqual({
      repo: 'acme',
      fetched: ['acme_erl@1.0.0', 'hexpm/erlpkg@2.0.0'],
      cached: ['acme_core@1.0.0'],
      failed: [],
      skipped: [],
    });
    expect(orgUpstream.hits('/tarballs/erlpkg-2.0.0.tar')).toBe(1);
    expect(orgUpstream.hits('/repos/acme/packages/erlpkg')).toBe(0);
    expect(orgProxy.server.hexproxy.index.findTarball('hexpm', 'erlpkg', '2.0.0')).toBeDefined();
  });
});

describe("the admin API's prewarm under auth.requireToken", () => {
  it('skips a public dependency, with why, for an admin that may read the organization but not hexpm', async () => {
    const ACME_KEY = 'acme-upstream-key-for-require-token';
    const upstream = await startFakeUpstream({
      packages: [{ name: 'erlpkg', releases: [{ version: '2.0.0' }] }],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            { name: 'acme_erl', releases: [{ version: '1.0.0', dependencies: [{ package: 'erlpkg', requirement: '~> 2.0', repository: 'hexpm' }] }] },
          ],
        },
      },
    });
    const keyFile = join(tempDir('hexproxy-admin-orgs-'), 'acme.pem');
    writeFileSync(keyFile, upstream.organization('acme').publicKeyPem);
    const proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { organizations: { acme: { authKey: ACME_KEY, publicKey: keyFile } } },
      flags: { 'require-token': true },
    });
    try {
      const acmeOnly = await tokenOf(proxy, 'acme-only-ops', '--read', 'acme', '--admin');
      const warmed = await apiOf(proxy, 'POST', '/api/admin/prewarm', acmeOnly, { repo: 'acme', specs: ['acme_erl'] });
      expect(warmed.status, warmed.text).toBe(200);
      expect(warmed.json).toEqual({
        repo: 'acme',
        fetched: ['acme_erl@1.0.0'],
        cached: [],
        failed: [],
        skipped: [
          {
            what: 'erlpkg ~> 2.0 (via acme_erl → acme/acme_erl@1.0.0)',
            reason: 'in repository "hexpm": token acme-only-ops may not read repository hexpm',
          },
        ],
      });
      expect(upstream.hits('/packages/erlpkg')).toBe(0);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
