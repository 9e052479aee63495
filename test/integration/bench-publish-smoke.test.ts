// The publish bench (bench/publish.mjs, `npm run bench:publish`) is not part of npm test,
// but its smoke run is, so the harness cannot rot: a hosted repository filled to two small
// sizes over HTTP, timed publishes at each, and concurrent publishers once. Nothing here
// checks a speed; it checks that every publish was answered 201 (the bench stops otherwise)
// and that the report holds a figure for each size, and that /names grew with the packages.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/proxy.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Report {
  scale: string;
  options: { sizes: number[]; samples: number };
  latency: { packages: number; samples: number; p50Ms: number; latenciesMs: number[]; namesBytes: number; versionsBytes: number }[];
  concurrent: { publishes: number; perSecond: number };
}

function runBench(args: string[], limitMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bench/publish.mjs'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('bench/publish.mjs --scale smoke', () => {
  it('publishes over HTTP at each size and reports latencies and publishes per second', async () => {
    const dir = tempDir('hexproxy-bench-publish-');
    const json = join(dir, 'report.json');
    const run = await runBench(['--scale', 'smoke', '--json', json, '--work-dir', join(dir, 'work')], 120_000);
    expect(run.code, `output:\n${run.output.split('\n').slice(-30).join('\n')}`).toBe(0);

    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(report.scale).toBe('smoke');
    expect(report.latency.map((row) => row.packages)).toEqual(report.options.sizes);
    for (const row of report.latency) {
      expect(row.latenciesMs).toHaveLength(report.options.samples);
      expect(row.latenciesMs.every((ms) => Number.isFinite(ms) && ms > 0)).toBe(true);
    }
    const [small, large] = report.latency;
    expect(large!.namesBytes).toBeGreaterThan(small!.namesBytes);
    expect(large!.versionsBytes).toBeGreaterThan(small!.versionsBytes);
    expect(report.concurrent.publishes).toBeGreaterThan(0);
    expect(Number.isFinite(report.concurrent.perSecond)).toBe(true);
  }, 150_000);
});
