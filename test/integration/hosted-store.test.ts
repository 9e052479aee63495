// The hosted store on real files: publish, replace within and past the window (an injected
// clock), revert and its refusal, retire, docs, listings, the registry files it builds
// (verified with hexproxy's key, saying the repository), that a publish rebuilds only its
// package's file with /names and /versions, serialised publishes, verify and reconcile.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, PackageDependedOnError, ReleaseExistsError, ReleaseLockedError } from '../../src/errors.js';
import { HostedStore, type HostedStoreOptions } from '../../src/hosted/hosted-store.js';
import type { ValidatedRelease } from '../../src/hosted/release.js';
import { verifyHosted } from '../../src/hosted/verify.js';
import { createLogger } from '../../src/log.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { validatedRelease } from '../support/hosted-release.js';
import { testKeyPair, wrongKeyPair } from '../support/keys.js';
import { tempDir } from '../support/proxy.js';

const START = Date.parse('2026-03-01T12:00:00Z');
const MINUTE = 60_000;
let now = START;
const stores: HostedStore[] = [];

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  now = START;
});

async function openStore(dir = tempDir('hexproxy-hosted-'), overrides: Partial<HostedStoreOptions> = {}): Promise<HostedStore> {
  const store = await HostedStore.open({
    dir,
    repositories: { acme: { replaceWindowSeconds: 3600 }, frozen: { replaceWindowSeconds: 0 } },
    signingKey: testKeyPair().privateKey,
    publicRepository: 'hexpm',
    log: createLogger('silent'),
    now: () => now,
    ...overrides,
  });
  stores.push(store);
  return store;
}

const publish = (store: HostedStore, release: ValidatedRelease, replace = false, repo = 'acme') =>
  store.publish(repo, release, { replace, publisher: 'ci-publish' });

async function registry<T>(store: HostedStore, path: string, repo = 'acme'): Promise<T> {
  const file = await store.registryFile(repo, path);
  if (!file) throw new Error(`no ${path}`);
  const resource = path.startsWith('packages/') ? { kind: 'package' as const, name: path.slice(9) } : { kind: path as 'names' | 'versions' };
  // Independently of the store: hexproxy's public key, and the repository's name.
  const opened = await openRegistryFile(file.body, resource, { publicKey: testKeyPair().publicKey, repository: repo, maxBytes: 1 << 24 });
  return opened.message as T;
}

/** Blob files of `repo` under the store's directory (tarballs and docs). */
const blobFiles = (dir: string, repo = 'acme'): string[] =>
  ['tarballs', 'docs'].flatMap((kind) => readdirSync(join(dir, 'blobs', repo, kind)).map((file) => `${kind}/${file}`)).sort();

