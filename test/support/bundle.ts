// Helpers for the bundle tests: open a data directory's stores the way the CLI does, and
// take a bundle apart and put it back together (in order, duplicates kept) to tamper with it.
// A bundle put together with a new manifest is unsigned (format version 1): tampering with a
// signed one is refused at its signature (test/integration/bundle-trust.test.ts), and these
// helpers serve the tests of the checks behind it.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import type { BundleManifest } from '../../src/bundle/manifest.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { packTar, type TarEntry } from './tar.js';

export interface Stores {
  index: CacheIndex;
  blobs: FsBlobStore;
}

/** The index and blob store of a data directory, as `hexproxy import` opens them. */
export async function openStores(dataDir: string): Promise<Stores> {
  return { index: new CacheIndex(join(dataDir, 'hexproxy.db')), blobs: await FsBlobStore.create(dataDir) };
}

/** The keys of every cached file (registry files and tarballs), sorted. */
export async function storedKeys(blobs: FsBlobStore): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of ['registry', 'tarballs']) for await (const key of blobs.list(prefix)) keys.push(key);
  return keys.sort();
}

/** Every entry of a tar, in archive order, duplicates included. */
export async function readBundleEntries(file: string): Promise<TarEntry[]> {
  const extract = tarStream.extract();
  extract.end(await readFile(file));
  const entries: TarEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(Buffer.from(chunk as Uint8Array));
    entries.push({ name: entry.header.name, data: Buffer.concat(chunks) });
  }
  return entries;
}

export async function writeBundleEntries(file: string, entries: readonly TarEntry[]): Promise<void> {
  await writeFile(file, await packTar(entries));
}

export function manifestOf(entries: readonly TarEntry[]): BundleManifest {
  const first = entries[0];
  if (first?.name !== 'manifest.json') throw new Error('the bundle does not start with manifest.json');
  return JSON.parse(first.data.toString('utf8')) as BundleManifest;
}

/** manifest.json of an unsigned (format version 1) bundle with the manifest's entries. */
export function manifestEntry(manifest: BundleManifest): TarEntry {
  const { signer: _signer, ...rest } = manifest;
  const unsigned = { ...rest, formatVersion: 1, entries: manifest.entries.map(({ upstreamAsOf: _asOf, ...entry }) => entry) };
  return { name: 'manifest.json', data: Buffer.from(JSON.stringify(unsigned)) };
}

/** The entries after manifest.json (and manifest.sig, if signed). */
export const bodyOf = (entries: readonly TarEntry[]): TarEntry[] => entries.slice(entries[1]?.name === 'manifest.sig' ? 2 : 1);

export const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * The bundle with one entry's bytes replaced, and (unless `keepManifest`) the manifest's
 * size and SHA-256 updated to match (unsigned, then), so that only deeper checks can catch the change.
 */
export function replaceEntry(entries: readonly TarEntry[], path: string, data: Buffer, keepManifest = false): TarEntry[] {
  const replaced = entries.map((entry) => (entry.name === path ? { name: path, data } : entry));
  if (keepManifest) return replaced;
  const manifest = manifestOf(entries);
  manifest.entries = manifest.entries.map((entry) => (entry.path === path ? { ...entry, size: data.length, sha256: sha256Hex(data) } : entry));
  return [manifestEntry(manifest), ...bodyOf(replaced)];
}
