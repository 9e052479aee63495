// Fields newer than hexproxy's schema survive the trip: the upstream payload bytes are
// re-signed as they are, never decoded and re-encoded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePackage } from '../../src/registry/codec.js';
import { openRegistryFile, sealRegistryFile } from '../../src/registry/registry-file.js';
import { startStaticUpstream, type StaticUpstream } from '../support/upstreams/fake-upstream.js';
import { testKeyPair } from '../support/keys.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

// Field 99, length-delimited (tag varint 0x9a 0x06, length 6): a future Package field.
const futureField = Buffer.concat([Buffer.from([0x9a, 0x06, 0x06]), Buffer.from('future')]);

let upstream: StaticUpstream;
let proxy: TestProxy;
let payload: Buffer;

beforeAll(async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'packages'));
  payload = Buffer.concat([
    encodePackage({
      name: 'modern',
      repository: 'hexpm',
      releases: [
        { version: '1.0.0', inner_checksum: Buffer.alloc(32, 1), outer_checksum: Buffer.alloc(32, 2), dependencies: [], advisory_indexes: [] },
      ],
      advisories: [],
    }),
    futureField,
  ]);
  writeFileSync(join(dir, 'packages', 'modern'), await sealRegistryFile(payload, testKeyPair().privateKey));
  upstream = await startStaticUpstream(dir);
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: testKeyPair().publicKeyPem });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('unknown fields', () => {
  it("are served exactly as upstream signed them, under hexproxy's signature", async () => {
    const response = await proxy.get('/packages/modern');
    expect(response.status).toBe(200);
    const served = await openRegistryFile(
      response.body,
      { kind: 'package', name: 'modern' },
      {
        publicKey: createPublicKey(proxy.server.hexproxy.keys.publicKeyPem),
        repository: 'hexpm',
        maxBytes: 1 << 20,
      },
    );
    expect(served.payload.equals(payload)).toBe(true);
    expect(served.payload.subarray(-futureField.length).equals(futureField)).toBe(true);
  });
});
