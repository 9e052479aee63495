// Which release of a package a spec or a dependency gets.
//
// The choice follows Hex 2.x (hexpm/hex, lib/hex/solver/, vendored hex_solver 0.2.3): a
// requirement allows versions by plain precedence (Constraints.Range.allows?/2, no
// :allow_pre), and among the allowed ones PackageLister.pick_package/2 tries them in
// Constraints.Version.prioritize/2 order: any stable release before any pre-release, newer
// before older. So a pre-release is picked only when no stable release is allowed at all.
// Retired releases are left out (Hex itself only warns about them) unless the exact
// version was asked for.

import type { SemVer } from 'semver';
import type { Package, Release, RetirementStatus } from '../registry/types.js';
import { InvalidVersionError } from './errors.js';
import { matches, type Requirement } from './requirement.js';
import { compareVersions, isPrerelease, parseVersion } from './version.js';

export interface Candidate {
  readonly release: Release;
  readonly version: SemVer;
}

export type Selection =
  | { readonly ok: true; readonly release: Release; /** why this one, for the user */ readonly chosen: string }
  | {
      readonly ok: false;
      readonly reason: string;
      /** When only retired releases matched: the newest of them. */
      readonly newestRetired?: string;
    };

/** NAME: the newest stable release, or failing that the newest pre-release; never a retired one. */
export function selectNewest(pkg: Package): Selection {
  const all = candidates(pkg);
  if (all.length === 0) return { ok: false, reason: `${pkg.name} has no releases${unreadable(pkg)}` };
  const pick = preferred(all.filter(isLive));
  if (!pick) return { ok: false, reason: `every release of ${pkg.name} is retired${listed(all)}` };
  const chosen = isPrerelease(pick.version)
    ? 'newest release, a pre-release: there is no stable release that is not retired'
    : 'newest stable release';
  return { ok: true, release: pick.release, chosen };
}

/** NAME@VERSION: that release, retired or not; build metadata is ignored as in `==`. */
export function selectExact(pkg: Package, version: SemVer): Selection {
  const all = candidates(pkg);
  const pick = all.find((c) => c.release.version === version.raw) ?? all.find((c) => compareVersions(c.version, version) === 0);
  if (!pick) return { ok: false, reason: `${pkg.name} has no release ${version.raw}${newestOf(all)}` };
  const retired = pick.release.retired;
  const chosen = retired ? `the version asked for, although it is ${describeRetirement(retired)}` : 'the version asked for';
  return { ok: true, release: pick.release, chosen };
}

/** NAME@REQUIREMENT and dependencies: the preferred release the requirement allows. */
export function selectMatching(pkg: Package, requirement: Requirement): Selection {
  const all = candidates(pkg);
  const allowed = all.filter((c) => matches(requirement, c.version, { allowPre: true }));
  const pick = preferred(allowed.filter(isLive));
  if (pick) {
    const chosen = isPrerelease(pick.version)
      ? `newest pre-release matching ${requirement.source}: no stable release that is not retired matches`
      : `newest stable release matching ${requirement.source}`;
    return { ok: true, release: pick.release, chosen };
  }
  const [newestRetired] = allowed;
  if (newestRetired) {
    const reason = `every release of ${pkg.name} matching ${requirement.source} is retired${listed(allowed)}`;
    return { ok: false, reason, newestRetired: newestRetired.release.version };
  }
  return { ok: false, reason: `no release of ${pkg.name} matches ${requirement.source}${newestOf(all)}` };
}

export function describeRetirement(status: RetirementStatus): string {
  const reason = RETIREMENT_REASONS[status.reason] ?? `reason ${status.reason}`;
  return `retired (${reason}${status.message ? `: ${status.message}` : ''})`;
}

// RetirementReason in proto/package.proto; enums stay numeric after decoding.
const RETIREMENT_REASONS: readonly string[] = ['other', 'invalid', 'security', 'deprecated', 'renamed'];

/** Releases newest first. One whose version does not parse can match nothing, so it is left out. */
function candidates(pkg: Package): Candidate[] {
  const parsed: Candidate[] = [];
  for (const release of pkg.releases) {
    try {
      parsed.push({ release, version: parseVersion(release.version) });
    } catch (e: unknown) {
      if (!(e instanceof InvalidVersionError)) throw e;
    }
  }
  return parsed.sort((a, b) => compareVersions(b.version, a.version));
}

/** hex_solver's Version.prioritize/2: stable before pre-release, then newest. */
function preferred(newestFirst: readonly Candidate[]): Candidate | undefined {
  return newestFirst.find((c) => !isPrerelease(c.version)) ?? newestFirst[0];
}

// Decoded with defaults off, an absent RetirementStatus is simply missing.
const isLive = (c: Candidate): boolean => !c.release.retired;

function listed(newestFirst: readonly Candidate[]): string {
  const shown = newestFirst.slice(0, 5).map((c) => c.release.version);
  const more = newestFirst.length > shown.length ? `, and ${newestFirst.length - shown.length} more` : '';
  return ` (${shown.join(', ')}${more})`;
}

const newestOf = (newestFirst: readonly Candidate[]): string =>
  newestFirst[0] ? ` (the newest is ${newestFirst[0].release.version})` : ' (it has no releases)';

// hex.pm only publishes valid versions, so this points at a damaged registry entry.
const unreadable = (pkg: Package): string => (pkg.releases.length > 0 ? ` with a valid version (${pkg.releases.length} with invalid ones)` : '');
