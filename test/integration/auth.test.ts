// Client tokens: created and revoked by the CLI (another process) while the server runs,
// presented the ways Mix, rebar3 and URLs with basic auth present them; 401, 403 and 429
// with their headers; and no secret in any log line or response body.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [{ name: 'alpha', releases: [{ version: '1.0.0' }] }];
const FAILURES_PER_MINUTE = 5;

let upstream: FakeUpstream;
let proxy: TestProxy;
const secrets: string[] = [];
const bodies: HttpResult[] = [];

async function createToken(name: string, ...flags: string[]): Promise<string> {
  const result = await runCli(['token', 'create', name, ...flags, '--data-dir', proxy.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stderr).toContain(`token ${name} created`);
  const secret = result.stdout.trim();
  expect(secret).toMatch(/^hxp_[A-Za-z0-9_-]{43}$/);
  secrets.push(secret);
  return secret;
}

async function get(path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const response = await proxy.get(path, headers);
  bodies.push(response);
  return response;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'require-token': true, 'auth-failures-per-minute': String(FAILURES_PER_MINUTE) },
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('with auth.requireToken', () => {
  it('refuses a request without credentials with 401 and WWW-Authenticate, but serves the public key and /healthz', async () => {
    for (const path of ['/names', '/packages/alpha', '/tarballs/alpha-1.0.0.tar', '/mirror/names', '/docs/alpha-1.0.0.tar.gz']) {
      const refused = await get(path);
      expect(refused.status, path).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Basic realm="hexproxy", charset="UTF-8"');
      expect(refused.headers['x-hexproxy-error']).toBe('unauthorized');
      expect(refused.headers['cache-control']).toBe('no-store');
      expect(refused.body.toString()).toMatch(/repository hexpm needs a token; send it in the authorization header/);
    }
    expect(upstream.totalHits()).toBe(0);
    expect((await get('/public_key')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('accepts a token as Mix and rebar3 send it, as a bearer token, and as basic auth', async () => {
    const secret = await createToken('ci', '--read', 'hexpm');
    const forms = [secret, `Bearer ${secret}`, basic('ci', secret), basic(secret, '')];
    for (const authorization of forms) {
      for (const path of ['/names', '/packages/alpha', '/tarballs/alpha-1.0.0.tar', '/mirror/packages/alpha']) {
        const served = await get(path, { authorization });
        expect(served.status, `${path} with ${authorization.split(' ')[0]}`).toBe(200);
      }
    }
    const tarball = await get('/tarballs/alpha-1.0.0.tar', { authorization: secret });
    expect(tarball.body.equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
    expect(upstream.hits('/tarballs/alpha-1.0.0.tar')).toBe(1);
  });

  it('answers 403 to a token that may not read this repository', async () => {
    const secret = await createToken('acme-only', '--read', 'acme');
    const refused = await get('/packages/alpha', { authorization: secret });
    expect(refused.status).toBe(403);
    expect(refused.headers['x-hexproxy-error']).toBe('forbidden');
    expect(refused.body.toString()).toMatch(/token acme-only may not read repository hexpm/);
  });

  it('stops accepting a revoked token at once, without a restart', async () => {
    const secret = await createToken('temporary', '--read', 'hexpm');
    expect((await get('/names', { authorization: secret })).status).toBe(200);
    const revoked = await runCli(['token', 'revoke', 'temporary', '--data-dir', proxy.dataDir]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await get('/names', { authorization: secret });
    expect(refused.status).toBe(401);
    expect(refused.body.toString()).toMatch(/not known \(revoked, or mistyped\)/);
    const listed = await runCli(['token', 'list', '--json', '--data-dir', proxy.dataDir]);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((t) => t.name).sort()).toEqual(['acme-only', 'ci']);
  });

  it(`answers 429 after ${FAILURES_PER_MINUTE} failed attempts from an address, with Retry-After`, async () => {
    // Earlier tests made one failure (the revoked token) from this address.
    const statuses: number[] = [];
    for (let i = 0; i < FAILURES_PER_MINUTE + 1; i += 1) statuses.push((await get('/names', { authorization: `hxp_wrong${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const blocked = await get('/names', { authorization: 'hxp_wrong-again' });
    expect(blocked.headers['x-hexproxy-error']).toBe('too_many_failures');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('never writes a secret in a log line, a response body or the tokens file', async () => {
    expect(secrets.length).toBe(3);
    const logText = proxy.logs.map((line) => JSON.stringify(line)).join('\n');
    expect(statSync(join(proxy.dataDir, 'tokens.json')).mode & 0o777, 'tokens file mode').toBe(0o600);
    const tokensFile = readFileSync(join(proxy.dataDir, 'tokens.json'), 'utf8');
    for (const secret of secrets) {
      expect(logText.includes(secret), 'a log line holds a secret').toBe(false);
      expect(tokensFile.includes(secret), 'the tokens file holds a secret').toBe(false);
      for (const response of bodies) expect(response.body.includes(secret), 'a response body holds a secret').toBe(false);
    }
    expect(proxy.logs.length).toBeGreaterThan(20);
  });
});

describe('without auth.requireToken (the default)', () => {
  let open: TestProxy;
  beforeAll(async () => {
    open = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
  });
  afterAll(async () => {
    await open?.close();
  });

  it('serves anonymous clients the public repository, but refuses an unknown token', async () => {
    expect((await open.get('/packages/alpha')).status).toBe(200);
    expect((await open.get('/tarballs/alpha-1.0.0.tar')).status).toBe(200);
    const wrong = await open.get('/packages/alpha', { authorization: 'hxp_not-a-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic realm="hexproxy"/);
  });
});