describe('publishing', () => {
  it('stores a new release with its registry files, signed by hexproxy and naming the repository', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    const core = await validatedRelease({ name: 'acme_core', version: '1.0.0', dependencies: [{ package: 'jason', requirement: '~> 1.4' }] });
    const first = await publish(store, core);
    expect(first.created).toBe(true);
    expect(first.release).toMatchObject({
      repository: 'acme',
      name: 'acme_core',
      version: '1.0.0',
      publishedAt: START,
      publisher: 'ci-publish',
      size: core.tarball.length,
    });
    expect(first.release.editableUntil).toBe(START + 3600_000);
    now += MINUTE;
    const util = await validatedRelease({
      name: 'acme_util',
      version: '0.1.0',
      dependencies: [
        { package: 'acme_core', requirement: '~> 1.0', repository: 'acme' },
        { package: 'telemetry', requirement: '~> 1.0', optional: true, app: 'telemetry_app' },
      ],
    });
    await publish(store, util);

    const names = await registry<Names>(store, 'names');
    expect(names.repository).toBe('acme');
    expect(names.packages).toEqual([
      { name: 'acme_core', updated_at: { seconds: START / 1000, nanos: 0 } },
      { name: 'acme_util', updated_at: { seconds: START / 1000 + 60, nanos: 0 } },
    ]);
    const versions = await registry<Versions>(store, 'versions');
    expect(versions.packages.map((p) => [p.name, p.versions])).toEqual([
      ['acme_core', ['1.0.0']],
      ['acme_util', ['0.1.0']],
    ]);
    const pkg = await registry<Package>(store, 'packages/acme_util');
    expect(pkg).toMatchObject({ name: 'acme_util', repository: 'acme' });
    const [release] = pkg.releases;
    expect(release?.version).toBe('0.1.0');
    expect(release?.outer_checksum?.equals(util.outerChecksum)).toBe(true);
    expect(release?.inner_checksum.equals(util.innerChecksum)).toBe(true);
    expect(release?.published_at).toEqual({ seconds: START / 1000 + 60, nanos: 0 });
    // hexpm's rule: a dependency in this repository names none; one on hex.pm says "hexpm".
    expect(release?.dependencies).toEqual([
      { package: 'acme_core', requirement: '~> 1.0' },
      { package: 'telemetry', requirement: '~> 1.0', optional: true, app: 'telemetry_app', repository: 'hexpm' },
    ]);
    const tarball = store.tarballFile('acme', 'acme_core', '1.0.0');
    expect(tarball?.sha256).toBe(core.outerChecksum.toString('hex'));
    expect(await store.read(tarball ?? fail())).toEqual(core.tarball);
    expect(blobFiles(dir)).toHaveLength(2);
  });

  it('refuses an existing release without replace (422), changing nothing', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    const before = store.storedRegistryFile('acme', 'packages/acme_core');
    const other = await validatedRelease({ name: 'acme_core', version: '1.0.0', description: 'different bytes' });
    const refused = await publish(store, other).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ReleaseExistsError);
    expect(refused).toMatchObject({ status: 422, code: 'release_exists', field: 'inserted_at' });
    expect((refused as Error).message).toMatch(
      /acme\/acme_core 1\.0\.0 has already been published; to replace it, publish it again with --replace \(allowed until 2026-03-01T13:00:00\.000Z/,
    );
    expect(store.storedRegistryFile('acme', 'packages/acme_core')).toEqual(before);
    expect(blobFiles(dir)).toHaveLength(1);
  });

  it('replaces a release within the window, keeping its publication time, and drops the old tarball', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    const oldFile = store.tarballFile('acme', 'acme_core', '1.0.0');
    now += 59 * MINUTE;
    const replacement = await validatedRelease({ name: 'acme_core', version: '1.0.0', description: 'fixed' });
    const replaced = await publish(store, replacement, true);
    expect(replaced.created).toBe(false);
    expect(replaced.release).toMatchObject({ publishedAt: START, updatedAt: START + 59 * MINUTE, metadata: { description: 'fixed' } });
    const pkg = await registry<Package>(store, 'packages/acme_core');
    expect(pkg.releases.map((r) => r.outer_checksum?.toString('hex'))).toEqual([replacement.outerChecksum.toString('hex')]);
    expect(pkg.releases[0]?.published_at).toEqual({ seconds: START / 1000, nanos: 0 });
    expect(blobFiles(dir)).toEqual([`tarballs/${store.tarballFile('acme', 'acme_core', '1.0.0')?.key.split('/').at(-1)}`]);
    expect(store.tarballFile('acme', 'acme_core', '1.0.0')?.key).not.toBe(oldFile?.key);
    // A replace to a new version is simply a publish.
    expect((await publish(store, await validatedRelease({ name: 'acme_core', version: '1.1.0' }), true)).created).toBe(true);
  });

  it('refuses a replace past the window, saying when it closed; and in a repository whose window is 0', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    now += 61 * MINUTE;
    const late = await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0', description: 'late' }), true).catch(
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(ReleaseLockedError);
    expect(late).toMatchObject({ status: 422, code: 'release_locked' });
    expect((late as Error).message).toBe(
      'acme/acme_core 1.0.0 can no longer be replaced: it was published at 2026-03-01T12:00:00.000Z, and the window to replace or revert it (hosted.acme.replaceWindowSeconds allows 1 hour after publication) closed at 2026-03-01T13:00:00.000Z; publish a new version',
    );
    // Without --replace past the window: it exists, and could not be replaced anyway.
    const again = await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0', description: 'late' })).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ReleaseExistsError);
    expect((again as Error).message).toMatch(
      /can no longer be replaced \(hosted\.acme\.replaceWindowSeconds allows 1 hour after publication\); publish a new version/,
    );
    expect(store.release('acme', 'acme_core', '1.0.0')?.metadata.description).toBe('acme_core test package');
    expect(blobFiles(dir)).toHaveLength(1);

    await publish(store, await validatedRelease({ name: 'ice', version: '1.0.0' }), false, 'frozen');
    const frozen = await publish(store, await validatedRelease({ name: 'ice', version: '1.0.0', description: 'x' }), true, 'frozen').catch(
      (e: unknown) => e,
    );
    expect(frozen).toBeInstanceOf(ReleaseLockedError);
    expect((frozen as Error).message).toMatch(/hosted\.frozen\.replaceWindowSeconds is 0: releases of frozen are never replaced or reverted/);
    expect(store.release('frozen', 'ice', '1.0.0')?.editableUntil).toBeUndefined();
  });

  it('refuses a repository it does not host, and a release whose checksum is not its tarball', async () => {
    const store = await openStore();
    const release = await validatedRelease({ name: 'acme_core', version: '1.0.0' });
    await expect(store.publish('globex', release, { replace: false, publisher: 'x' })).rejects.toThrow(NotFoundError);
    await expect(store.publish('globex', release, { replace: false, publisher: 'x' })).rejects.toThrow(
      /hexproxy hosts no repository globex \(it hosts acme, frozen; config key hosted\)/,
    );
    await expect(publish(store, { ...release, outerChecksum: Buffer.alloc(32) })).rejects.toThrow(/is not the SHA-256 of its tarball/);
    expect(store.has('acme', 'acme_core')).toBe(false);
  });

  it('rebuilds only the package published, with /names and /versions: other packages files are untouched', async () => {
    const store = await openStore();
    for (const name of ['alpha', 'beta', 'gamma']) await publish(store, await validatedRelease({ name, version: '1.0.0' }));
    const before = Object.fromEntries(['alpha', 'gamma'].map((name) => [name, store.storedRegistryFile('acme', `packages/${name}`)]));
    const namesBefore = store.storedRegistryFile('acme', 'names');
    now += MINUTE;
    await publish(store, await validatedRelease({ name: 'beta', version: '1.1.0' }));
    for (const name of ['alpha', 'gamma']) expect(store.storedRegistryFile('acme', `packages/${name}`), name).toEqual(before[name]);
    expect(store.storedRegistryFile('acme', 'packages/beta')?.builtAt).toBe(START + MINUTE);
    expect(store.storedRegistryFile('acme', 'names')?.builtAt).toBe(START + MINUTE);
    expect(store.storedRegistryFile('acme', 'names')?.sha256).not.toBe(namesBefore?.sha256);
    expect(store.storedRegistryFile('acme', 'versions')?.builtAt).toBe(START + MINUTE);
    // The other repository was not touched at all.
    expect(store.storedRegistryFile('frozen', 'names')?.builtAt).toBe(START);
  });

  it('serialises concurrent publishes of one package, and lets others proceed', async () => {
    const store = await openStore();
    const same = await validatedRelease({ name: 'acme_core', version: '1.0.0' });
    const versions = ['1.0.1', '1.0.2', '1.1.0', '2.0.0-rc.1', '2.0.0'];
    const results = await Promise.allSettled([
      publish(store, same),
      publish(store, same),
      ...(await Promise.all(versions.map((version) => validatedRelease({ name: 'acme_core', version })))).map((release) => publish(store, release)),
      ...(await Promise.all(['one', 'two', 'three'].map((name) => validatedRelease({ name, version: '0.1.0' })))).map((release) =>
        publish(store, release),
      ),
    ]);
    expect(results.filter((result) => result.status === 'rejected').map((result) => result.reason)).toEqual([expect.any(ReleaseExistsError)]);
    expect(store.versions('acme', 'acme_core')).toEqual(['1.0.0', '1.0.1', '1.0.2', '1.1.0', '2.0.0-rc.1', '2.0.0']);
    const versionsFile = await registry<Versions>(store, 'versions');
    expect(versionsFile.packages.map((p) => p.name)).toEqual(['acme_core', 'one', 'three', 'two']);
    expect((await registry<Package>(store, 'packages/acme_core')).releases.map((r) => r.version)).toEqual(store.versions('acme', 'acme_core'));
  });
});

