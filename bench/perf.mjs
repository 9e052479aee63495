#!/usr/bin/env node
// hexproxy against nginx (issue 6): a warm hexproxy should be nearly as fast as nginx tuned
// for static files, serving the same bytes from the same disk. `npm run bench` builds, then
// runs this. Needs nginx (Debian's, /usr/sbin/nginx) and wrk (Debian's) installed; it
// installs nothing. Only 127.0.0.1 is used; every wait is bounded, and so is the whole run.
//
//   node bench/perf.mjs                      full scale (20,000 packages), every scenario, 3 runs
//   node bench/perf.mjs --scale smoke        tiny scale, 1 run, a few seconds per scenario
//   node bench/perf.mjs --only 1,2 --runs 5 --duration 20
//   node bench/perf.mjs --processes 2        nginx worker_processes 2, hexproxy --workers 2
//   node bench/perf.mjs --root ../other      run another checkout's dist/ (its codec signs the dataset)
//   node bench/perf.mjs --only 1,2 --baseline ../old   also run ../old's build in scenarios 1 and 2,
//                                            interleaved in the same runs: a before/after within 3%
//   node bench/perf.mjs --hexproxy-args='--memory-cache-bytes 134217728'
//   node bench/perf.mjs --only 1,2 --compare-args='--log-level warn'   this build twice in
//                                            scenarios 1 and 2, the second with these flags
//
// Scenarios (each measured against hexproxy and a reference in the same run): 1 warm
// tarballs and 2 warm /packages/NAME under wrk -t2 -c64 (nginx and Node's floor,
// node-floor.mjs, in turn); 3 cold tarball misses against the upstream directly (upstream
// delay 20 ms); 4 100 clients on one cold tarball (upstream fetches); 5 re-signing a
// changed /versions and /names; 6 start-up with 100,000 cached tarballs (nginx's start-up);
// 7 RSS while 20 slow clients read a 100 MB tarball (nginx's). Output: a table on stdout,
// JSON in bench/results/latest.json (smoke: a temporary file). hexproxy runs at its default
// log level (info: one access line per request, to a file). Options: --help, parseArgs below.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { prng, shuffle } from './lib/dataset.mjs';
import { findNginx, nginxConfig, nginxVersion, startNginx } from './lib/nginx.mjs';
import {
  freePort,
  killChildren,
  machine,
  processTree,
  readMemory,
  readProcess,
  resetPeakRss,
  runWrk,
  sampleMemory,
  sleep,
  startHexproxy,
  startScript,
  stopProcess,
} from './lib/proc.mjs';
import { HUGE_PACKAGE, ensureScaleDataset, ensureStartupDataDir } from './lib/scale-dataset.mjs';
import { scenarioTier } from './lib/tier.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const MB = 1e6;
const MiB = 1048576;

// What --scale sets; any of these can be given on its own too.
const SCALES = {
  full: {
    packages: 20000,
    tarballs: 3000,
    'huge-mb': 100,
    'startup-tarballs': 100000,
    runs: 3,
    'startup-runs': 5,
    duration: 10,
    'hot-tarballs': 1000,
    'hot-packages': 2000,
    'cold-tarballs': 100,
    'slow-seconds': 15,
    'slow-mb-per-second': 2,
  },
  smoke: {
    packages: 200,
    tarballs: 100,
    'huge-mb': 1,
    'startup-tarballs': 1000,
    runs: 1,
    'startup-runs': 1,
    duration: 1,
    'hot-tarballs': 40,
    'hot-packages': 100,
    'cold-tarballs': 10,
    'slow-seconds': 1.5,
    'slow-mb-per-second': 0.5,
  },
};

const { values: opts } = parseArgs({
  options: {
    scale: { type: 'string', default: 'full' },
    runs: { type: 'string' },
    'startup-runs': { type: 'string' },
    duration: { type: 'string' },
    processes: { type: 'string', default: '1' },
    'hexproxy-args': { type: 'string', default: '' },
    root: { type: 'string', default: resolve(benchDir, '..') },
    baseline: { type: 'string' },
    'compare-args': { type: 'string' },
    only: { type: 'string', default: '1,2,3,4,5,6,7,8' },
    json: { type: 'string' },
    seed: { type: 'string', default: '1' },
    packages: { type: 'string' },
    tarballs: { type: 'string' },
    'huge-mb': { type: 'string' },
    'startup-tarballs': { type: 'string' },
    'hot-tarballs': { type: 'string' },
    'hot-packages': { type: 'string' },
    'cold-tarballs': { type: 'string' },
    'slow-seconds': { type: 'string' },
    'slow-mb-per-second': { type: 'string' },
    'slow-clients': { type: 'string', default: '20' },
    concurrent: { type: 'string', default: '100' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    'latency-ms': { type: 'string', default: '20' },
    'work-dir': { type: 'string', default: join(tmpdir(), 'hexproxy-bench') },
    nginx: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    (await readFile(fileURLToPath(import.meta.url), 'utf8'))
      .split('\n')
      .slice(1, 25)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n') + '\n',
  );
  process.exit(0);
}
const scale = SCALES[opts.scale];
if (!scale) {
  process.stderr.write(`bench: --scale must be full or smoke, not ${opts.scale}\n`);
  process.exit(2);
}
const num = (name) => {
  const value = Number(opts[name] ?? scale[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got ${opts[name]}`);
  return value;
};
const int = (name) => Math.max(1, Math.round(num(name)));

// Settling pauses (connections closing, memory settling); shorter in a smoke run.
const pause = (ms) => sleep(opts.scale === 'smoke' ? ms / 4 : ms);
const say = (line) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const fail = (message) => {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
};

const root = resolve(opts.root);
const distDir = join(root, 'dist');
if (!existsSync(join(distDir, 'src/cli/main.js'))) fail(`${distDir}/src/cli/main.js is missing: run \`npm run build\` in ${root} first`);
// A second build (an older checkout) measured in the same runs as this one: on a noisy
// machine only an interleaved comparison can tell a 3% change from the weather.
const baselineRoot = opts.baseline ? resolve(opts.baseline) : null;
if (baselineRoot && !existsSync(join(baselineRoot, 'dist/src/cli/main.js')))
  fail(`${baselineRoot}/dist/src/cli/main.js is missing: run \`npx tsc -p tsconfig.json\` in ${baselineRoot} first`);
const nginxBinary = findNginx(opts.nginx);
if (!nginxBinary) fail('nginx is not installed (Debian: sudo apt-get install -y nginx); it is the reference server');
if (!(process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, 'wrk'))))
  fail('wrk is not on PATH (Debian: sudo apt-get install -y wrk)');

const only = new Set(
  opts.only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const id of only) if (!/^[1-8]$/.test(id)) fail(`--only takes scenario numbers 1 to 8, not ${id}`);
const runs = int('runs');
const startupRuns = Math.max(runs, int('startup-runs'));
// wrk takes whole seconds.
const duration = Math.max(1, Math.round(num('duration')));
const processes = int('processes');
const threads = int('threads');
const connections = int('connections');
const latencyMs = num('latency-ms');
const seed = num('seed');
// --workers only when asked for more than one process: older hexproxy builds lack the flag.
const hexproxyArgs = [...(processes > 1 ? ['--workers', String(processes)] : []), ...opts['hexproxy-args'].split(/\s+/).filter(Boolean)];
// This build a second time with more flags (after the others, so they win), in the same
// runs as the first: a paired figure for what a setting costs, e.g. the access log.
const compareArgs = (opts['compare-args'] ?? '').split(/\s+/).filter(Boolean);
const jsonFile = resolve(
  opts.json ?? (opts.scale === 'smoke' ? join(tmpdir(), `hexproxy-bench-smoke-${process.pid}.json`) : join(benchDir, 'results', 'latest.json')),
);

// Children never outlive the bench, and the whole run is bounded in time.
process.once('exit', () => killChildren());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killChildren();
    process.exit(130);
  });
}
const budgetSeconds =
  600 +
  (18 + 4 * (Number(Boolean(baselineRoot)) + Number(compareArgs.length > 0))) * runs * (duration + 5) +
  4 * num('slow-seconds') +
  3 * startupRuns * 5 +
  (opts.scale === 'full' ? 900 : 0);
