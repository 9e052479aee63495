// /installs/* over real HTTP, from a fake builds server: lists and .signed files relayed
// byte for byte, builds checked against the SHA-512 their list gives before they are stored.
import { createHash, verify } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { BUILDS_SIGNING_KEY, startFakeBuilds, type FakeBuilds } from '../support/upstreams/fake-builds.js';
import { INSTALLS_CSV, startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

let upstream: FakeUpstream;
let builds: FakeBuilds;
let proxy: TestProxy;

const startFor = (dataDir: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> =>
  startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir,
    flags: { 'installs-url': builds.url, ...flags },
  });

beforeEach(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  builds = await startFakeBuilds();
  proxy = await startFor(tempDir());
});

afterEach(async () => {
  await proxy?.close();
  await builds?.close();
  await upstream?.close();
});

const LISTS = ['hex-1.x.csv', 'hex.csv', 'rebar3-1.x.csv', 'rebar.csv'];
const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const stored = (path: string): boolean => existsSync(join(proxy.dataDir, 'passthrough', 'installs', ...path.split('/')));

describe('build lists', () => {
  it.each(LISTS.flatMap((list) => [list, `${list}.signed`]))('relays /installs/%s byte for byte and caches it', async (file) => {
    const path = `/installs/${file}`;
    const first = await proxy.get(path);
    expect(first.status).toBe(200);
    expect(first.headers['x-hexproxy-cache']).toBe('MISS');
    expect(first.body.equals(builds.body(path) ?? Buffer.alloc(0))).toBe(true);
    const second = await proxy.get(path);
    expect(second.status).toBe(200);
    expect(second.headers['x-hexproxy-cache']).toBe('HIT');
    expect(second.body.equals(first.body)).toBe(true);
    expect(builds.hits(path)).toBe(1);
    expect(upstream.hits(path)).toBe(0);
  });

  it.each(LISTS)('relays %s and its .signed so that the signature still verifies, as Mix checks it', async (list) => {
    const csv = (await proxy.get(`/installs/${list}`)).body;
    const signed = (await proxy.get(`/installs/${list}.signed`)).body;
    const signature = Buffer.from(signed.toString('utf8').replace(/\n/g, ''), 'base64');
    expect(verify('sha512', csv, BUILDS_SIGNING_KEY.publicKey, signature)).toBe(true);
  });

  it('refuses a list whose .signed does not verify with installs.publicKey: 502 naming both, nothing cached, no build fetched', async () => {
    builds.tamperList('hex.csv');
    for (const path of ['/installs/hex.csv', '/installs/hex.csv.signed']) {
      const refused = await proxy.get(path);
      expect(refused.status, path).toBe(502);
      expect(refused.headers['x-hexproxy-error'], path).toBe('verification_failed');
      expect(refused.body.toString(), path).toMatch(
        /\/installs\/hex\.csv from the builds server does not verify with \/installs\/hex\.csv\.signed and the key in installs\.publicKey .*; not stored/,
      );
    }
    const build = await proxy.get('/installs/1.18.4/hex-2.2.1-otp-27.ez');
    expect(build.status).toBe(502);
    expect(builds.hits('/installs/1.18.4/hex-2.2.1-otp-27.ez')).toBe(0);
    for (const file of ['hex.csv', 'hex.csv.signed']) {
      expect(stored(file), file).toBe(false);
      expect(proxy.server.hexproxy.index.findPassthroughFile(`installs/${file}`), file).toBeUndefined();
    }
    expect(proxy.logs.some((line) => line.level >= 40 && /does not verify/.test(String(line['err'])))).toBe(true);
    // Once the builds server serves the pair it signed, both are fetched, cached and served.
    builds.repair();
    const served = await proxy.get('/installs/hex.csv');
    expect(served.status).toBe(200);
    expect(served.body.equals(builds.body('/installs/hex.csv') ?? Buffer.alloc(0))).toBe(true);
    expect(stored('hex.csv.signed')).toBe(true);
  });

  it('fetches a list and its .signed as a pair, and serves the .signed cached with it', async () => {
    expect((await proxy.get('/installs/hex.csv')).status).toBe(200);
    expect(builds.hits('/installs/hex.csv.signed')).toBe(1);
    const signed = await proxy.get('/installs/hex.csv.signed');
    expect(signed.headers['x-hexproxy-cache']).toBe('HIT');
    expect(builds.hits('/installs/hex.csv.signed')).toBe(1);
  });

  it('revalidates a list after the registry TTL', async () => {
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { 'registry-ttl-seconds': '0' });
    expect((await proxy.get('/installs/hex.csv')).headers['x-hexproxy-cache']).toBe('MISS');
    const again = await proxy.get('/installs/hex.csv');
    expect(again.headers['x-hexproxy-cache']).toBe('REVALIDATED');
    expect(again.body.equals(builds.body('/installs/hex.csv') ?? Buffer.alloc(0))).toBe(true);
    expect(builds.hits('/installs/hex.csv')).toBe(2);
    expect(builds.lastHeaders('/installs/hex.csv')?.['if-none-match']).toMatch(/^"sha256-/);
  });

  it('serves the update check (/installs/hex-1.x.csv) from the builds server at / and at /mirror', async () => {
    const expected = builds.body('/installs/hex-1.x.csv');
    expect(expected?.equals(INSTALLS_CSV)).toBe(false);
    for (const path of ['/installs/hex-1.x.csv', '/mirror/installs/hex-1.x.csv']) {
      const response = await proxy.get(path);
      expect(response.status, path).toBe(200);
      expect(response.body.equals(expected ?? Buffer.alloc(0)), path).toBe(true);
    }
    expect(builds.hits('/installs/hex-1.x.csv')).toBe(1);
    expect(upstream.hits('/installs/hex-1.x.csv')).toBe(0);
  });
});