describe('reverting', () => {
  it('removes a release, and the package with its last one, tarballs and docs included', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.1.0' }));
    await store.putDocs('acme', 'acme_core', '1.1.0', Buffer.from('docs'));
    expect(await store.revert('acme', 'acme_core', '1.1.0')).toEqual({ packageRemoved: false });
    expect((await registry<Package>(store, 'packages/acme_core')).releases.map((r) => r.version)).toEqual(['1.0.0']);
    expect(blobFiles(dir)).toHaveLength(1);
    expect(await store.revert('acme', 'acme_core', '1.0.0')).toEqual({ packageRemoved: true });
    expect(await store.registryFile('acme', 'packages/acme_core')).toBeUndefined();
    expect((await registry<Names>(store, 'names')).packages).toEqual([]);
    expect((await registry<Versions>(store, 'versions')).packages).toEqual([]);
    expect(store.has('acme', 'acme_core')).toBe(false);
    expect(blobFiles(dir)).toEqual([]);
    await expect(store.revert('acme', 'acme_core', '1.0.0')).rejects.toThrow(NotFoundError);
  });

  it('refuses to revert a release another package of the repository depends on: one its requirement needs, no other release meeting it', async () => {
    const store = await openStore();
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.1.0' }));
    await publish(
      store,
      await validatedRelease({
        name: 'acme_util',
        version: '0.1.0',
        dependencies: [{ package: 'acme_core', requirement: '~> 1.1', repository: 'acme' }],
      }),
    );
    // A public package of the same name does not count: it is not this one.
    await publish(store, await validatedRelease({ name: 'lonely', version: '1.0.0' }));
    await publish(
      store,
      await validatedRelease({ name: 'other', version: '1.0.0', dependencies: [{ package: 'lonely', requirement: '~> 1.0', repository: 'hexpm' }] }),
    );
    expect(await store.revert('acme', 'lonely', '1.0.0')).toEqual({ packageRemoved: true });

    // 1.1.0 is the only release meeting acme_util's ~> 1.1.
    const refused = await store.revert('acme', 'acme_core', '1.1.0').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PackageDependedOnError);
    expect(refused).toMatchObject({ status: 422, code: 'package_depended_on', field: 'name' });
    expect((refused as Error).message).toBe(
      'cannot revert acme/acme_core 1.1.0: acme_util 0.1.0 of acme depends on it, and no other release of acme_core meets its requirement; revert those releases, or publish another release of acme_core that meets them first',
    );
    expect(store.versions('acme', 'acme_core')).toEqual(['1.0.0', '1.1.0']);
    // 1.0.0 meets nothing anyone requires: it may go.
    expect(await store.revert('acme', 'acme_core', '1.0.0')).toEqual({ packageRemoved: false });
    // With 1.2.0 meeting ~> 1.1 too, 1.1.0 may go; then 1.2.0, the last, may not.
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.2.0' }));
    expect(await store.revert('acme', 'acme_core', '1.1.0')).toEqual({ packageRemoved: false });
    await expect(store.revert('acme', 'acme_core', '1.2.0')).rejects.toThrow(PackageDependedOnError);
    expect(store.versions('acme', 'acme_core')).toEqual(['1.2.0']);
    // Once the dependent is gone, it may go, and the package with it.
    await store.revert('acme', 'acme_util', '0.1.0');
    expect(await store.revert('acme', 'acme_core', '1.2.0')).toEqual({ packageRemoved: true });
  });

  it('refuses a revert past the window', async () => {
    const store = await openStore();
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    now += 2 * 60 * MINUTE;
    await expect(store.revert('acme', 'acme_core', '1.0.0')).rejects.toThrow(ReleaseLockedError);
    await expect(store.revert('acme', 'acme_core', '1.0.0')).rejects.toThrow(
      /can no longer be reverted: .* closed at 2026-03-01T13:00:00\.000Z; retire it instead/,
    );
    expect(store.has('acme', 'acme_core')).toBe(true);
  });
});

