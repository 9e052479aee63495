// `hexproxy export`: cached tarballs, the upstream's original signed registry files and the cached /installs files,
// written as one uncompressed tar (docs/bundle-format.md) for carrying into an air-gapped
// network. Every entry is hashed before the manifest is written (the manifest comes
// first in the tar), and again while it is copied, so the manifest always tells the truth.
// The manifest says, per registry file and build list, when this hexproxy last had
// upstream's word for those bytes, and is signed with hexproxy's key (manifest.sig), so an
// importer that trusts the key can tell a later file from an earlier one.
import { createHash, type KeyObject } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { StorageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { classifyInstallsPath, isSafeInstallsPath, type BuildListName } from '../installs/builds-csv.js';
import { listSignatureProblem } from '../installs/signed-list.js';
import { fingerprintOf } from '../keys/keypair.js';
import { passthroughKey, registryKey, tarballKey } from '../cache/layout.js';
import type { BlobStore, StoredBlob } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import { publicKeyPem, signDetached } from '../registry/signature.js';
import { syncDirectory } from '../store/sync-directory.js';
import { hostedExportItems, type HostedExportSource } from './hosted-entries.js';
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  MANIFEST_PATH,
  MANIFEST_SIGNATURE_PATH,
  asBuffer,
  hostedEntryPath,
  isValidRelease,
  parseEntryPath,
  serializeManifest,
  type BundleEntry,
  type BundleManifest,
  type BundleSince,
} from './manifest.js';

export interface ReleaseRef {
  /** The repository, as hexproxy names it; default: the public one (ExportOptions.repo). */
  repo?: string;
  name: string;
  version: string;
}

/**
 * Everything cached of the repositories (default: the public one only), or the releases
 * asked for with their packages' registry files.
 */
export type ExportSelection = { all: true; repositories?: readonly string[] } | { releases: readonly ReleaseRef[] };

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
  /**
   * The public repository ("hexpm"): what the manifest names, and whose files have the
   * plain paths; an organization's files go under repos/ORG/.
   */
  repo: string;
  upstreamUrl: string;
  select: ExportSelection;
  /** Also export every cached /installs file (build lists, .signed files, builds); default true. */
  installs?: boolean;
  /** hexproxy's private key: signs the manifest (manifest.sig). */
  signingKey: KeyObject;
  /** The builds server's key (installs.publicKey): only lists that verify with their .signed file are exported. */
  installsKey: KeyObject;
  since?: ExportSince;
  log?: Logger;
  /** Called after each entry is written to the bundle. */
  onProgress?: (progress: ExportProgress) => void;
  /**
   * Hosted repositories to carry: every release of `repositories` (or, with `releases`, those
   * of them), each with its registry file, facts, tarball and docs, after everything else.
   */
  hosted?: { source: HostedExportSource; repositories: readonly string[]; releases?: readonly ReleaseRef[] };
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
  /** Releases of hosted repositories (each with its facts, tarball and docs, and its package's registry file). */
  hostedReleases: number;
  /** The repositories whose registry files or tarballs the bundle holds, the public one first. */
  repositories: string[];
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
  /** The repository of a registry file or tarball. */
  repo?: string;
  path: string;
  key: string;
  kind: BundleEntry['kind'];
  name?: string;
  version?: string;
  fetchedAt: number;
  /** Upstream's word as of (ms; 0 unknown): registry files and installs lists. */
  upstreamAsOf?: number;
  /** An installs list or its .signed file: which list. They are exported as a pair or not at all. */
  pairOf?: BuildListName;
  /** An installs build: the list it is checked against. */
  buildOf?: BuildListName;
  /** What the index says a tarball is; registry rows may lag their file after a crash, so they are not compared. */
  indexed?: { size: number; sha256: string };
  /** Where the bytes are when not in the cache's blob store (a hosted repository's files): `key` is unused then. */
  open?: () => Promise<StoredBlob | undefined>;
}

type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

interface Planned {
  entry: BundleEntry;
  key: string;
  open?: (() => Promise<StoredBlob | undefined>) | undefined;
}

