// The Hex HTTP API under /api, over real HTTP: GET /api/users/me for a token, Hex API errors
// as hexpm writes them (Erlang terms or JSON by Accept; hexproxy's own /api/admin keeps its
// text), and the public repository's package information relayed from a fake upstream API
// (test/support/upstreams/fake-hex-api.ts): the bytes, the cache, stale answers when it is down, and
// no credential of the client ever sent to it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { decodeTerm } from '../../src/hex-api/etf.js';
import { startFakeHexApi, type ApiPackage, type FakeHexApi } from '../support/upstreams/fake-hex-api.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';

const ERLANG = { accept: 'application/vnd.hex+erlang' };
const API_PACKAGES: ApiPackage[] = [
  { name: 'jason', description: 'A blazing fast JSON parser', releases: [{ version: '1.4.1' }, { version: '1.4.0' }] },
  { name: 'jaxon', releases: [{ version: '2.0.0', retirement: { reason: 'security', message: 'use 2.0.1' } }] },
];

let upstream: FakeUpstream;
let api: FakeHexApi;
let proxy: TestProxy;
let tokens: TokenStore;

const erlangBody = (result: HttpResult): unknown => {
  expect(result.headers['content-type']).toBe('application/vnd.hex+erlang');
  return decodeTerm(result.body);
};

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'jason', releases: [{ version: '1.4.1' }] }] });
  api = await startFakeHexApi(API_PACKAGES);
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'upstream-api-url': api.url, 'registry-ttl-seconds': '3600' },
  });
  tokens = new TokenStore(join(proxy.dataDir, 'tokens.json'));
});

afterAll(async () => {
  await proxy?.close();
  await api?.close();
  await upstream?.close();
});

describe('GET /api/users/me', () => {
  it("answers a token as hexpm's user, listing the repositories it may write as organizations", async () => {
    const { secret } = tokens.create('ci-publish', ['hexpm'], false, { write: ['acme', 'beta'], now: new Date('2024-05-06T07:08:09Z') });
    const me = await proxy.get('/api/users/me', { ...ERLANG, authorization: secret });
    expect(me.status).toBe(200);
    expect(me.headers['cache-control']).toBe('private, no-store');
    expect(erlangBody(me)).toEqual({
      username: 'ci-publish',
      full_name: null,
      handles: {},
      inserted_at: '2024-05-06T07:08:09.000Z',
      updated_at: '2024-05-06T07:08:09.000Z',
      organizations: [
        { name: 'acme', role: 'write' },
        { name: 'beta', role: 'write' },
      ],
      packages: [],
    });
    // Without the Erlang accept (curl): the same map as JSON.
    const json = await proxy.get('/api/users/me', { authorization: secret });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(json.body.toString())).toMatchObject({ username: 'ci-publish', organizations: [{ name: 'acme' }, { name: 'beta' }] });
  });

  it('lists no organizations for a token that may only read', async () => {
    const { secret } = tokens.create('reader', ['hexpm'], false);
    expect(erlangBody(await proxy.get('/api/users/me', { ...ERLANG, authorization: secret }))).toMatchObject({
      username: 'reader',
      organizations: [],
    });
  });

  it('refuses no token, and a token that is not hexproxy\'s (a hex.pm OAuth "Bearer …"), with 401 as a Hex API error, never logging it', async () => {
    const none = await proxy.get('/api/users/me', ERLANG);
    expect(none.status).toBe(401);
    expect(none.headers['x-hexproxy-error']).toBe('unauthorized');
    expect(erlangBody(none)).toEqual({ status: 401, message: expect.stringContaining('HEX_API_KEY') });
    const hexpmToken = 'Bearer hexpm-oauth-access-token-0123456789';
    const foreign = await proxy.get('/api/users/me', { ...ERLANG, authorization: hexpmToken });
    expect(foreign.status).toBe(401);
    expect(erlangBody(foreign)).toEqual({ status: 401, message: expect.stringContaining('not known') });
    expect(JSON.stringify(proxy.logs)).not.toContain('hexpm-oauth-access-token');
  });
});

describe('Hex API errors', () => {
  it('are hexpm\'s %{"status", "message"} in Erlang terms or JSON under /api, and stay text under /api/admin', async () => {
    const unknown = await proxy.get('/api/keys', ERLANG);
    expect(unknown.status).toBe(404);
    expect(erlangBody(unknown)).toEqual({ status: 404, message: expect.stringContaining('no such path /api/keys') });
    const json = await proxy.get('/api/packages/Not-A-Name', { accept: 'application/json' });
    expect(json.status).toBe(400);
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(json.body.toString())).toEqual({ status: 400, message: expect.stringContaining('not a valid package name') });
    for (const [path, status] of [
      ['/api/admin/stats', 401],
      ['/api/admin/nothing-here', 404],
    ] as const) {
      const admin = await proxy.get(path, ERLANG);
      expect(admin.status, path).toBe(status);
      expect(admin.headers['content-type'], path).toBe('text/plain; charset=utf-8');
    }
  });
});

