// The package page's data (src/ui/package-view.ts) over a real encoded package: pages of
// releases newest first, cached tarballs the registry file does not list merged in where
// their version puts them, the page of a release linked with ?version=, and the release
// offered by default decided lazily.
import { describe, expect, it } from 'vitest';
import { encodePackage } from '../../src/registry/codec.js';
import { indexReleases } from '../../src/registry/release-index.js';
import type { Release } from '../../src/registry/types.js';
import type { TarballRow } from '../../src/store/cache-index.js';
import { packagePageData, RELEASES_PAGE_SIZE } from '../../src/ui/package-view.js';
import { release } from '../support/policy.js';

// 250 releases 1.0.0 … 1.249.0, listed oldest first as hex.pm does; 1.248.0 is retired.
const versions = Array.from({ length: 250 }, (_, i) => `1.${i}.0`);
const releases: Release[] = versions.map((version) => release(version, version === '1.248.0' ? { retired: { reason: 3 } } : {}));
const index = indexReleases(encodePackage({ name: 'many', repository: 'hexpm', releases, advisories: [] }));

const row = (version: string): TarballRow => ({
  repo: 'hexpm',
  name: 'many',
  version,
  size: 10,
  sha256: 'ab'.repeat(32),
  fetchedAt: 0,
  lastUsedAt: 0,
  hits: 1,
  pinned: false,
});
// Cached tarballs of releases the file no longer lists: newer than all, between 1.150.0 and 1.149.0, older than all.
const unlisted = ['9.0.0', '1.149.5', '0.1.0'];
const cached = [row('1.200.0'), ...unlisted.map(row)];

const data = (page?: number, version?: string) =>
  packagePageData({
    repository: 'hexpm',
    name: 'many',
    index,
    cached,
    registry: { state: 'fresh', checkedAt: 0, upstreamAsOf: 0 },
    page,
    version,
  });
const shown = (page?: number, version?: string): string[] => data(page, version).view.releases.map((r) => r.version);

describe('packagePageData', () => {
  it('pages 253 releases (250 listed, 3 cached but unlisted) newest first, 100 a page', () => {
    expect(RELEASES_PAGE_SIZE).toBe(100);
    const all = ['9.0.0', ...versions.slice().reverse()];
    all.splice(all.indexOf('1.149.0'), 0, '1.149.5');
    all.push('0.1.0');
    expect([...shown(1), ...shown(2), ...shown(3)]).toEqual(all);
    expect(shown(1)).toHaveLength(100);
    expect(shown(3)).toHaveLength(53);
    const first = data(1).view;
    expect(first.pages).toEqual({ page: 1, count: 3 });
    expect(first.totals).toEqual({ listed: 250, retired: 1, cached: 4, cachedBytes: 40, hits: 4 });
    expect(first.latest).toEqual({ version: '1.249.0', prerelease: false });
    expect(first.releases[0]).toMatchObject({ version: '9.0.0', listed: false });
    expect(first.releases[1]).toMatchObject({ version: '1.249.0', listed: true, cached: undefined });
    expect(first.releases.find((r) => r.version === '1.200.0')?.cached).toMatchObject({ hits: 1 });
    expect(() => data(4)).toThrow('many has 3 pages of releases; there is no page 4');
  });

  it('opens the page of a release linked with ?version=, and offers the newest stable release not retired', () => {
    expect(data(undefined, '1.0.0').view.pages.page).toBe(3);
    expect(data(undefined, '1.149.0').view.pages.page).toBe(2);
    expect(data(undefined, '1.149.0').selected?.version).toBe('1.149.0');
    // A page given with a version: that page, and the version's dependencies still.
    expect(data(1, '1.0.0')).toMatchObject({ view: { pages: { page: 1 } }, selected: { version: '1.0.0' } });
    expect(() => data(undefined, '1.149.5')).toThrow('many has no release 1.149.5');
    expect(data().selected?.version).toBe('1.249.0');
  });

  it('decides the policy for the page shown and the release offered only', () => {
    const decided: string[] = [];
    const page = packagePageData({
      repository: 'hexpm',
      name: 'many',
      index,
      cached: [],
      registry: { state: 'fresh', checkedAt: 0, upstreamAsOf: 0 },
      page: 2,
      version: undefined,
      decide: (_pkg, r) => {
        decided.push(r.version);
        return r.version === '1.249.0' ? { blocked: true, reasons: ['too new'] } : { blocked: false };
      },
    });
    // 1.249.0 is blocked and 1.248.0 retired: 1.247.0 is offered.
    expect(page.selected?.version).toBe('1.247.0');
    expect(new Set(decided)).toEqual(new Set(['1.249.0', '1.247.0', ...versions.slice(50, 150)]));
  });
});
