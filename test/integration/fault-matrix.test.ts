// Every way upstream can fail, for registry files and for tarballs: what the client gets
// (stale data with a marker, or a clear 5xx), that nothing unverified is stored, and that
// the first request after upstream recovers succeeds.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type Misbehaviour, type MisbehaveOptions } from '../support/upstreams/fake-upstream.js';
import { gzipBomb } from '../support/upstreams/misbehaviour.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { startRelay, type Relay } from '../support/relay.js';

const packages = [
  { name: 'alpha', releases: [{ version: '1.0.0' }] },
  { name: 'beta', releases: [{ version: '2.0.0' }] },
];

interface World {
  upstream: FakeUpstream;
  relay: Relay;
  proxy: TestProxy;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(flags: Record<string, string | boolean> = {}, upstreamUrl?: (relay: Relay) => string): Promise<World> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  const relay = await startRelay(upstream.url);
  cleanups.push(() => relay.close());
  const proxy = await startProxy({
    upstreamUrl: upstreamUrl?.(relay) ?? relay.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'upstream-timeout-ms': '300', 'registry-ttl-seconds': '0', ...flags },
  });
  cleanups.push(() => proxy.close());
  return { upstream, relay, proxy };
}

/** How a fault is brought about, and undone. */
interface Fault {
  name: string;
  /** What a client gets when nothing is cached. */
  status: 502 | 504;
  message: RegExp;
  flags?: Record<string, string>;
  /** DNS: point hexproxy at a name that does not resolve (it cannot recover in a test). */
  unresolvable?: true;
  start(world: World, path: string): Promise<void> | void;
  stop(world: World): Promise<void> | void;
}

const misbehaving = (
  mode: Misbehaviour,
  status: 502 | 504,
  message: RegExp,
  options: MisbehaveOptions & { flags?: Record<string, string> } = {},
): Fault => ({
  name: options.retryAfter ? `${mode} with Retry-After: ${options.retryAfter}` : mode,
  status,
  message,
  ...(options.flags && { flags: options.flags }),
  start: ({ upstream }, path) => upstream.misbehave(path, mode, options),
  stop: ({ upstream }) => {
    upstream.behave();
    upstream.dropHung();
  },
});

const refused: Fault = {
  name: 'connection refused',
  status: 502,
  message: /upstream refused the connection/,
  start: ({ relay }) => relay.down(),
  stop: ({ relay }) => relay.up(),
};

const dnsFailure: Fault = {
  name: 'DNS failure',
  status: 502,
  message: /could not be resolved \(DNS\)/,
  unresolvable: true,
  start: () => undefined,
  stop: () => undefined,
};

// Faults any HTTP resource can meet.
const transport: Fault[] = [
  refused,
  dnsFailure,
  misbehaving('hang', 504, /upstream timed out/),
  misbehaving('hang-body', 504, /upstream timed out/),
  misbehaving('reset-mid-body', 502, /upstream connection failed/),
  misbehaving('status-500', 502, /upstream answered 500/),
  misbehaving('status-502', 502, /upstream answered 502/),
  misbehaving('status-503', 502, /upstream answered 503/),
  misbehaving('status-503', 502, /upstream answered 503 for .* \(retry after 120\)/, { retryAfter: '120' }),
  misbehaving('status-429', 502, /upstream answered 429/),
  misbehaving('status-429', 502, /upstream answered 429 for .* \(retry after 30\)/, { retryAfter: '30' }),
  misbehaving('html-200', 502, /not valid gzip|does not match the registry/),
];

const registryFaults: Fault[] = [
  ...transport,
  misbehaving('truncated-gzip', 502, /not valid gzip/),
  misbehaving('gzip-bomb', 502, /inflates past 8388608 bytes/, { flags: { 'max-registry-bytes': String(8 * 1024 * 1024) } }),
  misbehaving('wrong-key', 502, /has a bad signature/),
  misbehaving('wrong-repository', 502, /names repository "evil", expected "hexpm"/),
  misbehaving('wrong-package-name', 502, /describes package "beta"/),
  {
    name: 'registry file over the size limit',
    status: 502,
    message: /over the limit of 64 bytes/,
    flags: { 'max-registry-bytes': '64' },
    start: () => undefined,
    stop: () => undefined,
  },
];

