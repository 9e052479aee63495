// What a package page shows: one page of releases, newest first, from the registry file's
// release index merged with cached tarballs the file does not list. Only the releases on
// the page (and the one offered, and one linked with ?version=) are decoded and decided by
// the policy: the work of a page does not grow with the package's number of releases.
import semver from 'semver';
import { NotFoundError } from '../errors.js';
import type { ReleaseEntry, ReleaseIndex } from '../registry/release-index.js';
import type { PackageFacts } from '../policy/decide.js';
import type { Release } from '../registry/types.js';
import type { TarballRow } from '../store/cache-index.js';
import { formatCount, hex } from './format.js';
import type { PackageView, ReleasePolicy, ReleaseView } from './pages/package.js';

export const RELEASES_PAGE_SIZE = 100;

// How many releases may be decided while looking for the one to offer (the newest stable
// one clients may get); past it, the newest stable one is offered, whatever its decision.
const MAX_OFFER_DECISIONS = RELEASES_PAGE_SIZE;

export interface PackageViewInput {
  repository: string;
  name: string;
  /** The registry file's releases; undefined when no registry file is at hand. */
  index: ReleaseIndex | undefined;
  /** Every cached tarball of the package. */
  cached: TarballRow[];
  registry: PackageView['registry'];
  /** The policy's decision for a release, when the policy applies and the registry file is at hand. */
  decide?: ((pkg: PackageFacts, release: Release) => ReleasePolicy) | undefined;
  /** The page asked for (from 1); without it, the page of `version`, or the first. */
  page: number | undefined;
  /** The release whose dependencies are shown; without it, the one offered. */
  version: string | undefined;
}

export interface PackagePageData {
  view: PackageView;
  selected: ReleaseView | undefined;
}

/** Newest first: SemVer precedence, by string where either is not SemVer (as release-index.ts orders). */
export const newerFirst = (a: string, b: string): number => (semver.valid(a) && semver.valid(b) ? semver.rcompare(a, b) : b.localeCompare(a));

