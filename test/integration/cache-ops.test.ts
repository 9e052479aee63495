// Cache management: stats, verify (with quarantine), evict, LRU eviction with pins, and
// mirror (including an interrupted run that resumes), against a real fake upstream.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tarballKey } from '../../src/cache/layout.js';
import { cacheStats } from '../../src/cache/stats.js';
import { evictPackage } from '../../src/cache/evict.js';
import { verifyCache } from '../../src/cache/verify.js';
import { fetchReleases } from '../../src/ops/fetch-releases.js';
import { pickReleases, planMirror } from '../../src/ops/mirror.js';
import type { Release } from '../../src/registry/types.js';
import { cliPath, runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { publicRepository, startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const packages = [
  { name: 'phoenix', releases: [{ version: '1.6.0' }, { version: '1.7.0' }, { version: '1.8.0-rc.0' }] },
  { name: 'phoenix_html', releases: [{ version: '3.0.0' }, { version: '4.0.0', retired: { reason: 2 } }] },
  { name: 'plug', releases: [{ version: '1.14.0' }, { version: '1.15.0' }] },
  { name: 'jason', releases: [{ version: '1.4.0', padBytes: 20_000 }] },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(flags: Record<string, string | boolean> = {}): Promise<{ upstream: FakeUpstream; proxy: TestProxy }> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags });
  cleanups.push(() => proxy.close());
  return { upstream, proxy };
}

describe('cache stats', () => {
  it('counts entries, bytes, hits and misses, and ranks packages by hits', async () => {
    const { proxy, upstream } = await setup();
    await proxy.get('/tarballs/plug-1.15.0.tar');
    await proxy.get('/tarballs/plug-1.15.0.tar');
    await proxy.get('/tarballs/plug-1.15.0.tar');
    await proxy.get('/tarballs/jason-1.4.0.tar');
    // Usage is written every few seconds and on close.
    await proxy.close();
    const { CacheIndex } = await import('../../src/store/cache-index.js');
    const index = new CacheIndex(join(proxy.dataDir, 'hexproxy.db'));
    try {
      const stats = cacheStats(index);
      expect(stats.tarballs.count).toBe(2);
      expect(stats.tarballs.bytes).toBe(upstream.tarball('plug', '1.15.0').tar.length + upstream.tarball('jason', '1.4.0').tar.length);
      expect(stats.counters['tarball_hit']).toBe(2);
      expect(stats.counters['tarball_miss']).toBe(2);
      expect(stats.hitRatio.tarballs).toBe(0.5);
      expect(stats.topPackages[0]).toMatchObject({ name: 'plug', hits: 2, releases: 1 });
      expect(stats.registryFiles.count).toBe(2);
    } finally {
      index.close();
    }
  });
});

