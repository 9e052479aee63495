// An upstream that drips its answers a byte at a time: undici's body timeout (the gap
// between chunks) never fires, so without a whole-response deadline each drip holds a
// connection as long as upstream likes, and drips for one package could take the whole
// pool and stall every other cold miss.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { REQUESTS_PER_PACKAGE } from '../../src/upstream/client.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';
import { within as waitWithin } from '../support/within.js';

// More releases than the upstream connection pool (64) has connections.
const SLOW_RELEASES = 70;
// Generous bound on waits for things that must happen: a failure, not a timing.
const BOUND_MS = 20_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(flags: Record<string, string>): Promise<{ upstream: FakeUpstream; proxy: TestProxy }> {
  const upstream = await startFakeUpstream({
    packages: [
      { name: 'slow', releases: Array.from({ length: SLOW_RELEASES }, (_, i) => ({ version: `1.0.${i}` })) },
      { name: 'fast', releases: [{ version: '1.0.0' }] },
      { name: 'alpha', releases: [{ version: '1.0.0' }] },
    ],
  });
  cleanups.push(() => upstream.close());
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'log-level': 'warn', ...flags },
  });
  cleanups.push(() => proxy.close());
  return { upstream, proxy };
}

const within = <T>(promise: Promise<T>, what: string): Promise<T> => waitWithin(promise, what, BOUND_MS);

const stagedFiles = (proxy: TestProxy): string[] => readdirSync(join(proxy.dataDir, '.tmp'));

it("answers an unrelated package's cold miss while one package's answers drip", async () => {
  // Drips must outlast the test here: a long grace and a rate every drip keeps up.
  const { upstream, proxy } = await world({ 'upstream-timeout-ms': '30000', 'upstream-min-bytes-per-second': '1' });
  upstream.misbehave(/^\/tarballs\/slow-/, 'drip', { intervalMs: 200 });
  const settled = new Set<number>();
  const slow = Array.from({ length: SLOW_RELEASES }, (_, i) => proxy.get(`/tarballs/slow-1.0.${i}.tar`).finally(() => settled.add(i)));
  // As many drips as hexproxy lets one package have (before the fix: the whole pool of 64).
  await within(upstream.waitForStreaming(REQUESTS_PER_PACKAGE), 'upstream dripping');

  const fast = await within(proxy.get('/tarballs/fast-1.0.0.tar'), "answering the other package's cold miss");
  expect(fast.status).toBe(200);
  expect(fast.headers['x-hexproxy-cache']).toBe('MISS');
  expect(fast.body.equals(upstream.tarball('fast', '1.0.0').tar)).toBe(true);
  // Answered while the drips were still being held open, and no more of them reached upstream.
  expect(settled.size).toBe(0);
  expect(upstream.streaming()).toBe(REQUESTS_PER_PACKAGE);
  const slowHits = Array.from({ length: SLOW_RELEASES }, (_, i) => upstream.hits(`/tarballs/slow-1.0.${i}.tar`)).reduce((a, b) => a + b, 0);
  expect(slowHits).toBe(REQUESTS_PER_PACKAGE);

  // Upstream recovers: the dripping answers fail (nothing cached from them), the waiting ones are fetched.
  upstream.behave();
  upstream.dropHung();
  const results: HttpResult[] = await within(Promise.all(slow), 'answering the slow package');
  expect(results.filter((result) => result.status === 502)).toHaveLength(REQUESTS_PER_PACKAGE);
  expect(results.filter((result) => result.status === 200)).toHaveLength(SLOW_RELEASES - REQUESTS_PER_PACKAGE);
  const cached = Array.from({ length: SLOW_RELEASES }, (_, i) => proxy.server.hexproxy.index.findTarball('hexpm', 'slow', `1.0.${i}`)).filter(
    Boolean,
  );
  expect(cached).toHaveLength(SLOW_RELEASES - REQUESTS_PER_PACKAGE);
});

it.each([
  ['a registry file', '/packages/alpha'],
  ['a tarball', '/tarballs/alpha-1.0.0.tar'],
])('gives up on %s dripping past its deadline with a clear 504, caching nothing', async (_name, path) => {
  // 1 s of grace, then at least 100 bytes/s on average; the drip sends 20.
  const { upstream, proxy } = await world({ 'upstream-timeout-ms': '1000', 'upstream-min-bytes-per-second': '100' });
  if (path.startsWith('/tarballs/')) expect((await proxy.get('/packages/alpha')).status).toBe(200);
  upstream.misbehave(path, 'drip', { intervalMs: 50 });
  const response = await within(proxy.get(path), `answering ${path}`);
  expect(response.status).toBe(504);
  expect(response.headers['x-hexproxy-error']).toBe('upstream_timeout');
  expect(response.body.toString()).toMatch(
    new RegExp(
      `upstream timed out on ${path}: it sent \\d+ of \\d+ bytes in [\\d.]+ s, slower than upstream\\.minBytesPerSecond \\(100 bytes/s\\) once the first 1000 ms \\(upstream\\.timeoutMs\\) had passed`,
    ),
  );
  // The connection was let go: upstream is not left dripping into it.
  await within(upstream.waitForStreaming(0), 'closing the dripping connection');
  // Nothing from the drip was cached (the tarball's registry file was fetched before it).
  expect(proxy.server.hexproxy.index.findRegistryFile('hexpm', 'packages/alpha') !== undefined).toBe(path.startsWith('/tarballs/'));
  expect(proxy.server.hexproxy.index.findTarball('hexpm', 'alpha', '1.0.0')).toBeUndefined();
  expect(stagedFiles(proxy)).toEqual([]);

  // Once upstream answers at speed again, so does hexproxy.
  upstream.behave();
  expect((await proxy.get(path)).status).toBe(200);
});
