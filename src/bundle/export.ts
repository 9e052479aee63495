// `hexproxy export`: cached tarballs, the upstream's original signed registry files and the cached /installs files,
// written as one uncompressed tar (docs/bundle-format.md) for carrying into an air-gapped
// network. Every entry is hashed before the manifest is written (the manifest comes
// first in the tar), and again while it is copied, so the manifest always tells the truth.
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { StorageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { classifyInstallsPath, isSafeInstallsPath } from '../installs/builds-csv.js';
import { passthroughBlobKey } from '../mirror/passthrough-mirror.js';
import { blobKey } from '../mirror/registry-mirror.js';
import { tarballKey } from '../mirror/tarball-mirror.js';
import type { BlobStore, StoredBlob } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import { syncDirectory } from '../store/sync-directory.js';
import {
  BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MANIFEST_PATH,
  asBuffer, isValidRelease, parseEntryPath, serializeManifest,
  type BundleEntry, type BundleManifest, type BundleSince,
} from './manifest.js';

export interface ReleaseRef {
  name: string;
  version: string;
}

export type ExportSelection = { all: true } | { releases: readonly ReleaseRef[] };

/** Leave out what an earlier bundle holds (same path and SHA-256), or what was fetched at or before a time. */
export type ExportSince = { manifest: BundleManifest } | { timeMs: number };

export interface ExportProgress {
  done: number;
  total: number;
  path: string;
}

export interface ExportOptions {
  /** The bundle to write; it appears only once complete (written as OUT.partial, then renamed). */
  out: string;
  index: CacheIndex;
  blobs: BlobStore;
  /** The repository name ("hexpm"): which cache rows to export, and what the manifest names. */
  repo: string;
  upstreamUrl: string;
  select: ExportSelection;
  /** Also export every cached /installs file (build lists, .signed files, builds); default true. */
  installs?: boolean;
  since?: ExportSince;
  log?: Logger;
  /** Called after each entry is written to the bundle. */
  onProgress?: (progress: ExportProgress) => void;
}

export interface ExportFailure {
  /** The bundle path the entry would have had ("tarballs/NAME-VERSION.tar"), or "NAME VERSION" if that is invalid. */
  path: string;
  reason: string;
}

export interface ExportSummary {
  file: string;
  manifest: BundleManifest;
  registryFiles: number;
  tarballs: number;
  /** Cached /installs files (lists, .signed files and builds). */
  installsFiles: number;
  /** Total size of the entries. */
  entryBytes: number;
  /** Size of the bundle file. */
  bundleBytes: number;
  /** Cached entries left out by `since`. */
  unchanged: number;
  /** What was asked for or indexed but could not be exported; the bundle holds everything else. */
  failed: ExportFailure[];
}

interface Candidate {
  path: string;
  key: string;
  kind: BundleEntry['kind'];
  name?: string;
  version?: string;
  fetchedAt: number;
  /** What the index says a tarball is; registry rows may lag their file after a crash, so they are not compared. */
  indexed?: { size: number; sha256: string };
}

type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

interface Planned {
  entry: BundleEntry;
  key: string;
}

export async function exportBundle(options: ExportOptions): Promise<ExportSummary> {
  const { blobs, since, log } = options;
  const createdAt = new Date();
  const failed: ExportFailure[] = [];
  const candidates = [
    ...('all' in options.select ? allCached(options) : selected(options, options.select.releases, failed)),
    ...(options.installs === false ? [] : cachedInstalls(options)),
  ];
  const earlier = since && 'manifest' in since
    ? new Set(since.manifest.entries.map((entry) => `${entry.path}\n${entry.sha256}`))
    : undefined;
  const cutoff = since && 'timeMs' in since ? since.timeMs : undefined;

  let unchanged = 0;
  const planned: Planned[] = [];
  for (const candidate of candidates) {
    if (cutoff !== undefined && candidate.fetchedAt <= cutoff) {
      unchanged += 1;
      continue;
    }
    const blob = await blobs.open(candidate.key);
    if (!blob) {
      failed.push({ path: candidate.path, reason: 'is in the cache index but its file is missing' });
      continue;
    }
    const { sha256, size } = await digest(blob.stream());
    if (candidate.indexed && (candidate.indexed.sha256 !== sha256 || candidate.indexed.size !== size)) {
      failed.push({ path: candidate.path, reason: `the cached file (SHA-256 ${sha256}, ${size} bytes) does not match its index row (SHA-256 ${candidate.indexed.sha256}, ${candidate.indexed.size} bytes); fetch it again` });
      continue;
    }
    if (earlier?.has(`${candidate.path}\n${sha256}`)) {
      unchanged += 1;
      continue;
    }
    const entry: BundleEntry = {
      path: candidate.path, size, sha256, kind: candidate.kind,
      ...(candidate.name !== undefined && { name: candidate.name }),
      ...(candidate.version !== undefined && { version: candidate.version }),
    };
    planned.push({ entry, key: candidate.key });
  }

  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    createdAt: createdAt.toISOString(),
    upstream: { url: options.upstreamUrl, repository: options.repo },
    ...(since && { since: describeSince(since) }),
    entries: planned.map((item) => item.entry),
  };
  const bundleBytes = await writeBundle(options, manifest, planned, createdAt);
  const summary: ExportSummary = {
    file: options.out,
    manifest,
    registryFiles: planned.filter((item) => item.entry.kind === 'registry').length,
    tarballs: planned.filter((item) => item.entry.kind === 'tarball').length,
    installsFiles: planned.filter((item) => item.entry.kind === 'installs').length,
    entryBytes: planned.reduce((sum, item) => sum + item.entry.size, 0),
    bundleBytes,
    unchanged,
    failed,
  };
  log?.info({ file: options.out, registryFiles: summary.registryFiles, tarballs: summary.tarballs, installsFiles: summary.installsFiles, bytes: bundleBytes, unchanged, failed: failed.length }, 'bundle exported');
  return summary;
}

