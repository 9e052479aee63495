#!/usr/bin/env node
// What N cached tarballs cost (docs/operations.md, "Sizing"): a generated upstream
// (bench/lib/dataset.mjs: tarballs of 5–100 KB of random bytes, signed registry files),
// hexproxy serving it as `hexproxy serve` runs, clients asking for each package's
// registry file and N tarballs, then the data directory's size on disk and the server's
// memory (VmRSS, VmHWM) at each step: empty, after filling, restarted with the cache on
// disk, after serving every tarball from disk, and once more (memory hits).
//
//   npm run build && node scripts/sizing.mjs [--tarballs 10000] [--packages 1400] [--work DIR] [-- SERVE FLAGS…]
//
// Prints a JSON report. Everything runs on 127.0.0.1; the work directory is kept (the
// dataset is reused by the next run).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDataset } from '../bench/lib/dataset.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({
  options: {
    tarballs: { type: 'string', default: '10000' },
    packages: { type: 'string', default: '1400' },
    work: { type: 'string', default: join(tmpdir(), 'hexproxy-sizing') },
  },
  allowPositionals: true,
});
const count = Number(values.tarballs);
const datasetDir = join(values.work, `dataset-${values.packages}`);
const dataDir = join(values.work, 'data');

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts `node ARGS` and resolves with it and the first match of `pattern` in its output. */
function start(args, pattern) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const look = (chunk) => {
      output += chunk;
      const match = pattern.exec(output);
      if (match) resolve({ child, value: match[1] });
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => reject(new Error(`node ${args.join(' ')} exited (${code}): ${output}`)));
  });
}

async function stop(child) {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  children.delete(child);
}

/** VmRSS and VmHWM in MiB. */
function memory(pid) {
  const lines = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n');
  const mib = (name) => Math.round(Number(/\d+/.exec(lines.find((line) => line.startsWith(`${name}:`)) ?? '')?.[0]) / 1024);
  return { rssMiB: mib('VmRSS'), hwmMiB: mib('VmHWM') };
}

const kib = (path) => Number(execFileSync('du', ['-sk', path]).toString().split('\t')[0]);
const bytes = (path) => Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);

async function getAll(base, paths, concurrency = 8) {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const response = await fetch(`${base}${paths[next++]}`);
        await response.arrayBuffer();
        if (response.status !== 200) failed += 1;
      }
    }),
  );
  if (failed > 0) throw new Error(`${failed} of ${paths.length} requests failed`);
}

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const manifest = await ensureDataset(datasetDir, { packages: Number(values.packages), seed: 1 }, (line) => process.stderr.write(`${line}\n`));
const releases = manifest.packages.flatMap((pkg) => pkg.releases.map((release) => ({ name: pkg.name, ...release }))).slice(0, count);
if (releases.length < count) throw new Error(`the dataset has ${releases.length} tarballs; give more --packages`);
const names = [...new Set(releases.map((release) => release.name))];
const paths = [...names.map((name) => `/packages/${name}`), ...releases.map((release) => `/tarballs/${release.name}-${release.version}.tar`)];

rmSync(dataDir, { recursive: true, force: true });
const upstream = await start([join(root, 'bench', 'upstream.mjs'), '--dir', join(datasetDir, 'upstream')], /"url":"([^"]+)"/);
const serveArgs = [
  join(root, 'dist', 'src', 'cli', 'main.js'),
  'serve',
  '--host',
  '127.0.0.1',
  '--port',
  '0',
  '--data-dir',
  dataDir,
  '--upstream-url',
  upstream.value,
  '--upstream-public-key',
  join(datasetDir, 'upstream_public_key.pem'),
  ...positionals,
];
const listening = /listening on (http:\/\/[0-9.:]+)/;
const report = {
  tarballs: releases.length,
  packages: names.length,
  tarballBytes: releases.reduce((sum, release) => sum + release.size, 0),
  serveFlags: positionals,
};

let server = await start(serveArgs, listening);
report.empty = memory(server.child.pid);
await getAll(server.value, paths);
// The index's hit counts and last use are written in batches every 5 s.
await settle(6000);
report.afterFilling = memory(server.child.pid);
await stop(server.child);
report.disk = {
  dataDirKiB: kib(dataDir),
  tarballsKiB: kib(join(dataDir, 'tarballs')),
  registryKiB: kib(join(dataDir, 'registry')),
  indexBytes: bytes(join(dataDir, 'hexproxy.db')),
};

server = await start(serveArgs, listening);
// The start-up reconcile pass reads every row.
await settle(3000);
report.restarted = memory(server.child.pid);
await getAll(server.value, paths);
report.afterServingFromDisk = memory(server.child.pid);
await getAll(
  server.value,
  paths.filter((path) => path.startsWith('/tarballs/')),
);
report.afterServingAgain = memory(server.child.pid);
await stop(server.child);
await stop(upstream.child);
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