const tarballFaults: Fault[] = [
  ...transport.filter((fault) => fault !== dnsFailure),
  misbehaving('truncated-gzip', 502, /does not match the registry/),
  misbehaving('flip-tarball-byte', 502, /does not match the registry: expected outer SHA-256 [0-9a-f]{64}/),
  {
    name: 'tarball over the size limit',
    status: 502,
    message: /over the limit of 1024 bytes/,
    flags: { 'max-tarball-bytes': '1024' },
    start: () => undefined,
    stop: () => undefined,
  },
];

function stagedFiles(proxy: TestProxy): string[] {
  return readdirSync(join(proxy.dataDir, '.tmp'));
}

describe('registry files (/packages/alpha)', () => {
  it.each(registryFaults.map((fault) => [fault.name, fault] as const))(
    '%s, nothing cached: a clear 5xx, nothing stored, then recovery',
    async (_name, fault) => {
      if (fault.name === 'gzip-bomb') await gzipBomb();
      const w = await world(fault.flags, fault.unresolvable ? (relay) => `http://hexproxy-fault.invalid:${new URL(relay.url).port}` : undefined);
      await fault.start(w, '/packages/alpha');
      const response = await w.proxy.get('/packages/alpha');
      expect(response.status).toBe(fault.status);
      expect(response.body.toString()).toMatch(fault.message);
      expect(response.headers['x-hexproxy-error']).toBeDefined();
      expect(w.proxy.server.hexproxy.index.findRegistryFile('hexpm', 'packages/alpha')).toBeUndefined();
      expect(stagedFiles(w.proxy)).toEqual([]);
      if (fault.unresolvable || fault.flags) return; // recovery needs another configuration
      await fault.stop(w);
      const recovered = await w.proxy.get('/packages/alpha');
      expect(recovered.status).toBe(200);
      expect(recovered.headers['x-hexproxy-cache']).toBe('MISS');
    },
  );

  it.each(registryFaults.filter((fault) => !fault.unresolvable && !fault.flags).map((fault) => [fault.name, fault] as const))(
    '%s, cached before: the cached copy, marked stale, then a fresh one',
    async (_name, fault) => {
      if (fault.name === 'gzip-bomb') await gzipBomb();
      const w = await world();
      const fresh = await w.proxy.get('/packages/alpha');
      const row = w.proxy.server.hexproxy.index.findRegistryFile('hexpm', 'packages/alpha');
      await fault.start(w, '/packages/alpha');
      const stale = await w.proxy.get('/packages/alpha');
      expect(stale.status).toBe(200);
      expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
      expect(stale.headers['warning']).toMatch(/^110 /);
      expect(stale.body.equals(fresh.body)).toBe(true);
      // The cached row is the verified one, untouched by what upstream sent.
      expect(w.proxy.server.hexproxy.index.findRegistryFile('hexpm', 'packages/alpha')?.sha256).toBe(row?.sha256);
      await fault.stop(w);
      const recovered = await w.proxy.get('/packages/alpha');
      expect(recovered.status).toBe(200);
      expect(recovered.headers['x-hexproxy-cache']).toBe('REVALIDATED');
    },
  );

  it('a DNS failure with a cached copy serves it stale', async () => {
    const upstream = await startFakeUpstream({ packages });
    cleanups.push(() => upstream.close());
    const dataDir = tempDir();
    const first = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir });
    const fresh = await first.get('/packages/alpha');
    await first.close();
    const second = await startProxy({
      upstreamUrl: 'http://hexproxy-fault.invalid',
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir,
      flags: { 'registry-ttl-seconds': '0' },
    });
    cleanups.push(() => second.close());
    const stale = await second.get('/packages/alpha');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stale.body.equals(fresh.body)).toBe(true);
  });
});

