// Air-gap bundles: a cache filled through a real hexproxy from a fake upstream is exported,
// imported into another data directory, and served from there offline; broken, tampered
// and foreign bundles import nothing.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/bundle-error.js';
import { exportBundle, type ExportOptions, type ExportSummary } from '../../src/bundle/export.js';
import { importBundle, type ImportOptions, type ImportSummary } from '../../src/bundle/import.js';
import { readManifest, type BundleManifest } from '../../src/bundle/manifest.js';
import { StorageError, VerificationError } from '../../src/errors.js';
import { decodeSigned } from '../../src/registry/codec.js';
import { openRegistryFile, sealRegistryFile } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import type { CacheIndex } from '../../src/store/cache-index.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import {
  bodyOf,
  manifestEntry,
  manifestOf,
  openStores,
  readBundleEntries,
  replaceEntry,
  sha256Hex,
  storedKeys,
  writeBundleEntries,
  type Stores,
} from '../support/bundle.js';
import { BUILDS_SIGNING_KEY } from '../support/upstreams/fake-builds.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { readHexTarball } from '../support/hex-tarball.js';
import { wrongKeyPair } from '../support/keys.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [
  { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
  { name: 'beta', releases: [{ version: '2.0.0', dependencies: [{ package: 'alpha', requirement: '~> 1.0' }] }] },
  // From before outer checksums: its tarball is checked by the inner checksum.
  { name: 'legacy', releases: [{ version: '0.1.0', omitOuterChecksum: true }] },
];
const releases = [
  ['alpha', '1.0.0'],
  ['alpha', '1.1.0'],
  ['beta', '2.0.0'],
  ['legacy', '0.1.0'],
] as const;
const registryPaths = ['registry/names', 'registry/versions', 'registry/packages/alpha', 'registry/packages/beta', 'registry/packages/legacy'];
const tarballPaths = releases.map(([name, version]) => `tarballs/${name}-${version}.tar`);
const allPaths = [...registryPaths, ...tarballPaths];
const MAX_REGISTRY = 256 * 1024 * 1024;
const MAX_TARBALL = 128 * 1024 * 1024;

const cleanups: (() => Promise<void> | void)[] = [];
/** The public keys of the exporting hexproxies of a test: importers trust them (bundle-trust.test.ts covers the rest). */
const exporterKeys: KeyObject[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  exporterKeys.splice(0);
});

interface Source {
  upstream: FakeUpstream;
  proxy: TestProxy;
  index: CacheIndex;
  blobs: BlobStore;
}

async function fakeUpstream(repository?: string): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ packages, ...(repository && { repository }) });
  cleanups.push(() => upstream.close());
  return upstream;
}

async function proxyOn(upstream: FakeUpstream, dataDir: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> {
  const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir, flags });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A hexproxy that has fetched every registry file and tarball of `packages` from a fake upstream. */
async function filledSource(flags: Record<string, string | boolean> = {}, repository?: string): Promise<Source> {
  const upstream = await fakeUpstream(repository);
  const proxy = await proxyOn(upstream, tempDir(), flags);
  for (const path of ['/names', '/versions', '/packages/alpha', '/packages/beta', '/packages/legacy', ...tarballPaths.map((p) => `/${p}`)]) {
    expect((await proxy.get(path)).status, path).toBe(200);
  }
  const blobs = (await openStores(proxy.dataDir)).blobs;
  exporterKeys.push(createPublicKey(proxy.server.hexproxy.keys.publicKeyPem));
  return { upstream, proxy, index: proxy.server.hexproxy.index, blobs };
}

async function emptyStores(): Promise<Stores & { dataDir: string }> {
  const dataDir = tempDir();
  const stores = await openStores(dataDir);
  cleanups.push(() => stores.index.close());
  return { ...stores, dataDir };
}

function exportFrom(source: Source, out: string, extra: Partial<ExportOptions> = {}): Promise<ExportSummary> {
  return exportBundle({
    out,
    index: source.index,
    blobs: source.blobs,
    repo: source.upstream.repository,
    upstreamUrl: source.upstream.url,
    select: { all: true },
    signingKey: source.proxy.server.hexproxy.keys.privateKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    ...extra,
  });
}

