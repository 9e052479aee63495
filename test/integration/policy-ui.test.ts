// The policy (config key policy) in the web UI, over plain HTTP: each release row of a
// package page says whether clients can see it (a "blocked by policy" badge with every
// reason, or the allow rule that lifted the restrictions), the default "Use" release is one
// clients can get, the minimum age follows the proxy's injected clock, a reload shows at
// once, and the Status page sums the policy up.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { findBrowser, requireBrowser } from '../support/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { CRITICAL, HIGH, LOW } from '../support/policy.js';

const DAY = 86_400_000;
const START = Date.parse('2026-11-22T12:00:00Z');
const OLD = new Date('2024-01-01T00:00:00Z');
const [critical, high, low] = [CRITICAL, HIGH, LOW];

const packages: PackageSpec[] = [
  {
    name: 'plug',
    releases: [
      { version: '1.14.0', publishedAt: OLD },
      { version: '1.15.0', publishedAt: OLD, advisories: [critical] },
      { version: '1.15.1', publishedAt: OLD },
      // Two days old at START: too new for a 7-day minimum age until START + 5 days.
      { version: '1.16.0', publishedAt: new Date(START - 2 * DAY) },
    ],
  },
  {
    name: 'ecto',
    releases: [
      { version: '3.10.0', publishedAt: OLD, advisories: [low] },
      { version: '3.11.0', publishedAt: OLD, advisories: [high, low] },
      // One day old with a high advisory, but allowed by name and version.
      { version: '3.11.1', publishedAt: new Date(START - DAY), advisories: [high] },
    ],
  },
  {
    name: 'jason',
    releases: [
      { version: '1.3.0', publishedAt: OLD, retired: { reason: 2, message: 'CVE fixed in 1.4.1' } },
      { version: '1.4.0', publishedAt: OLD, retired: { reason: 3, message: 'use 1.4.1' } },
      { version: '1.4.1', publishedAt: OLD },
    ],
  },
  // Every restriction at once: three reasons on one row.
  {
    name: 'cowboy',
    releases: [{ version: '2.0.0', publishedAt: new Date(START - DAY), advisories: [high], retired: { reason: 2, message: 'insecure' } }],
  },
  { name: 'left_pad', releases: [{ version: '1.0.0', publishedAt: OLD }] },
  { name: 'decimal', releases: [{ version: '2.1.1', publishedAt: OLD }] },
  {
    name: 'old_lib',
    releases: [
      { version: '0.1.0', publishedAt: null },
      { version: '0.2.0', publishedAt: OLD },
    ],
  },
];

const policy = {
  deny: ['left_pad', { match: 'plug@< 1.15.0', comment: 'GHSA-old-plug' }],
  allow: [{ match: 'ecto@3.11.1', comment: 'vetted by security' }],
  minReleaseAge: '7d',
  undatedReleases: 'block',
  blockAdvisorySeverity: 'high',
  blockRetired: ['security'],
};

let upstream: FakeUpstream;
let proxy: TestProxy;
let now = START;

interface Row {
  version: string;
  /** The row's data-policy: "blocked", "allowed", "allowed-by-rule", or undefined where the policy does not apply. */
  state: string | undefined;
  reasons: string[];
  /** The note naming the allow rule, if any. */
  rule: string | undefined;
  badges: string[];
}

/** Text as the browser shows it: the entities Hono's JSX escapes, decoded. */
const text = (html: string): string =>
  html
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

async function page(path: string): Promise<string> {
  const response = await proxy.get(path);
  expect(response.status, path).toBe(200);
  expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
  return response.body.toString('utf8');
}

/** The release table's rows, newest first. */
function rows(html: string): Row[] {
  const table = /<table id="release-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  return [...table.matchAll(/<tr([^>]*data-version="([^"]+)"[^>]*)>([\s\S]*?)<\/tr>/g)].map((match) => {
    const [, attributes = '', version = '', cells = ''] = match;
    return {
      version,
      state: / data-policy="([^"]+)"/.exec(attributes)?.[1],
      reasons: [...cells.matchAll(/<div class="policy-reason">([^<]*)<\/div>/g)].map((reason) => text(reason[1] ?? '')),
      rule: ((note) => (note === undefined ? undefined : text(note)))(/<div class="muted policy-rule">([^<]*)<\/div>/.exec(cells)?.[1]),
      badges: [...cells.matchAll(/<span class="badge[^"]*"[^>]*>([^<]*)<\/span>/g)].map((badge) => text(badge[1] ?? '')),
    };
  });
}

async function releases(name: string): Promise<Map<string, Row>> {
  return new Map(rows(await page(`/ui/packages/${name}`)).map((row) => [row.version, row]));
}

