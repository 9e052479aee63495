// A generated Hex repository for load tests: real signed registry files (/names,
// /versions, /packages/NAME) built with hexproxy's own codec, and tarballs of random bytes
// (5–100 KB). hexproxy only checks a tarball's SHA-256 against the release's
// outer_checksum, so the tarballs need not be valid Hex tarballs. The same seed and
// package count always give the same repository.
import { createCipheriv, createHash, generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FORMAT = 1;
const REPOSITORY = 'hexpm';
const MIN_TARBALL = 5 * 1024;
const MAX_TARBALL = 100 * 1024;

/** mulberry32: a small deterministic PRNG, so a seed names one dataset. */
export function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle(items, random) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

const SYLLABLES = [
  'ex',
  'phoe',
  'nix',
  'plug',
  'cow',
  'boy',
  'ecto',
  'jas',
  'on',
  'tele',
  'metry',
  'gen',
  'stage',
  'finch',
  'mint',
  'ranch',
  'hack',
  'ney',
  'cast',
  'ore',
  'nim',
  'ble',
  'oban',
  'bro',
  'way',
  'absin',
  'the',
  'credo',
  'dia',
  'lyx',
  'mox',
  'tesla',
  'swoosh',
  'gettext',
  'earm',
  'ark',
  'post',
  'grex',
  'myx',
  'sql',
  'req',
  'floki',
  'live',
  'view',
  'pub',
  'sub',
  'cache',
  'x',
  'con',
  'rex',
  'lager',
  'goth',
  'elli',
  'ssl',
  'verify',
  'cert',
  'ifi',
];
const SUFFIXES = ['', '', '', '', '_ex', '_plug', '_html', '_sql', '_client', '_utils', '_test', '_live', '_cache'];

function packageName(random, taken) {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts = 1 + Math.floor(random() * 3);
    let name = '';
    for (let i = 0; i < parts; i++) name += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    name += SUFFIXES[Math.floor(random() * SUFFIXES.length)];
    if (attempt > 20) name += `${attempt}`;
    if (/^[a-z][a-z0-9_]*$/.test(name) && !taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
  throw new Error('cannot find a free package name');
}

/** 1–40 releases, most packages having a few, some many (like hex.pm). */
function releaseCount(random) {
  return Math.min(40, 1 + Math.floor(-Math.log(1 - random()) * 7));
}

function versions(random, count) {
  let [major, minor, patch] = [0, 1, 0];
  const list = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      const bump = random();
      if (bump < 0.1) [major, minor, patch] = [major + 1, 0, 0];
      else if (bump < 0.4) [minor, patch] = [minor + 1, 0];
      else patch += 1;
    }
    // Now and then a release candidate before a new major.
    if (i > 0 && patch === 0 && minor === 0 && random() < 0.5) list.push(`${major}.0.0-rc.${1 + Math.floor(random() * 3)}`);
    if (list.length < count) list.push(`${major}.${minor}.${patch}`);
  }
  return list.slice(0, count);
}

/** Log-uniform in [5 KB, 100 KB]: many small tarballs, a few large ones. */
function tarballSize(random) {
  return Math.round(Math.exp(Math.log(MIN_TARBALL) + random() * (Math.log(MAX_TARBALL) - Math.log(MIN_TARBALL))));
}