setTimeout(() => {
  process.stderr.write(`bench: over its time budget of ${budgetSeconds} s; stopping\n`);
  killChildren();
  process.exit(3);
}, budgetSeconds * 1000).unref();

const startedAt = new Date();
const workDir = resolve(opts['work-dir']);
await mkdir(workDir, { recursive: true });
const hugeBytes = Math.round(num('huge-mb') * MB);
const datasetDir = join(workDir, `scale-${num('packages')}-${seed}`);
const manifest = await ensureScaleDataset(
  datasetDir,
  { packages: num('packages'), seed, tarballs: num('tarballs'), hugeBytes },
  { distDir, log: say },
);
const dataRoot = join(datasetDir, 'upstream');
const upstreamKey = join(datasetDir, 'upstream_public_key.pem');
const runDir = await mkdtemp(join(workDir, 'perf-'));
const info = machine(root);
const nginxInfo = { binary: nginxBinary, version: nginxVersion(nginxBinary) };
say(`machine: ${info.nproc} CPUs (${info.cpu}), ${(info.memTotalBytes / MiB).toFixed(0)} MiB, node ${info.node}, ${info.wrk}, ${nginxInfo.version}`);
say(`hexproxy: ${root} (commit ${info.commit.slice(0, 12)}${info.srcDirty ? ', src/ modified' : ''}); run files in ${runDir}`);
say(
  `dataset ${manifest.reused ? 'reused' : 'generated'}: ${manifest.packageCount} packages, ${manifest.releaseCount} releases, ${manifest.tarballCount} tarball files ` +
    `(${(manifest.tarballBytes / MB).toFixed(0)} MB) + one of ${(manifest.huge.size / MB).toFixed(0)} MB in ${dataRoot}`,
);

// ---------------------------------------------------------------------------------------
// Helpers

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (position - low);
};
const summary = (values) => ({ median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), values });
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** One GET with its whole body read; ms from the request to the last byte. */
async function timedGet(url, timeoutMs = 60_000) {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await response.arrayBuffer());
  return { ms: performance.now() - started, status: response.status, headers: response.headers, body };
}

/** GETs every path once with bounded concurrency; counts statuses and x-hexproxy-cache. */
async function fetchAll(base, paths, concurrency = 16) {
  const cache = {};
  const byCache = {};
  const sizes = {};
  const headers = {};
  const failures = [];
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, paths.length) }, async () => {
      while (next < paths.length) {
        const path = paths[next++];
        try {
          const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(120_000) });
          sizes[path] = (await response.arrayBuffer()).byteLength;
          headers[path] = answerHeaders(response.headers);
          const status = response.headers.get('x-hexproxy-cache') ?? 'none';
          cache[status] = (cache[status] ?? 0) + 1;
          (byCache[status] ??= []).push(path);
          if (response.status !== 200) failures.push(`${path}: ${response.status} ${response.headers.get('x-hexproxy-error') ?? ''}`.trim());
        } catch (error) {
          failures.push(`${path}: ${error.message}`);
        }
      }
    }),
  );
  return { cache, byCache, sizes, headers, failures, seconds: (Date.now() - started) / 1000 };
}

// Added by node:http itself on every answer, the floor's as well: not part of an answer's own headers.
const TRANSPORT_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** A response's own headers, flat as writeHead takes them, so the floor can send the same set. */
function answerHeaders(headers) {
  return [...headers].filter(([name]) => !TRANSPORT_HEADERS.has(name)).flat();
}

async function warmOrThrow(label, base, paths, wantCache) {
  const result = await fetchAll(base, paths);
  if (result.failures.length)
    throw new Error(`${label}: ${result.failures.length} of ${paths.length} requests failed, e.g. ${result.failures.slice(0, 3).join('; ')}`);
  if (wantCache && (result.cache[wantCache] ?? 0) !== paths.length) {
    const others = Object.entries(result.byCache)
      .filter(([status]) => status !== wantCache)
      .map(([status, list]) => `${status}: ${list.slice(0, 5).join(' ')}`);
    throw new Error(`${label}: expected ${paths.length}× x-hexproxy-cache ${wantCache}, got ${JSON.stringify(result.cache)} (${others.join('; ')})`);
  }
  return result;
}

/**
 * Checks that every path is now a HIT. A request that joins a fill still finishing its
 * write is answered MISS without a new upstream fetch, so up to 5 passes, 0.5 s apart.
 */
async function checkAllHit(label, base, paths) {
  for (let pass = 1; ; pass++) {
    try {
      return { ...(await warmOrThrow(label, base, paths, 'HIT')), passes: pass };
    } catch (error) {
      if (pass >= 5 || !/expected \d+× x-hexproxy-cache/.test(error.message)) throw error;
      await sleep(500);
    }
  }
}

const upstreams = {};
async function startUpstream(name, dir, delay) {
  const upstream = await startScript({
    script: join(benchDir, 'upstream.mjs'),
    args: ['--dir', dir, '--latency-ms', String(delay)],
    logFile: join(runDir, `upstream-${name}.log`),
  });
  upstreams[name] = { ...upstream, command: `node bench/upstream.mjs --dir ${dir} --latency-ms ${delay}` };
  return upstreams[name];
}
const upstreamStats = async (upstream, path) =>
  (await fetch(`${upstream.url}/__bench/stats${path ? `?path=${encodeURIComponent(path)}` : ''}`, { signal: AbortSignal.timeout(5000) })).json();

const hexproxies = [];
async function startProxy(name, upstream, { dataDir = join(runDir, `data-${name}`), extraArgs = [], lastArgs = [], pollMs, fromRoot = root } = {}) {
  const proxy = await startHexproxy({
    root: fromRoot,
    port: await freePort(),
    dataDir,
    upstreamUrl: upstream.url,
    upstreamKey,
    logFile: join(runDir, `hexproxy-${name}.log`),
    // As a user runs it: the default level, one access line per request.
    logLevel: 'info',
    extraArgs: [...extraArgs, ...hexproxyArgs, ...lastArgs],
    ...(pollMs && { pollMs }),
  });
  if (!hexproxies.some((p) => p.name === name)) hexproxies.push({ name, command: proxy.command });
  return proxy;
}
async function stopProxy(proxy, dataDir) {
  const exit = await stopProcess(proxy.child);
  if (dataDir && !opts.keep) await rm(dataDir, { recursive: true, force: true });
  return exit;
}

