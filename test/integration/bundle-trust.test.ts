// Which registry file wins on import: the exporting hexproxy signs its manifest and attests,
// per registry file, when it last had upstream's word for those bytes. A bundle signed by a
// trusted key replaces a cached file only with one upstream vouched for later; an older one
// never rolls it back; an unsigned or untrusted bundle only fills gaps; a manifest changed
// after signing is refused.
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/bundle-error.js';
import { exportBundle, type ExportOptions, type ExportSummary } from '../../src/bundle/export.js';
import { importBundle, type ImportOptions, type ImportSummary } from '../../src/bundle/import.js';
import { type BundleManifest } from '../../src/bundle/manifest.js';
import { fingerprintOf } from '../../src/keys/keypair.js';
import { decodePackage, decodeSigned } from '../../src/registry/codec.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { publicKeyPem } from '../../src/registry/signature.js';
import { manifestOf, openStores, readBundleEntries, sha256Hex, writeBundleEntries, type Stores } from '../support/bundle.js';
import { runCli } from '../support/cli.js';
import { BUILDS_SIGNING_KEY } from '../support/upstreams/fake-builds.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { wrongKeyPair } from '../support/keys.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import type { TarEntry } from '../support/tar.js';

const OLD = new Date('2024-01-01T00:00:00Z');
const critical = { id: 'GHSA-crit-0001', summary: 'remote code execution', severity: 4, cvss_score: 9.5, aliases: ['CVE-2026-0001'] };
const packages: PackageSpec[] = [
  {
    name: 'alpha',
    releases: [
      { version: '1.0.0', publishedAt: OLD },
      { version: '1.1.0', publishedAt: OLD },
    ],
  },
  { name: 'beta', releases: [{ version: '2.0.0', publishedAt: OLD }] },
];
const FETCHED = [
  '/names',
  '/versions',
  '/packages/alpha',
  '/packages/beta',
  '/tarballs/alpha-1.0.0.tar',
  '/tarballs/alpha-1.1.0.tar',
  '/tarballs/beta-2.0.0.tar',
];
const MAX_REGISTRY = 256 * 1024 * 1024;
const MAX_TARBALL = 128 * 1024 * 1024;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Source {
  upstream: FakeUpstream;
  proxy: TestProxy;
  /** The exporting hexproxy's public key: what the importing side configures in bundles.trustedKeys. */
  publicKey: KeyObject;
}

async function proxyOn(
  upstream: FakeUpstream,
  dataDir: string,
  flags: Record<string, string | boolean> = {},
  config?: Record<string, unknown>,
): Promise<TestProxy> {
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir,
    flags,
    ...(config && { config }),
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A connected hexproxy (registry TTL 0, so each request asks upstream) that has fetched everything once. */
async function filledSource(upstream?: FakeUpstream): Promise<Source> {
  const up = upstream ?? (await startFakeUpstream({ packages }));
  if (!upstream) cleanups.push(() => up.close());
  const proxy = await proxyOn(up, tempDir(), { 'registry-ttl-seconds': '0' });
  await fetchAll(proxy);
  return { upstream: up, proxy, publicKey: createPublicKey(proxy.server.hexproxy.keys.publicKeyPem) };
}

async function fetchAll(proxy: TestProxy, paths: readonly string[] = FETCHED): Promise<void> {
  for (const path of paths) expect((await proxy.get(path)).status, path).toBe(200);
}

async function exportFrom(source: Source, name: string, extra: Partial<ExportOptions> = {}): Promise<{ file: string; summary: ExportSummary }> {
  const { hexproxy } = source.proxy.server;
  const file = join(tempDir(), name);
  const { blobs } = await openStores(source.proxy.dataDir);
  const summary = await exportBundle({
    out: file,
    index: hexproxy.index,
    blobs,
    repo: 'hexpm',
    upstreamUrl: source.upstream.url,
    select: { all: true },
    signingKey: hexproxy.keys.privateKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    ...extra,
  });
  return { file, summary };
}

async function emptyStores(): Promise<Stores & { dataDir: string }> {
  const dataDir = tempDir();
  const stores = await openStores(dataDir);
  cleanups.push(() => stores.index.close());
  return { ...stores, dataDir };
}

function importInto(
  stores: Stores,
  file: string,
  upstream: FakeUpstream,
  trustedKeys: readonly KeyObject[],
  extra: Partial<ImportOptions> = {},
): Promise<ImportSummary> {
  return importBundle({
    file,
    index: stores.index,
    blobs: stores.blobs,
    repo: 'hexpm',
    upstreamKey: upstream.publicKey,
    installsKey: BUILDS_SIGNING_KEY.publicKey,
    trustedKeys,
    maxRegistryBytes: MAX_REGISTRY,
    maxTarballBytes: MAX_TARBALL,
    skipBad: false,
    pin: false,
    ...extra,
  });
}

async function importFails(stores: Stores, file: string, upstream: FakeUpstream, trustedKeys: readonly KeyObject[]): Promise<BundleError> {
  const error = await importInto(stores, file, upstream, trustedKeys).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BundleError);
  return error as BundleError;
}