function writePolicy(section: Record<string, unknown>): void {
  if (!proxy.configFile) throw new Error('the proxy was started without a config file');
  writeFileSync(proxy.configFile, JSON.stringify({ policy: section }));
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    config: { policy },
    clock: () => now,
    flags: { 'log-level': 'warn' },
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('a package page under a policy', () => {
  it('marks exactly the blocked releases, each with its reasons', async () => {
    const plug = await releases('plug');
    expect([...plug.keys()]).toEqual(['1.16.0', '1.15.1', '1.15.0', '1.14.0']);
    expect(plug.get('1.14.0')).toMatchObject({ state: 'blocked', reasons: ['denied by policy.deny[1] "plug@< 1.15.0" (GHSA-old-plug)'] });
    expect(plug.get('1.15.0')).toMatchObject({
      state: 'blocked',
      reasons: ['advisory GHSA-crit-0001 (critical) at or above policy.blockAdvisorySeverity "high"'],
    });
    expect(plug.get('1.16.0')).toMatchObject({
      state: 'blocked',
      reasons: ['published 2026-11-20T12:00:00Z, younger than policy.minReleaseAge "7d"; allowed from 2026-11-27T12:00:00Z'],
    });
    expect(plug.get('1.15.1')).toMatchObject({ state: 'allowed', reasons: [], rule: undefined });
    for (const row of plug.values()) {
      expect(row.badges.includes('blocked by policy'), row.version).toBe(row.state === 'blocked');
    }

    const jason = await releases('jason');
    expect(jason.get('1.3.0')).toMatchObject({
      state: 'blocked',
      reasons: ['retired (security: CVE fixed in 1.4.1) and policy.blockRetired blocks that reason'],
    });
    // Retired as deprecated: shown as retired, but not blocked.
    expect(jason.get('1.4.0')).toMatchObject({ state: 'allowed', reasons: [] });
    expect(jason.get('1.4.0')?.badges).toContain('retired: deprecated');
    expect(jason.get('1.4.1')).toMatchObject({ state: 'allowed', reasons: [] });

    const cowboy = await releases('cowboy');
    expect(cowboy.get('2.0.0')).toMatchObject({
      state: 'blocked',
      reasons: [
        'advisory GHSA-high-0002 (high) at or above policy.blockAdvisorySeverity "high"',
        'retired (security: insecure) and policy.blockRetired blocks that reason',
        'published 2026-11-21T12:00:00Z, younger than policy.minReleaseAge "7d"; allowed from 2026-11-28T12:00:00Z',
      ],
    });

    const oldLib = await releases('old_lib');
    expect(oldLib.get('0.1.0')).toMatchObject({
      state: 'blocked',
      reasons: ['has no publication date and policy.undatedReleases is "block" (policy.minReleaseAge "7d")'],
    });
    expect(oldLib.get('0.2.0')).toMatchObject({ state: 'allowed', reasons: [] });

    const leftPad = await releases('left_pad');
    expect(leftPad.get('1.0.0')).toMatchObject({ state: 'blocked', reasons: ['denied by policy.deny[0] "left_pad"'] });
  });

  it('names the allow rule that lifts every restriction, and marks nothing else', async () => {
    const ecto = await releases('ecto');
    expect(ecto.get('3.11.1')).toMatchObject({
      state: 'allowed-by-rule',
      reasons: [],
      rule: 'allowed by policy.allow[0] "ecto@3.11.1", which lifts every restriction (vetted by security)',
    });
    expect(ecto.get('3.11.1')?.badges).toContain('allowed by policy rule');
    expect(ecto.get('3.11.1')?.badges).not.toContain('blocked by policy');
    expect(ecto.get('3.11.0')).toMatchObject({
      state: 'blocked',
      reasons: ['advisory GHSA-high-0002 (high) at or above policy.blockAdvisorySeverity "high"'],
      rule: undefined,
    });
    // A low advisory is below the threshold.
    expect(ecto.get('3.10.0')).toMatchObject({ state: 'allowed', reasons: [], rule: undefined });
  });

  it('sums up what clients see, offers a release they can get, and says when the chosen one is blocked', async () => {
    const html = await page('/ui/packages/plug');
    const notice = text(/<div class="notice warn" id="policy-notice" data-blocked="3">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '');
    expect(notice).toContain("hexproxy's policy applies to hexpm: clients see 1 of 4 releases.");
    expect(notice).toContain('The 3 blocked are marked "blocked by policy" below');
    expect(notice).toContain('"locked-ok"');
    expect(html).toContain('3 blocked by policy');
    // The newest release clients can get, not the newest one (1.16.0 is too new).
    expect(html).toContain('<h2>Use 1.15.1</h2>');
    expect(html).not.toContain('id="selected-blocked"');
    const chosen = await page('/ui/packages/plug?version=1.14.0');
    expect(chosen).toContain('<h2>Use 1.14.0</h2>');
    expect(text(chosen)).toMatch(/<div class="notice bad" id="selected-blocked">hexproxy's policy blocks plug 1\.14\.0/);
    expect(await page('/ui/packages/jason')).not.toContain('id="selected-blocked"');
    // Nothing blocked: a plain notice, and no marks.
    const decimal = await page('/ui/packages/decimal');
    expect(text(decimal)).toMatch(
      /<div class="notice" id="policy-notice" data-blocked="0">hexproxy's policy applies to hexpm: clients see 1 of 1 release\.\s*<\/div>/,
    );
    expect(decimal).not.toContain('>blocked by policy<');
    expect(decimal).toContain('0 retired, 0 blocked by policy');
    expect(rows(decimal)).toEqual([{ version: '2.1.1', state: 'allowed', reasons: [], rule: undefined, badges: ['not cached'] }]);
  });

  it('lets a release in when it comes of age, by the proxy clock', async () => {
    now = START + 5 * DAY - 1000;
    expect((await releases('plug')).get('1.16.0')?.state).toBe('blocked');
    now = START + 5 * DAY;
    const plug = await releases('plug');
    expect(plug.get('1.16.0')).toMatchObject({ state: 'allowed', reasons: [] });
    expect(plug.get('1.15.0')?.state).toBe('blocked');
    expect(await page('/ui/packages/plug')).toContain('<h2>Use 1.16.0</h2>');
    now = START;
  });

  it('follows a reload, and marks nothing when no policy applies', async () => {
    writePolicy({ ...policy, deny: ['plug'], tarballs: 'strict' });
    proxy.server.hexproxy.reloadPolicy();
    const plug = await releases('plug');
    for (const row of plug.values()) expect(row).toMatchObject({ state: 'blocked', reasons: ['denied by policy.deny[0] "plug"'] });
    const html = await page('/ui/packages/plug');
    expect(text(html)).toContain('clients see 0 of 4 releases');
    expect(text(html)).toContain('"strict"');
    // Nothing clients can get: the newest stable release is shown, marked as blocked.
    expect(html).toContain('<h2>Use 1.16.0</h2>');
    expect(html).toContain('id="selected-blocked"');

    writePolicy({});
    proxy.server.hexproxy.reloadPolicy();
    const open = await page('/ui/packages/plug');
    expect(open).not.toMatch(/<tr[^>]*data-policy=/);
    expect(open).not.toContain('id="policy-notice"');
    expect(open).not.toContain('blocked by policy');
    expect(rows(open).map((row) => row.state)).toEqual([undefined, undefined, undefined, undefined]);

    writePolicy(policy);
    proxy.server.hexproxy.reloadPolicy();
    expect((await releases('plug')).get('1.14.0')?.state).toBe('blocked');
  });
});

describe('the Status page', () => {
  it('sums up the policy in force', async () => {
    const html = await page('/ui/status');
    const card = /<div class="card" id="policy-status" data-active="yes" data-generation="(\d+)">([\s\S]*?)<\/dl>/.exec(html);
    expect(card?.[1]).toBe(String(proxy.server.hexproxy.policy.generation));
    const facts = text((card?.[2] ?? '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '));
    expect(facts).toContain('active');
    expect(facts).toContain('Repositories hexpm');
    expect(facts).toContain('Rules 2 deny, 1 allow');
    expect(facts).toContain('Minimum release age 7d (undated releases: block)');
    expect(facts).toContain('blocks high and above');
    expect(facts).toContain('blocked when retired as security');
    expect(facts).toContain('Tarballs locked-ok');
  });
});

const browser = await findBrowser();

describe('the package page under a policy, in a real browser (chromium)', () => {
  it.runIf(requireBrowser && !browser.available)('chromium and playwright-core are installed (CI=true: .ci/run installs chromium)', () => {
    expect.fail(browser.available ? '' : browser.reason);
  });

  it.skipIf(!browser.available)('shows the blocked releases with their reasons; saves docs/screenshots/package-policy.png', async () => {
    if (!browser.available) return;
    const chromium = await browser.launch();
    try {
      const context = await chromium.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, colorScheme: 'light' });
      const tab = await context.newPage();
      await tab.goto(`${proxy.url}/ui/packages/plug`);
      const blocked = tab.locator('tr[data-policy="blocked"]');
      expect(await blocked.count()).toBe(3);
      await expect.poll(() => tab.locator('tr[data-policy="blocked"] .policy-reason').first().isVisible()).toBe(true);
      const screenshots = join(projectRoot, 'docs', 'screenshots');
      mkdirSync(screenshots, { recursive: true });
      await tab.screenshot({ path: join(screenshots, 'package-policy.png'), fullPage: true });
    } finally {
      await chromium.close();
    }
  });
});
