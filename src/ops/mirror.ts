// `hexproxy mirror`: which releases of the upstream to fetch. The fetching itself is
// fetchReleases, which skips what is cached, so an interrupted run resumes by running again.
import picomatch from 'picomatch';
import semver from 'semver';
import { BadRequestError, errorMessage } from '../errors.js';
import { namesOf, packageOf, type Repository } from '../repository/repository.js';
import type { Release } from '../registry/types.js';
import { mapLimited } from '../util/concurrency.js';
import type { ReleaseTarget } from './fetch-releases.js';

export type VersionSelection = { kind: 'latest' } | { kind: 'all' } | { kind: 'newest'; count: number };

export interface MirrorSelection {
  only: string[];
  exclude: string[];
  versions: VersionSelection;
}

export function parseVersionSelection(value: string): VersionSelection {
  if (value === 'latest') return { kind: 'latest' };
  if (value === 'all') return { kind: 'all' };
  if (/^[1-9]\d{0,5}$/.test(value)) return { kind: 'newest', count: Number(value) };
  throw new BadRequestError(`--versions must be latest, all or a positive number, got "${value}"`);
}

export interface MirrorPlan {
  targets: ReleaseTarget[];
  packages: number;
  failed: { name: string; reason: string }[];
}

/** The releases of the repository the selection picks. */
export async function planMirror(
  repository: Pick<Repository, 'name' | 'registry'>,
  selection: MirrorSelection,
  concurrency: number,
): Promise<MirrorPlan> {
  const { name: repo, registry } = repository;
  // Registry files are asked of upstream once per run, whatever the TTL: a mirror wants what is current.
  const names = namesOf((await registry.get({ kind: 'names' }, true)).file);
  const included = selection.only.length === 0 ? () => true : picomatch(selection.only);
  const excluded = selection.exclude.length === 0 ? () => false : picomatch(selection.exclude);
  const chosen = names.packages
    .map((pkg) => pkg.name)
    .filter((name) => included(name) && !excluded(name))
    .sort();
  const plan: MirrorPlan = { targets: [], packages: chosen.length, failed: [] };
  await mapLimited(chosen, concurrency, async (name) => {
    try {
      const pkg = packageOf((await registry.get({ kind: 'package', name }, true)).file);
      for (const release of pickReleases(pkg.releases, selection.versions)) {
        plan.targets.push({ repo, name, version: release.version, source: 'mirror' });
      }
    } catch (error: unknown) {
      plan.failed.push({ name, reason: errorMessage(error) });
    }
  });
  plan.targets.sort((a, b) => (a.name === b.name ? semver.compare(a.version, b.version) : a.name < b.name ? -1 : 1));
  return plan;
}

/**
 * latest: the newest release that is not retired, preferring stable ones; N: the newest N
 * releases that are not retired; all: every release, retired ones too (lock files pin them).
 */
export function pickReleases(releases: readonly Release[], selection: VersionSelection): Release[] {
  const newestFirst = [...releases].filter((r) => semver.valid(r.version)).sort((a, b) => semver.rcompare(a.version, b.version));
  if (selection.kind === 'all') return newestFirst;
  const live = newestFirst.filter((release) => !release.retired);
  if (selection.kind === 'newest') return live.slice(0, selection.count);
  const latest = live.find((release) => semver.prerelease(release.version) === null) ?? live[0];
  return latest ? [latest] : [];
}