function importInto(stores: Stores, file: string, upstream: FakeUpstream, extra: Partial<ImportOptions> = {}): Promise<ImportSummary> {
  return importBundle({
    file,
    index: stores.index,
    blobs: stores.blobs,
    repo: 'hexpm',
    upstreamKey: upstream.publicKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    trustedKeys: exporterKeys,
    maxRegistryBytes: MAX_REGISTRY,
    maxTarballBytes: MAX_TARBALL,
    skipBad: false,
    pin: false,
    ...extra,
  });
}

/** The body upstream serves for a bundle path: its original signed registry file or the tarball. */
function upstreamBytes(upstream: FakeUpstream, path: string): Buffer {
  const body = upstream.body(`/${path.replace(/^registry\//, '')}`);
  if (!body) throw new Error(`upstream has no ${path}`);
  return body;
}

async function importFails(stores: Stores, file: string, upstream: FakeUpstream, extra: Partial<ImportOptions> = {}): Promise<BundleError> {
  const error = await importInto(stores, file, upstream, extra).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BundleError);
  expect(error).toBeInstanceOf(VerificationError);
  return error as BundleError;
}

/** Nothing in the index, no file in the store, nothing left staged. */
async function expectNothingImported(stores: Stores & { dataDir: string }): Promise<void> {
  expect(stores.index.listTarballs()).toEqual([]);
  expect(stores.index.listRegistryFiles()).toEqual([]);
  expect(await storedKeys(stores.blobs)).toEqual([]);
  expect(await readdir(join(stores.dataDir, '.tmp'))).toEqual([]);
}

const flip = (bytes: Buffer, at: number): void => {
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
};

const payloadOf = (body: Buffer): Buffer => decodeSigned(gunzipSync(body)).payload;

