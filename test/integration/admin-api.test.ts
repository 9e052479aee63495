// The admin API over real HTTP: admin tokens only; stats, cache entries, pre-warming from
// specs and evicting, each checked against the cache and the upstream's hit counts; the
// policy in force and reloading it from the config file.
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePolicy } from '../../src/policy/describe.js';
import { compilePolicy, type PolicyConfig } from '../../src/policy/rules.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

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
  const response = await request(`${target.url}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
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
    expect(listed.json).toMatchObject({ repo: 'hexpm', entries: [{ name: 'alpha', version: '1.1.0', size: upstream.tarball('alpha', '1.1.0').tar.length, pinned: false }], next: 'alpha-1.1.0' });
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
  const edited: PolicyConfig = { ...configured, deny: ['alpha'], allow: [], minReleaseAge: '0', blockAdvisorySeverity: undefined, blockRetired: true, tarballs: 'strict' };
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
    expect(reloaded.json).toMatchObject({ rules: [{ key: 'policy.deny[0]', action: 'deny', match: 'alpha' }], blockAdvisorySeverity: null, blockRetired: true, tarballs: 'strict' });
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
    expect(badRepository.text).toMatch(/the previous one stays in force: config key policy\.repositories: "hexmp" is not a repository hexproxy serves/);

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
