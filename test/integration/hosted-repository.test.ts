// A hosted repository served by a running hexproxy: releases published through the store
// (as the publishing routes will), then every file of the Hex read protocol over HTTP with
// a read token (and refused without one), fetched and compiled by the real rebar3 with a
// hex.pm dependency, left alone by eviction, and checked by `cache verify`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { validatedRelease } from '../support/hosted-release.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';

let upstream: FakeUpstream;
let proxy: TestProxy;
let store: HostedStore;
let readToken = '';
let publicToken = '';

const rebar3 = await rebar3Available();

async function token(name: string, read: string): Promise<string> {
  const created = await runCli(['token', 'create', name, '--read', read, '--config', proxy.configFile ?? '', '--data-dir', proxy.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

const proxyKey = () => parsePublicKey(proxy.server.hexproxy.keys.publicKeyPem);

async function opened<T>(body: Buffer, path: string): Promise<T> {
  const resource = path.startsWith('packages/')
    ? { kind: 'package' as const, name: path.slice('packages/'.length) }
    : { kind: path as 'names' | 'versions' };
  return (await openRegistryFile(body, resource, { publicKey: proxyKey(), repository: 'acme', maxBytes: 1 << 24 })).message as T;
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'pub_json', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] }] });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    config: { hosted: { acme: {} } },
    // Anything cached beyond a byte is evicted: hosted packages must not be.
    flags: { 'max-cache-bytes': '1' },
  });
  const hosted = proxy.server.hexproxy.hosted;
  if (!hosted) throw new Error('hexproxy opened no hosted store');
  store = hosted;
  await store.publish(
    'acme',
    await validatedRelease({ name: 'acme_core', version: '1.0.0', dependencies: [{ package: 'pub_json', requirement: '~> 1.0' }] }),
    {
      replace: false,
      publisher: 'ci-publish',
    },
  );
  await store.publish(
    'acme',
    await validatedRelease({
      name: 'acme_util',
      version: '0.1.0',
      dependencies: [{ package: 'acme_core', requirement: '~> 1.0', repository: 'acme' }],
    }),
    { replace: false, publisher: 'ci-publish' },
  );
  await store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('not really gzip, but docs bytes all the same'));
  readToken = await token('acme-reader', 'hexpm,acme');
  publicToken = await token('public-reader', 'hexpm');
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('a hosted repository over HTTP', () => {
  it('serves every file of the read protocol to a token that may read it', async () => {
    const get = (path: string) => proxy.get(`/repos/acme/${path}`, { authorization: readToken });
    const names = await get('names');
    expect(names.status).toBe(200);
    expect(names.headers['cache-control']).toMatch(/^private\b/);
    expect((await opened<Names>(names.body, 'names')).packages.map((p) => p.name)).toEqual(['acme_core', 'acme_util']);
    const versions = await get('versions');
    expect((await opened<Versions>(versions.body, 'versions')).packages.map((p) => [p.name, p.versions])).toEqual([
      ['acme_core', ['1.0.0']],
      ['acme_util', ['0.1.0']],
    ]);
    const core = await get('packages/acme_core');
    expect(core.status).toBe(200);
    const pkg = await opened<Package>(core.body, 'packages/acme_core');
    expect(pkg.releases[0]?.dependencies).toEqual([{ package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' }]);
    expect((await opened<Package>((await get('packages/acme_util')).body, 'packages/acme_util')).releases[0]?.dependencies).toEqual([
      { package: 'acme_core', requirement: '~> 1.0' },
    ]);
    const tarball = await get('tarballs/acme_core-1.0.0.tar');
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(readFileSync(store.tarballFile('acme', 'acme_core', '1.0.0')?.path ?? ''))).toBe(true);
    expect(tarball.headers['etag']).toBe(`"${store.tarballFile('acme', 'acme_core', '1.0.0')?.sha256}"`);
    expect(tarball.headers['cache-control']).toMatch(/^private\b/);
    // Asked again, with its ETag: not modified.
    expect(
      (await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: readToken, 'if-none-match': tarball.headers['etag'] ?? '' }))
        .status,
    ).toBe(304);
    const docs = await get('docs/acme_core-1.0.0.tar.gz');
    expect(docs.status).toBe(200);
    expect(docs.body.toString()).toBe('not really gzip, but docs bytes all the same');
    const key = await get('public_key');
    expect(key.body.toString()).toBe(proxy.server.hexproxy.keys.publicKeyPem);
  });

  it('lets nobody else read it: 401 without a token, 403 with a token for other repositories, never anonymously', async () => {
    for (const path of ['names', 'versions', 'packages/acme_core', 'tarballs/acme_core-1.0.0.tar', 'docs/acme_core-1.0.0.tar.gz']) {
      const anonymous = await proxy.get(`/repos/acme/${path}`);
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.body.toString(), path).not.toContain('acme_core 1.0.0');
      expect((await proxy.get(`/repos/acme/${path}`, { authorization: publicToken })).status, path).toBe(403);
    }
  });

  it('answers 404 for what was not published', async () => {
    for (const path of ['packages/nothing', 'tarballs/acme_core-9.9.9.tar', 'docs/acme_util-0.1.0.tar.gz', 'policies/strict']) {
      expect((await proxy.get(`/repos/acme/${path}`, { authorization: readToken })).status, path).toBe(404);
    }
  });

  it('serves registry files from memory after the first read, and a publish shows at once', async () => {
    const repository = proxy.server.hexproxy.repositories.get('acme');
    await proxy.get('/repos/acme/packages/acme_util', { authorization: readToken });
    const hot = repository?.registry.peek('packages/acme_util');
    expect(hot).toBeDefined();
    expect((await proxy.get('/repos/acme/packages/acme_util', { authorization: readToken })).headers['etag']).toBe(hot?.etag);
    await store.publish('acme', await validatedRelease({ name: 'acme_util', version: '0.2.0' }), { replace: false, publisher: 'ci-publish' });
    expect(repository?.registry.peek('packages/acme_util')).toBeUndefined();
    const after = await proxy.get('/repos/acme/packages/acme_util', { authorization: readToken });
    expect((await opened<Package>(after.body, 'packages/acme_util')).releases.map((r) => r.version)).toEqual(['0.1.0', '0.2.0']);
    const versions = await proxy.get('/repos/acme/versions', { authorization: readToken });
    expect((await opened<Versions>(versions.body, 'versions')).packages.find((p) => p.name === 'acme_util')?.versions).toEqual(['0.1.0', '0.2.0']);
  });
});