/** Every cached registry file and tarball of the repository: registry files first, as the format requires. */
function allCached({ index, repo }: ExportOptions): Candidate[] {
  const registry = index.listRegistryFiles()
    .filter((row) => row.repo === repo && parseEntryPath(`registry/${row.path}`)?.kind === 'registry')
    .sort((a, b) => registryOrder(a.path) - registryOrder(b.path) || compare(a.path, b.path))
    .map((row) => registryCandidate(repo, row.path, row.fetchedAt));
  const tarballs = index.listTarballs()
    .filter((row) => row.repo === repo && isValidRelease(row.name, row.version))
    .map((row): Candidate => tarballCandidate(repo, row));
  return [...registry, ...tarballs];
}

/** The releases asked for, their packages' registry files, and /names and /versions if cached. */
function selected({ index, repo }: ExportOptions, releases: readonly ReleaseRef[], failed: ExportFailure[]): Candidate[] {
  const tarballs = new Map<string, Candidate>();
  const packages = new Set<string>();
  for (const { name, version } of releases) {
    if (!isValidRelease(name, version)) {
      failed.push({ path: `${name} ${version}`, reason: 'is not a valid package name and version' });
      continue;
    }
    packages.add(name);
    const path = `tarballs/${name}-${version}.tar`;
    if (tarballs.has(path)) continue;
    const row = index.findTarball(repo, name, version);
    if (!row) {
      failed.push({ path, reason: `${name} ${version} is not cached; fetch it first (e.g. hexproxy prewarm)` });
      continue;
    }
    tarballs.set(path, tarballCandidate(repo, row));
  }
  const registry: Candidate[] = [];
  for (const path of ['names', 'versions']) {
    const row = index.findRegistryFile(repo, path);
    if (row) registry.push(registryCandidate(repo, path, row.fetchedAt));
  }
  for (const name of [...packages].sort(compare)) {
    const path = `packages/${name}`;
    const row = index.findRegistryFile(repo, path);
    if (row) registry.push(registryCandidate(repo, path, row.fetchedAt));
    else failed.push({ path: `registry/${path}`, reason: `the registry file of ${name} is not cached; an importer without it cannot check ${name}'s tarballs` });
  }
  const sortedTarballs = [...tarballs.values()].sort((a, b) => compare(a.path, b.path));
  return [...registry, ...sortedTarballs];
}

/**
 * Every cached /installs file hexproxy would serve: lists and .signed files first, then
 * builds, as the format requires. Builds are compared with their row (they never change);
 * lists, like registry files, are not.
 */
function cachedInstalls({ index }: ExportOptions): Candidate[] {
  const lists: Candidate[] = [];
  const builds: Candidate[] = [];
  for (const row of index.listPassthroughFiles()) {
    if (!row.path.startsWith('installs/')) continue;
    const relative = row.path.slice('installs/'.length);
    if (!isSafeInstallsPath(relative)) continue;
    const what = classifyInstallsPath(relative);
    if (what.kind === 'unknown') continue;
    const candidate: Candidate = { path: row.path, key: passthroughBlobKey(row.path), kind: 'installs', fetchedAt: row.fetchedAt };
    if (what.kind === 'build') builds.push({ ...candidate, indexed: { size: row.size, sha256: row.sha256 } });
    else lists.push(candidate);
  }
  const byPath = (a: Candidate, b: Candidate): number => compare(a.path, b.path);
  return [...lists.sort(byPath), ...builds.sort(byPath)];
}

