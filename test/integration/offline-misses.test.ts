// --offline: every mirror gets the offline upstream client, which asks nobody. What each
// kind of miss says is worded by its mirror (the tarball, the file as hexproxy serves it),
// and a tarball or build miss is answered before anything is looked up to check it against.
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ACME_KEY = 'acme-upstream-key-0123456789';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstreamFor(): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({
    packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] }],
    organizations: { acme: { authKey: ACME_KEY, packages: [{ name: 'acme_core', releases: [{ version: '1.0.0' }] }] } },
  });
  cleanups.push(() => upstream.close());
  return upstream;
}

async function proxyOn(upstream: FakeUpstream, dataDir: string, flags: Record<string, string | boolean>): Promise<TestProxy> {
  const keyFile = join(tempDir('hexproxy-acme-key-'), 'acme.pem');
  writeFileSync(keyFile, upstream.organization('acme').publicKeyPem);
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir,
    flags,
    config: { organizations: { acme: { authKey: ACME_KEY, publicKey: keyFile } } },
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('offline misses', () => {
  it("say what is missing in each mirror's words, public and private, and ask nobody", async () => {
    const upstream = await upstreamFor();
    const proxy = await proxyOn(upstream, tempDir(), { offline: true });
    const token = await runCli(['token', 'create', 'dev', '--read', 'hexpm,acme', '--data-dir', proxy.dataDir]);
    expect(token.code, token.stderr).toBe(0);
    const authorization = token.stdout.trim();
    const expected: Record<string, string> = {
      '/names': '/names',
      '/packages/alpha': '/packages/alpha',
      '/tarballs/alpha-1.0.0.tar': 'tarball alpha-1.0.0',
      '/docs/alpha-1.0.0.tar.gz': '/docs/alpha-1.0.0.tar.gz',
      '/installs/1.18.4/hex-2.2.1-otp-27.ez': '/installs/1.18.4/hex-2.2.1-otp-27.ez',
      // An organization's registry files are named as in its repository; its docs as hexproxy serves them.
      '/repos/acme/packages/acme_core': '/packages/acme_core',
      '/repos/acme/tarballs/acme_core-1.0.0.tar': 'tarball acme_core-1.0.0',
      '/repos/acme/docs/acme_core-1.0.0.tar.gz': '/repos/acme/docs/acme_core-1.0.0.tar.gz',
    };
    for (const [path, what] of Object.entries(expected)) {
      const response = await proxy.get(path, { authorization });
      expect(response.status, path).toBe(504);
      expect(response.headers['x-hexproxy-error'], path).toBe('offline_not_cached');
      expect(response.body.toString(), path).toBe(`hexproxy: ${what} is not cached and hexproxy runs offline\n`);
    }
    expect(upstream.totalHits()).toBe(0);
  });

  it('answer a tarball miss at once, whether or not the cached package file lists the release', async () => {
    const upstream = await upstreamFor();
    const dataDir = tempDir();
    const online = await proxyOn(upstream, dataDir, {});
    expect((await online.get('/packages/alpha')).status).toBe(200);
    await online.close();
    await upstream.publish('alpha', { version: '1.2.0' });
    const hits = upstream.totalHits();
    // Within the TTL: the cached package file is fresh, and lists 1.0.0 and 1.1.0 but not 1.2.0.
    const proxy = await proxyOn(upstream, dataDir, { offline: true });
    for (const version of ['1.0.0', '1.2.0']) {
      const response = await proxy.get(`/tarballs/alpha-${version}.tar`);
      expect(response.status, version).toBe(504);
      expect(response.body.toString(), version).toBe(`hexproxy: tarball alpha-${version} is not cached and hexproxy runs offline\n`);
    }
    expect((await proxy.get('/packages/alpha')).headers['x-hexproxy-cache']).toBe('HIT');
    expect(upstream.totalHits()).toBe(hits);
  });
});