describe("the public repository's package information, relayed from the upstream API", () => {
  it('relays the bytes upstream answers, in the format the client asked for, and answers the second request from memory', async () => {
    for (const [headers, format] of [
      [ERLANG, 'erlang'],
      [{ accept: 'application/json' }, 'json'],
    ] as const) {
      const first = await proxy.get('/api/packages/jason', headers);
      expect(first.status).toBe(200);
      expect(first.headers['x-hexproxy-cache']).toBe('MISS');
      expect(first.body.equals(api.body('/api/packages/jason', format) ?? Buffer.alloc(0))).toBe(true);
      const second = await proxy.get('/api/packages/jason', headers);
      expect(second.headers['x-hexproxy-cache']).toBe('HIT');
      expect(second.body.equals(first.body)).toBe(true);
      expect(second.headers['vary']).toBe('accept');
    }
    expect(decodeTerm((await proxy.get('/api/packages/jason', ERLANG)).body)).toMatchObject({
      name: 'jason',
      meta: { description: 'A blazing fast JSON parser' },
    });
    // One request upstream per format, whatever the client asked for.
    expect(api.hits('/api/packages/jason')).toBe(2);
    expect(api.requests.filter((r) => r.target === '/api/packages/jason').map((r) => r.headers.accept)).toEqual([
      'application/vnd.hex+erlang',
      'application/json',
    ]);
  });

  it("relays a release, and hexpm's second address of the public repository (/api/repos/hexpm/packages/NAME)", async () => {
    const release = await proxy.get('/api/packages/jaxon/releases/2.0.0', ERLANG);
    expect(release.status).toBe(200);
    expect(decodeTerm(release.body)).toMatchObject({ version: '2.0.0', retirement: { reason: 'security', message: 'use 2.0.1' } });
    const viaRepos = await proxy.get('/api/repos/hexpm/packages/jaxon', ERLANG);
    expect(viaRepos.status).toBe(200);
    expect(viaRepos.body.equals(api.body('/api/packages/jaxon', 'erlang') ?? Buffer.alloc(0))).toBe(true);
  });

  it('relays a search with its search, sort and page only, in one order, and nothing else of the query', async () => {
    const found = await proxy.get('/api/packages?sort=downloads&search=ja&page=1&per_page=1000&evil=1', ERLANG);
    expect(found.status).toBe(200);
    expect((decodeTerm(found.body) as { name: string }[]).map((pkg) => pkg.name)).toEqual(['jason', 'jaxon']);
    expect(api.hits('/api/packages?search=ja&sort=downloads&page=1')).toBe(1);
    // Another spelling of the same query is the same cache entry.
    await proxy.get('/api/packages?page=1&search=ja&sort=downloads', ERLANG);
    expect(api.hits('/api/packages?search=ja&sort=downloads&page=1')).toBe(1);
    const badSort = await proxy.get('/api/packages?search=ja&sort=evil', ERLANG);
    expect(badSort.status).toBe(400);
    expect(erlangBody(badSort)).toEqual({ status: 400, message: expect.stringContaining('sort=evil') });
  });

  it("answers upstream's 404 as a Hex API 404 (Mix: No package with name …)", async () => {
    const missing = await proxy.get('/api/packages/nosuchpackage', ERLANG);
    expect(missing.status).toBe(404);
    expect(erlangBody(missing)).toEqual({ status: 404, message: 'the Hex API has no /packages/nosuchpackage' });
  });

  it("never sends the client's authorization header or cookies upstream", async () => {
    const { secret } = tokens.create('forwarding-check', ['hexpm'], false);
    for (const authorization of [secret, 'Bearer hexpm-oauth-secret']) {
      // A hex.pm key Mix stored is not hexproxy's: public information is answered all the same.
      const answer = await proxy.get('/api/packages?search=jas', { ...ERLANG, authorization, cookie: 'session=browser-cookie' });
      expect(answer.status).toBe(200);
    }
    const seen = api.requests.filter((r) => r.target.startsWith('/api/packages?search=jas'));
    expect(seen.length).toBeGreaterThanOrEqual(1);
    for (const request of api.requests) {
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers.cookie).toBeUndefined();
      expect(JSON.stringify(request.headers)).not.toMatch(/hxp_|hexpm-oauth-secret|browser-cookie/);
    }
  });
});

describe('when the upstream API fails', () => {
  let down: TestProxy;
  let flaky: FakeHexApi;

  beforeAll(async () => {
    flaky = await startFakeHexApi(API_PACKAGES);
    // TTL 0: every request asks upstream again.
    down = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'upstream-api-url': flaky.url, 'registry-ttl-seconds': '0' },
    });
  });

  afterAll(async () => {
    await down?.close();
    await flaky?.close();
  });

  it('serves the last answer stale, and says so; what it never had is a 502', async () => {
    const fresh = await down.get('/api/packages/jason', ERLANG);
    expect(fresh.status).toBe(200);
    const revalidated = await down.get('/api/packages/jason', ERLANG);
    expect(revalidated.headers['x-hexproxy-cache']).toBe('REVALIDATED');
    expect(flaky.hits('/api/packages/jason')).toBe(2);

    flaky.failWith(503);
    const stale = await down.get('/api/packages/jason', ERLANG);
    expect(stale.status).toBe(200);
    expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stale.headers['warning']).toBe('110 hexproxy "Response is Stale"');
    expect(stale.body.equals(fresh.body)).toBe(true);

    await flaky.close();
    const stillStale = await down.get('/api/packages/jason', ERLANG);
    expect(stillStale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stillStale.body.equals(fresh.body)).toBe(true);
    const never = await down.get('/api/packages/jaxon', ERLANG);
    expect(never.status).toBe(502);
    expect(erlangBody(never)).toEqual({ status: 502, message: expect.stringContaining('the Hex API') });
  });
});

describe('offline', () => {
  it('never asks the upstream API', async () => {
    const offlineApi = await startFakeHexApi(API_PACKAGES);
    const offline = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'upstream-api-url': offlineApi.url, offline: true },
    });
    try {
      const answer = await offline.get('/api/packages/jason', ERLANG);
      expect(answer.status).toBe(504);
      expect(erlangBody(answer)).toEqual({ status: 504, message: expect.stringContaining('offline') });
      expect(offlineApi.requests).toHaveLength(0);
    } finally {
      await offline.close();
      await offlineApi.close();
    }
  });
});
