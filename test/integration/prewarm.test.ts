// hexproxy prewarm, run as users run it (the built CLI), against a real fake upstream.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheIndex } from '../../src/store/cache-index.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { runCli } from '../support/cli.js';
import { mixLock, rebarLock } from '../support/locks.js';
import { startProxy, tempDir } from '../support/proxy.js';

const packages = [
  { name: 'app_a', releases: [{ version: '1.0.0' }, { version: '1.2.0', dependencies: [{ package: 'app_b', requirement: '~> 2.0' }, { package: 'app_opt', requirement: '~> 0.1', optional: true }] }] },
  { name: 'app_b', releases: [{ version: '2.0.0', dependencies: [{ package: 'app_c', requirement: '>= 0.1.0' }] }, { version: '2.1.0-rc.0' }] },
  { name: 'app_c', releases: [{ version: '0.1.0' }, { version: '0.2.0', retired: { reason: 2, message: 'CVE' } }] },
  { name: 'app_opt', releases: [{ version: '0.1.0' }] },
];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Site {
  upstream: FakeUpstream;
  dataDir: string;
  args: string[];
}

async function site(): Promise<Site> {
  const upstream = await startFakeUpstream({ packages });
  cleanups.push(() => upstream.close());
  const dataDir = tempDir();
  const keyFile = join(tempDir(), 'upstream.pem');
  writeFileSync(keyFile, upstream.publicKeyPem);
  return { upstream, dataDir, args: ['--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', keyFile] };
}

function cachedReleases(dataDir: string): string[] {
  const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
  try {
    return index.listTarballs().map((row) => `${row.name}@${row.version}${row.pinned ? ' pinned' : ''}`);
  } finally {
    index.close();
  }
}

function writeFile(name: string, text: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, text);
  return file;
}

describe('prewarm --mix-lock', () => {
  it('fetches every hex entry, skips git, path and other-repository entries with a note', async () => {
    const { upstream, dataDir, args } = await site();
    const lock = writeFile('mix.lock', mixLock(upstream, [
      { name: 'app_a', version: '1.2.0', deps: [{ name: 'app_b', requirement: '~> 2.0' }] },
      { name: 'app_b', version: '2.0.0' },
      { name: 'app_c', version: '0.1.0' },
    ], [
      `  "private_lib": {:hex, :private_lib, "1.0.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:acme", "${'b'.repeat(64)}"},`,
      '  "forked": {:git, "https://example.invalid/forked.git", "0123456789abcdef", [branch: "main"]},',
    ].join('\n') + '\n'));
    const result = await runCli(['prewarm', '--mix-lock', lock, '--pin', ...args]);
    expect(result.stdout, result.stdout + result.stderr).not.toMatch(/FAILED/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/fetched:\s+3/);
    expect(result.stdout).toMatch(/skipped:\s+2/);
    expect(result.stdout).toMatch(/skipped private_lib 1\.0\.0 .*repository "hexpm:acme"/);
    expect(result.stdout).toMatch(/skipped forked/);
    expect(cachedReleases(dataDir)).toEqual(['app_a@1.2.0 pinned', 'app_b@2.0.0 pinned', 'app_c@0.1.0 pinned']);
    // Progress goes to stderr, one plain line per release when not on a terminal.
    expect(result.stderr).toMatch(/prewarm 3\/3: /);
    const again = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(again.stdout).toMatch(/already cached: 3/);
    expect(upstream.hits('/tarballs/app_a-1.2.0.tar')).toBe(1);
  });

  it('refuses a release whose locked checksum disagrees with the signed registry, without fetching it', async () => {
    const { upstream, dataDir, args } = await site();
    const wrong = 'ab'.repeat(32);
    const lock = writeFile('mix.lock', mixLock(upstream, [
      { name: 'app_b', version: '2.0.0', outerChecksum: wrong },
      { name: 'app_c', version: '0.1.0' },
    ]));
    const result = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed:\s+1/);
    expect(result.stdout).toContain(`FAILED app_b 2.0.0 (from ${lock}): app_b 2.0.0: ${lock} locks outer checksum ${wrong}, but the signed registry says ${upstream.tarball('app_b', '2.0.0').outerChecksum.toString('hex')}; not fetched`);
    expect(upstream.hits('/tarballs/app_b-2.0.0.tar')).toBe(0);
    expect(cachedReleases(dataDir)).toEqual(['app_c@0.1.0']);
  });

  it('names the line and column of a malformed lock file', async () => {
    const { args } = await site();
    const lock = writeFile('mix.lock', '%{\n  "app_a": {:hex, :app_a, "1.2.0"\n');
    const result = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(lock);
    expect(result.stderr).toMatch(/mix\.lock:3:1: expected "," or "}" in the tuple, found the end of the file/);
  });
});

