// Docs tarball validation (src/hosted/docs-tarball.ts): a gzipped tar of regular files and
// directories inside its own directory, within hex.pm's size limits; anything else is
// refused with a `tar` message saying what is wrong and what to do.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InvalidPackageError } from '../../src/errors.js';
import { validateDocsTarball, type DocsLimits } from '../../src/hosted/docs-tarball.js';
import { gzipBomb, gzippedTar, rawTar, type RawEntry } from '../support/package-parts.js';

/** The `tar` message validation refuses `bytes` with (failing the test if it accepts them). */
async function refusal(bytes: Buffer, limits?: Partial<DocsLimits>): Promise<string> {
  const outcome = await validateDocsTarball(bytes, limits).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof InvalidPackageError)) throw new Error(`expected an InvalidPackageError, got ${String(outcome)}`);
  expect(outcome.status).toBe(422);
  expect(Object.keys(outcome.errors)).toEqual(['tar']);
  const message = outcome.errors['tar'];
  if (typeof message !== 'string') throw new Error('expected a tar message');
  return message;
}

const SITE: RawEntry[] = [
  { name: 'index.html', data: '<!doctype html><title>docs</title>' },
  { name: 'dist/', type: 'directory' },
  { name: 'dist/app.js', data: 'console.log(1)' },
  { name: 'dist/app.css', data: 'body{}' },
];

describe('valid docs tarballs', () => {
  it('counts the files and the uncompressed bytes, and finds index.html', async () => {
    const tar = await rawTar(SITE);
    expect(await validateDocsTarball(gzipSync(tar))).toEqual({ files: 3, uncompressedBytes: tar.length, hasIndexHtml: true });
  });

  it('finds ./index.html too, and says when there is none at the top', async () => {
    expect((await validateDocsTarball(await gzippedTar([{ name: './index.html', data: 'x' }]))).hasIndexHtml).toBe(true);
    expect(await validateDocsTarball(await gzippedTar([{ name: 'doc/index.html', data: 'x' }]))).toMatchObject({ files: 1, hasIndexHtml: false });
  });
});

describe('invalid docs tarballs', () => {
  it('are refused over the compressed limit', async () => {
    const docs = await gzippedTar(SITE);
    expect(await refusal(docs, { tarballBytes: docs.length - 1 })).toMatch(
      /^the docs tarball is .* B, more than the .* B hexproxy takes: leave large files out of the docs$/,
    );
  });

  it('are refused when not gzip', async () => {
    expect(await refusal(await rawTar(SITE))).toMatch(
      /^the docs tarball is refused: it is not valid gzip data \(.+\): send the docs as a gzipped tar, as `mix hex.publish docs` builds them$/,
    );
  });

  it('are refused when gzip but not a tar', async () => {
    expect(await refusal(gzipSync(Buffer.from('<html>'.repeat(200))))).toMatch(
      /^the docs tarball is refused: it is not a valid tar archive once gunzipped/,
    );
  });

  it('are refused when the tar is cut short', async () => {
    const tar = await rawTar([{ name: 'index.html', data: 'x'.repeat(4096) }]);
    expect(await refusal(gzipSync(tar.subarray(0, 1024)))).toMatch(/^the docs tarball is refused: it is not a valid tar archive once gunzipped/);
  });

  it('are refused with an absolute path', async () => {
    expect(await refusal(await gzippedTar([{ name: '/var/www/index.html', data: 'x' }]))).toBe(
      'the docs tarball is refused: the entry "/var/www/index.html" is refused: its path is absolute: remove it from the docs',
    );
  });

  it('are refused with a .. segment', async () => {
    expect(await refusal(await gzippedTar([{ name: '../index.html', data: 'x' }]))).toBe(
      'the docs tarball is refused: the entry "../index.html" is refused: its path has a ".." segment: remove it from the docs',
    );
  });

  it('are refused with any link, even one that stays inside', async () => {
    expect(await refusal(await gzippedTar([...SITE, { name: 'latest.html', type: 'symlink', linkname: 'index.html' }]))).toBe(
      'the docs tarball is refused: the entry "latest.html" is a symbolic link: only regular files and directories are allowed here: remove it from the docs',
    );
    expect(await refusal(await gzippedTar([...SITE, { name: 'copy.html', type: 'link', linkname: 'index.html' }]))).toMatch(
      /the entry "copy.html" is a hard link: only regular files and directories/,
    );
  });

  it('are refused with a device or a fifo', async () => {
    expect(await refusal(await gzippedTar([{ name: 'tty', type: 'character-device' }]))).toBe(
      'the docs tarball is refused: the entry "tty" is of type character-device: only regular files and directories are allowed: remove it from the docs',
    );
  });

  it('are refused over the uncompressed limit', async () => {
    expect(await refusal(await gzippedTar([{ name: 'index.html', data: Buffer.alloc(20_000) }]), { uncompressedBytes: 10_000 })).toBe(
      'the docs tarball is refused: it is larger than 9.8 KiB uncompressed, the most hexproxy takes: leave large files out of the docs',
    );
  });

  it('refuse a gzip bomb at the default limit (128 MiB), reading no further', async () => {
    expect(await refusal(gzipBomb(1024 * 1024 * 1024))).toBe(
      'the docs tarball is refused: it is larger than 128 MiB uncompressed, the most hexproxy takes: leave large files out of the docs',
    );
  });
});
