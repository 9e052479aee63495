// The policy applied to registry messages: pure functions from a decoded upstream message
// to the message clients get. Blocked releases are removed and every index that points
// into a list (advisory_indexes, Versions.retired, with_advisories) is renumbered, so the
// result is what the upstream would have published without those releases.
import type { Names, Package, Versions, VersionsPackage } from '../registry/types.js';
import { decideRelease, decidingRule, type Decision, type DecisionInTime } from './decide.js';
import type { Policy } from './rules.js';

export interface FilteredPackage {
  package: Package;
  /** The blocked releases by version, with why. */
  blocked: ReadonlyMap<string, Decision>;
  /** Unix seconds at which a blocked release comes of age and the result changes. */
  changesAt?: number;
}

/** `pkg` without its blocked releases; the same object when nothing is blocked. */
export function filterPackage(policy: Policy, pkg: Package, now: number): FilteredPackage {
  const blocked = new Map<string, Decision>();
  let changesAt: number | undefined;
  const decisions = pkg.releases.map((release): DecisionInTime => decideRelease(policy, pkg, release, now));
  decisions.forEach(({ decision, changesAt: at }, index) => {
    if (!decision.allowed) blocked.set((pkg.releases[index] as Package['releases'][number]).version, decision);
    if (at !== undefined) changesAt = Math.min(changesAt ?? at, at);
  });
  const timing = changesAt === undefined ? {} : { changesAt };
  if (blocked.size === 0) return { package: pkg, blocked, ...timing };

  const kept = pkg.releases.filter((release) => !blocked.has(release.version));
  // Advisories only the removed releases had go with them; the rest keep their order.
  const referencedByRemoved = new Set(pkg.releases.filter((r) => blocked.has(r.version)).flatMap((r) => r.advisory_indexes));
  const referencedByKept = new Set(kept.flatMap((r) => r.advisory_indexes));
  const renumbered = new Map<number, number>();
  const advisories = pkg.advisories.filter((_, index) => {
    if (referencedByRemoved.has(index) && !referencedByKept.has(index)) return false;
    renumbered.set(index, renumbered.size);
    return true;
  });
  const releases = kept.map((release) => ({
    ...release,
    advisory_indexes: release.advisory_indexes.map((index) => renumbered.get(index) ?? index),
  }));
  return { package: { ...pkg, releases, advisories }, blocked, ...timing };
}

/**
 * What /versions alone can say about a package's releases: the blocked versions, or
 * 'needs-package' when a restriction needs what only /packages/NAME has (severities,
 * retirement reasons, publication dates). `updatedAt` is the package's /names entry
 * (Unix seconds): a package not updated within the minimum age has no release younger.
 */
export function decideFromIndex(
  policy: Policy,
  entry: VersionsPackage,
  updatedAt: number | undefined,
  now: number,
): ReadonlySet<string> | 'needs-package' {
  const needsDates =
    policy.minReleaseAgeSeconds > 0 &&
    (policy.undatedReleases === 'block' || updatedAt === undefined || updatedAt > now - policy.minReleaseAgeSeconds);
  const retired = new Set(entry.retired);
  const withAdvisories = new Set(entry.with_advisories);
  const blocked = new Set<string>();
  for (const [index, version] of entry.versions.entries()) {
    const rule = decidingRule(policy, entry.name, version);
    if (rule?.action === 'allow') continue;
    if (rule?.action === 'deny') {
      blocked.add(version);
      continue;
    }
    if (needsDates) return 'needs-package';
    if (policy.advisoryThreshold && withAdvisories.has(index)) {
      if (policy.advisoryThreshold.rank > 0) return 'needs-package';
      blocked.add(version);
      continue;
    }
    if (retired.has(index) && policy.retired !== 'all' && policy.retired.size > 0) return 'needs-package';
    if (retired.has(index) && policy.retired === 'all') blocked.add(version);
  }
  return blocked;
}

/** /versions without the blocked versions (by package name), and without packages left with none. */
export function filterVersions(versions: Versions, blockedOf: (name: string) => ReadonlySet<string>): Versions {
  const packages: VersionsPackage[] = [];
  for (const entry of versions.packages) {
    const blocked = blockedOf(entry.name);
    if (blocked.size === 0) {
      packages.push(entry);
      continue;
    }
    const renumbered = new Map<number, number>();
    const kept = entry.versions.filter((version, index) => {
      if (blocked.has(version)) return false;
      renumbered.set(index, renumbered.size);
      return true;
    });
    if (kept.length === 0) continue;
    const remap = (indexes: number[]): number[] =>
      indexes.flatMap((index) => {
        const to = renumbered.get(index);
        return to === undefined ? [] : [to];
      });
    packages.push({ ...entry, versions: kept, retired: remap(entry.retired), with_advisories: remap(entry.with_advisories) });
  }
  return { ...versions, packages };
}

/** /names without the packages `keep` turns away. */
export function filterNames(names: Names, keep: (name: string) => boolean): Names {
  return { ...names, packages: names.packages.filter((entry) => keep(entry.name)) };
}
