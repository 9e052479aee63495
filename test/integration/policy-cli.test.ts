// hexproxy policy check | explain | show, run as users run them (the built CLI), against a
// real fake upstream, with a policy in a config file. Times are relative to the real clock:
// the CLI has no injectable one, so "too new" means published a day ago under a 7-day age.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { mixLock, rebarLock } from '../support/locks.js';
import { tempDir } from '../support/proxy.js';
import { CRITICAL, HIGH, LOW } from '../support/policy.js';

const DAY_SECONDS = 86_400;
const OLD = new Date('2024-01-01T00:00:00Z');
// Whole seconds, as Release.published_at holds them.
const nowSeconds = Math.floor(Date.now() / 1000);
const ONE_DAY_AGO = new Date((nowSeconds - DAY_SECONDS) * 1000);
const iso = (date: Date): string => date.toISOString().replace('.000Z', 'Z');
const plusDays = (date: Date, days: number): Date => new Date(date.getTime() + days * DAY_SECONDS * 1000);

const [critical, high, low] = [CRITICAL, HIGH, LOW];

const packages: PackageSpec[] = [
  {
    name: 'plug',
    releases: [
      { version: '1.14.0', publishedAt: OLD },
      { version: '1.15.0', publishedAt: OLD, advisories: [critical] },
      { version: '1.15.1', publishedAt: OLD },
      { version: '1.16.0', publishedAt: ONE_DAY_AGO },
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
  { name: 'left_pad', releases: [{ version: '1.0.0', publishedAt: OLD }] },
  {
    name: 'ecto',
    releases: [
      { version: '3.10.0', publishedAt: OLD, advisories: [low] },
      { version: '3.11.0', publishedAt: OLD, advisories: [high] },
      // New and with a high advisory, but allowed by name and version.
      { version: '3.11.1', publishedAt: ONE_DAY_AGO, advisories: [high] },
    ],
  },
  { name: 'old_lib', releases: [{ version: '0.1.0', publishedAt: null }] },
  { name: 'fresh_lib', releases: [{ version: '1.0.0', publishedAt: OLD }] },
];

const policy = {
  deny: [{ match: 'left_pad', comment: 'unpublished once, never again' }, 'evil_*'],
  allow: ['ecto@3.11.1'],
  minReleaseAge: '7d',
  blockAdvisorySeverity: 'high',
  blockRetired: ['security'],
};

let upstream: FakeUpstream;
let keyFile: string;
let configFile: string;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  keyFile = join(tempDir(), 'upstream.pem');
  writeFileSync(keyFile, upstream.publicKeyPem);
  configFile = writeFile('hexproxy.json', JSON.stringify({ policy }));
});

afterAll(async () => {
  await upstream?.close();
});

function writeFile(name: string, text: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, text);
  return file;
}

/** The flags of a fresh data directory, with the policy's config file unless `withPolicy` is false. */
function siteArgs({ withPolicy = true, dataDir = tempDir() } = {}): string[] {
  return [...(withPolicy ? ['--config', configFile] : []), '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', keyFile];
}

const lines = (result: CliResult): string[] => result.stdout.trimEnd().split('\n');

// A mix.lock entry for a release the fake upstream does not have (mixLock looks up checksums).
const unknownMixEntry = (name: string, version: string): string =>
  `  "${name}": {:hex, :${name}, "${version}", "${'a'.repeat(64)}", [:mix], [], "hexpm", "${'b'.repeat(64)}"},\n`;

