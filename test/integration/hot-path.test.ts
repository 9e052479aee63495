// The hot path (src/http/fast-path.ts) answers memory hits without Hono; it must answer
// exactly what the routes would, and the in-memory tarball copies must never outlive or
// differ from what the cache holds.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tarballKey } from '../../src/cache/layout.js';
import { HOT_TARBALL_MAX_BYTES } from '../../src/mirror/tarball-mirror.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { publicRepository, startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';

const packages: PackageSpec[] = [
  { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
  { name: 'big', releases: [{ version: '1.0.0', padBytes: HOT_TARBALL_MAX_BYTES + 4096 }] },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(flags: Record<string, string> = {}, dataDir?: string): Promise<{ upstream: FakeUpstream; proxy: TestProxy }> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags, ...(dataDir && { dataDir }) });
  cleanups.push(() => proxy.close());
  return { upstream, proxy };
}

/** Headers that must agree between two answers to the same request (not Date or the request id). */
const comparable = (result: HttpResult): Record<string, string> => {
  const { date: _date, 'x-request-id': _id, ...rest } = result.headers;
  return rest;
};

describe('the hot path', () => {
  it('answers memory hits with the same status, headers and bytes as the routes', async () => {
    const { proxy } = await setup();
    // big-1.0.0 is over HOT_TARBALL_MAX_BYTES: its GETs are piped from its file.
    for (const path of ['/names', '/versions', '/packages/alpha', '/mirror/packages/alpha', '/tarballs/alpha-1.0.0.tar', '/tarballs/big-1.0.0.tar']) {
      const first = await proxy.get(path);
      expect(first.status, path).toBe(200);
      // Plain targets take the hot path; a query string sends the same request through Hono.
      for (const method of ['get', 'head'] as const) {
        const hot = await proxy[method](path);
        const routed = await proxy[method](`${path}?via=routes`);
        expect(hot.status, `${method} ${path}`).toBe(200);
        expect(hot.headers['x-hexproxy-cache'], `${method} ${path}`).toBe('HIT');
        expect(comparable(hot), `${method} ${path}`).toEqual(comparable(routed));
        expect(hot.body.equals(routed.body), `${method} ${path}`).toBe(true);
        expect(hot.body.length, `${method} ${path}`).toBe(method === 'get' ? first.body.length : 0);
        expect(hot.headers['x-request-id']).toMatch(/^[\w.:-]{1,64}$/);
      }
      const etag = first.headers['etag'] ?? '';
      const hot304 = await proxy.get(path, { 'if-none-match': `W/"nope", ${etag}` });
      const routed304 = await proxy.get(`${path}?via=routes`, { 'if-none-match': `W/"nope", ${etag}` });
      expect(hot304.status, path).toBe(304);
      expect(hot304.body.length).toBe(0);
      expect(comparable(hot304)).toEqual(comparable(routed304));
      expect((await proxy.get(path, { 'if-none-match': '"other"' })).status).toBe(200);
    }
    // A sane x-request-id is echoed on the hot path as by the routes.
    expect((await proxy.get('/names', { 'x-request-id': 'ci-job-42' })).headers['x-request-id']).toBe('ci-job-42');
  });

  it('keeps small tarballs in memory and streams large ones from disk', async () => {
    const { upstream, proxy } = await setup();
    const { tarballs } = publicRepository(proxy.server);
    expect(tarballs.memoryBytes()).toBe(0);
    const small = await proxy.get('/tarballs/alpha-1.0.0.tar');
    const held = tarballs.memoryBytes();
    expect(held).toBeGreaterThanOrEqual(small.body.length);
    expect(tarballs.peek('alpha', '1.0.0')?.body.equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
    const large = await proxy.get('/tarballs/big-1.0.0.tar');
    expect(large.body.length).toBeGreaterThan(HOT_TARBALL_MAX_BYTES);
    expect(tarballs.memoryBytes()).toBe(held);
    const again = await proxy.get('/tarballs/big-1.0.0.tar');
    expect(again.headers['x-hexproxy-cache']).toBe('HIT');
    expect(again.body.equals(upstream.tarball('big', '1.0.0').tar)).toBe(true);
    expect(upstream.hits('/tarballs/big-1.0.0.tar')).toBe(1);
  });

  it('refetches a large tarball whose file on disk was cut short, instead of streaming it', async () => {
    const { upstream, proxy } = await setup();
    const good = (await proxy.get('/tarballs/big-1.0.0.tar')).body;
    const file = join(proxy.dataDir, tarballKey('hexpm', 'big', '1.0.0'));
    writeFileSync(file, readFileSync(file).subarray(0, 1000));
    const served = await proxy.get('/tarballs/big-1.0.0.tar');
    expect(served.status).toBe(200);
    expect(served.headers['x-hexproxy-cache']).toBe('MISS');
    expect(served.body.equals(good)).toBe(true);
    expect(upstream.hits('/tarballs/big-1.0.0.tar')).toBe(2);
    expect(readFileSync(file).equals(good)).toBe(true);
  });

  it('streams small tarballs it has checked from disk when memory is full, instead of churning it', async () => {
    const { upstream, proxy } = await setup();
    const { tarballs } = publicRepository(proxy.server);
    const one = upstream.tarball('alpha', '1.0.0').tar.length;
    await proxy.close();
    // Room for one of alpha's two tarballs only.
    const small = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir: proxy.dataDir,
      flags: { 'memory-tarball-bytes': String(one + 1024) },
    });
    cleanups.push(() => small.close());
    expect(tarballs).not.toBe(publicRepository(small.server).tarballs);
    for (const version of ['1.0.0', '1.1.0', '1.0.0', '1.1.0', '1.0.0']) {
      const served = await small.get(`/tarballs/alpha-${version}.tar`);
      expect(served.status).toBe(200);
      expect(served.body.equals(upstream.tarball('alpha', version).tar)).toBe(true);
    }
    // 1.1.0 went into memory after 1.0.0 and stays there; 1.0.0, checked once, is streamed.
    expect(publicRepository(small.server).tarballs.peek('alpha', '1.1.0')).toBeDefined();
    expect(publicRepository(small.server).tarballs.peek('alpha', '1.0.0')).toBeUndefined();
    expect(publicRepository(small.server).tarballs.cachedFile('alpha', '1.0.0')?.row.size).toBe(one);
    expect(upstream.hits('/tarballs/alpha-1.0.0.tar')).toBe(1);
  });

  it('keeps none with cache.memoryTarballBytes 0, and still serves hits from disk', async () => {
    const { upstream, proxy } = await setup({ 'memory-tarball-bytes': '0' });
    await proxy.get('/tarballs/alpha-1.0.0.tar');
    const hit = await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(hit.headers['x-hexproxy-cache']).toBe('HIT');
    expect(hit.body.equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
    expect(publicRepository(proxy.server).tarballs.memoryBytes()).toBe(0);
  });

  it('drops the in-memory copy of an evicted tarball', async () => {
    const { upstream, proxy } = await setup({ 'max-cache-bytes': '1' });
    await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(publicRepository(proxy.server).tarballs.peek('alpha', '1.0.0')).toBeDefined();
    const { evicted } = await proxy.server.hexproxy.evictor.run();
    expect(evicted.map((row) => `${row.name}-${row.version}`)).toEqual(['alpha-1.0.0']);
    expect(publicRepository(proxy.server).tarballs.peek('alpha', '1.0.0')).toBeUndefined();
    expect(publicRepository(proxy.server).tarballs.memoryBytes()).toBe(0);
    const refetched = await proxy.get('/tarballs/alpha-1.0.0.tar');
    expect(refetched.headers['x-hexproxy-cache']).toBe('MISS');
    expect(upstream.hits('/tarballs/alpha-1.0.0.tar')).toBe(2);
  });

  it('refetches a tarball whose bytes changed on disk instead of holding them in memory', async () => {
    const first = await setup();
    const good = (await first.proxy.get('/tarballs/alpha-1.1.0.tar')).body;
    await first.proxy.close();
    // Same length, one byte flipped: only a checksum can tell.
    const file = join(first.proxy.dataDir, tarballKey('hexpm', 'alpha', '1.1.0'));
    const rotten = Buffer.from(readFileSync(file));
    rotten[rotten.length >> 1] = (rotten[rotten.length >> 1] ?? 0) ^ 0xff;
    writeFileSync(file, rotten);
    const proxy = await startProxy({
      upstreamUrl: first.upstream.url,
      upstreamPublicKeyPem: first.upstream.publicKeyPem,
      dataDir: first.proxy.dataDir,
    });
    cleanups.push(() => proxy.close());
    const served = await proxy.get('/tarballs/alpha-1.1.0.tar');
    expect(served.status).toBe(200);
    expect(served.headers['x-hexproxy-cache']).toBe('MISS');
    expect(served.body.equals(good)).toBe(true);
    expect(first.upstream.hits('/tarballs/alpha-1.1.0.tar')).toBe(2);
    expect(readFileSync(file).equals(good)).toBe(true);
    expect(proxy.logs.some((line) => line.msg === 'a cached tarball no longer matches its SHA-256 on disk; refetching it')).toBe(true);
  });
});
