#!/usr/bin/env node
// Load and soak bench for hexproxy (not part of npm test). Needs the built project
// (`npm run build`) and wrk on PATH. Only 127.0.0.1 is used.
//
//   node bench/load.mjs                     phase A (warm cache) then phase B (cold misses)
//   node bench/load.mjs --phases a          one phase (a, b, control; comma-separated)
//   node bench/load.mjs --soak [MINUTES]    the soak (default 10 minutes) instead
//
// Phase A: warm every hot URL once, then wrk -t2 -c500 for 60 s rotating over the hot
// tarballs and /packages/NAME. Phase B: a fresh data directory, upstream delaying every
// answer by 50 ms, wrk -c200 over distinct tarballs (each thread its own share). Soak: a
// moderate mix of warm hits, If-None-Match 304s, a trickle of misses and registry
// revalidations (short registry TTL), with RSS and open descriptors sampled every 10 s.
// Control: phase A's load against bench/control-server.mjs (plain node:http streaming the
// same files), to tell hexproxy's costs from Node's. Options: see parseArgs below.
// Results: a table on stdout, JSON in bench/results/ (see docs/reliability.md).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDataset, prng, shuffle } from './lib/dataset.mjs';
import {
  freePort,
  killChildren,
  machine,
  readProcess,
  readSystem,
  runWrk,
  sampleProcess,
  sleep,
  startHexproxy,
  startScript,
  stopProcess,
} from './lib/proc.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..');