function registryCandidate(repo: string, path: string, fetchedAt: number): Candidate {
  const name = path.startsWith('packages/') ? path.slice('packages/'.length) : undefined;
  return { path: `registry/${path}`, key: blobKey(repo, path), kind: 'registry', ...(name !== undefined && { name }), fetchedAt };
}

function tarballCandidate(repo: string, row: { name: string; version: string; size: number; sha256: string; fetchedAt: number }): Candidate {
  return {
    path: `tarballs/${row.name}-${row.version}.tar`,
    key: tarballKey(repo, row.name, row.version),
    kind: 'tarball',
    name: row.name,
    version: row.version,
    fetchedAt: row.fetchedAt,
    indexed: { size: row.size, sha256: row.sha256 },
  };
}

function describeSince(since: ExportSince): BundleSince {
  return 'manifest' in since ? { bundleCreatedAt: since.manifest.createdAt } : { fetchedAfter: new Date(since.timeMs).toISOString() };
}

/**
 * Writes the tar to OUT.partial, fsyncs it, renames it to OUT and fsyncs the directory:
 * an interrupted export leaves at most a .partial file, never one that looks complete.
 */
async function writeBundle(options: ExportOptions, manifest: BundleManifest, planned: readonly Planned[], mtime: Date): Promise<number> {
  const { out, blobs, onProgress } = options;
  const partial = `${out}.partial`;
  const handle = await open(partial, 'w', 0o644).catch((error: unknown) => {
    throw new StorageError(`cannot create ${partial}: ${errorMessage(error)}`, { cause: error });
  });
  let handleOpen = true;
  const pack = tar.pack();
  const sink = copyTo(pack, handle);
  // Awaited below; until then a failure must not count as unhandled.
  sink.catch(() => undefined);
  try {
    const manifestBytes = serializeManifest(manifest);
    await addBuffer(pack, header(MANIFEST_PATH, manifestBytes.length, mtime), manifestBytes);
    for (const [done, { entry, key }] of planned.entries()) {
      const blob = await blobs.open(key);
      if (!blob) throw new StorageError(`${entry.path} vanished from the cache while it was being exported; export again`);
      await addBlob(pack, entry, blob, mtime);
      onProgress?.({ done: done + 1, total: planned.length, path: entry.path });
    }
    pack.finalize();
    await sink;
    await handle.sync();
    const { size } = await handle.stat();
    handleOpen = false;
    await handle.close();
    await rename(partial, out);
    await syncDirectory(dirname(out));
    return size;
  } catch (error: unknown) {
    pack.destroy();
    await sink.catch(() => undefined);
    if (handleOpen) await handle.close().catch(() => undefined);
    await rm(partial, { force: true });
    if (error instanceof StorageError) throw error;
    throw new StorageError(`cannot write the bundle ${out}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Writes what the pack produces, as it produces it; awaiting each write is the back-pressure. */
async function copyTo(pack: tar.Pack, handle: FileHandle): Promise<void> {
  for await (const chunk of pack) {
    const bytes = asBuffer(chunk);
    let offset = 0;
    while (offset < bytes.length) offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
  }
}

function header(name: string, size: number, mtime: Date): EntryHeader {
  return { name, size, mode: 0o644, mtime, uid: 0, gid: 0, uname: '', gname: '', type: 'file' };
}

function addBuffer(pack: tar.Pack, entryHeader: EntryHeader, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(entryHeader, data, (error) => (error ? reject(error) : resolve()));
  });
}

/** Copies a blob into the tar, and fails if its bytes are no longer those the manifest lists. */
async function addBlob(pack: tar.Pack, entry: BundleEntry, blob: StoredBlob, mtime: Date): Promise<void> {
  if (blob.size !== entry.size) throw new StorageError(`${entry.path} changed in the cache while it was being exported; export again`);
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(blob.stream(), hashing, pack.entry(header(entry.path, entry.size, mtime)));
  if (hash.digest('hex') !== entry.sha256) throw new StorageError(`${entry.path} changed in the cache while it was being exported; export again`);
}

async function digest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const bytes = asBuffer(chunk);
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest('hex'), size };
}

const registryOrder = (path: string): number => (path === 'names' ? 0 : path === 'versions' ? 1 : 2);
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
