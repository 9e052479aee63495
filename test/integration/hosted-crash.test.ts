// Crash safety of hosted repositories: a child process publishes, replaces, reverts, retires
// and stores docs in a loop and is SIGKILLed at random moments, round after round on the same
// data directory. After each kill the store opens and reconciles, and then every release the
// child had acknowledged is there as acknowledged (the one in flight is either before or
// after), every release has its tarball, the registry files are exactly what the rows make,
// and no file is left that no release names. Then a real server serves what is left.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostedStore } from '../../src/hosted/hosted-store.js';
import { verifyHosted } from '../../src/hosted/verify.js';
import { createLogger } from '../../src/log.js';
import { projectRoot } from '../../src/paths.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePrivateKey, parsePublicKey } from '../../src/registry/signature.js';
import type { Package } from '../../src/registry/types.js';
import { runCli } from '../support/cli.js';
import { seededRandom } from '../support/crash/harness.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { validatedRelease } from '../support/hosted-release.js';
import { startProxy, tempDir } from '../support/proxy.js';

const ROUNDS = 8;
const PACKAGES = ['alpha', 'beta', 'gamma'];
const VERSIONS = ['1.0.0', '1.0.1', '1.1.0', '2.0.0'];

interface Operation {
  n: number;
  op: 'publish' | 'replace' | 'revert' | 'retire' | 'docs';
  name: string;
  version: string;
  variant?: string;
  retire?: boolean;
  docs?: number;
}

interface ReleaseState {
  sha: string;
  retired: boolean;
  docs: number | undefined;
}

let upstream: FakeUpstream;
let dataDir = '';
let manifestFile = '';
/** The outer checksum of each prebuilt tarball, by "NAME@VERSION/VARIANT". */
const shas = new Map<string, string>();

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [] });
  dataDir = tempDir('hexproxy-hosted-crash-');
  // A first start makes the key pair the children sign with (DATA_DIR/keys) and the hosted store.
  const first = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir,
    config: { hosted: { acme: {} } },
  });
  await first.close();
  const dir = tempDir('hexproxy-hosted-crash-tarballs-');
  const releases = [];
  for (const name of PACKAGES) {
    for (const version of VERSIONS) {
      for (const variant of ['a', 'b']) {
        const release = await validatedRelease({
          name,
          version,
          description: `${name} ${version}, variant ${variant}`,
          // Some large enough that writing and fsyncing them takes a while: kills land inside.
          ...(name === 'gamma' && { padBytes: 400_000 }),
          // beta requires alpha, in this repository: reverting alpha's last release is refused while beta has releases.
          ...(name === 'beta' && { dependencies: [{ package: 'alpha', requirement: '>= 0.0.0', repository: 'acme' }] }),
        });
        const file = join(dir, `${name}-${version}-${variant}.tar`);
        writeFileSync(file, release.tarball);
        shas.set(`${name}@${version}/${variant}`, release.outerChecksum.toString('hex'));
        releases.push({
          ...release,
          variant,
          file,
          tarball: undefined,
          innerChecksum: release.innerChecksum.toString('hex'),
          outerChecksum: release.outerChecksum.toString('hex'),
        });
      }
    }
  }
  manifestFile = join(dir, 'manifest.json');
  writeFileSync(manifestFile, JSON.stringify({ releases }));
});

afterAll(async () => {
  await upstream?.close();
});

