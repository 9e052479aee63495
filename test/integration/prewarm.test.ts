// hexproxy prewarm, run as users run it (the built CLI), against a real fake upstream.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheIndex } from '../../src/store/cache-index.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { runCli } from '../support/cli.js';
import { mixLock, rebarLock } from '../support/locks.js';
import { startProxy, tempDir } from '../support/proxy.js';

const packages = [
  {
    name: 'app_a',
    releases: [
      { version: '1.0.0' },
      {
        version: '1.2.0',
        dependencies: [
          { package: 'app_b', requirement: '~> 2.0' },
          { package: 'app_opt', requirement: '~> 0.1', optional: true },
        ],
      },
    ],
  },
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
    return index.listTarballs().map((row) => `${row.repo === 'hexpm' ? '' : `${row.repo}/`}${row.name}@${row.version}${row.pinned ? ' pinned' : ''}`);
  } finally {
    index.close();
  }
}

const ACME_KEY = 'acme-upstream-key-for-prewarm';
// shared_name is in both repositories, with different contents: where it is found matters.
const orgPackages = {
  packages: [
    { name: 'pub_json', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
    { name: 'shared_name', releases: [{ version: '1.0.0', description: 'the public one' }] },
  ],
  organizations: {
    acme: {
      authKey: ACME_KEY,
      packages: [
        {
          name: 'acme_core',
          releases: [
            {
              version: '1.0.0',
              dependencies: [
                { package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' },
                { package: 'acme_util', requirement: '>= 0.1.0' },
              ],
            },
          ],
        },
        { name: 'acme_util', releases: [{ version: '0.1.0' }] },
        { name: 'shared_name', releases: [{ version: '1.0.0', description: 'the private one' }] },
      ],
    },
  },
};

/** A site whose config has organization acme (its key and upstream auth key). */
async function orgSite(): Promise<Site> {
  const upstream = await startFakeUpstream(orgPackages);
  cleanups.push(() => upstream.close());
  const dataDir = tempDir();
  const dir = tempDir();
  const keyFile = join(dir, 'upstream.pem');
  writeFileSync(keyFile, upstream.publicKeyPem);
  const acmeKey = join(dir, 'acme.pem');
  writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
  const config = join(dir, 'hexproxy.json');
  writeFileSync(config, JSON.stringify({ organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKey } } }));
  return { upstream, dataDir, args: ['--config', config, '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', keyFile] };
}

function writeFile(name: string, text: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, text);
  return file;
}

