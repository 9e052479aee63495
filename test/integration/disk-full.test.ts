// A full disk, a full index and a data directory that turns read-only, on a small tmpfs:
// the client gets its verified bytes (small tarballs, answered before they are stored) or a
// clear 507 (what is streamed to disk first), what is cached keeps being served, nothing
// half-written is left behind, and the same request is cached once there is space (or write
// access) again.
import { spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registryKey as registryBlobKey, tarballKey } from '../../src/cache/layout.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { cliPath } from '../support/cli.js';
import { cacheProblems, fetchAndCheck, settled } from '../support/crash/checks.js';
import { mountPermitted, mountSmallDisk, type SmallDisk } from '../support/crash/disk.js';
import { stagedFiles } from '../support/crash/harness.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type LogRecord, type TestProxy } from '../support/proxy.js';

const permitted = mountPermitted();
if (!permitted.ok) console.warn(`test/integration/disk-full.test.ts is skipped: ${permitted.reason}`);

const packages: PackageSpec[] = [
  { name: 'alpha', releases: [{ version: '1.0.0', padBytes: 2_000 }] },
  { name: 'beta', releases: [{ version: '1.0.0', padBytes: 300_000 }] },
  { name: 'gamma', releases: [{ version: '1.0.0', padBytes: 2_000 }] },
  // Over HOT_TARBALL_MAX_BYTES: streamed to disk and verified before it is served.
  { name: 'huge', releases: [{ version: '1.0.0', padBytes: 1_200_000 }] },
];

const PAGE = 4096;
const pagesOf = (bytes: number): number => Math.ceil(bytes / PAGE);

const upstreams: FakeUpstream[] = [];
const proxies: TestProxy[] = [];
const disks: SmallDisk[] = [];
afterEach(async () => {
  // A proxy whose shutdown hangs (see the read-only tests) still lets go of its index, so the disk can be unmounted.
  for (const proxy of proxies.splice(0)) if (!(await closesWithin(proxy, 1000))) proxy.server.hexproxy.index.close();
  for (const upstream of upstreams.splice(0)) await upstream.close();
  for (const disk of disks.splice(0)) await disk.unmount();
});

