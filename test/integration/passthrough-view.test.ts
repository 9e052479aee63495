// The pass-through view at /mirror: the upstream's own signed registry bytes (still
// verified before they are cached or served), sharing one cache with the re-signed view.
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { Package } from '../../src/registry/types.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project } from '../support/rebar3.js';

let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'alpha', releases: [{ version: '1.0.0', dependencies: [{ package: 'beta', requirement: '~> 2.0' }] }] },
      { name: 'beta', releases: [{ version: '2.0.0' }] },
      { name: 'gamma', releases: [{ version: '0.1.0' }] },
    ],
  });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('/mirror', () => {
  it("serves the upstream's signed registry files byte for byte", async () => {
    for (const path of ['/names', '/versions', '/packages/alpha']) {
      const response = await proxy.get(`/mirror${path}`);
      expect(response.status, path).toBe(200);
      expect(response.body.equals(upstream.body(path) as Buffer), path).toBe(true);
    }
    const pkg = await proxy.get('/mirror/packages/alpha');
    const verified = await openRegistryFile(
      pkg.body,
      { kind: 'package', name: 'alpha' },
      { publicKey: upstream.publicKey, repository: 'hexpm', maxBytes: 1 << 20 },
    );
    expect((verified.message as Package).releases.map((r) => r.version)).toEqual(['1.0.0']);
  });

  it("has its own ETags and 304s, and /mirror/public_key is the upstream's key", async () => {
    const original = await proxy.get('/mirror/packages/beta');
    const resigned = await proxy.get('/packages/beta');
    expect(original.headers['etag']).not.toBe(resigned.headers['etag']);
    expect((await proxy.get('/mirror/packages/beta', { 'if-none-match': original.headers['etag'] as string })).status).toBe(304);
    expect((await proxy.get('/mirror/packages/beta', { 'if-none-match': resigned.headers['etag'] as string })).status).toBe(200);
    const key = await proxy.get('/mirror/public_key');
    expect(
      createPublicKey(key.body)
        .export({ type: 'spki', format: 'der' })
        .equals(upstream.publicKey.export({ type: 'spki', format: 'der' })),
    ).toBe(true);
  });

  it('shares one cache with the re-signed view', async () => {
    const viaResigned = await proxy.get('/tarballs/gamma-0.1.0.tar');
    const viaMirror = await proxy.get('/mirror/tarballs/gamma-0.1.0.tar');
    expect(viaMirror.headers['x-hexproxy-cache']).toBe('HIT');
    expect(viaMirror.body.equals(viaResigned.body)).toBe(true);
    expect(upstream.hits('/tarballs/gamma-0.1.0.tar')).toBe(1);
    expect(upstream.hits('/packages/gamma')).toBe(1);
    expect((await proxy.get('/mirror/packages/gamma')).headers['x-hexproxy-cache']).toBe('HIT');
    expect(upstream.hits('/packages/gamma')).toBe(1);
  });

  it('still refuses what does not verify with the upstream key', async () => {
    upstream.misbehave('/packages/delta', 'wrong-key');
    await upstream.publish('delta', { version: '1.0.0' });
    const response = await proxy.get('/mirror/packages/delta');
    expect(response.status).toBe(502);
    expect(response.body.toString()).toMatch(/bad signature/);
    expect(proxy.server.hexproxy.index.findRegistryFile('hexpm', 'packages/delta')).toBeUndefined();
    upstream.behave();
  });
});

const available = await rebar3Available();

describe.skipIf(!available)("rebar3 through /mirror, trusting only the upstream's key", () => {
  it('fetches a tree with HEX_CDN pointing at /mirror', async () => {
    // The fake upstream's key stands in for hex.pm's key that rebar3 has built in.
    const project = rebar3Project({ repoUrl: `${proxy.url}/mirror`, publicKeyPem: upstream.publicKeyPem, deps: ['alpha'] });
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    expect(existsSync(join(project.dir, '_build', 'default', 'lib', 'beta'))).toBe(true);
    expect(readFileSync(join(project.dir, 'rebar.lock'), 'utf8')).toContain(
      upstream.tarball('alpha', '1.0.0').outerChecksum.toString('hex').toUpperCase(),
    );
  });
});