function randomBytesFrom(seed, length) {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

const timestamp = (millis) => ({ seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1_000_000 });
const sha256 = (bytes) => createHash('sha256').update(bytes).digest();

/**
 * Writes DIR/upstream/{names,versions,packages/NAME,tarballs/NAME-VERSION.tar,public_key},
 * DIR/upstream_public_key.pem and DIR/manifest.json, unless DIR already holds the same
 * dataset. Returns the manifest.
 */
export async function ensureDataset(dir, { packages: packageCount, seed }, log = () => {}) {
  const manifestFile = join(dir, 'manifest.json');
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    if (manifest.format === FORMAT && manifest.seed === seed && manifest.packageCount === packageCount) return manifest;
  }
  // The built project's codec (imported here so that a missing dist/ gets a clear message first).
  const { encodeNames, encodePackage, encodeVersions } = await import('../../dist/src/registry/codec.js');
  const { sealRegistryFile } = await import('../../dist/src/registry/registry-file.js');
  const started = Date.now();
  log(`generating a dataset of ${packageCount} packages (seed ${seed}) in ${dir}`);
  await rm(dir, { recursive: true, force: true });
  const root = join(dir, 'upstream');
  await mkdir(join(root, 'packages'), { recursive: true });
  await mkdir(join(root, 'tarballs'), { recursive: true });

  const random = prng(seed);
  // The upstream's signing key: RSA 2048 like hex.pm's, generated per dataset.
  const { privateKey: privatePem, publicKey: publicPem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKey = createPrivateKey(privatePem);

  const taken = new Set();
  const built = [];
  const epoch = Date.parse('2016-01-01T00:00:00Z');
  const span = Date.parse('2025-06-01T00:00:00Z') - epoch;
  let tarballBytes = 0;
  for (let p = 0; p < packageCount; p++) {
    const name = packageName(random, taken);
    const list = versions(random, releaseCount(random));
    let published = epoch + Math.floor(random() * span * 0.5);
    const releases = [];
    for (const version of list) {
      published += Math.floor(random() * 90 * 86_400_000);
      const tar = randomBytesFrom(`${seed}:${name}-${version}`, tarballSize(random));
      await writeFile(join(root, 'tarballs', `${name}-${version}.tar`), tar);
      tarballBytes += tar.length;
      // Dependencies on packages made earlier, with requirements on their real versions.
      const dependencies = [];
      const depCount = built.length === 0 ? 0 : Math.floor(random() * 4);
      for (let d = 0; d < depCount; d++) {
        const dep = built[Math.floor(random() * built.length)];
        if (dependencies.some((existing) => existing.package === dep.name)) continue;
        const target = dep.releases[Math.floor(random() * dep.releases.length)].version.split('-')[0].split('.');
        dependencies.push({
          package: dep.name,
          requirement: `~> ${target[0]}.${target[1]}`,
          ...(random() < 0.15 && { optional: true }),
        });
      }
      releases.push({
        version,
        size: tar.length,
        sha256: sha256(tar).toString('hex'),
        // Outer checksum present (every release since 2021): hexproxy checks only it.
        innerChecksum: sha256(Buffer.from(`inner:${name}-${version}`)).toString('hex'),
        dependencies,
        publishedAt: Math.min(published, epoch + span),
        ...(random() < 0.02 && { retired: { reason: 1 + Math.floor(random() * 4), message: 'superseded' } }),
      });
    }
    built.push({ name, releases });
    const payload = encodePackage({
      name,
      repository: REPOSITORY,
      advisories: [],
      releases: releases.map((release) => ({
        version: release.version,
        inner_checksum: Buffer.from(release.innerChecksum, 'hex'),
        outer_checksum: Buffer.from(release.sha256, 'hex'),
        dependencies: release.dependencies,
        ...(release.retired && { retired: release.retired }),
        advisory_indexes: [],
        published_at: timestamp(release.publishedAt),
      })),
    });
    await writeFile(join(root, 'packages', name), await sealRegistryFile(payload, privateKey));
  }

  const byName = [...built].sort((a, b) => (a.name < b.name ? -1 : 1));
  await writeFile(
    join(root, 'names'),
    await sealRegistryFile(
      encodeNames({
        repository: REPOSITORY,
        packages: byName.map((pkg) => ({ name: pkg.name, updated_at: timestamp(pkg.releases.at(-1).publishedAt) })),
      }),
      privateKey,
    ),
  );
  await writeFile(
    join(root, 'versions'),
    await sealRegistryFile(
      encodeVersions({
        repository: REPOSITORY,
        packages: byName.map((pkg) => ({
          name: pkg.name,
          versions: pkg.releases.map((release) => release.version),
          retired: pkg.releases.flatMap((release, index) => (release.retired ? [index] : [])),
          with_advisories: [],
        })),
      }),
      privateKey,
    ),
  );
  await writeFile(join(root, 'public_key'), publicPem);
  await writeFile(join(dir, 'upstream_public_key.pem'), publicPem);

  const manifest = {
    format: FORMAT,
    seed,
    packageCount,
    repository: REPOSITORY,
    tarballCount: built.reduce((sum, pkg) => sum + pkg.releases.length, 0),
    tarballBytes,
    packages: built.map((pkg) => ({
      name: pkg.name,
      releases: pkg.releases.map((release) => ({ version: release.version, size: release.size, sha256: release.sha256 })),
    })),
  };
  await writeFile(manifestFile, JSON.stringify(manifest));
  log(`dataset: ${manifest.tarballCount} tarballs, ${(tarballBytes / 1048576).toFixed(1)} MiB, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return manifest;
}
