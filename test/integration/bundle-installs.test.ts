// Air-gap bundles carry the cached /installs files: a hexproxy that fetched build lists and
// builds from a fake builds server exports them, an empty data directory imports them, and
// an offline hexproxy on it serves them byte for byte; a tampered build imports nothing.
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/bundle-error.js';
import { exportBundle, type ExportOptions, type ExportSummary } from '../../src/bundle/export.js';
import { importBundle, type ImportOptions, type ImportSummary } from '../../src/bundle/import.js';
import {
  bodyOf,
  manifestEntry,
  manifestOf,
  openStores,
  readBundleEntries,
  replaceEntry,
  writeBundleEntries,
  type Stores,
} from '../support/bundle.js';
import { BUILDS_SIGNING_KEY, signedFileFor, startFakeBuilds, type FakeBuilds } from '../support/upstreams/fake-builds.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { wrongKeyPair } from '../support/keys.js';
import { flipMiddleByte } from '../support/upstreams/misbehaviour.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// rebar.csv and its .signed are cached because the rebar3 build needed the list (a list is always fetched with its .signed).
const INSTALLS = [
  'hex-1.x.csv',
  'hex-1.x.csv.signed',
  'hex.csv',
  'hex.csv.signed',
  'rebar.csv',
  'rebar.csv.signed',
  '1.15.0/hex-2.1.1.ez',
  '1.18.4/hex-2.2.1-otp-27.ez',
  '1.18.4/rebar3-3.24.0-otp-27',
];
const FETCHED_WITH_BUILD = new Set(['rebar.csv', 'rebar.csv.signed']);
const BUILD = '1.18.4/hex-2.2.1-otp-27.ez';

interface Source {
  upstream: FakeUpstream;
  builds: FakeBuilds;
  proxy: TestProxy;
}

async function filledSource(flags: Record<string, string> = {}): Promise<Source> {
  const upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  cleanups.push(() => upstream.close());
  const builds = await startFakeBuilds();
  cleanups.push(() => builds.close());
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir: tempDir(),
    flags: { 'installs-url': builds.url, ...flags },
  });
  cleanups.push(() => proxy.close());
  for (const path of [
    '/names',
    '/versions',
    '/packages/alpha',
    '/tarballs/alpha-1.0.0.tar',
    ...INSTALLS.filter((p) => !FETCHED_WITH_BUILD.has(p)).map((p) => `/installs/${p}`),
  ]) {
    expect((await proxy.get(path)).status, path).toBe(200);
  }
  return { upstream, builds, proxy };
}

async function exportFrom(source: Source, out: string, extra: Partial<ExportOptions> = {}): Promise<ExportSummary> {
  const { blobs } = await openStores(source.proxy.dataDir);
  const { hexproxy } = source.proxy.server;
  return exportBundle({
    out,
    index: hexproxy.index,
    blobs,
    repo: source.upstream.repository,
    upstreamUrl: source.upstream.url,
    select: { all: true },
    signingKey: hexproxy.keys.privateKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    ...extra,
  });
}

async function emptyStores(): Promise<Stores & { dataDir: string }> {
  const dataDir = tempDir();
  const stores = await openStores(dataDir);
  cleanups.push(() => stores.index.close());
  return { ...stores, dataDir };
}

function importInto(stores: Stores, file: string, upstream: FakeUpstream, extra: Partial<ImportOptions> = {}): Promise<ImportSummary> {
  return importBundle({
    file,
    index: stores.index,
    blobs: stores.blobs,
    repo: 'hexpm',
    upstreamKey: upstream.publicKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    trustedKeys: [],
    maxRegistryBytes: 256 * 1024 * 1024,
    maxTarballBytes: 128 * 1024 * 1024,
    skipBad: false,
    pin: false,
    ...extra,
  });
}

async function storedInstalls(dataDir: string): Promise<string[]> {
  const entries = await readdir(join(dataDir, 'passthrough'), { recursive: true }).catch(() => [] as string[]);
  return entries.filter((entry) => entry.includes('.') || entry.includes('rebar3-')).sort();
}

