// `hexproxy backup DEST` beside a running server, and the restore docs/operations.md
// describes: the backup copied into a fresh data directory (with the cached files copied
// after it) serves the same bytes, offline, with the same key and tokens.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { runCli } from '../support/cli.js';
import { docsTarball, publishHosted } from '../support/hosted-publish.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

let upstream: FakeUpstream;
let source: TestProxy;
let reader: string;
let dest: string;
let backupRun: Awaited<ReturnType<typeof runCli>>;

const HOSTED = ['/repos/acme/packages/acme_core', '/repos/acme/tarballs/acme_core-1.0.0.tar', '/repos/acme/docs/acme_core-1.0.0.tar.gz'];

/** Every file under `dir`, by path relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => statSync(join(dir, path)).isFile())
    .sort();
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'jason', releases: [{ version: '1.4.1' }] }] });
  source = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { hosted: { acme: {} } } });
  const store = source.server.hexproxy.hosted;
  if (!store) throw new Error('no hosted store');
  await publishHosted(store, 'acme', { name: 'acme_core', version: '1.0.0' });
  await store.putDocs('acme', 'acme_core', '1.0.0', await docsTarball({ 'index.html': '<h1>acme_core</h1>' }));
  reader = new TokenStore(source.server.hexproxy.config.auth.tokensFile).create('reader', ['hexpm', 'acme'], false).secret;
  expect((await source.get('/tarballs/jason-1.4.1.tar')).status).toBe(200);
  dest = join(tempDir('hexproxy-backup-'), 'nightly');
  backupRun = await runCli(['backup', dest, '--config', source.configFile ?? '', '--data-dir', source.dataDir]);
});

afterAll(async () => {
  await source?.close();
  await upstream?.close();
});

describe('hexproxy backup', () => {
  it('copies the databases, the hosted files, the key pair and the tokens while the server runs, for its user only', () => {
    expect(backupRun.code, backupRun.stdout + backupRun.stderr).toBe(0);
    expect(backupRun.stdout).toContain(`backup written to ${dest}`);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    const hostedBlobs = filesUnder(join(source.dataDir, 'hosted', 'blobs')).filter((path) => !path.startsWith('.tmp'));
    expect(hostedBlobs).toHaveLength(2);
    expect(filesUnder(dest)).toEqual(
      [
        'hexproxy.db',
        'hosted/hosted.db',
        ...hostedBlobs.map((path) => `hosted/blobs/${path}`),
        'keys/hexproxy_private.pem',
        'keys/hexproxy_public.pem',
        'tokens.json',
      ].sort(),
    );
    for (const path of [...hostedBlobs.map((blob) => `hosted/blobs/${blob}`), 'keys/hexproxy_private.pem', 'tokens.json']) {
      expect(readFileSync(join(dest, path)).equals(readFileSync(join(source.dataDir, path))), path).toBe(true);
    }
    for (const path of filesUnder(dest)) expect(statSync(join(dest, path)).mode & 0o777, path).toBe(0o600);
    expect(statSync(dest).mode & 0o777).toBe(0o700);
    // Each database is one self-contained file, holding what the server had committed.
    const index = new Database(join(dest, 'hexproxy.db'), { readonly: true });
    try {
      expect(index.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(index.prepare('SELECT name, version FROM tarballs').all()).toEqual([{ name: 'jason', version: '1.4.1' }]);
    } finally {
      index.close();
    }
    const hosted = new Database(join(dest, 'hosted', 'hosted.db'), { readonly: true });
    try {
      expect(hosted.prepare('SELECT name, version, docs_key IS NOT NULL AS docs FROM releases').all()).toEqual([
        { name: 'acme_core', version: '1.0.0', docs: 1 },
      ]);
    } finally {
      hosted.close();
    }
  });

  it('refuses a DEST that exists (exit code 2) and leaves it as it was', async () => {
    const result = await runCli(['backup', dest, '--config', source.configFile ?? '', '--data-dir', source.dataDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${dest} already exists; give hexproxy backup a directory that does not exist yet`);
    expect(filesUnder(dest)).toContain('hexproxy.db');
  });

  it('refuses, naming it, when a hosted file the database names is missing from the data directory, and writes nothing', async () => {
    const damaged = join(tempDir('hexproxy-damaged-'), 'data');
    cpSync(dest, damaged, { recursive: true });
    const [blob = ''] = filesUnder(join(damaged, 'hosted', 'blobs'));
    rmSync(join(damaged, 'hosted', 'blobs', blob));
    const target = join(tempDir('hexproxy-backup-'), 'never');
    const result = await runCli(['backup', target, '--config', source.configFile ?? '', '--data-dir', damaged]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the hosted file ${join(damaged, 'hosted', 'blobs', blob)}, which the hosted database names, is missing`);
    expect([existsSync(target), existsSync(`${target}.partial`)]).toEqual([false, false]);
  });
});

describe('restoring a backup', () => {
  it('into a fresh data directory, with the cached files copied after it: the same bytes offline, the same key and tokens', async () => {
    const fresh = join(tempDir('hexproxy-restore-'), 'data');
    mkdirSync(fresh, { mode: 0o700 });
    cpSync(dest, fresh, { recursive: true });
    for (const dir of ['registry', 'tarballs']) cpSync(join(source.dataDir, dir), join(fresh, dir), { recursive: true });
    const restored = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir: fresh,
      config: { hosted: { acme: {} } },
      flags: { offline: true },
    });
    try {
      expect(restored.server.hexproxy.keys.fingerprint).toBe(source.server.hexproxy.keys.fingerprint);
      for (const path of ['/packages/jason', '/tarballs/jason-1.4.1.tar', ...HOSTED]) {
        const [here, there] = [await restored.get(path, { authorization: reader }), await source.get(path, { authorization: reader })];
        expect([path, here.status]).toEqual([path, 200]);
        expect(here.body.equals(there.body), path).toBe(true);
      }
      expect((await restored.get('/repos/acme/names')).status).toBe(401);
    } finally {
      await restored.close();
    }
  });
});
