// For the hosted crash test: a child process that publishes, replaces, reverts, retires and
// stores docs in a hosted repository as fast as it can, until it is killed. It prints one
// JSON line as each operation begins and one once it is acknowledged (or refused), so the
// test knows what was acknowledged and what was in flight when the kill came.
//
// node hosted-publish-loop.mjs DIST_DIR DATA_DIR MANIFEST SEED
// MANIFEST: JSON { releases: [{ name, version, variant, file, innerChecksum, outerChecksum,
// requirements, metadata, metadataConfig }] }, the checksums in hex, `file` the tarball.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [distDir, dataDir, manifestFile, seedText] = process.argv.slice(2);
const { HostedStore } = await import(join(distDir, 'src', 'hosted', 'hosted-store.js'));
const { createLogger } = await import(join(distDir, 'src', 'log.js'));
const { parsePrivateKey } = await import(join(distDir, 'src', 'registry', 'signature.js'));

const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
const releases = manifest.releases.map((release) => ({
  ...release,
  tarball: readFileSync(release.file),
  innerChecksum: Buffer.from(release.innerChecksum, 'hex'),
  outerChecksum: Buffer.from(release.outerChecksum, 'hex'),
}));
const names = [...new Set(releases.map((release) => release.name))];

const store = await HostedStore.open({
  dir: join(dataDir, 'hosted'),
  repositories: { acme: { replaceWindowSeconds: 86_400 } },
  signingKey: parsePrivateKey(readFileSync(join(dataDir, 'keys', 'hexproxy_private.pem'))),
  publicRepository: 'hexpm',
  log: createLogger('silent'),
});

// mulberry32, as test/support/crash/harness.ts.
let state = Number(seedText) >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (items) => items[Math.floor(random() * items.length)];
// Pipes are written synchronously on Linux: a line printed is in the pipe before the next operation starts.
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

function nextOperation() {
  const name = pick(names);
  const published = store.versions('acme', name);
  const candidates = releases.filter((release) => release.name === name);
  const unpublished = candidates.filter((release) => release.variant === 'a' && !published.includes(release.version));
  const roll = random();
  if (published.length === 0 || (roll < 0.4 && unpublished.length > 0)) {
    const release = pick(unpublished.length > 0 ? unpublished : candidates);
    return { op: 'publish', name, version: release.version, variant: release.variant };
  }
  const version = pick(published);
  if (roll < 0.6) {
    const stored = store.release('acme', name, version).outerChecksum.toString('hex');
    const other = candidates.find((release) => release.version === version && release.outerChecksum.toString('hex') !== stored);
    return { op: 'replace', name, version, variant: other.variant };
  }
  if (roll < 0.75) return { op: 'revert', name, version };
  if (roll < 0.88) return { op: 'retire', name, version, retire: random() < 0.6 };
  return { op: 'docs', name, version, docs: random() < 0.7 ? Math.floor(random() * 200_000) + 1 : 0 };
}

async function run(operation) {
  const { op, name, version } = operation;
  const release = () => releases.find((r) => r.name === name && r.version === version && r.variant === operation.variant);
  switch (op) {
    case 'publish':
    case 'replace': {
      const result = await store.publish('acme', release(), { replace: op === 'replace', publisher: 'crash-test' });
      return { created: result.created, sha: result.release.outerChecksum.toString('hex') };
    }
    case 'revert':
      return store.revert('acme', name, version);
    case 'retire':
      await store.retire('acme', name, version, operation.retire ? { reason: 'security', message: 'crash test' } : undefined);
      return {};
    case 'docs':
      if (operation.docs === 0) return { removed: await store.deleteDocs('acme', name, version) };
      return { size: (await store.putDocs('acme', name, version, Buffer.alloc(operation.docs, operation.docs % 251))).docs.size };
  }
  throw new Error(`unknown operation ${op}`);
}

say({ ready: true });
for (let n = 0; ; n += 1) {
  const operation = { n, ...nextOperation() };
  say({ begin: operation });
  try {
    say({ done: operation, result: await run(operation) });
  } catch (error) {
    say({ refused: operation, code: error.code ?? 'unexpected', message: error.message });
    if (!error.code) process.exit(3);
  }
}