describe('cache verify', () => {
  it('finds a tarball changed on disk, quarantines it, and the proxy fetches a good copy again', async () => {
    const { proxy, upstream } = await setup();
    await proxy.get('/tarballs/plug-1.14.0.tar');
    await proxy.get('/tarballs/plug-1.15.0.tar');
    const { index, blobs, upstreamKey, config } = proxy.server.hexproxy;
    const file = join(proxy.dataDir, tarballKey('hexpm', 'plug', '1.14.0'));
    const bytes = readFileSync(file);
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    const report = await verifyCache({ index, blobs, registryKey: () => upstreamKey, maxRegistryBytes: config.cache.maxRegistryBytes });
    expect(report.checked).toBe(3);
    expect(report.ok).toBe(2);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]?.key).toBe(tarballKey('hexpm', 'plug', '1.14.0'));
    expect(report.problems[0]?.reason).toContain(`index says ${upstream.tarball('plug', '1.14.0').outerChecksum.toString('hex')}`);
    const quarantined = report.problems[0]?.quarantinedAs as string;
    expect(readFileSync(join(proxy.dataDir, quarantined)).equals(bytes)).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(index.findTarball('hexpm', 'plug', '1.14.0')).toBeUndefined();
    const again = await proxy.get('/tarballs/plug-1.14.0.tar');
    expect(again.status).toBe(200);
    expect(again.body.equals(upstream.tarball('plug', '1.14.0').tar)).toBe(true);
  });

  it('exits non-zero from the CLI when something is bad, says the cached copy on disk is bad (not upstream), and names each item it checks', async () => {
    const { proxy, upstream } = await setup();
    await proxy.get('/packages/plug');
    await proxy.get('/tarballs/jason-1.4.0.tar');
    const key = join(proxy.dataDir, 'registry', 'hexpm', 'packages', 'plug');
    writeFileSync(key, readFileSync(key).subarray(0, 20));
    await proxy.close();
    const keyFile = join(tempDir(), 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    const result = await runCli(['cache', 'verify', '--data-dir', proxy.dataDir, '--upstream-public-key', keyFile]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/bad:\s+1/);
    expect(result.stdout).toMatch(/registry\/hexpm\/packages\/plug: the cached copy of \/packages\/plug is not valid gzip; moved to quarantine\//);
    expect(result.stdout + result.stderr).not.toContain('from upstream');
    // Piped, progress is one line per item, naming it: tarballs first, then registry files.
    const progress = result.stderr.split('\n').filter((line) => line.startsWith('verify '));
    expect(progress).toEqual([
      `verify 1/3: ${tarballKey('hexpm', 'jason', '1.4.0')} ok`,
      'verify 2/3: registry/hexpm/packages/jason ok',
      'verify 3/3: registry/hexpm/packages/plug bad',
    ]);
  });

  it('says a registry file cached on disk no longer verifies when the server reads it, and fetches it again', async () => {
    const { proxy, upstream } = await setup();
    await proxy.get('/packages/plug');
    const key = join(proxy.dataDir, 'registry', 'hexpm', 'packages', 'plug');
    writeFileSync(key, readFileSync(key).subarray(0, 20));
    // Out of memory, so the next request reads the file from disk.
    publicRepository(proxy.server).registry.dropMemory();
    const again = await proxy.get('/packages/plug');
    expect(again.status).toBe(200);
    const line = proxy.logs.find((entry) => entry.msg === 'a cached registry file no longer verifies; discarding it');
    expect(line?.['err']).toBe('the cached copy of /packages/plug is not valid gzip');
    expect(upstream.hits('/packages/plug')).toBe(2);
  });
});

describe('cache evict and LRU eviction', () => {
  it('evicts one release or a whole package with its registry file', async () => {
    const { proxy } = await setup();
    await proxy.get('/tarballs/plug-1.14.0.tar');
    await proxy.get('/tarballs/plug-1.15.0.tar');
    const { index, blobs } = proxy.server.hexproxy;
    const one = await evictPackage(index, blobs, 'hexpm', 'plug', '1.14.0');
    expect(one.tarballs.map((row) => row.version)).toEqual(['1.14.0']);
    expect(one.registryFile).toBe(false);
    expect(existsSync(join(proxy.dataDir, tarballKey('hexpm', 'plug', '1.14.0')))).toBe(false);
    const all = await evictPackage(index, blobs, 'hexpm', 'plug');
    expect(all.tarballs.map((row) => row.version)).toEqual(['1.15.0']);
    expect(all.registryFile).toBe(true);
    expect(index.findRegistryFile('hexpm', 'packages/plug')).toBeUndefined();
    await expect(evictPackage(index, blobs, 'hexpm', 'plug')).rejects.toThrow(/nothing cached for plug/);
  });

  it('keeps the cache under maxCacheBytes, least recently used first, never a pinned tarball', async () => {
    const { proxy, upstream } = await setup();
    const size = (name: string, version: string): number => upstream.tarball(name, version).tar.length;
    const { index, repositories, blobs, log } = proxy.server.hexproxy;
    // phoenix 1.6.0 pinned (as prewarm --pin would), then the others fetched in order.
    await fetchReleases([{ repo: 'hexpm', name: 'phoenix', version: '1.6.0', source: 'test' }], { index, repositories, concurrency: 1, pin: true });
    for (const [name, version] of [
      ['plug', '1.14.0'],
      ['plug', '1.15.0'],
      ['phoenix', '1.7.0'],
    ] as const) {
      await proxy.get(`/tarballs/${name}-${version}.tar`);
    }
    // Recent use of plug 1.14.0 makes plug 1.15.0 the least recently used unpinned one.
    index.saveUsage([{ repo: 'hexpm', name: 'plug', version: '1.14.0', hits: 1, lastUsedAt: Date.now() + 1000 }], []);
    const total = index.tarballTotals().bytes;
    const { CacheEvictor } = await import('../../src/cache/evictor.js');
    const limit = total - size('plug', '1.15.0') + 1;
    const evictor = new CacheEvictor(index, blobs, Math.ceil(limit / 0.9), log);
    const result = await evictor.run();
    expect(result.evicted.map((row) => `${row.name}-${row.version}`)).toEqual(['plug-1.15.0']);
    expect(index.findTarball('hexpm', 'phoenix', '1.6.0')?.pinned).toBe(true);
    // A limit below the pinned bytes evicts everything else, but not the pinned one.
    const tight = await new CacheEvictor(index, blobs, 1, log).run();
    expect(tight.evicted.map((row) => row.name).sort()).toEqual(['phoenix', 'plug']);
    expect(index.listTarballs().map((row) => `${row.name}-${row.version}`)).toEqual(['phoenix-1.6.0']);
    expect(existsSync(join(proxy.dataDir, tarballKey('hexpm', 'phoenix', '1.6.0')))).toBe(true);
  });
});