describe('export all, import, serve offline', () => {
  it('carries every cached file byte for byte, and the imported cache serves offline', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const out = join(tempDir(), 'all.tar');
    const summary = await exportFrom(source, out);

    expect(summary.failed).toEqual([]);
    expect(summary.unchanged).toBe(0);
    expect(summary.registryFiles).toBe(5);
    expect(summary.tarballs).toBe(4);
    expect(summary.manifest).toMatchObject({
      format: 'hexproxy-bundle',
      formatVersion: 2,
      upstream: { url: upstream.url, repository: 'hexpm' },
      signer: { fingerprint: source.proxy.server.hexproxy.keys.fingerprint },
    });
    expect(summary.manifest.since).toBeUndefined();
    expect(summary.manifest.entries.map((entry) => entry.path)).toEqual(allPaths);
    expect(summary.manifest.entries.find((entry) => entry.path === 'tarballs/beta-2.0.0.tar')).toMatchObject({
      kind: 'tarball',
      name: 'beta',
      version: '2.0.0',
      sha256: upstream.tarball('beta', '2.0.0').outerChecksum.toString('hex'),
    });
    expect(summary.manifest.entries.find((entry) => entry.path === 'registry/packages/beta')).toMatchObject({ kind: 'registry', name: 'beta' });
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect((await stat(out)).size).toBe(summary.bundleBytes);

    // The tar: the manifest and its signature first, then the upstream's original bytes, in manifest order.
    const entries = await readBundleEntries(out);
    expect(entries.map((entry) => entry.name)).toEqual(['manifest.json', 'manifest.sig', ...allPaths]);
    expect(manifestOf(entries)).toEqual(summary.manifest);
    expect(await readManifest(out)).toEqual(summary.manifest);
    for (const [i, entry] of bodyOf(entries).entries()) {
      expect(entry.data.equals(upstreamBytes(upstream, entry.name)), entry.name).toBe(true);
      expect(summary.manifest.entries[i]).toMatchObject({ size: entry.data.length, sha256: sha256Hex(entry.data) });
    }
    expect(summary.entryBytes).toBe(bodyOf(entries).reduce((sum, entry) => sum + entry.data.length, 0));

    const target = await emptyStores();
    const before = Date.now();
    const result = await importInto(target, out, upstream, { pin: true });
    expect(result.refused).toEqual([]);
    expect(result.alreadyPresent).toEqual([]);
    expect(result.keptCached).toEqual([]);
    expect(result.imported).toEqual(allPaths.map((path) => ({ path, kind: path.startsWith('registry/') ? 'registry' : 'tarball', replaced: false })));

    const tarballs = target.index.listTarballs();
    expect(tarballs.map((row) => [row.name, row.version])).toEqual(releases.map(([name, version]) => [name, version]));
    for (const row of tarballs) {
      const built = upstream.tarball(row.name, row.version);
      expect(row).toMatchObject({ repo: 'hexpm', size: built.tar.length, sha256: built.outerChecksum.toString('hex'), pinned: true, hits: 0 });
      expect(row.fetchedAt).toBeGreaterThanOrEqual(before);
      expect((await target.blobs.read(`tarballs/hexpm/${row.name}/${row.name}-${row.version}.tar`))?.equals(built.tar)).toBe(true);
    }
    const registry = target.index.listRegistryFiles();
    expect(registry.map((row) => row.path).sort()).toEqual(registryPaths.map((path) => path.slice('registry/'.length)).sort());
    for (const row of registry) {
      const body = upstreamBytes(upstream, `registry/${row.path}`);
      expect(row).toMatchObject({ repo: 'hexpm', upstreamEtag: null, checkedAt: 0, size: body.length, sha256: sha256Hex(body) });
      expect((await target.blobs.read(`registry/hexpm/${row.path}`))?.equals(body)).toBe(true);
    }
    target.index.close();

    // A hexproxy on the imported directory, offline, serves all of it without asking upstream.
    const hitsBefore = upstream.totalHits();
    const offline = await proxyOn(upstream, target.dataDir, { offline: true });
    for (const [name, version] of releases) {
      const response = await offline.get(`/tarballs/${name}-${version}.tar`);
      expect(response.status).toBe(200);
      expect(response.body.equals(upstream.tarball(name, version).tar)).toBe(true);
    }
    const ownKey = createPublicKey(offline.server.hexproxy.keys.publicKeyPem);
    const resources: [string, RegistryResource][] = [
      ['/names', { kind: 'names' }],
      ['/versions', { kind: 'versions' }],
      ['/packages/alpha', { kind: 'package', name: 'alpha' }],
      ['/packages/legacy', { kind: 'package', name: 'legacy' }],
    ];
    for (const [path, resource] of resources) {
      const response = await offline.get(path);
      expect(response.status, path).toBe(200);
      // Re-signed with the importing hexproxy's key, around upstream's payload bytes.
      const opened = await openRegistryFile(response.body, resource, { publicKey: ownKey, repository: 'hexpm', maxBytes: MAX_REGISTRY });
      expect(opened.payload.equals(payloadOf(upstreamBytes(upstream, `registry${path}`))), path).toBe(true);
    }
    expect((await offline.get('/tarballs/alpha-9.9.9.tar')).status).toBe(504);
    expect(upstream.totalHits()).toBe(hitsBefore);
  });

  it('lists what it cannot export and exports the rest', async () => {
    const source = await filledSource();
    await source.blobs.delete('tarballs/hexpm/alpha/alpha-1.0.0.tar');
    const summary = await exportFrom(source, join(tempDir(), 'all.tar'));
    expect(summary.failed).toEqual([{ path: 'tarballs/alpha-1.0.0.tar', reason: expect.stringMatching(/file is missing/) as unknown }]);
    expect(summary.manifest.entries.map((entry) => entry.path)).toEqual(allPaths.filter((path) => path !== 'tarballs/alpha-1.0.0.tar'));
  });
});

describe('an interrupted export', () => {
  it('leaves neither the bundle nor its .partial file', async () => {
    const source = await filledSource();
    const dir = tempDir();
    const out = join(dir, 'all.tar');
    // The second read of a tarball (the copy into the bundle, after hashing) fails half-way.
    const reads = new Map<string, number>();
    // Everything else is the real store.
    const failing = Object.create(source.blobs) as BlobStore;
    failing.open = async (key) => {
      const blob = await source.blobs.open(key);
      const count = (reads.get(key) ?? 0) + 1;
      reads.set(key, count);
      if (!blob || key !== 'tarballs/hexpm/beta/beta-2.0.0.tar' || count < 2) return blob;
      const bytes = await readFile(blob.filePath ?? '');
      return {
        size: blob.size,
        stream: () =>
          Readable.from(
            (async function* () {
              yield bytes.subarray(0, 1000);
              throw new Error('disk read error');
            })(),
          ),
      };
    };
    await expect(exportFrom({ ...source, blobs: failing }, out)).rejects.toThrow(StorageError);
    expect(await readdir(dir)).toEqual([]);
    expect(reads.get('tarballs/hexpm/beta/beta-2.0.0.tar')).toBe(2);
  });
});

