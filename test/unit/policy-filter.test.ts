// The policy applied to registry messages (src/policy/filter.ts): blocked releases removed,
// every index into a list renumbered, and the result still a message the vendored schemas
// encode and decode to the same thing. The clock is passed in (NOW, Unix seconds).
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../src/policy/decide.js';
import { decideFromIndex, filterNames, filterPackage, filterVersions } from '../../src/policy/filter.js';
import { OPEN_POLICY, type PolicyConfig } from '../../src/policy/rules.js';
import { decodeNames, decodePackage, decodeVersions, encodeNames, encodePackage, encodeVersions } from '../../src/registry/codec.js';
import type { Names, Package, Release, SecurityAdvisory, Versions, VersionsPackage } from '../../src/registry/types.js';
import { advisory, policyOf, release } from '../support/policy.js';

const DAY = 86_400;
/** 2023-11-14T22:13:20Z */
const NOW = 1_700_000_000;

const checksum = (byte: number): Buffer => Buffer.alloc(32, byte);
const versionsOf = (pkg: Package): string[] => pkg.releases.map((r) => r.version);

describe('filterPackage', () => {
  const A = advisory('GHSA-a', 4);
  const B = advisory('GHSA-b', 1);
  const C = advisory('GHSA-c', 2); // referenced by nobody
  const D = advisory('GHSA-d', 3);
  const pkg: Package = {
    name: 'jason',
    repository: 'hexpm',
    advisories: [A, B, C, D],
    releases: [
      release('1.0.0', { advisory_indexes: [0, 3] }),
      release('1.1.0', { advisory_indexes: [1] }),
      release('1.2.0', { advisory_indexes: [3] }),
      release('1.3.0'),
    ],
  };

  it('returns the same object and an empty blocked map when nothing is blocked', () => {
    for (const policy of [OPEN_POLICY, policyOf({ deny: ['plug'] }), policyOf({ blockAdvisorySeverity: 'critical', allow: ['jason@1.0.0'] })]) {
      const result = filterPackage(policy, pkg, NOW);
      expect(result.package).toBe(pkg);
      expect(result.blocked.size).toBe(0);
      expect('changesAt' in result).toBe(false);
    }
  });

  it('removes blocked releases, drops advisories only they referenced and renumbers the rest in order', () => {
    const policy = policyOf({ deny: ['jason@1.0.0'] });
    const result = filterPackage(policy, pkg, NOW);
    expect(result.package).toStrictEqual({
      name: 'jason',
      repository: 'hexpm',
      advisories: [B, C, D],
      releases: [release('1.1.0', { advisory_indexes: [0] }), release('1.2.0', { advisory_indexes: [2] }), release('1.3.0')],
    });
    expect([...result.blocked.keys()]).toEqual(['1.0.0']);
    expect(result.blocked.get('1.0.0')).toStrictEqual({ allowed: false, reasons: [{ kind: 'deny', rule: policy.rules[0] }] });
    expect('changesAt' in result).toBe(false);
    // The input is left as it was.
    expect(pkg.advisories).toEqual([A, B, C, D]);
    expect(pkg.releases.map((r) => r.advisory_indexes)).toEqual([[0, 3], [1], [3], []]);
  });

  it('blocks by advisory severity and drops the advisories of the removed releases', () => {
    const result = filterPackage(policyOf({ blockAdvisorySeverity: 'high' }), pkg, NOW);
    expect(versionsOf(result.package)).toEqual(['1.1.0', '1.3.0']);
    expect(result.package.advisories).toEqual([B, C]);
    expect(result.package.releases.map((r) => r.advisory_indexes)).toEqual([[0], []]);
    const blocked: [string, Decision][] = [
      [
        '1.0.0',
        {
          allowed: false,
          reasons: [
            {
              kind: 'advisory',
              threshold: 'high',
              advisories: [
                { id: 'GHSA-a', severity: 'critical' },
                { id: 'GHSA-d', severity: 'high' },
              ],
            },
          ],
        },
      ],
      ['1.2.0', { allowed: false, reasons: [{ kind: 'advisory', threshold: 'high', advisories: [{ id: 'GHSA-d', severity: 'high' }] }] }],
    ];
    expect([...result.blocked]).toStrictEqual(blocked);
  });

  it('keeps an advisory a kept release shares with a removed one', () => {
    const result = filterPackage(policyOf({ deny: ['jason@1.2.0'] }), pkg, NOW);
    expect(result.package.advisories).toEqual([A, B, C, D]);
    expect(result.package.releases.map((r) => [r.version, r.advisory_indexes])).toEqual([
      ['1.0.0', [0, 3]],
      ['1.1.0', [1]],
      ['1.3.0', []],
    ]);
  });

  it('leaves zero releases, and only the unreferenced advisories, when every release is blocked', () => {
    const result = filterPackage(policyOf({ deny: ['jason'] }), pkg, NOW);
    expect(result.package).toStrictEqual({ name: 'jason', repository: 'hexpm', advisories: [C], releases: [] });
    expect([...result.blocked.keys()]).toEqual(['1.0.0', '1.1.0', '1.2.0', '1.3.0']);
    const decoded = decodePackage(encodePackage(result.package));
    expect(decoded).toEqual({ name: 'jason', repository: 'hexpm', advisories: [C], releases: [] });
  });

  it('reports the earliest time a blocked release comes of age', () => {
    const dated: Package = {
      name: 'jason',
      repository: 'hexpm',
      advisories: [],
      releases: [
        release('1.0.0', { published_at: { seconds: NOW - 30 * DAY, nanos: 0 } }),
        release('1.1.0', { published_at: { seconds: NOW - 2 * DAY, nanos: 0 } }),
        release('1.2.0', { published_at: { seconds: NOW - 5 * DAY, nanos: 0 } }),
        release('1.3.0', { published_at: { seconds: NOW - DAY, nanos: 0 } }),
        release('1.4.0'),
      ],
    };
    const policy = policyOf({ minReleaseAge: '7d' });
    const result = filterPackage(policy, dated, NOW);
    expect(versionsOf(result.package)).toEqual(['1.0.0', '1.4.0']);
    expect([...result.blocked.keys()]).toEqual(['1.1.0', '1.2.0', '1.3.0']);
    expect(result.changesAt).toBe(NOW + 2 * DAY);
    // At that moment 1.2.0 is of age and the next change is 1.1.0's.
    const later = filterPackage(policy, dated, NOW + 2 * DAY);
    expect(versionsOf(later.package)).toEqual(['1.0.0', '1.2.0', '1.4.0']);
    expect(later.changesAt).toBe(NOW + 5 * DAY);
    const allAged = filterPackage(policy, dated, NOW + 6 * DAY);
    expect(allAged.package).toBe(dated);
    expect('changesAt' in allAged).toBe(false);
    // Undated releases are blocked under 'block', with no change ahead for them.
    const strict = filterPackage(policyOf({ minReleaseAge: '7d', undatedReleases: 'block' }), dated, NOW + 6 * DAY);
    expect(versionsOf(strict.package)).toEqual(['1.0.0', '1.1.0', '1.2.0', '1.3.0']);
    expect('changesAt' in strict).toBe(false);
  });

  it('reports changesAt for a release also blocked for another reason', () => {
    const both: Package = {
      name: 'jason',
      repository: 'hexpm',
      advisories: [],
      releases: [release('1.0.0', { retired: { reason: 2 }, published_at: { seconds: NOW - DAY, nanos: 0 } })],
    };
    const result = filterPackage(policyOf({ minReleaseAge: '7d', blockRetired: true }), both, NOW);
    expect(result.package.releases).toEqual([]);
    expect(result.changesAt).toBe(NOW + 6 * DAY);
    expect(result.blocked.get('1.0.0')).toStrictEqual({
      allowed: false,
      reasons: [
        { kind: 'retired', reason: 'security' },
        { kind: 'too-new', publishedAt: NOW - DAY, eligibleAt: NOW + 6 * DAY, minReleaseAge: '7d' },
      ],
    });
  });
});