describe('retiring, docs and reads', () => {
  it('retires and unretires, in /versions and the package file', async () => {
    const store = await openStore();
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) await publish(store, await validatedRelease({ name: 'acme_core', version }));
    now += 3 * 60 * MINUTE;
    const retired = await store.retire('acme', 'acme_core', '1.1.0', { reason: 'security', message: 'use 1.2.0' });
    expect(retired.retirement).toEqual({ reason: 'security', message: 'use 1.2.0' });
    expect((await registry<Versions>(store, 'versions')).packages[0]).toMatchObject({ versions: ['1.0.0', '1.1.0', '1.2.0'], retired: [1] });
    const pkg = await registry<Package>(store, 'packages/acme_core');
    expect(pkg.releases.map((r) => r.retired)).toEqual([undefined, { reason: 2, message: 'use 1.2.0' }, undefined]);
    expect(store.packageInfo('acme', 'acme_core')?.updatedAt).toBe(now);
    await store.retire('acme', 'acme_core', '1.1.0', undefined);
    expect((await registry<Versions>(store, 'versions')).packages[0]?.retired).toEqual([]);
    expect(store.release('acme', 'acme_core', '1.1.0')?.retirement).toBeUndefined();
    await expect(store.retire('acme', 'acme_core', '9.9.9', { reason: 'other', message: 'gone' })).rejects.toThrow(NotFoundError);
  });

  it('stores, replaces and removes docs, durable and checked', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await expect(store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('x'))).rejects.toThrow(
      /acme\/acme_core 1\.0\.0 is not published; publish the package before its docs/,
    );
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    const first = await store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('first docs'));
    expect(first.created).toBe(true);
    expect(await store.read(first.docs)).toEqual(Buffer.from('first docs'));
    const second = await store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('second docs'));
    expect(second.created).toBe(false);
    expect(store.release('acme', 'acme_core', '1.0.0')?.docs).toMatchObject({ size: 11 });
    expect(blobFiles(dir).filter((file) => file.startsWith('docs/'))).toHaveLength(1);
    expect(await store.deleteDocs('acme', 'acme_core', '1.0.0')).toBe(true);
    expect(await store.deleteDocs('acme', 'acme_core', '1.0.0')).toBe(false);
    expect(store.docsFile('acme', 'acme_core', '1.0.0')).toBeUndefined();
    expect(blobFiles(dir).filter((file) => file.startsWith('docs/'))).toEqual([]);
  });

  it('lists and searches packages, and reads versions in SemVer order', async () => {
    const store = await openStore();
    for (const version of ['1.9.0', '1.10.0', '2.0.0-rc.1', '1.10.0-beta.2']) {
      await publish(store, await validatedRelease({ name: 'acme_core', version, description: 'Core of the ACME platform' }));
    }
    await publish(store, await validatedRelease({ name: 'acme_http', version: '0.1.0', description: 'HTTP client' }));
    expect(store.versions('acme', 'acme_core')).toEqual(['1.9.0', '1.10.0-beta.2', '1.10.0', '2.0.0-rc.1']);
    expect(store.listPackages('acme').map((p) => [p.name, p.latestVersion])).toEqual([
      ['acme_core', '1.10.0'],
      ['acme_http', '0.1.0'],
    ]);
    expect(store.listPackages('acme', { search: 'http' }).map((p) => p.name)).toEqual(['acme_http']);
    expect(store.listPackages('acme', { search: 'PLATFORM' }).map((p) => p.name)).toEqual(['acme_core']);
    expect(store.has('acme', 'acme_http')).toBe(true);
    expect(store.has('frozen', 'acme_http')).toBe(false);
    expect(store.has('globex', 'acme_http')).toBe(false);
    expect(store.packageInfo('acme', 'acme_core')?.releases.map((r) => r.version)).toEqual(store.versions('acme', 'acme_core'));
  });

  it('serves an empty repository its /names and /versions, and no package file for an unknown package', async () => {
    const store = await openStore();
    expect(await registry<Names>(store, 'names', 'frozen')).toEqual({ repository: 'frozen', packages: [] });
    expect(await registry<Versions>(store, 'versions', 'frozen')).toEqual({ repository: 'frozen', packages: [] });
    expect(await store.registryFile('frozen', 'packages/nothing')).toBeUndefined();
    expect(await store.registryFile('globex', 'names')).toBeUndefined();
  });

  it('changes its generation with every commit, so memory copies know to go', async () => {
    const store = await openStore();
    const before = store.generation('acme');
    const other = store.generation('frozen');
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    expect(store.generation('acme')).not.toBe(before);
    expect(store.generation('frozen')).toBe(other);
  });
});

