// The registry files of a hosted repository, as pure functions: /names and /versions joined
// from per-package entries are the very bytes of the whole encoding, versions are in SemVer
// order with retired indexes, and dependencies follow hexpm's rules.
import { describe, expect, it } from 'vitest';
import { decodeNames, decodePackage, decodeVersions } from '../../src/registry/codec.js';
import {
  joinEntries,
  namesEntry,
  namesPayload,
  packagePayload,
  versionsEntry,
  versionsPayload,
  type VersionsFacts,
} from '../../src/hosted/registry-builder.js';

const packages: (VersionsFacts & { updatedAt: number })[] = [
  {
    name: 'alpha',
    updatedAt: 1_700_000_000_123,
    releases: [
      { version: '1.10.0', retired: false },
      { version: '1.9.0', retired: true },
    ],
  },
  {
    name: 'beta',
    updatedAt: 1_700_000_001_000,
    releases: [
      { version: '2.0.0', retired: false },
      { version: '2.0.0-rc.1', retired: false },
    ],
  },
  { name: 'zeta_io', updatedAt: 1_700_000_002_000, releases: [] },
];

describe('hosted registry builder', () => {
  it('joins /names and /versions from per-package entries into the bytes of the whole encoding', () => {
    const names = joinEntries('acme', packages.map(namesEntry));
    const versions = joinEntries('acme', packages.map(versionsEntry));
    expect(names.equals(namesPayload('acme', packages))).toBe(true);
    expect(versions.equals(versionsPayload('acme', packages))).toBe(true);
    expect(joinEntries('acme', []).equals(namesPayload('acme', []))).toBe(true);
    expect(decodeNames(names).packages[0]).toEqual({ name: 'alpha', updated_at: { seconds: 1_700_000_000, nanos: 123_000_000 } });
    expect(decodeVersions(versions).packages.slice(0, 2)).toEqual([
      { name: 'alpha', versions: ['1.9.0', '1.10.0'], retired: [0], with_advisories: [] },
      { name: 'beta', versions: ['2.0.0-rc.1', '2.0.0'], retired: [], with_advisories: [] },
    ]);
  });

  it("lists a package's releases oldest first, with dependencies as hexpm writes them", () => {
    const checksum = Buffer.alloc(32, 1);
    const pkg = decodePackage(
      packagePayload('acme', 'acme_util', [
        {
          version: '0.2.0',
          innerChecksum: checksum,
          outerChecksum: checksum,
          publishedAt: 1_700_000_000_000,
          retirement: { reason: 'deprecated', message: '' },
          requirements: [
            { name: 'jason', requirement: '~> 1.4', optional: false, app: 'jason', repository: 'hexpm' },
            { name: 'acme_core', requirement: '', optional: true, app: 'core', repository: 'acme' },
          ],
        },
        {
          version: '0.1.0',
          innerChecksum: checksum,
          outerChecksum: checksum,
          publishedAt: 1_600_000_000_000,
          retirement: undefined,
          requirements: [],
        },
      ]),
    );
    expect(pkg.releases.map((release) => release.version)).toEqual(['0.1.0', '0.2.0']);
    expect(pkg.releases[1]?.retired).toEqual({ reason: 3 });
    expect(pkg.releases[1]?.dependencies).toEqual([
      { package: 'acme_core', requirement: '>= 0.0.0', optional: true, app: 'core' },
      { package: 'jason', requirement: '~> 1.4', repository: 'hexpm' },
    ]);
  });
});