describe('filterPackage round trip through the package schema', () => {
  const advisories: SecurityAdvisory[] = [
    {
      id: 'GHSA-aaaa-aaaa-aaaa',
      summary: 'only in 0.9.0',
      html_url: 'https://osv.dev/vulnerability/GHSA-aaaa-aaaa-aaaa',
      severity: 4,
      cvss_score: 9.5,
      api_url: 'https://api.osv.dev/v1/vulns/GHSA-aaaa-aaaa-aaaa',
      aliases: ['CVE-2024-0001'],
    },
    {
      id: 'GHSA-bbbb-bbbb-bbbb',
      summary: 'low, shared',
      html_url: 'https://osv.dev/vulnerability/GHSA-bbbb-bbbb-bbbb',
      severity: 1,
      cvss_score: 2.25,
      api_url: 'https://api.osv.dev/v1/vulns/GHSA-bbbb-bbbb-bbbb',
      aliases: ['CVE-2024-0002', 'OSV-2024-2'],
    },
    {
      id: 'CVE-2024-0003',
      summary: 'unreferenced',
      html_url: 'https://osv.dev/vulnerability/CVE-2024-0003',
      severity: 0,
      cvss_score: 0,
      api_url: 'https://api.osv.dev/v1/vulns/CVE-2024-0003',
      aliases: [],
    },
    {
      id: 'GHSA-dddd-dddd-dddd',
      summary: 'medium, in 1.1.0',
      html_url: 'https://osv.dev/vulnerability/GHSA-dddd-dddd-dddd',
      severity: 2,
      cvss_score: 7.5,
      api_url: 'https://api.osv.dev/v1/vulns/GHSA-dddd-dddd-dddd',
      aliases: ['CVE-2024-0004'],
    },
  ];
  const deps = [
    { package: 'decimal', requirement: '~> 2.0', optional: true, app: 'decimal', repository: 'hexpm' },
    { package: 'acme_secret', requirement: '>= 1.0.0 and < 2.0.0', optional: false, app: 'acme_secret_app', repository: 'acme' },
  ];
  const full = (version: string, byte: number, extra: Partial<Release>): Release => ({
    version,
    inner_checksum: checksum(byte),
    dependencies: deps,
    retired: { reason: 3, message: `${version} is deprecated` },
    outer_checksum: checksum(byte + 100),
    advisory_indexes: [],
    published_at: { seconds: NOW - 100 * DAY + byte, nanos: 123_456_789 },
    ...extra,
  });
  const pkg: Package = {
    name: 'jason',
    repository: 'hexpm',
    advisories,
    releases: [
      full('0.9.0', 1, { advisory_indexes: [0, 1] }),
      full('1.0.0', 2, { advisory_indexes: [1] }),
      full('1.1.0', 3, { advisory_indexes: [3], retired: { reason: 2, message: 'security hole' } }),
      full('1.2.0-rc.1', 4, { advisory_indexes: [], published_at: { seconds: NOW - DAY, nanos: 1 } }),
      full('1.2.0', 5, { advisory_indexes: [1, 3], retired: { reason: 0 } }),
    ],
  };

  it('encodes and decodes the unfiltered package unchanged (every field set)', () => {
    expect(decodePackage(encodePackage(pkg))).toStrictEqual(pkg);
  });

  it('keeps every field of the kept releases and advisories', () => {
    // 0.9.0: critical advisory; 1.1.0: retired for security; 1.2.0-rc.1: too new.
    const policy = policyOf({ blockAdvisorySeverity: 'critical', blockRetired: ['security'], minReleaseAge: '7d' });
    const result = filterPackage(policy, pkg, NOW);
    expect([...result.blocked.keys()]).toEqual(['0.9.0', '1.1.0', '1.2.0-rc.1']);
    expect(result.changesAt).toBe(NOW + 6 * DAY);
    const expected: Package = {
      name: 'jason',
      repository: 'hexpm',
      // GHSA-a went with 0.9.0; GHSA-d (1.1.0 and 1.2.0) and the unreferenced CVE stay.
      advisories: [advisories[1] as SecurityAdvisory, advisories[2] as SecurityAdvisory, advisories[3] as SecurityAdvisory],
      releases: [
        {
          version: '1.0.0',
          inner_checksum: checksum(2),
          dependencies: deps,
          retired: { reason: 3, message: '1.0.0 is deprecated' },
          outer_checksum: checksum(102),
          advisory_indexes: [0],
          published_at: { seconds: NOW - 100 * DAY + 2, nanos: 123_456_789 },
        },
        {
          version: '1.2.0',
          inner_checksum: checksum(5),
          dependencies: deps,
          retired: { reason: 0 },
          outer_checksum: checksum(105),
          advisory_indexes: [0, 2],
          published_at: { seconds: NOW - 100 * DAY + 5, nanos: 123_456_789 },
        },
      ],
    };
    expect(result.package).toStrictEqual(expected);
    const decoded = decodePackage(encodePackage(result.package));
    expect(decoded).toStrictEqual(expected);
    expect(decoded.advisories.map((a) => a.cvss_score)).toEqual([2.25, 0, 7.5]);
    expect(decoded.releases[0]?.dependencies[1]).toStrictEqual({
      package: 'acme_secret',
      requirement: '>= 1.0.0 and < 2.0.0',
      optional: false,
      app: 'acme_secret_app',
      repository: 'acme',
    });
  });
});

