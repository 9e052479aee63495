// Checksums of a Hex package tarball. The outer checksum (SHA-256 of the whole file) is
// what clients and lock files verify; the inner one (SHA-256 of VERSION, metadata.config
// and contents.tar.gz, concatenated) is all that very old releases carry.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

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
