// hexproxy behind Debian's nginx with the shipped deploy/nginx/hexproxy.conf (issue 18): the
// tier serves hexproxy's bytes and ETags unchanged and keeps anonymous reads of the public
// repository; nothing with a token, nothing of an organization and nothing of a repository
// under auth.requireToken is kept or answered from its cache; a miss burst reaches hexproxy
// once; the client's address, scheme and host reach hexproxy from the tier and only from it;
// Mix works through it; with hexproxy stopped, what the tier holds is still served. Requests
// reaching hexproxy are counted on its HTTP server, upstream's on the fake upstream.
import { writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { nginxBinary, requireNginx, selfSignedCertificate, startTier, type Tier } from '../support/nginx.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { within } from '../support/within.js';

const ACME_KEY = 'acme-upstream-key-0123456789';
const FAILURES_PER_MINUTE = 5;
const TTL_SECONDS = 300;

const mixMissing = await mixUnavailable();

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Ask {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** The local address the request comes from (any 127.x.y.z reaches 127.0.0.1). */
  from?: string;
  /** The CA an https:// request trusts. */
  ca?: string;
}

/** One request on its own connection, whole body read. */
function ask(url: string, { method = 'GET', headers = {}, from, ca }: Ask = {}): Promise<Answer> {
  const target = new URL(url);
  const options = { method, host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, headers, agent: false as const };
  return new Promise((resolve, reject) => {
    const done = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const req =
      target.protocol === 'https:'
        ? httpsRequest({ ...options, ...(ca !== undefined && { ca }) }, done)
        : httpRequest({ ...options, ...(from !== undefined && { localAddress: from }) }, done);
    req.on('error', reject);
    req.end();
  });
}

/** Paths of the requests a hexproxy's HTTP server receives, from now on. */
function countRequests(proxy: TestProxy): string[] {
  const seen: string[] = [];
  proxy.server.httpServer.on('request', (request: { url?: string }) => seen.push(request.url ?? ''));
  return seen;
}

const sharedLifetime = /^public, max-age=0, s-maxage=(\d+)$/;

function sMaxage(answer: Answer): number {
  const match = sharedLifetime.exec(String(answer.headers['cache-control']));
  expect(match, `Cache-Control ${answer.headers['cache-control']}`).not.toBeNull();
  return Number(match?.[1]);
}

let upstream: FakeUpstream;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'tier_a', releases: [{ version: '1.0.0', dependencies: [{ package: 'tier_b', requirement: '~> 1.0' }] }] },
      { name: 'tier_b', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
      { name: 'tier_c', releases: [{ version: '1.0.0' }] },
      { name: 'tier_burst', releases: [{ version: '1.0.0' }] },
    ],
    organizations: { acme: { authKey: ACME_KEY, packages: [{ name: 'acme_core', releases: [{ version: '1.0.0' }] }] } },
  });
});

afterAll(async () => {
  await upstream?.close();
});

describe('the tier needs nginx', () => {
  it.runIf(requireNginx)("nginx is installed (CI=true: .ci/run installs Debian's nginx)", () => {
    expect(nginxBinary).toBeDefined();
  });
});

