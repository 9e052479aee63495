#!/usr/bin/env node
// What a policy costs at hex.pm's scale: the filtered /versions and /names are built from
// /versions, /names and the package files of only the packages /versions cannot decide
// alone. This times that build on the bench dataset (20,000 packages, 201,058 releases)
// with a 7-day minimum age, a retirement-reason rule and deny rules, with the clock set
// `--days-after` days after the dataset's newest release.
//
//   npm run build && node bench/policy-build.mjs [--work-dir /tmp/hexproxy-bench] [--latency-ms 0]
//
// Prints one JSON object: build times (cold: every needed package file fetched; rebuilt:
// after a policy reload, package files in cache), hot serving of the built view, the
// number of package files fetched, and the process's peak RSS.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ensureScaleDataset } from './lib/scale-dataset.mjs';

const { values: opts } = parseArgs({
  options: {
    'work-dir': { type: 'string', default: '/tmp/hexproxy-bench' },
    'latency-ms': { type: 'string', default: '0' },
    'days-after': { type: 'string', default: '3' },
  },
});
const root = resolve(import.meta.dirname, '..');
const distDir = join(root, 'dist');
const { startServer } = await import(join(distDir, 'src/app.js'));
const { loadConfig } = await import(join(distDir, 'src/config/load.js'));
const { createLogger } = await import(join(distDir, 'src/log.js'));

const datasetDir = join(resolve(opts['work-dir']), 'scale-20000-1');
const manifest = await ensureScaleDataset(
  datasetDir,
  { packages: 20000, seed: 1, tarballs: 3000, hugeBytes: 100_000_000 },
  { distDir, log: (line) => process.stderr.write(`${line}\n`) },
);

const upstream = spawn(
  process.execPath,
  [join(root, 'bench/upstream.mjs'), '--dir', join(datasetDir, 'upstream'), '--latency-ms', opts['latency-ms']],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const [line] = await once(createInterface({ input: upstream.stdout }), 'line');
const upstreamUrl = JSON.parse(line).url;
const upstreamStats = async () => (await fetch(`${upstreamUrl}/__bench/stats`)).json();

const dataDir = await mkdtemp(join(resolve(opts['work-dir']), 'policy-'));
const newest = Date.parse('2025-06-01T00:00:00Z');
const now = newest + Number(opts['days-after']) * 86_400_000;
const policy = {
  deny: ['bench_huge', 'a*@< 0.1.0'],
  allow: [],
  minReleaseAge: '7d',
  blockRetired: ['invalid', 'renamed'],
  blockAdvisorySeverity: 'high',
};
const config = loadConfig({
  flags: {
    host: '127.0.0.1',
    port: '0',
    'data-dir': dataDir,
    'upstream-url': upstreamUrl,
    'upstream-public-key': join(datasetDir, 'upstream_public_key.pem'),
    'log-level': 'warn',
  },
  env: {},
});
const server = await startServer({ ...config, policy: { ...config.policy, ...policy } }, createLogger('warn'), { clock: () => now });

const timed = async (path) => {
  const started = performance.now();
  const response = await fetch(`${server.url}${path}`);
  const bytes = (await response.arrayBuffer()).byteLength;
  if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
  return { ms: Math.round(performance.now() - started), bytes };
};

const before = await upstreamStats();
const cold = await timed('/versions');
const afterCold = await upstreamStats();
const names = await timed('/names');
server.hexproxy.replacePolicy({ ...config.policy, ...policy });
const rebuilt = await timed('/versions');
const afterRebuild = await upstreamStats();
const hot = [];
for (let i = 0; i < 20; i++) hot.push((await timed('/versions')).ms);
hot.sort((a, b) => a - b);

const result = {
  dataset: { packages: manifest.packageCount, releases: manifest.releaseCount },
  clock: new Date(now).toISOString(),
  policy,
  versionsCold: { ...cold, packageFilesFetched: (afterCold.byKind.package ?? 0) - (before.byKind.package ?? 0) },
  namesFromSameView: names,
  versionsRebuiltAfterReload: { ...rebuilt, packageRequestsUpstream: (afterRebuild.byKind.package ?? 0) - (afterCold.byKind.package ?? 0) },
  versionsHotMedianMs: hot[10],
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
await server.close();
upstream.kill();
await rm(dataDir, { recursive: true, force: true });