describe('filterVersions', () => {
  const a: VersionsPackage = { name: 'a', versions: ['0.1.0', '0.2.0', '1.0.0', '1.1.0', '1.2.0'], retired: [0, 2, 4], with_advisories: [1, 3, 4] };
  const b: VersionsPackage = { name: 'b', versions: ['1.0.0', '2.0.0'], retired: [1], with_advisories: [0] };
  const c: VersionsPackage = { name: 'c', versions: ['0.0.1'], retired: [], with_advisories: [0] };
  const versions: Versions = { repository: 'hexpm', packages: [a, b, c] };
  const blockedBy =
    (sets: Record<string, string[]>) =>
    (name: string): ReadonlySet<string> =>
      new Set(sets[name] ?? []);

  it('returns every entry as it was when nothing is blocked', () => {
    const result = filterVersions(versions, blockedBy({}));
    expect(result).toStrictEqual(versions);
    expect(result.packages[0]).toBe(a);
    expect(result.packages[1]).toBe(b);
  });

  it('removes blocked versions, renumbers retired and with_advisories, and removes emptied packages', () => {
    const asked: string[] = [];
    const result = filterVersions(versions, (name) => {
      asked.push(name);
      return blockedBy({ a: ['0.2.0', '1.0.0', '9.9.9'], b: ['1.0.0', '2.0.0'] })(name);
    });
    expect(asked).toEqual(['a', 'b', 'c']);
    const expected: Versions = {
      repository: 'hexpm',
      packages: [{ name: 'a', versions: ['0.1.0', '1.1.0', '1.2.0'], retired: [0, 2], with_advisories: [1, 2] }, c],
    };
    expect(result).toStrictEqual(expected);
    expect(result.packages[1]).toBe(c);
    expect(decodeVersions(encodeVersions(result))).toStrictEqual(expected);
    // The input is left as it was.
    expect(a).toStrictEqual({ name: 'a', versions: ['0.1.0', '0.2.0', '1.0.0', '1.1.0', '1.2.0'], retired: [0, 2, 4], with_advisories: [1, 3, 4] });
    expect(versions.packages).toHaveLength(3);
  });

  it('drops index entries pointing at removed versions only', () => {
    const result = filterVersions({ repository: 'acme', packages: [b] }, blockedBy({ b: ['2.0.0'] }));
    expect(result).toStrictEqual({ repository: 'acme', packages: [{ name: 'b', versions: ['1.0.0'], retired: [], with_advisories: [0] }] });
    expect(decodeVersions(encodeVersions(result))).toStrictEqual(result);
  });

  it('leaves no packages when every version of every package is blocked', () => {
    const result = filterVersions(versions, () => new Set(['0.1.0', '0.2.0', '1.0.0', '1.1.0', '1.2.0', '2.0.0', '0.0.1']));
    expect(result).toStrictEqual({ repository: 'hexpm', packages: [] });
    expect(decodeVersions(encodeVersions(result))).toStrictEqual({ repository: 'hexpm', packages: [] });
  });
});