const cachedBody = async (stores: Stores, path: string): Promise<Buffer | undefined> => stores.blobs.read(`registry/hexpm/${path}`);

/** The bundle with the manifest replaced by `edit(manifest)`, written as JSON as hexproxy writes it; the rest (manifest.sig too) untouched. */
function editManifest(entries: readonly TarEntry[], edit: (manifest: BundleManifest) => BundleManifest): TarEntry[] {
  const edited = edit(manifestOf(entries));
  return [{ name: 'manifest.json', data: Buffer.from(`${JSON.stringify(edited, null, 2)}\n`) }, ...entries.slice(1)];
}

describe('signed manifests', () => {
  it("are format version 2, with manifest.sig right after manifest.json and a time of upstream's word for each registry file", async () => {
    const before = Date.now();
    const source = await filledSource();
    const { file, summary } = await exportFrom(source, 'b.tar');
    const entries = await readBundleEntries(file);
    expect(entries.map((entry) => entry.name).slice(0, 2)).toEqual(['manifest.json', 'manifest.sig']);
    const manifest = manifestOf(entries);
    expect(manifest).toEqual(summary.manifest);
    expect(manifest.formatVersion).toBe(2);
    expect(manifest.signer).toEqual({ fingerprint: fingerprintOf(publicKeyPem(source.publicKey)) });
    for (const entry of manifest.entries) {
      if (entry.kind !== 'registry') {
        expect(entry.upstreamAsOf, entry.path).toBeUndefined();
        continue;
      }
      const row = source.proxy.server.hexproxy.index.findRegistryFile('hexpm', entry.path.slice('registry/'.length));
      expect(entry.upstreamAsOf, entry.path).toBe(new Date(row?.upstreamAsOf ?? 0).toISOString());
      expect(Date.parse(entry.upstreamAsOf ?? '')).toBeGreaterThanOrEqual(before);
      expect(Date.parse(entry.upstreamAsOf ?? '')).toBeLessThanOrEqual(Date.parse(manifest.createdAt));
    }
  });
});

