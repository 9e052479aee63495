// Who a client is, for counting failed authentications and for the UI's Set me up: the
// socket's peer, unless that peer is a configured trusted proxy (http.trustedProxies), in
// which case the right-most X-Forwarded-For address that is not itself trusted. Clients
// connect from distinct loopback addresses (127.0.0.2, 127.0.0.3), so the server sees
// real, different peers. A valid token works even from an address that is being refused
// for its bad ones.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const LIMIT = 30;

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
});

afterAll(async () => {
  await upstream?.close();
});

interface Answer {
  status: number;
  body: string;
}

/** A GET from the local address `from` (any 127.x.y.z reaches the server on 127.0.0.1). */
function getFrom(target: TestProxy, from: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(target.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers, localAddress: from, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function tokenOf(target: TestProxy, name: string, ...flags: string[]): Promise<string> {
  const result = await runCli(['token', 'create', name, ...flags, '--data-dir', target.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

const basic = (secret: string): string => `Basic ${Buffer.from(`:${secret}`).toString('base64')}`;

describe('without http.trustedProxies (the default)', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it(`after ${LIMIT} bad tokens from an address, a bad one gets 429 but a valid one still works; X-Forwarded-For is ignored`, async () => {
    const valid = await tokenOf(proxy, 'dev', '--read', 'hexpm');
    const admin = await tokenOf(proxy, 'ops', '--read', 'hexpm', '--admin');
    const statuses: number[] = [];
    // The attacker at 127.0.0.2 names 127.0.0.3 in X-Forwarded-For, to have it blocked instead.
    for (let i = 0; i < LIMIT + 1; i += 1)
      statuses.push((await getFrom(proxy, '127.0.0.2', '/names', { authorization: `hxp_guess${i}`, 'x-forwarded-for': '127.0.0.3' })).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(401), 429]);

    // Its valid tokens still work, on every route that takes a token.
    expect((await getFrom(proxy, '127.0.0.2', '/names', { authorization: valid })).status).toBe(200);
    expect((await getFrom(proxy, '127.0.0.2', '/tarballs/alpha-1.0.0.tar', { authorization: `Bearer ${valid}` })).status).toBe(200);
    expect((await getFrom(proxy, '127.0.0.2', '/api/admin/stats', { authorization: admin })).status).toBe(200);
    expect((await getFrom(proxy, '127.0.0.2', '/ui/status', { authorization: basic(valid) })).status).toBe(200);
    // Its bad ones do not, whatever it claims to be.
    for (const forwarded of ['10.9.8.7', '127.0.0.3', '127.0.0.1']) {
      expect(
        (await getFrom(proxy, '127.0.0.2', '/names', { authorization: 'hxp_guess-again', 'x-forwarded-for': forwarded })).status,
        forwarded,
      ).toBe(429);
    }
    expect((await getFrom(proxy, '127.0.0.2', '/api/admin/stats', { authorization: 'hxp_guess-admin' })).status).toBe(429);
    expect((await getFrom(proxy, '127.0.0.2', '/ui/status', { authorization: basic('hxp_guess-ui') })).status).toBe(429);

    // The address it named is not blocked: a mistyped token there is a plain 401.
    expect((await getFrom(proxy, '127.0.0.3', '/names', { authorization: 'hxp_typo' })).status).toBe(401);
    expect((await getFrom(proxy, '127.0.0.3', '/names', { authorization: valid })).status).toBe(200);
  });

  it('the Set me up page ignores X-Forwarded-Host and X-Forwarded-Proto from a peer that is not a trusted proxy', async () => {
    const page = await getFrom(proxy, '127.0.0.1', '/ui/setup', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('evil.example');
    expect(page.body).toContain(`mix hex.repo set hexpm --url ${proxy.url} --public-key`);
  });
});

describe('with http.trustedProxies', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    // The reverse proxy connects from 127.0.0.1; 127.0.0.4 is a second, trusted hop.
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { http: { trustedProxies: ['127.0.0.1', '127.0.0.4/32'] } },
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('counts two clients behind the proxy separately, by the right-most address not itself trusted', async () => {
    const valid = await tokenOf(proxy, 'dev', '--read', 'hexpm');
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i += 1)
      statuses.push((await getFrom(proxy, '127.0.0.1', '/names', { authorization: `hxp_guess${i}`, 'x-forwarded-for': '10.0.0.1' })).status);
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(401), 429]);
    // Another client behind the same proxy is not locked out.
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: 'hxp_typo', 'x-forwarded-for': '10.0.0.2' })).status).toBe(401);
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: valid, 'x-forwarded-for': '10.0.0.2' })).status).toBe(200);
    // The blocked client cannot escape by prepending an address of its choice, nor through a second trusted hop.
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: 'hxp_guess', 'x-forwarded-for': '10.0.0.99, 10.0.0.1' })).status).toBe(429);
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: 'hxp_guess', 'x-forwarded-for': '10.0.0.1, 127.0.0.4' })).status).toBe(429);
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: 'hxp_guess', 'x-forwarded-for': '10.0.0.1' })).status).toBe(429);
    // A peer that is not a trusted proxy is judged by its own address, whatever it forwards.
    expect((await getFrom(proxy, '127.0.0.2', '/names', { authorization: 'hxp_guess', 'x-forwarded-for': '10.0.0.1' })).status).toBe(401);
    // And the blocked client's valid token works.
    expect((await getFrom(proxy, '127.0.0.1', '/names', { authorization: valid, 'x-forwarded-for': '10.0.0.1' })).status).toBe(200);
  });

  it('the Set me up page takes the scheme and host from the trusted proxy, and only from it', async () => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hex.example.com' };
    const trusted = await getFrom(proxy, '127.0.0.1', '/ui/setup', headers);
    expect(trusted.body).toContain('mix hex.repo set hexpm --url https://hex.example.com --public-key');
    const untrusted = await getFrom(proxy, '127.0.0.2', '/ui/setup', headers);
    expect(untrusted.body).not.toContain('hex.example.com');
  });
});
