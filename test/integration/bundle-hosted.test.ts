// Hosted repositories across an air gap and back from a backup: `hexproxy export` carries
// every release (its registry file signed by the exporter, its facts, tarball and docs),
// `hexproxy import` checks each tarball against that registry file (verified with the
// exporter's trusted key) and merges the releases into the hosted repository of the same
// name, never over a release that is here with other bytes. Read back over HTTP, byte for
// byte, from a fresh data directory.
import { createPublicKey } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import type { BundleManifest } from '../../src/bundle/manifest.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { signDetached } from '../../src/registry/signature.js';
import type { Package } from '../../src/registry/types.js';
import { bodyOf, manifestOf, readBundleEntries, sha256Hex, writeBundleEntries } from '../support/bundle.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { buildHexTarball } from '../support/hex-tarball.js';
import { docsTarball, publishHosted } from '../support/hosted-publish.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import type { TarEntry } from '../support/tar.js';

let upstream: FakeUpstream;
let source: TestProxy;
let sourceStore: HostedStore;
let work: string;
let backup: string;
let upstreamKeyFile: string;
const DOCS = { 'index.html': '<h1>acme_core</h1>', 'dist/app.js': 'window.ok = 1;' };

const HOSTED_PATHS = [
  'hosted/acme/registry/packages/acme_core',
  'hosted/acme/releases/acme_core-1.0.0.json',
  'hosted/acme/tarballs/acme_core-1.0.0.tar',
  'hosted/acme/docs/acme_core-1.0.0.tar.gz',
  'hosted/acme/releases/acme_core-1.1.0.json',
  'hosted/acme/tarballs/acme_core-1.1.0.tar',
  'hosted/acme/registry/packages/acme_util',
  'hosted/acme/releases/acme_util-0.1.0.json',
  'hosted/acme/tarballs/acme_util-0.1.0.tar',
];

/** A data directory with hosted repository acme configured; its config file and the CLI flags for it. */
function site(label: string, hosted: Record<string, unknown> = { acme: {} }): { dataDir: string; configFile: string; flags: string[] } {
  const dataDir = join(work, label);
  const configFile = join(work, `${label}.json`);
  writeFileSync(configFile, JSON.stringify({ hosted }));
  return {
    dataDir,
    configFile,
    flags: ['--config', configFile, '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKeyFile, '--offline'],
  };
}

async function serve(dataDir: string): Promise<{ proxy: TestProxy; reader: string }> {
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir,
    config: { hosted: { acme: {} } },
  });
  const reader = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile).create(`reader-${Date.now()}`, ['hexpm', 'acme'], false).secret;
  return { proxy, reader };
}

const sourceKeyFile = (): string => join(source.dataDir, 'keys', 'hexproxy_public.pem');

/** What a running hexproxy serves of acme: every file, by path. */
async function served(proxy: TestProxy, reader: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const path of paths) {
    const answer = await proxy.get(`/repos/acme/${path}`, { authorization: reader });
    expect(answer.status, path).toBe(200);
    files.set(path, answer.body);
  }
  return files;
}

const FILES = ['tarballs/acme_core-1.0.0.tar', 'tarballs/acme_core-1.1.0.tar', 'tarballs/acme_util-0.1.0.tar', 'docs/acme_core-1.0.0.tar.gz'];

async function packageFile(proxy: TestProxy, reader: string, name: string): Promise<Package> {
  const body = (await proxy.get(`/repos/acme/packages/${name}`, { authorization: reader })).body;
  const key = createPublicKey(proxy.server.hexproxy.keys.publicKeyPem);
  return (await openRegistryFile(body, { kind: 'package', name }, { publicKey: key, repository: 'acme', maxBytes: 1 << 24 })).message as Package;
}

