// The pages of published docs, as the web UI serves them (/ui/docs/…). A docs tarball is
// extracted once, at the first request for one of its files, into DIR/SHA256/ (named by the
// tarball's SHA-256, so replaced docs are another directory), and its files are served from
// there. No name from the archive is ever a file name: the archive's Nth file is files/N,
// and index.json maps the archive's paths to those numbers, so nothing in a hostile tarball
// (`..`, absolute paths, links, odd bytes, a thousand-level tree) reaches the file system;
// a request finds a file only by looking its path up in that map. Extraction is bounded as
// validation is (the bytes gunzip produces are counted and stopped at the limit, files are
// counted), and so is the directory: past maxBytes, the sets used least recently are
// removed. It is derived data, rebuilt on demand: deleting it at any time is harmless.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import tar from 'tar-stream';
import { NotFoundError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { makePrivateDir } from '../store/private-files.js';
import { formatBytes } from '../util/format-bytes.js';
import { normalName, unsafeNameReason } from './archive-paths.js';
import { DEFAULT_DOCS_LIMITS } from './limits.js';

/** A docs tarball to serve pages from. */
export interface DocsArchive {
  /** Hex SHA-256 of the tarball: names its extracted copy. */
  sha256: string;
  /** What it is, for messages: "the docs of acme/acme_core 1.0.0". */
  label: string;
  /** Its bytes. */
  open(): Promise<Readable>;
}

/** A file of extracted docs, ready to stream. */
export interface DocsPageFile {
  /** Where it is on disk (a name hexproxy chose). */
  file: string;
  size: number;
  contentType: string;
}

/** What a path in the docs is: a file, a directory (which has an index.html), or nothing. */
export type DocsLookup = { kind: 'file'; page: DocsPageFile } | { kind: 'directory' } | { kind: 'missing' };

export interface DocsPagesOptions {
  /** DATA_DIR/docs-pages. */
  dir: string;
  log: Logger;
  /** Bound of the extracted files on disk, all sets together. */
  maxBytes?: number;
  /** Bound of one set: its tar once gunzipped (headers included), as publishing allows. */
  maxUncompressedBytes?: number;
  /** Bound of one set's files. */
  maxFiles?: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_DOCS_PAGES_BYTES = 512 * MiB;
const DEFAULT_MAX_FILES = 100_000;
const SHA256 = /^[0-9a-f]{64}$/;
const INDEX_FILE = 'index.json';
// In-memory path maps of the sets used lately (a map is ~100 bytes a file).
const INDEXES_KEPT = 32;

/** What index.json holds: the archive's paths, each with its file number and size. */
interface DocsIndex {
  files: Record<string, [number, number]>;
  bytes: number;
}

interface SetOnDisk {
  bytes: number;
  lastUsed: number;
}

export class DocsPages {
  private readonly maxBytes: number;
  private readonly maxUncompressedBytes: number;
  private readonly maxFiles: number;
  private readonly sets = new Map<string, SetOnDisk>();
  private readonly indexes = new LRUCache<string, Map<string, [number, number]>>({ max: INDEXES_KEPT });
  private readonly extracting = new Map<string, Promise<Map<string, [number, number]>>>();
  private scanned: Promise<void> | undefined;
  private uses = 0;

  constructor(private readonly options: DocsPagesOptions) {
    this.maxUncompressedBytes = options.maxUncompressedBytes ?? DEFAULT_DOCS_LIMITS.uncompressedBytes;
    this.maxBytes = Math.max(options.maxBytes ?? DEFAULT_DOCS_PAGES_BYTES, this.maxUncompressedBytes);
    this.maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  }

  /**
   * What `path` (an archive path without a leading `/`; "" for the top) is in `archive`,
   * extracting the archive first if it is not yet. NotFoundError when the archive cannot be
   * read as docs (not a gzipped tar, over the limits).
   */
  async lookup(archive: DocsArchive, path: string): Promise<DocsLookup> {
    if (!SHA256.test(archive.sha256)) throw new Error(`not a SHA-256: ${archive.sha256}`);
    const index = await this.indexOf(archive);
    const entry = index.get(path);
    if (entry) {
      const page = await this.fileOf(archive, path, entry);
      return page ? { kind: 'file', page } : this.lookupAgain(archive, path);
    }
    const directory = path === '' ? 'index.html' : `${path}/index.html`;
    return index.has(directory) ? { kind: 'directory' } : { kind: 'missing' };
  }

  /** How many bytes the extracted sets take (for tests and logs). */
  async bytes(): Promise<number> {
    await this.scan();
    let total = 0;
    for (const set of this.sets.values()) total += set.bytes;
    return total;
  }

  /** A file whose size on disk is not its index's (the set was damaged): the set is extracted again, once. */
  private async lookupAgain(archive: DocsArchive, path: string): Promise<DocsLookup> {
    this.options.log.warn({ sha256: archive.sha256, path }, 'an extracted docs file is missing or of the wrong size; extracting the docs again');
    await this.remove(archive.sha256);
    const entry = (await this.indexOf(archive)).get(path);
    const page = entry && (await this.fileOf(archive, path, entry));
    if (!page) throw new NotFoundError(`${archive.label} cannot be shown: their extracted files keep disappearing (${this.options.dir})`);
    return { kind: 'file', page };
  }

  private async fileOf(archive: DocsArchive, path: string, [number, size]: [number, number]): Promise<DocsPageFile | undefined> {
    const file = join(this.options.dir, archive.sha256, 'files', String(number));
    const info = await stat(file).catch(() => undefined);
    if (info?.size !== size) return undefined;
    return { file, size, contentType: contentTypeOf(path) };
  }

  private async indexOf(archive: DocsArchive): Promise<Map<string, [number, number]>> {
    await this.scan();
    const { sha256 } = archive;
    const set = this.sets.get(sha256);
    if (set) {
      set.lastUsed = ++this.uses;
      const kept = this.indexes.get(sha256);
      if (kept) return kept;
      const read = await this.readIndex(sha256);
      if (read) {
        this.indexes.set(sha256, read);
        return read;
      }
      await this.remove(sha256);
    }
    const running = this.extracting.get(sha256);
    if (running) return running;
    const extraction = this.extract(archive).finally(() => this.extracting.delete(sha256));
    this.extracting.set(sha256, extraction);
    return extraction;
  }

  private async readIndex(sha256: string): Promise<Map<string, [number, number]> | undefined> {
    try {
      const parsed = JSON.parse(await readFile(join(this.options.dir, sha256, INDEX_FILE), 'utf8')) as DocsIndex;
      return new Map(Object.entries(parsed.files));
    } catch {
      return undefined;
    }
  }

  /** Unpacks `archive` into a new directory, renamed into place once complete. */
  private async extract(archive: DocsArchive): Promise<Map<string, [number, number]>> {
    const { dir, log } = this.options;
    await makePrivateDir(dir);
    const staging = await mkdtemp(join(dir, '.extract-'));
    try {
      await makePrivateDir(join(staging, 'files'));
      const files = new Map<string, [number, number]>();
      let bytes = 0;
      let written = 0;
      let uncompressed = 0;
      const limit = this.maxUncompressedBytes;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done: TransformCallback) {
          uncompressed += chunk.length;
          if (uncompressed > limit) done(new OverLimit(`they are larger than ${formatBytes(limit)} uncompressed, the most hexproxy unpacks`));
          else done(null, chunk);
        },
      });
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        stream.on('error', ignore);
        const name = normalName(header.name);
        const regular = header.type === 'file' || header.type === 'contiguous-file';
        // Links, devices and unsafe names are never written: publishing refuses them, and a page needs none.
        if (!regular || unsafeNameReason(header.name) !== undefined || name === '' || /[\0-\x1f\x7f]/.test(name)) {
          stream.on('end', next);
          stream.resume();
          return;
        }
        if (written >= this.maxFiles) {
          extract.destroy(new OverLimit(`they hold more than ${this.maxFiles} files, the most hexproxy unpacks`));
          return;
        }
        const number = written++;
        const out = createWriteStream(join(staging, 'files', String(number)), { mode: 0o600 });
        pipeline(stream, out).then(
          () => {
            // A path given twice: the later entry wins, as tar unpacks it (the earlier file still counts: it is on disk).
            bytes += out.bytesWritten;
            files.set(name, [number, out.bytesWritten]);
            next();
          },
          (error: unknown) => extract.destroy(error instanceof Error ? error : new Error(String(error))),
        );
      });
      try {
        await pipeline(await archive.open(), createGunzip(), counter, extract);
      } catch (error: unknown) {
        throw new NotFoundError(`${archive.label} cannot be shown as pages: ${describeFailure(error)}; publish them again`, { cause: error });
      }
      const index: DocsIndex = { files: Object.fromEntries(files), bytes };
      await writeFile(join(staging, INDEX_FILE), JSON.stringify(index), { mode: 0o600 });
      const target = join(dir, archive.sha256);
      try {
        await rename(staging, target);
      } catch (error: unknown) {
        // Another process extracted the same docs meanwhile: theirs are as good.
        if (!isCode(error, 'ENOTEMPTY') && !isCode(error, 'EEXIST')) throw error;
        await rm(staging, { recursive: true, force: true });
      }
      this.sets.set(archive.sha256, { bytes, lastUsed: ++this.uses });
      this.indexes.set(archive.sha256, files);
      log.info({ sha256: archive.sha256, files: files.size, bytes }, `extracted ${archive.label} for the web UI`);
      await this.evict(archive.sha256);
      return files;
    } catch (error: unknown) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Removes the sets used least recently until the rest fit in maxBytes; never `keep`. */
  private async evict(keep: string): Promise<void> {
    let total = 0;
    for (const set of this.sets.values()) total += set.bytes;
    const byAge = [...this.sets].filter(([sha256]) => sha256 !== keep).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [sha256, set] of byAge) {
      if (total <= this.maxBytes) break;
      total -= set.bytes;
      await this.remove(sha256);
    }
  }

  private async remove(sha256: string): Promise<void> {
    this.sets.delete(sha256);
    this.indexes.delete(sha256);
    // Files being sent stay readable until closed (POSIX); the next request extracts again.
    await rm(join(this.options.dir, sha256), { recursive: true, force: true });
  }

  /** Once: what earlier runs extracted (kept, oldest first), and what they left half done (removed). */
  private scan(): Promise<void> {
    this.scanned ??= (async () => {
      const { dir, log } = this.options;
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error: unknown) {
        if (isCode(error, 'ENOENT')) return;
        throw error;
      }
      const found: [string, SetOnDisk & { at: number }][] = [];
      for (const name of names) {
        const path = join(dir, name);
        const index = SHA256.test(name) ? await readFile(join(path, INDEX_FILE), 'utf8').catch(() => undefined) : undefined;
        const bytes = index === undefined ? undefined : bytesOf(index);
        if (bytes === undefined) {
          await rm(path, { recursive: true, force: true }).catch((error: unknown) =>
            log.warn({ path, err: errorMessage(error) }, 'cannot remove a half-extracted docs directory'),
          );
          continue;
        }
        const at = (await stat(path).catch(() => undefined))?.mtimeMs ?? 0;
        found.push([name, { bytes, lastUsed: 0, at }]);
      }
      found.sort(([, a], [, b]) => a.at - b.at);
      for (const [name, set] of found) this.sets.set(name, { bytes: set.bytes, lastUsed: ++this.uses });
    })();
    return this.scanned;
  }
}

