import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
const { openRegistryFile, sealRegistryFile } = await import('../dist/src/registry/registry-file.js');
const { parsePublicKey } = await import('../dist/src/registry/signature.js');
const dir = '/tmp/hexproxy-bench/scale-20000-1';
const key = parsePublicKey(readFileSync(`${dir}/upstream_public_key.pem`, 'utf8'));
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
for (const kind of ['versions', 'names', 'versions', 'names']) {
  const body = readFileSync(`${dir}/upstream/${kind}`);
  const t0 = performance.now();
  const v = await openRegistryFile(body, { kind }, { publicKey: key, repository: 'hexpm', maxBytes: 1 << 28 });
  const t1 = performance.now();
  const sealed = await sealRegistryFile(v.payload, privateKey);
  const t2 = performance.now();
  console.log(kind, 'payload', v.payload.length, 'open', (t1 - t0).toFixed(1), 'seal', (t2 - t1).toFixed(1), 'rss', (process.memoryUsage().rss / 1048576).toFixed(0));
}
