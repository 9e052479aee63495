// A full-scale generated Hex repository for bench/perf.mjs: about 20,000 packages and
// 200,000 releases by default, with signed /names, /versions and /packages/NAME made with
// the built project's own codec (DIST/src/registry/codec.js, registry-file.js), and a few
// thousand real tarball files. Release counts and dependency fan-out have a long tail, as
// on hex.pm (most packages a few releases and dependencies, some hundreds of releases or
// dozens of dependencies); every release has a published_at.
//
// Only `tarballs` releases (default 3,000) get a file: most 5–100 KB, about 1 % 1–10 MB, plus
// one release of `hugeBytes` (10^8 bytes by default; package bench_huge) for the slow-client scenario. The
// bytes are random (hexproxy checks only that a tarball's SHA-256 is its release's
// outer_checksum); the other releases carry a made-up outer checksum and have no file (the
// upstream answers 404 for them, as it never gets asked).
//
// Layout, under DIR/upstream (what bench/upstream.mjs and nginx serve):
//   names, versions, packages/NAME, tarballs/NAME-VERSION.tar, public_key,
//   variants/names-1, variants/versions-1  (the same files with one package / one release
//                                           more, signed with the same key: scenario 5)
// and beside it DIR/upstream_public_key.pem, DIR/upstream_private_key.pem (the generated
// upstream key; it is never served) and DIR/dataset.json (the manifest, written last).
//
// The same seed and parameters always give the same repository (the RSA key apart, which is
// generated per dataset). A dataset is reused while dataset.json has this FORMAT and the same
// parameters; otherwise it is generated again. Signing runs in worker threads.
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { prng, shuffle } from './dataset.mjs';

export const SCALE_FORMAT = 1;
const REPOSITORY = 'hexpm';
export const HUGE_PACKAGE = 'bench_huge';
export const NEW_PACKAGE = 'bench_new_package';
const KB = 1024;
const MB = 1024 * 1024;

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
  'text',
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
  'jose',
  'guar',
  'dian',
  'tz',
  'data',
  'kafka',
  'amqp',
  'redix',
  'nebu',
  'lex',
  'poison',
  'yaml',
  'csv',
  'mime',
];
const SUFFIXES = ['', '', '', '', '', '_ex', '_plug', '_html', '_sql', '_client', '_utils', '_test', '_live', '_cache', '_erl', '_api'];

/** A standard normal deviate (Box–Muller) from a uniform PRNG. */
function normal(random) {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function packageName(random, taken) {
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const parts = 1 + Math.floor(random() * 3);
    let name = '';
    for (let i = 0; i < parts; i++) name += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    name += SUFFIXES[Math.floor(random() * SUFFIXES.length)];
    if (attempt > 5) name += `_${attempt}`;
    if (/^[a-z][a-z0-9_]*$/.test(name) && !taken.has(name) && name !== HUGE_PACKAGE && name !== NEW_PACKAGE) {
      taken.add(name);
      return name;
    }
  }
  throw new Error('cannot find a free package name');
}

/** Log-normal release counts: median 5, mean about 10, a few hundred at most. */
const releaseCount = (random) => Math.min(600, Math.max(1, Math.round(Math.exp(1.72 + 1.1 * normal(random)))));

/** Dependencies per package: most none to three, a long tail up to 40. */
const fanOut = (random) => Math.min(40, Math.max(0, Math.floor(Math.exp(0.8 + 0.85 * normal(random))) - 1));

function versionList(random, count) {
  let [major, minor, patch] = [0, 1, 0];
  const list = [];
  while (list.length < count) {
    if (list.length > 0) {
      const bump = random();
      if (bump < 0.06) [major, minor, patch] = [major + 1, 0, 0];
      else if (bump < 0.35) [minor, patch] = [minor + 1, 0];
      else patch += 1;
      // Now and then a release candidate before a new major or minor.
      if (patch === 0 && random() < 0.3 && list.length < count - 1) list.push(`${major}.${minor}.0-rc.${1 + Math.floor(random() * 3)}`);
    }
    list.push(`${major}.${minor}.${patch}`);
  }
  return list.slice(0, count);
}