describe('installs files in bundles', () => {
  it('exports every cached installs file, imports them, and an offline hexproxy serves them byte for byte', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    const summary = await exportFrom(source, out);
    expect(summary.failed).toEqual([]);
    expect(summary.installsFiles).toBe(INSTALLS.length);
    const installsEntries = summary.manifest.entries.filter((entry) => entry.kind === 'installs').map((entry) => entry.path);
    expect([...installsEntries].sort()).toEqual(INSTALLS.map((p) => `installs/${p}`).sort());
    // Lists and .signed files before builds.
    expect(installsEntries.slice(0, 6).every((path) => path.includes('.csv'))).toBe(true);

    const target = await emptyStores();
    const imported = await importInto(target, out, source.upstream);
    expect(imported.refused).toEqual([]);
    expect(imported.imported.filter((entry) => entry.kind === 'installs')).toHaveLength(INSTALLS.length);
    target.index.close();

    const offline = await startProxy({
      upstreamUrl: source.upstream.url,
      upstreamPublicKeyPem: source.upstream.publicKeyPem,
      dataDir: target.dataDir,
      flags: { offline: true, 'installs-url': source.builds.url },
    });
    cleanups.push(() => offline.close());
    for (const path of INSTALLS) {
      const response = await offline.get(`/installs/${path}`);
      expect(response.status, path).toBe(200);
      expect(response.body.equals(source.builds.body(`/installs/${path}`) ?? Buffer.alloc(0)), path).toBe(true);
    }
    expect((await offline.get('/tarballs/alpha-1.0.0.tar')).status).toBe(200);
    // Only what the source fetched; the offline proxy asked nobody.
    expect((await offline.get('/installs/1.14.0/hex-2.0.6.ez')).status).toBe(504);
    expect(source.builds.hits(`/installs/${BUILD}`)).toBe(1);

    // The same bundle again writes nothing.
    const again = await openStores(target.dataDir);
    cleanups.push(() => again.index.close());
    const second = await importInto(again, out, source.upstream);
    expect(second.imported).toEqual([]);
    expect(second.alreadyPresent).toHaveLength(summary.manifest.entries.length);
  });

  it('leaves installs files out with installs: false, and out of an incremental bundle when unchanged', async () => {
    const source = await filledSource();
    const first = join(tempDir(), 'a.tar');
    const without = await exportFrom(source, first, { installs: false });
    expect(without.installsFiles).toBe(0);
    expect(without.manifest.entries.some((entry) => entry.kind === 'installs')).toBe(false);
    const full = join(tempDir(), 'full.tar');
    const all = await exportFrom(source, full);
    const incremental = await exportFrom(source, join(tempDir(), 'b.tar'), { since: { manifest: all.manifest } });
    expect(incremental.manifest.entries).toEqual([]);
    expect(incremental.unchanged).toBe(all.manifest.entries.length);
    // With a selection of releases, the installs files come along.
    const selected = await exportFrom(source, join(tempDir(), 'c.tar'), { select: { releases: [{ name: 'alpha', version: '1.0.0' }] } });
    expect(selected.installsFiles).toBe(INSTALLS.length);
  });

  it('imports nothing when a build does not match the SHA-512 in its list, and only the rest with skipBad', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const original = entries.find((entry) => entry.name === `installs/${BUILD}`)?.data ?? Buffer.alloc(0);
    // The manifest's SHA-256 is updated too: only the list's SHA-512 catches it.
    await writeBundleEntries(out, replaceEntry(entries, `installs/${BUILD}`, flipMiddleByte(original)));

    const target = await emptyStores();
    const error = await importInto(target, out, source.upstream).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).refused).toEqual([
      { path: `installs/${BUILD}`, reason: expect.stringMatching(/^does not match installs\/hex\.csv: expected SHA-512/) },
    ]);
    expect(target.index.listPassthroughFiles()).toEqual([]);
    expect(target.index.listTarballs()).toEqual([]);
    expect(target.index.listRegistryFiles()).toEqual([]);
    expect(await storedInstalls(target.dataDir)).toEqual([]);
    expect(await readdir(join(target.dataDir, '.tmp'))).toEqual([]);

    const skipped = await importInto(target, out, source.upstream, { skipBad: true });
    expect(skipped.refused.map((entry) => entry.path)).toEqual([`installs/${BUILD}`]);
    expect(target.index.listPassthroughFiles().map((row) => row.path)).not.toContain(`installs/${BUILD}`);
    expect(target.index.listPassthroughFiles()).toHaveLength(INSTALLS.length - 1);
  });

  it('refuses an attacker-written list and the build it names: nothing imported, and with skipBad only the rest', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    // The attacker's build, and hex.csv naming it with its true SHA-512; the manifest updated to match.
    const evil = Buffer.concat([Buffer.from('PK evil hex\n'), randomBytes(1024)]);
    const evilList = Buffer.from(`2.2.1,${createHash('sha512').update(evil).digest('hex')},1.18.4,27\n`);
    const withList = replaceEntry(replaceEntry(entries, 'installs/hex.csv', evilList), `installs/${BUILD}`, evil);
    const variants: [string, typeof entries, RegExp][] = [
      // The builds server's .signed, which does not cover the attacker's list.
      ['with the original .signed', withList, /^does not verify with its \.signed file and the builds server's key \(installs\.publicKey\)/],
      // A .signed the attacker made with a key of their own.
      [
        'with a .signed of its own',
        replaceEntry(withList, 'installs/hex.csv.signed', signedFileFor(evilList, wrongKeyPair().privateKey)),
        /^does not verify with its \.signed file and the builds server's key \(installs\.publicKey\)/,
      ],
    ];
    for (const [label, tampered, why] of variants) {
      const file = join(tempDir(), 'evil.tar');
      await writeBundleEntries(file, tampered);
      const target = await emptyStores();
      const error = await importInto(target, file, source.upstream).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, label).toBeInstanceOf(BundleError);
      const refused = Object.fromEntries((error as BundleError).refused.map((entry) => [entry.path, entry.reason]));
      expect(Object.keys(refused).sort(), label).toEqual(['installs/hex.csv', 'installs/hex.csv.signed', `installs/${BUILD}`].sort());
      expect(refused['installs/hex.csv'], label).toMatch(why);
      expect(refused[`installs/${BUILD}`], label).toMatch(/its list installs\/hex\.csv was refused/);
      expect(target.index.listPassthroughFiles(), label).toEqual([]);
      expect(target.index.listRegistryFiles(), label).toEqual([]);
      expect(await storedInstalls(target.dataDir), label).toEqual([]);

      const skipped = await importInto(target, file, source.upstream, { skipBad: true });
      expect(skipped.refused.map((entry) => entry.path).sort(), label).toEqual(Object.keys(refused).sort());
      const rows = target.index
        .listPassthroughFiles()
        .map((row) => row.path.slice('installs/'.length))
        .sort();
      expect(rows, label).toEqual(INSTALLS.filter((path) => !['hex.csv', 'hex.csv.signed', BUILD].includes(path)).sort());
      expect(target.index.listTarballs(), label).toHaveLength(1);
      target.index.close();

      // Served offline: neither the list nor the build; the rest byte for byte.
      const offline = await startProxy({
        upstreamUrl: source.upstream.url,
        upstreamPublicKeyPem: source.upstream.publicKeyPem,
        dataDir: target.dataDir,
        flags: { offline: true, 'installs-url': source.builds.url },
      });
      // The list is a miss (404 build_list_unavailable), the build not cached a server error (504).
      for (const path of ['hex.csv', 'hex.csv.signed']) expect((await offline.get(`/installs/${path}`)).status, `${label}: ${path}`).toBe(404);
      expect((await offline.get(`/installs/${BUILD}`)).status, `${label}: ${BUILD}`).toBe(504);
      const rebar = await offline.get('/installs/1.18.4/rebar3-3.24.0-otp-27');
      expect(rebar.status, label).toBe(200);
      expect(rebar.body.equals(source.builds.body('/installs/1.18.4/rebar3-3.24.0-otp-27') ?? Buffer.alloc(0)), label).toBe(true);
      await offline.close();
    }
  });

  it('replaces a cached list only with one a trusted bundle attests later, never with an older or untrusted one', async () => {
    const source = await filledSource({ 'registry-ttl-seconds': '0' });
    const trusted = [createPublicKey(source.proxy.server.hexproxy.keys.publicKeyPem)];
    const older = join(tempDir(), 'older.tar');
    await exportFrom(source, older);
    source.builds.publish({ list: 'hex.csv', version: '2.3.0', elixir: '1.19.0', otp: '28' });
    expect((await source.proxy.get('/installs/hex.csv')).status).toBe(200);
    const newer = join(tempDir(), 'newer.tar');
    await exportFrom(source, newer, { select: { releases: [] } });
    const newList = source.builds.body('/installs/hex.csv') ?? Buffer.alloc(0);
    const listOf = async (stores: Stores): Promise<Buffer | undefined> => stores.blobs.read('passthrough/installs/hex.csv');

    const target = await emptyStores();
    await importInto(target, newer, source.upstream, { trustedKeys: trusted });
    expect((await listOf(target))?.equals(newList)).toBe(true);
    const again = await importInto(target, older, source.upstream, { trustedKeys: trusted });
    const kept = Object.fromEntries(again.keptCached.map((entry) => [entry.path, entry.reason]));
    expect(kept['installs/hex.csv']).toMatch(/^the cached \/installs\/hex\.csv is upstream's word as of \S+, not older than this one's/);
    expect(kept['installs/hex.csv.signed']).toBe('goes with its list installs/hex.csv, which is kept');
    expect((await listOf(target))?.equals(newList)).toBe(true);

    // Untrusted, the newer pair does not replace the older one; trusted, it does.
    const other = await emptyStores();
    await importInto(other, older, source.upstream, { trustedKeys: trusted });
    const untrusted = await importInto(other, newer, source.upstream, { trustedKeys: [] });
    expect(untrusted.keptCached.map((entry) => entry.path)).toEqual(expect.arrayContaining(['installs/hex.csv', 'installs/hex.csv.signed']));
    expect((await listOf(other))?.equals(newList)).toBe(false);
    const replaced = await importInto(other, newer, source.upstream, { trustedKeys: trusted });
    expect(replaced.imported).toEqual(
      expect.arrayContaining([
        { path: 'installs/hex.csv', kind: 'installs', replaced: true },
        { path: 'installs/hex.csv.signed', kind: 'installs', replaced: true },
      ]),
    );
    expect((await listOf(other))?.equals(newList)).toBe(true);
    expect(other.index.findPassthroughFile('installs/hex.csv')?.upstreamAsOf).toBeGreaterThan(0);
  });

  it('refuses a list that comes without its .signed file, and a .signed file without its list', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const manifest = manifestOf(entries);
    const without = (paths: string[]): typeof entries => [
      manifestEntry({ ...manifest, entries: manifest.entries.filter((entry) => !paths.includes(entry.path)) }),
      ...bodyOf(entries).filter((entry) => !paths.includes(entry.name)),
    ];
    const noSigned = join(tempDir(), 'no-signed.tar');
    await writeBundleEntries(noSigned, without(['installs/hex.csv.signed']));
    const target = await emptyStores();
    const error = await importInto(target, noSigned, source.upstream).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BundleError);
    const refused = Object.fromEntries((error as BundleError).refused.map((entry) => [entry.path, entry.reason]));
    expect(refused['installs/hex.csv']).toMatch(/comes without installs\/hex\.csv\.signed/);
    expect(refused[`installs/${BUILD}`]).toMatch(/its list installs\/hex\.csv was refused/);

    const noList = join(tempDir(), 'no-list.tar');
    await writeBundleEntries(noList, without(['installs/hex.csv', `installs/${BUILD}`]));
    const alone = await importInto(target, noList, source.upstream).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(alone).toBeInstanceOf(BundleError);
    expect((alone as BundleError).refused).toEqual([
      { path: 'installs/hex.csv.signed', reason: expect.stringMatching(/comes without its list installs\/hex\.csv/) },
    ]);
    expect(target.index.listPassthroughFiles()).toEqual([]);
  });

  it('refuses a build whose list is neither in the bundle nor cached, and paths that are not installs paths', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const manifest = manifestOf(entries);
    const keep = (path: string): boolean => path !== 'installs/hex.csv' && path !== 'installs/hex.csv.signed';
    const renamed = { path: 'installs/../escape.ez', kind: 'installs' as const };
    const build = manifest.entries.find((entry) => entry.path === `installs/${BUILD}`);
    await writeBundleEntries(out, [
      manifestEntry({
        ...manifest,
        entries: [...manifest.entries.filter((entry) => keep(entry.path)), { ...renamed, size: build?.size ?? 0, sha256: build?.sha256 ?? '' }],
      }),
      ...bodyOf(entries).filter((entry) => keep(entry.name)),
      { name: renamed.path, data: entries.find((entry) => entry.name === `installs/${BUILD}`)?.data ?? Buffer.alloc(0) },
    ]);
    const target = await emptyStores();
    const error = await importInto(target, out, source.upstream).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BundleError);
    const refused = Object.fromEntries((error as BundleError).refused.map((entry) => [entry.path, entry.reason]));
    expect(refused[`installs/${BUILD}`]).toMatch(/has no installs\/hex\.csv, and none is cached/);
    expect(refused['installs/../escape.ez']).toMatch(/is not a bundle path/);
    expect(target.index.listPassthroughFiles()).toEqual([]);
  });

  it('refuses a whole bundle with an entry kind it does not know', async () => {
    const source = await filledSource();
    const out = join(tempDir(), 'hex.tar');
    await exportFrom(source, out);
    const entries = await readBundleEntries(out);
    const manifest = manifestOf(entries);
    const changed = { ...manifest, entries: manifest.entries.map((entry) => (entry.kind === 'installs' ? { ...entry, kind: 'future' } : entry)) };
    await writeBundleEntries(out, [{ name: 'manifest.json', data: Buffer.from(JSON.stringify(changed)) }, ...entries.slice(1)]);
    const target = await emptyStores();
    const error = await importInto(target, out, source.upstream, { skipBad: true }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BundleError);
    expect((error as BundleError).message).toMatch(/of kind "future", which this hexproxy does not know/);
    expect(target.index.listPassthroughFiles()).toEqual([]);
    expect(target.index.listTarballs()).toEqual([]);
  });
});
