// Mix and the Hex client through hexproxy, as the README tells developers to set them up:
// `mix hex.repo set hexpm --url … --public-key …`, then `mix deps.get`. Debian's elixir and
// the Hex archive in test/tools/ (see test/support/mix.ts); with CI=true their absence fails.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { CRITICAL } from '../support/policy.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const unavailable = await mixUnavailable();
const available = unavailable === undefined;

describe('Mix and Hex are installed', () => {
  it.runIf(requireMix)('mix runs and the Hex archive is there (CI=true: .ci/run installs Debian\'s elixir)', () => {
    expect(unavailable).toBeUndefined();
  });
});

describe.skipIf(!available)('Mix through hexproxy', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let keyFile: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [
        { name: 'pol_a', releases: [{ version: '1.0.0', dependencies: [{ package: 'pol_b', requirement: '~> 1.0' }] }] },
        { name: 'pol_b', releases: [{ version: '1.0.0' }, { version: '1.1.0' }, { version: '1.2.0', advisories: [CRITICAL] }] },
      ],
    });
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy: { blockAdvisorySeverity: 'critical' } } });
    keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('gets a dependency tree, verifying hexproxy\'s key, and skips the release the policy blocks', async () => {
    const home = await mixHome();
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir())).code).toBe(0);
    const project = home.project(['{:pol_a, "~> 1.0"}']);
    const result = await home.mix(['deps.get'], project);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('pol_b 1.1.0');
    expect(result.output).not.toMatch(/verif|error/i);
    // The lock records upstream's checksums: hexproxy served upstream's tarballs unchanged.
    const lock = readFileSync(join(project, 'mix.lock'), 'utf8');
    for (const [name, version] of [['pol_a', '1.0.0'], ['pol_b', '1.1.0']] as const) {
      expect(lock).toContain(`"${name}": {:hex, :${name}, "${version}", "${upstream.tarball(name, version).innerChecksum.toString('hex')}"`);
      expect(lock).toContain(upstream.tarball(name, version).outerChecksum.toString('hex'));
      expect(readFileSync(join(project, 'deps', name, 'hex_metadata.config'), 'utf8')).toContain(`{<<"version">>,<<"${version}">>}`);
    }
    expect(upstream.hits('/tarballs/pol_b-1.2.0.tar')).toBe(0);
  });

  it('stops on a mix.lock pinning a blocked release, naming it, without fetching it', async () => {
    const home = await mixHome();
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir());
    const project = home.project(['{:pol_a, "~> 1.0"}'], mixLock(upstream, [
      { name: 'pol_a', version: '1.0.0', deps: [{ name: 'pol_b', requirement: '~> 1.0' }] },
      { name: 'pol_b', version: '1.2.0' },
    ]));
    const result = await home.mix(['deps.get'], project);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Unknown package version pol_b 1.2.0 in lockfile');
    expect(upstream.hits('/tarballs/pol_b-1.2.0.tar')).toBe(0);
  });

  it('refuses registry files when it trusts another key: hexproxy really re-signs', async () => {
    const home = await mixHome();
    const upstreamKey = join(tempDir('hexproxy-mix-key-'), 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', upstreamKey], tempDir());
    const result = await home.mix(['deps.get'], home.project(['{:pol_a, "~> 1.0"}']));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/signature verification failed/);
  });
});