describe('hexproxy policy check', () => {
  it('prints each blocked release of a mix.lock with why, skips what the policy does not cover, and exits 1', async () => {
    const lock = writeFile(
      'mix.lock',
      mixLock(
        upstream,
        [
          { name: 'plug', version: '1.15.0' },
          { name: 'jason', version: '1.4.0' },
          { name: 'ecto', version: '3.11.1' },
          { name: 'left_pad', version: '1.0.0' },
        ],
        [
          `  "private_lib": {:hex, :private_lib, "1.0.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:acme", "${'b'.repeat(64)}"},`,
          '  "forked": {:git, "https://example.invalid/forked.git", "0123456789abcdef", [branch: "main"]},',
        ].join('\n') + '\n',
      ),
    );
    const result = await runCli(['policy', 'check', '--mix-lock', lock, ...siteArgs()]);
    expect(result.code, result.stderr).toBe(1);
    // jason 1.4.0 is retired as deprecated (not blocked); ecto 3.11.1 is allowed by rule.
    expect(lines(result)).toEqual([
      `BLOCKED plug 1.15.0 (${lock}): advisory GHSA-crit-0001 (critical) at or above policy.blockAdvisorySeverity "high"`,
      `BLOCKED left_pad 1.0.0 (${lock}): denied by policy.deny[0] "left_pad" (unpublished once, never again)`,
      `skipped private_lib 1.0.0 (${lock}): it is in repository "hexpm:acme", which the policy does not cover (policy.repositories: hexpm)`,
      `skipped forked (${lock}): git dependency, not a Hex package`,
      '4 checked, 2 blocked, 2 skipped, 0 errors',
    ]);
    expect(result.stderr).not.toContain('no policy configured');
  });

  it("checks releases of an organization the policy covers through that organization's repository", async () => {
    const ACME_KEY = 'acme-upstream-key-for-policy-check';
    const orgUpstream = await startFakeUpstream({
      packages: [{ name: 'plug', releases: [{ version: '1.15.1', publishedAt: OLD }] }],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            {
              name: 'private_lib',
              releases: [
                { version: '1.0.0', publishedAt: OLD },
                { version: '1.1.0', publishedAt: OLD },
              ],
            },
          ],
        },
      },
    });
    try {
      const orgKeyFile = writeFile('acme.pem', orgUpstream.organization('acme').publicKeyPem);
      const upstreamKeyFile = writeFile('upstream.pem', orgUpstream.publicKeyPem);
      const config = writeFile(
        'acme.json',
        JSON.stringify({
          organizations: { acme: { authKey: ACME_KEY, publicKey: orgKeyFile } },
          policy: { repositories: ['hexpm', 'acme'], deny: ['private_lib@1.0.0'] },
        }),
      );
      const lock = writeFile(
        'mix.lock',
        `%{\n${unknownMixEntry('plug', '1.15.1')}  "private_lib": {:hex, :private_lib, "1.0.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:acme", "${'b'.repeat(64)}"},\n}\n`,
      );
      const result = await runCli([
        'policy',
        'check',
        '--mix-lock',
        lock,
        '--config',
        config,
        '--data-dir',
        tempDir(),
        '--upstream-url',
        orgUpstream.url,
        '--upstream-public-key',
        upstreamKeyFile,
      ]);
      expect(result.code, result.stderr).toBe(1);
      expect(lines(result)).toEqual([
        `BLOCKED private_lib 1.0.0 (${lock}): denied by policy.deny[0] "private_lib@1.0.0"`,
        '2 checked, 1 blocked, 0 skipped, 0 errors',
      ]);
      expect(orgUpstream.hits('/repos/acme/packages/private_lib')).toBe(1);
    } finally {
      await orgUpstream.close();
    }
  });

  it("looks a rebar.lock's entries up in the configured organizations, then hexpm, as rebar3 does, and says where each was found", async () => {
    const ACME_KEY = 'acme-upstream-key-for-rebar-policy-check';
    const orgUpstream = await startFakeUpstream({
      packages: [{ name: 'plug', releases: [{ version: '1.15.1', publishedAt: OLD }] }],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            {
              name: 'private_lib',
              releases: [
                { version: '1.0.0', publishedAt: OLD },
                { version: '1.1.0', publishedAt: OLD },
              ],
            },
          ],
        },
      },
    });
    try {
      const orgKeyFile = writeFile('acme.pem', orgUpstream.organization('acme').publicKeyPem);
      const upstreamKeyFile = writeFile('upstream.pem', orgUpstream.publicKeyPem);
      const config = writeFile(
        'acme.json',
        JSON.stringify({
          organizations: { acme: { authKey: ACME_KEY, publicKey: orgKeyFile } },
          policy: { repositories: ['hexpm', 'acme'], deny: ['private_lib@1.0.0'] },
        }),
      );
      const args = ['--config', config, '--data-dir', tempDir(), '--upstream-url', orgUpstream.url, '--upstream-public-key', upstreamKeyFile];
      const allowed = writeFile(
        'rebar.lock',
        rebarLock(orgUpstream, [
          { name: 'private_lib', version: '1.1.0', org: 'acme' },
          { name: 'plug', version: '1.15.1' },
        ]),
      );
      const result = await runCli(['policy', 'check', '--rebar-lock', allowed, ...args]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(lines(result)).toEqual([
        `found in acme (${allowed}): private_lib 1.1.0`,
        `found in hexpm (${allowed}): plug 1.15.1`,
        '2 checked, 0 blocked, 0 skipped, 0 errors',
      ]);
      const json = await runCli(['policy', 'check', '--json', '--rebar-lock', allowed, ...args]);
      expect(JSON.parse(json.stdout)).toMatchObject({
        checked: 2,
        errors: [],
        found: [
          { name: 'private_lib', version: '1.1.0', source: allowed, repository: 'acme' },
          { name: 'plug', version: '1.15.1', source: allowed, repository: 'hexpm' },
        ],
      });

      const denied = writeFile('rebar.lock', rebarLock(orgUpstream, [{ name: 'private_lib', version: '1.0.0', org: 'acme' }]));
      const blocked = await runCli(['policy', 'check', '--rebar-lock', denied, ...args]);
      expect(blocked.code, blocked.stdout + blocked.stderr).toBe(1);
      expect(lines(blocked)).toEqual([
        `BLOCKED private_lib 1.0.0 (${denied}): denied by policy.deny[0] "private_lib@1.0.0"`,
        `found in acme (${denied}): private_lib 1.0.0`,
        '1 checked, 1 blocked, 0 skipped, 0 errors',
      ]);
    } finally {
      await orgUpstream.close();
    }
  });

  it('refuses an empty lock file, and says so of a mix.lock given as a rebar.lock', async () => {
    const empty = writeFile('mix.lock', '');
    const mix = writeFile('mix.lock', mixLock(upstream, [{ name: 'jason', version: '1.4.1' }]));
    const result = await runCli(['policy', 'check', '--mix-lock', empty, '--rebar-lock', mix, ...siteArgs()]);
    expect(result.code).toBe(2);
    expect(lines(result)).toEqual([
      expect.stringMatching(new RegExp(`^ERROR ${escape(empty)}: ${escape(empty)} is empty: `)),
      expect.stringMatching(new RegExp(`^ERROR ${escape(mix)}: ${escape(mix)} is a mix\\.lock, not a rebar\\.lock: give it with --mix-lock`)),
      '0 checked, 0 blocked, 0 skipped, 2 errors',
    ]);
  });

  it('checks a rebar.lock: a security retirement and a release younger than the minimum age, with the date it is allowed from', async () => {
    const lock = writeFile(
      'rebar.lock',
      rebarLock(upstream, [
        { name: 'jason', version: '1.3.0' },
        { name: 'plug', version: '1.16.0' },
        { name: 'ecto', version: '3.10.0' },
      ]),
    );
    const result = await runCli(['policy', 'check', '--rebar-lock', lock, ...siteArgs()]);
    expect(result.code, result.stderr).toBe(1);
    expect(lines(result)).toEqual([
      `BLOCKED jason 1.3.0 (${lock}): retired (security: CVE fixed in 1.4.1) and policy.blockRetired blocks that reason`,
      `BLOCKED plug 1.16.0 (${lock}): published ${iso(ONE_DAY_AGO)}, younger than policy.minReleaseAge "7d"; allowed from ${iso(plusDays(ONE_DAY_AGO, 7))}`,
      '3 checked, 2 blocked, 0 skipped, 0 errors',
    ]);
  });

  it('exits 0 when every locked release is allowed, across a mix.lock and a rebar.lock, reading package files through the cache', async () => {
    const mix = writeFile(
      'mix.lock',
      mixLock(upstream, [
        { name: 'jason', version: '1.4.1' },
        { name: 'plug', version: '1.15.1' },
      ]),
    );
    const rebar = writeFile(
      'rebar.lock',
      rebarLock(upstream, [
        { name: 'old_lib', version: '0.1.0' },
        { name: 'ecto', version: '3.10.0' },
      ]),
    );
    const args = siteArgs();
    const hitsBefore = upstream.hits('/packages/plug');
    const result = await runCli(['policy', 'check', '--mix-lock', mix, '--rebar-lock', rebar, ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(lines(result)).toEqual(['4 checked, 0 blocked, 0 skipped, 0 errors']);
    expect(upstream.hits('/packages/plug')).toBe(hitsBefore + 1);
    // The same data directory again: answered from the cache, upstream not asked.
    const again = await runCli(['policy', 'check', '--mix-lock', mix, ...args]);
    expect(again.code).toBe(0);
    expect(lines(again)).toEqual(['2 checked, 0 blocked, 0 skipped, 0 errors']);
    expect(upstream.hits('/packages/plug')).toBe(hitsBefore + 1);
  });

  it('reports what cannot be checked as errors and exits 2, even when something is also blocked', async () => {
    const mix = writeFile(
      'mix.lock',
      mixLock(
        upstream,
        [
          { name: 'plug', version: '1.15.0' },
          { name: 'jason', version: '1.4.1' },
        ],
        unknownMixEntry('nosuch', '1.0.0'),
      ),
    );
    const unknownRelease = writeFile('mix.lock', `%{\n${unknownMixEntry('plug', '9.9.9')}}\n`);
    const malformed = writeFile('mix.lock', '%{\n  "plug": {:hex, :plug, "1.15.0"\n');
    const missing = join(tempDir(), 'rebar.lock');
    const result = await runCli([
      'policy',
      'check',
      '--mix-lock',
      mix,
      '--mix-lock',
      unknownRelease,
      '--mix-lock',
      malformed,
      '--rebar-lock',
      missing,
      ...siteArgs(),
    ]);
    expect(result.code, result.stderr).toBe(2);
    expect(lines(result)).toEqual([
      `BLOCKED plug 1.15.0 (${mix}): advisory GHSA-crit-0001 (critical) at or above policy.blockAdvisorySeverity "high"`,
      `ERROR ${malformed}: ${malformed}:3:1: expected "," or "}" in the tuple, found the end of the file`,
      expect.stringMatching(new RegExp(`^ERROR ${escape(missing)}: cannot read lock file ${escape(missing)}: ENOENT`)),
      `ERROR nosuch 1.0.0 (${mix}): upstream has no /packages/nosuch`,
      `ERROR plug 9.9.9 (${unknownRelease}): upstream has no release 9.9.9 of plug (it has 1.14.0, 1.15.0, 1.15.1, 1.16.0)`,
      '2 checked, 1 blocked, 0 skipped, 4 errors',
    ]);
  });

  it('prints a machine-readable report with --json', async () => {
    const lock = writeFile(
      'mix.lock',
      mixLock(
        upstream,
        [
          { name: 'ecto', version: '3.11.0' },
          { name: 'jason', version: '1.4.1' },
        ],
        [
          unknownMixEntry('nosuch', '2.0.0'),
          '  "forked": {:git, "https://example.invalid/forked.git", "0123456789abcdef", [branch: "main"]},\n',
        ].join(''),
      ),
    );
    const result = await runCli(['policy', 'check', '--json', '--mix-lock', lock, ...siteArgs()]);
    expect(result.code, result.stderr).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      policyActive: true,
      checked: 2,
      blocked: [
        {
          name: 'ecto',
          version: '3.11.0',
          source: lock,
          reasons: ['advisory GHSA-high-0002 (high) at or above policy.blockAdvisorySeverity "high"'],
        },
      ],
      skipped: [{ name: 'forked', source: lock, reason: 'git dependency, not a Hex package' }],
      errors: [{ name: 'nosuch', version: '2.0.0', source: lock, message: 'upstream has no /packages/nosuch' }],
    });
  });

  it('runs without a policy, saying on stderr that nothing is blocked', async () => {
    const lock = writeFile(
      'mix.lock',
      mixLock(upstream, [
        { name: 'plug', version: '1.15.0' },
        { name: 'left_pad', version: '1.0.0' },
      ]),
    );
    const result = await runCli(['policy', 'check', '--mix-lock', lock, ...siteArgs({ withPolicy: false })]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('no policy configured: nothing is blocked');
    expect(lines(result)).toEqual(['2 checked, 0 blocked, 0 skipped, 0 errors']);
    const json = await runCli(['policy', 'check', '--json', '--mix-lock', lock, ...siteArgs({ withPolicy: false })]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ policyActive: false, checked: 2, blocked: [] });
  });

  it('refuses to run without a lock file, with exit code 2', async () => {
    const result = await runCli(['policy', 'check', ...siteArgs()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nothing to check: give --mix-lock FILE and/or --rebar-lock FILE');
    expect(result.stdout).toBe('');
  });

  it('documents its exit codes in --help', async () => {
    const result = await runCli(['policy', 'check', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /Exit codes:\n\s+0 +every locked release checked is allowed\n\s+1 +some locked release is blocked.*\n\s+2 +something could not be checked/,
    );
  });
});

describe('hexproxy policy explain', () => {
  it('names the deny rule that decides, with its comment, and exits 1', async () => {
    const result = await runCli(['policy', 'explain', 'left_pad@1.0.0', ...siteArgs()]);
    expect(result.code, result.stderr).toBe(1);
    expect(lines(result)).toEqual([
      'left_pad 1.0.0 (hexpm)',
      'rule: policy.deny[0] "left_pad" (unpublished once, never again) denies it; the restrictions are not consulted',
      'blocked',
    ]);
  });

  it('names an allow rule that lifts the restrictions that would block, and exits 0', async () => {
    const result = await runCli(['policy', 'explain', 'ecto@3.11.1', ...siteArgs()]);
    expect(result.code, result.stderr).toBe(0);
    expect(lines(result)).toEqual([
      'ecto 3.11.1 (hexpm)',
      'rule: policy.allow[0] "ecto@3.11.1" allows it, lifting every restriction',
      'lifted: advisory GHSA-high-0002 (high) at or above policy.blockAdvisorySeverity "high"',
      `lifted: published ${iso(ONE_DAY_AGO)}, younger than policy.minReleaseAge "7d"; allowed from ${iso(plusDays(ONE_DAY_AGO, 7))}`,
      'allowed',
    ]);
    const json = await runCli(['policy', 'explain', '--json', 'ecto@3.11.1', ...siteArgs()]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      name: 'ecto',
      version: '3.11.1',
      repository: 'hexpm',
      allowed: true,
      decidedBy: 'rule',
      reasons: [],
      rule: { key: 'policy.allow[0]', action: 'allow', match: 'ecto@3.11.1' },
      decision: 'allowed by policy.allow[0] "ecto@3.11.1", which lifts every restriction',
    });
  });

  it("gives each restriction's verdict for a release too new, with the date it becomes allowed", async () => {
    const allowedFrom = plusDays(ONE_DAY_AGO, 7);
    const result = await runCli(['policy', 'explain', 'plug@1.16.0', ...siteArgs()]);
    expect(result.code, result.stderr).toBe(1);
    expect(lines(result)).toEqual([
      'plug 1.16.0 (hexpm)',
      'rule: none matches, so the restrictions decide',
      'advisories: passes: none',
      'retirement: passes: not retired',
      `age: blocks: published ${iso(ONE_DAY_AGO)}, younger than policy.minReleaseAge "7d"; allowed from ${iso(allowedFrom)}`,
      'blocked',
    ]);
    // Still ahead (six days after the fixture was made); no bound on how long the run took, which a busy machine stretches.
    expect(allowedFrom.getTime()).toBeGreaterThan(Date.now());

    const json = await runCli(['policy', 'explain', 'plug@1.16.0', '--json', ...siteArgs()]);
    expect(json.code).toBe(1);
    const explanation = JSON.parse(json.stdout) as { allowed: boolean; decidedBy: string; rule: unknown; reasons: string[]; restrictions: unknown[] };
    expect(explanation.allowed).toBe(false);
    expect(explanation.decidedBy).toBe('restrictions');
    expect(explanation.rule).toBeNull();
    expect(explanation.reasons).toEqual([`published ${iso(ONE_DAY_AGO)}, younger than policy.minReleaseAge "7d"; allowed from ${iso(allowedFrom)}`]);
    expect(explanation.restrictions).toEqual([
      { restriction: 'advisories', blocks: false, detail: 'none', threshold: 'high', advisories: [] },
      { restriction: 'retirement', blocks: false, detail: 'not retired', retired: null },
      {
        restriction: 'age',
        blocks: true,
        detail: explanation.reasons[0],
        minReleaseAge: '7d',
        publishedAt: iso(ONE_DAY_AGO),
        allowedFrom: iso(allowedFrom),
      },
    ]);
  });

  it('says why each restriction lets a release through', async () => {
    const ecto = await runCli(['policy', 'explain', 'ecto@3.10.0', ...siteArgs()]);
    expect(ecto.code, ecto.stderr).toBe(0);
    expect(lines(ecto)).toEqual([
      'ecto 3.10.0 (hexpm)',
      'rule: none matches, so the restrictions decide',
      'advisories: passes: GHSA-low-0003 (low), below policy.blockAdvisorySeverity "high"',
      'retirement: passes: not retired',
      'age: passes: published 2024-01-01T00:00:00Z, old enough for policy.minReleaseAge "7d" since 2024-01-08T00:00:00Z',
      'allowed',
    ]);
    const jason = await runCli(['policy', 'explain', 'jason@1.4.0', ...siteArgs()]);
    expect(jason.code, jason.stderr).toBe(0);
    expect(lines(jason)[3]).toBe('retirement: passes: retired (deprecated: use 1.4.1), a reason policy.blockRetired does not block');
    const undated = await runCli(['policy', 'explain', 'old_lib@0.1.0', ...siteArgs()]);
    expect(undated.code, undated.stderr).toBe(0);
    expect(lines(undated)[4]).toBe('age: passes: has no publication date and policy.undatedReleases is "allow"');
  });

  it('names the advisory and the retirement that block', async () => {
    const plug = await runCli(['policy', 'explain', 'plug@1.15.0', ...siteArgs()]);
    expect(plug.code).toBe(1);
    expect(lines(plug)[2]).toBe('advisories: blocks: advisory GHSA-crit-0001 (critical) at or above policy.blockAdvisorySeverity "high"');
    const jason = await runCli(['policy', 'explain', 'jason@1.3.0', ...siteArgs()]);
    expect(jason.code).toBe(1);
    expect(lines(jason)[3]).toBe('retirement: blocks: retired (security: CVE fixed in 1.4.1) and policy.blockRetired blocks that reason');
  });

  it('allows everything without a policy, saying so', async () => {
    const result = await runCli(['policy', 'explain', 'left_pad@1.0.0', ...siteArgs({ withPolicy: false })]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('no policy configured: nothing is blocked');
    expect(lines(result)).toEqual(['left_pad 1.0.0 (hexpm)', 'rule: none: no policy configured: nothing is blocked', 'allowed']);
  });

  it('exits 2 for a release or package upstream does not have', async () => {
    const release = await runCli(['policy', 'explain', 'plug@9.9.9', ...siteArgs()]);
    expect(release.code).toBe(2);
    expect(release.stdout).toBe('');
    expect(release.stderr).toContain('hexproxy: upstream has no release 9.9.9 of plug (it has 1.14.0, 1.15.0, 1.15.1, 1.16.0)');
    const pkg = await runCli(['policy', 'explain', 'nosuch@1.0.0', ...siteArgs()]);
    expect(pkg.code).toBe(2);
    expect(pkg.stderr).toContain('hexproxy: upstream has no /packages/nosuch');
  });

  it('asks upstream again for a release its cached package file does not have yet', async () => {
    const dataDir = tempDir();
    const first = await runCli(['policy', 'explain', 'fresh_lib@1.0.0', ...siteArgs({ dataDir })]);
    expect(first.code, first.stderr).toBe(0);
    const hits = upstream.hits('/packages/fresh_lib');
    await upstream.publish('fresh_lib', { version: '1.1.0', publishedAt: OLD, advisories: [critical] });
    const second = await runCli(['policy', 'explain', 'fresh_lib@1.1.0', ...siteArgs({ dataDir })]);
    expect(second.code, second.stderr).toBe(1);
    expect(lines(second).at(-1)).toBe('blocked');
    expect(upstream.hits('/packages/fresh_lib')).toBe(hits + 1);
  });

  it.each([
    [['plug'], '"plug" is not NAME@VERSION: give one release, e.g. plug@1.15.0'],
    [['plug@~> 1.15'], '"~> 1.15" is not an exact version (SemVer such as 1.15.0)'],
    [['Plug@1.15.0'], '"Plug" is not a Hex package name'],
    [['plug@1.15'], '"1.15" is not an exact version'],
    [[], "error: missing required argument 'release'"],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await runCli(['policy', 'explain', ...args, ...siteArgs()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });
});

describe('hexproxy policy show', () => {
  it('prints the compiled policy as JSON', async () => {
    const result = await runCli(['policy', 'show', '--config', configFile]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      active: true,
      repositories: ['hexpm'],
      rules: [
        { key: 'policy.deny[0]', action: 'deny', match: 'left_pad', comment: 'unpublished once, never again' },
        { key: 'policy.deny[1]', action: 'deny', match: 'evil_*' },
        { key: 'policy.allow[0]', action: 'allow', match: 'ecto@3.11.1' },
      ],
      minReleaseAge: '7d',
      undatedReleases: 'allow',
      blockAdvisorySeverity: 'high',
      blockRetired: ['security'],
      tarballs: 'locked-ok',
    });
  });

  it('exits 2 naming the key of a policy that does not compile', async () => {
    const bad = writeFile('hexproxy.json', JSON.stringify({ policy: { deny: ['plug@~> nonsense'] } }));
    const result = await runCli(['policy', 'show', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('policy.deny');
    expect(result.stdout).toBe('');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