describe('builds', () => {
  const BUILDS = [
    '1.14.0/hex-2.0.6.ez',
    '1.15.0/hex-2.1.1.ez',
    '1.16.0/hex-2.1.1.ez',
    '1.18.4/hex-2.2.1-otp-26.ez',
    '1.18.4/hex-2.2.1-otp-27.ez',
    '1.14.0/rebar3-3.22.0',
    '1.18.4/rebar3-3.24.0-otp-27',
  ];

  it.each(BUILDS)('serves /installs/%s checked against its list, and caches it', async (build) => {
    const path = `/installs/${build}`;
    const first = await proxy.get(path);
    expect(first.status, first.body.toString()).toBe(200);
    expect(first.headers['x-hexproxy-cache']).toBe('MISS');
    expect(first.body.equals(builds.body(path) ?? Buffer.alloc(0))).toBe(true);
    const second = await proxy.get(path);
    expect(second.headers['x-hexproxy-cache']).toBe('HIT');
    expect(second.body.equals(first.body)).toBe(true);
    expect((await proxy.get(path, { 'if-none-match': first.headers['etag'] ?? '' })).status).toBe(304);
    expect(builds.hits(path)).toBe(1);
    // The list and its .signed were fetched first, once.
    expect(builds.totalHits()).toBe(3);
  });

  it('refuses a build whose SHA-512 differs from its list, with 502 naming the file and the digest, and stores nothing', async () => {
    const build = '1.18.4/hex-2.2.1-otp-27.ez';
    builds.corrupt(build);
    const refused = await proxy.get(`/installs/${build}`);
    expect(refused.status).toBe(502);
    expect(refused.body.toString()).toContain(`/installs/${build}`);
    expect(refused.body.toString()).toContain(builds.sha512(build));
    expect(stored(build)).toBe(false);
    expect(proxy.server.hexproxy.index.findPassthroughFile(`installs/${build}`)).toBeUndefined();
    // Not remembered: once upstream serves the right bytes, they are fetched and stored.
    builds.repair();
    const served = await proxy.get(`/installs/${build}`);
    expect(served.status).toBe(200);
    expect(served.headers['x-hexproxy-cache']).toBe('MISS');
    expect(stored(build)).toBe(true);
    expect(builds.hits(`/installs/${build}`)).toBe(2);
  });

  it('answers 404 for a build its list does not name, without fetching it', async () => {
    builds.addUnlisted('1.18.4/hex-9.9.9-otp-27.ez');
    const response = await proxy.get('/installs/1.18.4/hex-9.9.9-otp-27.ez');
    expect(response.status).toBe(404);
    expect(response.body.toString()).toContain('not listed in /installs/hex.csv');
    expect(builds.hits('/installs/1.18.4/hex-9.9.9-otp-27.ez')).toBe(0);
    expect(builds.hits('/installs/hex.csv')).toBe(1);
    // Listed for another Elixir or OTP version is not listed.
    expect((await proxy.get('/installs/1.18.4/hex-2.2.1-otp-25.ez')).status).toBe(404);
    expect((await proxy.get('/installs/1.17.0/hex-2.0.6.ez')).status).toBe(404);
  });

  it('answers 404 for what is neither a list nor a build, without asking the builds server', async () => {
    for (const path of ['/installs/public_keys.html', '/installs/hex.ez', '/installs/1.18.4/other-1.0.0.ez']) {
      expect((await proxy.get(path)).status, path).toBe(404);
    }
    expect(builds.totalHits()).toBe(0);
  });

  it('asks for the list again once when a fresh cached list does not name a build', async () => {
    expect((await proxy.get('/installs/hex.csv')).status).toBe(200);
    builds.publish({ list: 'hex.csv', version: '2.3.0', elixir: '1.19.0', otp: '28' });
    const response = await proxy.get('/installs/1.19.0/hex-2.3.0-otp-28.ez');
    expect(response.status, response.body.toString()).toBe(200);
    expect(builds.hits('/installs/hex.csv')).toBe(2);
  });

  it('answers HEAD without a body', async () => {
    const response = await proxy.head('/installs/1.14.0/hex-2.0.6.ez');
    expect(response.status).toBe(200);
    expect(response.headers['content-length']).toBe(String(builds.body('/installs/1.14.0/hex-2.0.6.ez')?.length));
    expect(response.body.length).toBe(0);
  });
});