let nginx;
const nginxCommands = new Set();
/** nginx serving the dataset; its prefix (conf, pid, error log) in the run directory. */
async function startReference(name, extra = {}) {
  const started = await startNginx({
    binary: nginxBinary,
    root: dataRoot,
    port: await freePort(),
    workers: processes,
    probePath: '/public_key',
    prefix: join(runDir, `nginx-${name}`),
    ...extra,
  });
  nginxCommands.add(started.command);
  return started;
}

/**
 * Node's floor (node-floor.mjs): bare node:http answering each path with a prebuilt body of
 * the size hexproxy's answer has, and the headers it had (a request id included, fixed).
 */
async function startFloor(name, sizes, headers) {
  const sizesFile = join(runDir, `floor-${name}-sizes.json`);
  const answers = Object.fromEntries(Object.entries(sizes).map(([path, bytes]) => [path, { bytes, headers: headers[path] ?? [] }]));
  await writeFile(sizesFile, JSON.stringify(answers));
  const args = ['--port', String(await freePort()), '--workers', String(processes), '--sizes', sizesFile];
  const floor = await startScript({ script: join(benchDir, 'node-floor.mjs'), args, logFile: join(runDir, `floor-${name}.log`) });
  floorCommands.add(`node bench/node-floor.mjs ${args.join(' ')}`.replace(sizesFile, 'SIZES.json'));
  return floor;
}
const floorCommands = new Set();

async function cpuSeconds(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      total += (await readProcess(pid)).cpuSeconds;
    } catch {
      // gone
    }
  }
  return total;
}

/** One wrk run against a server (its processes' CPU measured meanwhile); figures per run. */
async function wrkRun(label, server, pathsFile) {
  const pids = await processTree(server.child.pid);
  const cpuBefore = await cpuSeconds(pids);
  const args = [
    '-t',
    String(threads),
    '-c',
    String(connections),
    '-d',
    `${duration}s`,
    '--timeout',
    '10s',
    '-s',
    join(benchDir, 'wrk/rotate.lua'),
    server.url,
    '--',
    pathsFile,
    'shared',
    String(threads),
  ];
  const { result } = await runWrk(args, (duration + 60) * 1000);
  const seconds = result.durationUs / 1e6;
  const non2xx = Object.entries(result.status)
    .filter(([code]) => !/^2/.test(code))
    .reduce((sum, [, n]) => sum + n, 0);
  const socketErrors = result.errors.connect + result.errors.read + result.errors.write + result.errors.timeout;
  const figures = {
    server: label,
    requests: result.requests,
    seconds,
    requestsPerSecond: result.requests / seconds,
    mbPerSecond: result.bytes / MB / seconds,
    p50Ms: result.latencyUs.p50 / 1000,
    p90Ms: result.latencyUs.p90 / 1000,
    p99Ms: result.latencyUs.p99 / 1000,
    maxMs: result.latencyUs.max / 1000,
    non2xx,
    socketErrors,
    errors: non2xx + socketErrors,
    status: result.status,
    cache: result.cache,
    serverCpuCores: ((await cpuSeconds(pids)) - cpuBefore) / seconds,
    command: `wrk ${args.join(' ')}`.replace(server.url, `http://127.0.0.1:PORT(${label})`),
  };
  // The server's CPU time per request: steadier than requests/s when other work shares the cores.
  figures.cpuUsPerRequest = (figures.serverCpuCores * seconds * 1e6) / Math.max(1, result.requests);
  say(
    `  ${label.padEnd(8)} ${figures.requestsPerSecond.toFixed(0).padStart(7)} req/s ${figures.mbPerSecond.toFixed(1).padStart(7)} MB/s  p50 ${figures.p50Ms.toFixed(2)} ms  p99 ${figures.p99Ms.toFixed(2)} ms  ` +
      `errors ${figures.errors}  CPU ${figures.serverCpuCores.toFixed(2)} cores (${figures.cpuUsPerRequest.toFixed(1)} µs/request)  status ${JSON.stringify(result.status)}${label === 'nginx' || label === 'floor' ? '' : ` cache ${JSON.stringify(result.cache)}`}`,
  );
  return figures;
}

/** Runs wrk against every server `runs` times, rotating which goes first. */
async function sideBySide(pathsFile, servers) {
  const labels = Object.keys(servers);
  const raw = [];
  for (let run = 0; run < runs; run++) {
    const shift = run % labels.length;
    const order = run % 2 === 0 ? [...labels.slice(shift), ...labels.slice(0, shift)] : [...labels.slice(shift), ...labels.slice(0, shift)].reverse();
    const entry = { run: run + 1 };
    for (const label of order) {
      entry[label] = await wrkRun(label, servers[label], pathsFile);
      await pause(1000);
    }
    raw.push(entry);
  }
  return raw;
}

// A metric row: figures per run for hexproxy and the reference, ratios per run (paired);
// in scenarios 1 and 2 also Node's floor, with hexproxy ÷ floor paired the same way.
// Counts (errors, fetches) and growths (near 0 for nginx) get no ratio: it would mean nothing.
function metric(name, unit, hexproxyValues, referenceValues, goal, { ratio: withRatio = unit !== 'count', floor: floorValues, floorGoal } = {}) {
  const hexproxy = summary(hexproxyValues);
  const paired = (values) => (values && withRatio ? summary(hexproxyValues.map((v, i) => v / values[i])) : null);
  const judge = (target, ratio) => {
    if (!target) return null;
    const test = (value) => (target.kind === 'min' ? value >= target.value : target.kind === 'max' ? value <= target.value : value === target.value);
    const subject = target.on === 'ratio' ? ratio : hexproxy;
    return target.over === 'every run' ? subject.values.every(test) : test(subject.median);
  };
  const ratio = paired(referenceValues);
  const floorRatio = paired(floorValues);
  const floor = floorValues ? { floor: summary(floorValues), floorRatio, floorGoal: floorGoal ?? null, floorMet: judge(floorGoal, floorRatio) } : {};
  return {
    metric: name,
    unit,
    hexproxy,
    reference: referenceValues ? summary(referenceValues) : null,
    ratio,
    goal: goal ?? null,
    met: judge(goal, ratio),
    ...floor,
  };
}
const goalText = (goal) => {
  if (!goal) return '';
  const op = goal.kind === 'min' ? '≥' : goal.kind === 'max' ? '≤' : '=';
  return `${goal.on === 'ratio' ? 'ratio ' : ''}${op} ${goal.value}${goal.on === 'ratio' ? '×' : goal.unit ? ` ${goal.unit}` : ''}${goal.over === 'every run' && runs > 1 ? ' (every run)' : ''}`;
};

// ---------------------------------------------------------------------------------------
// What each scenario asks for, picked once (deterministic in the seed).

