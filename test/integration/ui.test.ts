// The web UI at /ui: plain HTTP (it works without JavaScript), who sees private packages,
// bad input, upstream trouble, and a real browser (Debian's chromium through
// playwright-core) that searches, follows links, checks the set-me-up key against
// /public_key, and saves the screenshots in docs/screenshots/.
import { createHash, createPublicKey } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { projectRoot } from '../../src/paths.js';
import { findBrowser, requireBrowser } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { publicRepository, startProxy, tempDir, type HttpResult, type TestProxy } from '../support/proxy.js';

const ACME_KEY = 'acme-upstream-key-0123456789';
const GLOBEX_KEY = 'globex-upstream-key-9876543210';
const MAX_CACHE_BYTES = 64 * 1024 * 1024;

const packages: PackageSpec[] = [
  {
    name: 'jason',
    releases: [
      { version: '1.2.2', publishedAt: new Date('2020-08-20T10:00:00Z'), retired: { reason: 3, message: 'use 1.4 or later' } },
      {
        version: '1.3.0',
        publishedAt: new Date('2022-01-05T10:00:00Z'),
        advisories: [{ id: 'GHSA-jasn-0000-test', summary: 'Decoding deeply nested input exhausts the stack', severity: 3, cvss_score: 7.5 }],
      },
      {
        version: '1.4.1',
        publishedAt: new Date('2023-07-14T10:00:00Z'),
        dependencies: [{ package: 'decimal', requirement: '~> 1.0 or ~> 2.0', optional: true }],
      },
    ],
  },
  { name: 'decimal', releases: [{ version: '2.1.1', publishedAt: new Date('2023-05-02T10:00:00Z') }] },
  {
    name: 'plug',
    releases: [
      {
        version: '1.15.3',
        publishedAt: new Date('2024-01-16T10:00:00Z'),
        padBytes: 48_000,
        dependencies: [
          { package: 'mime', requirement: '~> 1.0 or ~> 2.0' },
          { package: 'plug_crypto', requirement: '~> 1.1.1 or ~> 1.2 or ~> 2.0' },
          { package: 'telemetry', requirement: '~> 0.4.3 or ~> 1.0' },
        ],
      },
    ],
  },
  { name: 'plug_crypto', releases: [{ version: '2.0.0' }] },
  { name: 'mime', releases: [{ version: '2.0.5' }] },
  { name: 'telemetry', releases: [{ version: '1.2.1', padBytes: 12_000 }] },
  { name: 'phoenix_html', releases: [{ version: '4.0.0' }, { version: '4.1.1' }] },
  // A pre-release newer than every release: not "latest".
  { name: 'bandit', releases: [{ version: '1.0.0' }, { version: '1.1.0' }, { version: '2.0.0-rc.1' }] },
  { name: 'thousand_island', releases: [{ version: '0.1.0-rc.1' }, { version: '0.1.0-rc.2' }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;
let acmeToken = '';
let globexToken = '';

const basic = (token: string): string => `Basic ${Buffer.from(`me:${token}`).toString('base64')}`;

function token(target: TestProxy, name: string, read: string[]): string {
  return new TokenStore(target.server.hexproxy.config.auth.tokensFile).create(name, read, false).secret;
}

async function page(path: string, headers?: Record<string, string>): Promise<HttpResult & { text: string }> {
  const result = await proxy.get(path, headers);
  return { ...result, text: result.body.toString('utf8') };
}

/** What the fake upstream sends as a release's outer checksum. */
const checksumOf = (name: string, version: string): string => upstream.tarball(name, version).outerChecksum.toString('hex');

/** Upstream well again, and hexproxy knows it (a revalidation contacts it; a memory hit would not). */
async function behaveAgain(): Promise<void> {
  upstream.behave();
  await publicRepository(proxy.server).registry.get({ kind: 'names' }, true);
  expect(proxy.server.hexproxy.health.state).toBe('online');
}

async function orgKeyFile(dir: string, name: string): Promise<string> {
  const file = join(dir, `${name}.pem`);
  writeFileSync(file, upstream.organization(name).publicKeyPem);
  return file;
}

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages,
    organizations: {
      acme: {
        authKey: ACME_KEY,
        packages: [
          { name: 'acme_core', releases: [{ version: '1.0.0', dependencies: [{ package: 'jason', requirement: '~> 1.4', repository: 'hexpm' }] }] },
        ],
      },
      globex: { authKey: GLOBEX_KEY, packages: [{ name: 'globex_api', releases: [{ version: '2.0.0' }] }] },
    },
  });
  const dir = tempDir('hexproxy-ui-');
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      organizations: {
        acme: { authKey: ACME_KEY, publicKey: await orgKeyFile(dir, 'acme') },
        globex: { authKey: GLOBEX_KEY, publicKey: await orgKeyFile(dir, 'globex') },
      },
    }),
  );
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { config: configFile, 'max-cache-bytes': String(MAX_CACHE_BYTES), 'log-level': 'warn' },
  });
  acmeToken = token(proxy, 'acme-dev', ['hexpm', 'acme']);
  globexToken = token(proxy, 'globex-dev', ['globex']);
  // What clients would have fetched: some releases of some packages, and one private one.
  for (const [name, version] of [
    ['jason', '1.4.1'],
    ['jason', '1.2.2'],
    ['decimal', '2.1.1'],
    ['plug', '1.15.3'],
    ['telemetry', '1.2.1'],
    ['phoenix_html', '4.1.1'],
  ] as const) {
    expect((await proxy.get(`/tarballs/${name}-${version}.tar`)).status).toBe(200);
  }
  for (let i = 0; i < 3; i += 1) expect((await proxy.get('/tarballs/jason-1.4.1.tar')).status).toBe(200);
  expect((await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: acmeToken })).status).toBe(200);
  // Hits are written to the index every 5 s; the pages show what it holds.
  const deadline = Date.now() + 8000;
  while ((proxy.server.hexproxy.index.counters()['tarball_hit'] ?? 0) < 3 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('the web UI without JavaScript (plain HTTP)', () => {
  it('serves every page as HTML with the data in it', async () => {
    for (const path of ['/ui', '/ui/packages', '/ui/packages/jason', '/ui/setup', '/ui/status']) {
      const result = await page(path);
      expect(result.status, path).toBe(200);
      expect(result.headers['content-type'], path).toBe('text/html; charset=utf-8');
      expect(result.headers['cache-control'], path).toBe('no-store');
      expect(result.headers['content-security-policy'], path).toContain("default-src 'none'");
      expect(result.text.startsWith('<!DOCTYPE html>'), path).toBe(true);
      for (const label of ['Packages', 'Set me up', 'Status']) expect(result.text, path).toContain(`>${label}</a>`);
    }
    const head = await proxy.head('/ui/status');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const slash = await page('/ui/');
    expect(slash.status).toBe(301);
    expect(slash.headers['location']).toBe('/ui');
    const list = await page('/ui/packages');
    for (const name of ['jason', 'decimal', 'plug', 'telemetry', 'phoenix_html']) expect(list.text).toContain(`href="/ui/packages/${name}"`);
    expect(list.text).not.toContain('href="/ui/packages/mime"');
  });

  it('lists packages with their cached releases, sizes and hits', async () => {
    const { text } = await page('/ui/packages?sort=hits');
    const jasonRow = /<tr data-package="jason"[^>]*>([\s\S]*?)<\/tr>/.exec(text)?.[1] ?? '';
    const cells = [...jasonRow.matchAll(/<td class="num">([^<]*)<\/td>/g)].map((match) => match[1]);
    expect(cells[0]).toBe('2');
    expect(Number(cells[2])).toBeGreaterThanOrEqual(3);
    // Sorted by hits: jason first.
    expect(text.indexOf('data-package="jason"')).toBeLessThan(text.indexOf('data-package="plug"'));
  });

  it('searches by name, literally', async () => {
    const { text } = await page('/ui/packages?q=jas');
    expect(text).toContain('data-package="jason"');
    expect(text).not.toContain('data-package="plug"');
    // "_" is no wildcard: plug_ matches nothing cached (plug_crypto is not), phoenix_ matches.
    expect((await page('/ui/packages?q=plug_')).text).not.toContain('data-package=');
    expect((await page('/ui/packages?q=phoenix_')).text).toContain('data-package="phoenix_html"');
    expect((await page('/ui/packages?q=%25')).text).not.toContain('data-package=');
    // A name that is not cached can be looked up upstream.
    expect((await page('/ui/packages?q=mime')).text).toContain('href="/ui/packages/mime"');
  });

  it('shows a package: releases, cached or not, retired, advisories, published, dependencies and checksums', async () => {
    const { text } = await page('/ui/packages/jason');
    for (const version of ['1.2.2', '1.3.0', '1.4.1']) expect(text).toContain(`data-version="${version}"`);
    expect(text).toMatch(/data-version="1\.4\.1" data-cached="yes" data-retired="no"/);
    expect(text).toMatch(/data-version="1\.3\.0" data-cached="no" data-retired="no"/);
    expect(text).toMatch(/data-version="1\.2\.2" data-cached="yes" data-retired="yes"/);
    expect(text).toContain('retired: deprecated');
    expect(text).toContain('use 1.4 or later');
    expect(text).toContain('GHSA-jasn-0000-test');
    expect(text).toContain('Decoding deeply nested input exhausts the stack');
    expect(text).toContain('2023-07-14');
    for (const version of ['1.2.2', '1.3.0', '1.4.1']) expect(text).toContain(checksumOf('jason', version));
    // The newest release's dependencies, linked.
    expect(text).toContain('Dependencies of 1.4.1');
    expect(text).toContain('href="/ui/packages/decimal"');
    expect(text).toContain('optional');
    expect(text).toContain('{:jason, &quot;~&gt; 1.4&quot;}');
    // Another release's dependencies.
    const old = await page('/ui/packages/jason?version=1.2.2');
    expect(old.status).toBe(200);
    expect(old.text).toContain('has no dependencies');
    const plug = await page('/ui/packages/plug');
    for (const dep of ['mime', 'plug_crypto', 'telemetry']) expect(plug.text).toContain(`href="/ui/packages/${dep}"`);
  });

  it('calls the newest stable release latest, not a newer pre-release', async () => {
    const { status, text } = await page('/ui/packages/bandit');
    expect(status).toBe(200);
    expect(text).toMatch(/data-version="2\.0\.0-rc\.1"/);
    expect(text).toMatch(/<span class="badge"[^>]*id="latest"[^>]*>latest 1\.1\.0<\/span>/);
    expect(text).not.toContain('latest 2.0.0-rc.1');
    expect(text).toContain('<h2>Use 1.1.0</h2>');
    // Only pre-releases: the newest is named as what it is.
    const early = await page('/ui/packages/thousand_island');
    expect(early.text).toMatch(/id="latest"[^>]*>latest pre-release 0\.1\.0-rc\.2<\/span>/);
  });

  it('shows a package that is not cached yet (from upstream)', async () => {
    const { status, text } = await page('/ui/packages/mime');
    expect(status).toBe(200);
    expect(text).toMatch(/data-version="2\.0\.5" data-cached="no"/);
  });

  it('fills in the set-me-up commands with the URL the browser used and the key', async () => {
    const { text } = await page('/ui/setup');
    const pem = (await proxy.get('/public_key')).body.toString('utf8').trim();
    expect(text).toContain(`mix hex.repo set hexpm --url ${proxy.url} --public-key hexproxy.pem`);
    expect(text).toContain(`curl -fsSo hexproxy.pem ${proxy.url}/public_key`);
    expect(text).toContain(`HEX_MIRROR=${proxy.url}/mirror mix deps.get`);
    expect(text).toContain(`export HEX_CDN=${proxy.url}`);
    expect(text).toContain(`HEX_CDN=${proxy.url}/mirror rebar3 get-deps`);
    expect(text).toContain(pem);
    expect(text).toContain(`repo_public_key =&gt; &lt;&lt;&quot;${pem.split('\n')[0]}`);
    expect(text).toContain(proxy.server.hexproxy.keys.fingerprint);
    // X-Forwarded-* are believed from a trusted proxy only (http.trustedProxies; client-address.test.ts), and none is configured here.
    const forwarded = await page('/ui/setup', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hex.example.com' });
    expect(forwarded.text).toContain(`mix hex.repo set hexpm --url ${proxy.url} --public-key`);
    const host = await page('/ui/setup', { host: 'proxy.internal:4000' });
    expect(host.text).toContain('--url http://proxy.internal:4000 ');
    // A forged host is not believed.
    const forged = await page('/ui/setup', { 'x-forwarded-host': 'evil"><script>' });
    expect(forged.text).toContain(`--url ${proxy.url} `);
  });

  it('shows the status: upstream, cache size against the limit, hit ratio', async () => {
    await behaveAgain();
    const { text } = await page('/ui/status');
    expect(text).toContain('data-state="online"');
    // An anonymous viewer may read the public repository only: its figures, not the organizations'.
    const bytes = proxy.server.hexproxy.index.totalsIn(['hexpm'], 'hexpm').tarballs.bytes;
    expect(bytes).toBeLessThan(proxy.server.hexproxy.index.tarballTotals().bytes);
    expect(text).toContain(`data-bytes="${bytes}" data-limit="${MAX_CACHE_BYTES}"`);
    expect(text).toContain('in the repositories you may read; the limit of 64.0 MiB is for the whole cache');
    // The file counts too: acme_core's tarball and registry file are not counted for an anonymous viewer.
    const { index } = proxy.server.hexproxy;
    const counts = (html: string): string[] =>
      [...(/<table id="cache-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '').matchAll(/<td class="num">([^<]*)<\/td>/g)].map(
        (match) => match[1] ?? '',
      );
    const hexpm = index.totalsIn(['hexpm'], 'hexpm');
    expect(index.tarballTotals().count).toBe(hexpm.tarballs.count + 1);
    expect(counts(text)).toEqual(
      [
        hexpm.tarballs.count,
        hexpm.tarballs.bytes,
        hexpm.registryFiles.count,
        hexpm.registryFiles.bytes,
        hexpm.passthroughFiles.count,
        hexpm.passthroughFiles.bytes,
      ].map((figure, i) => (i % 2 === 0 ? String(figure) : expect.any(String))),
    );
    expect(text).not.toContain('acme');
    // A token that reads acme counts its tarball.
    const withAcme = (await page('/ui/status', { authorization: basic(acmeToken) })).text;
    expect(counts(withAcme)[0]).toBe(String(index.totalsIn(['hexpm', 'acme'], 'hexpm').tarballs.count));
    expect(counts(withAcme)[0]).toBe(String(hexpm.tarballs.count + 1));
    // The hit ratios count requests to every repository (counters name none), and say so to a viewer shown some only.
    expect(text).toContain('requests from cache, in all repositories');
    expect(text).toMatch(/Tarball hit ratio<\/div><div class="value">\d+(\.\d)? %/);
    expect(text).toContain(upstream.url);
  });
});

describe('private organizations in the UI', () => {
  it('lists organization packages only to tokens that may read them', async () => {
    const anonymous = await page('/ui/packages');
    expect(anonymous.text).not.toContain('acme_core');
    const acme = await page('/ui/packages', { authorization: basic(acmeToken) });
    expect(acme.status).toBe(200);
    expect(acme.text).toContain('href="/ui/repos/acme/packages/acme_core"');
    expect(acme.text).toContain('Signed in with token <strong>acme-dev</strong>');
    const globex = await page('/ui/packages', { authorization: basic(globexToken) });
    expect(globex.text).not.toContain('acme_core');
    // The search never reaches them either.
    expect((await page('/ui/packages?q=acme')).text).not.toContain('acme_core');
  });

  it('shows an organization package page to its readers only', async () => {
    const anonymous = await page('/ui/repos/acme/packages/acme_core');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toContain('Basic');
    expect(anonymous.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(anonymous.text).not.toContain('1.0.0');
    expect((await page('/ui/repos/acme/packages/acme_core', { authorization: basic(globexToken) })).status).toBe(403);
    const acme = await page('/ui/repos/acme/packages/acme_core', { authorization: basic(acmeToken) });
    expect(acme.status).toBe(200);
    expect(acme.text).toMatch(/data-version="1\.0\.0" data-cached="yes"/);
    // Its public dependency links to the public package.
    expect(acme.text).toContain('href="/ui/packages/jason"');
    expect(acme.text).toContain('organization: &quot;acme&quot;');
    expect((await page('/ui/repos/nope/packages/acme_core', { authorization: basic(acmeToken) })).status).toBe(404);
  });

  it('asks the browser for a token at /ui/login, and refuses unknown ones', async () => {
    const login = await page('/ui/login');
    expect(login.status).toBe(401);
    expect(login.headers['www-authenticate']).toContain('Basic realm="hexproxy"');
    const signedIn = await page('/ui/login', { authorization: basic(acmeToken) });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers['location']).toBe('/ui/packages');
    const unknown = await page('/ui/packages', { authorization: basic('hxp_not-a-token') });
    expect(unknown.status).toBe(401);
  });

  it('puts readable organizations into the set-me-up page', async () => {
    const { text } = await page('/ui/setup', { authorization: basic(acmeToken) });
    expect(text).toContain('&lt;&lt;&quot;hexpm:acme&quot;&gt;&gt;');
    expect(text).not.toContain('globex');
    expect(text).toContain('--auth-key &quot;$HEXPROXY_TOKEN&quot; --no-oauth-exchange');
    expect(text).not.toContain(acmeToken);
  });
});

describe('bad input and trouble', () => {
  it('answers an invalid package name with a 400 page and an unknown package with a 404 page', async () => {
    const invalid = await page('/ui/packages/NotAName');
    expect(invalid.status).toBe(400);
    expect(invalid.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(invalid.text).toContain('is not a valid package name');
    const unknown = await page('/ui/packages/no_such_package');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('there is no package no_such_package in hexpm');
    expect((await page('/ui/packages/jason?version=9.9.9')).status).toBe(404);
    expect((await page('/ui/packages/jason?version=not-a-version')).status).toBe(400);
    expect((await page('/ui/no-such-page')).status).toBe(404);
    expect((await page(`/ui/packages?q=${'x'.repeat(101)}`)).status).toBe(400);
  });

  it('escapes what the viewer typed', async () => {
    const attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
    const { status, text } = await page(`/ui/packages?q=${encodeURIComponent(attack)}`);
    expect(status).toBe(200);
    expect(text).not.toContain('<script>alert(1)');
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const named = await page(`/ui/packages/${encodeURIComponent('<b>x</b>')}`);
    expect(named.status).toBe(400);
    expect(named.text).not.toContain('<b>x</b>');
  });

  it('shows a clear page, not a 500, when upstream is down and nothing is cached', async () => {
    upstream.misbehave('/packages/mime_types', 'status-503');
    await upstream.setPackages([...packages, { name: 'mime_types', releases: [{ version: '1.0.0' }] }]);
    const down = await page('/ui/packages/mime_types');
    expect(down.status).toBe(502);
    expect(down.text).toContain('hexproxy cannot show mime_types: it has nothing of it cached');
    expect((await proxy.get('/packages/mime_types')).status).toBe(502);
    // The failures show among the recent errors, on the status page.
    const status = await page('/ui/status');
    expect(status.text).toContain('GET /ui/packages/mime_types');
    expect(status.text).toContain('GET /packages/mime_types');
    expect(status.text).toContain('upstream_unavailable');
    await behaveAgain();
  });

  it('shows the cached tarballs when the registry file cannot be had', async () => {
    // telemetry is cached; its registry file is past its TTL only if we ask upstream: drop it from memory and disk.
    const { registry } = publicRepository(proxy.server);
    registry.forgetMemory('packages/telemetry');
    proxy.server.hexproxy.index.removeRegistryFile('hexpm', 'packages/telemetry');
    upstream.misbehave('/packages/telemetry', 'status-500');
    const { status, text } = await page('/ui/packages/telemetry');
    expect(status).toBe(200);
    expect(text).toContain('id="registry-notice"');
    expect(text).toMatch(/data-version="1\.2\.1" data-cached="yes"/);
    await behaveAgain();
  });

  it('keeps organization errors from viewers who may not read the organization', async () => {
    upstream.misbehave('/repos/globex/packages/globex_api', 'status-503');
    expect((await page('/ui/repos/globex/packages/globex_api', { authorization: basic(globexToken) })).status).toBe(502);
    expect((await page('/ui/status')).text).not.toContain('globex_api');
    expect((await page('/ui/status', { authorization: basic(globexToken) })).text).toContain('/ui/repos/globex/packages/globex_api');
    await behaveAgain();
  });
});

describe('the web UI with auth.requireToken', () => {
  it('needs a token for every page, with the same 401 and 429 as the repository', async () => {
    const locked = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'require-token': true, 'auth-failures-per-minute': '2', 'log-level': 'warn' },
    });
    try {
      const secret = token(locked, 'reader', ['hexpm']);
      for (const path of ['/ui', '/ui/packages', '/ui/setup', '/ui/status', '/ui/packages/jason']) {
        const anonymous = await locked.get(path);
        expect(anonymous.status, path).toBe(401);
        expect(anonymous.headers['www-authenticate'], path).toContain('Basic');
      }
      const ok = await locked.get('/ui/setup', { authorization: basic(secret) });
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toContain('--auth-key');
      expect((await locked.get('/ui/packages/jason', { authorization: basic(secret) })).status).toBe(200);
      for (let i = 0; i < 2; i += 1) expect((await locked.get('/ui/status', { authorization: basic('hxp_wrong') })).status).toBe(401);
      const blocked = await locked.get('/ui/status', { authorization: basic('hxp_wrong') });
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBeDefined();
    } finally {
      await locked.close();
    }
  });
});

describe('the web UI in --offline, on a cache imported from a bundle', () => {
  // Nothing listens here: the offline side has no upstream.
  const NOWHERE = 'http://127.0.0.1:9';
  const opened: TestProxy[] = [];
  let work = '';
  let keyFile = '';
  let bundle = '';

  beforeAll(async () => {
    work = tempDir('hexproxy-ui-bundle-');
    keyFile = join(work, 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    bundle = join(work, 'all.tar');
    const exported = await runCli([
      'export',
      'jason@1.4.1',
      '--out',
      bundle,
      '--data-dir',
      proxy.dataDir,
      '--upstream-url',
      upstream.url,
      '--upstream-public-key',
      keyFile,
    ]);
    expect(exported.code, exported.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const one of opened) await one.close();
  });

  /** A fresh data directory with the bundle imported (trusting this proxy's key, or not), served offline. */
  async function offlineImport(name: string, trust: boolean): Promise<TestProxy> {
    const dataDir = join(work, name);
    const trustKey = trust ? ['--trust-key', join(proxy.dataDir, 'keys', 'hexproxy_public.pem')] : [];
    const imported = await runCli([
      'import',
      bundle,
      '--data-dir',
      dataDir,
      '--offline',
      '--upstream-url',
      NOWHERE,
      '--upstream-public-key',
      keyFile,
      ...trustKey,
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    const offline = await startProxy({
      upstreamUrl: NOWHERE,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir,
      flags: { offline: true, 'log-level': 'warn' },
    });
    opened.push(offline);
    return offline;
  }

  /** The stale-copy notice's text, tags dropped and quotes unescaped. */
  const noticeOf = (html: string): string =>
    (/<div class="notice warn" id="registry-notice">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '').replace(/<[^>]*>/g, '').replace(/&#39;/g, "'");
  const utc = (at: number): string => `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

  it('says offline mode, and for an imported file the time upstream\'s word was had, not "20790 days ago"', async () => {
    const offline = await offlineImport('trusted', true);
    const row = offline.server.hexproxy.index.findRegistryFile('hexpm', 'packages/jason');
    expect(row?.checkedAt).toBe(0);
    const asOf = row?.upstreamAsOf ?? 0;
    expect(asOf).toBeGreaterThan(0);
    const shown = await offline.get('/ui/packages/jason');
    expect(shown.status).toBe(200);
    const notice = noticeOf(shown.body.toString());
    expect(notice).toContain('hexproxy runs in offline mode (--offline) and does not ask upstream');
    expect(notice).not.toContain('could not be reached');
    expect(notice).toContain(`imported from a bundle, upstream's word as of ${utc(asOf)}`);
    expect(notice).not.toMatch(/\d{4,} days ago/);
  });

  it('says "never confirmed here" for a file from a bundle that attests no time', async () => {
    const offline = await offlineImport('untrusted', false);
    expect(offline.server.hexproxy.index.findRegistryFile('hexpm', 'packages/jason')?.upstreamAsOf).toBe(0);
    const notice = noticeOf((await offline.get('/ui/packages/jason')).body.toString());
    expect(notice).toContain('hexproxy runs in offline mode (--offline)');
    expect(notice).toContain('never confirmed here');
    expect(notice).not.toMatch(/days ago/);
  });

  it('titles the page of a package it has not cached "Not cached (offline mode)", not "Upstream timed out"', async () => {
    const offline = opened[0] ?? (await offlineImport('trusted-again', true));
    const missing = await offline.get('/ui/packages/not_cached_here');
    expect(missing.status).toBe(504);
    const html = missing.body.toString();
    expect(/<h1 id="error-title">([^<]*)<\/h1>/.exec(html)?.[1]).toBe('Not cached (offline mode)');
    expect(html).not.toContain('timed out');
    expect(/<p id="error-message">([^<]*)<\/p>/.exec(html)?.[1]).toBe(
      'hexproxy cannot show not_cached_here: it has nothing of it cached, and it runs in offline mode (--offline), so it does not ask upstream',
    );
  });
});

const browser = await findBrowser();
const screenshots = join(projectRoot, 'docs', 'screenshots');

describe('the web UI in a real browser (chromium)', () => {
  it.runIf(requireBrowser && !browser.available)('chromium and playwright-core are installed (CI=true: .ci/run installs chromium)', () => {
    expect.fail(browser.available ? '' : browser.reason);
  });

  it.skipIf(!browser.available)(
    'searches, follows links, shows the key and the status; saves screenshots',
    async () => {
      if (!browser.available) return;
      mkdirSync(screenshots, { recursive: true });
      const chromium = await browser.launch();
      try {
        const context = await chromium.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, colorScheme: 'light' });
        const tab = await context.newPage();
        const errors: string[] = [];
        tab.on('console', (message) => {
          if (message.type() === 'error') errors.push(message.text());
        });
        tab.on('pageerror', (error) => errors.push(error.message));

        // Packages: search finds a cached package.
        await tab.goto(`${proxy.url}/ui`);
        await tab.getByLabel('Search cached packages').fill('jas');
        await tab.getByRole('button', { name: 'Search' }).click();
        await tab.waitForURL(/\/ui\/packages\?q=jas/);
        expect(await tab.locator('tr[data-package]').count()).toBe(1);
        await tab.getByLabel('Search cached packages').fill('');
        await tab.getByRole('button', { name: 'Search' }).click();
        await tab.waitForURL(/\/ui\/packages\?/);
        expect(await tab.locator('tr[data-package]').count()).toBe(5);
        await tab.screenshot({ path: join(screenshots, 'packages.png'), fullPage: true });

        // Package page, reached by its link: releases (retired marked), dependencies with links.
        await tab.getByRole('link', { name: 'jason', exact: true }).click();
        await tab.waitForURL(/\/ui\/packages\/jason$/);
        expect(await tab.locator('#package-name').textContent()).toBe('jason');
        expect(await tab.locator('#release-table tbody tr').count()).toBe(3);
        expect(await tab.locator('tr[data-version="1.2.2"]').getAttribute('data-retired')).toBe('yes');
        expect(await tab.locator('tr[data-version="1.2.2"]').textContent()).toContain('retired: deprecated');
        expect(await tab.locator('#dependency-list li').allTextContents()).toEqual([expect.stringContaining('decimal')]);
        await tab.screenshot({ path: join(screenshots, 'package.png'), fullPage: true });
        await tab.locator('#dependency-list').getByRole('link', { name: 'decimal' }).click();
        await tab.waitForURL(/\/ui\/packages\/decimal$/);
        expect(await tab.locator('tr[data-version="2.1.1"]').getAttribute('data-cached')).toBe('yes');

        // Set me up: the URL the browser used; the key is /public_key's, and its fingerprint its SHA-256.
        await tab.getByRole('link', { name: 'Set me up' }).click();
        await tab.waitForURL(/\/ui\/setup$/);
        expect(await tab.locator('#base-url').textContent()).toBe(proxy.url);
        expect(await tab.locator('#mix-setup').textContent()).toContain(`mix hex.repo set hexpm --url ${proxy.url} --public-key hexproxy.pem`);
        const pem = (await proxy.get('/public_key')).body.toString('utf8');
        expect(await tab.locator('#public-key').textContent()).toBe(pem.trim());
        const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
        expect(await tab.locator('#fingerprint').textContent()).toBe(createHash('sha256').update(der).digest('hex'));
        expect(await tab.locator('#rebar3-config').textContent()).toContain(pem.trim());
        // With JavaScript the copy buttons show; the text stays selectable either way.
        await expect.poll(() => tab.locator('button[data-copy="mix-setup"]').isVisible()).toBe(true);
        const download = await tab.request.get(new URL((await tab.locator('#public-key-link').getAttribute('href')) ?? '', tab.url()).toString());
        expect(await download.text()).toBe(pem);
        await tab.screenshot({ path: join(screenshots, 'setup.png'), fullPage: true });

        // Status: upstream online, the cache size against its limit.
        await tab.getByRole('link', { name: 'Status' }).click();
        await tab.waitForURL(/\/ui\/status$/);
        expect(await tab.locator('#upstream-status').getAttribute('data-state')).toBe('online');
        expect(await tab.locator('#upstream-status').textContent()).toContain('online');
        const bytes = proxy.server.hexproxy.index.totalsIn(['hexpm'], 'hexpm').tarballs.bytes;
        expect(await tab.locator('#cache-size').getAttribute('data-bytes')).toBe(String(bytes));
        expect(await tab.locator('#cache-size').textContent()).toContain('of 64.0 MiB');
        await tab.screenshot({ path: join(screenshots, 'status.png'), fullPage: true });

        // Narrow screens: still readable, nothing wider than the viewport but tables (which scroll).
        await tab.setViewportSize({ width: 390, height: 800 });
        await tab.goto(`${proxy.url}/ui/packages/plug`);
        const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow).toBeLessThanOrEqual(0);
        await tab.screenshot({ path: join(screenshots, 'package-mobile.png'), fullPage: true });

        expect(errors).toEqual([]);
        await context.close();
      } finally {
        await chromium.close();
      }
    },
    30_000,
  );
});