export async function exportBundle(options: ExportOptions): Promise<ExportSummary> {
  const { blobs, since, log } = options;
  const createdAt = new Date();
  const failed: ExportFailure[] = [];
  const candidates = [
    ...('all' in options.select
      ? allCached(options, options.select.repositories ?? [options.repo])
      : selected(options, options.select.releases, failed)),
    ...(options.installs === false ? [] : cachedInstalls(options)),
    ...(await hostedCandidates(options, failed)),
  ];
  const earlier = since && 'manifest' in since ? new Set(since.manifest.entries.map((entry) => `${entry.path}\n${entry.sha256}`)) : undefined;
  const cutoff = since && 'timeMs' in since ? since.timeMs : undefined;

  let unchanged = 0;
  const planned: (Planned & { candidate: Candidate; unchanged: boolean })[] = [];
  for (const candidate of candidates) {
    if (cutoff !== undefined && candidate.fetchedAt <= cutoff && candidate.pairOf === undefined) {
      unchanged += 1;
      continue;
    }
    const blob = await (candidate.open ? candidate.open() : blobs.open(candidate.key));
    if (!blob) {
      failed.push({
        path: candidate.path,
        reason: candidate.open ? 'its file is missing from the hosted store' : 'is in the cache index but its file is missing',
      });
      continue;
    }
    const { sha256, size } = await digest(blob.stream());
    if (candidate.indexed && (candidate.indexed.sha256 !== sha256 || candidate.indexed.size !== size)) {
      failed.push({
        path: candidate.path,
        reason: `the cached file (SHA-256 ${sha256}, ${size} bytes) does not match its index row (SHA-256 ${candidate.indexed.sha256}, ${candidate.indexed.size} bytes); fetch it again`,
      });
      continue;
    }
    const entry: BundleEntry = {
      path: candidate.path,
      size,
      sha256,
      kind: candidate.kind,
      ...(candidate.name !== undefined && { name: candidate.name }),
      ...(candidate.version !== undefined && { version: candidate.version }),
      ...(candidate.upstreamAsOf !== undefined && candidate.upstreamAsOf > 0 && { upstreamAsOf: new Date(candidate.upstreamAsOf).toISOString() }),
    };
    const sentBefore = earlier?.has(`${candidate.path}\n${sha256}`) === true || (cutoff !== undefined && candidate.fetchedAt <= cutoff);
    planned.push({ entry, key: candidate.key, open: candidate.open, candidate, unchanged: sentBefore });
  }
  const kept = keepHostedTogether(await keepVerifiedPairs(planned, options, failed), failed);
  unchanged += kept.filter((item) => item.unchanged).length;
  const written = kept.filter((item) => !item.unchanged);

  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    createdAt: createdAt.toISOString(),
    upstream: { url: options.upstreamUrl, repository: options.repo },
    ...(since && { since: describeSince(since) }),
    signer: { fingerprint: fingerprintOf(publicKeyPem(options.signingKey)) },
    entries: written.map((item) => item.entry),
  };
  const bundleBytes = await writeBundle(options, manifest, written, createdAt);
  const summary: ExportSummary = {
    file: options.out,
    manifest,
    registryFiles: written.filter((item) => item.entry.kind === 'registry').length,
    tarballs: written.filter((item) => item.entry.kind === 'tarball').length,
    installsFiles: written.filter((item) => item.entry.kind === 'installs').length,
    hostedReleases: written.filter((item) => item.entry.kind === 'hosted' && item.entry.path.includes('/releases/')).length,
    repositories: [...new Set(written.flatMap((item) => (item.candidate.repo === undefined ? [] : [item.candidate.repo])))],
    entryBytes: written.reduce((sum, item) => sum + item.entry.size, 0),
    bundleBytes,
    unchanged,
    failed,
  };
  log?.info(
    {
      file: options.out,
      registryFiles: summary.registryFiles,
      tarballs: summary.tarballs,
      installsFiles: summary.installsFiles,
      hostedReleases: summary.hostedReleases,
      bytes: bundleBytes,
      unchanged,
      failed: failed.length,
    },
    'bundle exported',
  );
  return summary;
}

/** Every cached registry file and tarball of the repositories: registry files first, as the format requires. */
function allCached(options: ExportOptions, repositories: readonly string[]): Candidate[] {
  const { index } = options;
  const rows = index.listRegistryFiles();
  const tarballRows = index.listTarballs();
  const registry = repositories.flatMap((repo) =>
    rows
      .filter((row) => row.repo === repo && parseEntryPath(`registry/${row.path}`)?.kind === 'registry')
      .sort((a, b) => registryOrder(a.path) - registryOrder(b.path) || compare(a.path, b.path))
      .map((row) => registryCandidate(options, repo, row.path, row.fetchedAt, row.upstreamAsOf)),
  );
  const tarballs = repositories.flatMap((repo) =>
    tarballRows
      .filter((row) => row.repo === repo && isValidRelease(row.name, row.version))
      .map((row): Candidate => tarballCandidate(options, repo, row)),
  );
  return [...registry, ...tarballs];
}

