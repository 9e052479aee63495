// Organizations across the air gap: `hexproxy export` carries a configured organization's
// cached files (under repos/ORG/ in the bundle), `hexproxy import` verifies them with that
// organization's configured key into its own namespace, refuses them where the organization
// is not configured, and an offline hexproxy serves them to a token that may read it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/bundle/manifest.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Package } from '../../src/registry/types.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { startProxy, tempDir } from '../support/proxy.js';

const ACME_KEY = 'acme-upstream-key-for-bundles';
// Nothing listens here: the importing side has no upstream.
const NOWHERE = 'http://127.0.0.1:9';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Site {
  upstream: FakeUpstream;
  dir: string;
  upstreamKey: string;
  acmeKey: string;
  /** Flags of site A (connected, acme configured). */
  siteA: string[];
  dataA: string;
}

async function site(): Promise<Site> {
  const upstream = await startFakeUpstream({
    packages: [{ name: 'pub_json', releases: [{ version: '1.1.0' }] }],
    organizations: {
      acme: {
        authKey: ACME_KEY,
        packages: [
          {
            name: 'acme_core',
            releases: [{ version: '1.0.0', dependencies: [{ package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' }] }],
          },
          { name: 'acme_util', releases: [{ version: '0.1.0' }] },
        ],
      },
    },
  });
  cleanups.push(() => upstream.close());
  const dir = tempDir('hexproxy-bundle-orgs-');
  const upstreamKey = join(dir, 'upstream.pem');
  writeFileSync(upstreamKey, upstream.publicKeyPem);
  const acmeKey = join(dir, 'acme.pem');
  writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
  const dataA = join(dir, 'a');
  const configA = config(dir, 'a.json', { acme: { authKey: ACME_KEY, publicKey: acmeKey } });
  return {
    upstream,
    dir,
    upstreamKey,
    acmeKey,
    dataA,
    siteA: ['--config', configA, '--data-dir', dataA, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey],
  };
}

function config(dir: string, name: string, organizations: Record<string, Record<string, string>>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ organizations }));
  return file;
}

/** Site A's cache, filled through a running hexproxy: the public package and acme's, with their registry files. */
async function fill({ upstream, dataA, acmeKey }: Site): Promise<void> {
  const proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    dataDir: dataA,
    config: { organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKey } } },
  });
  try {
    expect((await proxy.get('/tarballs/pub_json-1.1.0.tar')).status).toBe(200);
    const acme = proxy.server.hexproxy.repositories.get('acme');
    if (!acme) throw new Error('acme is not configured');
    await acme.registry.get({ kind: 'names' });
    await acme.tarballs.get('acme_core', '1.0.0');
    await acme.tarballs.get('acme_util', '0.1.0');
  } finally {
    await proxy.close();
  }
}

function rows(dataDir: string): { tarballs: string[]; registry: string[] } {
  const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
  try {
    return {
      tarballs: index
        .listTarballs()
        .map((row) => `${row.repo}/${row.name}-${row.version}`)
        .sort(),
      registry: index
        .listRegistryFiles()
        .map((row) => `${row.repo}/${row.path}`)
        .sort(),
    };
  } finally {
    index.close();
  }
}

const ACME_PATHS = [
  'repos/acme/registry/names',
  'repos/acme/registry/packages/acme_core',
  'repos/acme/registry/packages/acme_util',
  'repos/acme/tarballs/acme_core-1.0.0.tar',
  'repos/acme/tarballs/acme_util-0.1.0.tar',
];

describe('export with organizations', () => {
  it("carries every configured organization's cached files in a full export, under repos/ORG/, and only those --repo names", async () => {
    const s = await site();
    await fill(s);
    const out = join(s.dir, 'all.tar');
    const exported = await runCli(['export', '--out', out, '--no-installs', ...s.siteA]);
    expect(exported.code, exported.stdout + exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/repositories:\s+hexpm, acme/);
    expect(exported.stdout).toMatch(/tarballs:\s+3/);
    const manifest = await readManifest(out);
    const paths = manifest.entries.map((entry) => entry.path);
    expect(paths).toEqual([
      'registry/packages/pub_json',
      ...ACME_PATHS.filter((path) => path.includes('/registry/')),
      'tarballs/pub_json-1.1.0.tar',
      ...ACME_PATHS.filter((path) => path.includes('/tarballs/')),
    ]);
    const core = manifest.entries.find((entry) => entry.path === 'repos/acme/tarballs/acme_core-1.0.0.tar');
    expect(core).toMatchObject({
      kind: 'tarball',
      name: 'acme_core',
      version: '1.0.0',
      sha256: s.upstream.tarball('acme_core', '1.0.0', 'acme').outerChecksum.toString('hex'),
    });
    // Registry files of an organization carry upstream's word as of, like the public repository's.
    expect(manifest.entries.find((entry) => entry.path === 'repos/acme/registry/packages/acme_core')?.upstreamAsOf).toMatch(/^\d{4}-/);

    const acmeOnly = join(s.dir, 'acme.tar');
    const limited = await runCli(['export', '--out', acmeOnly, '--no-installs', '--repo', 'acme', ...s.siteA]);
    expect(limited.code, limited.stdout + limited.stderr).toBe(0);
    expect((await readManifest(acmeOnly)).entries.map((entry) => entry.path)).toEqual(ACME_PATHS);
  });

  it("exports a mix.lock's hexpm:acme entries with their registry files, pre-warming them first", async () => {
    const s = await site();
    const lock = join(s.dir, 'mix.lock');
    writeFileSync(
      lock,
      mixLock(s.upstream, [
        { name: 'acme_core', version: '1.0.0', org: 'acme', deps: [{ name: 'pub_json', requirement: '~> 1.0' }] },
        { name: 'pub_json', version: '1.1.0' },
      ]),
    );
    const out = join(s.dir, 'lock.tar');
    const exported = await runCli(['export', '--out', out, '--no-installs', '--mix-lock', lock, ...s.siteA]);
    expect(exported.code, exported.stdout + exported.stderr).toBe(0);
    expect((await readManifest(out)).entries.map((entry) => entry.path).sort()).toEqual([
      'registry/packages/pub_json',
      'repos/acme/registry/packages/acme_core',
      'repos/acme/tarballs/acme_core-1.0.0.tar',
      'tarballs/pub_json-1.1.0.tar',
    ]);
  });
});

