#!/usr/bin/env node
// How much memory an entry of RegistryMirror's in-memory LRU really takes, against the size
// the LRU charges for it (sizeCalculation in src/mirror/registry-mirror.ts:
// body + original body + 3 × payload). Builds entries shaped like RegistryFile from the
// bench dataset's /packages files with the built project's own functions, and measures the
// heap and ArrayBuffer growth after a full GC.
//
//   node --expose-gc bench/registry-memory.mjs [--dir DATASET] [--count 1000]
import { createPrivateKey, generateKeyPairSync, createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(tmpdir(), 'hexproxy-bench', 'dataset') },
    count: { type: 'string', default: '1000' },
  },
});
if (typeof globalThis.gc !== 'function') {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}
const { openRegistryFile, sealRegistryFile } = await import('../dist/src/registry/registry-file.js');
const { parsePublicKey } = await import('../dist/src/registry/signature.js');

const upstreamKey = parsePublicKey(await readFile(join(values.dir, 'upstream_public_key.pem')));
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const signingKey = createPrivateKey(privateKey);
const packagesDir = join(values.dir, 'upstream', 'packages');
const names = (await readdir(packagesDir)).sort().slice(0, Number(values.count));
const originals = await Promise.all(names.map((name) => readFile(join(packagesDir, name))));
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

// Everything is built inside the measured window as the mirror builds it (open, verify,
// decode, seal); the temporaries are garbage by the second GC, what is kept is not.
globalThis.gc();
const before = process.memoryUsage();
const kept = [];
let charged = 0;
let releases = 0;
for (const [i, name] of names.entries()) {
  const original = originals[i];
  const verified = await openRegistryFile(original, { kind: 'package', name }, { publicKey: upstreamKey, repository: 'hexpm', maxBytes: 1 << 28 });
  const body = await sealRegistryFile(verified.payload, signingKey);
  const file = {
    resource: { kind: 'package', name },
    row: { repo: 'hexpm', path: `packages/${name}`, upstreamEtag: `"${sha(original)}"`, sha256: sha(original), size: original.length, fetchedAt: Date.now(), checkedAt: Date.now() },
    payload: verified.payload,
    message: verified.message,
    body,
    etag: `"${sha(body).slice(0, 40)}"`,
    // The original bytes were read before the window: count them as the mirror holds them.
    original: { body: original, etag: `"${sha(original).slice(0, 40)}"` },
  };
  kept.push(file);
  charged += file.body.length + file.original.body.length + file.payload.length * 3;
  releases += file.message.releases.length;
}
globalThis.gc();
const after = process.memoryUsage();
const originalBytes = originals.reduce((sum, body) => sum + body.length, 0);
const real = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers) + originalBytes;
const kib = (n) => (n / 1024).toFixed(1);
process.stdout.write(`${kept.length} /packages entries, ${(releases / kept.length).toFixed(1)} releases each on average\n`);
process.stdout.write(`charged by sizeCalculation: ${kib(charged / kept.length)} KiB per entry; measured (heap + ArrayBuffers): ${kib(real / kept.length)} KiB per entry; ratio ${(real / charged).toFixed(1)}\n`);
process.stdout.write(`so cache.memoryMaxBytes = 64 MiB holds about ${((64 * 1048576) / (charged / kept.length)).toFixed(0)} such entries, about ${((64 * (real / charged))).toFixed(0)} MiB of real memory\n`);