export function packagePageData(input: PackageViewInput): PackagePageData {
  const { repository, name, index, cached, registry, decide, version } = input;
  const listedCount = index?.count ?? 0;
  const entryAt = (position: number): ReleaseEntry | undefined => index?.entryAt(position);
  const byVersion = new Map(cached.map((row) => [row.version, row]));
  const cachedOf = (release: string): ReleaseView['cached'] => {
    const row = byVersion.get(release);
    return row && { size: row.size, hits: row.hits, lastUsedAt: row.lastUsedAt, fetchedAt: row.fetchedAt, pinned: row.pinned, sha256: row.sha256 };
  };

  // Cached tarballs the registry file does not list, and how many listed releases are newer than each.
  const unlisted = cached
    .filter((row) => index?.positionOf(row.version) === undefined)
    .map((row) => row.version)
    .sort(newerFirst);
  const newerListed = unlisted.map((release) => countPrefix(listedCount, (position) => newerFirst(entryAt(position)?.version ?? '', release) < 0));
  const total = listedCount + unlisted.length;
  const pageCount = Math.max(1, Math.ceil(total / RELEASES_PAGE_SIZE));

  const releaseOf = (entry: ReleaseEntry): Release => {
    if (!index) throw new Error('a listed release without a registry file');
    return index.releaseAt(entry.position);
  };
  const decisions = new Map<number, ReleasePolicy | undefined>();
  const decided = (entry: ReleaseEntry, release?: Release): ReleasePolicy | undefined => {
    if (!decide || !index) return undefined;
    if (!decisions.has(entry.position)) decisions.set(entry.position, decide(index, release ?? releaseOf(entry)));
    return decisions.get(entry.position);
  };
  const listedView = (entry: ReleaseEntry): ReleaseView => {
    const release = releaseOf(entry);
    return {
      version: release.version,
      publishedAt: release.published_at ? release.published_at.seconds * 1000 + Math.floor(release.published_at.nanos / 1e6) : undefined,
      retired: release.retired,
      advisories: release.advisory_indexes,
      outerChecksum: hex(release.outer_checksum),
      innerChecksum: hex(release.inner_checksum),
      dependencies: release.dependencies,
      cached: cachedOf(release.version),
      listed: true,
      policy: decided(entry, release),
    };
  };
  const unlistedView = (release: string): ReleaseView => ({
    version: release,
    publishedAt: undefined,
    retired: undefined,
    advisories: [],
    outerChecksum: undefined,
    innerChecksum: undefined,
    dependencies: [],
    cached: cachedOf(release),
    listed: false,
  });

  let selectedEntry: ReleaseEntry | undefined;
  let page = input.page;
  if (version !== undefined) {
    const position = index?.positionOf(version);
    selectedEntry = position === undefined ? undefined : entryAt(position);
    if (position === undefined || !selectedEntry) throw new NotFoundError(`${name} has no release ${version}`);
    const combined = position + newerListed.filter((count) => count <= position).length;
    page ??= Math.floor(combined / RELEASES_PAGE_SIZE) + 1;
  } else if (index) {
    selectedEntry = offered(index, (entry) => decided(entry)?.blocked !== true);
  }
  page ??= 1;
  if (page > pageCount)
    throw new NotFoundError(
      `${name} has ${formatCount(pageCount)} ${pageCount === 1 ? 'page' : 'pages'} of releases; there is no page ${formatCount(page)}`,
    );

  // The page: listed releases and unlisted tarballs interleaved, newest first.
  const from = (page - 1) * RELEASES_PAGE_SIZE;
  let u = 0;
  while (u < unlisted.length && (newerListed[u] ?? 0) + u < from) u += 1;
  let l = from - u;
  const releases: ReleaseView[] = [];
  while (releases.length < RELEASES_PAGE_SIZE) {
    const unlistedRelease = unlisted[u];
    const listedEntry = entryAt(l);
    if (unlistedRelease !== undefined && (newerListed[u] ?? 0) <= l) {
      releases.push(unlistedView(unlistedRelease));
      u += 1;
    } else if (listedEntry) {
      releases.push(listedView(listedEntry));
      l += 1;
    } else {
      break;
    }
  }

  const selected =
    selectedEntry && (releases.find((release) => release.listed && release.version === selectedEntry.version) ?? listedView(selectedEntry));
  const view: PackageView = {
    repository,
    name,
    releases,
    registry,
    latest: index && latestOf(index),
    advisories: index ? [...index.advisories] : [],
    affects: index ? [...index.affects] : [],
    totals: {
      listed: listedCount,
      retired: index?.retiredCount ?? 0,
      cached: cached.length,
      cachedBytes: cached.reduce((sum, row) => sum + row.size, 0),
      hits: cached.reduce((sum, row) => sum + row.hits, 0),
    },
    pages: { page, count: pageCount },
  };
  return { view, selected };
}

/**
 * What hex.pm calls the latest release: the newest stable one (retired or not); only when
 * there is none, the newest pre-release, marked as one.
 */
function latestOf(index: ReleaseIndex): PackageView['latest'] {
  for (let position = 0; position < index.count; position += 1) {
    const entry = index.entryAt(position);
    if (entry && !entry.prerelease) return { version: entry.version, prerelease: false };
  }
  const newest = index.entryAt(0);
  return newest && { version: newest.version, prerelease: true };
}

/**
 * The release offered by default: the newest stable one not retired, else the newest not
 * retired, else the newest; among those `allowed` (the policy lets clients see) if any is.
 * `allowed` is asked at most MAX_OFFER_DECISIONS times.
 */
function offered(index: ReleaseIndex, allowed: (entry: ReleaseEntry) => boolean): ReleaseEntry | undefined {
  let decisions = 0;
  const allowedWithin = (entry: ReleaseEntry): boolean => {
    decisions += 1;
    return decisions <= MAX_OFFER_DECISIONS && allowed(entry);
  };
  const find = (test: (entry: ReleaseEntry) => boolean): ReleaseEntry | undefined => {
    for (let position = 0; position < index.count; position += 1) {
      const entry = index.entryAt(position);
      if (entry && test(entry)) return entry;
    }
    return undefined;
  };
  const pick = (ok: (entry: ReleaseEntry) => boolean): ReleaseEntry | undefined =>
    find((entry) => !entry.retired && !entry.prerelease && ok(entry)) ?? find((entry) => !entry.retired && ok(entry)) ?? find(ok);
  return pick(allowedWithin) ?? pick(() => true);
}

/** How many of positions 0…count-1 pass `test` (true for a prefix, then false). */
function countPrefix(count: number, test: (position: number) => boolean): number {
  let low = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (test(middle)) low = middle + 1;
    else high = middle;
  }
  return low;
}
