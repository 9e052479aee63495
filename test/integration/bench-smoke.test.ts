// The performance bench (bench/perf.mjs, `npm run bench`) is not part of npm test, but its
// smoke run is, so the harness cannot rot: every scenario runs at a tiny scale for a second
// or two against hexproxy and nginx, and the report must have figures for both. No goal is
// checked here except the two that are correctness, not speed: one upstream fetch for 100
// concurrent clients, and no errors under load. Needs nginx and wrk (Debian's packages;
// .ci/run installs them). With CI=true a missing one is a failure, not a reason to skip.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/proxy.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const required = process.env['CI'] === 'true';

function executable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  return undefined;
}

// Where bench/lib/nginx.mjs looks too (Debian puts nginx in /usr/sbin, not on every PATH).
const nginx = executable('nginx', ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']);
const wrk = executable('wrk');
const available = nginx !== undefined && wrk !== undefined;

interface Figures {
  median: number;
  min: number;
  max: number;
  values: number[];
}
interface Metric {
  metric: string;
  unit: string;
  hexproxy: Figures;
  reference: Figures | null;
  met: boolean | null;
  /** Scenarios 1 and 2: Node's floor (bench/node-floor.mjs) in the same runs, and hexproxy ÷ floor. */
  floor?: Figures;
  floorRatio?: Figures | null;
}
interface Scenario {
  title: string;
  reference: string;
  metrics: Metric[];
}
interface Report {
  scale: string;
  failures: Record<string, string>;
  scenarios: Record<string, Scenario>;
}

function runBench(args: string[], limitMs: number): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bench/perf.mjs'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('the bench needs nginx and wrk', () => {
  it.runIf(required)("nginx and wrk are installed (CI=true: .ci/run installs Debian's nginx and wrk)", () => {
    expect({ nginx, wrk }).toEqual({ nginx: expect.any(String), wrk: expect.any(String) });
  });
});