describe('tarballs (/tarballs/alpha-1.0.0.tar)', () => {
  it.each(tarballFaults.map((fault) => [fault.name, fault] as const))('%s: a clear 5xx, nothing stored, then recovery', async (_name, fault) => {
    const w = await world(fault.flags);
    // The registry entry is fetched while upstream is well; only the tarball fails.
    expect((await w.proxy.get('/packages/alpha')).status).toBe(200);
    await fault.start(w, '/tarballs/alpha-1.0.0.tar');
    const response = await w.proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(response.status).toBe(fault.status);
    expect(response.body.toString()).toMatch(fault.message);
    expect(w.proxy.server.hexproxy.index.findTarball('hexpm', 'alpha', '1.0.0')).toBeUndefined();
    expect(
      readdirSync(join(w.proxy.dataDir), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.tar')),
    ).toEqual([]);
    expect(stagedFiles(w.proxy)).toEqual([]);
    if (fault.flags) return;
    await fault.stop(w);
    const recovered = await w.proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(recovered.status).toBe(200);
    expect(recovered.body.equals(w.upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
  });

  it('a cached tarball is served whatever upstream does', async () => {
    const w = await world();
    const first = await w.proxy.get('/tarballs/alpha-1.0.0.tar');
    await w.relay.down();
    const again = await w.proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(again.status).toBe(200);
    expect(again.body.equals(first.body)).toBe(true);
  });
});

describe('retries', () => {
  it('retries a 503 and succeeds on the second attempt', async () => {
    const w = await world({ 'upstream-retries': '2' });
    w.upstream.misbehave('/packages/alpha', 'status-503', { times: 1 });
    const response = await w.proxy.get('/packages/alpha');
    expect(response.status).toBe(200);
    expect(w.upstream.hits('/packages/alpha')).toBe(2);
  });

  it('honours a short Retry-After on a 429', async () => {
    const w = await world({ 'upstream-retries': '1' });
    w.upstream.misbehave('/tarballs/alpha-1.0.0.tar', 'status-429', { times: 1, retryAfter: '0' });
    const response = await w.proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(response.status).toBe(200);
    expect(w.upstream.hits('/tarballs/alpha-1.0.0.tar')).toBe(2);
  });

  it('does not wait out a long Retry-After, nor retry a timeout', async () => {
    const w = await world({ 'upstream-retries': '2' });
    w.upstream.misbehave('/packages/alpha', 'status-503', { retryAfter: '3600' });
    expect((await w.proxy.get('/packages/alpha')).status).toBe(502);
    expect(w.upstream.hits('/packages/alpha')).toBe(1);
    w.upstream.misbehave('/packages/beta', 'hang');
    expect((await w.proxy.get('/packages/beta')).status).toBe(504);
    expect(w.upstream.hits('/packages/beta')).toBe(1);
  });

  it('gives up after the configured retries', async () => {
    const w = await world({ 'upstream-retries': '2' });
    w.upstream.misbehave('/packages/alpha', 'status-500');
    expect((await w.proxy.get('/packages/alpha')).status).toBe(502);
    expect(w.upstream.hits('/packages/alpha')).toBe(3);
  });
});

describe('cool-down', () => {
  it('leaves a failing upstream alone for the cool-down, serving from cache, then probes it again', async () => {
    const w = await world({ 'upstream-cooldown-seconds': '30' });
    const cached = await w.proxy.get('/packages/alpha');
    w.upstream.misbehave('*', 'status-503');
    const hits = (): number => w.upstream.totalHits();
    // Three failed requests in a row...
    for (const path of ['/packages/beta', '/names', '/versions']) expect((await w.proxy.get(path)).status).toBe(502);
    const afterFailures = hits();
    // ...and upstream is not asked at all during the cool-down.
    const stale = await w.proxy.get('/packages/alpha');
    expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stale.body.equals(cached.body)).toBe(true);
    const refusedFast = await w.proxy.get('/packages/beta');
    expect(refusedFast.status).toBe(502);
    expect(refusedFast.body.toString()).toMatch(/upstream failed repeatedly and is not asked again before .* \(upstream\.cooldownSeconds\)/);
    expect(hits()).toBe(afterFailures);
    expect(w.proxy.logs.filter((line) => line.msg === 'upstream is offline; serving from cache')).toHaveLength(1);
    // After the cool-down, the next request probes upstream, which has recovered.
    w.upstream.behave();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31_000);
    const probe = await w.proxy.get('/packages/beta');
    expect(probe.status).toBe(200);
    expect(hits()).toBe(afterFailures + 1);
    expect(w.proxy.logs.filter((line) => line.msg === 'upstream is back online')).toHaveLength(1);
  });
});