describe('offline', () => {
  it('serves cached lists and builds, and 504 for the rest, without asking the builds server', async () => {
    const cachedPaths = [
      '/installs/hex.csv',
      '/installs/hex.csv.signed',
      '/installs/1.18.4/hex-2.2.1-otp-27.ez',
      '/installs/rebar.csv',
      '/installs/1.18.4/rebar3-3.24.0-otp-27',
    ];
    for (const path of cachedPaths) expect((await proxy.get(path)).status, path).toBe(200);
    await proxy.close();
    const hits = builds.totalHits();
    proxy = await startFor(proxy.dataDir, { offline: true, 'registry-ttl-seconds': '0' });
    for (const path of cachedPaths) {
      const response = await proxy.get(path);
      expect(response.status, path).toBe(200);
      expect(response.body.equals(builds.body(path) ?? Buffer.alloc(0)), path).toBe(true);
      expect(response.headers['x-hexproxy-cache'], path).toBe(path.endsWith('.csv') || path.endsWith('.signed') ? 'STALE' : 'HIT');
    }
    // A build not cached is a server error (mix local.hex cannot work); a list is a miss (Hex's update check asks on every fresh Mix home).
    const build = await proxy.get('/installs/1.18.4/hex-2.2.1-otp-26.ez');
    expect(build.status).toBe(504);
    expect(build.body.toString()).toMatch(/is not cached and hexproxy runs offline/);
    for (const path of ['/installs/hex-1.x.csv', '/installs/hex-1.x.csv.signed']) {
      const response = await proxy.get(path);
      expect(response.status, path).toBe(404);
      expect(response.headers['x-hexproxy-error'], path).toBe('build_list_unavailable');
      expect(response.body.toString(), path).toBe(
        "hexproxy: /installs/hex-1.x.csv is not cached, and hexproxy runs offline (--offline); only Hex's update check and mix local.hex read this list (to serve it, cache it with hexproxy prewarm --installs where the builds server can be reached, or import a bundle that has it)\n",
      );
    }
    expect((await proxy.get('/installs/rebar3-1.x.csv')).body.toString()).toContain('only mix local.rebar reads this list');
    expect(builds.totalHits()).toBe(hits);
    expect(proxy.logs.filter((line) => line.msg === 'request failed').map((line) => line['err'])).toEqual([
      String(build.body).replace(/^hexproxy: |\n$/g, ''),
    ]);
  });

  it('does not serve a list cached without its .signed file (a cache from before pairs); online it fetches the pair', async () => {
    expect((await proxy.get('/installs/hex.csv')).status).toBe(200);
    // What an earlier hexproxy may have left: the list alone.
    proxy.server.hexproxy.index.removePassthroughFile('installs/hex.csv.signed');
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { offline: true });
    const offline = await proxy.get('/installs/hex.csv');
    expect(offline.status).toBe(504);
    expect(offline.body.toString()).toContain(
      '/installs/hex.csv is cached, but without its .signed file; hexproxy runs offline and cannot fetch it again',
    );
    await proxy.close();
    proxy = await startFor(proxy.dataDir);
    const online = await proxy.get('/installs/hex.csv');
    expect(online.status).toBe(200);
    expect(online.body.equals(builds.body('/installs/hex.csv') ?? Buffer.alloc(0))).toBe(true);
    expect(builds.hits('/installs/hex.csv.signed')).toBe(2);
  });

  it('serves the cached verified pair stale when the builds server starts serving a list its .signed does not cover', async () => {
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { 'registry-ttl-seconds': '0' });
    const good = await proxy.get('/installs/hex.csv');
    expect(good.status).toBe(200);
    builds.tamperList('hex.csv');
    for (const path of ['/installs/hex.csv', '/installs/hex.csv.signed']) {
      const stale = await proxy.get(path);
      expect(stale.status, path).toBe(200);
      expect(stale.headers['x-hexproxy-cache'], path).toBe('STALE');
    }
    expect((await proxy.get('/installs/hex.csv')).body.equals(good.body)).toBe(true);
    expect(
      proxy.logs.some((line) => line.level === 50 && line.msg === 'serving a stale build list' && /does not verify/.test(String(line['err']))),
    ).toBe(true);
    expect(proxy.server.hexproxy.index.findPassthroughFile('installs/hex.csv')?.sha256).toBe(sha256Of(good.body));
  });

  it('serves a cached list stale when the builds server fails', async () => {
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { 'registry-ttl-seconds': '0' });
    expect((await proxy.get('/installs/hex.csv')).status).toBe(200);
    builds.misbehave('/installs/hex.csv', 'status-503');
    const stale = await proxy.get('/installs/hex.csv');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stale.body.equals(builds.body('/installs/hex.csv') ?? Buffer.alloc(0))).toBe(true);
  });
});