describe('prewarm --mix-lock', () => {
  it('fetches every hex entry, skips git, path and other-repository entries with a note', async () => {
    const { upstream, dataDir, args } = await site();
    const lock = writeFile(
      'mix.lock',
      mixLock(
        upstream,
        [
          { name: 'app_a', version: '1.2.0', deps: [{ name: 'app_b', requirement: '~> 2.0' }] },
          { name: 'app_b', version: '2.0.0' },
          { name: 'app_c', version: '0.1.0' },
        ],
        [
          `  "private_lib": {:hex, :private_lib, "1.0.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:acme", "${'b'.repeat(64)}"},`,
          '  "forked": {:git, "https://example.invalid/forked.git", "0123456789abcdef", [branch: "main"]},',
        ].join('\n') + '\n',
      ),
    );
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
    const lock = writeFile(
      'mix.lock',
      mixLock(upstream, [
        { name: 'app_b', version: '2.0.0', outerChecksum: wrong },
        { name: 'app_c', version: '0.1.0' },
      ]),
    );
    const result = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed:\s+1/);
    expect(result.stdout).toContain(
      `FAILED app_b 2.0.0 (from ${lock}): app_b 2.0.0: ${lock} locks outer checksum ${wrong}, but the signed registry says ${upstream.tarball('app_b', '2.0.0').outerChecksum.toString('hex')}; not fetched`,
    );
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
    const lock = writeFile(
      'rebar.lock',
      rebarLock(upstream, [
        { name: 'app_b', version: '2.0.0' },
        { name: 'app_c', version: '0.1.0' },
      ]),
    );
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

describe('prewarm with organizations', () => {
  it("fetches a mix.lock's hexpm:acme entries through acme, and skips those of an organization not configured, naming the config key", async () => {
    const { upstream, dataDir, args } = await orgSite();
    const lock = writeFile(
      'mix.lock',
      mixLock(
        upstream,
        [
          {
            name: 'acme_core',
            version: '1.0.0',
            org: 'acme',
            deps: [
              { name: 'pub_json', requirement: '~> 1.0' },
              { name: 'acme_util', requirement: '>= 0.1.0' },
            ],
          },
          { name: 'acme_util', version: '0.1.0', org: 'acme' },
          { name: 'pub_json', version: '1.1.0' },
        ],
        `  "globex_lib": {:hex, :globex_lib, "1.0.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:globex", "${'b'.repeat(64)}"},\n`,
      ),
    );
    const result = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/fetched:\s+3/);
    expect(result.stdout).toMatch(/skipped globex_lib 1\.0\.0 .*repository "hexpm:globex".*organizations\.globex/);
    expect(cachedReleases(dataDir).sort()).toEqual(['acme/acme_core@1.0.0', 'acme/acme_util@0.1.0', 'pub_json@1.1.0']);
    expect(upstream.hits('/repos/acme/tarballs/acme_core-1.0.0.tar')).toBe(1);
    expect(upstream.lastHeaders('/repos/acme/tarballs/acme_core-1.0.0.tar')?.authorization).toBe(ACME_KEY);
    // Progress names the repository of an organization's release.
    expect(result.stderr).toMatch(/prewarm \d\/3: acme\/acme_core 1\.0\.0 fetched/);
  });

  it("checks a hexpm:acme entry's locked checksum against acme's signed registry", async () => {
    const { upstream, dataDir, args } = await orgSite();
    const wrong = 'cd'.repeat(32);
    const lock = writeFile('mix.lock', mixLock(upstream, [{ name: 'acme_util', version: '0.1.0', org: 'acme', outerChecksum: wrong }]));
    const result = await runCli(['prewarm', '--mix-lock', lock, ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `locks outer checksum ${wrong}, but the signed registry says ${upstream.tarball('acme_util', '0.1.0', 'acme').outerChecksum.toString('hex')}; not fetched`,
    );
    expect(upstream.hits('/repos/acme/tarballs/acme_util-0.1.0.tar')).toBe(0);
    expect(cachedReleases(dataDir)).toEqual([]);
  });

  it('looks rebar.lock entries up in the configured organizations, then hexpm, as rebar3 does, and says where each was found', async () => {
    const { upstream, dataDir, args } = await orgSite();
    const lock = writeFile(
      'rebar.lock',
      rebarLock(upstream, [
        { name: 'acme_core', version: '1.0.0', org: 'acme' },
        { name: 'pub_json', version: '1.1.0' },
        { name: 'shared_name', version: '1.0.0', org: 'acme' },
      ]),
    );
    // The same name and version locked with the public package's checksum: acme's does not match, so hexpm's is taken.
    const publicLock = writeFile('rebar.lock', rebarLock(upstream, [{ name: 'shared_name', version: '1.0.0' }]));
    const result = await runCli(['prewarm', '--rebar-lock', lock, '--rebar-lock', publicLock, ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/fetched:\s+4/);
    expect(result.stdout).toContain(`  found in acme (${lock}): acme_core 1.0.0, shared_name 1.0.0`);
    expect(result.stdout).toContain(`  found in hexpm (${lock}): pub_json 1.1.0`);
    expect(result.stdout).toContain(`  found in hexpm (${publicLock}): shared_name 1.0.0`);
    expect(cachedReleases(dataDir).sort()).toEqual(['acme/acme_core@1.0.0', 'acme/shared_name@1.0.0', 'pub_json@1.1.0', 'shared_name@1.0.0']);
    // acme was asked first for the public package, as rebar3 asks.
    expect(upstream.hits('/repos/acme/packages/pub_json')).toBe(1);
    expect(upstream.hits('/packages/acme_core')).toBe(0);
  });

  it('fails a rebar.lock entry found in no repository, saying where it looked', async () => {
    const { args } = await orgSite();
    const lock = writeFile('rebar.lock', '{"1.2.0",\n[{<<"ghost">>,{pkg,<<"ghost">>,<<"1.0.0">>},0}]}.\n[].\n');
    const result = await runCli(['prewarm', '--rebar-lock', lock, ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED ghost 1\.0\.0 \(.*rebar\.lock\): found in no repository hexproxy serves: looked in acme, then hexpm/);
  });

  it('does not take a rebar.lock entry from hexpm when acme, asked first, cannot answer', async () => {
    const { upstream, dataDir, args } = await orgSite();
    upstream.misbehave('/repos/acme/packages/pub_json', 'status-503');
    const lock = writeFile('rebar.lock', rebarLock(upstream, [{ name: 'pub_json', version: '1.1.0' }]));
    const result = await runCli(['prewarm', '--rebar-lock', lock, '--upstream-retries', '0', ...args]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /FAILED pub_json 1\.1\.0 \(.*rebar\.lock\): cannot look it up in acme \(.*503.*\), and a package of the same name in a repository after it may not be the one locked; not looked further/,
    );
    expect(upstream.hits('/packages/pub_json')).toBe(0);
    expect(cachedReleases(dataDir)).toEqual([]);
  });

  it('takes --repo: specs are looked up there, and dependencies followed to the repository they name', async () => {
    const { upstream, dataDir, args } = await orgSite();
    const result = await runCli(['prewarm', '--repo', 'acme', 'acme_core', ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(cachedReleases(dataDir).sort()).toEqual(['acme/acme_core@1.0.0', 'acme/acme_util@0.1.0', 'pub_json@1.1.0']);
    expect(upstream.hits('/packages/acme_util')).toBe(0);

    // Looked up in order: shared_name is acme's; pub_json, not in acme, hexpm's.
    const both = await runCli(['prewarm', '--repo', 'hexpm:acme,hexpm', 'shared_name', 'pub_json@1.0.0', ...args]);
    expect(both.code, both.stdout + both.stderr).toBe(0);
    expect(cachedReleases(dataDir)).toContain('acme/shared_name@1.0.0');
    expect(cachedReleases(dataDir)).toContain('pub_json@1.0.0');
    expect(cachedReleases(dataDir)).not.toContain('shared_name@1.0.0');

    const missing = await runCli(['prewarm', '--repo', 'acme', 'pub_json', ...args]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/FAILED pub_json: there is no package named pub_json in repository acme/);
  });

  it('refuses a --repo that is not served, naming the config key', async () => {
    const { args } = await orgSite();
    const result = await runCli(['prewarm', '--repo', 'globex', 'pub_json', ...args]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /--repo globex: hexproxy serves no repository globex \(it serves hexpm, acme\); configure it as organizations\.globex/,
    );
  });

  it('mirrors an organization with mirror --repo acme, and nothing of hexpm', async () => {
    const { upstream, dataDir, args } = await orgSite();
    const result = await runCli(['mirror', '--repo', 'acme', ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(cachedReleases(dataDir).sort()).toEqual(['acme/acme_core@1.0.0', 'acme/acme_util@0.1.0', 'acme/shared_name@1.0.0']);
    expect(upstream.hits('/names')).toBe(0);
    expect(result.stderr).toMatch(/mirror: acme: 3 packages, 3 releases/);
  });
});

describe('prewarm progress and lock file messages', () => {
  it('counts a release locked by a mix.lock and a rebar.lock once in the progress total', async () => {
    const { upstream, args } = await site();
    const locked = [
      { name: 'app_a', version: '1.2.0' },
      { name: 'app_b', version: '2.0.0' },
      { name: 'app_c', version: '0.1.0' },
    ];
    const mix = writeFile('mix.lock', mixLock(upstream, [...locked, { name: 'app_opt', version: '0.1.0' }]));
    const rebar = writeFile('rebar.lock', rebarLock(upstream, locked));
    const result = await runCli(['prewarm', '--mix-lock', mix, '--rebar-lock', rebar, ...args]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/fetched:\s+4/);
    const progress = result.stderr.split('\n').filter((line) => line.startsWith('prewarm '));
    expect(progress.length).toBe(4);
    expect(progress.at(-1)).toMatch(/^prewarm 4\/4: /);
  });

  it('says a rebar.lock given to --mix-lock is one, and the other way round', async () => {
    const { upstream, args } = await site();
    const rebar = writeFile('rebar.lock', rebarLock(upstream, [{ name: 'app_c', version: '0.1.0' }]));
    const asMix = await runCli(['prewarm', '--mix-lock', rebar, ...args]);
    expect(asMix.code).toBe(1);
    expect(asMix.stderr).toContain(`${rebar} is a rebar.lock, not a mix.lock: give it with --rebar-lock`);
    const mix = writeFile('mix.lock', mixLock(upstream, [{ name: 'app_c', version: '0.1.0' }]));
    const asRebar = await runCli(['prewarm', '--rebar-lock', mix, ...args]);
    expect(asRebar.code).toBe(1);
    expect(asRebar.stderr).toContain(`${mix} is a mix.lock, not a rebar.lock: give it with --mix-lock`);
  });

  it('refuses an empty lock file', async () => {
    const { args } = await site();
    const empty = writeFile('mix.lock', '\n');
    const result = await runCli(['prewarm', '--mix-lock', empty, ...args]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${empty} is empty`);
    const rebar = await runCli(['prewarm', '--rebar-lock', writeFile('rebar.lock', ''), ...args]);
    expect(rebar.code).toBe(1);
    expect(rebar.stderr).toMatch(/rebar\.lock is empty/);
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