describe('prewarm --rebar-lock', () => {
  it('fetches the packages of a rebar.lock, checking pkg_hash_ext', async () => {
    const { upstream, dataDir, args } = await site();
    const lock = writeFile('rebar.lock', rebarLock(upstream, [{ name: 'app_b', version: '2.0.0' }, { name: 'app_c', version: '0.1.0' }]));
    const result = await runCli(['prewarm', '--rebar-lock', lock, ...args]);
    expect(result.code).toBe(0);
    expect(cachedReleases(dataDir)).toEqual(['app_b@2.0.0', 'app_c@0.1.0']);
  });
});

describe('prewarm SPEC...', () => {
  it('resolves specs to the newest matching release that is not retired, and their dependencies', async () => {
    const { dataDir, args } = await site();
    const result = await runCli(['prewarm', 'app_a@~> 1.0', ...args]);
    expect(result.code).toBe(0);
    // app_opt is optional; app_c 0.2.0 is retired; app_b 2.1.0-rc.0 is a pre-release.
    expect(cachedReleases(dataDir)).toEqual(['app_a@1.2.0', 'app_b@2.0.0', 'app_c@0.1.0']);
    expect(result.stdout).toMatch(/skipped app_opt ~> 0\.1 .*optional dependency/);
  });

  it('includes optional dependencies with --with-optional, and takes exact versions', async () => {
    const { dataDir, args } = await site();
    const result = await runCli(['prewarm', 'app_a', 'app_c@0.2.0', '--with-optional', ...args]);
    expect(result.code).toBe(0);
    expect(cachedReleases(dataDir)).toEqual(['app_a@1.2.0', 'app_b@2.0.0', 'app_c@0.1.0', 'app_c@0.2.0', 'app_opt@0.1.0']);
  });

  it('reports specs that resolve to nothing, and still fetches the rest', async () => {
    const { dataDir, args } = await site();
    const result = await runCli(['prewarm', 'nosuch', 'app_c@~> 9.0', 'app_b@2.0.0', ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed:\s+2/);
    expect(result.stdout).toMatch(/FAILED nosuch: /);
    expect(result.stdout).toMatch(/FAILED app_c@~> 9\.0: /);
    expect(cachedReleases(dataDir)).toEqual(['app_b@2.0.0', 'app_c@0.1.0']);
  });

  it('says what to give when given nothing', async () => {
    const { args } = await site();
    const result = await runCli(['prewarm', ...args]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nothing to pre-warm: give --mix-lock FILE, --rebar-lock FILE or package specs/);
  });
});

describe('beside a running server', () => {
  it('fills the cache the server serves from, without a restart', async () => {
    const { upstream, dataDir, args } = await site();
    const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir });
    cleanups.push(() => proxy.close());
    expect((await proxy.get('/packages/app_c')).status).toBe(200);
    const result = await runCli(['prewarm', 'app_c@0.1.0', ...args]);
    expect(result.code).toBe(0);
    const response = await proxy.get('/tarballs/app_c-0.1.0.tar');
    expect(response.status).toBe(200);
    expect(response.headers['x-hexproxy-cache']).toBe('HIT');
    expect(upstream.hits('/tarballs/app_c-0.1.0.tar')).toBe(1);
  });
});