describe('filterNames', () => {
  const names: Names = {
    repository: 'hexpm',
    packages: [
      { name: 'a', updated_at: { seconds: NOW - DAY, nanos: 42 } },
      { name: 'b', updated_at: { seconds: NOW, nanos: 0 } },
      { name: 'c' },
      { name: 'd', updated_at: { seconds: 1, nanos: 999_999_999 } },
    ],
  };

  it('keeps the packages `keep` accepts, with their updated_at, in order', () => {
    const result = filterNames(names, (name) => name !== 'b');
    const expected: Names = {
      repository: 'hexpm',
      packages: [
        { name: 'a', updated_at: { seconds: NOW - DAY, nanos: 42 } },
        { name: 'c' },
        { name: 'd', updated_at: { seconds: 1, nanos: 999_999_999 } },
      ],
    };
    expect(result).toStrictEqual(expected);
    expect(result.packages[0]).toBe(names.packages[0]);
    expect(decodeNames(encodeNames(result))).toStrictEqual(expected);
    expect(names.packages).toHaveLength(4);
  });

  it('keeps all or none', () => {
    expect(filterNames(names, () => true)).toStrictEqual(names);
    expect(filterNames(names, () => false)).toStrictEqual({ repository: 'hexpm', packages: [] });
  });
});