// `--soak` may stand alone (10 minutes) or take a number.
const argv = process.argv.slice(2).flatMap((arg, i, all) => (arg === '--soak' && !/^\d+(\.\d+)?$/.test(all[i + 1] ?? '') ? ['--soak', '10'] : [arg]));
const { values: opts } = parseArgs({
  args: argv,
  options: {
    phases: { type: 'string', default: 'a,b' },
    soak: { type: 'string' },
    packages: { type: 'string', default: '1500' },
    'hot-packages': { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
    'work-dir': { type: 'string', default: join(tmpdir(), 'hexproxy-bench') },
    'results-dir': { type: 'string', default: join(benchDir, 'results') },
    'latency-ms': { type: 'string', default: '50' },
    threads: { type: 'string', default: '2' },
    duration: { type: 'string', default: '60' },
    connections: { type: 'string', default: '500' },
    'cold-duration': { type: 'string', default: '10' },
    'cold-connections': { type: 'string', default: '200' },
    'cold-tarballs': { type: 'string', default: '0' },
    'soak-connections': { type: 'string', default: '8' },
    'soak-delay-ms': { type: 'string', default: '20' },
    'miss-every': { type: 'string', default: '200' },
    'cond-every': { type: 'string', default: '4' },
    'soak-registry-ttl': { type: 'string', default: '15' },
    'sample-seconds': { type: 'string', default: '10' },
    'rss-bound-mb': { type: 'string', default: '50' },
    'fd-bound': { type: 'string', default: '20' },
    'hexproxy-args': { type: 'string', default: '' },
    tag: { type: 'string', default: '' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    (await readFile(fileURLToPath(import.meta.url), 'utf8'))
      .split('\n')
      .slice(1, 16)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n') + '\n',
  );
  process.exit(0);
}
const num = (name) => {
  const value = Number(opts[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got ${opts[name]}`);
  return value;
};

const say = (line) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const MiB = 1048576;
const mb = (bytes) => (bytes / MiB).toFixed(1);

// Children never outlive the bench, and the whole run is bounded in time.
process.once('exit', () => killChildren());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killChildren();
    process.exit(130);
  });
}
// More flags for hexproxy serve, e.g. --hexproxy-args='--memory-cache-bytes 1048576' (with =).
const extraHexproxyArgs = opts['hexproxy-args'].split(/\s+/).filter(Boolean);
const soakMinutes = opts.soak === undefined ? undefined : num('soak');
const phases =
  soakMinutes === undefined
    ? opts.phases
        .split(',')
        .map((p) => p.trim().toLowerCase())
        .filter(Boolean)
    : [];
const budgetSeconds =
  900 +
  (soakMinutes ?? 0) * 60 +
  (phases.includes('a') ? num('duration') : 0) +
  (phases.includes('control') ? num('duration') : 0) +
  (phases.includes('b') ? num('cold-duration') : 0);
setTimeout(() => {
  process.stderr.write(`bench: over its time budget of ${budgetSeconds} s; stopping\n`);
  killChildren();
  process.exit(3);
}, budgetSeconds * 1000).unref();

if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

const workDir = resolve(opts['work-dir']);
const datasetDir = join(workDir, 'dataset');
await mkdir(workDir, { recursive: true });
const manifest = await ensureDataset(datasetDir, { packages: num('packages'), seed: num('seed') }, say);
const upstreamKey = join(datasetDir, 'upstream_public_key.pem');
const random = prng(num('seed') + 1);
const hotPackages = manifest.packages.slice(0, num('hot-packages'));
const coldPackages = manifest.packages.slice(num('hot-packages'));
const tarballPath = (pkg, release) => `/tarballs/${pkg.name}-${release.version}.tar`;
const hotPaths = shuffle(
  [...hotPackages.map((pkg) => `/packages/${pkg.name}`), ...hotPackages.flatMap((pkg) => pkg.releases.map((release) => tarballPath(pkg, release)))],
  random,
);

const runDir = await mkdtemp(join(workDir, 'run-'));
const info = machine(root);
say(`machine: ${info.nproc} CPUs (${info.cpu}), ${mb(info.memTotalBytes)} MiB, node ${info.node}, ${info.wrk}`);
say(
  `dataset: ${manifest.packageCount} packages, ${manifest.tarballCount} tarballs (${mb(manifest.tarballBytes)} MiB); hot set: ${hotPackages.length} packages, ${hotPaths.length} URLs; run files in ${runDir}`,
);

const latencyMs = num('latency-ms');
const upstream = await startScript({
  script: join(benchDir, 'upstream.mjs'),
  args: ['--dir', join(datasetDir, 'upstream'), '--latency-ms', String(latencyMs)],
  logFile: join(runDir, 'upstream.log'),
});
const upstreamStats = async (reset = false) =>
  (await fetch(`${upstream.url}/__bench/stats${reset ? '?reset' : ''}`, { signal: AbortSignal.timeout(5000) })).json();
const upstreamCommand = `node bench/upstream.mjs --dir ${join(datasetDir, 'upstream')} --latency-ms ${latencyMs}`;
say(`upstream ${upstream.url} (delay ${latencyMs} ms per response)`);

/** GETs every path once with bounded concurrency; returns ETags and what went wrong. */
async function warm(base, paths, concurrency = 32) {
  const etags = new Map();
  const failures = [];
  const cache = {};
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const path = paths[next++];
        try {
          const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(60_000) });
          await response.arrayBuffer();
          const status = response.headers.get('x-hexproxy-cache') ?? 'none';
          cache[status] = (cache[status] ?? 0) + 1;
          if (response.status !== 200) failures.push(`${path}: ${response.status} ${response.headers.get('x-hexproxy-error') ?? ''}`);
          else etags.set(path, response.headers.get('etag'));
        } catch (error) {
          failures.push(`${path}: ${error.message}`);
        }
      }
    }),
  );
  return { etags, failures, cache, seconds: (Date.now() - started) / 1000 };
}

/** Log lines of hexproxy (JSON, warn and up) grouped by level and message. */
async function logSummary(file) {
  const counts = {};
  let lines = 0;
  let other = 0;
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    lines += 1;
    try {
      const entry = JSON.parse(line);
      const key = `${entry.level >= 50 ? 'error' : entry.level >= 40 ? 'warn' : String(entry.level)}: ${entry.msg}${entry.code ? ` (${entry.code})` : ''}`;
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      other += 1; // the start-up banner on stderr
    }
  }
  return { lines, nonJsonLines: other, messages: counts };
}

function diffStats(before, after) {
  const out = { requests: after.requests - before.requests, byKind: {}, byStatus: {}, maxInFlight: after.maxInFlight };
  for (const table of ['byKind', 'byStatus']) {
    for (const [key, value] of Object.entries(after[table])) {
      const delta = value - (before[table][key] ?? 0);
      if (delta) out[table][key] = delta;
    }
  }
  return out;
}

/**
 * Runs wrk against a process while sampling it; returns what wrk saw and what the process,
 * the upstream and the whole machine did meanwhile.
 */
async function measure(pid, wrkArgs, limitSeconds, sampleMs, onSample) {
  const before = await readProcess(pid);
  const systemBefore = await readSystem();
  const upstreamBefore = await upstreamStats(true);
  const upstreamCpuBefore = (await readProcess(upstream.child.pid)).cpuSeconds;
  const runnerCpuBefore = process.cpuUsage();
  const sampler = sampleProcess(pid, sampleMs, onSample);
  // wrk's own CPU: its last reading before it exits.
  let wrkSampler;
  const wrk = await runWrk(wrkArgs, limitSeconds * 1000, (child) => {
    wrkSampler = sampleProcess(child.pid, 250);
  });
  const samples = await sampler.stop();
  const wrkSamples = await wrkSampler.stop();
  const after = await readProcess(pid);
  const systemAfter = await readSystem();
  const upstreamCpu = (await readProcess(upstream.child.pid)).cpuSeconds - upstreamCpuBefore;
  const runnerCpu = process.cpuUsage(runnerCpuBefore);
  const upstreamDuring = diffStats(upstreamBefore, await upstreamStats());
  const seconds = wrk.result.durationUs / 1e6;
  const cores = {
    machineProcesses: (systemAfter.processSeconds - systemBefore.processSeconds) / seconds,
    interrupts: (systemAfter.interruptSeconds - systemBefore.interruptSeconds) / seconds,
    steal: (systemAfter.stealSeconds - systemBefore.stealSeconds) / seconds,
    server: (after.cpuSeconds - before.cpuSeconds) / seconds,
    serverMainThread: (after.mainThreadCpuSeconds - before.mainThreadCpuSeconds) / seconds,
    wrk: (wrkSamples.at(-1)?.cpuSeconds ?? 0) / seconds,
    upstream: upstreamCpu / seconds,
    runner: (runnerCpu.user + runnerCpu.system) / 1e6 / seconds,
  };
  // Processes other than this bench's (other users, kernel threads).
  cores.other = Math.max(0, cores.machineProcesses - cores.server - cores.wrk - cores.upstream - cores.runner);
  return { wrk, samples, before, after, upstreamDuring, cores, loadavg: { before: systemBefore.loadavg, after: systemAfter.loadavg } };
}

/** The figures every phase reports; okStatuses are the statuses that are not errors. */
function summarise(name, run, okStatuses) {
  const {
    wrk: { result: wrk, text },
    samples,
    before,
    after,
  } = run;
  const seconds = wrk.durationUs / 1e6;
  const unexpected = Object.entries(wrk.status)
    .filter(([code]) => !okStatuses.includes(Number(code)))
    .reduce((sum, [, n]) => sum + n, 0);
  const socketErrors = wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.timeout;
  return {
    name,
    seconds,
    requests: wrk.requests,
    requestsPerSecond: wrk.requests / seconds,
    mibPerSecond: wrk.bytes / MiB / seconds,
    latencyMs: Object.fromEntries(Object.entries(wrk.latencyUs).map(([k, v]) => [k, v / 1000])),
    unexpectedStatus: unexpected,
    socketErrors,
    wrkErrors: wrk.errors,
    status: wrk.status,
    cache: wrk.cache,
    peakRssBytes: Math.max(...samples.map((s) => s.rss)),
    vmHwmBytes: after.hwm,
    maxFds: Math.max(...samples.map((s) => s.fds)),
    cpuCoresUsed: run.cores.server,
    cores: run.cores,
    loadavg: run.loadavg,
    idleBefore: { rssBytes: before.rss, fds: before.fds },
    upstreamDuring: run.upstreamDuring,
    wrkText: text,
  };
}

const IDLE_MS = 15_000;

const wrkBase = (threads, connections, seconds) => ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '30s'];

async function phaseA() {
  const dataDir = join(runDir, 'data-a');
  const port = await freePort();
  const logFile = join(runDir, 'hexproxy-a.log');
  const proxy = await startHexproxy({ root, port, dataDir, upstreamUrl: upstream.url, upstreamKey, logFile, extraArgs: extraHexproxyArgs });
  say(`phase A: hexproxy pid ${proxy.child.pid} on ${proxy.url}; warming ${hotPaths.length} URLs`);
  const warmed = await warm(proxy.url, hotPaths);
  if (warmed.failures.length) throw new Error(`warm-up failed for ${warmed.failures.length} URLs, e.g. ${warmed.failures.slice(0, 5).join('; ')}`);
  say(`warm-up: ${warmed.seconds.toFixed(1)} s, x-hexproxy-cache ${JSON.stringify(warmed.cache)}`);
  const pathsFile = join(runDir, 'paths-a.txt');
  await writeFile(pathsFile, hotPaths.join('\n') + '\n');
  await sleep(6000); // idle keep-alive connections of the warm-up close (5 s)
  const threads = num('threads');
  const duration = num('duration');
  const wrkArgs = [
    ...wrkBase(threads, num('connections'), duration),
    '-s',
    join(benchDir, 'wrk/rotate.lua'),
    proxy.url,
    '--',
    pathsFile,
    'shared',
    String(threads),
  ];
  say(`phase A: wrk ${wrkArgs.join(' ')}`);
  const run = await measure(proxy.child.pid, wrkArgs, duration + 120, 250);
  // wrk drops its 500 connections mid-response when it stops: every stream must be let go.
  await sleep(IDLE_MS);
  const settled = await readProcess(proxy.child.pid);
  const exit = await stopProcess(proxy.child);
  const result = {
    ...summarise('A: warm cache', run, [200]),
    settledAfter: { rssBytes: settled.rss, fds: settled.fds },
    connections: num('connections'),
    threads,
    urls: hotPaths.length,
    warmup: { seconds: warmed.seconds, cache: warmed.cache },
    hexproxyCommand: proxy.command,
    wrkCommand: `wrk ${wrkArgs.join(' ')}`,
    hexproxyExit: exit,
    hexproxyLog: await logSummary(logFile),
  };
  if (!opts.keep) await rm(dataDir, { recursive: true, force: true });
  return result;
}

/** Phase A's load against bench/control-server.mjs streaming the same files. */
async function phaseControl() {
  const logFile = join(runDir, 'control.log');
  const script = join(benchDir, 'control-server.mjs');
  const control = await startScript({ script, args: ['--dir', join(datasetDir, 'upstream')], logFile });
  const pathsFile = join(runDir, 'paths-control.txt');
  await writeFile(pathsFile, hotPaths.join('\n') + '\n');
  const threads = num('threads');
  const duration = num('duration');
  const wrkArgs = [
    ...wrkBase(threads, num('connections'), duration),
    '-s',
    join(benchDir, 'wrk/rotate.lua'),
    control.url,
    '--',
    pathsFile,
    'shared',
    String(threads),
  ];
  say(`control: node:http + createReadStream server pid ${control.child.pid}; wrk ${wrkArgs.join(' ')}`);
  const run = await measure(control.child.pid, wrkArgs, duration + 120, 250);
  await sleep(IDLE_MS);
  const settled = await readProcess(control.child.pid);
  const exit = await stopProcess(control.child);
  return {
    ...summarise('control: node:http', run, [200]),
    settledAfter: { rssBytes: settled.rss, fds: settled.fds },
    connections: num('connections'),
    threads,
    urls: hotPaths.length,
    serverCommand: `node bench/control-server.mjs --dir ${join(datasetDir, 'upstream')}`,
    wrkCommand: `wrk ${wrkArgs.join(' ')}`,
    serverExit: exit,
  };
}

async function phaseB() {
  const dataDir = join(runDir, 'data-b');
  const port = await freePort();
  const logFile = join(runDir, 'hexproxy-b.log');
  const proxy = await startHexproxy({ root, port, dataDir, upstreamUrl: upstream.url, upstreamKey, logFile, extraArgs: extraHexproxyArgs });
  const all = shuffle(
    manifest.packages.flatMap((pkg) => pkg.releases.map((release) => tarballPath(pkg, release))),
    random,
  );
  const limit = num('cold-tarballs');
  const paths = limit > 0 ? all.slice(0, limit) : all;
  const pathsFile = join(runDir, 'paths-b.txt');
  await writeFile(pathsFile, paths.join('\n') + '\n');
  const threads = num('threads');
  const duration = num('cold-duration');
  const wrkArgs = [
    ...wrkBase(threads, num('cold-connections'), duration),
    '-s',
    join(benchDir, 'wrk/rotate.lua'),
    proxy.url,
    '--',
    pathsFile,
    'partition',
    String(threads),
  ];
  say(`phase B: hexproxy pid ${proxy.child.pid}, fresh data dir, ${paths.length} distinct tarballs, upstream delay ${latencyMs} ms`);
  say(`phase B: wrk ${wrkArgs.join(' ')}`);
  const run = await measure(proxy.child.pid, wrkArgs, duration + 120, 250);
  await sleep(IDLE_MS);
  const settled = await readProcess(proxy.child.pid);
  const exit = await stopProcess(proxy.child);
  const summary = summarise('B: cold misses', run, [200]);
  const misses = run.wrk.result.cache.MISS ?? 0;
  const result = {
    ...summary,
    connections: num('cold-connections'),
    threads,
    distinctTarballs: paths.length,
    missShare: misses / summary.requests,
    missesPerSecond: misses / summary.seconds,
    wrapped: run.wrk.result.wraps,
    upstreamLatencyMs: latencyMs,
    settledAfter: { rssBytes: settled.rss, fds: settled.fds },
    hexproxyCommand: proxy.command,
    wrkCommand: `wrk ${wrkArgs.join(' ')}`,
    hexproxyExit: exit,
    hexproxyLog: await logSummary(logFile),
  };
  if (!opts.keep) await rm(dataDir, { recursive: true, force: true });
  return result;
}

async function soak(minutes) {
  const dataDir = join(runDir, 'data-soak');
  const port = await freePort();
  const logFile = join(runDir, 'hexproxy-soak.log');
  const ttl = num('soak-registry-ttl');
  const proxy = await startHexproxy({
    root,
    port,
    dataDir,
    upstreamUrl: upstream.url,
    upstreamKey,
    logFile,
    extraArgs: ['--registry-ttl-seconds', String(ttl), ...extraHexproxyArgs],
  });
  say(`soak: hexproxy pid ${proxy.child.pid} on ${proxy.url}; warming ${hotPaths.length} URLs`);
  const warmed = await warm(proxy.url, hotPaths);
  if (warmed.failures.length) throw new Error(`warm-up failed for ${warmed.failures.length} URLs, e.g. ${warmed.failures.slice(0, 5).join('; ')}`);
  const cold = shuffle(
    coldPackages.flatMap((pkg) => pkg.releases.map((release) => tarballPath(pkg, release))),
    random,
  );
  const pathsFile = join(runDir, 'paths-soak.txt');
  await writeFile(
    pathsFile,
    [...hotPaths.map((path) => `hot ${path} ${warmed.etags.get(path)}`), ...cold.map((path) => `cold ${path}`)].join('\n') + '\n',
  );
  // Idle means: the warm-up's client connections and hexproxy's upstream connections (both
  // kept alive 5 s) have closed.
  await sleep(IDLE_MS);
  const seconds = Math.round(minutes * 60);
  const connections = num('soak-connections');
  const wrkArgs = [
    ...wrkBase(1, connections, seconds),
    '-s',
    join(benchDir, 'wrk/soak.lua'),
    proxy.url,
    '--',
    pathsFile,
    '1',
    String(num('soak-delay-ms')),
    String(num('miss-every')),
    String(num('cond-every')),
  ];
  say(`soak: ${minutes} min; wrk ${wrkArgs.join(' ')}`);
  const run = await measure(proxy.child.pid, wrkArgs, seconds + 180, num('sample-seconds') * 1000, (s) =>
    say(`soak t=${s.t.toFixed(0)}s RSS ${mb(s.rss)} MiB (HWM ${mb(s.hwm)}), ${s.fds} fds, ${s.threads} threads, CPU ${s.cpuSeconds.toFixed(1)} s`),
  );
  say(`soak: idle before load: RSS ${mb(run.before.rss)} MiB, ${run.before.fds} fds`);
  // Let the keep-alive connections close, then look again: what is left open is a leak.
  await sleep(IDLE_MS);
  const idleAfter = await readProcess(proxy.child.pid);
  const exit = await stopProcess(proxy.child);

  const { samples } = run;
  const rssBound = num('rss-bound-mb') * MiB;
  const fdBound = num('fd-bound');
  const baseline = samples.find((s) => s.t >= 60) ?? samples[0];
  const later = samples.filter((s) => s.t >= baseline.t);
  const end = samples.at(-1);
  const rss = {
    startBytes: samples[0].rss,
    baselineAt60sBytes: baseline.rss,
    endBytes: end.rss,
    maxBytes: Math.max(...samples.map((s) => s.rss)),
    minAfterBaselineBytes: Math.min(...later.map((s) => s.rss)),
    growthAfterFirstMinuteBytes: end.rss - baseline.rss,
    maxOverBaselineBytes: Math.max(...later.map((s) => s.rss)) - baseline.rss,
    boundBytes: rssBound,
  };
  rss.withinBound = rss.growthAfterFirstMinuteBytes < rssBound && rss.maxOverBaselineBytes < rssBound;
  const fds = {
    start: samples[0].fds,
    baselineAt60s: baseline.fds,
    end: end.fds,
    min: Math.min(...samples.map((s) => s.fds)),
    max: Math.max(...samples.map((s) => s.fds)),
    idleBefore: run.before.fds,
    idleAfter: idleAfter.fds,
    bound: fdBound,
  };
  // Under load: within ±bound of the count at 60 s. Idle: no more than bound above the
  // idle count before the load (fewer is fine).
  fds.withinBound = later.every((s) => Math.abs(s.fds - baseline.fds) <= fdBound) && idleAfter.fds - run.before.fds <= fdBound;
  const result = {
    ...summarise(`soak ${minutes} min`, run, [200, 304]),
    minutes,
    connections,
    delayMs: num('soak-delay-ms'),
    missEvery: num('miss-every'),
    condEvery: num('cond-every'),
    registryTtlSeconds: ttl,
    coldRequests: run.wrk.result.coldRequests,
    coldPool: cold.length,
    rss,
    fds,
    idleAfter: { rssBytes: idleAfter.rss, fds: idleAfter.fds },
    samples,
    upstreamLatencyMs: latencyMs,
    hexproxyCommand: proxy.command,
    wrkCommand: `wrk ${wrkArgs.join(' ')}`,
    hexproxyExit: exit,
    hexproxyLog: await logSummary(logFile),
  };
  if (!opts.keep) await rm(dataDir, { recursive: true, force: true });
  return result;
}

function table(results) {
  const rows = [
    [
      'phase',
      'req/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'bad status',
      'socket err',
      'peak RSS MiB',
      'VmHWM MiB',
      'max fds',
      'CPU',
      'main thr',
      'wrk',
      'other',
    ],
  ];
  for (const r of results) {
    rows.push([
      r.name,
      r.requestsPerSecond.toFixed(0),
      r.latencyMs.p50.toFixed(2),
      r.latencyMs.p90.toFixed(2),
      r.latencyMs.p99.toFixed(2),
      r.latencyMs.max.toFixed(1),
      String(r.unexpectedStatus),
      String(r.socketErrors),
      mb(r.peakRssBytes),
      mb(r.vmHwmBytes),
      String(r.maxFds),
      r.cores.server.toFixed(2),
      r.cores.serverMainThread.toFixed(2),
      r.cores.wrk.toFixed(2),
      r.cores.other.toFixed(2),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row, index) => {
      const line = row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
      return index === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const results = [];
try {
  if (soakMinutes !== undefined) {
    results.push(await soak(soakMinutes));
  } else {
    for (const phase of phases) {
      if (phase === 'a') results.push(await phaseA());
      else if (phase === 'b') results.push(await phaseB());
      else if (phase === 'control') results.push(await phaseControl());
      else throw new Error(`unknown phase ${phase} (a, b or control)`);
    }
  }
} finally {
  await stopProcess(upstream.child);
}

const report = {
  kind: soakMinutes !== undefined ? 'soak' : 'load',
  startedAt: stamp,
  machine: info,
  dataset: {
    seed: manifest.seed,
    packages: manifest.packageCount,
    tarballs: manifest.tarballCount,
    tarballBytes: manifest.tarballBytes,
    hotPackages: hotPackages.length,
    hotUrls: hotPaths.length,
  },
  upstreamCommand,
  command: `node bench/load.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  results,
};
await mkdir(opts['results-dir'], { recursive: true });
const name = `${report.kind}${opts.tag ? `-${opts.tag}` : ''}-${stamp}.json`;
const resultFile = join(opts['results-dir'], name);
await writeFile(resultFile, JSON.stringify(report, null, 2) + '\n');

process.stdout.write(`\n${table(results)}\n\n`);
for (const r of results) {
  process.stdout.write(
    `${r.name}: ${r.requests} requests in ${r.seconds.toFixed(1)} s; status ${JSON.stringify(r.status)}; x-hexproxy-cache ${JSON.stringify(r.cache)}; ` +
      `upstream requests during the run ${r.upstreamDuring.requests} ${JSON.stringify(r.upstreamDuring.byStatus)} (at most ${r.upstreamDuring.maxInFlight} at once); ` +
      `exit ${JSON.stringify(r.hexproxyExit ?? r.serverExit)}; load average ${r.loadavg.before.join(' ')} -> ${r.loadavg.after.join(' ')}\n`,
  );
  if (r.settledAfter)
    process.stdout.write(
      `  idle before: RSS ${mb(r.idleBefore.rssBytes)} MiB, ${r.idleBefore.fds} fds; ${IDLE_MS / 1000} s after the load: RSS ${mb(r.settledAfter.rssBytes)} MiB, ${r.settledAfter.fds} fds\n`,
    );
  if (r.missShare !== undefined)
    process.stdout.write(
      `  misses: ${(r.missShare * 100).toFixed(1)} % of requests, ${r.missesPerSecond.toFixed(0)} misses/s, wrapped ${r.wrapped} times\n`,
    );
  if (r.rss) {
    process.stdout.write(
      `  RSS start ${mb(r.rss.startBytes)} / at 60 s ${mb(r.rss.baselineAt60sBytes)} / end ${mb(r.rss.endBytes)} / max ${mb(r.rss.maxBytes)} MiB; growth after the first minute ${mb(r.rss.growthAfterFirstMinuteBytes)} MiB (bound ${mb(r.rss.boundBytes)}): ${r.rss.withinBound ? 'OK' : 'OVER'}\n`,
    );
    process.stdout.write(
      `  fds start ${r.fds.start} / at 60 s ${r.fds.baselineAt60s} / end ${r.fds.end} / min ${r.fds.min} / max ${r.fds.max}; idle before ${r.fds.idleBefore}, idle after ${r.fds.idleAfter} (bound ±${r.fds.bound}): ${r.fds.withinBound ? 'OK' : 'OVER'}\n`,
    );
  }
  const logged = Object.entries(r.hexproxyLog?.messages ?? {});
  if (logged.length) process.stdout.write(`  hexproxy logged: ${logged.map(([k, v]) => `${v}× ${k}`).join('; ')}\n`);
}
process.stdout.write(`\nJSON: ${resultFile}\nlogs and request lists: ${runDir}\n`);
process.exit(0);