const random = prng(seed + 7);
const pool = shuffle(manifest.tarballs, random);
const hotTarballs = pool.slice(0, Math.min(int('hot-tarballs'), Math.floor(pool.length / 2)));
const rest = pool.slice(hotTarballs.length);
// Scenario 4: mid-to-large tarballs (the 90th percentile of sizes), one per run and side.
const bySize = [...rest].sort((a, b) => a.size - b.size);
const s4Start = Math.max(0, Math.min(bySize.length - 2 * runs, Math.floor(bySize.length * 0.9) - runs));
const s4Pairs = Array.from({ length: runs }, (_, i) => [bySize[s4Start + 2 * i], bySize[s4Start + 2 * i + 1]]).filter(([a, b]) => a && b);
const s4Used = new Set(s4Pairs.flat().map((t) => t.path));
// Scenario 3: pairs of equally sized tarballs (neighbours by size), one through hexproxy,
// the other straight from the upstream; which gets the larger of the two alternates.
const s3Candidates = shuffle(
  rest.filter((t) => !s4Used.has(t.path)),
  random,
);
const coldPerRun = Math.max(1, Math.min(int('cold-tarballs'), Math.floor(s3Candidates.length / (2 * runs))));
const s3Runs = Array.from({ length: runs }, (_, run) => {
  const picked = s3Candidates.slice(run * 2 * coldPerRun, (run + 1) * 2 * coldPerRun).sort((a, b) => a.size - b.size);
  const pairs = [];
  for (let i = 0; i + 1 < picked.length; i += 2) pairs.push(i % 4 === 0 ? [picked[i], picked[i + 1]] : [picked[i + 1], picked[i]]);
  return shuffle(pairs, random);
});
const hotPackages = shuffle(
  manifest.packages.filter(([name]) => name !== HUGE_PACKAGE),
  random,
)
  .slice(0, int('hot-packages'))
  .map(([name]) => `/packages/${name}`);

const scenarios = {};
/** How each hexproxy ended (SIGTERM: code 0 expected). */
const exits = {};

// ---------------------------------------------------------------------------------------
// Scenarios 1 and 2: warm tarballs and warm /packages/NAME, wrk against both servers.

async function scenarios1and2() {
  const upstream = upstreams.zero;
  const dataDir = join(runDir, 'data-warm');
  const proxy = await startProxy('warm', upstream, { dataDir });
  // More hexproxy servers measured in the same runs: an older build, this build with more flags.
  const more = {};
  if (baselineRoot) more.baseline = { dataDir: join(runDir, 'data-baseline'), fromRoot: baselineRoot };
  if (compareArgs.length) more.compare = { dataDir: join(runDir, 'data-compare'), lastArgs: compareArgs };
  const others = {};
  let floor;
  try {
    for (const [label, options] of Object.entries(more)) others[label] = await startProxy(label, upstream, options);
    const tarballs = hotTarballs.map((t) => t.path);
    const sizes = hotTarballs.map((t) => t.size);
    for (const id of ['1', '2']) {
      if (!only.has(id)) continue;
      const paths = id === '1' ? tarballs : hotPackages;
      say(
        `scenario ${id}: warming ${paths.length} ${id === '1' ? 'tarballs' : '/packages/NAME'} through hexproxy, then checking every one is a HIT, and once through nginx`,
      );
      const warmed = await warmOrThrow(`scenario ${id} warm-up`, proxy.url, paths);
      const check = await checkAllHit(`scenario ${id} check`, proxy.url, paths);
      await warmOrThrow(`scenario ${id} nginx warm-up`, nginx.url, paths);
      for (const [label, other] of Object.entries(others)) {
        await warmOrThrow(`scenario ${id} ${label} warm-up`, other.url, paths);
        await checkAllHit(`scenario ${id} ${label} check`, other.url, paths);
      }
      // The floor answers each path with as many bytes and the same headers as hexproxy's answer to it.
      floor = await startFloor(id, check.sizes, check.headers);
      await warmOrThrow(`scenario ${id} floor warm-up`, floor.url, paths);
      const pathsFile = join(runDir, `paths-${id}.txt`);
      await writeFile(pathsFile, shuffle(paths, random).join('\n') + '\n');
      await pause(2000);
      const servers = { hexproxy: proxy, nginx, floor, ...others };
      say(`scenario ${id}: wrk -t${threads} -c${connections} ${duration} s, ${runs} run(s), ${Object.keys(servers).join(', ')} in turn`);
      const results = await sideBySide(pathsFile, servers);
      await stopProcess(floor.child);
      floor = undefined;
      const pick = (side, key) => results.map((r) => r[side][key]);
      const withFloor = (key, floorGoal) => ({ floor: pick('floor', key), ...(floorGoal && { floorGoal }) });
      const errorsGoal = { kind: 'max', value: 0, over: 'every run' };
      // The goal against Node's floor (issue 18): hexproxy at its default configuration.
      const floorGoal = { kind: 'min', value: 0.8, on: 'ratio' };
      const requestsGoal = { kind: 'min', value: 0.7, on: 'ratio' };
      const metrics =
        id === '1'
          ? [
              metric(
                'requests/s',
                'req/s',
                pick('hexproxy', 'requestsPerSecond'),
                pick('nginx', 'requestsPerSecond'),
                requestsGoal,
                withFloor('requestsPerSecond', floorGoal),
              ),
              metric('MB/s', 'MB/s', pick('hexproxy', 'mbPerSecond'), pick('nginx', 'mbPerSecond'), undefined, withFloor('mbPerSecond')),
              metric('p99 latency', 'ms', pick('hexproxy', 'p99Ms'), pick('nginx', 'p99Ms'), undefined, withFloor('p99Ms')),
              metric('errors (non-2xx + socket)', 'count', pick('hexproxy', 'errors'), pick('nginx', 'errors'), errorsGoal, withFloor('errors')),
            ]
          : [
              metric(
                'requests/s',
                'req/s',
                pick('hexproxy', 'requestsPerSecond'),
                pick('nginx', 'requestsPerSecond'),
                requestsGoal,
                withFloor('requestsPerSecond', floorGoal),
              ),
              metric('p50 latency', 'ms', pick('hexproxy', 'p50Ms'), pick('nginx', 'p50Ms'), undefined, withFloor('p50Ms')),
              metric(
                'p99 latency',
                'ms',
                pick('hexproxy', 'p99Ms'),
                pick('nginx', 'p99Ms'),
                { kind: 'max', value: 2, on: 'ratio' },
                withFloor('p99Ms'),
              ),
              metric('errors (non-2xx + socket)', 'count', pick('hexproxy', 'errors'), pick('nginx', 'errors'), errorsGoal, withFloor('errors')),
            ];
      // This build against the baseline, and against itself with --compare-args, paired per
      // run; each also against nginx, so the reader sees whether the runs were comparable.
      const pairs = {
        baseline: { name: 'baseline', goal: 0.97 },
        compare: { name: `with ${compareArgs.join(' ')}`, goal: 0.9 },
      };
      for (const label of Object.keys(others))
        metrics.push(
          metric(`${pairs[label].name}: requests/s`, 'req/s', pick(label, 'requestsPerSecond'), pick('nginx', 'requestsPerSecond')),
          metric(`requests/s vs ${pairs[label].name}`, 'req/s', pick('hexproxy', 'requestsPerSecond'), pick(label, 'requestsPerSecond'), {
            kind: 'min',
            value: pairs[label].goal,
            on: 'ratio',
          }),
        );
      scenarios[id] = {
        title: id === '1' ? `warm tarballs, ${connections} connections, mixed sizes` : `warm /packages/NAME, ${connections} connections`,
        short: id === '1' ? 'warm tarballs' : 'warm /packages/NAME',
        reference: 'nginx',
        paths: paths.length,
        ...(id === '1' && {
          sizes: {
            bytes: sizes.reduce((s, n) => s + n, 0),
            medianBytes: quantile(sizes, 0.5),
            maxBytes: Math.max(...sizes),
            overOneMB: sizes.filter((s) => s >= MB).length,
          },
        }),
        warmup: { seconds: warmed.seconds, cache: warmed.cache, check: check.cache, checkPasses: check.passes },
        metrics,
        runs: results,
      };
    }
  } finally {
    if (floor) await stopProcess(floor.child);
    exits.warm = await stopProxy(proxy, dataDir);
    for (const [label, other] of Object.entries(others)) exits[label] = await stopProxy(other, more[label].dataDir);
  }
}

