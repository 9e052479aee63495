// The admin API over real HTTP: admin tokens only; stats, cache entries, pre-warming from
// specs and evicting, each checked against the cache and the upstream's hit counts.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  const result = await runCli(['token', 'create', name, ...flags, '--data-dir', proxy.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

async function api(method: 'GET' | 'POST' | 'PUT', path: string, authorization?: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers['authorization'] = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await request(`${proxy.url}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
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