describe('decideFromIndex', () => {
  // 1.1.0 retired, 1.2.0 with advisories.
  const entry: VersionsPackage = { name: 'jason', versions: ['1.0.0', '1.1.0', '1.2.0'], retired: [1], with_advisories: [2] };
  const OLD = NOW - 365 * DAY;
  const decide = (overrides: Partial<PolicyConfig>, updatedAt: number | undefined, of: VersionsPackage = entry) =>
    decideFromIndex(policyOf(overrides), of, updatedAt, NOW);

  it('blocks nothing under an open policy, whatever updatedAt', () => {
    expect(decideFromIndex(OPEN_POLICY, entry, undefined, NOW)).toStrictEqual(new Set());
    expect(decide({}, NOW)).toStrictEqual(new Set());
  });

  it('blocks the versions deny rules match', () => {
    expect(decide({ deny: ['jason@>= 1.1.0'] }, OLD)).toStrictEqual(new Set(['1.1.0', '1.2.0']));
    expect(decide({ deny: ['j*'], allow: ['jason@1.0.0'] }, OLD)).toStrictEqual(new Set(['1.1.0', '1.2.0']));
    expect(decide({ deny: ['plug'] }, OLD)).toStrictEqual(new Set());
  });

  describe('under a minimum age', () => {
    it('needs the package when it was updated within the window', () => {
      expect(decide({ minReleaseAge: '7d' }, NOW - 7 * DAY + 1)).toBe('needs-package');
      expect(decide({ minReleaseAge: '7d' }, NOW)).toBe('needs-package');
    });

    it('does not when the last update is at least the minimum age ago', () => {
      expect(decide({ minReleaseAge: '7d' }, NOW - 7 * DAY)).toStrictEqual(new Set());
      expect(decide({ minReleaseAge: '7d' }, OLD)).toStrictEqual(new Set());
    });

    it('needs the package when updatedAt is unknown', () => {
      expect(decide({ minReleaseAge: '7d' }, undefined)).toBe('needs-package');
    });

    it("needs the package under undatedReleases 'block' however old the update", () => {
      expect(decide({ minReleaseAge: '7d', undatedReleases: 'block' }, OLD)).toBe('needs-package');
    });

    it('does not when rules decide every version', () => {
      expect(decide({ minReleaseAge: '7d', allow: ['jason'] }, NOW)).toStrictEqual(new Set());
      expect(decide({ minReleaseAge: '7d', deny: ['jason'] }, undefined)).toStrictEqual(new Set(['1.0.0', '1.1.0', '1.2.0']));
      expect(decide({ minReleaseAge: '7d', undatedReleases: 'block', deny: ['jason@1.0.0'], allow: ['jason'] }, NOW)).toStrictEqual(
        new Set(['1.0.0']),
      );
    });

    it('needs the package when one version is left to a restriction, even after deny rules matched', () => {
      expect(decide({ minReleaseAge: '7d', deny: ['jason@< 1.2.0'] }, NOW)).toBe('needs-package');
    });
  });

  it('without a minimum age, updatedAt and undatedReleases do not matter', () => {
    expect(decide({ undatedReleases: 'block' }, undefined)).toStrictEqual(new Set());
    expect(decide({ minReleaseAge: '0', undatedReleases: 'block', deny: ['jason@1.0.0'] }, NOW)).toStrictEqual(new Set(['1.0.0']));
  });

  it("blocks the versions with advisories at threshold 'any'", () => {
    expect(decide({ blockAdvisorySeverity: 'any' }, OLD)).toStrictEqual(new Set(['1.2.0']));
  });

  it.each(['low', 'medium', 'high', 'critical'] as const)("needs the package for severities at threshold '%s'", (threshold) => {
    expect(decide({ blockAdvisorySeverity: threshold }, OLD)).toBe('needs-package');
  });

  it('does not need the package for a threshold when no version has advisories, or rules decide those that do', () => {
    const clean: VersionsPackage = { ...entry, with_advisories: [] };
    expect(decide({ blockAdvisorySeverity: 'low' }, OLD, clean)).toStrictEqual(new Set());
    expect(decide({ blockAdvisorySeverity: 'low', allow: ['jason@1.2.0'] }, OLD)).toStrictEqual(new Set());
    expect(decide({ blockAdvisorySeverity: 'low', deny: ['jason@1.2.0'] }, OLD)).toStrictEqual(new Set(['1.2.0']));
  });

  it('blocks every retired version under blockRetired true', () => {
    expect(decide({ blockRetired: true }, OLD)).toStrictEqual(new Set(['1.1.0']));
    expect(decide({ blockRetired: true, allow: ['jason@1.1.0'] }, OLD)).toStrictEqual(new Set());
  });

  it('needs the package for retirement reasons, unless nothing is retired', () => {
    expect(decide({ blockRetired: ['security'] }, OLD)).toBe('needs-package');
    expect(decide({ blockRetired: ['security'] }, OLD, { ...entry, retired: [] })).toStrictEqual(new Set());
    expect(decide({ blockRetired: [] }, OLD)).toStrictEqual(new Set());
    expect(decide({ blockRetired: false }, OLD)).toStrictEqual(new Set());
  });

  it('combines advisories at any and every retirement', () => {
    expect(decide({ blockAdvisorySeverity: 'any', blockRetired: true }, OLD)).toStrictEqual(new Set(['1.1.0', '1.2.0']));
    const both: VersionsPackage = { name: 'jason', versions: ['1.0.0'], retired: [0], with_advisories: [0] };
    expect(decide({ blockAdvisorySeverity: 'any', blockRetired: ['renamed'] }, OLD, both)).toStrictEqual(new Set(['1.0.0']));
  });

  it('agrees with filterPackage when it can decide from the index', () => {
    const pkg: Package = {
      name: 'jason',
      repository: 'hexpm',
      advisories: [advisory('GHSA-1', 0)],
      releases: [
        release('1.0.0', { published_at: { seconds: OLD - DAY, nanos: 0 } }),
        release('1.1.0', { retired: { reason: 4 }, published_at: { seconds: OLD - DAY, nanos: 0 } }),
        release('1.2.0', { advisory_indexes: [0], published_at: { seconds: OLD, nanos: 0 } }),
      ],
    };
    for (const overrides of [
      { blockAdvisorySeverity: 'any', blockRetired: true, minReleaseAge: '2w' },
      { deny: ['jason@~> 1.1'], minReleaseAge: '1mo' },
      { blockRetired: true, allow: ['jason@1.1.0'] },
    ] as Partial<PolicyConfig>[]) {
      const policy = policyOf(overrides);
      const fromIndex = decideFromIndex(policy, entry, OLD, NOW);
      expect(fromIndex).not.toBe('needs-package');
      expect(fromIndex).toStrictEqual(new Set(filterPackage(policy, pkg, NOW).blocked.keys()));
    }
  });
});