describe('upkeep', () => {
  it('rebuilds a registry file that no longer verifies (a new signing key), from the rows', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const first = await openStore(dir);
    await publish(first, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    first.close();
    const rotated = await openStore(dir, { signingKey: wrongKeyPair().privateKey });
    const file = await rotated.registryFile('acme', 'packages/acme_core');
    const opened = await openRegistryFile(
      file?.body ?? Buffer.alloc(0),
      { kind: 'package', name: 'acme_core' },
      {
        publicKey: wrongKeyPair().publicKey,
        repository: 'acme',
        maxBytes: 1 << 20,
      },
    );
    expect((opened.message as Package).releases.map((r) => r.version)).toEqual(['1.0.0']);
  });

  it('verifies tarballs, docs and registry files against the rows, and reports without deleting', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    await store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('docs'));
    expect(await verifyHosted(store)).toEqual({ checked: 7, ok: 7, skipped: [], problems: [] });
    const tarball = store.tarballFile('acme', 'acme_core', '1.0.0') ?? fail();
    writeFileSync(tarball.path, Buffer.alloc(tarball.size, 1));
    // Another process changes a registry file's bytes behind the store's back.
    const db = new Database(join(dir, 'hosted.db'));
    db.prepare(
      "UPDATE registry_files SET body = (SELECT body FROM registry_files WHERE repo = 'frozen' AND path = 'names') WHERE repo = 'acme' AND path = 'names'",
    ).run();
    db.close();
    const report = await verifyHosted(store);
    expect(report.problems).toEqual([
      {
        key: 'hosted/acme/tarballs/acme_core-1.0.0.tar',
        reason: expect.stringMatching(/has SHA-256 [0-9a-f]{64} \(\d+ bytes\); the release's row says/),
      },
      { key: 'hosted/acme/registry/names', reason: expect.stringMatching(/names repository "frozen", expected "acme"/) },
    ]);
    // Nothing moved: the file is still where the row says.
    expect(readdirSync(join(dir, 'blobs', 'acme', 'tarballs'))).toEqual([tarball.key.split('/').at(-1)]);
  });

  it('removes blobs no release names (a kill between the blob and the commit), and keeps the rest', async () => {
    const dir = tempDir('hexproxy-hosted-');
    const store = await openStore(dir);
    await publish(store, await validatedRelease({ name: 'acme_core', version: '1.0.0' }));
    const debris = join(dir, 'blobs', 'acme', 'tarballs', 'acme_core-1.1.0-0123456789ab.tar');
    writeFileSync(debris, 'staged, never committed');
    // Not ours: left alone.
    writeFileSync(join(dir, 'blobs', 'acme', 'README'), 'keep');
    // Committed before the pass begins (ctime has finer grain than the pass start in ms).
    await new Promise((resolve) => setTimeout(resolve, 5));
    const report = await store.reconcile({ settleMs: 0 });
    expect(report).toMatchObject({ blobs: 3, removed: 1, deferred: 0, missing: [] });
    expect(blobFiles(dir)).toEqual([`tarballs/${store.tarballFile('acme', 'acme_core', '1.0.0')?.key.split('/').at(-1)}`]);
  });
});

function fail(): never {
  throw new Error('expected a value');
}