/** The bundle with `entries` (manifest first), re-signed with the source's key, as only its owner could. */
function resigned(entries: readonly TarEntry[], manifest: BundleManifest): TarEntry[] {
  const json = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  return [
    { name: 'manifest.json', data: json },
    { name: 'manifest.sig', data: signDetached(json, source.server.hexproxy.keys.privateKey) },
    ...bodyOf(entries),
  ];
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'jason', releases: [{ version: '1.4.1' }] }] });
  work = tempDir('hexproxy-bundle-hosted-');
  upstreamKeyFile = join(work, 'upstream.pem');
  writeFileSync(upstreamKeyFile, upstream.publicKeyPem);
  source = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { hosted: { acme: {} } } });
  const store = source.server.hexproxy.hosted;
  if (!store) throw new Error('no hosted store');
  sourceStore = store;
  await publishHosted(store, 'acme', { name: 'acme_core', version: '1.0.0', dependencies: [{ package: 'jason', requirement: '~> 1.4' }] });
  await publishHosted(store, 'acme', { name: 'acme_core', version: '1.1.0' });
  await store.retire('acme', 'acme_core', '1.1.0', { reason: 'security', message: 'use 1.0.0' });
  await publishHosted(
    store,
    'acme',
    { name: 'acme_util', version: '0.1.0', dependencies: [{ package: 'acme_core', requirement: '~> 1.0', repository: 'acme' }] },
    'release-bot',
  );
  await store.putDocs('acme', 'acme_core', '1.0.0', await docsTarball(DOCS));
  expect((await source.get('/tarballs/jason-1.4.1.tar')).status).toBe(200);
  backup = join(work, 'hosted-backup.tar');
  const exported = await runCli(['export', '--hosted-only', '--out', backup, '--config', source.configFile ?? '', '--data-dir', source.dataDir]);
  expect(exported.code, exported.stdout + exported.stderr).toBe(0);
  expect(exported.stdout).toMatch(/hosted releases: 3 \(of acme\)/);
  expect(exported.stdout).toMatch(/tarballs:\s+0/);
});

afterAll(async () => {
  await source?.close();
  await upstream?.close();
});

describe('hexproxy export of hosted repositories', () => {
  it('writes, after everything else, each package registry file (signed by the exporter) and per release its facts, tarball and docs', async () => {
    const entries = await readBundleEntries(backup);
    const manifest = manifestOf(entries);
    expect(manifest.entries.map((entry) => entry.path)).toEqual(HOSTED_PATHS);
    expect(manifest.entries.every((entry) => entry.kind === 'hosted')).toBe(true);
    expect(manifest.signer?.fingerprint).toBe(source.server.hexproxy.keys.fingerprint);
    const facts = JSON.parse(entries.find((entry) => entry.name === 'hosted/acme/releases/acme_util-0.1.0.json')?.data.toString() ?? '{}') as Record<
      string,
      unknown
    >;
    expect(facts).toMatchObject({ repository: 'acme', name: 'acme_util', version: '0.1.0', publisher: 'release-bot', retirement: null, docs: null });
    const tarball = entries.find((entry) => entry.name === 'hosted/acme/tarballs/acme_core-1.0.0.tar')?.data;
    const stored = sourceStore.tarballFile('acme', 'acme_core', '1.0.0');
    expect(tarball && stored && tarball.equals(readFileSync(stored.path))).toBe(true);
  });

  it('goes with a full export, after the cache, unless --no-hosted', async () => {
    const full = join(work, 'full.tar');
    const exported = await runCli(['export', '--out', full, '--no-installs', '--config', source.configFile ?? '', '--data-dir', source.dataDir]);
    expect(exported.code, exported.stderr).toBe(0);
    const paths = manifestOf(await readBundleEntries(full)).entries.map((entry) => entry.path);
    const firstHosted = paths.findIndex((path) => path.startsWith('hosted/'));
    expect(paths.slice(0, firstHosted)).toContain('tarballs/jason-1.4.1.tar');
    expect(paths.slice(firstHosted)).toEqual(HOSTED_PATHS);
    // Nothing changed since: nothing of acme goes again.
    const since = join(work, 'since.tar');
    expect(
      (await runCli(['export', '--out', since, '--no-installs', '--since', full, '--config', source.configFile ?? '', '--data-dir', source.dataDir]))
        .code,
    ).toBe(0);
    expect(manifestOf(await readBundleEntries(since)).entries).toEqual([]);
    const without = join(work, 'without.tar');
    expect(
      (await runCli(['export', '--out', without, '--no-installs', '--no-hosted', '--config', source.configFile ?? '', '--data-dir', source.dataDir]))
        .code,
    ).toBe(0);
    expect(manifestOf(await readBundleEntries(without)).entries.some((entry) => entry.kind === 'hosted')).toBe(false);
  });
});

