// What an import needs to remember of a verified registry file: the checksum each release's
// tarball must have, and what the file lists (to tell whether it is newer than another copy).
import type { DecodedMessage } from '../registry/registry-file.js';
import type { RegistryResource } from '../registry/resource.js';
import { expectedChecksum, type ExpectedChecksum } from '../registry/tarball-checksum.js';
import type { Names, Package, Timestamp, Versions } from '../registry/types.js';

export { expectedChecksum, type ExpectedChecksum } from '../registry/tarball-checksum.js';

export function releaseChecksums(pkg: Package): Map<string, ExpectedChecksum> {
  return new Map(pkg.releases.map((release) => [release.version, expectedChecksum(release)]));
}

/**
 * What a registry file lists, as key → time: package names with their update time for
 * /names, "NAME VERSION" for /versions, versions for /packages/NAME (time 0: none).
 */
export function listingOf(resource: RegistryResource, message: DecodedMessage): Map<string, number> {
  if (resource.kind === 'names') {
    return new Map((message as Names).packages.map((pkg) => [pkg.name, millis(pkg.updated_at)]));
  }
  if (resource.kind === 'versions') {
    return new Map((message as Versions).packages.flatMap((pkg) => pkg.versions.map((version): [string, number] => [`${pkg.name} ${version}`, 0])));
  }
  if (resource.kind === 'policy') return new Map();
  return new Map((message as Package).releases.map((release) => [release.version, 0]));
}

/** The first thing `listing` has that `other` lacks (or has as older), if any. */
export function firstNotIn(listing: ReadonlyMap<string, number>, other: ReadonlyMap<string, number>): string | undefined {
  for (const [key, time] of listing) {
    const theirs = other.get(key);
    if (theirs === undefined || time > theirs) return key;
  }
  return undefined;
}

const millis = (timestamp: Timestamp | undefined): number => (timestamp ? timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6) : 0);
