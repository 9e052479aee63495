// Each endpoint over real HTTP, against a real fake upstream.
import { createHash, createPublicKey } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { INSTALLS_CSV, startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const packages = [
  { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0', dependencies: [{ package: 'beta', requirement: '~> 2.0' }] }] },
  { name: 'beta', releases: [{ version: '2.0.0' }, { version: '2.1.0-rc.1', retired: { reason: 2, message: 'security' } }] },
  { name: 'legacy', releases: [{ version: '0.1.0', omitOuterChecksum: true }] },
];

let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

const proxyKey = () => createPublicKey(proxy.server.hexproxy.keys.publicKeyPem);
const open = (body: Buffer, resource: Parameters<typeof openRegistryFile>[1]) =>
  openRegistryFile(body, resource, { publicKey: proxyKey(), repository: 'hexpm', maxBytes: 1 << 24 });
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('registry files', () => {
  it('serves /names re-signed with hexproxy key, keeping the upstream payload bytes', async () => {
    const response = await proxy.get('/names');
    expect(response.status).toBe(200);
    expect(response.headers['x-hexproxy-cache']).toBe('MISS');
    const verified = await open(response.body, { kind: 'names' });
    expect((verified.message as Names).packages.map((p) => p.name).sort()).toEqual(['alpha', 'beta', 'legacy']);
    const original = await openRegistryFile(
      upstream.body('/names') as Buffer,
      { kind: 'names' },
      {
        publicKey: upstream.publicKey,
        repository: 'hexpm',
        maxBytes: 1 << 24,
      },
    );
    expect(verified.payload.equals(original.payload)).toBe(true);
    // Not the upstream's signature: upstream's key must not verify what hexproxy serves.
    await expect(
      openRegistryFile(response.body, { kind: 'names' }, { publicKey: upstream.publicKey, repository: 'hexpm', maxBytes: 1 << 24 }),
    ).rejects.toThrow(/signature/);
  });

  it('serves /versions and /packages/NAME, verifiable with /public_key', async () => {
    const key = await proxy.get('/public_key');
    expect(key.status).toBe(200);
    expect(key.body.toString()).toContain('BEGIN PUBLIC KEY');
    expect(key.body.toString()).not.toContain('PRIVATE');
    const publicKey = createPublicKey(key.body);
    const versions = await proxy.get('/versions');
    const v = await openRegistryFile(versions.body, { kind: 'versions' }, { publicKey, repository: 'hexpm', maxBytes: 1 << 24 });
    const beta = (v.message as Versions).packages.find((p) => p.name === 'beta');
    expect(beta?.versions).toEqual(['2.0.0', '2.1.0-rc.1']);
    expect(beta?.retired).toEqual([1]);
    const pkg = await proxy.get('/packages/alpha');
    expect(pkg.status).toBe(200);
    const p = (await open(pkg.body, { kind: 'package', name: 'alpha' })).message as Package;
    expect(p.releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
    expect(p.releases[1]?.dependencies).toEqual([expect.objectContaining({ package: 'beta', requirement: '~> 2.0' })]);
    expect(p.releases[0]?.outer_checksum?.toString('hex')).toBe(upstream.tarball('alpha', '1.0.0').outerChecksum.toString('hex'));
  });

  it('gives a strong ETag, 304 for If-None-Match, and the same answer to HEAD without a body', async () => {
    const first = await proxy.get('/packages/beta');
    const etag = first.headers['etag'] as string;
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect(first.headers['content-length']).toBe(String(first.body.length));
    const again = await proxy.get('/packages/beta', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect((await proxy.get('/packages/beta', { 'if-none-match': `W/${etag}, "other"` })).status).toBe(304);
    expect((await proxy.get('/packages/beta', { 'if-none-match': '"other"' })).status).toBe(200);
    const head = await proxy.head('/packages/beta');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['etag']).toBe(etag);
    expect(head.headers['content-length']).toBe(String(first.body.length));
  });

  it('serves registry hits from cache without asking upstream within the TTL', async () => {
    await proxy.get('/packages/alpha');
    const before = upstream.hits('/packages/alpha');
    const hit = await proxy.get('/packages/alpha');
    expect(hit.headers['x-hexproxy-cache']).toBe('HIT');
    expect(upstream.hits('/packages/alpha')).toBe(before);
  });

  it('answers 404 for a package upstream does not have, and remembers it briefly', async () => {
    const first = await proxy.get('/packages/nosuch');
    expect(first.status).toBe(404);
    expect(first.body.toString()).toMatch(/no \/packages\/nosuch/);
    const second = await proxy.get('/packages/nosuch');
    expect(second.status).toBe(404);
    expect(upstream.hits('/packages/nosuch')).toBe(1);
  });
});

describe('tarballs', () => {
  it('fetches a miss, checks it, caches it, and serves the same bytes from disk', async () => {
    const expected = upstream.tarball('alpha', '1.1.0');
    const miss = await proxy.get('/tarballs/alpha-1.1.0.tar');
    expect(miss.status).toBe(200);
    expect(miss.headers['x-hexproxy-cache']).toBe('MISS');
    expect(miss.body.equals(expected.tar)).toBe(true);
    expect(miss.headers['etag']).toBe(`"${expected.outerChecksum.toString('hex')}"`);
    expect(miss.headers['content-length']).toBe(String(expected.tar.length));
    const hit = await proxy.get('/tarballs/alpha-1.1.0.tar');
    expect(hit.headers['x-hexproxy-cache']).toBe('HIT');
    expect(hit.body.equals(expected.tar)).toBe(true);
    expect(upstream.hits('/tarballs/alpha-1.1.0.tar')).toBe(1);
    const row = proxy.server.hexproxy.index.findTarball('hexpm', 'alpha', '1.1.0');
    expect(row).toMatchObject({ size: expected.tar.length, sha256: expected.outerChecksum.toString('hex') });
  });

  it('answers 304 and HEAD for tarballs', async () => {
    const first = await proxy.get('/tarballs/beta-2.0.0.tar');
    expect((await proxy.get('/tarballs/beta-2.0.0.tar', { 'if-none-match': first.headers['etag'] as string })).status).toBe(304);
    const head = await proxy.head('/tarballs/beta-2.0.0.tar');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(first.body.length));
  });

  it('checks a release without an outer checksum against its inner checksum', async () => {
    const response = await proxy.get('/tarballs/legacy-0.1.0.tar');
    expect(response.status).toBe(200);
    expect(sha256(response.body)).toBe(upstream.tarball('legacy', '0.1.0').outerChecksum.toString('hex'));
  });

  it('answers 404 for a release the registry does not list, without fetching a tarball', async () => {
    const response = await proxy.get('/tarballs/alpha-9.9.9.tar');
    expect(response.status).toBe(404);
    expect(response.body.toString()).toMatch(/alpha has no release 9\.9\.9/);
    expect(upstream.hits('/tarballs/alpha-9.9.9.tar')).toBe(0);
    // Asked again: remembered, so upstream is not asked to revalidate the package each time.
    const registryHits = upstream.hits('/packages/alpha');
    expect((await proxy.get('/tarballs/alpha-9.9.9.tar')).status).toBe(404);
    expect(upstream.hits('/packages/alpha')).toBe(registryHits);
  });

  it('sees a release published after its package was cached', async () => {
    await proxy.get('/packages/beta');
    await upstream.publish('beta', { version: '2.2.0' });
    const response = await proxy.get('/tarballs/beta-2.2.0.tar');
    expect(response.status).toBe(200);
    expect(response.body.equals(upstream.tarball('beta', '2.2.0').tar)).toBe(true);
  });
});

describe('pass-through files', () => {
  it('relays and caches /installs/hex-1.x.csv', async () => {
    const first = await proxy.get('/installs/hex-1.x.csv');
    expect(first.status).toBe(200);
    expect(first.body.equals(INSTALLS_CSV)).toBe(true);
    const second = await proxy.get('/installs/hex-1.x.csv');
    expect(second.headers['x-hexproxy-cache']).toBe('HIT');
    expect(upstream.hits('/installs/hex-1.x.csv')).toBe(1);
  });

  it('relays docs tarballs byte for byte and caches them', async () => {
    const first = await proxy.get('/docs/alpha-1.0.0.tar.gz');
    expect(first.status).toBe(200);
    expect(first.body.equals(upstream.body('/docs/alpha-1.0.0.tar.gz') as Buffer)).toBe(true);
    await proxy.get('/docs/alpha-1.0.0.tar.gz');
    expect(upstream.hits('/docs/alpha-1.0.0.tar.gz')).toBe(1);
  });
});

describe('probes and refusals', () => {
  it('answers /healthz', async () => {
    const response = await proxy.get('/healthz');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ status: 'ok' });
  });

  it.each([
    ['/packages/Bad-Name', 400, /not a valid package name/],
    ['/packages/a%2Fb', 400, /encoded "\/"/],
    ['/packages/%2e%2e', 400, /"\.\."/],
    ['/tarballs/alpha.tar', 400, /not NAME-VERSION\.tar/],
    ['/tarballs/alpha-1.0.tar', 400, /SemVer/],
    ['/tarballs/alpha-1.0.0.tgz', 400, /NAME-VERSION\.tar/],
    ['/installs/..%2f..%2fetc%2fpasswd', 400, /encoded/],
    ['/installs/.hidden', 400, /not a valid installs path/],
    ['/packages/alpha%00', 400, /control character|encoded/],
    ['/nothing/here', 404, /no such path/],
    ['/packages/../names', 400, /"\.\."/],
    ['/packages//alpha', 400, /empty segment/],
  ])('%s → %i', async (path, status, message) => {
    // Sent as written: an HTTP client library would normalise dot segments away.
    const response = await fetchRaw(proxy.url, path);
    expect(response.status).toBe(status);
    expect(response.body).toMatch(message);
    expect(response.body.trim().split('\n')).toHaveLength(1);
  });

  it("accepts the empty te: header Erlang's httpc sends", async () => {
    const response = await fetchRaw(proxy.url, '/names', ['te: ']);
    expect(response.status).toBe(200);
  });

  it('refuses methods other than GET and HEAD', async () => {
    const response = await fetch(`${proxy.url}/names`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(response.headers.get('x-hexproxy-error')).toBe('method_not_allowed');
  });

  it('names the error code on every error response', async () => {
    expect((await proxy.get('/nothing')).headers['x-hexproxy-error']).toBe('not_found');
    expect((await proxy.get('/packages/Nope')).headers['x-hexproxy-error']).toBe('bad_request');
    expect((await proxy.get('/packages/a%2Fb')).headers['x-hexproxy-error']).toBe('bad_request');
  });

  it('answers HEAD /public_key with its length', async () => {
    const head = await proxy.head('/public_key');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(proxy.server.hexproxy.keys.publicKeyPem));
  });

  it('keeps every request inside the data directory', async () => {
    const before = upstream.totalHits();
    for (const path of ['/tarballs/..%2F..%2Fhexproxy.db', '/docs/%2e%2e%2fx-1.0.0.tar.gz', '/installs/a/../../b.csv']) {
      expect((await fetchRaw(proxy.url, path)).status).toBe(400);
    }
    expect(upstream.totalHits()).toBe(before);
  });
});

/** A request whose target is sent exactly as written (fetch would normalise it). */
async function fetchRaw(base: string, target: string, headerLines: string[] = []): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\n${headerLines.map((line) => `${line}\r\n`).join('')}Connection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body };
}
