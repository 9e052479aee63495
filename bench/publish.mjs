#!/usr/bin/env node
// What a publish costs (issue 17): hexproxy with one hosted repository, publishing over
// HTTP as `mix hex.publish` does (POST /api/repos/REPO/packages/NAME/releases, the tarball
// as the body, a write token). `npm run bench:publish` builds, then runs this.
//
//   node bench/publish.mjs                    sizes 100, 1,000, 10,000 packages; 30 timed publishes each
//   node bench/publish.mjs --scale smoke      sizes 20 and 60, 5 timed publishes (what the test runs)
//   node bench/publish.mjs --sizes 100,1000 --samples 50 --concurrency 10 --package-kb 50
//   node bench/publish.mjs --sizes 100 --releases-per-package 100   10,000 tarballs in 100 packages
//
// For each size (ascending), the repository is first filled to that many packages (one
// release each, 5 KB, `--concurrency` publishers at once), then `--samples` publishes of a
// new 50 KB package are timed one after another: their latency is the cost of a publish
// at that size. At the middle size, `--concurrent-publishes` new 50 KB packages are also
// published by `--concurrency` publishers at once: publishes per second. A publish rebuilds
// that package's registry file plus /names and /versions (which grow with the number of
// packages), never the other packages' files, so its cost must not grow with the number of
// tarballs. Output: a table, and JSON (bench/results/publish-latest.json; smoke: a temp file).
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildHexPackage } from './lib/hex-package.mjs';
import { freePort, killChildren, machine, startHexproxy, stopProcess } from './lib/proc.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const SCALES = {
  full: { sizes: '100,1000,10000', samples: '30', 'concurrent-publishes': '200' },
  smoke: { sizes: '20,60', samples: '5', 'concurrent-publishes': '20' },
};
const { values: opts } = parseArgs({
  options: {
    scale: { type: 'string', default: 'full' },
    sizes: { type: 'string' },
    samples: { type: 'string' },
    'concurrent-publishes': { type: 'string' },
    concurrency: { type: 'string', default: '10' },
    'package-kb': { type: 'string', default: '50' },
    'seed-kb': { type: 'string', default: '5' },
    'releases-per-package': { type: 'string', default: '1' },
    root: { type: 'string', default: resolve(benchDir, '..') },
    json: { type: 'string' },
    'work-dir': { type: 'string', default: join(tmpdir(), 'hexproxy-bench') },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write('see the comment at the top of bench/publish.mjs\n');
  process.exit(0);
}
const fail = (message) => {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
};
const scale = SCALES[opts.scale] ?? fail(`--scale must be full or smoke, not ${opts.scale}`);
const option = (name) => opts[name] ?? scale[name];
const positive = (name, text) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive whole number, got ${text}`);
  return value;
};
const sizes = option('sizes')
  .split(',')
  .map((s) => positive('sizes', s.trim()))
  .sort((a, b) => a - b);
const samples = positive('samples', option('samples'));
const concurrentPublishes = positive('concurrent-publishes', option('concurrent-publishes'));
const concurrency = positive('concurrency', opts.concurrency);
const packageBytes = positive('package-kb', opts['package-kb']) * 1000;
const seedBytes = positive('seed-kb', opts['seed-kb']) * 1000;
// Releases of each package the repository is filled with: with many, the tarballs outnumber
// the packages, which tells what a publish's cost grows with.
const releasesPerPackage = positive('releases-per-package', opts['releases-per-package']);
const root = resolve(opts.root);
const jsonFile = resolve(
  opts.json ??
    (opts.scale === 'smoke' ? join(tmpdir(), `hexproxy-bench-publish-${process.pid}.json`) : join(benchDir, 'results', 'publish-latest.json')),
);
const REPO = 'bench';
const say = (line) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

process.once('exit', () => killChildren());
const budgetSeconds = 600 + sizes[sizes.length - 1] / 5;
setTimeout(() => {
  process.stderr.write(`bench: over its time budget of ${budgetSeconds} s; stopping\n`);
  killChildren();
  process.exit(3);
}, budgetSeconds * 1000).unref();

const workDir = resolve(opts['work-dir']);
await mkdir(workDir, { recursive: true });
const runDir = await mkdtemp(join(workDir, 'publish-'));
const dataDir = join(runDir, 'data');
const configFile = join(runDir, 'config.json');
// Offline: the packages have no dependencies, so nothing needs the upstream.
await writeFile(configFile, JSON.stringify({ dataDir, offline: true, hosted: { [REPO]: {} } }, null, 2));
const cli = (args) => {
  const run = spawnSync(process.execPath, ['dist/src/cli/main.js', ...args, '--config', configFile], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) fail(`hexproxy ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout.trim();
};
const token = cli(['token', 'create', 'bench-publisher', '--write', REPO]);

const proxy = await startHexproxy({
  root,
  port: await freePort(),
  dataDir,
  upstreamUrl: 'http://127.0.0.1:9',
  upstreamKey: join(root, 'keys', 'hexpm_public_key.pem'),
  extraArgs: ['--config', configFile],
  logFile: join(runDir, 'hexproxy.log'),
});
say(`hexproxy ${proxy.url} (${root}), data in ${dataDir}`);

let published = 0;
let packages = 0;
// Every package published gets the next number: names never repeat.
let lastId = 0;
const nameOf = (n) => `pkg_${String(n).padStart(6, '0')}`;
/** One publish; ms from the request to the whole answer. */
async function publish(tarball, name) {
  const started = performance.now();
  const response = await fetch(`${proxy.url}/api/repos/${REPO}/packages/${name}/releases?replace=false`, {
    method: 'POST',
    headers: { authorization: token, 'content-type': 'application/octet-stream', accept: 'application/vnd.hex+erlang' },
    body: tarball,
  });
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (response.status !== 201) throw new Error(`publishing ${name} answered ${response.status}, not 201 (see ${runDir}/hexproxy.log)`);
  published += 1;
  return ms;
}
/**
 * Publishes `count` new packages of `releases` releases each (1.0.0, 1.0.1, …; a package's
 * in order) of `bytes`, with `workers` publishers; tarballs built just before each is sent.
 */
async function publishMany(count, releases, bytes, workers) {
  const names = Array.from({ length: count }, () => nameOf(++lastId));
  packages += count;
  const queue = [];
  for (let release = 0; release < releases; release++) for (const name of names) queue.push([name, `1.0.${release}`]);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < queue.length) {
        const [name, version] = queue[next++];
        await publish(await buildHexPackage({ name, version, bytes }), name);
      }
    }),
  );
  return { count, seconds: (performance.now() - started) / 1000 };
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  return sorted[low] + ((sorted[Math.min(low + 1, sorted.length - 1)] ?? sorted[low]) - sorted[low]) * (position - low);
};
const registrySize = async (path) => {
  const response = await fetch(`${proxy.url}/repos/${REPO}/${path}`, { headers: { authorization: token } });
  return (await response.arrayBuffer()).byteLength;
};

