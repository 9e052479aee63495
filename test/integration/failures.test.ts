// Stale serving, revalidation and single-flight fills. Every kind of upstream fault, for
// registry files and tarballs, is in fault-matrix.test.ts.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const packages = [
  { name: 'alpha', releases: [{ version: '1.0.0' }] },
  { name: 'beta', releases: [{ version: '2.0.0' }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;

async function start(flags: Record<string, string | boolean> = {}): Promise<void> {
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'upstream-timeout-ms': '300', ...flags },
  });
}

beforeEach(async () => {
  upstream = await startFakeUpstream({ packages });
});

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
});

function stagedFiles(): string[] {
  return readdirSync(join(proxy.dataDir, '.tmp'));
}

function cachedTarballs(): string[] {
  try {
    return readdirSync(join(proxy.dataDir, 'tarballs', 'hexpm'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.tar'));
  } catch {
    return [];
  }
}

describe('tarballs that do not match the signed checksum', () => {
  it('are never stored or served, and the error names package, version and checksum', async () => {
    await start();
    const expected = upstream.tarball('alpha', '1.0.0').outerChecksum.toString('hex');
    upstream.misbehave('/tarballs/alpha-1.0.0.tar', 'flip-tarball-byte');
    const response = await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(response.status).toBe(502);
    expect(response.body.toString()).toContain(`tarball alpha 1.0.0 from upstream does not match the registry: expected outer SHA-256 ${expected}`);
    expect(proxy.server.hexproxy.index.findTarball('hexpm', 'alpha', '1.0.0')).toBeUndefined();
    expect(cachedTarballs()).toEqual([]);
    expect(stagedFiles()).toEqual([]);
    upstream.behave();
    const good = await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(good.status).toBe(200);
    expect(good.body.equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
  });
});

describe('when upstream fails', () => {
  it('serves stale registry files, marked, and logs the outage once', async () => {
    await start({ 'registry-ttl-seconds': '0' });
    const fresh = await proxy.get('/packages/alpha');
    expect(fresh.status).toBe(200);
    upstream.misbehave('*', 'status-503');
    for (let i = 0; i < 3; i += 1) {
      const stale = await proxy.get('/packages/alpha');
      expect(stale.status).toBe(200);
      expect(stale.body.equals(fresh.body)).toBe(true);
      expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
      expect(stale.headers['warning']).toMatch(/^110 /);
    }
    expect(proxy.logs.filter((l) => l.msg === 'upstream is offline; serving from cache')).toHaveLength(1);
    // Nothing cached for this one: a clear 502.
    const missing = await proxy.get('/packages/beta');
    expect(missing.status).toBe(502);
    upstream.behave();
    const back = await proxy.get('/packages/alpha');
    expect(back.headers['x-hexproxy-cache']).toBe('REVALIDATED');
    expect(proxy.logs.filter((l) => l.msg === 'upstream is back online')).toHaveLength(1);
  });

  it('serves stale when upstream is gone entirely, and cached tarballs as ever', async () => {
    await start({ 'registry-ttl-seconds': '0' });
    await proxy.get('/names');
    const tarball = await proxy.get('/tarballs/alpha-1.0.0.tar');
    await upstream.close();
    const names = await proxy.get('/names');
    expect(names.status).toBe(200);
    expect(names.headers['x-hexproxy-cache']).toBe('STALE');
    const again = await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(again.status).toBe(200);
    expect(again.body.equals(tarball.body)).toBe(true);
    const uncached = await proxy.get('/tarballs/beta-2.0.0.tar');
    expect(uncached.status).toBe(502);
    expect(uncached.body.toString()).toMatch(/refused the connection/);
  });

  it('gives 504 when upstream hangs and nothing is cached', async () => {
    await start();
    upstream.misbehave('*', 'hang');
    const response = await proxy.get('/names');
    expect(response.status).toBe(504);
    expect(response.body.toString()).toMatch(/upstream timed out on \/names/);
  });

  it('revalidates with the upstream ETag and takes a 304', async () => {
    await start({ 'registry-ttl-seconds': '0' });
    const first = await proxy.get('/packages/beta');
    const second = await proxy.get('/packages/beta');
    expect(upstream.lastHeaders('/packages/beta')?.['if-none-match']).toBeDefined();
    expect(second.headers['x-hexproxy-cache']).toBe('REVALIDATED');
    expect(second.headers['etag']).toBe(first.headers['etag']);
    expect(second.body.equals(first.body)).toBe(true);
    expect(upstream.hits('/packages/beta')).toBe(2);
  });

  it('picks up changed content on revalidation, with a new ETag', async () => {
    await start({ 'registry-ttl-seconds': '0' });
    const first = await proxy.get('/packages/beta');
    await upstream.publish('beta', { version: '2.1.0' });
    const second = await proxy.get('/packages/beta');
    expect(second.headers['etag']).not.toBe(first.headers['etag']);
    expect(second.headers['x-hexproxy-cache']).toBe('REVALIDATED');
  });
});

describe('concurrency', () => {
  /** Sends `count` identical requests while upstream holds `path`, and releases it once hexproxy has them all. */
  async function concurrentMisses(path: string, count: number) {
    const gate = upstream.hold(path);
    let received = 0;
    const allReceived = new Promise<void>((resolve) => {
      proxy.server.httpServer.on('request', () => {
        received += 1;
        if (received === count) resolve();
      });
    });
    const responses = Promise.all(Array.from({ length: count }, () => proxy.get(path)));
    await Promise.all([allReceived, gate.arrived(1)]);
    gate.release();
    return responses;
  }

  it('makes one upstream fetch for 20 concurrent identical tarball misses', async () => {
    await start();
    const results = await concurrentMisses('/tarballs/alpha-1.0.0.tar', 20);
    const expected = upstream.tarball('alpha', '1.0.0').tar;
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.body.equals(expected)).toBe(true);
    }
    expect(upstream.hits('/tarballs/alpha-1.0.0.tar')).toBe(1);
    expect(upstream.hits('/packages/alpha')).toBe(1);
  });

  it('makes one upstream fetch for 20 concurrent identical registry misses', async () => {
    await start();
    const results = await concurrentMisses('/versions', 20);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.body.toString('base64'))).size).toBe(1);
    expect(upstream.hits('/versions')).toBe(1);
  });
});
