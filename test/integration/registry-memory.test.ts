// cache.memoryMaxBytes must bound real memory: what the registry LRU charges for its entries
// is compared with the heap and ArrayBuffer growth they cause, measured after a full GC.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeNames, encodePackage, encodeVersions } from '../../src/registry/codec.js';
import { sealRegistryFile } from '../../src/registry/registry-file.js';
import type { Package } from '../../src/registry/types.js';
import { startStaticUpstream, type StaticUpstream } from '../support/upstreams/fake-upstream.js';
import { testKeyPair } from '../support/keys.js';
import { publicRepository, startProxy, tempDir, type TestProxy } from '../support/proxy.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PACKAGES = 300;
const RELEASES = 40;

// Shaped like a mid-sized hex.pm package: dozens of releases, each with a few dependencies.
function packageOf(name: string): Package {
  return {
    name,
    repository: 'hexpm',
    advisories: [],
    releases: Array.from({ length: RELEASES }, (_, i) => ({
      version: `${Math.floor(i / 10)}.${i % 10}.${i % 3}`,
      inner_checksum: randomBytes(32),
      outer_checksum: randomBytes(32),
      dependencies: Array.from({ length: 1 + (i % 4) }, (_, d) => ({
        package: `dep_${d}_${name.length}`,
        requirement: `~> ${d}.${i % 5}`,
        ...(d === 2 && { optional: true }),
      })),
      advisory_indexes: [],
      published_at: { seconds: 1_700_000_000 + i * 86_400, nanos: 0 },
    })),
  };
}

let upstream: StaticUpstream;
let proxy: TestProxy;
const names = Array.from({ length: PACKAGES }, (_, i) => `package_${String(i).padStart(4, '0')}`);

beforeAll(async () => {
  const dir = tempDir('hexproxy-registry-memory-');
  const { privateKey, publicKeyPem } = testKeyPair();
  mkdirSync(join(dir, 'packages'));
  writeFileSync(join(dir, 'public_key'), publicKeyPem);
  writeFileSync(
    join(dir, 'names'),
    await sealRegistryFile(encodeNames({ repository: 'hexpm', packages: names.map((name) => ({ name })) }), privateKey),
  );
  writeFileSync(join(dir, 'versions'), await sealRegistryFile(encodeVersions({ repository: 'hexpm', packages: [] }), privateKey));
  for (const name of names) writeFileSync(join(dir, 'packages', name), await sealRegistryFile(encodePackage(packageOf(name)), privateKey));
  upstream = await startStaticUpstream(dir);
  // Logs at warn: the captured records would otherwise grow the heap with every request.
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: publicKeyPem,
    flags: { 'log-level': 'warn', 'memory-cache-bytes': String(1 << 30) },
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

const retained = (): number => {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
};

it('charges registry entries in memory at least what they really take', async () => {
  // A first request warms up code paths, connection pools and the index.
  expect((await proxy.get('/names')).status).toBe(200);
  const chargedBefore = publicRepository(proxy.server).registry.memoryBytes();
  for (const name of names) expect((await proxy.get(`/packages/${name}`)).status).toBe(200);
  const withEntries = retained();
  const charged = publicRepository(proxy.server).registry.memoryBytes() - chargedBefore;
  // What serving left behind besides the entries (compiled code, pools) is not theirs to pay.
  publicRepository(proxy.server).registry.dropMemory();
  expect(publicRepository(proxy.server).registry.memoryBytes()).toBe(0);
  const real = withEntries - retained();
  expect(real).toBeGreaterThan(0);
  const perEntry = (bytes: number): string => `${(bytes / PACKAGES / 1024).toFixed(1)} KiB`;
  // Charging a bit more than is real is harmless; charging less lets the cache outgrow its bound.
  expect(charged, `charged ${perEntry(charged)} per entry, measured ${perEntry(real)}`).toBeGreaterThanOrEqual(real * 0.9);
  expect(charged, `charged ${perEntry(charged)} per entry, measured ${perEntry(real)}`).toBeLessThanOrEqual(real * 2);
});