describe('export of a selection', () => {
  it('holds the releases asked for, their packages, /names and /versions; lists what is not cached', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'some.tar');
    const summary = await exportFrom(source, out, {
      select: {
        releases: [
          { name: 'beta', version: '2.0.0' },
          { name: 'alpha', version: '1.1.0' },
          { name: 'alpha', version: '1.1.0' },
          { name: 'alpha', version: '9.9.9' },
          { name: 'Bad-Name', version: '1' },
        ],
      },
    });
    const paths = [
      'registry/names',
      'registry/versions',
      'registry/packages/alpha',
      'registry/packages/beta',
      'tarballs/alpha-1.1.0.tar',
      'tarballs/beta-2.0.0.tar',
    ];
    expect(summary.manifest.entries.map((entry) => entry.path)).toEqual(paths);
    expect(summary.failed).toEqual([
      { path: 'tarballs/alpha-9.9.9.tar', reason: expect.stringMatching(/alpha 9\.9\.9 is not cached/) as unknown },
      { path: 'Bad-Name 1', reason: expect.stringMatching(/not a valid package name/) as unknown },
    ]);
    expect((await readBundleEntries(out)).map((entry) => entry.name)).toEqual(['manifest.json', 'manifest.sig', ...paths]);

    const target = await emptyStores();
    const result = await importInto(target, out, source.upstream);
    expect(result.imported.map((entry) => entry.path)).toEqual(paths);
    expect(target.index.listTarballs().map((row) => [row.name, row.version, row.pinned])).toEqual([
      ['alpha', '1.1.0', false],
      ['beta', '2.0.0', false],
    ]);
    expect(target.index.listRegistryFiles().map((row) => row.path)).toEqual(['names', 'packages/alpha', 'packages/beta', 'versions']);
  });
});