describe('a bundle from a trusted exporter', () => {
  it('replaces a cached registry file with one upstream vouched for later, with the same releases: a new security retirement and advisory take effect', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const first = await exportFrom(source, 'first.tar');
    const target = await emptyStores();
    expect((await importInto(target, first.file, upstream, [source.publicKey])).refused).toEqual([]);

    // Upstream retires alpha 1.1.0 for security and publishes a critical advisory for it; the release list is the same.
    const tarballBefore = upstream.tarball('alpha', '1.1.0').tar;
    await upstream.publish('alpha', { version: '1.1.0', publishedAt: OLD, retired: { reason: 2, message: 'CVE-2026-0001' }, advisories: [critical] });
    expect(upstream.tarball('alpha', '1.1.0').tar.equals(tarballBefore)).toBe(true);
    await fetchAll(source.proxy, ['/packages/alpha']);
    const second = await exportFrom(source, 'second.tar', { since: { manifest: first.summary.manifest } });
    expect(second.summary.manifest.entries.map((entry) => entry.path)).toEqual(['registry/packages/alpha']);

    const result = await importInto(target, second.file, upstream, [source.publicKey]);
    expect(result.refused).toEqual([]);
    expect(result.keptCached).toEqual([]);
    expect(result.imported).toEqual([{ path: 'registry/packages/alpha', kind: 'registry', replaced: true }]);
    const newAlpha = upstream.body('/packages/alpha');
    expect((await cachedBody(target, 'packages/alpha'))?.equals(newAlpha ?? Buffer.alloc(0))).toBe(true);
    expect(target.index.findRegistryFile('hexpm', 'packages/alpha')).toMatchObject({
      sha256: sha256Hex(newAlpha ?? Buffer.alloc(0)),
      checkedAt: 0,
      upstreamEtag: null,
      upstreamAsOf: Date.parse(second.summary.manifest.entries[0]?.upstreamAsOf ?? ''),
    });
    target.index.close();

    // The air-gapped hexproxy's policy blocks security retirements and critical advisories: 1.1.0 is gone.
    const offline = await proxyOn(
      upstream,
      target.dataDir,
      { offline: true },
      { policy: { blockRetired: ['security'], blockAdvisorySeverity: 'critical', tarballs: 'strict' } },
    );
    const served = await offline.get('/packages/alpha');
    expect(served.status).toBe(200);
    const opened = await openRegistryFile(
      served.body,
      { kind: 'package', name: 'alpha' },
      {
        publicKey: createPublicKey(offline.server.hexproxy.keys.publicKeyPem),
        repository: 'hexpm',
        maxBytes: MAX_REGISTRY,
      },
    );
    expect(decodePackage(opened.payload).releases.map((release) => release.version)).toEqual(['1.0.0']);
    const blocked = await offline.get('/tarballs/alpha-1.1.0.tar');
    expect(blocked.status).toBe(403);
    expect(blocked.headers['x-hexproxy-error']).toBe('blocked_by_policy');
  });

  it('never rolls a registry file back: an older bundle listing a since-removed release keeps the newer file, and the release stays gone', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const older = await exportFrom(source, 'older.tar');

    // Upstream removes alpha 1.1.0; the exporter sees it.
    await upstream.setPackages([{ name: 'alpha', releases: [{ version: '1.0.0', publishedAt: OLD }] }, packages[1] as PackageSpec]);
    await fetchAll(source.proxy, ['/names', '/versions', '/packages/alpha']);
    // (The exporter still has the removed release's tarball cached: the selection leaves it out.)
    const newer = await exportFrom(source, 'newer.tar', {
      select: {
        releases: [
          { name: 'alpha', version: '1.0.0' },
          { name: 'beta', version: '2.0.0' },
        ],
      },
    });

    const target = await emptyStores();
    expect((await importInto(target, newer.file, upstream, [source.publicKey])).refused).toEqual([]);
    const newAlpha = await cachedBody(target, 'packages/alpha');
    const rowBefore = target.index.findRegistryFile('hexpm', 'packages/alpha');

    const again = await importInto(target, older.file, upstream, [source.publicKey]);
    expect(again.refused).toEqual([]);
    expect(again.imported).toEqual([]);
    const kept = Object.fromEntries(again.keptCached.map((entry) => [entry.path, entry.reason]));
    // (/names does not change when a release goes: the same bytes, already present.)
    expect(Object.keys(kept).sort()).toEqual(['registry/packages/alpha', 'registry/versions', 'tarballs/alpha-1.1.0.tar']);
    expect(again.alreadyPresent).toContain('registry/names');
    expect(kept['registry/packages/alpha']).toMatch(/^the cached \/packages\/alpha is upstream's word as of \S+, not older than this one's \(\S+\)/);
    expect(kept['tarballs/alpha-1.1.0.tar']).toMatch(/the cached \/packages\/alpha, kept in force, does not list 1\.1\.0/);
    expect((await cachedBody(target, 'packages/alpha'))?.equals(newAlpha ?? Buffer.alloc(0))).toBe(true);
    expect(target.index.findRegistryFile('hexpm', 'packages/alpha')).toEqual(rowBefore);
    expect(target.index.findTarball('hexpm', 'alpha', '1.1.0')).toBeUndefined();
    target.index.close();

    const offline = await proxyOn(upstream, target.dataDir, { offline: true });
    const served = await offline.get('/packages/alpha');
    const opened = await openRegistryFile(
      served.body,
      { kind: 'package', name: 'alpha' },
      {
        publicKey: createPublicKey(offline.server.hexproxy.keys.publicKeyPem),
        repository: 'hexpm',
        maxBytes: MAX_REGISTRY,
      },
    );
    expect(opened.payload.equals(decodeSignedPayload(upstream.body('/packages/alpha')))).toBe(true);
    expect(decodePackage(opened.payload).releases.map((release) => release.version)).toEqual(['1.0.0']);
    const tarball = await offline.get('/tarballs/alpha-1.1.0.tar');
    expect(tarball.status).toBe(504);
    expect(tarball.body.toString()).toMatch(/tarball alpha-1\.1\.0 is not cached/);
  });

  it('follows a chain of exporters: a file imported from a trusted bundle is exported with the time it was attested', async () => {
    const source = await filledSource();
    const first = await exportFrom(source, 'a.tar');
    // B imports A's bundle (trusting A) and exports it again, signed by B.
    const middle = await proxyOn(source.upstream, tempDir(), { offline: true });
    const middleStores = await openStores(middle.dataDir);
    cleanups.push(() => middleStores.index.close());
    await importInto(middleStores, first.file, source.upstream, [source.publicKey]);
    const relayed = await exportFrom({ ...source, proxy: middle, publicKey: createPublicKey(middle.server.hexproxy.keys.publicKeyPem) }, 'b.tar');
    const attested = (manifest: BundleManifest): Record<string, string | undefined> =>
      Object.fromEntries(manifest.entries.filter((entry) => entry.kind === 'registry').map((entry) => [entry.path, entry.upstreamAsOf]));
    expect(attested(relayed.summary.manifest)).toEqual(attested(first.summary.manifest));
    expect(relayed.summary.manifest.signer?.fingerprint).toBe(middle.server.hexproxy.keys.fingerprint);
  });
});

