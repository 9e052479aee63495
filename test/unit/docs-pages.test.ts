// Published docs as pages: extracted once per docs tarball into files named by number, found
// by path through the index only, bounded in what one set and all sets together take.
import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { DocsPages, contentTypeOf, type DocsArchive } from '../../src/hosted/docs-pages.js';
import { createLogger } from '../../src/log.js';
import { gzipBomb, gzippedTar, type RawEntry } from '../support/package-parts.js';
import { removeTempDirs, tempDir } from '../support/proxy.js';

const log = createLogger('silent');
const MiB = 1024 * 1024;

afterEach(() => removeTempDirs());

function archiveOf(bytes: Buffer, opens?: { count: number }): DocsArchive {
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    label: 'the docs of acme/acme_core 1.0.0',
    open: () => {
      if (opens) opens.count += 1;
      return Promise.resolve(Readable.from([bytes]));
    },
  };
}

const docs = (entries: RawEntry[]): Promise<Buffer> => gzippedTar(entries);

async function read(pages: DocsPages, archive: DocsArchive, path: string): Promise<string> {
  const found = await pages.lookup(archive, path);
  if (found.kind !== 'file') throw new Error(`${path}: ${found.kind}`);
  return readFileSync(found.page.file, 'utf8');
}

describe('docs pages', () => {
  it('are extracted once, found by their path in the archive, with a type by extension', async () => {
    const dir = tempDir('hexproxy-docs-pages-');
    const pages = new DocsPages({ dir, log });
    const opens = { count: 0 };
    const archive = archiveOf(
      await docs([
        { name: 'index.html', data: '<h1>acme_core</h1>' },
        { name: './dist/app.js', data: 'window.ok = 1;' },
        { name: 'dist/app.css', data: 'body{color:red}' },
        { name: 'guides', type: 'directory' },
        { name: 'guides/index.html', data: '<h1>guides</h1>' },
        { name: 'Acme.Core.html', data: 'module' },
      ]),
      opens,
    );
    expect(await read(pages, archive, 'index.html')).toBe('<h1>acme_core</h1>');
    expect(await read(pages, archive, 'dist/app.js')).toBe('window.ok = 1;');
    expect(await read(pages, archive, 'guides/index.html')).toBe('<h1>guides</h1>');
    const css = await pages.lookup(archive, 'dist/app.css');
    expect(css.kind === 'file' && css.page.contentType).toBe('text/css; charset=utf-8');
    expect(await pages.lookup(archive, 'guides')).toEqual({ kind: 'directory' });
    expect(await pages.lookup(archive, '')).toEqual({ kind: 'directory' });
    expect(await pages.lookup(archive, 'nothing.html')).toEqual({ kind: 'missing' });
    expect(await pages.lookup(archive, 'dist')).toEqual({ kind: 'missing' });
    expect(opens.count).toBe(1);
    // Files are named by number, never by the archive's names.
    expect(readdirSync(join(dir, archive.sha256, 'files')).sort()).toEqual(['0', '1', '2', '3', '4']);
    // Another process (a restart) finds them extracted.
    expect(await read(new DocsPages({ dir, log }), archive, 'Acme.Core.html')).toBe('module');
    expect(opens.count).toBe(1);
  });

  it('never write what a hostile archive names outside their own numbered files: `..`, absolute paths, links', async () => {
    const dir = tempDir('hexproxy-docs-pages-');
    const pages = new DocsPages({ dir: join(dir, 'pages'), log });
    const archive = archiveOf(
      await docs([
        { name: '../escaped.html', data: 'up' },
        { name: '/etc/escaped.html', data: 'absolute' },
        { name: 'a/../../escaped.html', data: 'climbing' },
        { name: 'link.html', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'hard.html', type: 'link', linkname: 'index.html' },
        { name: 'index.html', data: 'fine' },
      ]),
    );
    expect(await read(pages, archive, 'index.html')).toBe('fine');
    for (const path of ['../escaped.html', 'etc/escaped.html', '/etc/escaped.html', 'escaped.html', 'link.html', 'hard.html'])
      expect((await pages.lookup(archive, path)).kind, path).toBe('missing');
    expect(readdirSync(join(dir, 'pages', archive.sha256, 'files'))).toEqual(['0']);
    expect(readdirSync(dir)).toEqual(['pages']);
  });

  it('refuse a gzip bomb at the uncompressed limit, and what is not a gzipped tar, leaving nothing behind', async () => {
    const dir = tempDir('hexproxy-docs-pages-');
    const pages = new DocsPages({ dir, log, maxUncompressedBytes: 4 * MiB });
    const bomb = archiveOf(gzipBomb(64 * MiB));
    await expect(pages.lookup(bomb, 'index.html')).rejects.toThrow(/cannot be shown as pages: .*larger than 4.0 MiB uncompressed/);
    await expect(pages.lookup(archiveOf(Buffer.from('not gzip at all')), 'index.html')).rejects.toThrow(NotFoundError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('take at most maxBytes on disk: the sets used least recently go first, and come back on demand', async () => {
    const dir = tempDir('hexproxy-docs-pages-');
    const pages = new DocsPages({ dir, log, maxBytes: 1 * MiB, maxUncompressedBytes: 1 * MiB });
    const set = async (label: string): Promise<DocsArchive> =>
      archiveOf(
        await docs([
          { name: 'index.html', data: label },
          { name: 'big.bin', data: Buffer.alloc(400 * 1024, label) },
        ]),
      );
    const [a, b, c] = [await set('a'), await set('b'), await set('c')];
    expect(await read(pages, a, 'index.html')).toBe('a');
    expect(await read(pages, b, 'index.html')).toBe('b');
    // a is used again: b is now the oldest.
    expect(await read(pages, a, 'index.html')).toBe('a');
    expect(await read(pages, c, 'index.html')).toBe('c');
    expect(existsSync(join(dir, b.sha256))).toBe(false);
    expect(existsSync(join(dir, a.sha256))).toBe(true);
    expect(await pages.bytes()).toBeLessThanOrEqual(1 * MiB);
    expect(await read(pages, b, 'index.html')).toBe('b');
  });

  it('extract a damaged set again, and remove what a killed extraction left', async () => {
    const dir = tempDir('hexproxy-docs-pages-');
    const archive = archiveOf(await docs([{ name: 'index.html', data: 'whole' }]));
    const pages = new DocsPages({ dir, log });
    expect(await read(pages, archive, 'index.html')).toBe('whole');
    writeFileSync(join(dir, archive.sha256, 'files', '0'), 'wh');
    expect(await read(pages, archive, 'index.html')).toBe('whole');
    rmSync(join(dir, archive.sha256, 'files', '0'));
    mkdirSync(join(dir, '.extract-abandoned'));
    const again = new DocsPages({ dir, log });
    expect(await read(again, archive, 'index.html')).toBe('whole');
    expect(readdirSync(dir)).toEqual([archive.sha256]);
  });

  it('give every file a type by its extension, and bytes to anything else', () => {
    expect(contentTypeOf('index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeOf('dist/app-1F2E.js')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeOf('fonts/Lato.WOFF2')).toBe('font/woff2');
    expect(contentTypeOf('logo.svg')).toBe('image/svg+xml');
    expect(contentTypeOf('acme.epub')).toBe('application/epub+zip');
    expect(contentTypeOf('README')).toBe('application/octet-stream');
    expect(contentTypeOf('x.exe')).toBe('application/octet-stream');
  });
});