describe('import of organization files', () => {
  it('needs the organization configured here: without it, nothing is imported and the config key is named; --skip-bad imports the rest', async () => {
    const s = await site();
    await fill(s);
    const out = join(s.dir, 'all.tar');
    expect((await runCli(['export', '--out', out, '--no-installs', ...s.siteA])).code).toBe(0);
    const trustA = ['--trust-key', join(s.dataA, 'keys', 'hexproxy_public.pem')];

    const dataB = join(s.dir, 'b');
    const siteB = ['--data-dir', dataB, '--offline', '--upstream-url', NOWHERE, '--upstream-public-key', s.upstreamKey, ...trustA];
    const refused = await runCli(['import', out, ...siteB]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'repos/acme/registry/names: is a file of organization acme, which is not configured here: add organizations.acme to the config',
    );
    expect(refused.stderr).toContain('5 bad entries');
    expect(rows(dataB)).toEqual({ tarballs: [], registry: [] });

    const skipped = await runCli(['import', out, '--skip-bad', ...siteB]);
    expect(skipped.code).toBe(1);
    expect(skipped.stdout).toMatch(/imported:\s+2/);
    expect(skipped.stdout).toMatch(/refused:\s+5/);
    for (const path of ACME_PATHS) expect(skipped.stdout).toContain(`REFUSED ${path}: is a file of organization acme, which is not configured here`);
    expect(rows(dataB)).toEqual({ tarballs: ['hexpm/pub_json-1.1.0'], registry: ['hexpm/packages/pub_json'] });
  });

  it("verifies them with the organization's configured key, caches them in its namespace, and serves them offline to its readers", async () => {
    const s = await site();
    await fill(s);
    const out = join(s.dir, 'all.tar');
    expect((await runCli(['export', '--out', out, '--no-installs', ...s.siteA])).code).toBe(0);
    const trustA = ['--trust-key', join(s.dataA, 'keys', 'hexproxy_public.pem')];
    const dataB = join(s.dir, 'b');
    const siteB = ['--data-dir', dataB, '--offline', '--upstream-url', NOWHERE, '--upstream-public-key', s.upstreamKey, ...trustA];

    // acme configured without its key: its files are checked with upstream.publicKey, which did not sign them.
    const wrongKey = await runCli(['import', out, '--config', config(s.dir, 'b-nokey.json', { acme: {} }), ...siteB]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(
      /repos\/acme\/registry\/names: does not verify with the key of organization acme \(organizations\.acme\.publicKey, or upstream\.publicKey\)/,
    );
    expect(rows(dataB)).toEqual({ tarballs: [], registry: [] });

    const configB = config(s.dir, 'b.json', { acme: { publicKey: s.acmeKey } });
    const imported = await runCli(['import', out, '--config', configB, ...siteB]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/imported:\s+7/);
    expect(rows(dataB)).toEqual({
      tarballs: ['acme/acme_core-1.0.0', 'acme/acme_util-0.1.0', 'hexpm/pub_json-1.1.0'],
      registry: ['acme/names', 'acme/packages/acme_core', 'acme/packages/acme_util', 'hexpm/packages/pub_json'],
    });

    const token = await runCli(['token', 'create', 'acme-reader', '--read', 'hexpm,acme', '--data-dir', dataB]);
    expect(token.code, token.stderr).toBe(0);
    const authorization = token.stdout.trim();
    const hitsBefore = s.upstream.totalHits();
    const offline = await startProxy({
      upstreamUrl: NOWHERE,
      upstreamPublicKeyPem: s.upstream.publicKeyPem,
      dataDir: dataB,
      flags: { offline: true },
      config: { organizations: { acme: { publicKey: s.acmeKey } } },
    });
    cleanups.push(() => offline.close());
    const tarball = await offline.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization });
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(s.upstream.tarball('acme_core', '1.0.0', 'acme').tar)).toBe(true);
    const pkg = await offline.get('/repos/acme/packages/acme_core', { authorization });
    expect(pkg.status).toBe(200);
    const opened = await openRegistryFile(
      pkg.body,
      { kind: 'package', name: 'acme_core' },
      { publicKey: parsePublicKey(offline.server.hexproxy.keys.publicKeyPem), repository: 'acme', maxBytes: 1 << 20 },
    );
    expect((opened.message as Package).releases.map((release) => release.version)).toEqual(['1.0.0']);
    // Still private: not without a token, and not under the public path.
    expect((await offline.get('/repos/acme/tarballs/acme_core-1.0.0.tar')).status).toBe(401);
    expect((await offline.get('/tarballs/acme_core-1.0.0.tar', { authorization })).status).not.toBe(200);
    expect(s.upstream.totalHits()).toBe(hitsBefore);
  });
});
