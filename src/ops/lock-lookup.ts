// Finding the repository of a rebar.lock entry, which the file does not record, as rebar3
// finds it (rebar_packages:resolve_version/6): in its configured repositories in order,
// the first whose registry has the release with the locked checksum. prewarm and policy
// check share it, each reading registries its own way.
import { errorMessage } from '../errors.js';
import type { LockedPackage } from '../lockfiles/locked-package.js';
import type { Release } from '../registry/types.js';

/** What a repository's registry says of a name and version: the release, or that it has no such package or release. */
export type Probe = (repository: string) => Promise<Release | 'no-package' | 'no-release'>;

export type Located = { repository: string } | { reason: string };

/**
 * A repository that cannot be asked (upstream down, the organization's key refused) ends
 * the lookup: a package of the same name further on may not be the one locked.
 */
export async function locateEntry(entry: LockedPackage, order: readonly string[], probe: Probe): Promise<Located> {
  const misses: string[] = [];
  for (const repository of order) {
    let found: Awaited<ReturnType<Probe>>;
    try {
      found = await probe(repository);
    } catch (error: unknown) {
      return {
        reason: `cannot look it up in ${repository} (${errorMessage(error)}), and a package of the same name in a repository after it may not be the one locked; not looked further`,
      };
    }
    const mismatch = typeof found === 'string' ? undefined : checksumMismatch(entry, found);
    if (found === 'no-package') misses.push(`${repository} has no package ${entry.name}`);
    else if (found === 'no-release') misses.push(`${repository} has no release ${entry.version} of it`);
    else if (mismatch !== undefined) misses.push(`${repository}'s ${entry.name} ${entry.version} has ${mismatch}`);
    else return { repository };
  }
  return { reason: `found in no repository hexproxy serves: looked in ${order.join(', then ')}, as rebar3 does (${misses.join('; ')})` };
}

/** How the lock's checksum differs from the signed registry's (the outer one when both have it, as rebar3 compares), or undefined. */
export function checksumMismatch(entry: LockedPackage, release: Release): string | undefined {
  const outer = release.outer_checksum?.toString('hex');
  if (entry.outerChecksum !== undefined && outer !== undefined) {
    return entry.outerChecksum === outer ? undefined : `outer checksum ${outer}, not the locked ${entry.outerChecksum}`;
  }
  const inner = release.inner_checksum.toString('hex');
  if (entry.innerChecksum !== undefined)
    return entry.innerChecksum === inner ? undefined : `inner checksum ${inner}, not the locked ${entry.innerChecksum}`;
  return undefined;
}