const results = [];
let concurrent;
const middle = sizes[Math.floor((sizes.length - 1) / 2)];
try {
  for (const size of sizes) {
    const missing = size - packages;
    if (missing > 0) {
      say(
        `filling to ${size} packages (${missing * releasesPerPackage} publishes of ${seedBytes / 1000} KB, ${releasesPerPackage} per package, ${concurrency} at once)`,
      );
      await publishMany(missing, releasesPerPackage, seedBytes, concurrency);
    }
    const tarballsBefore = published;
    const tarballs = [];
    for (let i = 0; i < samples; i++) {
      const name = nameOf(++lastId);
      tarballs.push([name, await buildHexPackage({ name, version: '1.0.0', bytes: packageBytes })]);
    }
    const latencies = [];
    for (const [name, tarball] of tarballs) latencies.push(await publish(tarball, name));
    packages += samples;
    const row = {
      packages: size,
      tarballs: tarballsBefore,
      tarballBytes: tarballs[0][1].length,
      samples,
      p50Ms: quantile(latencies, 0.5),
      p90Ms: quantile(latencies, 0.9),
      maxMs: Math.max(...latencies),
      namesBytes: await registrySize('names'),
      versionsBytes: await registrySize('versions'),
      latenciesMs: latencies,
    };
    results.push(row);
    say(
      `${size} packages: publish of ${row.tarballBytes} bytes p50 ${row.p50Ms.toFixed(1)} ms, p90 ${row.p90Ms.toFixed(1)} ms, max ${row.maxMs.toFixed(1)} ms`,
    );
    if (size === middle) {
      const prepared = [];
      for (let i = 0; i < concurrentPublishes; i++) {
        const name = nameOf(++lastId);
        prepared.push([name, await buildHexPackage({ name, version: '1.0.0', bytes: packageBytes })]);
      }
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < prepared.length) {
            const [name, tarball] = prepared[next++];
            await publish(tarball, name);
            packages += 1;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      concurrent = { atPackages: size, publishers: concurrency, publishes: concurrentPublishes, seconds, perSecond: concurrentPublishes / seconds };
      say(`${concurrency} concurrent publishers at ~${size} packages: ${concurrent.perSecond.toFixed(1)} publishes/s`);
    }
  }
} finally {
  await stopProcess(proxy.child);
}

const report = {
  kind: 'publish',
  scale: opts.scale,
  command: `node bench/publish.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(root),
  options: { sizes, samples, concurrency, concurrentPublishes, packageBytes, seedBytes, releasesPerPackage },
  latency: results,
  concurrent,
};
await mkdir(dirname(jsonFile), { recursive: true });
await writeFile(jsonFile, JSON.stringify(report, null, 2) + '\n');
if (!opts.keep) await rm(runDir, { recursive: true, force: true });
const rows = [
  ['packages', 'tarballs', 'publish p50 (ms)', 'p90 (ms)', 'max (ms)', '/names (bytes)', '/versions (bytes)'],
  ...results.map((r) => [
    String(r.packages),
    String(r.tarballs),
    r.p50Ms.toFixed(1),
    r.p90Ms.toFixed(1),
    r.maxMs.toFixed(1),
    String(r.namesBytes),
    String(r.versionsBytes),
  ]),
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
process.stdout.write(
  `\npublishing a ${(packageBytes / 1000).toFixed(0)} KB package to a hosted repository (${samples} publishes per size, one at a time)\n\n` +
    rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n') +
    `\n\n${concurrent ? `${concurrent.publishers} concurrent publishers to different packages at ~${concurrent.atPackages} packages: ${concurrent.perSecond.toFixed(1)} publishes/s (${concurrent.publishes} in ${concurrent.seconds.toFixed(1)} s)\n` : ''}JSON: ${jsonFile}\n`,
);
