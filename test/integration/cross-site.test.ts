// Cross-site request forgery: browsers cache basic-auth credentials, so once an admin has
// signed in to the UI, any page they open could send POSTs to the admin API with them.
// hexproxy refuses state-changing requests from other origins (Origin, Sec-Fetch-Site)
// before authenticating them, and takes admin bodies only as application/json (which no
// page of another origin can send without a preflight). Clients that are not browsers
// (curl, CI agents, Mix) send neither header and keep working. Tested over plain HTTP
// and from pages of two other origins in Chromium (playwright-core).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { findBrowser, requireBrowser } from '../support/browser.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { startOtherOrigin, type OtherOrigin } from '../support/other-origin.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [
  { name: 'jason', releases: [{ version: '1.4.1' }] },
  { name: 'decimal', releases: [{ version: '2.1.1' }] },
  { name: 'plug', releases: [{ version: '1.15.3' }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;
let other: OtherOrigin;
let adminToken = '';

const basic = (token: string): string => `Basic ${Buffer.from(`me:${token}`).toString('base64')}`;

type Answer = { status: number; text: string; error: string | undefined };

async function post(path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const response = await request(`${proxy.url}${path}`, { method: 'POST', headers, ...(body !== undefined && { body }) });
  const text = await response.body.text();
  const error = response.headers['x-hexproxy-error'];
  return { status: response.statusCode, text, error: typeof error === 'string' ? error : undefined };
}

const json = { 'content-type': 'application/json' };
const evictJason = JSON.stringify({ name: 'jason', version: '1.4.1' });

/** jason 1.4.1 cached again (after an evict a test did on purpose). */
async function cacheJason(): Promise<void> {
  expect((await proxy.get('/tarballs/jason-1.4.1.tar')).status).toBe(200);
  expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1')).toBeDefined();
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  other = await startOtherOrigin();
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy: { deny: ['plug'] } } });
  adminToken = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile).create('ops', ['hexpm'], true).secret;
});

afterAll(async () => {
  await proxy?.close();
  await other?.close();
  await upstream?.close();
});