/** Runs the publishing child until it is killed on its `killAt`-th operation; what it said, by kind. */
async function runAndKill(
  seed: number,
  killAt: number,
  delayMs: number,
): Promise<{ done: { op: Operation; result: unknown }[]; refused: { op: Operation; code: string }[]; inFlight: Operation | undefined }> {
  const child = spawn(
    process.execPath,
    [join(projectRoot, 'test', 'support', 'hosted-publish-loop.mjs'), join(projectRoot, 'dist'), dataDir, manifestFile, String(seed)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const done: { op: Operation; result: unknown }[] = [];
  const refused: { op: Operation; code: string }[] = [];
  let inFlight: Operation | undefined;
  let begun = 0;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (text) => {
    const line = JSON.parse(text) as { begin?: Operation; done?: Operation; refused?: Operation; result?: unknown; code?: string };
    if (line.begin) {
      inFlight = line.begin;
      begun += 1;
      if (begun === killAt) setTimeout(() => child.kill('SIGKILL'), delayMs);
    } else if (line.done) {
      done.push({ op: line.done, result: line.result });
      inFlight = undefined;
    } else if (line.refused) {
      refused.push({ op: line.refused, code: line.code ?? '' });
      inFlight = undefined;
    }
  });
  const { signal, code } = await exited;
  expect(signal, `the child exited by itself (code ${code}): ${stderr}`).toBe('SIGKILL');
  return { done, refused, inFlight };
}

/** What a release is after `op`, from what it was. */
function after(state: ReleaseState | undefined, op: Operation): ReleaseState | undefined {
  switch (op.op) {
    case 'publish':
      return state ?? { sha: shas.get(`${op.name}@${op.version}/${op.variant}`) ?? '', retired: false, docs: undefined };
    case 'replace':
      return state && { ...state, sha: shas.get(`${op.name}@${op.version}/${op.variant}`) ?? '' };
    case 'revert':
      return undefined;
    case 'retire':
      return state && { ...state, retired: op.retire === true };
    case 'docs':
      return state && { ...state, docs: op.docs === 0 ? undefined : op.docs };
  }
}

async function openStore(): Promise<HostedStore> {
  return HostedStore.open({
    dir: join(dataDir, 'hosted'),
    repositories: { acme: { replaceWindowSeconds: 86_400 } },
    signingKey: parsePrivateKey(readFileSync(join(dataDir, 'keys', 'hexproxy_private.pem'))),
    publicRepository: 'hexpm',
    log: createLogger('silent'),
  });
}

function stateOf(store: HostedStore): Map<string, ReleaseState> {
  const states = new Map<string, ReleaseState>();
  for (const release of store.allReleases()) {
    states.set(`${release.name}@${release.version}`, {
      sha: release.outerChecksum.toString('hex'),
      retired: release.retirement !== undefined,
      docs: release.docs?.size,
    });
  }
  return states;
}

describe('hosted publishing killed at random moments', () => {
  it(`leaves every release complete or absent, as acknowledged, over ${ROUNDS} kills`, async () => {
    const random = seededRandom(Number(process.env['HEXPROXY_CRASH_SEED'] ?? 20260301));
    let model = new Map<string, ReleaseState>();
    const counts = { acknowledged: 0, refused: 0, inFlight: 0 };
    for (let round = 0; round < ROUNDS; round += 1) {
      const seed = random.int(1, 2 ** 31);
      const killAt = random.int(3, 60);
      const { done, refused, inFlight } = await runAndKill(seed, killAt, random.int(0, 4));
      const context = `round ${round} (seed ${seed}, killed at operation ${killAt}, in flight: ${JSON.stringify(inFlight)})`;
      counts.acknowledged += done.length;
      counts.refused += refused.length;
      if (inFlight) counts.inFlight += 1;
      // Refusals are the store's rules, nothing else.
      expect(
        refused.filter((r) => r.code !== 'release_exists' && r.code !== 'package_depended_on'),
        context,
      ).toEqual([]);
      for (const { op } of done) {
        const key = `${op.name}@${op.version}`;
        const next = after(model.get(key), op);
        if (next) model.set(key, next);
        else model.delete(key);
      }

      const store = await openStore();
      try {
        const reconciled = await store.reconcile({ settleMs: 0 });
        expect(reconciled.missing, context).toEqual([]);
        const actual = stateOf(store);
        const inFlightKey = inFlight && `${inFlight.name}@${inFlight.version}`;
        for (const key of new Set([...model.keys(), ...actual.keys()])) {
          if (key !== inFlightKey) {
            expect(actual.get(key), `${context}: ${key}`).toEqual(model.get(key));
            continue;
          }
          // The operation in flight happened wholly or not at all.
          const before = model.get(key);
          const applied = inFlight && after(before, inFlight);
          expect([before, applied], `${context}: ${key}`).toContainEqual(actual.get(key));
        }
        model = actual;
        // Every tarball and docs file matches its row, every registry file is exactly what the rows make.
        const verified = await verifyHosted(store);
        expect(verified.problems, context).toEqual([]);
        // No file is left that no release names, and nothing staged.
        const referenced = store
          .allReleases()
          .flatMap((release) => [
            store.tarballFile('acme', release.name, release.version)?.key,
            store.docsFile('acme', release.name, release.version)?.key,
          ])
          .filter((key) => key !== undefined)
          .sort();
        const onDisk = ['tarballs', 'docs']
          .flatMap((kind) => readdirSync(join(dataDir, 'hosted', 'blobs', 'acme', kind)).map((file) => `acme/${kind}/${file}`))
          .sort();
        expect(onDisk, context).toEqual(referenced);
        expect(readdirSync(join(dataDir, 'hosted', 'blobs', '.tmp')), context).toEqual([]);
      } finally {
        store.close();
      }
    }
    // The rounds did work, and kills landed in the middle of operations.
    expect(counts.acknowledged).toBeGreaterThan(ROUNDS * 3);
    expect(counts.inFlight).toBeGreaterThan(0);

    // A real server on what is left serves every release as the rows say.
    const proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir,
      config: { hosted: { acme: { replaceWindowSeconds: 86_400 } } },
    });
    try {
      const created = await runCli(['token', 'create', 'reader', '--read', 'acme', '--config', proxy.configFile ?? '', '--data-dir', dataDir]);
      expect(created.code, created.stderr).toBe(0);
      const authorization = created.stdout.trim();
      const key = parsePublicKey(proxy.server.hexproxy.keys.publicKeyPem);
      for (const name of PACKAGES) {
        const versions = [...model.keys()].filter((k) => k.startsWith(`${name}@`)).map((k) => k.slice(name.length + 1));
        const pkg = await proxy.get(`/repos/acme/packages/${name}`, { authorization });
        if (versions.length === 0) {
          expect(pkg.status, name).toBe(404);
          continue;
        }
        expect(pkg.status, name).toBe(200);
        const releases = (
          (await openRegistryFile(pkg.body, { kind: 'package', name }, { publicKey: key, repository: 'acme', maxBytes: 1 << 24 })).message as Package
        ).releases;
        expect(releases.map((r) => [r.version, r.outer_checksum?.toString('hex')]).sort(), name).toEqual(
          versions.map((version) => [version, model.get(`${name}@${version}`)?.sha]).sort(),
        );
        for (const version of versions) {
          const tarball = await proxy.get(`/repos/acme/tarballs/${name}-${version}.tar`, { authorization });
          expect(tarball.status, `${name} ${version}`).toBe(200);
          expect(createHash('sha256').update(tarball.body).digest('hex'), `${name} ${version}`).toBe(model.get(`${name}@${version}`)?.sha);
        }
      }
      expect(existsSync(join(dataDir, 'hosted', 'hosted.db'))).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 300_000);
});