describe('mirror', () => {
  const release = (version: string, retired = false): Release => ({
    version,
    inner_checksum: Buffer.alloc(32),
    dependencies: [],
    advisory_indexes: [],
    ...(retired && { retired: { reason: 0 } }),
  });

  it('picks latest, N or all releases', () => {
    const releases = [release('1.0.0'), release('2.0.0-rc.1'), release('1.2.0', true), release('1.1.0')];
    expect(pickReleases(releases, { kind: 'latest' }).map((r) => r.version)).toEqual(['1.1.0']);
    expect(pickReleases(releases, { kind: 'newest', count: 2 }).map((r) => r.version)).toEqual(['2.0.0-rc.1', '1.1.0']);
    expect(pickReleases(releases, { kind: 'all' }).map((r) => r.version)).toEqual(['2.0.0-rc.1', '1.2.0', '1.1.0', '1.0.0']);
    expect(pickReleases([release('0.1.0-dev')], { kind: 'latest' }).map((r) => r.version)).toEqual(['0.1.0-dev']);
  });

  it('plans a subset with --only and --exclude globs', async () => {
    const { proxy } = await setup();
    const plan = await planMirror(publicRepository(proxy.server), { only: ['phoenix*'], exclude: ['*_html'], versions: { kind: 'all' } }, 4);
    expect(plan.targets.map((t) => `${t.name}@${t.version}`)).toEqual(['phoenix@1.6.0', 'phoenix@1.7.0', 'phoenix@1.8.0-rc.0']);
  });

  it('resumes after being killed mid-run, fetching each tarball once', async () => {
    const { proxy, upstream } = await setup();
    await proxy.close();
    const keyFile = join(tempDir(), 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    const args = [
      'mirror',
      '--versions',
      'all',
      '--concurrency',
      '1',
      '--data-dir',
      proxy.dataDir,
      '--upstream-url',
      upstream.url,
      '--upstream-public-key',
      keyFile,
    ];
    // One at a time, by name then version: jason, phoenix x3, then phoenix_html 3.0.0 is
    // held; once hexproxy waits on it, four are done: kill it there.
    const gate = upstream.hold('/tarballs/phoenix_html-3.0.0.tar');
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', (_code, signal) => resolve(signal === 'SIGKILL' ? -9 : _code)));
    await gate.arrived(1);
    child.kill('SIGKILL');
    expect(await exited).toBe(-9);
    gate.release();
    expect(upstream.hits('/tarballs/phoenix-1.6.0.tar')).toBe(1);
    const second = await runCli(args);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/fetched:\s+4/);
    expect(second.stdout).toMatch(/already cached: 4/);
    for (const pkg of packages) {
      for (const { version } of pkg.releases) {
        expect(upstream.hits(`/tarballs/${pkg.name}-${version}.tar`), `${pkg.name} ${version}`).toBe(
          pkg.name === 'phoenix_html' && version === '3.0.0' ? 2 : 1,
        );
      }
    }
    const third = await runCli(args);
    expect(third.stdout).toMatch(/fetched:\s+0/);
    expect(third.stdout).toMatch(/already cached: 8/);
  });
});
