// What an import needs to remember of a verified registry file: the checksum each release's
// tarball must have.
import type { Package } from '../registry/types.js';
import { expectedChecksum, type ExpectedChecksum } from '../registry/tarball-checksum.js';

export { expectedChecksum, type ExpectedChecksum } from '../registry/tarball-checksum.js';

export function releaseChecksums(pkg: Package): Map<string, ExpectedChecksum> {
  return new Map(pkg.releases.map((release) => [release.version, expectedChecksum(release)]));
}