describe.skipIf(nginxBinary === undefined)('hexproxy behind the shipped nginx configuration', () => {
  let proxy: TestProxy;
  let tier: Tier;
  let tls: { certificate: string; key: string; pem: string };
  let seen: string[];
  let acmeToken = '';
  let hexpmToken = '';

  const token = async (name: string, read: string): Promise<string> => {
    const result = await runCli(['token', 'create', name, '--read', read, '--data-dir', proxy.dataDir]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim();
  };

  beforeAll(async () => {
    const dir = tempDir('hexproxy-tier-config-');
    const acmeKeyFile = join(dir, 'acme.pem');
    writeFileSync(acmeKeyFile, upstream.organization('acme').publicKeyPem);
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'trusted-proxies': '127.0.0.1', 'auth-failures-per-minute': String(FAILURES_PER_MINUTE) },
      config: { organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKeyFile } } },
    });
    seen = countRequests(proxy);
    tls = selfSignedCertificate();
    tier = await startTier({ upstreams: [new URL(proxy.url).host], tls });
    acmeToken = await token('acme-dev', 'hexpm,acme');
    hexpmToken = await token('public-only', 'hexpm');
  });

  afterAll(async () => {
    await tier?.stop();
    await proxy?.close();
  });

  it("serves hexproxy's bytes and ETags unchanged, in both views, and keeps them (over TLS too)", async () => {
    const paths = [
      '/names',
      '/versions',
      '/packages/tier_a',
      '/tarballs/tier_a-1.0.0.tar',
      '/docs/tier_a-1.0.0.tar.gz',
      '/public_key',
      '/mirror/names',
      '/mirror/packages/tier_a',
      '/mirror/tarballs/tier_a-1.0.0.tar',
    ];
    const bodies = new Map<string, Buffer>();
    for (const path of paths) {
      const direct = await ask(`${proxy.url}${path}`);
      expect(direct.status, path).toBe(200);
      bodies.set(path, direct.body);
      const first = await ask(`${tier.url}${path}`);
      const second = await ask(`${tier.url}${path}`);
      for (const answer of [first, second]) {
        expect(answer.status, path).toBe(200);
        expect(answer.body.equals(direct.body), `${path}: the tier's bytes are hexproxy's`).toBe(true);
        expect(answer.headers.etag, path).toBe(direct.headers.etag);
        expect(answer.headers['content-encoding'], path).toBeUndefined();
      }
      expect([first.headers['x-cache-status'], second.headers['x-cache-status']], path).toEqual(['MISS', 'HIT']);
      // A client revalidating its copy gets a 304 from the tier (hexproxy's key has no ETag).
      if (path === '/public_key') continue;
      const revalidated = await ask(`${tier.url}${path}`, { headers: { 'if-none-match': String(direct.headers.etag) } });
      expect(revalidated.status, path).toBe(304);
    }
    // One entry per URL, whatever the scheme: the TLS listener answers from the same cache.
    const overTls = await ask(`${tier.tlsUrl}/packages/tier_a`, { ca: tls.pem });
    expect(overTls.status).toBe(200);
    expect(overTls.headers['x-cache-status']).toBe('HIT');
    expect(overTls.body.equals(bodies.get('/packages/tier_a') ?? Buffer.alloc(0))).toBe(true);
    // Each reached hexproxy once through the tier (and once directly).
    for (const path of paths) expect(seen.filter((url) => url === path).length, path).toBe(2);
  });

  it('offers a shared cache an anonymous registry file for what is left of the TTL, a token holder nothing, and marks private answers private', async () => {
    // Anonymous: from memory (the node:http fast path) and through the routes (a query string takes them).
    for (const path of ['/packages/tier_a', '/packages/tier_a?from=routes', '/names', '/mirror/versions', '/docs/tier_a-1.0.0.tar.gz']) {
      const lifetime = sMaxage(await ask(`${proxy.url}${path}`));
      expect(lifetime, path).toBeGreaterThanOrEqual(1);
      expect(lifetime, path).toBeLessThanOrEqual(TTL_SECONDS);
    }
    // A token holder's answer is not for shared caches (and, through the tier, bypasses its cache).
    const withToken = await ask(`${proxy.url}/packages/tier_a`, { headers: { authorization: hexpmToken } });
    expect(withToken.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    expect((await ask(`${proxy.url}/tarballs/tier_a-1.0.0.tar`)).headers['cache-control']).toBe('public, max-age=31536000, immutable');
    for (const path of ['/repos/acme/names', '/repos/acme/packages/acme_core', '/repos/acme/tarballs/acme_core-1.0.0.tar']) {
      const answer = await ask(`${proxy.url}${path}`, { headers: { authorization: acmeToken } });
      expect(answer.status, path).toBe(200);
      expect(answer.headers['cache-control'], path).toMatch(/^private\b/);
      expect(answer.headers['cache-control'], path).not.toContain('s-maxage');
    }
  });

  it("never keeps an organization's answers or a token holder's: each client is judged by hexproxy", async () => {
    for (const path of ['/repos/acme/names', '/repos/acme/packages/acme_core', '/repos/acme/tarballs/acme_core-1.0.0.tar']) {
      const before = seen.length;
      const allowed = await ask(`${tier.url}${path}`, { headers: { authorization: acmeToken } });
      expect(allowed.status, path).toBe(200);
      expect(allowed.headers['cache-control'], path).toMatch(/^private\b/);
      expect(allowed.headers['x-cache-status'], `${path} is not in the cached location`).toBeUndefined();
      expect((await ask(`${tier.url}${path}`)).status, `${path} anonymous`).toBe(401);
      expect((await ask(`${tier.url}${path}`, { headers: { authorization: hexpmToken } })).status, `${path} other token`).toBe(403);
      expect((await ask(`${tier.url}${path}`, { headers: { authorization: acmeToken } })).status, `${path} again`).toBe(200);
      // Every one of the four was answered by hexproxy, none by the tier.
      expect(seen.length - before, path).toBe(4);
      // Other spellings of the same path are normalised by nginx before it picks a location.
      for (const spelling of [
        path.replace('/repos/', '/mirror/../repos/'),
        path.replace('/repos/', '//repos/'),
        path.replace('/acme/', '/%61cme/'),
      ]) {
        const sneaked = await ask(`${tier.url}${spelling}`);
        expect(sneaked.status, spelling).not.toBe(200);
        expect(sneaked.headers['x-cache-status'], spelling).toBeUndefined();
      }
    }
    // A public file asked for with a token is neither answered from the cache nor stored in it.
    const withToken = await ask(`${tier.url}/packages/tier_c`, { headers: { authorization: hexpmToken } });
    expect([withToken.status, withToken.headers['x-cache-status']]).toEqual([200, 'BYPASS']);
    expect((await ask(`${tier.url}/packages/tier_c`)).headers['x-cache-status']).toBe('MISS');
    expect((await ask(`${tier.url}/packages/tier_c`, { headers: { cookie: 'session=1' } })).headers['x-cache-status']).toBe('BYPASS');
    expect((await ask(`${tier.url}/packages/tier_c`)).headers['x-cache-status']).toBe('HIT');
  });

  it('lets a burst of misses reach hexproxy once, and upstream once', async () => {
    const path = '/tarballs/tier_burst-1.0.0.tar';
    const gate = upstream.hold(path);
    const burst = Array.from({ length: 12 }, () => ask(`${tier.url}${path}`));
    await within(gate.arrived(), 'hexproxy asking upstream for the tarball', 10_000);
    gate.release();
    const answers = await within(Promise.all(burst), 'the burst', 30_000);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.equals(upstream.tarball('tier_burst', '1.0.0').tar)).toBe(true);
    }
    expect(seen.filter((url) => url === path).length).toBe(1);
    expect(upstream.hits(path)).toBe(1);
  });

  it("takes the client's address, scheme and host from the tier, and from nowhere else", async () => {
    // Set me up over TLS through the tier: https and the host the client used.
    const setup = await ask(`${tier.tlsUrl}/ui/setup`, { ca: tls.pem });
    expect(setup.body.toString()).toContain(`mix hex.repo set hexpm --url ${tier.tlsUrl} --public-key`);
    // Over plain HTTP the tier says http, whatever the client claims.
    const claimed = await ask(`${tier.url}/ui/setup`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example.com' } });
    expect(claimed.body.toString()).toContain(`mix hex.repo set hexpm --url ${tier.url} --public-key`);
    expect(claimed.body.toString()).not.toContain('evil.example.com');
    // Straight to hexproxy from an address that is not the tier's, the headers are ignored.
    const direct = await ask(`${proxy.url}/ui/setup`, {
      from: '127.0.0.2',
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example.com' },
    });
    expect(direct.body.toString()).toContain(`--url ${proxy.url} --public-key`);
    expect(direct.body.toString()).not.toContain('evil.example.com');

    // Failed tokens are counted per client behind the tier; naming another in X-Forwarded-For frames no one.
    const statuses: number[] = [];
    for (let i = 0; i <= FAILURES_PER_MINUTE; i += 1) {
      const refused = await ask(`${tier.url}/names`, {
        from: '127.0.0.5',
        headers: { authorization: `hxp_guess${i}`, 'x-forwarded-for': '127.0.0.6' },
      });
      statuses.push(refused.status);
    }
    expect(statuses).toEqual([...Array<number>(FAILURES_PER_MINUTE).fill(401), 429]);
    expect((await ask(`${tier.url}/names`, { from: '127.0.0.6', headers: { authorization: 'hxp_guess' } })).status).toBe(401);
    expect((await ask(`${tier.url}/names`, { from: '127.0.0.5', headers: { authorization: hexpmToken } })).status).toBe(200);
  });

  it.skipIf(mixMissing !== undefined && !requireMix)(
    "Mix gets a dependency tree through the tier, verifying hexproxy's key",
    async () => {
      expect(mixMissing).toBeUndefined();
      const home = await mixHome();
      const keyFile = join(tempDir('hexproxy-tier-key-'), 'hexproxy.pem');
      writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
      expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', tier.url, '--public-key', keyFile], tempDir())).code).toBe(0);
      const project = home.project(['{:tier_a, "~> 1.0"}']);
      const result = await home.mix(['deps.get'], project);
      expect(result.code, result.output).toBe(0);
      expect(result.output).toContain('tier_b 1.1.0');
      expect(result.output).not.toMatch(/verif|error/i);
      expect(seen).toContain('/tarballs/tier_b-1.1.0.tar');
    },
    180_000,
  );
});