describe('incremental bundles', () => {
  it('hold only what changed since the previous bundle, import on top, and never downgrade', async () => {
    const source = await filledSource({ 'registry-ttl-seconds': '0' });
    const { upstream } = source;
    const dir = tempDir();
    const first = join(dir, 'first.tar');
    const firstSummary = await exportFrom(source, first);
    const target = await emptyStores();
    await importInto(target, first, upstream);
    const cutoff = Date.now();

    await upstream.publish('alpha', { version: '1.2.0', publishedAt: new Date('2025-06-01T00:00:00Z') });
    for (const path of ['/names', '/versions', '/packages/alpha', '/packages/beta', '/tarballs/alpha-1.2.0.tar']) {
      expect((await source.proxy.get(path)).status, path).toBe(200);
    }

    const second = join(dir, 'second.tar');
    const summary = await exportFrom(source, second, { since: { manifest: await readManifest(first) } });
    const changed = ['registry/names', 'registry/versions', 'registry/packages/alpha', 'tarballs/alpha-1.2.0.tar'];
    expect(summary.manifest.entries.map((entry) => entry.path)).toEqual(changed);
    expect(summary.manifest.since).toEqual({ bundleCreatedAt: firstSummary.manifest.createdAt });
    // Everything cached but the four changed entries (alpha-1.2.0 is new, the rest changed).
    expect(summary.unchanged).toBe(allPaths.length + 1 - changed.length);
    for (const entry of bodyOf(await readBundleEntries(second))) {
      expect(entry.data.equals(upstreamBytes(upstream, entry.name)), entry.name).toBe(true);
    }

    // By time: what was fetched after the first bundle, the same four.
    const byTime = await exportFrom(source, join(dir, 'by-time.tar'), { since: { timeMs: cutoff } });
    expect(byTime.manifest.entries.map((entry) => entry.path)).toEqual(changed);
    expect(byTime.manifest.since).toEqual({ fetchedAfter: new Date(cutoff).toISOString() });

    const result = await importInto(target, second, upstream);
    expect(result.refused).toEqual([]);
    expect(result.imported).toEqual([
      { path: 'registry/names', kind: 'registry', replaced: true },
      { path: 'registry/versions', kind: 'registry', replaced: true },
      { path: 'registry/packages/alpha', kind: 'registry', replaced: true },
      { path: 'tarballs/alpha-1.2.0.tar', kind: 'tarball', replaced: false },
    ]);
    expect(target.index.listTarballs()).toHaveLength(5);
    const newAlpha = upstreamBytes(upstream, 'registry/packages/alpha');
    expect(target.index.findRegistryFile('hexpm', 'packages/alpha')?.sha256).toBe(sha256Hex(newAlpha));
    expect((await target.blobs.read('registry/hexpm/packages/alpha'))?.equals(newAlpha)).toBe(true);
    expect((await target.blobs.read('tarballs/hexpm/alpha/alpha-1.2.0.tar'))?.equals(upstream.tarball('alpha', '1.2.0').tar)).toBe(true);

    // The first bundle again: its registry files are older than the cached ones, and are kept out.
    const again = await importInto(target, first, upstream);
    expect(again.refused).toEqual([]);
    expect(again.imported).toEqual([]);
    expect(again.keptCached.map((entry) => entry.path)).toEqual(['registry/names', 'registry/versions', 'registry/packages/alpha']);
    expect(again.alreadyPresent).toEqual(allPaths.filter((path) => !again.keptCached.some((entry) => entry.path === path)));
    expect((await target.blobs.read('registry/hexpm/packages/alpha'))?.equals(newAlpha)).toBe(true);
    expect(target.index.findRegistryFile('hexpm', 'packages/alpha')?.sha256).toBe(sha256Hex(newAlpha));
  });

  it('checks a tarball against the cached /packages/NAME when the bundle has none', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const dir = tempDir();
    const all = join(dir, 'all.tar');
    await exportFrom(source, all);
    const target = await emptyStores();
    // Only the registry files arrive first.
    const entries = await readBundleEntries(all);
    const manifest = manifestOf(entries);
    const registryOnly = join(dir, 'registry-only.tar');
    await writeBundleEntries(registryOnly, [
      manifestEntry({ ...manifest, entries: manifest.entries.filter((entry) => entry.kind === 'registry') }),
      ...bodyOf(entries).filter((entry) => entry.name.startsWith('registry/')),
    ]);
    await importInto(target, registryOnly, upstream);
    // Then a bundle of tarballs alone.
    const tarballsOnly = join(dir, 'tarballs-only.tar');
    await writeBundleEntries(tarballsOnly, [
      manifestEntry({ ...manifest, entries: manifest.entries.filter((entry) => entry.kind === 'tarball') }),
      ...bodyOf(entries).filter((entry) => entry.name.startsWith('tarballs/')),
    ]);
    const result = await importInto(target, tarballsOnly, upstream);
    expect(result.imported.map((entry) => entry.path)).toEqual(tarballPaths);
    expect(target.index.listTarballs()).toHaveLength(4);

    // Into a cache that has no /packages/NAME at all, the same bundle cannot be checked.
    const empty = await emptyStores();
    const error = await importFails(empty, tarballsOnly, upstream);
    expect(error.message).toMatch(/tarballs\/alpha-1\.0\.0\.tar: the bundle has no registry\/packages\/alpha and none is cached/);
    expect(error.refused.map((entry) => entry.path)).toEqual(tarballPaths);
    await expectNothingImported(empty);
  });
});