function bytesOf(indexJson: string): number | undefined {
  try {
    const parsed = JSON.parse(indexJson) as Partial<DocsIndex>;
    return typeof parsed.bytes === 'number' && typeof parsed.files === 'object' ? parsed.bytes : undefined;
  } catch {
    return undefined;
  }
}

/** A docs tarball past a bound of extraction. */
class OverLimit extends Error {}

function describeFailure(error: unknown): string {
  if (error instanceof OverLimit) return error.message;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('Z_'))
    return `their tarball is not valid gzip data (${error.message})`;
  return `their tarball cannot be read as a tar archive (${errorMessage(error)})`;
}

// By extension, whatever the archive or a browser would guess (nosniff is sent with them).
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  xhtml: 'application/xhtml+xml; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  txt: 'text/plain; charset=utf-8',
  md: 'text/plain; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  eot: 'application/vnd.ms-fontobject',
  epub: 'application/epub+zip',
  pdf: 'application/pdf',
  wasm: 'application/wasm',
};

/** The Content-Type of a docs file, by its extension; bytes for anything else. */
export function contentTypeOf(path: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (extension !== undefined && CONTENT_TYPES[extension]) || 'application/octet-stream';
}

const isCode = (error: unknown, code: string): boolean => error instanceof Error && 'code' in error && error.code === code;

function ignore(): void {}