const logUniform = (random, min, max) => Math.round(Math.exp(Math.log(min) + random() * (Math.log(max) - Math.log(min))));

const timestamp = (millis) => ({ seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1_000_000 });

/**
 * The whole repository as plain data, deterministic in (seed, parameters): packages with
 * their releases, dependencies, publication times, and which releases get a tarball file
 * (and its size).
 */
export function buildModel({ packages: packageCount, seed, tarballs: tarballCount, hugeBytes }) {
  const random = prng(seed);
  const taken = new Set();
  const epoch = Date.parse('2014-01-01T00:00:00Z');
  const end = Date.parse('2025-06-01T00:00:00Z');
  const packages = [];
  for (let p = 0; p < packageCount; p++) {
    const name = packageName(random, taken);
    const versions = versionList(random, releaseCount(random));
    // Dependencies on packages made earlier, the popular (early) ones far more often.
    const deps = [];
    const wanted = packages.length === 0 ? 0 : fanOut(random);
    for (let d = 0; d < wanted * 2 && deps.length < wanted; d++) {
      const target = packages[Math.floor(packages.length * random() ** 2.5)];
      if (deps.some((dep) => dep.package === target.name)) continue;
      const [major, minor] = target.releases[Math.floor(random() * target.releases.length)].version.split('-')[0].split('.');
      deps.push({
        package: target.name,
        requirement: random() < 0.8 ? `~> ${major}.${minor}` : `>= ${major}.${minor}.0`,
        ...(random() < 0.1 && { optional: true }),
      });
    }
    let published = epoch + Math.floor(random() * (end - epoch) * 0.8);
    const gapDays = 5 + random() * 60;
    const releases = versions.map((version, i) => {
      if (i > 0) published += Math.floor(-Math.log(1 - random()) * gapDays * 86_400_000);
      // Later releases depend on more of the package's dependencies.
      const used = deps.length === 0 ? 0 : Math.max(1, Math.ceil(deps.length * (0.5 + (0.5 * (i + 1)) / versions.length)));
      return {
        version,
        publishedAt: Math.min(published, end),
        deps: deps.slice(0, used),
        ...(random() < 0.02 && { retired: { reason: 1 + Math.floor(random() * 4), message: 'superseded' } }),
        file: 0,
      };
    });
    packages.push({ name, releases });
  }
  // Which releases get a file, and how big: ~1 % of them 1–10 MB, the rest 5–100 KB.
  const all = packages.flatMap((pkg, p) => pkg.releases.map((_, r) => [p, r]));
  const chosen = shuffle(all, random).slice(0, Math.min(tarballCount, all.length));
  const large = tarballCount > 0 ? Math.max(1, Math.round(chosen.length * 0.01)) : 0;
  chosen.forEach(([p, r], i) => {
    packages[p].releases[r].file = i < large ? logUniform(random, MB, 10 * MB) : logUniform(random, 5 * KB, 100 * KB);
  });
  packages.push({
    name: HUGE_PACKAGE,
    releases: [{ version: '1.0.0', publishedAt: end, deps: [], file: hugeBytes }],
  });
  return packages;
}

function namesMessage(packages) {
  return {
    repository: REPOSITORY,
    packages: packages.map((pkg) => ({ name: pkg.name, updated_at: timestamp(pkg.releases.at(-1).publishedAt) })),
  };
}

function versionsMessage(packages) {
  return {
    repository: REPOSITORY,
    packages: packages.map((pkg) => ({
      name: pkg.name,
      versions: pkg.releases.map((release) => release.version),
      retired: pkg.releases.flatMap((release, index) => (release.retired ? [index] : [])),
      with_advisories: [],
    })),
  };
}