describe('bundles that do not check out import nothing', () => {
  it('a truncated bundle: the error names the missing entries', async () => {
    const source = await filledSource();
    const dir = tempDir();
    const out = join(dir, 'all.tar');
    await exportFrom(source, out);
    const bytes = await readFile(out);
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));

    const target = await emptyStores();
    const error = await importFails(target, cut, source.upstream);
    expect(error.message).toContain('\n  tarballs/legacy-0.1.0.tar: is listed in the manifest but missing from the bundle');
    expect(error.message).toMatch(/^bundle .*cut\.tar was not imported: /);
    const refused = error.refused.map((entry) => entry.path);
    expect(refused.at(-1)).toBe('tarballs/legacy-0.1.0.tar');
    expect(refused.length).toBeGreaterThanOrEqual(2);
    // Whatever was read before the cut was fine, and is not imported either.
    expect(refused).not.toContain('registry/names');
    await expectNothingImported(target);

    // Cut inside a tarball: that entry is cut short, the one after it is missing.
    const tarball = source.upstream.tarball('beta', '2.0.0').tar;
    const inside = join(dir, 'inside.tar');
    await writeFile(inside, bytes.subarray(0, bytes.indexOf(tarball) + 1000));
    const insideError = await importFails(target, inside, source.upstream);
    expect(insideError.refused).toEqual([
      { path: 'tarballs/beta-2.0.0.tar', reason: expect.stringMatching(/^the bundle ends or is corrupt inside this entry/) as unknown },
      { path: 'tarballs/legacy-0.1.0.tar', reason: 'is listed in the manifest but missing from the bundle; the bundle may be cut short' },
    ]);
    expect(insideError.message).toMatch(
      /was not imported: tarballs\/beta-2\.0\.0\.tar: the bundle ends or is corrupt inside this entry .*\n2 bad entries:\n {2}tarballs\/beta-2\.0\.0\.tar: .*\n {2}tarballs\/legacy-0\.1\.0\.tar: is listed/,
    );
    await expectNothingImported(target);

    // Cut at an entry boundary (the manifest, its signature and three files): no tar error at all, only missing entries.
    const entries = await readBundleEntries(out);
    const boundary = join(dir, 'boundary.tar');
    await writeBundleEntries(boundary, entries.slice(0, 5));
    const atBoundary = await importFails(target, boundary, source.upstream);
    expect(atBoundary.refused.map((entry) => entry.path)).toEqual(allPaths.slice(3));
    expect(atBoundary.message).toMatch(/was not imported: registry\/packages\/beta: is listed in the manifest but missing/);
    await expectNothingImported(target);
  });

  it('a tarball with a changed byte: the error names it and the checksum', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const dir = tempDir();
    const out = join(dir, 'all.tar');
    await exportFrom(source, out);
    const bytes = await readFile(out);
    const tarball = upstream.tarball('beta', '2.0.0').tar;
    const at = bytes.indexOf(tarball);
    expect(at).toBeGreaterThan(0);
    flip(bytes, at + Math.floor(tarball.length / 2));
    const tampered = join(dir, 'tampered.tar');
    await writeFile(tampered, bytes);

    const target = await emptyStores();
    const error = await importFails(target, tampered, upstream);
    const outer = upstream.tarball('beta', '2.0.0').outerChecksum.toString('hex');
    expect(error.message).toMatch(
      new RegExp(`was not imported: tarballs/beta-2\\.0\\.0\\.tar: has SHA-256 [0-9a-f]{64}; the manifest says ${outer}`),
    );
    expect(error.refused).toEqual([{ path: 'tarballs/beta-2.0.0.tar', reason: expect.stringContaining(outer) as unknown }]);
    await expectNothingImported(target);

    // The manifest changed to match: the signed registry still says what the tarball must be.
    const changed = Buffer.from(tarball);
    flip(changed, Math.floor(changed.length / 2));
    const forged = join(dir, 'forged.tar');
    await writeBundleEntries(forged, replaceEntry(await readBundleEntries(out), 'tarballs/beta-2.0.0.tar', changed));
    const forgedError = await importFails(target, forged, upstream);
    expect(forgedError.message).toContain(
      `tarballs/beta-2.0.0.tar: does not match registry/packages/beta: expected outer SHA-256 ${outer}, got ${sha256Hex(changed)}`,
    );
    await expectNothingImported(target);

    // The same for a release checked by its inner checksum.
    const legacy = Buffer.from(upstream.tarball('legacy', '0.1.0').tar);
    const contents = (await readHexTarball(legacy)).contents;
    flip(legacy, legacy.indexOf(contents) + Math.floor(contents.length / 2));
    const forgedLegacy = join(dir, 'forged-legacy.tar');
    await writeBundleEntries(forgedLegacy, replaceEntry(await readBundleEntries(out), 'tarballs/legacy-0.1.0.tar', legacy));
    const legacyError = await importFails(target, forgedLegacy, upstream);
    const inner = upstream.tarball('legacy', '0.1.0').innerChecksum.toString('hex');
    expect(legacyError.message).toContain(`tarballs/legacy-0.1.0.tar: does not match registry/packages/legacy: expected inner SHA-256 ${inner}`);
    await expectNothingImported(target);
  });

  it('a registry file signed with another key; with skipBad the rest is imported and the refused listed', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const dir = tempDir();
    const out = join(dir, 'all.tar');
    await exportFrom(source, out);
    const resigned = await sealRegistryFile(payloadOf(upstreamBytes(upstream, 'registry/packages/alpha')), wrongKeyPair().privateKey);
    const tampered = join(dir, 'resigned.tar');
    await writeBundleEntries(tampered, replaceEntry(await readBundleEntries(out), 'registry/packages/alpha', resigned));

    const target = await emptyStores();
    const error = await importFails(target, tampered, upstream);
    expect(error.message).toMatch(/was not imported: registry\/packages\/alpha: does not verify with the upstream key: .*bad signature/);
    expect(error.refused.map((entry) => entry.path)).toEqual(['registry/packages/alpha', 'tarballs/alpha-1.0.0.tar', 'tarballs/alpha-1.1.0.tar']);
    expect(error.refused[1]?.reason).toMatch(/its registry file registry\/packages\/alpha was refused/);
    await expectNothingImported(target);

    const result = await importInto(target, tampered, upstream, { skipBad: true });
    expect(result.refused.map((entry) => entry.path)).toEqual(['registry/packages/alpha', 'tarballs/alpha-1.0.0.tar', 'tarballs/alpha-1.1.0.tar']);
    const good = allPaths.filter((path) => !path.includes('alpha'));
    expect(result.imported.map((entry) => entry.path)).toEqual(good);
    expect(target.index.listTarballs().map((row) => row.name)).toEqual(['beta', 'legacy']);
    expect(target.index.listRegistryFiles().map((row) => row.path)).toEqual(['names', 'packages/beta', 'packages/legacy', 'versions']);
    expect(await target.blobs.has('registry/hexpm/packages/alpha')).toBe(false);
    expect(await target.blobs.has('tarballs/hexpm/alpha/alpha-1.0.0.tar')).toBe(false);
    expect(await readdir(join(target.dataDir, '.tmp'))).toEqual([]);
  });

  it('a bundle for another repository', async () => {
    const source = await filledSource({ 'upstream-repository': 'acme' }, 'acme');
    const dir = tempDir();
    const out = join(dir, 'acme.tar');
    const summary = await exportFrom(source, out);
    expect(summary.manifest.upstream.repository).toBe('acme');
    expect(summary.manifest.entries).toHaveLength(allPaths.length);

    const target = await emptyStores();
    const error = await importFails(target, out, source.upstream, { skipBad: true });
    expect(error.message).toMatch(/manifest\.json: is for repository "acme" .*this hexproxy mirrors "hexpm"/);
    await expectNothingImported(target);

    // Relabelled as hexpm, its payloads still name acme.
    const entries = await readBundleEntries(out);
    const manifest = manifestOf(entries);
    const relabelled = join(dir, 'relabelled.tar');
    await writeBundleEntries(relabelled, [
      manifestEntry({ ...manifest, upstream: { ...manifest.upstream, repository: 'hexpm' } }),
      ...bodyOf(entries),
    ]);
    const relabelledError = await importFails(target, relabelled, source.upstream);
    expect(relabelledError.message).toMatch(/registry\/names: does not verify with the upstream key: .*names repository "acme", expected "hexpm"/);
    expect(relabelledError.refused).toHaveLength(allPaths.length);
    await expectNothingImported(target);
  });

  it('paths that are not bundle paths, entries not in the manifest, duplicates', async () => {
    const source = await filledSource();
    const dir = tempDir();
    const out = join(dir, 'all.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const manifest = manifestOf(entries);
    const evil = Buffer.from('not a tarball\n');
    const evilEntry = { path: 'tarballs/../../x', size: evil.length, sha256: sha256Hex(evil), kind: 'tarball' as const, name: 'x', version: '1.0.0' };
    const doubled = entries.find((entry) => entry.name === 'tarballs/legacy-0.1.0.tar');
    const doubledEntry = manifest.entries.find((entry) => entry.path === 'tarballs/legacy-0.1.0.tar');
    if (!doubled || !doubledEntry) throw new Error('the bundle lacks legacy');
    const handMade: BundleManifest = { ...manifest, entries: [...manifest.entries, evilEntry, doubledEntry] };
    const file = join(dir, 'evil.tar');
    await writeBundleEntries(file, [
      manifestEntry(handMade),
      ...bodyOf(entries),
      { name: 'tarballs/../../x', data: evil },
      doubled,
      { name: '../escape.tar', data: evil },
      { name: 'tarballs/alpha-1.0.0.tar', data: evil },
    ]);

    const target = await emptyStores();
    const error = await importFails(target, file, source.upstream);
    expect(error.refused).toEqual([
      { path: 'tarballs/legacy-0.1.0.tar', reason: 'is listed more than once in the manifest' },
      { path: 'tarballs/../../x', reason: expect.stringMatching(/^is not a bundle path/) as unknown },
      { path: '../escape.tar', reason: 'is in the bundle but not listed in the manifest' },
      { path: 'tarballs/alpha-1.0.0.tar', reason: 'appears more than once in the bundle' },
    ]);
    await expectNothingImported(target);

    const result = await importInto(target, file, source.upstream, { skipBad: true });
    expect(result.refused.map((entry) => entry.path)).toEqual([
      'tarballs/legacy-0.1.0.tar',
      'tarballs/../../x',
      '../escape.tar',
      'tarballs/alpha-1.0.0.tar',
    ]);
    expect(result.imported.map((entry) => entry.path)).toEqual(
      allPaths.filter((path) => path !== 'tarballs/legacy-0.1.0.tar' && path !== 'tarballs/alpha-1.0.0.tar'),
    );
    expect(existsSync(join(target.dataDir, '..', 'x'))).toBe(false);
    expect(existsSync(join(target.dataDir, 'x'))).toBe(false);
    expect(existsSync(join(target.dataDir, '..', 'escape.tar'))).toBe(false);
    expect(await storedKeys(target.blobs)).toEqual([
      'registry/hexpm/names',
      'registry/hexpm/packages/alpha',
      'registry/hexpm/packages/beta',
      'registry/hexpm/packages/legacy',
      'registry/hexpm/versions',
      'tarballs/hexpm/alpha/alpha-1.1.0.tar',
      'tarballs/hexpm/beta/beta-2.0.0.tar',
    ]);
  });

  it('files that are not bundles, and bundles of another format version', async () => {
    const source = await filledSource();
    const dir = tempDir();
    const target = await emptyStores();
    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, Buffer.alloc(2048, 0x41));
    expect((await importFails(target, notTar, source.upstream)).message).toMatch(/manifest\.json: cannot be read; the file is not a tar archive/);
    await expect(readManifest(notTar)).rejects.toThrow(BundleError);
    await expect(readManifest(join(dir, 'absent.tar'))).rejects.toThrow(/ENOENT/);
    await expect(importInto(target, join(dir, 'absent.tar'), source.upstream)).rejects.toThrow(/ENOENT/);
    const noManifest = join(dir, 'no-manifest.tar');
    await writeBundleEntries(noManifest, [{ name: 'tarballs/alpha-1.0.0.tar', data: source.upstream.tarball('alpha', '1.0.0').tar }]);
    expect((await importFails(target, noManifest, source.upstream)).message).toMatch(
      /manifest\.json: is missing; the first entry is "tarballs\/alpha-1\.0\.0\.tar"/,
    );
    const out = join(dir, 'all.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const future = join(dir, 'future.tar');
    await writeBundleEntries(future, [
      { name: 'manifest.json', data: Buffer.from(JSON.stringify({ ...manifestOf(entries), formatVersion: 3 })) },
      ...entries.slice(1),
    ]);
    expect((await importFails(target, future, source.upstream)).message).toMatch(
      /manifest\.json: has format version 3; this hexproxy reads versions 1 and 2; import it with a newer hexproxy/,
    );
    await expect(readManifest(future)).rejects.toThrow(/format version 3/);
    await expectNothingImported(target);
  });
});