describe('a bundle that is unsigned, or signed by a key not trusted', () => {
  it('only fills gaps: it never replaces a cached registry file, and the report names the key to trust', async () => {
    const source = await filledSource();
    const { upstream } = source;
    const first = await exportFrom(source, 'first.tar');
    // Later: alpha has a new release (which the old rule, "lists something the cached copy lacks", let in), and gamma is new.
    await upstream.publish('alpha', { version: '1.2.0', publishedAt: OLD });
    await upstream.publish('gamma', { version: '0.1.0', publishedAt: OLD });
    await fetchAll(source.proxy, [
      '/names',
      '/versions',
      '/packages/alpha',
      '/packages/gamma',
      '/tarballs/alpha-1.2.0.tar',
      '/tarballs/gamma-0.1.0.tar',
    ]);
    const second = await exportFrom(source, 'second.tar');

    const target = await emptyStores();
    await importInto(target, first.file, upstream, [source.publicKey]);
    const alphaBefore = await cachedBody(target, 'packages/alpha');
    // Imported without trusting the exporter: the later alpha does not replace the cached one; gamma fills a gap.
    const result = await importInto(target, second.file, upstream, [wrongKeyPair().publicKey]);
    expect(result.refused).toEqual([]);
    const kept = Object.fromEntries(result.keptCached.map((entry) => [entry.path, entry.reason]));
    expect(Object.keys(kept).sort()).toEqual(['registry/names', 'registry/packages/alpha', 'registry/versions', 'tarballs/alpha-1.2.0.tar']);
    expect((await cachedBody(target, 'packages/alpha'))?.equals(alphaBefore ?? Buffer.alloc(0))).toBe(true);
    expect(kept['registry/packages/alpha']).toMatch(
      /^the bundle is signed by a key this hexproxy does not trust \(fingerprint [0-9a-f]{64}\): its registry files and lists only fill gaps, and a verified \/packages\/alpha is cached; to let them replace cached ones, add the exporter's public key to bundles\.trustedKeys \(or pass --trust-key\)/,
    );
    expect(kept['tarballs/alpha-1.2.0.tar']).toMatch(/the cached \/packages\/alpha, kept in force, does not list 1\.2\.0/);
    expect(result.signature).toEqual({
      trusted: false,
      fingerprint: source.proxy.server.hexproxy.keys.fingerprint,
      reason: expect.stringMatching(/^is signed by a key this hexproxy does not trust \(fingerprint [0-9a-f]{64}\)/),
    });
    expect(result.imported.map((entry) => entry.path)).toEqual(['registry/packages/gamma', 'tarballs/gamma-0.1.0.tar']);
    // A gap filled from an untrusted bundle carries no attested time: any trusted copy replaces it.
    expect(target.index.findRegistryFile('hexpm', 'packages/gamma')?.upstreamAsOf).toBe(0);

    // The same bundle stripped of its signature (format version 1): the same.
    const entries = await readBundleEntries(second.file);
    const unsigned = join(tempDir(), 'unsigned.tar');
    const manifest = manifestOf(entries);
    const { signer: _signer, ...rest } = manifest;
    const v1 = {
      ...rest,
      formatVersion: 1,
      entries: manifest.entries.map(({ upstreamAsOf: _asOf, ...entry }) => entry),
    } as unknown as BundleManifest;
    await writeBundleEntries(unsigned, [{ name: 'manifest.json', data: Buffer.from(JSON.stringify(v1)) }, ...entries.slice(2)]);
    const plain = await importInto(target, unsigned, upstream, [source.publicKey]);
    expect(plain.imported).toEqual([]);
    expect(plain.keptCached.map((entry) => entry.path).sort()).toEqual([
      'registry/names',
      'registry/packages/alpha',
      'registry/versions',
      'tarballs/alpha-1.2.0.tar',
    ]);
    expect(plain.signature).toEqual({ trusted: false, reason: expect.stringMatching(/^is not signed \(format version 1\)/) });
    expect((await cachedBody(target, 'packages/alpha'))?.equals(alphaBefore ?? Buffer.alloc(0))).toBe(true);

    // Trusted, the same bundle does replace it.
    const trusted = await importInto(target, second.file, upstream, [source.publicKey]);
    expect(trusted.imported.map((entry) => entry.path).sort()).toEqual([
      'registry/names',
      'registry/packages/alpha',
      'registry/versions',
      'tarballs/alpha-1.2.0.tar',
    ]);
    expect((await cachedBody(target, 'packages/alpha'))?.equals(upstream.body('/packages/alpha') ?? Buffer.alloc(0))).toBe(true);
  });
});

