// Worker thread of scale-dataset.mjs: for each package of a batch, writes its tarball files
// (random bytes, deterministic in seed, name and version), then its /packages/NAME encoded
// and signed with the built project's codec. Answers {packages, files} per batch.
import { createCipheriv, createHash, createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const { root, seed, privatePem, distDir, repository } = workerData;
const { encodePackage } = await import(pathToFileURL(join(distDir, 'src/registry/codec.js')).href);
const { sealRegistryFile } = await import(pathToFileURL(join(distDir, 'src/registry/registry-file.js')).href);
const privateKey = createPrivateKey(privatePem);

const sha256 = (bytes) => createHash('sha256').update(bytes).digest();
const timestamp = (millis) => ({ seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1_000_000 });

/** AES-CTR keystream: fast, deterministic random bytes. */
function randomBytesFrom(label, length) {
  const key = sha256(label).subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

parentPort.on('message', async (batch) => {
  const files = [];
  for (const pkg of batch) {
    const releases = [];
    for (const release of pkg.releases) {
      const label = `${seed}:${pkg.name}-${release.version}`;
      let outer;
      if (release.file > 0) {
        const tar = randomBytesFrom(label, release.file);
        outer = sha256(tar);
        const path = `/tarballs/${pkg.name}-${release.version}.tar`;
        await writeFile(join(root, path), tar);
        files.push({ name: pkg.name, version: release.version, size: tar.length, sha256: outer.toString('hex'), path });
      } else {
        outer = sha256(`outer:${label}`);
      }
      releases.push({
        version: release.version,
        inner_checksum: sha256(`inner:${label}`),
        outer_checksum: outer,
        dependencies: release.deps,
        ...(release.retired && { retired: release.retired }),
        advisory_indexes: [],
        published_at: timestamp(release.publishedAt),
      });
    }
    const sealed = await sealRegistryFile(encodePackage({ name: pkg.name, repository, advisories: [], releases }), privateKey);
    await writeFile(join(root, 'packages', pkg.name), sealed);
    files.push({ name: pkg.name, packageBytes: sealed.length });
  }
  parentPort.postMessage({ packages: batch.length, files: files });
});