function sameParameters(manifest, params) {
  return (
    manifest.format === SCALE_FORMAT &&
    manifest.seed === params.seed &&
    manifest.packageCount === params.packages &&
    manifest.tarballsRequested === params.tarballs &&
    manifest.hugeBytes === params.hugeBytes
  );
}

/** Signs packages in worker threads, a batch at a time; resolves with every written file. */
async function signInWorkers(packages, { root, seed, privatePem, distDir, workers }, log) {
  const batches = [];
  for (let i = 0; i < packages.length; i += 250) batches.push(packages.slice(i, i + 250));
  const files = [];
  let done = 0;
  let lastLog = Date.now();
  let next = 0;
  const workerUrl = new URL('./scale-dataset-worker.mjs', import.meta.url);
  await Promise.all(
    Array.from(
      { length: Math.min(workers, batches.length) },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(workerUrl, { workerData: { root, seed, privatePem, distDir, repository: REPOSITORY } });
          const send = () => {
            if (next >= batches.length) {
              worker.terminate().then(() => resolve(), reject);
              return;
            }
            worker.postMessage(batches[next++]);
          };
          worker.on('message', (message) => {
            files.push(...message.files);
            done += message.packages;
            if (Date.now() - lastLog > 10_000) {
              lastLog = Date.now();
              log(`  signed ${done} of ${packages.length} packages`);
            }
            send();
          });
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0 && next < batches.length) reject(new Error(`dataset worker exited with ${code}`));
          });
          send();
        }),
    ),
  );
  return files;
}

/**
 * Generates the dataset into DIR unless DIR/dataset.json already describes the same one;
 * returns the manifest. distDir: the built project's dist/ whose codec signs the files.
 */