describe.skipIf(!available)('bench/perf.mjs --scale smoke', () => {
  it('runs every scenario against hexproxy and nginx and reports figures for both', async () => {
    const dir = tempDir('hexproxy-bench-smoke-');
    const json = join(dir, 'report.json');
    const run = await runBench(['--scale', 'smoke', '--json', json, '--work-dir', join(dir, 'work'), '--keep'], 150_000);
    const tail = run.output.split('\n').slice(-60).join('\n');
    expect(run.code, `exit ${run.code ?? run.signal}; output:\n${tail}`).toBe(0);

    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(report.scale).toBe('smoke');
    expect(report.failures).toEqual({});
    for (const id of ['1', '2', '3', '4', '5', '6', '7', '8']) {
      const scenario = report.scenarios[id];
      expect(scenario, `scenario ${id} in the report`).toBeDefined();
      expect(scenario!.metrics.length, `scenario ${id} metrics`).toBeGreaterThan(0);
      for (const m of scenario!.metrics) {
        expect(Number.isFinite(m.hexproxy.median), `scenario ${id} ${m.metric}: hexproxy`).toBe(true);
      }
      const compared = scenario!.metrics.filter((m) => m.reference !== null);
      expect(compared.length, `scenario ${id} has a metric with a reference figure`).toBeGreaterThan(0);
      for (const m of compared) {
        expect(Number.isFinite(m.reference!.median), `scenario ${id} ${m.metric}: ${scenario!.reference}`).toBe(true);
      }
    }

    const fetches = report.scenarios['4']!.metrics.find((m) => m.metric === 'upstream tarball fetches');
    expect(fetches?.hexproxy.values).toEqual([1]);
    const identical = report.scenarios['4']!.metrics.find((m) => m.metric.startsWith('200 with identical bytes'));
    expect(identical?.hexproxy.values).toEqual([100]);
    for (const id of ['1', '2']) {
      const errors = report.scenarios[id]!.metrics.find((m) => m.metric.startsWith('errors'));
      expect(errors, `scenario ${id} reports errors`).toBeDefined();
      expect({ hexproxy: errors!.hexproxy.values, nginx: errors!.reference!.values }, `scenario ${id} errors`).toEqual({ hexproxy: [0], nginx: [0] });
      // Node's floor ran in the same rotation, answered without errors, and has its column.
      expect(errors!.floor?.values, `scenario ${id} floor errors`).toEqual([0]);
      const requests = report.scenarios[id]!.metrics.find((m) => m.metric === 'requests/s');
      expect(Number.isFinite(requests?.floor?.median), `scenario ${id}: the floor's requests/s`).toBe(true);
      expect(Number.isFinite(requests?.floorRatio?.median), `scenario ${id}: hexproxy ÷ floor`).toBe(true);
      // The floor was given hexproxy's own answers: each path's size and headers, as warm-up saw them.
      const [runDir] = readdirSync(join(dir, 'work')).filter((name) => name.startsWith('perf-'));
      const answers = JSON.parse(readFileSync(join(dir, 'work', runDir!, `floor-${id}-sizes.json`), 'utf8')) as Record<
        string,
        { bytes: number; headers: string[] }
      >;
      expect(Object.keys(answers).length, `scenario ${id}: paths given to the floor`).toBeGreaterThan(0);
      for (const [path, answer] of Object.entries(answers)) {
        expect(answer.bytes, `${path} size`).toBeGreaterThan(0);
        const names = answer.headers.filter((_, i) => i % 2 === 0);
        expect(names, `${path} headers`).toEqual(
          expect.arrayContaining(['etag', 'cache-control', 'x-hexproxy-cache', 'content-security-policy', 'x-request-id']),
        );
        expect(names, `${path}: node:http adds these itself`).not.toEqual(expect.arrayContaining(['date']));
      }
    }
    // Scenario 8 (the shipped nginx tier in front of hexproxy): tarballs and /packages, no errors either.
    const tierErrors = report.scenarios['8']!.metrics.find((m) => m.metric.startsWith('errors'));
    expect(tierErrors?.hexproxy.values, 'scenario 8 errors through the tier').toEqual([0, 0]);
    expect(run.output).toMatch(/node floor +÷ floor/);
  }, 180_000);
});

describe('bench/node-floor.mjs', () => {
  it('answers a listed path with the size and headers it was given, and other paths with its typical set', async () => {
    const dir = tempDir('hexproxy-floor-');
    const sizes = join(dir, 'sizes.json');
    const headers = ['etag', '"abc"', 'cache-control', 'public, max-age=0, s-maxage=12', 'x-request-id', 'fixed-1'];
    writeFileSync(sizes, JSON.stringify({ '/packages/a': { bytes: 7, headers }, '/packages/b': 3 }));
    const child = spawn(process.execPath, [join(repoRoot, 'bench/node-floor.mjs'), '--port', '0', '--sizes', sizes, '--bytes', '5'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const { url } = JSON.parse(line.toString()) as { url: string };
      const listed = await fetch(`${url}/packages/a`);
      expect(Buffer.from(await listed.arrayBuffer())).toEqual(Buffer.alloc(7, 0x61));
      expect([listed.headers.get('etag'), listed.headers.get('cache-control'), listed.headers.get('x-request-id')]).toEqual([
        '"abc"',
        'public, max-age=0, s-maxage=12',
        'fixed-1',
      ]);
      expect(listed.headers.get('x-hexproxy-cache')).toBeNull();
      const sizeOnly = await fetch(`${url}/packages/b`);
      expect((await sizeOnly.arrayBuffer()).byteLength).toBe(3);
      expect(sizeOnly.headers.get('x-hexproxy-cache')).toBe('HIT');
      const other = await fetch(`${url}/elsewhere`);
      expect([(await other.arrayBuffer()).byteLength, other.headers.get('content-security-policy')]).toEqual([5, "default-src 'none'; sandbox"]);
    } finally {
      child.kill();
    }
  });
});
