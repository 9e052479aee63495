// Crash safety: the reconcile pass on its own, then the real server SIGKILLed at random
// moments under concurrent load and restarted on the same data directory, round after round.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { registryKey as registryBlobKey, tarballKey } from '../../src/cache/layout.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { reconcileCache, type ReconcileOptions } from '../../src/cache/reconcile.js';
import { cacheProblems, fetchAndCheck, type Served, settled } from '../support/crash/checks.js';
import { seededRandom, spawnServer, stagedFiles, type ServerLogLine, type ServerProcess } from '../support/crash/harness.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstreamWith(packages: PackageSpec[]): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  return upstream;
}

describe('reconcile', () => {
  const packages: PackageSpec[] = [
    { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
    { name: 'beta', releases: [{ version: '2.0.0', padBytes: 30_000 }] },
  ];

  /** A data directory with two tarballs, two package files, /names and a doc cached, and the server stopped. */
  async function filledDataDir(upstream: FakeUpstream): Promise<string> {
    const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
    for (const path of ['/tarballs/alpha-1.0.0.tar', '/tarballs/beta-2.0.0.tar', '/names', '/docs/alpha-1.0.0.tar.gz']) {
      expect((await proxy.get(path)).status, path).toBe(200);
    }
    await proxy.close();
    return proxy.dataDir;
  }

  async function reconcile(dataDir: string, options: Partial<ReconcileOptions> = {}): Promise<Awaited<ReturnType<typeof reconcileCache>>> {
    const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
    try {
      const blobs = await FsBlobStore.create(dataDir);
      return await reconcileCache({ index, blobs, settleMs: 0, ...options });
    } finally {
      index.close();
    }
  }

  function withIndex<T>(dataDir: string, work: (index: CacheIndex) => T): T {
    const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
    try {
      return work(index);
    } finally {
      index.close();
    }
  }

  it('finds nothing to do in a consistent cache', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    const report = await reconcile(dataDir);
    expect(report).toMatchObject({
      tarballs: { rows: 2, files: 2, rowsRemoved: 0, filesRemoved: 0 },
      registry: { rows: 3, files: 3, rowsRemoved: 0, rowsRepaired: 0, filesRemoved: 0 },
      passthrough: { rows: 1, files: 1, rowsRemoved: 0, filesRemoved: 0 },
      deferred: 0,
      unknown: 0,
      failed: 0,
      stopped: false,
    });
    expect(cacheProblems(dataDir, upstream)).toEqual([]);
  });

  it('removes files with no row and rows with no file or the wrong size, and nothing else', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    // A kill between rename and insert: files with no row (a tarball, a package file, a doc).
    withIndex(dataDir, (index) => {
      index.removeTarball('hexpm', 'alpha', '1.0.0');
      index.removeRegistryFile('hexpm', 'packages/alpha');
      index.removePassthroughFile('docs/alpha-1.0.0.tar.gz');
    });
    // A row whose file is gone, and one whose file was cut short.
    rmSync(join(dataDir, registryBlobKey('hexpm', 'names')));
    truncateSync(join(dataDir, tarballKey('hexpm', 'beta', '2.0.0')), 1000);
    // Not the reconcile pass's business: quarantine, keys, a file it does not name, another repository's name.
    const untouchable = [
      'quarantine/2026-01-01T00-00-00-000Z/tarballs/hexpm/alpha/alpha-1.0.0.tar',
      'tarballs/hexpm/alpha/README',
      'keys/other.pem',
      'registry/hexpm/packages/Bad-Name',
    ];
    for (const key of untouchable) {
      mkdirSync(join(dataDir, key, '..'), { recursive: true });
      writeFileSync(join(dataDir, key), 'keep me');
    }
    const report = await reconcile(dataDir);
    expect(report).toMatchObject({
      tarballs: { rows: 1, rowsRemoved: 1, filesRemoved: 2 },
      registry: { rows: 2, rowsRemoved: 1, rowsRepaired: 0, filesRemoved: 1 },
      passthrough: { rows: 0, files: 1, rowsRemoved: 0, filesRemoved: 1 },
      deferred: 0,
      unknown: 2,
      failed: 0,
    });
    expect(cacheProblems(dataDir, upstream)).toEqual([
      'tarballs/hexpm/alpha/README: a file with no index row',
      'registry/hexpm/packages/Bad-Name: a file with no index row',
    ]);
    withIndex(dataDir, (index) => {
      expect(index.listTarballs()).toEqual([]);
      expect(index.listRegistryFiles().map((row) => row.path)).toEqual(['packages/beta']);
    });
    for (const key of untouchable) expect(readFileSync(join(dataDir, key), 'utf8'), key).toBe('keep me');
  });

  it('keeps a registry file of another size than its row if it verifies, and rewrites the row; drops one that does not', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    // A crash between writing a newer /packages/alpha and its row: the row still describes the old file.
    await upstream.publish('alpha', { version: '1.2.0' });
    const newer = upstream.body('/packages/alpha') as Buffer;
    writeFileSync(join(dataDir, registryBlobKey('hexpm', 'packages/alpha')), newer);
    // And /names replaced by something that does not verify.
    writeFileSync(join(dataDir, registryBlobKey('hexpm', 'names')), Buffer.from('not a registry file'));
    const key = parsePublicKey(upstream.publicKeyPem);
    const report = await reconcile(dataDir, { registry: { keyOf: () => key, maxRegistryBytes: 1 << 24 } });
    expect(report.registry).toMatchObject({ rowsRepaired: 1, rowsRemoved: 1, filesRemoved: 1 });
    withIndex(dataDir, (index) => {
      const row = index.findRegistryFile('hexpm', 'packages/alpha');
      expect(row).toMatchObject({ size: newer.length, upstreamEtag: null, checkedAt: 0 });
      expect(index.findRegistryFile('hexpm', 'names')).toBeUndefined();
    });
    expect(existsSync(join(dataDir, registryBlobKey('hexpm', 'names')))).toBe(false);
    // Without the upstream key to check it with, the mismatched file is not trusted: row and file go.
    writeFileSync(join(dataDir, registryBlobKey('hexpm', 'packages/beta')), newer);
    const keyless = await reconcile(dataDir);
    expect(keyless.registry).toMatchObject({ rowsRepaired: 0, rowsRemoved: 1, filesRemoved: 1 });
  });

  it('keeps a file with no row whose row arrives before it has settled (a commit in progress)', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    const row = withIndex(dataDir, (index) => {
      const found = index.findTarball('hexpm', 'alpha', '1.0.0');
      index.removeTarball('hexpm', 'alpha', '1.0.0');
      return found;
    });
    if (!row) throw new Error('alpha 1.0.0 was not cached');
    // "Renamed" a moment ago (utimes sets the ctime to now, as the rename does).
    const file = join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0'));
    utimesSync(file, new Date(), new Date());
    const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
    cleanups.push(async () => index.close());
    const blobs = await FsBlobStore.create(dataDir);
    const pass = reconcileCache({ index, blobs, settleMs: 1500 });
    // The writer inserts its row 300 ms later, after the pass has listed the file, well within the settle time.
    setTimeout(() => index.saveTarball(row), 300);
    const report = await pass;
    expect(report.tarballs.filesRemoved).toBe(0);
    // It did wait for the file (so it had seen it with no row).
    expect(report.ms).toBeGreaterThanOrEqual(1000);
    expect(existsSync(file)).toBe(true);
    expect(cacheProblems(dataDir, upstream)).toEqual([]);
  });

  it('keeps a file with no row that is replaced by a fresh commit while it settles', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    withIndex(dataDir, (index) => index.removeTarball('hexpm', 'alpha', '1.0.0'));
    const file = join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0'));
    utimesSync(file, new Date(), new Date());
    const pass = reconcile(dataDir, { settleMs: 1500 });
    setTimeout(() => {
      writeFileSync(`${file}.new`, readFileSync(file));
      renameSync(`${file}.new`, file);
    }, 300);
    const report = await pass;
    expect(report.tarballs.filesRemoved).toBe(0);
    expect(report.deferred).toBe(1);
    expect(existsSync(file)).toBe(true);
  });

  it('leaves files with no row alone while another process has staged writes (an import commits before it indexes)', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    withIndex(dataDir, (index) => index.removeTarball('hexpm', 'alpha', '1.0.0'));
    // The parent of this test process is alive and is not this process: as a CLI beside the server.
    const staged = join(dataDir, '.tmp', `${process.ppid}-0123456789abcdef.partial`);
    writeFileSync(staged, 'half an import');
    const report = await reconcile(dataDir);
    expect(report.deferred).toBe(1);
    expect(report.tarballs.filesRemoved).toBe(0);
    expect(existsSync(join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0')))).toBe(true);
    expect(existsSync(staged)).toBe(true);
    rmSync(staged);
    expect((await reconcile(dataDir)).tarballs.filesRemoved).toBe(1);
  });

  it('stops quietly when the server shuts down mid-pass', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    withIndex(dataDir, (index) => index.removeTarball('hexpm', 'alpha', '1.0.0'));
    utimesSync(join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0')), new Date(), new Date());
    const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
    const blobs = await FsBlobStore.create(dataDir);
    let stopped = false;
    const pass = reconcileCache({ index, blobs, settleMs: 300, stopped: () => stopped });
    setTimeout(() => {
      stopped = true;
      index.close();
    }, 50);
    const report = await pass;
    expect(report.stopped).toBe(true);
    expect(report.failed).toBe(0);
    expect(existsSync(join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0')))).toBe(true);
  });

  it('runs in the background when the server starts, serving correctly meanwhile, and logs what it did', async () => {
    const upstream = await upstreamWith(packages);
    const dataDir = await filledDataDir(upstream);
    withIndex(dataDir, (index) => index.removeTarball('hexpm', 'beta', '2.0.0'));
    rmSync(join(dataDir, tarballKey('hexpm', 'alpha', '1.0.0')));
    const proxy: TestProxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir });
    cleanups.push(() => proxy.close());
    // Requests while the pass runs (the unindexed beta is young, so the pass waits for it).
    const served = await Promise.all(
      ['/tarballs/alpha-1.0.0.tar', '/tarballs/alpha-1.0.0.tar', '/tarballs/beta-2.0.0.tar'].map((path) => proxy.get(path)),
    );
    expect(served.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(served[0]?.body.equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
    expect(served[2]?.body.equals(upstream.tarball('beta', '2.0.0').tar)).toBe(true);
    const deadline = Date.now() + 10_000;
    while (!proxy.logs.some((line) => line.msg === 'cache reconciled') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const line = proxy.logs.find((l) => l.msg === 'cache reconciled');
    expect(line).toMatchObject({ level: 30, tarballs: { rows: 1 }, failed: 0 });
    expect(cacheProblems(dataDir, upstream)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// SIGKILL at random moments.

const SEED = Number(process.env['HEXPROXY_CRASH_SEED'] ?? 20261122);
const ROUNDS = Number(process.env['HEXPROXY_CRASH_ROUNDS'] ?? 22);

// 24 packages of 3 releases: most tarballs a few KB, every fourth one a few hundred KB.
const crashPackages: PackageSpec[] = Array.from({ length: 24 }, (_, p) => ({
  name: `pkg_${String.fromCharCode(97 + p)}`,
  releases: ['1.0.0', '1.1.0', '2.0.0'].map((version, r) => ({
    version,
    padBytes: (p * 3 + r) % 4 === 0 ? 150_000 + ((p * 37 + r * 101) % 5) * 50_000 : 1_000 + ((p + r) % 7) * 1_500,
  })),
}));

type Trigger = 'upstream-arrival' | 'commit' | 'responses';

interface RoundStats {
  trigger: Trigger;
  /** Spawn to listening, and the reconcile pass's own time, of the restart after this round's kill. */
  restartMs: number;
  reconcileMs: number;
  requests: number;
  ok: number;
  connectionErrors: number;
  stagedLeftovers: number;
  /** Files the kill left with no row (killed between rename and insert). */
  unindexedAfterKill: number;
  reconciled: { tarballsRemoved: number; registryRemoved: number; passthroughRemoved: number; rowsRemoved: number };
}

/** The counts of one kind in the "cache reconciled" log line. */
function countsOf(line: ServerLogLine, kind: 'tarballs' | 'registry' | 'passthrough'): { filesRemoved: number; rowsRemoved: number } {
  const counts = line[kind];
  if (typeof counts !== 'object' || counts === null || !('filesRemoved' in counts) || !('rowsRemoved' in counts)) {
    throw new Error(`"cache reconciled" has no ${kind} counts: ${JSON.stringify(line)}`);
  }
  return { filesRemoved: Number(counts.filesRemoved), rowsRemoved: Number(counts.rowsRemoved) };
}

describe('crash safety: SIGKILL at random moments', () => {
  // A round takes 1-3 s alone; a loaded CI machine, or more rounds, takes longer.
  const timeout = 30_000 + ROUNDS * 5_000;
  it(`keeps index and files in agreement and serves only whole, verified bytes across ${ROUNDS} kills (seed ${SEED})`, { timeout }, async () => {
    const started = Date.now();
    // Two streams, so the plan of each round (burst, trigger, what is asked again) replays with the
    // seed, whatever the timing-dependent draws (how many rows there are to evict) consume.
    const random = seededRandom(SEED);
    const chaos = seededRandom(SEED ^ 0x9e3779b9);
    const upstream = await upstreamWith(crashPackages);
    const dataDir = tempDir('hexproxy-crash-');
    const keyFile = join(tempDir('hexproxy-crash-key-'), 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    const allTarballs = crashPackages.flatMap((pkg) => pkg.releases.map((release) => ({ name: pkg.name, version: release.version })));
    const tarballPath = (t: { name: string; version: string }): string => `/tarballs/${t.name}-${t.version}.tar`;
    const stats: RoundStats[] = [];
    const wrong: string[] = [];
    const badStatus: string[] = [];
    const killedPids: number[] = [];
    let previousBurst: string[] = [];
    let injectedFiles = 0;
    let server: ServerProcess | undefined;
    const agent = new Agent({ connections: 64, pipelining: 0, keepAliveTimeout: 100 });
    cleanups.push(async () => {
      await server?.kill();
      await agent.close();
    });
    const record = (path: string, served: Served, round: number): void => {
      if (served.outcome === 'wrong') wrong.push(`round ${round}: ${served.reason}`);
      if (served.outcome === 'status') badStatus.push(`round ${round}: ${path}: ${served.status} ${served.message}`);
    };

    for (let round = 0; round <= ROUNDS; round += 1) {
      const context = `round ${round} (seed ${SEED})`;
      const spawnedAt = Date.now();
      server = await spawnServer({ dataDir, upstreamUrl: upstream.url, upstreamKeyFile: keyFile, flags: ['--upstream-cooldown-seconds', '0'] });
      const restartMs = Date.now() - spawnedAt;
      const live = server;
      const serverKey = parsePublicKey(await (await fetch(`${live.url}/public_key`)).text());
      // Half of what the killed round asked for, again, while the reconcile pass runs: cached or fetched
      // anew, it must be whole. (The other half's leftovers are the reconcile pass's to remove.)
      const askAgain = previousBurst.filter(() => random.chance(0.5));
      const [again, reconciled] = await Promise.all([
        Promise.all(askAgain.map(async (path) => [path, await fetchAndCheck(live.url, path, upstream, serverKey, agent)] as const)),
        live.waitForLog((line) => line.msg === 'cache reconciled', 20_000),
      ]);
      for (const [path, served] of again) {
        record(path, served, round);
        expect(served.outcome, `${context}: ${path}: ${JSON.stringify(served)}`).toBe('ok');
      }
      // Then, with the pass done and the server idle: rows and files agree and hold upstream's bytes
      // (a file whose row the test dropped is gone, or was fetched again and has its row).
      // (Small misses are answered before they are stored: the last writes may still be landing.)
      expect(await settled(() => cacheProblems(dataDir, upstream)), context).toEqual([]);
      // Staged files of every killed process are gone, and the idle server has none of its own.
      expect(await settled(() => stagedFiles(dataDir)), context).toEqual([]);
      if (stats[round - 1]) {
        const [tarballCounts, registryCounts, passthroughCounts] = (['tarballs', 'registry', 'passthrough'] as const).map((kind) =>
          countsOf(reconciled, kind),
        );
        const last = stats[round - 1] as RoundStats;
        last.restartMs = restartMs;
        last.reconcileMs = Number(reconciled['ms']);
        last.reconciled = {
          tarballsRemoved: tarballCounts?.filesRemoved ?? 0,
          registryRemoved: registryCounts?.filesRemoved ?? 0,
          passthroughRemoved: passthroughCounts?.filesRemoved ?? 0,
          rowsRemoved: (tarballCounts?.rowsRemoved ?? 0) + (registryCounts?.rowsRemoved ?? 0) + (passthroughCounts?.rowsRemoved ?? 0),
        };
      }
      if (round === ROUNDS) {
        expect(await server.stop(), 'a clean shutdown').toBe(0);
        server = undefined;
        break;
      }

      // Evict about half of what is cached (as `hexproxy cache evict` beside the server would), so the burst misses.
      const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
      try {
        for (const row of index.listTarballs()) {
          if (!chaos.chance(0.5)) continue;
          index.removeTarball(row.repo, row.name, row.version);
          rmSync(join(dataDir, tarballKey(row.repo, row.name, row.version)), { force: true });
        }
        for (const row of index.listPassthroughFiles()) {
          if (!chaos.chance(0.5)) continue;
          index.removePassthroughFile(row.path);
          rmSync(join(dataDir, 'passthrough', row.path), { force: true });
        }
      } finally {
        index.close();
      }

      // The burst: tarballs (some large), package files, /names, /versions and docs, all at once.
      const tarballs = new Set<string>();
      while (tarballs.size < 18) tarballs.add(tarballPath(random.pick(allTarballs)));
      const docs = new Set<string>();
      while (docs.size < 3) {
        const t = random.pick(allTarballs);
        docs.add(`/docs/${t.name}-${t.version}.tar.gz`);
      }
      const registry = new Set<string>(['/names', '/versions']);
      while (registry.size < 6) registry.add(`/packages/${random.pick(crashPackages).name}`);
      const burst = [...tarballs, ...docs, ...registry].sort(() => random.next() - 0.5);
      previousBurst = burst;
      const trigger = random.pick<Trigger>(['upstream-arrival', 'commit', 'responses']);
      const roundStats: RoundStats = {
        trigger,
        restartMs: 0,
        reconcileMs: 0,
        requests: burst.length,
        ok: 0,
        connectionErrors: 0,
        stagedLeftovers: 0,
        unindexedAfterKill: 0,
        reconciled: { tarballsRemoved: 0, registryRemoved: 0, passthroughRemoved: 0, rowsRemoved: 0 },
      };
      stats.push(roundStats);

      const victim = server;
      let killed: Promise<void> | undefined;
      const kill = (): Promise<void> => (killed ??= victim.kill());
      const stopWatching: (() => void)[] = [];
      if (trigger === 'upstream-arrival') {
        // The K-th upstream request of this round (the packages' registry files count too).
        const watched = new Set([...burst, ...[...tarballs].map((path) => `/packages/${path.slice('/tarballs/'.length).split('-')[0]}`)]);
        const target = random.int(1, 10);
        let arrivals = 0;
        let armed = true;
        stopWatching.push(() => (armed = false));
        for (const path of watched) {
          void upstream.waitForHits(path, upstream.hits(path) + 1).then(() => {
            if (armed && ++arrivals === target) void kill();
          });
        }
      } else if (trigger === 'commit') {
        // The K-th staged file that leaves .tmp: renamed into place (or thrown away) a moment ago.
        const target = random.int(1, 6);
        let departures = 0;
        const watcher = watch(join(dataDir, '.tmp'), (_event, name) => {
          if (name && !existsSync(join(dataDir, '.tmp', name)) && ++departures === target) void kill();
        });
        stopWatching.push(() => watcher.close());
      }
      const responsesBeforeKill = trigger === 'responses' ? random.int(0, 12) : Infinity;
      if (responsesBeforeKill === 0) setImmediate(() => void kill());
      let responses = 0;
      const outcomes = await Promise.all(
        burst.map(async (path) => {
          const served = await fetchAndCheck(victim.url, path, upstream, serverKey, agent);
          if (++responses === responsesBeforeKill) void kill();
          return [path, served] as const;
        }),
      );
      // Nothing triggered (everything was cached, say): kill now.
      await kill();
      for (const stop of stopWatching) stop();
      for (const [path, served] of outcomes) {
        record(path, served, round);
        if (served.outcome === 'ok') roundStats.ok += 1;
        if (served.outcome === 'connection') roundStats.connectionErrors += 1;
      }
      killedPids.push(victim.pid);
      roundStats.stagedLeftovers = stagedFiles(dataDir).filter((name) => name.startsWith(`${victim.pid}-`)).length;
      // Right after the kill, before any reconciling: the index names only whole files (a file may lack its row).
      const leftByKill = cacheProblems(dataDir, upstream);
      const unindexed = leftByKill.filter((problem) => problem.endsWith(': a file with no index row'));
      expect(
        leftByKill.filter((problem) => !unindexed.includes(problem)),
        `${context}, right after the kill`,
      ).toEqual([]);
      roundStats.unindexedAfterKill = unindexed.length;
      server = undefined;

      // Sometimes also the exact state of a kill between rename and insert, made by hand (a row dropped, its file kept).
      if (chaos.chance(0.3)) {
        const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
        try {
          const rows = index.listTarballs();
          if (rows.length > 0) {
            const row = chaos.pick(rows);
            index.removeTarball(row.repo, row.name, row.version);
            injectedFiles += 1;
          }
          const packagesCached = index.listRegistryFiles().filter((row) => row.path.startsWith('packages/'));
          if (packagesCached.length > 0 && chaos.chance(0.5)) {
            const row = chaos.pick(packagesCached);
            index.removeRegistryFile(row.repo, row.path);
            injectedFiles += 1;
          }
        } finally {
          index.close();
        }
      }
    }

    const seconds = (Date.now() - started) / 1000;
    const total = (pick: (s: RoundStats) => number): number => stats.reduce((sum, s) => sum + pick(s), 0);
    console.log(
      `crash safety (seed ${SEED}): ${stats.length} kills in ${seconds.toFixed(1)} s;`,
      JSON.stringify({
        triggers: Object.fromEntries(
          (['upstream-arrival', 'commit', 'responses'] as const).map((t) => [t, stats.filter((s) => s.trigger === t).length]),
        ),
        responsesOk: total((s) => s.ok),
        connectionErrors: total((s) => s.connectionErrors),
        roundsWithStagedLeftovers: stats.filter((s) => s.stagedLeftovers > 0).length,
        filesWithNoRowLeftByKills: total((s) => s.unindexedAfterKill),
        filesWithNoRowMadeByHand: injectedFiles,
        filesWithNoRowRemoved: {
          tarballs: total((s) => s.reconciled.tarballsRemoved),
          registry: total((s) => s.reconciled.registryRemoved),
          passthrough: total((s) => s.reconciled.passthroughRemoved),
        },
        rowsRemoved: total((s) => s.reconciled.rowsRemoved),
        restartMs: total((s) => s.restartMs),
        reconcileMs: total((s) => s.reconcileMs),
      }),
    );
    expect(wrong).toEqual([]);
    expect(badStatus).toEqual([]);
    expect(stats.length).toBeGreaterThanOrEqual(20);
    // The kills did land mid-write: some left staged files behind for the restart to remove.
    expect(stats.filter((s) => s.stagedLeftovers > 0).length).toBeGreaterThan(0);
    expect(killedPids.length).toBe(ROUNDS);
  });
});