// ---------------------------------------------------------------------------------------
// Scenarios 3 and 4: cold misses (upstream delay 20 ms).

async function scenarios3and4() {
  const upstream = upstreams.slow;
  const dataDir = join(runDir, 'data-cold');
  const proxy = await startProxy('cold', upstream, { dataDir });
  try {
    if (only.has('3')) {
      const packages = [...new Set(s3Runs.flat().map(([viaProxy]) => `/packages/${viaProxy.name}`))];
      say(
        `scenario 3: pre-fetching ${packages.length} /packages/NAME through hexproxy (so a miss costs the tarball alone), upstream delay ${latencyMs} ms`,
      );
      await warmOrThrow('scenario 3 /packages pre-fetch', proxy.url, packages);
      // One request each way first, so neither side pays for opening a connection.
      await timedGet(`${proxy.url}/healthz`);
      await timedGet(`${upstream.url}/public_key`);
      const results = [];
      for (const [run, pairs] of s3Runs.entries()) {
        const proxied = [];
        const direct = [];
        const problems = [];
        for (const [viaProxy, viaUpstream] of pairs) {
          const a = await timedGet(`${proxy.url}${viaProxy.path}`);
          if (a.status !== 200 || a.headers.get('x-hexproxy-cache') !== 'MISS' || sha256(a.body) !== viaProxy.sha256)
            problems.push(`${viaProxy.path}: ${a.status} ${a.headers.get('x-hexproxy-cache')}`);
          proxied.push(a.ms);
          const b = await timedGet(`${upstream.url}${viaUpstream.path}`);
          if (b.status !== 200 || sha256(b.body) !== viaUpstream.sha256) problems.push(`${viaUpstream.path} (direct): ${b.status}`);
          direct.push(b.ms);
        }
        if (problems.length) throw new Error(`scenario 3: ${problems.length} bad answers, e.g. ${problems.slice(0, 3).join('; ')}`);
        const entry = {
          run: run + 1,
          tarballs: pairs.length,
          bytes: { hexproxy: pairs.reduce((s, [a]) => s + a.size, 0), direct: pairs.reduce((s, [, b]) => s + b.size, 0) },
          hexproxy: {
            p50Ms: quantile(proxied, 0.5),
            p99Ms: quantile(proxied, 0.99),
            meanMs: proxied.reduce((s, v) => s + v, 0) / proxied.length,
            ms: proxied,
          },
          direct: {
            p50Ms: quantile(direct, 0.5),
            p99Ms: quantile(direct, 0.99),
            meanMs: direct.reduce((s, v) => s + v, 0) / direct.length,
            ms: direct,
          },
        };
        entry.addedP50Ms = entry.hexproxy.p50Ms - entry.direct.p50Ms;
        entry.addedP99Ms = entry.hexproxy.p99Ms - entry.direct.p99Ms;
        say(
          `  run ${run + 1}: ${pairs.length} misses: hexproxy p50 ${entry.hexproxy.p50Ms.toFixed(2)} / p99 ${entry.hexproxy.p99Ms.toFixed(2)} ms; direct p50 ${entry.direct.p50Ms.toFixed(2)} / p99 ${entry.direct.p99Ms.toFixed(2)} ms; added p50 ${entry.addedP50Ms.toFixed(2)} ms`,
        );
        results.push(entry);
      }
      const pick = (side, key) => results.map((r) => r[side][key]);
      scenarios['3'] = {
        title: `cold tarball misses vs the upstream directly (upstream delay ${latencyMs} ms)`,
        short: 'cold tarball misses',
        reference: 'direct upstream',
        note: `/packages/NAME of the tarballs' packages pre-fetched through hexproxy; one client, sequential, ${coldPerRun} distinct tarballs per run each way (equally sized pairs)`,
        metrics: [
          metric('p50 latency', 'ms', pick('hexproxy', 'p50Ms'), pick('direct', 'p50Ms')),
          metric('p99 latency', 'ms', pick('hexproxy', 'p99Ms'), pick('direct', 'p99Ms')),
          metric(
            'added at p50',
            'ms',
            results.map((r) => r.addedP50Ms),
            null,
            { kind: 'max', value: 3, unit: 'ms' },
          ),
          metric(
            'added at p99',
            'ms',
            results.map((r) => r.addedP99Ms),
            null,
          ),
        ],
        runs: results,
      };
    }
    if (only.has('4')) {
      const clients = int('concurrent');
      say(`scenario 4: ${clients} concurrent requests for one cold tarball (its /packages/NAME not fetched either), ${runs} run(s)`);
      const results = [];
      for (const [run, [viaProxy, viaUpstream]] of s4Pairs.entries()) {
        const side = async (base, tarball) => {
          const before = await upstreamStats(upstream, tarball.path);
          const packageBefore = (await upstreamStats(upstream, `/packages/${tarball.name}`)).pathRequests;
          const started = performance.now();
          const answers = await Promise.all(
            Array.from({ length: clients }, () =>
              timedGet(`${base}${tarball.path}`, 120_000).catch((error) => ({ status: 0, error: error.message, body: Buffer.alloc(0) })),
            ),
          );
          const allMs = performance.now() - started;
          const after = await upstreamStats(upstream, tarball.path);
          const packageAfter = (await upstreamStats(upstream, `/packages/${tarball.name}`)).pathRequests;
          const ok = answers.filter((a) => a.status === 200 && sha256(a.body) === tarball.sha256).length;
          const cache = {};
          for (const a of answers) {
            const c = a.headers?.get('x-hexproxy-cache') ?? 'none';
            cache[c] = (cache[c] ?? 0) + 1;
          }
          return {
            path: tarball.path,
            bytes: tarball.size,
            upstreamFetches: after.pathRequests - before.pathRequests,
            packageFetches: packageAfter - packageBefore,
            okIdentical: ok,
            statuses: answers.map((a) => a.status).filter((s) => s !== 200),
            cache,
            allDoneMs: allMs,
          };
        };
        const entry = { run: run + 1, hexproxy: await side(proxy.url, viaProxy), direct: await side(upstream.url, viaUpstream) };
        say(
          `  run ${run + 1}: ${viaProxy.path} (${(viaProxy.size / 1000).toFixed(0)} kB): upstream fetches ${entry.hexproxy.upstreamFetches} (of /packages: ${entry.hexproxy.packageFetches}), ` +
            `${entry.hexproxy.okIdentical}/${clients} 200 with the right bytes, all done in ${entry.hexproxy.allDoneMs.toFixed(0)} ms, cache ${JSON.stringify(entry.hexproxy.cache)}; ` +
            `direct: ${entry.direct.upstreamFetches} fetches, ${entry.direct.allDoneMs.toFixed(0)} ms`,
        );
        results.push(entry);
      }
      const pick = (sideName, key) => results.map((r) => r[sideName][key]);
      scenarios['4'] = {
        title: `${clients} concurrent clients, one cold tarball`,
        short: `${clients} clients, 1 cold tarball`,
        reference: 'direct upstream',
        metrics: [
          metric('upstream tarball fetches', 'count', pick('hexproxy', 'upstreamFetches'), pick('direct', 'upstreamFetches'), {
            kind: 'equals',
            value: 1,
            over: 'every run',
          }),
          metric(`200 with identical bytes (of ${clients})`, 'count', pick('hexproxy', 'okIdentical'), pick('direct', 'okIdentical'), {
            kind: 'equals',
            value: clients,
            over: 'every run',
          }),
          metric('all answered', 'ms', pick('hexproxy', 'allDoneMs'), pick('direct', 'allDoneMs')),
        ],
        runs: results,
      };
    }
  } finally {
    exits.cold = await stopProxy(proxy, dataDir);
  }
}