/** The releases asked for, their packages' registry files, and each repository's /names and /versions if cached. */
function selected(options: ExportOptions, releases: readonly ReleaseRef[], failed: ExportFailure[]): Candidate[] {
  const { index } = options;
  const tarballs = new Map<string, Candidate>();
  // By repository, in the order first asked for: the public one's files keep their place first.
  const packages = new Map<string, Set<string>>([[options.repo, new Set()]]);
  for (const { repo = options.repo, name, version } of releases) {
    const path = `${prefixOf(options, repo)}tarballs/${name}-${version}.tar`;
    if (!isValidRelease(name, version)) {
      failed.push({ path: `${prefixOf(options, repo)}${name} ${version}`, reason: 'is not a valid package name and version' });
      continue;
    }
    const names = packages.get(repo) ?? new Set<string>();
    names.add(name);
    packages.set(repo, names);
    if (tarballs.has(path)) continue;
    const row = index.findTarball(repo, name, version);
    if (!row) {
      failed.push({ path, reason: `${name} ${version} is not cached; fetch it first (e.g. hexproxy prewarm)` });
      continue;
    }
    tarballs.set(path, tarballCandidate(options, repo, row));
  }
  const registry: Candidate[] = [];
  for (const [repo, names] of packages) {
    if (repo !== options.repo && names.size === 0) continue;
    for (const path of ['names', 'versions']) {
      const row = index.findRegistryFile(repo, path);
      if (row) registry.push(registryCandidate(options, repo, path, row.fetchedAt, row.upstreamAsOf));
    }
    for (const name of [...names].sort(compare)) {
      const path = `packages/${name}`;
      const row = index.findRegistryFile(repo, path);
      if (row) registry.push(registryCandidate(options, repo, path, row.fetchedAt, row.upstreamAsOf));
      else
        failed.push({
          path: `${prefixOf(options, repo)}registry/${path}`,
          reason: `the registry file of ${name} is not cached; an importer without it cannot check ${name}'s tarballs`,
        });
    }
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
    const candidate: Candidate = { path: row.path, key: passthroughKey(row.path), kind: 'installs', fetchedAt: row.fetchedAt };
    if (what.kind === 'build') builds.push({ ...candidate, buildOf: what.list, indexed: { size: row.size, sha256: row.sha256 } });
    else if (what.kind === 'list') lists.push({ ...candidate, pairOf: what.list, upstreamAsOf: row.upstreamAsOf });
    else lists.push({ ...candidate, pairOf: what.list });
  }
  const byPath = (a: Candidate, b: Candidate): number => compare(a.path, b.path);
  return [...lists.sort(byPath), ...builds.sort(byPath)];
}

/** Where a repository's files go in the bundle: the public one's at the top, an organization's under repos/ORG/. */
const prefixOf = (options: ExportOptions, repo: string): string => (repo === options.repo ? '' : `repos/${repo}/`);

function registryCandidate(options: ExportOptions, repo: string, path: string, fetchedAt: number, upstreamAsOf: number): Candidate {
  const name = path.startsWith('packages/') ? path.slice('packages/'.length) : undefined;
  return {
    repo,
    path: `${prefixOf(options, repo)}registry/${path}`,
    key: registryKey(repo, path),
    kind: 'registry',
    ...(name !== undefined && { name }),
    fetchedAt,
    upstreamAsOf,
  };
}

function tarballCandidate(
  options: ExportOptions,
  repo: string,
  row: { name: string; version: string; size: number; sha256: string; fetchedAt: number },
): Candidate {
  return {
    repo,
    path: `${prefixOf(options, repo)}tarballs/${row.name}-${row.version}.tar`,
    key: tarballKey(repo, row.name, row.version),
    kind: 'tarball',
    name: row.name,
    version: row.version,
    fetchedAt: row.fetchedAt,
    indexed: { size: row.size, sha256: row.sha256 },
  };
}

/**
 * Installs lists go as pairs with their .signed files, and only pairs that verify with the
 * builds server's key: an importer refuses anything else. A pair is written whole when
 * either half changed since the earlier bundle or time. A build whose list cannot go is
 * left out too, unless its list is unchanged (the importer has it from the earlier bundle).
 */