describe('hexproxy import of hosted repositories', () => {
  it('merges every release into a fresh site: read back over HTTP, tarballs and docs identical, registry files rebuilt with its own key', async () => {
    const fresh = site('fresh');
    const imported = await runCli(['import', backup, '--trust-key', sourceKeyFile(), ...fresh.flags]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toContain('hosted releases: 3 imported, 0 already here');
    const { proxy, reader } = await serve(fresh.dataDir);
    try {
      const here = await served(proxy, reader, FILES);
      const there = await served(source, await sourceReader(), FILES);
      for (const path of FILES) expect(here.get(path)?.equals(there.get(path) ?? Buffer.alloc(0)), path).toBe(true);
      const core = await packageFile(proxy, reader, 'acme_core');
      const original = await packageFile(source, await sourceReader(), 'acme_core');
      expect(
        core.releases.map((release) => [release.version, release.retired, release.published_at, release.outer_checksum?.toString('hex')]),
      ).toEqual(
        original.releases.map((release) => [release.version, release.retired, release.published_at, release.outer_checksum?.toString('hex')]),
      );
      expect(core.releases[1]?.retired).toEqual({ reason: 2, message: 'use 1.0.0' });
      expect(core.releases[0]?.dependencies).toEqual([{ package: 'jason', requirement: '~> 1.4', repository: 'hexpm' }]);
      const imported = proxy.server.hexproxy.hosted?.release('acme', 'acme_util', '0.1.0');
      const exported = sourceStore.release('acme', 'acme_util', '0.1.0');
      expect([imported?.publisher, imported?.publishedAt, imported?.updatedAt]).toEqual(['release-bot', exported?.publishedAt, exported?.updatedAt]);
      // The UI shows them as published there.
      const page = await proxy.get('/ui/repos/acme/packages/acme_util', { authorization: `Basic ${Buffer.from(`me:${reader}`).toString('base64')}` });
      expect(page.body.toString()).toContain('<code>release-bot</code>');
      // The same bundle again changes nothing.
      const again = await runCli(['import', backup, '--trust-key', sourceKeyFile(), ...fresh.flags]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('hosted releases: 0 imported, 3 already here');
    } finally {
      await proxy.close();
    }
  });

  it('restores a backup into a data directory with the same keys, trusted without --trust-key', async () => {
    const restored = site('restored');
    cpSync(join(source.dataDir, 'keys'), join(restored.dataDir, 'keys'), { recursive: true });
    const imported = await runCli(['import', backup, ...restored.flags]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toContain(`signed by:       ${source.server.hexproxy.keys.fingerprint} (trusted)`);
    expect(imported.stdout).toContain('hosted releases: 3 imported');
  });

  it('refuses a tampered tarball (nothing is imported), and one whose registry file lists another checksum, even in a manifest its exporter signed', async () => {
    const entries = await readBundleEntries(backup);
    const path = 'hosted/acme/tarballs/acme_util-0.1.0.tar';
    const flipped = entries.map((entry) => {
      if (entry.name !== path) return entry;
      const data = Buffer.from(entry.data);
      data[600] = (data[600] ?? 0) ^ 1;
      return { name: entry.name, data };
    });
    const tampered = join(work, 'tampered.tar');
    await writeBundleEntries(tampered, flipped);
    const target = site('tampered');
    const refused = await runCli(['import', tampered, '--trust-key', sourceKeyFile(), ...target.flags]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `${path}: has SHA-256 [0-9a-f]{64}; the manifest says ${sha256Hex(entries.find((entry) => entry.name === path)?.data ?? Buffer.alloc(0))}`,
      ),
    );
    expect(releasesIn(target.dataDir)).toBe(0);

    // Another package's tarball under acme_util's name, in a manifest re-signed with the exporter's key: its registry file still says otherwise.
    const other = (await buildHexTarball({ name: 'acme_util', version: '0.1.0', description: 'not what was published' })).tar;
    const manifest = manifestOf(entries);
    manifest.entries = manifest.entries.map((entry) => (entry.path === path ? { ...entry, size: other.length, sha256: sha256Hex(other) } : entry));
    const swapped = join(work, 'swapped.tar');
    await writeBundleEntries(
      swapped,
      resigned(
        entries.map((entry) => (entry.name === path ? { name: path, data: other } : entry)),
        manifest,
      ),
    );
    const checked = await runCli(['import', swapped, '--trust-key', sourceKeyFile(), ...target.flags]);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`${path}: does not match hosted/acme/registry/packages/acme_util: its SHA-256 is ${sha256Hex(other)}`);
    expect(releasesIn(target.dataDir)).toBe(0);
    // Skipping the bad entries imports the rest, and acme_util not at all.
    const skipped = await runCli(['import', swapped, '--trust-key', sourceKeyFile(), '--skip-bad', ...target.flags]);
    expect(skipped.code).toBe(1);
    expect(skipped.stdout).toContain('hosted releases: 2 imported');
    expect(skipped.stdout).toContain('REFUSED hosted/acme/releases/acme_util-0.1.0.json: acme/acme_util 0.1.0 goes whole or not at all');
    const { proxy, reader } = await serve(target.dataDir);
    try {
      expect((await proxy.get('/repos/acme/tarballs/acme_util-0.1.0.tar', { authorization: reader })).status).toBe(404);
      expect((await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: reader })).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it('refuses hosted releases from a bundle whose signer is not trusted: only the exporter vouches for them', async () => {
    const target = site('untrusted');
    const refused = await runCli(['import', backup, ...target.flags]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'hosted/acme/registry/packages/acme_core: the bundle is signed by a key this hexproxy does not trust (fingerprint',
    );
    expect(refused.stderr).toContain("vouched for by their exporter's key alone");
  });

  it('refuses a release that is here with other bytes, and keeps the one here; where acme is not hosted, it names the config key', async () => {
    const target = site('conflict');
    const { proxy, reader } = await serve(target.dataDir);
    let mine: Buffer;
    try {
      const store = proxy.server.hexproxy.hosted;
      if (!store) throw new Error('no hosted store');
      await publishHosted(store, 'acme', { name: 'acme_core', version: '1.0.0', description: 'published here first' }, 'local-dev');
      mine = (await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: reader })).body;
      const refused = await runCli(['import', backup, '--trust-key', sourceKeyFile(), ...target.flags]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /hosted\/acme\/releases\/acme_core-1\.0\.0\.json: acme\/acme_core 1\.0\.0 is here already with other bytes \(tarball SHA-256 [0-9a-f]{64} here, [0-9a-f]{64} in the bundle\); a published release is never overwritten/,
      );
      const skipped = await runCli(['import', backup, '--trust-key', sourceKeyFile(), '--skip-bad', ...target.flags]);
      expect(skipped.stdout).toContain('hosted releases: 2 imported');
      const after = await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: reader });
      expect(after.body.equals(mine)).toBe(true);
      expect(store.release('acme', 'acme_core', '1.0.0')?.publisher).toBe('local-dev');
      expect(store.release('acme', 'acme_core', '1.1.0')?.retirement).toEqual({ reason: 'security', message: 'use 1.0.0' });
    } finally {
      await proxy.close();
    }
    const elsewhere = site('not-hosted', {});
    const notHosted = await runCli(['import', backup, '--trust-key', sourceKeyFile(), ...elsewhere.flags]);
    expect(notHosted.code).toBe(1);
    expect(notHosted.stderr).toContain('is a file of hosted repository acme, which is not hosted here: add hosted.acme to the config');
  });
});

/** How many releases a data directory's hosted store holds. */
function releasesIn(dataDir: string): number {
  const db = new Database(join(dataDir, 'hosted', 'hosted.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS count FROM releases').get() as { count: number }).count;
  } finally {
    db.close();
  }
}

let sourceReaderSecret = '';
async function sourceReader(): Promise<string> {
  if (sourceReaderSecret === '')
    sourceReaderSecret = new TokenStore(source.server.hexproxy.config.auth.tokensFile).create('source-reader', ['hexpm', 'acme'], false).secret;
  return Promise.resolve(sourceReaderSecret);
}
