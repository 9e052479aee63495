// Whether a tarball is the one its release lists: the one check every tarball passes before
// it enters the cache, fetched from upstream (small or streamed) or imported from a bundle.
import { innerChecksumOf, type ExpectedChecksum } from '../registry/tarball-checksum.js';

export interface ArrivedTarball {
  /** Hex SHA-256 of the whole file, as hashed on its way in. */
  sha256: string;
  /** The whole file: the inner checksum (of releases without an outer one) is computed from its parts. */
  bytes?: Buffer;
}

/**
 * Undefined when the tarball has the checksum its release lists; otherwise what differs, as
 * messages say it: "expected outer SHA-256 …, got …" (or "got an unreadable tarball").
 */
export async function verifyTarball(expected: ExpectedChecksum, tarball: ArrivedTarball): Promise<string | undefined> {
  let actual: string | null;
  if (expected.kind === 'outer') {
    actual = tarball.sha256;
  } else {
    if (!tarball.bytes) throw new Error('the inner checksum of a tarball needs its bytes: keep them while it arrives');
    actual = await innerChecksumOrNull(tarball.bytes);
  }
  return actual === expected.hex ? undefined : `expected ${expected.kind} SHA-256 ${expected.hex}, got ${actual ?? 'an unreadable tarball'}`;
}

async function innerChecksumOrNull(tarball: Buffer): Promise<string | null> {
  try {
    return (await innerChecksumOf(tarball)).toString('hex');
  } catch {
    return null;
  }
}