async function keepVerifiedPairs<T extends Planned & { candidate: Candidate; unchanged: boolean }>(
  planned: readonly T[],
  options: ExportOptions,
  failed: ExportFailure[],
): Promise<T[]> {
  const halves = new Map<BuildListName, { list?: T; signed?: T }>();
  for (const item of planned) {
    const list = item.candidate.pairOf;
    if (list === undefined) continue;
    const pair = halves.get(list) ?? {};
    if (item.entry.path.endsWith('.signed')) pair.signed = item;
    else pair.list = item;
    halves.set(list, pair);
  }
  const dropped = new Set<T>();
  const droppedLists = new Set<BuildListName>();
  for (const [list, { list: listItem, signed }] of halves) {
    const problem = !listItem
      ? `its list installs/${list} is not cached`
      : !signed
        ? `installs/${list}.signed is not cached`
        : await pairProblem(options, listItem, signed);
    if (problem === undefined && listItem && signed) {
      const changed = !listItem.unchanged || !signed.unchanged;
      listItem.unchanged = !changed;
      signed.unchanged = !changed;
      continue;
    }
    for (const item of [listItem, signed]) {
      if (!item) continue;
      dropped.add(item);
      failed.push({
        path: item.entry.path,
        reason: `cannot go without a .signed file that verifies its list with installs.publicKey (${problem ?? ''}); fetch it again (hexproxy prewarm --installs …)`,
      });
    }
    droppedLists.add(list);
  }
  for (const item of planned) {
    const list = item.candidate.buildOf;
    if (list === undefined || !droppedLists.has(list) || item.unchanged) continue;
    dropped.add(item);
    failed.push({
      path: item.entry.path,
      reason: `its list installs/${list} cannot go (see there), and an importer checks a build against its list`,
    });
  }
  return planned.filter((item) => !dropped.has(item));
}

async function pairProblem(options: ExportOptions, list: Planned, signed: Planned): Promise<string | undefined> {
  const [listBytes, signedBytes] = await Promise.all([options.blobs.read(list.key), options.blobs.read(signed.key)]);
  if (!listBytes || !signedBytes) return 'a file of the pair vanished from the cache';
  return listSignatureProblem(listBytes, signedBytes, options.installsKey);
}

/** The hosted repositories' entries, as candidates: after everything else, their own order kept. */
async function hostedCandidates(options: ExportOptions, failed: ExportFailure[]): Promise<Candidate[]> {
  const { hosted } = options;
  if (!hosted || hosted.repositories.length === 0) return [];
  const releases = hosted.releases && new Set(hosted.releases.map(({ repo = options.repo, name, version }) => `${repo}/${name}/${version}`));
  const { items, failed: missing } = await hostedExportItems(hosted.source, hosted.repositories, releases);
  failed.push(...missing);
  return items.map(({ target, path, changedAt, open }) => ({
    repo: target.repository,
    path,
    key: path,
    kind: 'hosted',
    name: target.name,
    ...(target.what !== 'registry' && { version: target.version }),
    fetchedAt: changedAt,
    open,
  }));
}

/**
 * A hosted release is imported only with its package's registry file and its facts: when
 * --since leaves those out but writes the release's tarball or docs (or its facts), they go
 * too. A release whose facts or tarball could not be read is left out whole.
 */
function keepHostedTogether<T extends Planned & { candidate: Candidate; unchanged: boolean }>(planned: readonly T[], failed: ExportFailure[]): T[] {
  const byPath = new Map(planned.filter((item) => item.entry.kind === 'hosted').map((item) => [item.entry.path, item]));
  if (byPath.size === 0) return [...planned];
  const failedPaths = new Set(failed.map((failure) => failure.path));
  const dropped = new Set<T>();
  for (const [path, item] of byPath) {
    const target = parseEntryPath(path);
    if (target?.kind !== 'hosted' || target.what === 'registry') continue;
    const facts = hostedEntryPath({ ...target, what: 'release' });
    const tarball = hostedEntryPath({ ...target, what: 'tarball' });
    if (failedPaths.has(facts) || failedPaths.has(tarball)) {
      dropped.add(item);
      continue;
    }
    if (item.unchanged) continue;
    const registry = byPath.get(hostedEntryPath({ kind: 'hosted', repository: target.repository, what: 'registry', name: target.name }));
    if (registry) registry.unchanged = false;
    const factsItem = byPath.get(facts);
    if (factsItem) factsItem.unchanged = false;
  }
  return planned.filter((item) => !dropped.has(item));
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
    const signature = signDetached(manifestBytes, options.signingKey);
    await addBuffer(pack, header(MANIFEST_SIGNATURE_PATH, signature.length, mtime), signature);
    for (const [done, { entry, key, open: openEntry }] of planned.entries()) {
      const blob = await (openEntry ? openEntry() : blobs.open(key));
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