export async function ensureScaleDataset(dir, params, { distDir, log = () => {}, workers = availableParallelism() } = {}) {
  const manifestFile = join(dir, 'dataset.json');
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    if (sameParameters(manifest, params)) return { ...manifest, reused: true };
    log(`dataset in ${dir} is stale (format ${manifest.format}, other parameters); generating it again`);
  }
  const dist = (path) => import(pathToFileURL(join(distDir, path)).href);
  const { encodeNames, encodeVersions } = await dist('src/registry/codec.js');
  const { sealRegistryFile } = await dist('src/registry/registry-file.js');
  const started = Date.now();
  log(
    `generating a dataset of ${params.packages} packages, ${params.tarballs} tarball files and one of ${params.hugeBytes} bytes (seed ${params.seed}) in ${dir}`,
  );
  await rm(dir, { recursive: true, force: true });
  const root = join(dir, 'upstream');
  for (const sub of ['packages', 'tarballs', 'variants']) await mkdir(join(root, sub), { recursive: true });

  // The upstream's signing key: RSA 2048 like hex.pm's, generated per dataset.
  const { privateKey: privatePem, publicKey: publicPem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKey = createPrivateKey(privatePem);
  const packages = buildModel(params);
  const modelSeconds = (Date.now() - started) / 1000;

  const files = await signInWorkers(packages, { root, seed: params.seed, privatePem, distDir, workers }, log);
  const signSeconds = (Date.now() - started) / 1000 - modelSeconds;

  const byName = [...packages].sort((a, b) => (a.name < b.name ? -1 : 1));
  const names = await sealRegistryFile(encodeNames(namesMessage(byName)), privateKey);
  const versions = await sealRegistryFile(encodeVersions(versionsMessage(byName)), privateKey);
  await writeFile(join(root, 'names'), names);
  await writeFile(join(root, 'versions'), versions);
  // Scenario 5's change: one package more in /names, one release more in /versions.
  const first = byName[0];
  const changed = byName.map((pkg) =>
    pkg === first
      ? { ...pkg, releases: [...pkg.releases, { version: '999.0.0', publishedAt: Date.parse('2025-06-02T00:00:00Z'), deps: [], file: 0 }] }
      : pkg,
  );
  const withNew = [...byName, { name: NEW_PACKAGE, releases: [{ version: '0.1.0', publishedAt: Date.parse('2025-06-02T00:00:00Z') }] }].sort(
    (a, b) => (a.name < b.name ? -1 : 1),
  );
  await writeFile(join(root, 'variants', 'names-1'), await sealRegistryFile(encodeNames(namesMessage(withNew)), privateKey));
  await writeFile(join(root, 'variants', 'versions-1'), await sealRegistryFile(encodeVersions(versionsMessage(changed)), privateKey));
  await writeFile(join(root, 'public_key'), publicPem);
  await writeFile(join(dir, 'upstream_public_key.pem'), publicPem);
  await writeFile(join(dir, 'upstream_private_key.pem'), privatePem, { mode: 0o600 });

  const tarballs = files.filter((file) => file.path && file.name !== HUGE_PACKAGE).sort((a, b) => (a.path < b.path ? -1 : 1));
  const huge = files.find((file) => file.path && file.name === HUGE_PACKAGE);
  const releaseCounts = packages
    .filter((pkg) => pkg.name !== HUGE_PACKAGE)
    .map((pkg) => pkg.releases.length)
    .sort((a, b) => a - b);
  const fanOuts = packages.flatMap((pkg) => pkg.releases.map((release) => release.deps.length)).sort((a, b) => a - b);
  const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const manifest = {
    format: SCALE_FORMAT,
    seed: params.seed,
    packageCount: params.packages,
    tarballsRequested: params.tarballs,
    hugeBytes: params.hugeBytes,
    repository: REPOSITORY,
    releaseCount: releaseCounts.reduce((sum, n) => sum + n, 0),
    releasesPerPackage: {
      median: quantile(releaseCounts, 0.5),
      mean: releaseCounts.reduce((s, n) => s + n, 0) / releaseCounts.length,
      p99: quantile(releaseCounts, 0.99),
      max: releaseCounts.at(-1),
    },
    dependenciesPerRelease: {
      median: quantile(fanOuts, 0.5),
      mean: fanOuts.reduce((s, n) => s + n, 0) / fanOuts.length,
      p99: quantile(fanOuts, 0.99),
      max: fanOuts.at(-1),
    },
    registryBytes: { names: names.length, versions: versions.length, packages: files.reduce((sum, file) => sum + (file.packageBytes ?? 0), 0) },
    tarballCount: tarballs.length,
    tarballBytes: tarballs.reduce((sum, file) => sum + file.size, 0),
    /** Every release with a file: {name, version, size, sha256, path}. */
    tarballs: tarballs.map(({ name, version, size, sha256, path }) => ({ name, version, size, sha256, path })),
    huge: huge && { name: huge.name, version: huge.version, size: huge.size, sha256: huge.sha256, path: huge.path },
    /** Every package with its versions, in generation order (the huge one last). */
    packages: packages.map((pkg) => [pkg.name, pkg.releases.map((release) => release.version)]),
    variants: { names: '/variants/names-1', versions: '/variants/versions-1' },
    generation: { seconds: (Date.now() - started) / 1000, modelSeconds, signSeconds, workers },
  };
  await writeFile(manifestFile, JSON.stringify(manifest));
  log(
    `dataset: ${manifest.packageCount} packages, ${manifest.releaseCount} releases (per package median ${manifest.releasesPerPackage.median}, mean ${manifest.releasesPerPackage.mean.toFixed(1)}, max ${manifest.releasesPerPackage.max}), ` +
      `${manifest.tarballCount} tarballs (${(manifest.tarballBytes / MB).toFixed(1)} MiB) + one of ${params.hugeBytes} bytes; /versions ${(versions.length / KB).toFixed(0)} KiB, /names ${(names.length / KB).toFixed(0)} KiB; ` +
      `generated in ${manifest.generation.seconds.toFixed(1)} s (${workers} workers)`,
  );
  return { ...manifest, reused: false };
}