describe.skipIf(nginxBinary === undefined)('a public repository under auth.requireToken behind the tier', () => {
  let proxy: TestProxy;
  let tier: Tier;
  let seen: string[];
  let secret = '';

  beforeAll(async () => {
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'trusted-proxies': '127.0.0.1', 'require-token': true },
    });
    seen = countRequests(proxy);
    tier = await startTier({ upstreams: [new URL(proxy.url).host] });
    const created = await runCli(['token', 'create', 'dev', '--read', 'hexpm', '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    secret = created.stdout.trim();
  });

  afterAll(async () => {
    await tier?.stop();
    await proxy?.close();
  });

  it('is answered privately to token holders and never from the cache to anyone', async () => {
    for (const path of ['/names', '/packages/tier_a', '/tarballs/tier_a-1.0.0.tar', '/mirror/packages/tier_a']) {
      const before = seen.length;
      for (const round of [1, 2]) {
        const allowed = await ask(`${tier.url}${path}`, { headers: { authorization: secret } });
        expect(allowed.status, `${path} ${round}`).toBe(200);
        expect(allowed.headers['cache-control'], path).toMatch(/^private\b/);
        expect(allowed.headers['x-cache-status'], path).toBe('BYPASS');
        const anonymous = await ask(`${tier.url}${path}`);
        expect(anonymous.status, `${path} anonymous ${round}`).toBe(401);
        expect(anonymous.headers['x-cache-status'], path).toBe('MISS');
      }
      expect(seen.length - before, `${path}: every request reached hexproxy`).toBe(4);
    }
    // hexproxy's public key needs no token, and may be kept.
    const key = await ask(`${tier.url}/public_key`);
    expect(key.status).toBe(200);
    expect(key.body.toString()).toBe(proxy.server.hexproxy.keys.publicKeyPem);
  });
});

