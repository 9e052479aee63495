// Replicas without a load balancer in front: hexproxies that share a signing key, each with
// its own data directory. Signatures are deterministic (RSA PKCS#1 v1.5), so every replica
// answers a registry file with the same bytes and ETag, and a client may revalidate at any
// of them; `hexproxy export` from one and `import` into another fills a new replica's cache
// with no upstream request.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

const REGISTRY_PATHS = ['/names', '/versions', '/packages/rep_a', '/packages/rep_b'];
const TARBALL_PATHS = ['/tarballs/rep_a-1.0.0.tar', '/tarballs/rep_b-2.1.0.tar'];

let upstream: FakeUpstream;
let upstreamKeyFile: string;
/** --private-key and --public-key of the key pair every replica signs with. */
let keyFlags: Record<string, string>;
let replicaA: TestProxy;
let replicaB: TestProxy;
const started: TestProxy[] = [];

async function replica(dataDir?: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> {
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { ...keyFlags, ...flags },
    ...(dataDir && { dataDir }),
  });
  started.push(proxy);
  return proxy;
}

/** The flags `hexproxy export` and `import` need to open a replica's data directory as it runs. */
const cliFlags = (dataDir: string): string[] => [
  '--data-dir',
  dataDir,
  '--upstream-url',
  upstream.url,
  '--upstream-public-key',
  upstreamKeyFile,
  ...Object.entries(keyFlags).flatMap(([flag, value]) => [`--${flag}`, value]),
];

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'rep_a', releases: [{ version: '1.0.0', dependencies: [{ package: 'rep_b', requirement: '~> 2.0' }] }] },
      { name: 'rep_b', releases: [{ version: '2.0.0' }, { version: '2.1.0' }] },
    ],
  });
  const keys = tempDir('hexproxy-replica-keys-');
  upstreamKeyFile = join(keys, 'upstream.pem');
  writeFileSync(upstreamKeyFile, upstream.publicKeyPem);
  // The one key pair of the site, as `hexproxy keygen` makes it; every replica is given its path.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyFlags = { 'private-key': join(keys, 'hexproxy_private.pem'), 'public-key': join(keys, 'hexproxy_public.pem') };
  writeFileSync(keyFlags['private-key'] ?? '', privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(keyFlags['public-key'] ?? '', publicKey.export({ type: 'spki', format: 'pem' }));
  replicaA = await replica();
  replicaB = await replica();
});

afterAll(async () => {
  for (const proxy of started) await proxy.close();
  await upstream?.close();
});

describe('replicas that share a signing key', () => {
  it('answer every registry file with the same bytes and ETag, each from its own cache, and revalidate one another’s ETags', async () => {
    for (const path of [...REGISTRY_PATHS, ...TARBALL_PATHS]) {
      const fromA = await replicaA.get(path);
      const fromB = await replicaB.get(path);
      expect(fromA.status, path).toBe(200);
      expect(fromB.status, path).toBe(200);
      expect(fromB.body.equals(fromA.body), path).toBe(true);
      expect(fromB.headers['etag'], path).toBe(fromA.headers['etag']);
      // Each replica fetched it for itself: nothing is shared but the key.
      expect(upstream.hits(path), path).toBe(2);
      // A client that got its copy from A, sent to B by the load balancer, is told it is current.
      const revalidated = await replicaB.get(path, { 'if-none-match': fromA.headers['etag'] ?? '' });
      expect(revalidated.status, path).toBe(304);
    }
  });

  it('fills a new replica from another with export and import: the same bytes and ETags; tarballs never go upstream again', async () => {
    for (const path of [...REGISTRY_PATHS, ...TARBALL_PATHS]) expect((await replicaA.get(path)).status, path).toBe(200);
    const bundle = join(tempDir('hexproxy-replica-bundle-'), 'replica-a.tar');
    // From the running replica, as a new one is brought up.
    const exported = await runCli(['export', '--out', bundle, '--no-installs', ...cliFlags(replicaA.dataDir)]);
    expect(exported.code, exported.stdout + exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/tarballs:\s+2/);

    const dataC = tempDir();
    // Signed with the key the new replica has: trusted with no --trust-key.
    const imported = await runCli(['import', bundle, ...cliFlags(dataC)]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/refused:\s+0/);
    expect(imported.stdout).toMatch(/signed by:\s+[0-9a-f]{64} \(trusted\)/);

    // Offline, the new replica serves exactly what it imported: A's bytes and ETags, and no upstream request.
    upstream.resetHits();
    const offline = await replica(dataC, { offline: true });
    const fromA = new Map<string, { body: Buffer; etag: string | undefined }>();
    for (const path of [...REGISTRY_PATHS, ...TARBALL_PATHS]) {
      const answer = await replicaA.get(path);
      fromA.set(path, { body: answer.body, etag: answer.headers['etag'] });
      const fromC = await offline.get(path);
      expect(fromC.status, path).toBe(200);
      expect(fromC.body.equals(answer.body), path).toBe(true);
      expect(fromC.headers['etag'], path).toBe(answer.headers['etag']);
    }
    expect(upstream.totalHits()).toBe(0);
    await offline.close();

    // Online, as a replica runs: tarballs never go upstream again. A registry file from a bundle
    // carries no upstream confirmation to this replica (no ETag, never checked), so each is
    // fetched in full once, and re-signed it is still A's file, byte for byte.
    const online = await replica(dataC);
    for (const path of [...REGISTRY_PATHS, ...TARBALL_PATHS]) {
      const fromC = await online.get(path);
      expect(fromC.status, path).toBe(200);
      expect(fromC.body.equals(fromA.get(path)?.body ?? Buffer.alloc(0)), path).toBe(true);
      expect(fromC.headers['etag'], path).toBe(fromA.get(path)?.etag);
      expect(upstream.hits(path), path).toBe(REGISTRY_PATHS.includes(path) ? 1 : 0);
    }
  });
});
