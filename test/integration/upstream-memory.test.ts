// A hostile upstream answering registry files with gzip bombs and endless bodies must not
// take hexproxy's memory: hexproxy runs as a child process under a real memory limit
// (RLIMIT_DATA), and its peak RSS is read from /proc. Registry files being fetched share
// one memory budget (cache.registryFetchMemoryBytes); a small file still gets through
// while large ones hold it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { request } from 'undici';
import { spawnServer, type ServerProcess } from '../support/crash/harness.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { gzipBomb } from '../support/upstreams/misbehaviour.js';
import { tempDir } from '../support/proxy.js';
import { within as waitWithin } from '../support/within.js';

const MiB = 1024 * 1024;
// hexproxy's default budget (cache.registryFetchMemoryBytes); the tests run with defaults.
const BUDGET_BYTES = 128 * MiB;
// A real limit on the child's private memory: before the fix, four concurrent bombs
// (256 MiB each, cache.maxRegistryBytes) took it past this, and Node aborted.
const DATA_LIMIT_BYTES = 1024 * MiB;
// Generous bound on waits for things that must happen: a failure, not a timing.
const BOUND_MS = 30_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(): Promise<{ upstream: FakeUpstream; server: ServerProcess }> {
  await gzipBomb();
  const upstream = await startFakeUpstream({
    packages: [
      { name: 'alpha', releases: [{ version: '1.0.0' }] },
      { name: 'beta', releases: [{ version: '2.0.0' }] },
    ],
  });
  cleanups.push(() => upstream.close());
  const keyFile = join(tempDir('hexproxy-key-'), 'upstream.pem');
  writeFileSync(keyFile, upstream.publicKeyPem);
  const server = await spawnServer({
    dataDir: tempDir(),
    upstreamUrl: upstream.url,
    upstreamKeyFile: keyFile,
    dataLimitBytes: DATA_LIMIT_BYTES,
    // Every hostile answer must reach hexproxy: no retries, and no cool-down after failures.
    flags: ['--upstream-retries', '0', '--upstream-cooldown-seconds', '0'],
  });
  cleanups.push(() => server.kill());
  return { upstream, server };
}

interface Answer {
  status: number;
  code: string | undefined;
  text: string;
}

async function get(server: ServerProcess, path: string): Promise<Answer> {
  const response = await request(`${server.url}${path}`);
  const text = await response.body.text();
  const code = response.headers['x-hexproxy-error'];
  return { status: response.statusCode, code: typeof code === 'string' ? code : undefined, text };
}

/** Peak resident memory of the process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const within = <T>(promise: Promise<T>, what: string): Promise<T> => waitWithin(promise, what, BOUND_MS);

/** The value of hexproxy_registry_fetch_bytes on /metrics, or undefined without one. */
async function fetchBytes(server: ServerProcess): Promise<number | undefined> {
  const text = (await get(server, '/metrics')).text;
  const match = /^hexproxy_registry_fetch_bytes (\d+)$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Polls /metrics until the registry fetch budget holds `bytes` (there is no event to await across processes). */
const fetchBytesReach = (server: ServerProcess, bytes: number): Promise<void> =>
  within(
    (async () => {
      while ((await fetchBytes(server)) !== bytes) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    `the registry fetch budget holding ${bytes} bytes`,
  );

const range = (count: number, prefix: string): string[] => Array.from({ length: count }, (_, i) => `/packages/${prefix}_${i}`);

it('refuses 24 concurrent gzip bombs and endless bodies within its memory budget, and serves afterwards', async () => {
  const { upstream, server } = await world();
  // Idle, after one ordinary miss: what hexproxy takes before the attack.
  expect((await get(server, '/packages/alpha')).status).toBe(200);
  const idle = peakRss(server.pid);

  const bombs = range(16, 'bomb');
  const endless = range(8, 'endless');
  for (const path of bombs) upstream.misbehave(path, 'gzip-bomb');
  for (const path of endless) upstream.misbehave(path, 'endless-body');
  const paths = [...bombs, ...endless];
  const outcomes = await within(Promise.allSettled(paths.map((path) => get(server, path))), 'answering every hostile request');

  // Before the fix, four bombs took hexproxy past the memory limit and it aborted.
  const exited = await Promise.race([server.exited, Promise.resolve(undefined)]);
  expect(exited, 'hexproxy died during the attack').toBeUndefined();
  outcomes.forEach((outcome, i) => {
    const path = paths[i];
    if (outcome.status === 'rejected') throw new Error(`${path}: no answer (${String(outcome.reason)})`);
    const answer = outcome.value;
    // Too large on its own (502), or stopped for holding the most of a full budget (503).
    expect([502, 503], `${path}: ${answer.text}`).toContain(answer.status);
    expect(answer.code, `${path}: ${answer.text}`).toBe(answer.status === 502 ? 'upstream_too_large' : 'registry_memory_full');
    expect(answer.text).toMatch(/cache\.registryFetchMemoryBytes \(134217728 bytes\)/);
  });

  // Before the fix each bomb buffered up to 256 MiB (cache.maxRegistryBytes): 16 took 4.4 GB.
  // Now the budget, plus what the garbage collector has not yet freed (measured: 200-270 MiB).
  const grew = peakRss(server.pid) - idle;
  expect(grew, `peak RSS grew by ${(grew / MiB).toFixed(0)} MiB`).toBeLessThan(3 * BUDGET_BYTES);
  // The budget is given back.
  expect(await fetchBytes(server)).toBe(0);

  // And hexproxy serves a real registry file afterwards.
  const after = await get(server, '/packages/beta');
  expect(after.status).toBe(200);
});

it('answers a small registry file while large ones hold the whole budget, stopping the largest', async () => {
  const { upstream, server } = await world();
  expect((await get(server, '/packages/alpha')).status).toBe(200);
  // Four bodies that send 32 MiB each, then stall: together exactly the budget.
  const large = range(4, 'large');
  for (const path of large) upstream.misbehave(path, 'endless-body', { stopAfterBytes: BUDGET_BYTES / 4 });
  const settled = new Set<string>();
  const answers = large.map((path) => get(server, path).finally(() => settled.add(path)));
  await fetchBytesReach(server, BUDGET_BYTES);
  expect(upstream.streaming()).toBe(4);

  // A small file needs memory the large ones hold: the largest is stopped, not the small one.
  const small = await within(get(server, '/packages/beta'), 'answering /packages/beta');
  expect(small.status).toBe(200);
  // It was answered while the other large ones were still being held open.
  expect(settled.size).toBeLessThanOrEqual(1);
  expect(upstream.streaming()).toBe(3);
  const stopped = await within(Promise.race(answers), 'answering the stopped large file');
  expect(stopped.status).toBe(503);
  expect(stopped.code).toBe('registry_memory_full');
  expect(stopped.text).toMatch(/registry files being fetched at once need more than cache\.registryFetchMemoryBytes \(134217728 bytes\)/);

  // The rest fail when upstream gives up on them, and the budget is empty again.
  upstream.dropHung();
  const rest = await within(Promise.all(answers), 'answering the other large files');
  expect(rest.filter((answer) => answer.status === 503)).toHaveLength(1);
  expect(rest.filter((answer) => answer.status === 502)).toHaveLength(3);
  expect(await fetchBytes(server)).toBe(0);
});