describe.skipIf(!available)('Mix through hexproxy with a token: a private organization package and its public dependency', () => {
  const ACME_KEY = 'acme-upstream-key-for-mix';
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let keyFile: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }] }],
      organizations: {
        acme: { authKey: ACME_KEY, packages: [{ name: 'acme_core', releases: [{ version: '1.0.0', dependencies: [{ package: 'pub_dep', requirement: '~> 2.0', repository: 'hexpm' }] }] }] },
      },
    });
    const dir = tempDir('hexproxy-mix-org-');
    const orgKey = join(dir, 'acme.pem');
    writeFileSync(orgKey, upstream.organization('acme').publicKeyPem);
    proxy = await startProxy({
      upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { organizations: { acme: { authKey: ACME_KEY, publicKey: orgKey } } },
      flags: { 'require-token': true },
    });
    keyFile = join(dir, 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  async function token(read: string): Promise<string> {
    const created = await runCli(['token', 'create', `mix-${read.replace(',', '-')}`, '--read', read, '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    return created.stdout.trim();
  }

  it('gets hexpm:acme packages with the README\'s `--auth-key TOKEN --no-oauth-exchange`', async () => {
    const home = await mixHome();
    const set = await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', await token('hexpm,acme'), '--no-oauth-exchange'], tempDir());
    expect(set.code, set.output).toBe(0);
    const project = home.project(['{:acme_core, "~> 1.0", organization: "acme"}']);
    const result = await home.mix(['deps.get'], project);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(project, 'mix.lock'), 'utf8');
    expect(lock).toMatch(/"acme_core": \{:hex, :acme_core, "1\.0\.0", "[0-9a-f]{64}", \[:rebar3\], \[\{:pub_dep, "~> 2\.0", \[hex: :pub_dep, repo: "hexpm", optional: false\]\}\], "hexpm:acme", /);
    expect(lock).toContain(`"pub_dep": {:hex, :pub_dep, "2.0.0", "${upstream.tarball('pub_dep', '2.0.0').innerChecksum.toString('hex')}"`);
    expect(upstream.lastHeaders('/repos/acme/tarballs/acme_core-1.0.0.tar')?.authorization).toBe(ACME_KEY);
  });

  it('is refused without a token, and with one that may not read the organization', async () => {
    const anonymous = await mixHome();
    await anonymous.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir());
    const refused = await anonymous.mix(['deps.get'], anonymous.project(['{:pub_dep, "~> 2.0"}']));
    expect(refused.code).not.toBe(0);
    // Hex reads hexproxy's 401 as "not authenticated" and, answered nothing, gives up.
    expect(refused.output).toContain('No authenticated user found');
    expect(refused.output).toContain('No package with name pub_dep (from: mix.exs) in registry');

    const publicOnly = await mixHome();
    await publicOnly.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', await token('hexpm'), '--no-oauth-exchange'], tempDir());
    const forbidden = await publicOnly.mix(['deps.get'], publicOnly.project(['{:acme_core, "~> 1.0", organization: "acme"}']));
    expect(forbidden.code).not.toBe(0);
    expect(forbidden.output).toContain('No package with name acme_core (from: mix.exs) in registry');
  });
});

describe.skipIf(!available)('the Hex update check (/installs/hex-1.x.csv) when hexproxy has no build list and cannot fetch one', () => {
  // A site without internet and the default installs.url: the builds server's name does not resolve.
  const UNREACHABLE_BUILDS = 'http://builds.hex.invalid';
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'upd_a', releases: [{ version: '1.0.0' }] }] });
  });

  afterAll(async () => {
    await upstream?.close();
  });

  const start = (dataDir: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> => startProxy({
    upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir, flags: { 'installs-url': UNREACHABLE_BUILDS, ...flags },
  });

  /** deps.get of upd_a from a fresh Mix home (so Hex checks for a newer Hex) through `proxy`. */
  async function depsGet(proxy: TestProxy): Promise<string> {
    const keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
    const home = await mixHome();
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir())).code).toBe(0);
    const result = await home.mix(['deps.get'], home.project(['{:upd_a, "~> 1.0"}']));
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('upd_a 1.0.0');
    return result.output;
  }

  /** Nothing about the update check among the server errors: not in the log, not on the Status page. */
  async function expectNoServerError(proxy: TestProxy): Promise<void> {
    expect(proxy.logs.filter((line) => line.level >= 50)).toEqual([]);
    expect(proxy.logs.filter((line) => line.msg === 'request failed')).toEqual([]);
    const status = (await proxy.get('/ui/status')).body.toString();
    expect(status).toContain('id="no-errors"');
    expect(status).not.toContain('/installs/hex-1.x.csv');
  }

  it('online, with a builds server that cannot be reached: a one-line miss saying why and what uses the list, not a server error', async () => {
    const proxy = await start(tempDir());
    try {
      const output = await depsGet(proxy);
      // Hex prints its own line for any answer but 200, then hexproxy's one-line body.
      expect(output).toContain('Failed to check for new Hex version');
      expect(output).toContain(`hexproxy: /installs/hex-1.x.csv is not cached, and the builds server (installs.url ${UNREACHABLE_BUILDS}) cannot be reached`);
      expect(output).toContain('only Hex\'s update check and mix local.hex read this list');
      expect(output).not.toContain('upstream host');
      await expectNoServerError(proxy);
    } finally {
      await proxy.close();
    }
  });

  it('in --offline: the same miss, saying offline mode; nothing on the Status page', async () => {
    const dataDir = tempDir();
    const online = await start(dataDir);
    for (const path of ['/packages/upd_a', '/tarballs/upd_a-1.0.0.tar']) expect((await online.get(path)).status, path).toBe(200);
    await online.close();
    const proxy = await start(dataDir, { offline: true });
    try {
      const output = await depsGet(proxy);
      expect(output).toContain('Failed to check for new Hex version');
      expect(output).toContain('hexproxy: /installs/hex-1.x.csv is not cached, and hexproxy runs offline (--offline)');
      expect(output).toContain('only Hex\'s update check and mix local.hex read this list');
      await expectNoServerError(proxy);
    } finally {
      await proxy.close();
    }
  });
});
