// Restarts, offline mode and keys: what survives a restart and what is never contacted.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const packages = [
  { name: 'alpha', releases: [{ version: '1.0.0' }] },
  { name: 'beta', releases: [{ version: '2.0.0', dependencies: [{ package: 'alpha', requirement: '~> 1.0' }] }] },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstreamFor(): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  return upstream;
}

async function proxyFor(upstream: FakeUpstream, dataDir: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> {
  const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir, flags });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await proxy.close();
  };
  cleanups.push(close);
  return { ...proxy, close };
}

const paths = ['/names', '/versions', '/packages/alpha', '/packages/beta', '/tarballs/alpha-1.0.0.tar', '/tarballs/beta-2.0.0.tar'];

describe('restart', () => {
  it('serves everything cached before, with the same bytes and ETags, without asking upstream', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const first = await proxyFor(upstream, dataDir);
    const before = new Map<string, { etag: string; body: Buffer }>();
    for (const path of paths) {
      const response = await first.get(path);
      expect(response.status, path).toBe(200);
      before.set(path, { etag: response.headers['etag'] as string, body: response.body });
    }
    const fingerprint = first.server.hexproxy.keys.fingerprint;
    await first.close();
    const hitsBefore = upstream.totalHits();

    const second = await proxyFor(upstream, dataDir);
    expect(second.server.hexproxy.keys.fingerprint).toBe(fingerprint);
    for (const path of paths) {
      const response = await second.get(path);
      expect(response.status, path).toBe(200);
      expect(response.headers['etag'], path).toBe(before.get(path)?.etag);
      expect(response.body.equals(before.get(path)?.body ?? Buffer.alloc(0)), path).toBe(true);
      expect((await second.get(path, { 'if-none-match': before.get(path)?.etag ?? '' })).status).toBe(304);
    }
    expect(upstream.totalHits()).toBe(hitsBefore);
  });
});

describe('--offline', () => {
  it('never contacts upstream, and says what is missing', async () => {
    const upstream = await upstreamFor();
    const proxy = await proxyFor(upstream, tempDir(), { offline: true });
    for (const path of ['/names', '/packages/alpha', '/tarballs/alpha-1.0.0.tar']) {
      const response = await proxy.get(path);
      expect(response.status, path).toBe(504);
      expect(response.body.toString()).toMatch(/is not cached and hexproxy runs offline/);
    }
    // Hex's update check asks for it on every fresh Mix home: a miss, not a server error.
    const list = await proxy.get('/installs/hex-1.x.csv');
    expect(list.status).toBe(404);
    expect(list.body.toString()).toContain('/installs/hex-1.x.csv is not cached, and hexproxy runs offline (--offline)');
    expect(upstream.totalHits()).toBe(0);
  });

  it('serves a cache filled earlier, even past its TTL', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const online = await proxyFor(upstream, dataDir);
    for (const path of paths) await online.get(path);
    await online.close();
    const hits = upstream.totalHits();
    const offline = await proxyFor(upstream, dataDir, { offline: true, 'registry-ttl-seconds': '0' });
    for (const path of paths) {
      const response = await offline.get(path);
      expect(response.status, path).toBe(200);
    }
    expect((await offline.get('/names')).headers['x-hexproxy-cache']).toBe('STALE');
    expect(upstream.totalHits()).toBe(hits);
  });
});

describe('keys', () => {
  it('refuses a private key others can read, saying how to fix it', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const first = await proxyFor(upstream, dataDir);
    await first.close();
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    chmodSync(privateFile, 0o644);
    await expect(proxyFor(upstream, dataDir)).rejects.toThrow(
      `private key ${privateFile} can be read by other users (mode 0644); hexproxy will not sign with it. Run: chmod 600 ${privateFile}`,
    );
    chmodSync(privateFile, 0o600);
    const again = await proxyFor(upstream, dataDir);
    expect((await again.get('/names')).status).toBe(200);
  });

  it('never writes the private key into logs or responses', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const proxy = await proxyFor(upstream, dataDir);
    upstream.misbehave('/packages/beta', 'wrong-key');
    const bodies: string[] = [];
    for (const path of [
      '/public_key',
      '/names',
      '/packages/beta',
      '/packages/nope',
      '/tarballs/alpha-1.0.0.tar',
      '/keys/hexproxy_private.pem',
      '/nothing',
    ]) {
      bodies.push((await proxy.get(path)).body.toString('latin1'));
    }
    const secret = readFileSync(join(dataDir, 'keys', 'hexproxy_private.pem'), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('-----'));
    const everything = bodies.join('\n') + JSON.stringify(proxy.logs);
    expect(everything).not.toContain('PRIVATE KEY');
    for (const line of secret) expect(everything).not.toContain(line);
  });

  it('generates a key pair on first start: private key 0600, public key served, start-up logs where', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const proxy = await proxyFor(upstream, dataDir);
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    const publicFile = join(dataDir, 'keys', 'hexproxy_public.pem');
    expect(statSync(privateFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(privateFile, 'utf8')).toContain('PRIVATE KEY');
    const served = await proxy.get('/public_key');
    expect(served.body.toString()).toBe(readFileSync(publicFile, 'utf8'));
    const created = proxy.logs.find((line) => line.msg === 'generated a new signing key pair');
    expect(created?.['publicKey']).toBe(publicFile);
  });
});