describe('a builds server that cannot be reached', () => {
  it('answers a list it has no copy of with a one-line 404 miss, asks once per cache.notFoundTtlSeconds, and logs no server error', async () => {
    builds.misbehave('/installs/hex-1.x.csv', 'status-503');
    for (const path of ['/installs/hex-1.x.csv', '/installs/hex-1.x.csv.signed', '/mirror/installs/hex-1.x.csv']) {
      const response = await proxy.get(path);
      expect(response.status, path).toBe(404);
      expect(response.headers['x-hexproxy-error'], path).toBe('build_list_unavailable');
      expect(response.body.toString(), path).toBe(
        `hexproxy: /installs/hex-1.x.csv is not cached, and the builds server (installs.url ${builds.url}) cannot be reached (the builds server answered 503 for /installs/hex-1.x.csv); only Hex's update check and mix local.hex read this list (to serve it, cache it with hexproxy prewarm --installs where the builds server can be reached, or import a bundle that has it)\n`,
      );
    }
    // Asked once: the next answers came from the remembered failure, at once.
    expect(builds.hits('/installs/hex-1.x.csv')).toBe(1);
    expect(builds.hits('/installs/hex-1.x.csv.signed')).toBe(0);
    expect(proxy.logs.filter((line) => line.level >= 50 || line.msg === 'request failed')).toEqual([]);
    expect((await proxy.get('/ui/status')).body.toString()).toContain('id="no-errors"');
    // A build whose list cannot be had is still a server error, with the builds server's reason.
    const build = await proxy.get('/installs/1.14.0/hex-2.0.6.ez');
    expect(build.status).toBe(502);
    expect(build.body.toString()).toBe('hexproxy: the builds server answered 503 for /installs/hex-1.x.csv\n');
    expect(builds.hits('/installs/hex-1.x.csv')).toBe(1);
  });

  it('serves a cached list stale without asking again while the failure is remembered', async () => {
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { 'registry-ttl-seconds': '0' });
    expect((await proxy.get('/installs/hex-1.x.csv')).status).toBe(200);
    builds.misbehave('/installs/hex-1.x.csv', 'status-503');
    for (let i = 0; i < 3; i += 1) {
      const stale = await proxy.get('/installs/hex-1.x.csv');
      expect(stale.status).toBe(200);
      expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    }
    expect(builds.hits('/installs/hex-1.x.csv')).toBe(2);
  });

  it('asks every time with cache.notFoundTtlSeconds 0', async () => {
    await proxy.close();
    proxy = await startFor(proxy.dataDir, { 'not-found-ttl-seconds': '0' });
    builds.misbehave('/installs/hex.csv', 'status-503');
    for (let i = 0; i < 2; i += 1) expect((await proxy.get('/installs/hex.csv')).status).toBe(404);
    expect(builds.hits('/installs/hex.csv')).toBe(2);
  });
});