describe.skipIf(nginxBinary === undefined)('hexproxy stopped behind the tier', () => {
  let proxy: TestProxy;
  let tier: Tier;
  let proxyStopped: Promise<void> | undefined;

  beforeAll(async () => {
    // A registry TTL of 3 s: the tier may keep a registry file for a second or two, so it soon has an expired one.
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'registry-ttl-seconds': '3' } });
    tier = await startTier({ upstreams: [new URL(proxy.url).host] });
  });

  afterAll(async () => {
    await tier?.stop();
    await (proxyStopped ?? proxy?.close());
  });

  it('serves the registry files and tarballs the tier holds, fresh or expired', async () => {
    const paths = ['/names', '/packages/tier_a', '/tarballs/tier_a-1.0.0.tar', '/mirror/packages/tier_a'];
    const bodies = new Map<string, Buffer>();
    for (const path of paths) {
      const answer = await ask(`${tier.url}${path}`);
      expect([answer.status, answer.headers['x-cache-status']], path).toEqual([200, 'MISS']);
      if (path !== '/tarballs/tier_a-1.0.0.tar') expect(sMaxage(answer), path).toBeLessThanOrEqual(3);
      bodies.set(path, answer.body);
    }
    await (proxyStopped = proxy.close());
    // Until the tier's copies expire (in a second or two) they are hits; then they are served stale.
    const deadline = Date.now() + 15_000;
    const statuses = new Set<string>();
    for (let round = 0; !statuses.has('STALE'); round += 1) {
      expect(Date.now(), 'the registry file to expire in the tier').toBeLessThan(deadline);
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      for (const path of paths) {
        const answer = await ask(`${tier.url}${path}`);
        expect(answer.status, path).toBe(200);
        expect(answer.body.equals(bodies.get(path) ?? Buffer.alloc(0)), path).toBe(true);
        if (path === '/packages/tier_a') statuses.add(String(answer.headers['x-cache-status']));
        if (path.startsWith('/tarballs/')) expect(answer.headers['x-cache-status'], path).toBe('HIT');
      }
    }
    expect([...statuses].every((status) => status === 'HIT' || status === 'STALE')).toBe(true);
  }, 30_000);
});