describe.skipIf(!rebar3 && !requireRebar3)('rebar3 and a hosted repository', () => {
  it('fetches and compiles a hosted package, its hosted dependency and its hex.pm dependency (hexpm:acme recipe)', async () => {
    expect(rebar3, 'rebar3 is on PATH (CI=true)').toBe(true);
    const project = rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['{acme_util, "0.1.0"}'],
      organizations: [{ name: 'acme', repoKey: readToken }],
    });
    const result = await project.run(['compile']);
    expect(result.code, result.output).toBe(0);
    for (const app of ['acme_util', 'acme_core', 'pub_json']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    expect(lock).toContain(store.tarballFile('acme', 'acme_core', '1.0.0')?.sha256.toUpperCase());
  });
});

describe('hosted packages are data, not cache', () => {
  it('are left alone by eviction (maxCacheBytes, cache evict)', async () => {
    expect((await proxy.get('/tarballs/pub_json-1.1.0.tar')).status).toBe(200);
    const evicted = await proxy.server.hexproxy.evictor.run();
    expect(evicted.evicted.map((row) => `${row.repo}/${row.name}`)).toContain('hexpm/pub_json');
    const cli = await runCli(['cache', 'evict', 'acme_core', '--config', proxy.configFile ?? '', '--data-dir', proxy.dataDir]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('nothing cached for acme_core');
    expect(store.versions('acme', 'acme_core')).toEqual(['1.0.0']);
    const file = store.tarballFile('acme', 'acme_core', '1.0.0');
    expect(file && existsSync(file.path)).toBe(true);
    expect((await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: readToken })).status).toBe(200);
  });

  it('are checked by cache verify, which reports a tampered tarball and moves nothing', async () => {
    // The fake upstream's key, so the cache's own files verify as they should.
    const upstreamKey = join(tempDir('hexproxy-upstream-key-'), 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    const verify = () =>
      runCli(['cache', 'verify', '--config', proxy.configFile ?? '', '--data-dir', proxy.dataDir, '--upstream-public-key', upstreamKey]);
    const clean = await verify();
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/hosted: {2}8 checked, 8 ok, 0 bad/);
    const file = store.tarballFile('acme', 'acme_util', '0.1.0');
    if (!file) throw new Error('acme_util 0.1.0 is not stored');
    // One bit flipped, the size kept: only hashing finds it.
    const bytes = readFileSync(file.path);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
    writeFileSync(file.path, bytes);
    const tampered = await verify();
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/hosted: {2}8 checked, 7 ok, 1 bad/);
    expect(tampered.stdout).toMatch(
      /hosted\/acme\/tarballs\/acme_util-0\.1\.0\.tar: its file acme\/tarballs\/acme_util-0\.1\.0-[0-9a-f]{12}\.tar has SHA-256 [0-9a-f]{64}/,
    );
    expect(tampered.stdout).toContain('nothing was moved');
    expect(existsSync(file.path)).toBe(true);
  });
});
