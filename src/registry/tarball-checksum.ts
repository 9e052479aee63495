// Checksums of a Hex package tarball. The outer checksum (SHA-256 of the whole file) is
// what clients and lock files verify; the inner one (SHA-256 of VERSION, metadata.config
// and contents.tar.gz, concatenated) is all that very old releases carry.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Release } from './types.js';

export interface ExpectedChecksum {
  kind: 'outer' | 'inner';
  /** Lowercase hex SHA-256. */
  hex: string;
}

/** What a release's tarball must hash to: the outer checksum, or the inner one for releases without it. */
export function expectedChecksum(release: Release): ExpectedChecksum {
  if (release.outer_checksum && release.outer_checksum.length === 32) return { kind: 'outer', hex: release.outer_checksum.toString('hex') };
  return { kind: 'inner', hex: release.inner_checksum.toString('hex') };
}

const INNER_PARTS = ['VERSION', 'metadata.config', 'contents.tar.gz'] as const;

export async function innerChecksumOf(tarball: Buffer): Promise<Buffer> {
  const parts = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      if (Buffer.isBuffer(chunk) && (INNER_PARTS as readonly string[]).includes(header.name)) chunks.push(chunk);
    });
    stream.on('end', () => {
      if (chunks.length > 0 || header.size === 0) parts.set(header.name, Buffer.concat(chunks));
      next();
    });
    stream.resume();
  });
  await pipeline(Readable.from([tarball]), extract);
  const hash = createHash('sha256');
  for (const name of INNER_PARTS) {
    const part = parts.get(name);
    if (!part) throw new Error(`the tarball has no ${name}`);
    hash.update(part);
  }
  return hash.digest();
}
