// Fetching a set of releases into the cache, with bounded concurrency: what prewarm,
// mirror and export share. Each release is fetched through its repository's mirrors (the
// public one or an organization's), each tarball checked against that repository's signed
// registry by the tarball mirror, and against a lock file's checksum when one is given.
import { BadRequestError, NotFoundError, VerificationError, errorMessage } from '../errors.js';
import { packageOf, type Repository } from '../repository/repository.js';
import type { Release } from '../registry/types.js';
import type { CacheIndex } from '../store/cache-index.js';
import { mapLimited } from '../util/concurrency.js';

export interface ReleaseTarget {
  /** The repository it is in, as hexproxy names it ("hexpm", "acme"). */
  repo: string;
  name: string;
  version: string;
  /** Checksums a lock file recorded (lowercase hex); checked against the signed registry. */
  lockOuterChecksum?: string;
  lockInnerChecksum?: string;
  /** Where the target came from, for messages ("mix.lock", "phoenix@~> 1.7"). */
  source: string;
  /** Set when two sources lock different checksums for the same release. */
  conflict?: string;
}

export type FetchOutcome = 'fetched' | 'cached' | 'failed';

export interface FetchSummary {
  fetched: ReleaseTarget[];
  cached: ReleaseTarget[];
  failed: { target: ReleaseTarget; reason: string }[];
}

export interface FetchOptions {
  index: CacheIndex;
  /** Every repository served: releases are fetched into the cache from its registry and tarballs. */
  repositories: ReadonlyMap<string, Pick<Repository, 'registry' | 'tarballs'>>;
  concurrency: number;
  pin: boolean;
  onItem?: (target: ReleaseTarget, outcome: FetchOutcome, reason?: string) => void;
}

export async function fetchReleases(targets: readonly ReleaseTarget[], options: FetchOptions): Promise<FetchSummary> {
  const summary: FetchSummary = { fetched: [], cached: [], failed: [] };
  await mapLimited(uniqueTargets(targets), options.concurrency, async (target) => {
    try {
      const outcome = await fetchOne(target, options);
      summary[outcome].push(target);
      options.onItem?.(target, outcome);
    } catch (error: unknown) {
      const reason = errorMessage(error);
      summary.failed.push({ target, reason });
      options.onItem?.(target, 'failed', reason);
    }
  });
  return summary;
}

async function fetchOne(target: ReleaseTarget, options: FetchOptions): Promise<'fetched' | 'cached'> {
  const { index } = options;
  const { repo, name, version } = target;
  if (target.conflict) throw new BadRequestError(target.conflict);
  const repository = options.repositories.get(repo);
  if (!repository) throw new NotFoundError(`hexproxy serves no repository ${repo}`);
  const { registry, tarballs } = repository;
  if (target.lockOuterChecksum || target.lockInnerChecksum) {
    const pkg = packageOf((await registry.get({ kind: 'package', name })).file);
    const release = pkg.releases.find((candidate) => candidate.version === version);
    if (release) checkLockAgainstRegistry(target, release);
  }
  const before = index.findTarball(repo, name, version);
  const result = await tarballs.get(name, version);
  if (target.lockOuterChecksum && result.row.sha256 !== target.lockOuterChecksum) {
    throw new VerificationError(
      `${name} ${version}: the cached tarball has SHA-256 ${result.row.sha256}, but ${target.source} locks ${target.lockOuterChecksum}`,
    );
  }
  if (options.pin && !result.row.pinned) index.setPinned(repo, name, version, true);
  return before ? 'cached' : 'fetched';
}

function checkLockAgainstRegistry(target: ReleaseTarget, release: Release): void {
  const outer = release.outer_checksum?.toString('hex');
  const inner = release.inner_checksum.toString('hex');
  if (target.lockOuterChecksum && outer && target.lockOuterChecksum !== outer) {
    throw new VerificationError(
      `${target.name} ${target.version}: ${target.source} locks outer checksum ${target.lockOuterChecksum}, but the signed registry says ${outer}; not fetched`,
    );
  }
  if (target.lockInnerChecksum && target.lockInnerChecksum !== inner) {
    throw new VerificationError(
      `${target.name} ${target.version}: ${target.source} locks inner checksum ${target.lockInnerChecksum}, but the signed registry says ${inner}; not fetched`,
    );
  }
}

/** Each release once (per repository), whatever the number of sources naming it: what a run's progress counts. */
export function uniqueTargets(targets: readonly ReleaseTarget[]): ReleaseTarget[] {
  const seen = new Map<string, ReleaseTarget>();
  for (const target of targets) {
    const key = `${target.repo}/${target.name}@${target.version}`;
    const existing = seen.get(key);
    if (!existing) {
      seen.set(key, target);
      continue;
    }
    // Keep the lock checksums if any source has them; two that disagree fail the release.
    const merged: ReleaseTarget = {
      ...existing,
      lockOuterChecksum: existing.lockOuterChecksum ?? target.lockOuterChecksum,
      lockInnerChecksum: existing.lockInnerChecksum ?? target.lockInnerChecksum,
    };
    if (existing.lockOuterChecksum && target.lockOuterChecksum && existing.lockOuterChecksum !== target.lockOuterChecksum) {
      merged.conflict = `${target.name} ${target.version}: ${existing.source} locks ${existing.lockOuterChecksum} but ${target.source} locks ${target.lockOuterChecksum}`;
    }
    seen.set(key, merged);
  }
  return [...seen.values()];
}