// ---------------------------------------------------------------------------------------
// Scenario 5: /versions and /names change upstream while hexproxy has the old ones.

async function scenario5() {
  const dir = join(runDir, 'upstream-s5');
  await mkdir(dir, { recursive: true });
  for (const file of ['names', 'versions', 'public_key']) await copyFile(join(dataRoot, file), join(dir, file));
  const upstream = await startUpstream('s5', dir, 0);
  const dataDir = join(runDir, 'data-s5');
  // TTL 0: every request revalidates, so the request after the change is the one that re-signs.
  const proxy = await startProxy('s5', upstream, { dataDir, extraArgs: ['--registry-ttl-seconds', '0'] });
  try {
    say(`scenario 5: hexproxy caches /versions and /names (registry TTL 0, upstream delay 0), then upstream changes them; ${runs} run(s)`);
    await warmOrThrow('scenario 5 warm-up', proxy.url, ['/versions', '/names']);
    const pids = await processTree(proxy.child.pid);
    const nginxPids = await processTree(nginx.child.pid);
    const results = [];
    for (let run = 0; run < runs; run++) {
      // Alternately the changed files and the originals: each run is a change.
      const changed = run % 2 === 0;
      await copyFile(join(dataRoot, changed ? 'variants/versions-1' : 'versions'), join(dir, 'versions'));
      await copyFile(join(dataRoot, changed ? 'variants/names-1' : 'names'), join(dir, 'names'));
      await fetch(`${upstream.url}/__bench/forget`, { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer());
      await pause(500);
      const hwmReset = await resetPeakRss(pids);
      const before = await readMemory(pids);
      const sampler = sampleMemory(pids, 10);
      const versions = await timedGet(`${proxy.url}/versions`);
      const names = await timedGet(`${proxy.url}/names`);
      const sampled = await sampler.stop();
      const after = await readMemory(pids);
      for (const [what, answer] of [
        ['versions', versions],
        ['names', names],
      ]) {
        if (answer.status !== 200 || answer.headers.get('x-hexproxy-cache') !== 'REVALIDATED') {
          throw new Error(`scenario 5: /${what} answered ${answer.status} ${answer.headers.get('x-hexproxy-cache')}, expected 200 REVALIDATED`);
        }
      }
      // The reference: nginx serving the same changed files.
      const nginxBefore = await readMemory(nginxPids);
      const nginxSampler = sampleMemory(nginxPids, 10);
      const refVersions = await timedGet(`${nginx.url}${changed ? '/variants/versions-1' : '/versions'}`);
      const refNames = await timedGet(`${nginx.url}${changed ? '/variants/names-1' : '/names'}`);
      const nginxSampled = await nginxSampler.stop();
      const peak = hwmReset ? Math.max(after.hwm, sampled.max) : sampled.max;
      const entry = {
        run: run + 1,
        changedTo: changed ? 'variants (one release and one package more)' : 'originals',
        hexproxy: {
          versionsMs: versions.ms,
          namesMs: names.ms,
          versionsBytes: versions.body.length,
          namesBytes: names.body.length,
          rssBeforeBytes: before.rss,
          peakRssBytes: peak,
          peakFrom: hwmReset ? 'VmHWM after a reset, and 10 ms samples' : '10 ms samples of VmRSS',
        },
        nginx: {
          versionsMs: refVersions.ms,
          namesMs: refNames.ms,
          versionsBytes: refVersions.body.length,
          namesBytes: refNames.body.length,
          rssBeforeBytes: nginxBefore.rss,
          peakRssBytes: nginxSampled.max,
        },
      };
      say(
        `  run ${run + 1}: /versions ${versions.ms.toFixed(1)} ms (${(versions.body.length / 1000).toFixed(0)} kB), /names ${names.ms.toFixed(1)} ms, peak RSS ${(peak / MB).toFixed(1)} MB (before ${(before.rss / MB).toFixed(1)}); ` +
          `nginx ${refVersions.ms.toFixed(2)} / ${refNames.ms.toFixed(2)} ms`,
      );
      results.push(entry);
    }
    const pick = (side, key) => results.map((r) => r[side][key]);
    scenarios['5'] = {
      title: `re-signing a changed /versions and /names (${manifest.packageCount} packages)`,
      short: 're-sign /versions, /names',
      reference: 'nginx',
      note: 'hexproxy: the request that revalidates (upstream 200 with the changed file), verifies, stores and re-signs; nginx: the same changed file from disk',
      metrics: [
        metric('/versions', 'ms', pick('hexproxy', 'versionsMs'), pick('nginx', 'versionsMs'), { kind: 'max', value: 300, unit: 'ms' }),
        metric('/names', 'ms', pick('hexproxy', 'namesMs'), pick('nginx', 'namesMs'), { kind: 'max', value: 100, unit: 'ms' }),
        metric(
          'peak RSS',
          'MB',
          pick('hexproxy', 'peakRssBytes').map((b) => b / MB),
          pick('nginx', 'peakRssBytes').map((b) => b / MB),
          { kind: 'max', value: 250, unit: 'MB' },
        ),
      ],
      sizes: { versionsBytes: results[0].hexproxy.versionsBytes, namesBytes: results[0].hexproxy.namesBytes },
      runs: results,
    };
  } finally {
    exits.s5 = await stopProxy(proxy, dataDir);
    await stopProcess(upstream.child);
  }
}

// ---------------------------------------------------------------------------------------
// Scenario 6: start-up to ready with many cached tarballs indexed.

async function scenario6() {
  const count = int('startup-tarballs');
  const built = await ensureStartupDataDir(join(datasetDir, `startup-${count}`), { count, manifest, distDir, log: say });
  say(
    `scenario 6: start-up to the first 200 of /healthz with ${built.indexed} tarballs indexed (${built.reused ? 'reused' : `built in ${built.seconds.toFixed(1)} s`}); nginx: to the first 200 of /public_key; ${startupRuns} run(s) each after one unmeasured start`,
  );
  const upstream = upstreams.zero;
  const once = async (side) => {
    if (side === 'hexproxy') {
      const proxy = await startProxy('startup', upstream, { dataDir: built.dataDir, pollMs: 2 });
      await stopProcess(proxy.child);
      return proxy.readyMs;
    }
    const started = await startReference('startup', { pollMs: 2 });
    await started.stop();
    return started.readyMs;
  };
  // The first start of each creates what it keeps (hexproxy's key pair) and warms the page cache.
  const primed = { hexproxy: await once('hexproxy'), nginx: await once('nginx') };
  const results = [];
  for (let run = 0; run < startupRuns; run++) {
    const order = run % 2 === 0 ? ['hexproxy', 'nginx'] : ['nginx', 'hexproxy'];
    const entry = { run: run + 1 };
    for (const side of order) entry[side] = { readyMs: await once(side) };
    say(`  run ${run + 1}: hexproxy ${entry.hexproxy.readyMs.toFixed(0)} ms, nginx ${entry.nginx.readyMs.toFixed(0)} ms`);
    results.push(entry);
  }
  scenarios['6'] = {
    title: `start-up to ready with ${built.indexed} cached tarballs indexed`,
    short: `start-up, ${built.indexed} tarballs`,
    reference: 'nginx',
    note: "from spawn to the first 200 (polled every 2 ms); the data directory is built once with hexproxy's CacheIndex and blob layout and reused",
    dataDir: built.dataDir,
    primed,
    metrics: [
      metric(
        'ready',
        'ms',
        results.map((r) => r.hexproxy.readyMs),
        results.map((r) => r.nginx.readyMs),
        { kind: 'max', value: 500, unit: 'ms' },
      ),
    ],
    runs: results,
  };
}

// ---------------------------------------------------------------------------------------
// Scenario 7: RSS while slow clients stream the huge tarball.

/** A client reading at most bytesPerSecond (pausing the socket) for `seconds`. */
function slowClient(url, bytesPerSecond, seconds) {
  return new Promise((resolveClient) => {
    const started = performance.now();
    let received = 0;
    let status = 0;
    let resumeTimer;
    let finished = false;
    const finish = (how) => {
      if (finished) return;
      finished = true;
      clearTimeout(stopTimer);
      clearTimeout(resumeTimer);
      request.destroy();
      resolveClient({ status, received, seconds: (performance.now() - started) / 1000, how });
    };
    const request = httpGet(url, { agent: false }, (response) => {
      status = response.statusCode ?? 0;
      response.on('data', (chunk) => {
        received += chunk.length;
        const aheadMs = (received / bytesPerSecond) * 1000 - (performance.now() - started);
        if (aheadMs > 5) {
          response.pause();
          resumeTimer = setTimeout(() => response.resume(), aheadMs);
        }
      });
      response.once('end', () => finish('complete'));
      response.once('error', () => finish('error'));
    });
    request.once('error', () => finish('error'));
    const stopTimer = setTimeout(() => finish('stopped'), seconds * 1000);
  });
}

async function scenario7() {
  const upstream = upstreams.zero;
  const dataDir = join(runDir, 'data-huge');
  const huge = manifest.huge;
  const extraArgs = huge.size > 128 * MiB ? ['--max-tarball-bytes', String(huge.size + MiB)] : [];
  const proxy = await startProxy('huge', upstream, { dataDir, extraArgs });
  const clients = int('slow-clients');
  const rate = num('slow-mb-per-second') * MB;
  const seconds = num('slow-seconds');
  try {
    say(
      `scenario 7: ${huge.path} (${(huge.size / MB).toFixed(0)} MB) warmed; ${clients} clients reading ${(rate / MB).toFixed(2)} MB/s each for ${seconds} s, hexproxy then nginx`,
    );
    await warmOrThrow('scenario 7 warm-up', proxy.url, [huge.path], 'MISS');
    await checkAllHit('scenario 7 check', proxy.url, [huge.path]);
    await warmOrThrow('scenario 7 nginx warm-up', nginx.url, [huge.path]);
    await pause(3000);
    const side = async (server) => {
      const pids = await processTree(server.child.pid);
      const before = await readMemory(pids);
      const sampler = sampleMemory(pids, 50);
      const results = await Promise.all(Array.from({ length: clients }, () => slowClient(`${server.url}${huge.path}`, rate, seconds)));
      const sampled = await sampler.stop();
      const received = results.reduce((s, r) => s + r.received, 0);
      const bad = results.filter((r) => r.status !== 200 || r.how === 'error').length;
      if (bad)
        throw new Error(
          `scenario 7: ${bad} of ${clients} slow clients failed: ${JSON.stringify(results.filter((r) => r.status !== 200 || r.how === 'error').slice(0, 3))}`,
        );
      return {
        rssBeforeBytes: before.rss,
        rssMaxBytes: sampled.max,
        rssGrowthBytes: sampled.max - before.rss,
        samples: sampled.samples,
        receivedBytes: received,
        mbPerSecondPerClient: received / MB / clients / Math.max(...results.map((r) => r.seconds)),
        clients: results.map((r) => ({ status: r.status, received: r.received, how: r.how })),
      };
    };
    const entry = { run: 1, hexproxy: await side(proxy) };
    await pause(1000);
    entry.nginx = await side(nginx);
    for (const label of ['hexproxy', 'nginx']) {
      const r = entry[label];
      say(
        `  ${label.padEnd(8)} RSS ${(r.rssBeforeBytes / MB).toFixed(1)} MB before, ${(r.rssMaxBytes / MB).toFixed(1)} MB at most (+${(r.rssGrowthBytes / MB).toFixed(1)} MB); ` +
          `clients read ${(r.receivedBytes / MB).toFixed(0)} MB (${r.mbPerSecondPerClient.toFixed(2)} MB/s each)`,
      );
    }
    scenarios['7'] = {
      title: `peak RSS while streaming a ${(huge.size / MB).toFixed(0)} MB tarball to ${clients} slow clients`,
      short: `${clients} slow clients, ${(huge.size / MB).toFixed(0)} MB`,
      reference: 'nginx',
      note: `each client reads ${(rate / MB).toFixed(2)} MB/s (pausing its socket) for ${seconds} s; RSS summed over the server's processes, sampled every 50 ms; one run`,
      metrics: [
        metric(
          'RSS growth',
          'MB',
          [entry.hexproxy.rssGrowthBytes / MB],
          [entry.nginx.rssGrowthBytes / MB],
          { kind: 'max', value: 30, unit: 'MB' },
          { ratio: false },
        ),
        metric('peak RSS', 'MB', [entry.hexproxy.rssMaxBytes / MB], [entry.nginx.rssMaxBytes / MB]),
      ],
      runs: [entry],
    };
  } finally {
    exits.huge = await stopProxy(proxy, dataDir);
  }
}

// ---------------------------------------------------------------------------------------
// The run.

// Scenario 8: warm tarballs and /packages/NAME through the shipped nginx tier (bench/lib/tier.mjs).
async function scenario8() {
  scenarios['8'] = await scenarioTier({
    ...{ say, pause, freePort, startProxy, stopProxy, sideBySide, metric, shuffle, random, runDir, nginxBinary, processes, connections },
    ...{ reference: nginx, upstream: upstreams.zero, tarballs: hotTarballs.map((t) => t.path), packages: hotPackages },
    exited: (name, exit) => (exits[name] = exit),
  });
}

const order = [
  [['1', '2'], scenarios1and2],
  [['3', '4'], scenarios3and4],
  [['5'], scenario5],
  [['6'], scenario6],
  [['7'], scenario7],
  [['8'], scenario8],
];
const failures = {};
try {
  nginx = await startReference('main');
  say(`nginx pid ${nginx.child.pid} (${processes} worker${processes > 1 ? 's' : ''}) on ${nginx.url}, root ${dataRoot}`);
  await startUpstream('zero', dataRoot, 0);
  if (only.has('3') || only.has('4')) await startUpstream('slow', dataRoot, latencyMs);
  for (const [ids, run] of order) {
    if (!ids.some((id) => only.has(id))) continue;
    try {
      await run();
    } catch (error) {
      say(`scenario ${ids.join('/')} failed: ${error.stack ?? error}`);
      for (const id of ids) if (only.has(id) && !scenarios[id]) failures[id] = String(error.message ?? error);
    }
  }
} finally {
  if (nginx) await nginx.stop();
  for (const upstream of Object.values(upstreams)) await stopProcess(upstream.child);
}

// ---------------------------------------------------------------------------------------
// Report.

const fmt = (value, unit) => {
  if (value === null || value === undefined || Number.isNaN(value)) return '-';
  if (unit === 'count') return Number.isInteger(value) ? String(value) : value.toFixed(1);
  if (unit === 'req/s') return value.toFixed(0);
  if (unit === 'ms') return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
  return value.toFixed(1);
};
const cell = (figures, unit) => {
  if (!figures) return '-';
  if (figures.values.length === 1) return fmt(figures.median, unit);
  return `${fmt(figures.median, unit)} (${fmt(figures.min, unit)}–${fmt(figures.max, unit)})`;
};
const ratioCell = (ratio) => {
  if (!ratio || !Number.isFinite(ratio.median)) return '-';
  return ratio.values.length === 1 ? `${ratio.median.toFixed(2)}×` : `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`;
};
const rows = [['scenario', 'metric', 'hexproxy', 'nginx (or direct)', 'ratio', 'node floor', '÷ floor', 'goal', 'met']];
for (const id of ['1', '2', '3', '4', '5', '6', '7', '8']) {
  if (!only.has(id)) continue;
  const s = scenarios[id];
  if (!s) {
    rows.push([`${id}`, `FAILED: ${(failures[id] ?? 'not run').split('\n')[0].slice(0, 100)}`, '', '', '', '', '', '', 'NO']);
    continue;
  }
  s.metrics.forEach((m, i) => {
    rows.push([
      i === 0 ? `${id} ${s.short}` : '',
      `${m.metric} (${m.unit})`,
      cell(m.hexproxy, m.unit),
      m.reference ? `${cell(m.reference, m.unit)}${s.reference === 'nginx' ? '' : ' (direct)'}` : '-',
      ratioCell(m.ratio),
      m.floor ? cell(m.floor, m.unit) : '',
      m.floor ? ratioCell(m.floorRatio) : '',
      [goalText(m.goal), m.floorGoal ? `÷ floor ${goalText(m.floorGoal).replace(/^ratio /, '')}` : ''].filter(Boolean).join('; '),
      [m.met, m.floorMet]
        .filter((met) => met !== null && met !== undefined)
        .map((met) => (met ? 'yes' : 'NO'))
        .join('; '),
    ]);
  });
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
const table = rows
  .map((row, index) => {
    const line = row
      .map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
    return index === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  })
  .join('\n');

const finishedAt = new Date();
const { packages: _packages, tarballs: _tarballs, ...datasetSummary } = manifest;
const report = {
  kind: 'perf',
  scale: opts.scale,
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  seconds: (finishedAt - startedAt) / 1000,
  command: `node bench/perf.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: info,
  nginx: { ...nginxInfo, conf: nginxConfig({ prefix: 'PREFIX', root: dataRoot, port: 'PORT', workers: processes }) },
  options: {
    runs,
    startupRuns,
    duration,
    processes,
    threads,
    connections,
    latencyMs,
    seed,
    root,
    baseline: baselineRoot,
    compareArgs,
    hexproxyArgs,
    hotTarballs: hotTarballs.length,
    hotPackages: hotPackages.length,
    coldTarballsPerRun: coldPerRun,
    concurrent: int('concurrent'),
    slowClients: int('slow-clients'),
    slowBytesPerSecond: num('slow-mb-per-second') * MB,
    slowSeconds: num('slow-seconds'),
    startupTarballs: int('startup-tarballs'),
  },
  dataset: { dir: datasetDir, ...datasetSummary },
  commands: {
    upstreams: Object.fromEntries(Object.entries(upstreams).map(([name, u]) => [name, u.command])),
    hexproxy: hexproxies,
    nginx: [...nginxCommands],
    floor: [...floorCommands],
  },
  goalsMet:
    Object.values(scenarios)
      .filter((s) => s?.metrics)
      .every((s) => s.metrics.every((m) => m.met !== false && m.floorMet !== false)) && Object.keys(failures).length === 0,
  failures,
  hexproxyExits: exits,
  scenarios,
};
await mkdir(dirname(jsonFile), { recursive: true });
await writeFile(jsonFile, JSON.stringify(report, null, 2) + '\n');
// The run directory (logs, nginx.conf, data) is kept when asked for or when a scenario failed.
const keepRunDir = opts.keep || Object.keys(failures).length > 0;
if (!keepRunDir) await rm(runDir, { recursive: true, force: true });

process.stdout.write(
  `\nhexproxy vs nginx (${opts.scale} scale: ${manifest.packageCount} packages, ${manifest.releaseCount} releases; ${processes} process${processes > 1 ? 'es' : ''} each; ` +
    `${runs > 1 ? `median (min–max) of ${runs} runs` : '1 run'}; MB = 10^6 bytes)\n\n${table}\n\n`,
);
process.stdout.write(
  `goals ${report.goalsMet ? 'all met' : 'NOT all met'}; ${report.seconds.toFixed(0)} s; JSON: ${jsonFile}${keepRunDir ? `; run files (logs, nginx.conf): ${runDir}` : ''}\n`,
);
process.exit(Object.keys(failures).length ? 1 : 0);