/**
 * A hexproxy data directory with `count` tarballs cached and indexed (scenario 6), written
 * with the built project's own CacheIndex, FsBlobStore key paths and tarballKey, so the
 * layout is the one hexproxy writes (files are tiny: start-up never reads them). Built once
 * into DIR/data and reused while DIR/startup.json matches; the index schema is part of the
 * key, so a changed cache-index.js builds it again.
 */
export async function ensureStartupDataDir(dir, { count, manifest, distDir, log = () => {} }) {
  const marker = join(dir, 'startup.json');
  const dist = (path) => import(pathToFileURL(join(distDir, path)).href);
  const schema = createHash('sha256')
    .update(await readFile(join(distDir, 'src/store/cache-index.js')))
    .digest('hex')
    .slice(0, 16);
  // --root may run a build from before src/cache/ held the key layout.
  const { tarballKey } = await dist('src/cache/layout.js').catch(() => dist('src/mirror/tarball-mirror.js'));
  const keyShape = tarballKey(REPOSITORY, 'a', '1.0.0');
  if (existsSync(marker)) {
    const info = JSON.parse(await readFile(marker, 'utf8'));
    if (info.format === SCALE_FORMAT && info.count === count && info.seed === manifest.seed && info.schema === schema && info.keyShape === keyShape) {
      return { ...info, dataDir: join(dir, 'data'), reused: true };
    }
  }
  const { CacheIndex } = await dist('src/store/cache-index.js');
  const { FsBlobStore } = await dist('src/store/fs-blob-store.js');
  const started = Date.now();
  log(`building a data directory with ${count} cached tarballs in ${dir}`);
  await rm(dir, { recursive: true, force: true });
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const blobs = await FsBlobStore.create(dataDir);
  const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
  const releases = [];
  for (const [name, versions] of manifest.packages) {
    for (const version of versions) {
      if (releases.length >= count) break;
      releases.push([name, version]);
    }
    if (releases.length >= count) break;
  }
  if (releases.length < count) throw new Error(`the dataset has only ${releases.length} releases, fewer than the ${count} tarballs wanted`);
  const now = Date.now();
  // Files first, then their rows (hexproxy's own order), in batches. FsBlobStore.put would
  // fsync every file and its directory: minutes for 100,000 files, for no gain here.
  const dirs = new Set();
  for (let i = 0; i < releases.length; i += 1000) {
    const batch = releases.slice(i, i + 1000).map(([name, version]) => {
      const bytes = Buffer.from(`${name}-${version}\n`);
      return { name, version, bytes, file: blobs.pathOf(tarballKey(REPOSITORY, name, version)) };
    });
    for (const entry of batch) {
      const parent = join(entry.file, '..');
      if (!dirs.has(parent)) {
        dirs.add(parent);
        await mkdir(parent, { recursive: true });
      }
    }
    await Promise.all(batch.map((entry) => writeFile(entry.file, entry.bytes)));
    index.transaction(() => {
      for (const entry of batch) {
        index.saveTarball({
          repo: REPOSITORY,
          name: entry.name,
          version: entry.version,
          size: entry.bytes.length,
          sha256: createHash('sha256').update(entry.bytes).digest('hex'),
          fetchedAt: now,
          lastUsedAt: now,
          hits: 0,
          pinned: false,
        });
      }
    });
  }
  const indexed = index.tarballTotals().count;
  index.close();
  const info = { format: SCALE_FORMAT, count, indexed, seed: manifest.seed, schema, keyShape, seconds: (Date.now() - started) / 1000 };
  await writeFile(marker, JSON.stringify(info));
  log(`data directory: ${indexed} tarballs indexed in ${info.seconds.toFixed(1)} s`);
  return { ...info, dataDir, reused: false };
}