describe('importing twice', () => {
  it('is harmless: the second time everything is already present and nothing is rewritten', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'all.tar');
    await exportFrom(source, out);
    const target = await emptyStores();
    await importInto(target, out, source.upstream);
    const files = async (): Promise<Map<string, string>> => {
      const seen = new Map<string, string>();
      for (const key of await storedKeys(target.blobs)) {
        const info = await stat(target.blobs.pathOf(key));
        seen.set(key, `${info.ino} ${info.mtimeMs} ${info.size}`);
      }
      return seen;
    };
    const filesBefore = await files();
    const tarballsBefore = target.index.listTarballs();
    const registryBefore = target.index.listRegistryFiles();
    expect(filesBefore.size).toBe(allPaths.length);

    const again = await importInto(target, out, source.upstream);
    expect(again).toMatchObject({ imported: [], keptCached: [], refused: [], pinned: [], alreadyPresent: allPaths });
    expect(await files()).toEqual(filesBefore);
    expect(target.index.listTarballs()).toEqual(tarballsBefore);
    expect(target.index.listRegistryFiles()).toEqual(registryBefore);

    // A third time with pin: only the pins change.
    const pinned = await importInto(target, out, source.upstream, { pin: true });
    expect(pinned.imported).toEqual([]);
    expect(pinned.pinned).toEqual(tarballPaths);
    expect(target.index.listTarballs()).toEqual(tarballsBefore.map((row) => ({ ...row, pinned: true })));
    expect(await files()).toEqual(filesBefore);
  });
});