describe('hexproxy import --trust-key', () => {
  it('stops with a clear error, before reading the bundle, when a trusted key file cannot be read or is not a key', async () => {
    const dir = tempDir();
    const missing = await runCli(['import', join(dir, 'b.tar'), '--data-dir', join(dir, 'data'), '--trust-key', join(dir, 'nope.pem')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`flag --trust-key: cannot read ${join(dir, 'nope.pem')}`);
    const config = join(dir, 'hexproxy.json');
    writeFileSync(config, JSON.stringify({ bundles: { trustedKeys: ['not-a-key.pem'] } }));
    writeFileSync(join(dir, 'not-a-key.pem'), 'hello\n');
    const notKey = await runCli(['import', join(dir, 'b.tar'), '--config', config, '--data-dir', join(dir, 'data')]);
    expect(notKey.code).toBe(2);
    expect(notKey.stderr).toContain(`config key bundles.trustedKeys[0]: ${join(dir, 'not-a-key.pem')} is not an RSA public key in PEM`);
  });
});

describe('a signed manifest that does not verify', () => {
  it('is refused as a whole: a changed signature, an edited attested time, a signature by another key', async () => {
    const source = await filledSource();
    const { file } = await exportFrom(source, 'b.tar');
    const entries = await readBundleEntries(file);
    const variants: [string, TarEntry[]][] = [
      [
        'a signature byte changed',
        entries.map((entry) => (entry.name === 'manifest.sig' ? { name: entry.name, data: flipBase64(entry.data) } : entry)),
      ],
      [
        'an attested time moved a year on',
        editManifest(entries, (manifest) => ({
          ...manifest,
          entries: manifest.entries.map((entry) =>
            entry.path !== 'registry/packages/alpha'
              ? entry
              : { ...entry, upstreamAsOf: new Date(Date.parse(entry.upstreamAsOf ?? '') + 365 * 86_400_000).toISOString() },
          ),
        })),
      ],
      [
        're-signed with another key under the trusted fingerprint',
        entries.map((entry) =>
          entry.name === 'manifest.sig'
            ? { name: entry.name, data: Buffer.from(`${signBase64(entries[0]?.data ?? Buffer.alloc(0), wrongKeyPair().privateKey)}\n`) }
            : entry,
        ),
      ],
    ];
    for (const [label, tampered] of variants) {
      const out = join(tempDir(), 'tampered.tar');
      await writeBundleEntries(out, tampered);
      const target = await emptyStores();
      const error = await importFails(target, out, source.upstream, [source.publicKey]);
      expect(error.refused, label).toEqual([
        {
          path: 'manifest.sig',
          reason: expect.stringMatching(
            /^does not verify with the trusted key [0-9a-f]{64} the manifest names: the manifest or its signature was changed after signing/,
          ),
        },
      ]);
      expect(target.index.listRegistryFiles(), label).toEqual([]);
      expect(target.index.listTarballs(), label).toEqual([]);
    }
    // A format 2 manifest without manifest.sig after it.
    const noSig = join(tempDir(), 'no-sig.tar');
    await writeBundleEntries(
      noSig,
      entries.filter((entry) => entry.name !== 'manifest.sig'),
    );
    const missing = await importFails(await emptyStores(), noSig, source.upstream, [source.publicKey]);
    expect(missing.refused).toEqual([
      {
        path: 'manifest.sig',
        reason: 'is missing: a format version 2 bundle has manifest.sig right after manifest.json; the second entry is "registry/names"',
      },
    ]);
  });
});

function flipBase64(data: Buffer): Buffer {
  const text = data.toString('utf8');
  const at = 10;
  return Buffer.from(`${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`);
}

const signBase64 = (data: Buffer, key: KeyObject): string => sign('sha512', data, key).toString('base64');

function decodeSignedPayload(body: Buffer | undefined): Buffer {
  if (!body) throw new Error('upstream has no such file');
  return decodeSigned(gunzipSync(body)).payload;
}
