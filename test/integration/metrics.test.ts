// /metrics parses as Prometheus text, and its counters move by exactly the requests a test
// makes, through the hot path and the routes alike; /readyz says when hexproxy can serve.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { delta, parsePrometheus, sample, type Samples } from '../support/prometheus.js';
import { runCli } from '../support/cli.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [{ name: 'alpha', releases: [{ version: '1.0.0' }] }];

let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

async function scrape(): Promise<Samples> {
  const response = await proxy.get('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(response.body.toString());
}

describe('/metrics', () => {
  it('counts requests, cache results, upstream fetches, errors and bytes exactly', async () => {
    const before = await scrape();
    const pkg = [await proxy.get('/packages/alpha'), await proxy.get('/packages/alpha'), await proxy.get('/packages/alpha')];
    expect(pkg.map((r) => r.headers['x-hexproxy-cache'])).toEqual(['MISS', 'HIT', 'HIT']);
    const tarballs = [await proxy.get('/tarballs/alpha-1.0.0.tar'), await proxy.get('/tarballs/alpha-1.0.0.tar')];
    expect(tarballs.map((r) => r.headers['x-hexproxy-cache'])).toEqual(['MISS', 'HIT']);
    expect((await proxy.get('/packages/nosuch')).status).toBe(404);
    expect((await proxy.get('/tarballs/alpha-1.0.0.tar', { 'if-none-match': tarballs[0]?.headers['etag'] ?? '' })).status).toBe(304);
    expect((await proxy.get('/tarballs/Not-A-Name.tar')).status).toBe(400);
    const after = await scrape();

    const http = (route: string, status: string): string => sample('hexproxy_http_requests_total', { route, method: 'GET', status });
    expect(delta(before, after, http('packages', '200'))).toBe(3);
    expect(delta(before, after, http('packages', '404'))).toBe(1);
    expect(delta(before, after, http('tarballs', '200'))).toBe(2);
    expect(delta(before, after, http('tarballs', '304'))).toBe(1);
    expect(delta(before, after, http('tarballs', '400'))).toBe(1);
    // The first scrape itself, recorded once it was answered.
    expect(delta(before, after, http('metrics', '200'))).toBe(1);
    expect(delta(before, after, sample('hexproxy_http_request_duration_seconds_count', { route: 'packages' }))).toBe(4);

    const cache = (kind: string, result: string): string => sample('hexproxy_cache_requests_total', { kind, result });
    expect(delta(before, after, cache('registry', 'miss'))).toBe(1);
    expect(delta(before, after, cache('registry', 'hit'))).toBe(2);
    expect(delta(before, after, cache('tarball', 'miss'))).toBe(1);
    expect(delta(before, after, cache('tarball', 'hit'))).toBe(2);

    // /packages/alpha, the tarball, and /packages/nosuch.
    expect(delta(before, after, sample('hexproxy_upstream_requests_total', { outcome: 'ok' }))).toBe(2);
    expect(delta(before, after, sample('hexproxy_upstream_requests_total', { outcome: 'not_found' }))).toBe(1);
    expect(upstream.totalHits()).toBe(3);

    expect(delta(before, after, sample('hexproxy_errors_total', { code: 'not_found' }))).toBe(1);
    expect(delta(before, after, sample('hexproxy_errors_total', { code: 'bad_request' }))).toBe(1);

    const tarballBytes = upstream.tarball('alpha', '1.0.0').tar.length;
    expect(delta(before, after, sample('hexproxy_http_response_bytes_total', { route: 'tarballs' }))).toBe(2 * tarballBytes);
    expect(delta(before, after, sample('hexproxy_http_response_bytes_total', { route: 'packages' }))).toBe(
      pkg.reduce((sum, r) => sum + r.body.length, 0),
    );

    expect(after.get(sample('hexproxy_cache_entries', { kind: 'tarball' }))).toBe(1);
    expect(after.get(sample('hexproxy_cache_bytes', { kind: 'tarball' }))).toBe(tarballBytes);
    expect(after.get('hexproxy_upstream_up')).toBe(1);
    expect(after.get(sample('hexproxy_memory_cache_bytes', { cache: 'tarballs' }))).toBeGreaterThanOrEqual(tarballBytes);
  });
});

describe('/readyz and /healthz', () => {
  it('is ready while the index is open and the key loaded, and says which check fails', async () => {
    const ready = await proxy.get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body.toString())).toEqual({ status: 'ready', checks: { database: 'ok', signingKey: 'ok' } });
    const other = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
    try {
      other.server.hexproxy.index.close();
      const notReady = await other.get('/readyz');
      expect(notReady.status).toBe(503);
      expect(JSON.parse(notReady.body.toString())).toEqual({ status: 'not ready', checks: { database: 'failing', signingKey: 'ok' } });
      // Still alive.
      expect((await other.get('/healthz')).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('who may scrape /metrics', () => {
  async function tokenOf(target: TestProxy, name: string, ...flags: string[]): Promise<string> {
    const result = await runCli(['token', 'create', name, ...flags, '--data-dir', target.dataDir]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim();
  }

  async function withProxy(
    options: { flags?: Record<string, string | boolean>; config?: Record<string, unknown> },
    work: (target: TestProxy) => Promise<void>,
  ): Promise<void> {
    const target = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, ...options });
    try {
      await work(target);
    } finally {
      await target.close();
    }
  }

  it('under auth.requireToken: 401 without a token, 403 for a read-only token, 200 for a metrics or admin token (as a Prometheus bearer token)', async () => {
    await withProxy({ flags: { 'require-token': true } }, async (target) => {
      const anonymous = await target.get('/metrics');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.toString()).toMatch(/\/metrics needs a token with the metrics right/);
      expect(anonymous.body.toString()).not.toMatch(/hexproxy_/);

      const created = await runCli(['token', 'create', 'prometheus', '--metrics', '--data-dir', target.dataDir]);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stderr).toContain('token prometheus created');
      expect(created.stderr).toContain('reads nothing, metrics');
      const scraper = created.stdout.trim();
      const scraped = await target.get('/metrics', { authorization: `Bearer ${scraper}` });
      expect(scraped.status).toBe(200);
      expect(parsePrometheus(scraped.body.toString()).has('hexproxy_upstream_up')).toBe(true);
      // A scrape-only token reads no repository.
      expect((await target.get('/names', { authorization: scraper })).status).toBe(403);

      const reader = await tokenOf(target, 'dev', '--read', 'hexpm');
      const refused = await target.get('/metrics', { authorization: `Bearer ${reader}` });
      expect(refused.status).toBe(403);
      expect(refused.body.toString()).toMatch(/token dev may not scrape \/metrics; create a token for it with hexproxy token create NAME --metrics/);

      const admin = await tokenOf(target, 'ops', '--read', 'hexpm', '--admin');
      expect((await target.get('/metrics', { authorization: `Bearer ${admin}` })).status).toBe(200);

      const listed = await runCli(['token', 'list', '--json', '--data-dir', target.dataDir]);
      expect(JSON.parse(listed.stdout)).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'prometheus', read: [], admin: false, metrics: true })]),
      );
    });
  });

  it('with organizations configured: a token is needed by default, and metrics.requireToken false opens it again', async () => {
    await withProxy({ config: { organizations: { acme: { authKey: 'acme-upstream-key' } } } }, async (target) => {
      expect((await target.get('/metrics')).status).toBe(401);
      const scraper = await tokenOf(target, 'prometheus', '--metrics');
      expect((await target.get('/metrics', { authorization: `Bearer ${scraper}` })).status).toBe(200);
    });
    await withProxy({ config: { organizations: { acme: { authKey: 'acme-upstream-key' } }, metrics: { requireToken: false } } }, async (target) => {
      expect((await target.get('/metrics')).status).toBe(200);
    });
  });

  it('without auth.requireToken and organizations, is open as before; metrics.requireToken true closes it', async () => {
    expect((await proxy.get('/metrics')).status).toBe(200);
    await withProxy({ flags: { 'metrics-require-token': true } }, async (target) => {
      expect((await target.get('/metrics')).status).toBe(401);
    });
  });
});