describe('hexproxy prewarm --installs', () => {
  const cliArgs = (dataDir: string): string[] => {
    const keyFile = join(tempDir(), 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    const buildsKeyFile = join(tempDir(), 'builds.pem');
    writeFileSync(buildsKeyFile, BUILDS_SIGNING_KEY.publicKeyPem);
    return [
      '--data-dir',
      dataDir,
      '--upstream-url',
      upstream.url,
      '--upstream-public-key',
      keyFile,
      '--installs-url',
      builds.url,
      '--installs-public-key',
      buildsKeyFile,
    ];
  };

  it('caches the builds mix local.hex and mix local.rebar would pick, for an air-gapped site', async () => {
    await proxy.close();
    const args = cliArgs(proxy.dataDir);
    const result = await runCli(['prewarm', '--installs', '1.18.4:27', '--installs', '1.15.0', ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/installs failed:\s+0/);
    const picked = ['1.18.4/hex-2.2.1-otp-27.ez', '1.18.4/rebar3-3.24.0-otp-27', '1.15.0/hex-2.1.1.ez', '1.14.0/rebar3-3.22.0'];
    for (const build of picked) expect(builds.hits(`/installs/${build}`), build).toBe(1);
    expect(builds.hits('/installs/1.18.4/hex-2.2.1-otp-26.ez')).toBe(0);
    const again = await runCli(['prewarm', '--installs', '1.18.4:27', '--installs', '1.15.0', ...args]);
    expect(again.stdout).toMatch(/installs fetched:\s+0/);

    const hits = builds.totalHits();
    proxy = await startFor(proxy.dataDir, { offline: true });
    for (const path of [...picked, ...LISTS.flatMap((list) => [list, `${list}.signed`])]) {
      const response = await proxy.get(`/installs/${path}`);
      expect(response.status, path).toBe(200);
      expect(response.body.equals(builds.body(`/installs/${path}`) ?? Buffer.alloc(0)), path).toBe(true);
    }
    expect(builds.totalHits()).toBe(hits);
  });

  it('asks for the OTP release from Elixir 1.18.4, and fails when no build fits', async () => {
    const args = cliArgs(tempDir());
    const noOtp = await runCli(['prewarm', '--installs', '1.18.4', ...args]);
    expect(noOtp.code).not.toBe(0);
    expect(noOtp.stderr).toMatch(/give 1\.18\.4:OTP_RELEASE/);
    const tooOld = await runCli(['prewarm', '--installs', '1.0.0', ...args]);
    expect(tooOld.code).toBe(1);
    expect(tooOld.stdout).toMatch(/FAILED hex-1\.x\.csv for Elixir 1\.0\.0: \/installs\/hex-1\.x\.csv lists no build for it/);
  });
});
