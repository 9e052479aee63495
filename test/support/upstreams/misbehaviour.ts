// The ways a fake upstream can misbehave, and the bodies that need building for them.
import { createGzip } from 'node:zlib';

export type SigningMisbehaviour = 'wrong-key' | 'wrong-repository' | 'wrong-package-name';

export type Misbehaviour =
  | SigningMisbehaviour
  | 'flip-tarball-byte'
  | 'status-500'
  | 'status-503'
  | 'status-502'
  | 'status-429'
  | 'hang'
  | 'hang-body'
  | 'reset-mid-body'
  | 'html-200'
  | 'gzip-bomb'
  | 'endless-body'
  | 'drip'
  | 'truncated-gzip';

export const MISBEHAVIOURS: readonly Misbehaviour[] = [
  'wrong-key',
  'wrong-repository',
  'wrong-package-name',
  'flip-tarball-byte',
  'status-500',
  'status-502',
  'status-503',
  'status-429',
  'hang',
  'hang-body',
  'reset-mid-body',
  'html-200',
  'gzip-bomb',
  'endless-body',
  'drip',
  'truncated-gzip',
];

export const isSigningMisbehaviour = (mode: Misbehaviour): mode is SigningMisbehaviour =>
  mode === 'wrong-key' || mode === 'wrong-repository' || mode === 'wrong-package-name';

export const GZIP_BOMB_INFLATED_BYTES = 300 * 1024 * 1024;

let bomb: Promise<Buffer> | undefined;

/** One gzip member inflating to 300 MiB of zeros (about 300 KB); built once per process. */
export function gzipBomb(): Promise<Buffer> {
  bomb ??= (async () => {
    const gzip = createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve, reject) => {
      gzip.on('end', resolve);
      gzip.on('error', reject);
    });
    const zeros = Buffer.alloc(1024 * 1024);
    for (let written = 0; written < GZIP_BOMB_INFLATED_BYTES; written += zeros.length) {
      if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
    }
    gzip.end();
    await ended;
    return Buffer.concat(chunks);
  })();
  return bomb;
}

/** What 'endless-body' sends, over and over. */
export const ENDLESS_CHUNK = Buffer.alloc(64 * 1024, 0x5a);

export const HTML_ERROR_PAGE = Buffer.from(
  '<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n' +
    '<body><h1>Service Unavailable</h1><p>The upstream is down for maintenance.</p></body></html>\n',
);

/** The tarball with the byte in its middle inverted: same length, wrong checksum. */
export function flipMiddleByte(body: Buffer): Buffer {
  const flipped = Buffer.from(body);
  const middle = Math.floor(flipped.length / 2);
  flipped[middle] = (flipped[middle] ?? 0) ^ 0xff;
  return flipped;
}

/** Where partial bodies stop: half the body, at least one byte when there is one. */
export const partialLength = (length: number): number => Math.min(length, Math.max(1, Math.floor(length / 2)));