async function closesWithin(proxy: TestProxy, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([proxy.close().then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Setup {
  disk: SmallDisk;
  dataDir: string;
  upstream: FakeUpstream;
  start(): Promise<TestProxy>;
}

async function setup(): Promise<Setup> {
  const disk = mountSmallDisk(2 * 1024 * 1024);
  disks.push(disk);
  const upstream = await startFakeUpstream({ packages });
  upstreams.push(upstream);
  const dataDir = join(disk.dir, 'data');
  return {
    disk,
    dataDir,
    upstream,
    async start() {
      const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir });
      proxies.push(proxy);
      // Nothing in the background (the reconcile pass) may write while the test measures free space.
      const deadline = Date.now() + 10_000;
      while (!proxy.logs.some((line) => line.msg === 'cache reconciled') && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      return proxy;
    },
  };
}

async function serverKey(proxy: TestProxy): Promise<KeyObject> {
  return parsePublicKey((await proxy.get('/public_key')).body.toString());
}

/** A 200 with exactly upstream's bytes (tarballs, docs) or a body that verifies with hexproxy's key and holds upstream's payload. */
async function expectServed(proxy: TestProxy, upstream: FakeUpstream, path: string): Promise<void> {
  const served = await fetchAndCheck(proxy.url, path, upstream, await serverKey(proxy));
  expect(served, path).toMatchObject({ outcome: 'ok', status: 200 });
}

async function expectRefused(proxy: TestProxy, path: string, reason: RegExp): Promise<void> {
  const response = await proxy.get(path);
  expect(response.status, `${path}: ${response.body.toString()}`).toBe(507);
  expect(response.headers['x-hexproxy-error']).toBe('storage_failed');
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.body.toString()).toMatch(reason);
}

/**
 * Small tarballs are answered from their verified bytes while they are written to disk, so
 * a fill that cannot be stored still serves the client; the failure is logged.
 */
async function expectServedNotStored(proxy: TestProxy, upstream: FakeUpstream, path: string, reason: RegExp): Promise<void> {
  const failures = (): LogRecord[] => proxy.logs.filter((line) => line.msg === 'cannot cache a tarball');
  const before = failures().length;
  const response = await proxy.get(path);
  expect(response.status, `${path}: ${response.body.toString()}`).toBe(200);
  expect(response.headers['x-hexproxy-cache']).toBe('MISS');
  const name = path.slice('/tarballs/'.length, -'.tar'.length);
  const dash = name.indexOf('-');
  expect(response.body.equals(upstream.tarball(name.slice(0, dash), name.slice(dash + 1)).tar), path).toBe(true);
  // The store fails behind the answer; its log line is the only sign.
  const deadline = Date.now() + 5_000;
  while (failures().length === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(String(failures()[before]?.['err']), `${path}: the logged reason`).toMatch(reason);
}

async function expectNothingLeftBehind(setup: Setup): Promise<void> {
  expect(await settled(() => stagedFiles(setup.dataDir)), 'staged files in .tmp').toEqual([]);
  expect(await settled(() => cacheProblems(setup.dataDir, setup.upstream))).toEqual([]);
}

describe.skipIf(!permitted.ok)(`a full or unwritable disk${permitted.ok ? '' : ` (skipped: ${permitted.reason})`}`, () => {
  it('serves a tarball that does not fit without storing it ("the disk is full" logged), keeps serving what is cached, and stores it once there is space', async () => {
    const s = await setup();
    const proxy = await s.start();
    await expectServed(proxy, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await expectServed(proxy, s.upstream, '/packages/beta');
    await expectServed(proxy, s.upstream, '/names');
    // 64 KiB free: writing the 300 KB tarball fails with ENOSPC part way through.
    s.disk.fill(64 * 1024);
    await expectServedNotStored(
      proxy,
      s.upstream,
      '/tarballs/beta-1.0.0.tar',
      /cannot write to the cache \(.*beta-1\.0\.0\.tar\): the disk is full; free space or move the data directory/,
    );
    expect(existsSync(join(s.dataDir, tarballKey('hexpm', 'beta', '1.0.0')))).toBe(false);
    await expectNothingLeftBehind(s);
    for (const path of ['/tarballs/alpha-1.0.0.tar', '/packages/beta', '/names']) await expectServed(proxy, s.upstream, path);

    // Not a byte free: a registry file that cannot be cached is still served, and so is its
    // tarball; docs, streamed to disk before they are served, are refused.
    s.disk.fill(0);
    const gamma = await proxy.get('/packages/gamma');
    expect(gamma.status).toBe(200);
    expect(gamma.headers['x-hexproxy-cache']).toBe('MISS');
    await expectServed(proxy, s.upstream, '/packages/gamma');
    expect(proxy.logs.some((line) => line.msg === 'cannot cache a registry file' && String(line['err']).includes('the disk is full'))).toBe(true);
    await expectServedNotStored(proxy, s.upstream, '/tarballs/gamma-1.0.0.tar', /the disk is full/);
    await expectRefused(proxy, '/docs/gamma-1.0.0.tar.gz', /the disk is full/);
    await expectServed(proxy, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await expectNothingLeftBehind(s);

    s.disk.empty();
    for (const path of ['/tarballs/beta-1.0.0.tar', '/tarballs/gamma-1.0.0.tar', '/packages/gamma', '/docs/gamma-1.0.0.tar.gz'])
      await expectServed(proxy, s.upstream, path);
    expect((await proxy.get('/tarballs/beta-1.0.0.tar')).headers['x-hexproxy-cache']).toBe('HIT');
    await expectNothingLeftBehind(s);
  });

  it('serves a tarball whose index row cannot be written (SQLite full) without storing it, and does not leave its file behind', async () => {
    const s = await setup();
    const first = await s.start();
    await expectServed(first, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await expectServed(first, s.upstream, '/packages/beta');
    await first.close();
    // A restart: the index's write-ahead log starts empty, so the next write has to grow it.
    const proxy = await s.start();
    const tarball = s.upstream.tarball('beta', '1.0.0').tar;
    // Room for the tarball's file, and not one page more for the index.
    s.disk.fill(pagesOf(tarball.length) * PAGE);
    await expectServedNotStored(
      proxy,
      s.upstream,
      '/tarballs/beta-1.0.0.tar',
      /cannot update the cache index: the disk is full; free space or move the data directory/,
    );
    await expectServed(proxy, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await expectServed(proxy, s.upstream, '/packages/beta');
    expect(await settled(() => stagedFiles(s.dataDir))).toEqual([]);
    const index = new CacheIndex(join(s.dataDir, 'hexproxy.db'));
    try {
      expect(index.findTarball('hexpm', 'beta', '1.0.0')).toBeUndefined();
    } finally {
      index.close();
    }
    // Found by this test: the committed file used to stay, with no row, taking the very space
    // that was short. A file whose row cannot be written now goes too.
    expect(
      existsSync(join(s.dataDir, tarballKey('hexpm', 'beta', '1.0.0'))),
      'the tarball file that could not be indexed is left on the full disk',
    ).toBe(false);

    s.disk.empty();
    await expectServed(proxy, s.upstream, '/tarballs/beta-1.0.0.tar');
    await expectNothingLeftBehind(s);
  });

  it('serves a registry file whose index row cannot be written (SQLite full), and does not leave its file behind', async () => {
    const s = await setup();
    const first = await s.start();
    await expectServed(first, s.upstream, '/names');
    await first.close();
    const proxy = await s.start();
    const body = s.upstream.body('/packages/gamma') as Buffer;
    s.disk.fill(pagesOf(body.length) * PAGE);
    await expectServed(proxy, s.upstream, '/packages/gamma');
    expect(
      proxy.logs.some(
        (line) => line.msg === 'cannot cache a registry file' && String(line['err']).includes('cannot update the cache index: the disk is full'),
      ),
    ).toBe(true);
    expect(await settled(() => stagedFiles(s.dataDir))).toEqual([]);
    // As for tarballs (this used to leave the file behind).
    expect(
      existsSync(join(s.dataDir, registryBlobKey('hexpm', 'packages/gamma'))),
      'the registry file that could not be indexed is left on the full disk',
    ).toBe(false);
    s.disk.empty();
    await expectServed(proxy, s.upstream, '/packages/gamma');
    await expectServed(proxy, s.upstream, '/tarballs/gamma-1.0.0.tar');
    expect(await settled(() => stagedFiles(s.dataDir))).toEqual([]);
    // Apart from that file (fresh in memory, so not written again until it is revalidated), index and files agree.
    expect(
      await settled(() =>
        cacheProblems(s.dataDir, s.upstream).filter((problem) => problem !== 'registry/hexpm/packages/gamma: a file with no index row'),
      ),
    ).toEqual([]);
  });

  it('refuses docs it cannot store with 507 "not writable" while the data directory is read-only, serves tarballs unstored, and keeps serving what is cached', async () => {
    const s = await setup();
    const proxy = await s.start();
    const cached = ['/tarballs/alpha-1.0.0.tar', '/packages/beta', '/names', '/docs/alpha-1.0.0.tar.gz'];
    for (const path of cached) await expectServed(proxy, s.upstream, path);
    // The whole tmpfs cannot be remounted read-only while SQLite holds its files open for
    // writing (EBUSY), so every directory the blob store writes to is made read-only instead.
    for (const dir of ['.tmp', 'tarballs', 'registry', 'passthrough']) s.disk.readOnly(join(s.dataDir, dir));
    const notWritable = /the data directory is not writable by hexproxy/;
    await expectServedNotStored(proxy, s.upstream, '/tarballs/beta-1.0.0.tar', notWritable);
    await expectRefused(proxy, '/docs/beta-1.0.0.tar.gz', notWritable);
    for (const path of cached) await expectServed(proxy, s.upstream, path);
    // A registry file that cannot be cached is still served.
    await expectServed(proxy, s.upstream, '/packages/gamma');
    await expectServedNotStored(proxy, s.upstream, '/tarballs/gamma-1.0.0.tar', notWritable);
    await expectNothingLeftBehind(s);

    s.disk.writable();
    for (const path of ['/tarballs/beta-1.0.0.tar', '/docs/beta-1.0.0.tar.gz', '/tarballs/gamma-1.0.0.tar', '/packages/gamma'])
      await expectServed(proxy, s.upstream, path);
    await expectNothingLeftBehind(s);
    // Found by this test: when the staged file could not be created, the upstream response was
    // never read nor dumped; undici kept the request (paused, so no timeout fired) and close()
    // waited for it for ever. Every way out of a download now lets the body go.
    expect(await closesWithin(proxy, 2000), 'the server shuts down after refusing fills').toBe(true);
  });

  it('keeps reaching upstream after more fills it could not store than it has upstream connections', async () => {
    const s = await setup();
    const proxy = await s.start();
    await expectServed(proxy, s.upstream, '/packages/beta');
    s.disk.readOnly(join(s.dataDir, '.tmp'));
    // The upstream client has 64 connections; each 300 KB tarball fill that cannot be stored must give its back.
    for (let i = 0; i < 64; i += 1)
      await expectServedNotStored(proxy, s.upstream, '/tarballs/beta-1.0.0.tar', /the data directory is not writable by hexproxy/);
    // Large tarballs are streamed to disk before they are served: refused, and their connections given back too.
    for (let i = 0; i < 64; i += 1) await expectRefused(proxy, '/tarballs/huge-1.0.0.tar', /the data directory is not writable by hexproxy/);
    // Each refused fill used to keep its upstream connection, so this request queued for ever.
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      proxy.get('/packages/gamma').then((response) => response.status),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('no answer within 2 s'), 2000))),
    ]);
    clearTimeout(timer);
    expect(next, 'a registry file that needs upstream, after 64 refused fills').toBe(200);
  });

  it('survives a reconcile pass that cannot remove what it should (read-only), saying so in its log line', async () => {
    const s = await setup();
    const first = await s.start();
    await expectServed(first, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await first.close();
    const index = new CacheIndex(join(s.dataDir, 'hexproxy.db'));
    try {
      index.removeTarball('hexpm', 'alpha', '1.0.0');
    } finally {
      index.close();
    }
    s.disk.readOnly(join(s.dataDir, 'tarballs'));
    const proxy = await s.start();
    const line = proxy.logs.find((l) => l.msg === 'cache reconciled');
    expect(line).toMatchObject({ level: 40, failed: 1, tarballs: { files: 1, filesRemoved: 0 } });
    expect(String(line?.['firstFailure'])).toMatch(/EROFS/);
    expect(existsSync(join(s.dataDir, tarballKey('hexpm', 'alpha', '1.0.0')))).toBe(true);
    expect((await proxy.get('/healthz')).status).toBe(200);
    // Not served from disk (it has no row), and no fresh copy can be renamed into place while
    // read-only (across the bind mount the rename fails with EXDEV rather than EROFS); the
    // client gets the verified bytes fetched anew.
    await expectServedNotStored(proxy, s.upstream, '/tarballs/alpha-1.0.0.tar', /cannot commit .*alpha-1\.0\.0\.tar to the cache/);
    expect(await settled(() => stagedFiles(s.dataDir))).toEqual([]);
  });

  it('does not start on a read-only data directory, and says which file and why', async () => {
    const s = await setup();
    const first = await s.start();
    await expectServed(first, s.upstream, '/tarballs/alpha-1.0.0.tar');
    await first.close();
    s.disk.readOnly(s.disk.dir);
    const keyFile = join(tempDir(), 'upstream.pem');
    writeFileSync(keyFile, s.upstream.publicKeyPem);
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--data-dir',
        s.dataDir,
        '--upstream-url',
        s.upstream.url,
        '--upstream-public-key',
        keyFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
    // Refused before anything is opened or written, as a configuration error (exit 2).
    expect(code).toBe(2);
    // It used to say only "hexproxy: unable to open database file".
    expect(stderr, 'names the data directory').toContain(`data directory ${s.dataDir} is not writable`);
    expect(stderr, 'says why').toMatch(/EROFS\); it is on a read-only file system; remount it read-write/);
  });
});