describe('state-changing requests over plain HTTP', () => {
  it('are refused with 403 when Origin or Sec-Fetch-Site says another site sent them, before any token is looked at', async () => {
    await cacheJason();
    upstream.resetHits();
    const admin = { ...json, authorization: basic(adminToken) };
    const refused: [string, Record<string, string>, RegExp][] = [
      [
        'an Origin of another site',
        { ...admin, origin: 'http://evil.example' },
        /Origin http:\/\/evil\.example is not hexproxy's own \(the request was sent to Host 127\.0\.0\.1:\d+;/,
      ],
      ['another port of the same host', { ...admin, origin: 'http://127.0.0.1:1' }, /Origin http:\/\/127\.0\.0\.1:1 is not hexproxy's own/],
      ['Origin: null (a sandboxed frame, a data: URL, a cross-origin redirect)', { ...admin, origin: 'null' }, /Origin null is not hexproxy's own/],
      ['Sec-Fetch-Site: cross-site', { ...admin, 'sec-fetch-site': 'cross-site' }, /Sec-Fetch-Site: cross-site/],
      ['Sec-Fetch-Site: same-site', { ...admin, 'sec-fetch-site': 'same-site' }, /Sec-Fetch-Site: same-site/],
      [
        'its own Origin but Sec-Fetch-Site: cross-site',
        { ...admin, origin: proxy.url, 'sec-fetch-site': 'cross-site' },
        /Sec-Fetch-Site: cross-site/,
      ],
      // A refusal comes before authentication: a 401 would have the browser resend with the credentials it holds.
      ['no token', { ...json, origin: 'http://evil.example' }, /cross-site request refused/],
    ];
    for (const [what, headers, reason] of refused) {
      for (const [path, body] of [
        ['/api/admin/evict', evictJason],
        ['/api/admin/prewarm', JSON.stringify({ specs: ['decimal'] })],
        ['/api/admin/policy/reload', undefined],
      ] as const) {
        const answer = await post(path, headers, body);
        expect(answer.status, `${what}: ${path}`).toBe(403);
        expect(answer.error, `${what}: ${path}`).toBe('forbidden');
        expect(answer.text, `${what}: ${path}`).toMatch(/^hexproxy: cross-site request refused: /);
        expect(answer.text, `${what}: ${path}`).toMatch(reason);
      }
    }
    // The lock-file check, and any other method but GET and HEAD, anywhere.
    const check = await post(
      '/api/policy/check',
      { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      mixLock(upstream, [{ name: 'jason', version: '1.4.1' }]),
    );
    expect(check.status).toBe(403);
    expect(check.text).toMatch(/cross-site request refused/);
    const preflight = await request(`${proxy.url}/api/admin/evict`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.statusCode).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    await preflight.body.dump();
    // Nothing happened: still cached, nothing fetched, no reload.
    expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1')).toBeDefined();
    expect(upstream.totalHits()).toBe(0);
    expect(proxy.server.hexproxy.policy.generation).toBe(0);
    // Reads are not refused: no GET changes anything, and another origin cannot read the answer.
    const stats = await request(`${proxy.url}/api/admin/stats`, {
      headers: { authorization: basic(adminToken), origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(stats.statusCode).toBe(200);
    await stats.body.dump();
  });

  it("are accepted from hexproxy's own origin, and from clients that send neither header (curl, CI agents)", async () => {
    const admin = { ...json, authorization: basic(adminToken) };
    for (const [what, headers] of [
      ['its own Origin, Sec-Fetch-Site: same-origin', { ...admin, origin: proxy.url, 'sec-fetch-site': 'same-origin' }],
      ['Sec-Fetch-Site: none (typed by the user)', { ...admin, 'sec-fetch-site': 'none' }],
      ['neither header', admin],
    ] as const) {
      await cacheJason();
      const answer = await post('/api/admin/evict', headers, evictJason);
      expect(answer.status, `${what}: ${answer.text}`).toBe(200);
      expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1'), what).toBeUndefined();
    }
    // curl -X POST, no body: the reload needs no content type.
    const reload = await post('/api/admin/policy/reload', { authorization: basic(adminToken) });
    expect(reload.status, reload.text).toBe(200);
    expect(proxy.server.hexproxy.policy.generation).toBe(1);

    // The CI gate as the README gives it: curl --data-binary sends application/x-www-form-urlencoded.
    const lockFile = join(tempDir('hexproxy-cross-site-'), 'mix.lock');
    writeFileSync(
      lockFile,
      mixLock(upstream, [
        { name: 'jason', version: '1.4.1' },
        { name: 'plug', version: '1.15.3' },
      ]),
    );
    const curl = await promisify(execFile)('curl', [
      '-sS',
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      '--data-binary',
      `@${lockFile}`,
      `${proxy.url}/api/policy/check`,
    ]);
    const [body, status] = curl.stdout.split(/\n(?=\d+$)/);
    expect(status, curl.stdout).toBe('409');
    expect(JSON.parse(body ?? '')).toMatchObject({ checked: 2, blocked: [{ name: 'plug', version: '1.15.3' }] });
  });

  it('need Content-Type: application/json when they carry an admin body (415 saying so)', async () => {
    await cacheJason();
    const auth = { authorization: basic(adminToken) };
    for (const [what, headers, body] of [
      [
        'text/plain (what a page of another origin can send without a preflight)',
        { ...auth, 'content-type': 'text/plain;charset=UTF-8' },
        evictJason,
      ],
      ['a form', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, evictJason],
      ['a body without a type', auth, evictJason],
    ] as const) {
      const answer = await post('/api/admin/evict', headers, body);
      expect(answer.status, what).toBe(415);
      expect(answer.error, what).toBe('unsupported_media_type');
      expect(answer.text, what).toMatch(/send the body as JSON with Content-Type: application\/json/);
    }
    const prewarm = await post('/api/admin/prewarm', { ...auth, 'content-type': 'text/plain' }, JSON.stringify({ specs: ['decimal'] }));
    expect(prewarm.status).toBe(415);
    const reload = await post('/api/admin/policy/reload', { ...auth, 'content-type': 'text/plain' }, 'reload');
    expect(reload.status).toBe(415);
    // Nothing happened.
    expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1')).toBeDefined();
    expect(proxy.server.hexproxy.index.findTarball('hexpm', 'decimal', '2.1.1')).toBeUndefined();
    expect(proxy.server.hexproxy.policy.generation).toBe(1);
    // A charset parameter is fine.
    const withCharset = await post('/api/admin/evict', { ...auth, 'content-type': 'application/json; charset=utf-8' }, evictJason);
    expect(withCharset.status, withCharset.text).toBe(200);
  });
});

/**
 * The attacker's page: sends the admin API's POSTs to hexproxy as a page of another origin
 * can (no-cors with a text/plain body, and a CORS request with application/json, which
 * needs a preflight), each with the browser's credentials, then reports what it saw.
 */
function attackPage(target: string): string {
  const script = `(async () => {
  const target = ${JSON.stringify(target)};
  const send = async (path, init) => {
    try {
      const response = await fetch(target + path, { method: 'POST', credentials: 'include', ...init });
      return response.type + ' ' + response.status;
    } catch (error) {
      return 'failed';
    }
  };
  const results = {
    evict: await send('/api/admin/evict', { mode: 'no-cors', body: ${JSON.stringify(evictJason)} }),
    prewarm: await send('/api/admin/prewarm', { mode: 'no-cors', body: ${JSON.stringify(JSON.stringify({ specs: ['decimal'] }))} }),
    reload: await send('/api/admin/policy/reload', { mode: 'no-cors' }),
    corsEvict: await send('/api/admin/evict', { mode: 'cors', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(evictJason)} }),
  };
  await fetch('/done', { method: 'POST', body: JSON.stringify(results) });
})();`;
  return `<!DOCTYPE html>\n<html><body><p>Nothing to see here.</p><script>${script}</script></body></html>\n`;
}

const browser = await findBrowser();

describe('the admin API from another origin in a real browser (chromium)', () => {
  it.runIf(requireBrowser && !browser.available)('chromium and playwright-core are installed (CI=true: .ci/run installs chromium)', () => {
    expect.fail(browser.available ? '' : browser.reason);
  });

  it.skipIf(!browser.available)(
    "refuses the POSTs a page of another site or port sends with the signed-in admin's credentials",
    async () => {
      if (!browser.available) return;
      await cacheJason();
      other.page('/attack.html', attackPage(proxy.url));
      const chromium = await browser.launch();
      try {
        const context = await chromium.newContext();
        const tab = await context.newPage();
        // The admin signs in to the UI: the browser asks with basic auth and keeps the credentials.
        await tab.goto(`http://admin:${adminToken}@${new URL(proxy.url).host}/ui/login`);
        expect(new URL(tab.url()).pathname).toBe('/ui/packages');
        expect((await tab.goto(`${proxy.url}/api/admin/stats`))?.status()).toBe(200);
        const generation = proxy.server.hexproxy.policy.generation;

        // Another port of the same host (same site, another origin), then another site.
        const port = new URL(other.url).port;
        for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
          upstream.resetHits();
          const logged = proxy.logs.length;
          other.clear();
          await tab.goto(`${origin}/attack.html`);
          const report = JSON.parse((await other.next('/done')).body) as Record<string, string>;
          // Opaque answers for no-cors; the CORS request fails at its refused preflight.
          expect(report, origin).toEqual({ evict: 'opaque 0', prewarm: 'opaque 0', reload: 'opaque 0', corsEvict: 'failed' });
          // What hexproxy answered: 403 at once, so the browser had no 401 to resend credentials after.
          const answered = proxy.logs
            .slice(logged)
            .filter((line) => line.msg === 'request' && String(line['path']).startsWith('/api/'))
            .map((line) => `${String(line['method'])} ${String(line['path'])} ${String(line['status'])}`);
          expect(answered, origin).toEqual([
            'POST /api/admin/evict 403',
            'POST /api/admin/prewarm 403',
            'POST /api/admin/policy/reload 403',
            'OPTIONS /api/admin/evict 403',
          ]);
          // Nothing happened: still cached, nothing pre-warmed or fetched, no reload.
          expect(proxy.server.hexproxy.index.findTarball('hexpm', 'jason', '1.4.1'), origin).toBeDefined();
          expect(proxy.server.hexproxy.index.findTarball('hexpm', 'decimal', '2.1.1'), origin).toBeUndefined();
          expect(upstream.totalHits(), origin).toBe(0);
          expect(proxy.server.hexproxy.policy.generation, origin).toBe(generation);
        }
        await context.close();
      } finally {
        await chromium.close();
      }
    },
    60_000,
  );
});
