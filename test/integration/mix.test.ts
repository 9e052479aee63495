// Mix and the Hex client through hexproxy, as the README tells developers to set them up:
// `mix hex.repo set hexpm --url … --public-key …`, then `mix deps.get`. Debian's elixir and
// the Hex archive in test/tools/ (see test/support/mix.ts); with CI=true their absence fails.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixBackToHexpm, netrcEntry } from '../../src/clients/snippets.js';
import { projectRoot } from '../../src/paths.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { mixHome, mixUnavailable, requireMix, type MixHome } from '../support/mix.js';
import { CRITICAL } from '../support/policy.js';
import { startOutside } from '../support/outside.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const unavailable = await mixUnavailable();
const available = unavailable === undefined;

describe('Mix and Hex are installed', () => {
  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
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
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { policy: { blockAdvisorySeverity: 'critical' } },
    });
    keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it("gets a dependency tree, verifying hexproxy's key, and skips the release the policy blocks", async () => {
    const home = await mixHome();
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir())).code).toBe(0);
    const project = home.project(['{:pol_a, "~> 1.0"}']);
    const result = await home.mix(['deps.get'], project);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('pol_b 1.1.0');
    expect(result.output).not.toMatch(/verif|error/i);
    // The lock records upstream's checksums: hexproxy served upstream's tarballs unchanged.
    const lock = readFileSync(join(project, 'mix.lock'), 'utf8');
    for (const [name, version] of [
      ['pol_a', '1.0.0'],
      ['pol_b', '1.1.0'],
    ] as const) {
      expect(lock).toContain(`"${name}": {:hex, :${name}, "${version}", "${upstream.tarball(name, version).innerChecksum.toString('hex')}"`);
      expect(lock).toContain(upstream.tarball(name, version).outerChecksum.toString('hex'));
      expect(readFileSync(join(project, 'deps', name, 'hex_metadata.config'), 'utf8')).toContain(`{<<"version">>,<<"${version}">>}`);
    }
    expect(upstream.hits('/tarballs/pol_b-1.2.0.tar')).toBe(0);
  });

  it('stops on a mix.lock pinning a blocked release, naming it, without fetching it', async () => {
    const home = await mixHome();
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir());
    const project = home.project(
      ['{:pol_a, "~> 1.0"}'],
      mixLock(upstream, [
        { name: 'pol_a', version: '1.0.0', deps: [{ name: 'pol_b', requirement: '~> 1.0' }] },
        { name: 'pol_b', version: '1.2.0' },
      ]),
    );
    const result = await home.mix(['deps.get'], project);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Unknown package version pol_b 1.2.0 in lockfile');
    expect(upstream.hits('/tarballs/pol_b-1.2.0.tar')).toBe(0);
  });

  it('says no version matches when the policy hides every release a requirement allows, and the log names them', async () => {
    const home = await mixHome();
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir());
    const result = await home.mix(['deps.get'], home.project(['{:pol_b, "~> 1.2"}']));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Because "your app" depends on "pol_b ~> 1.2" which doesn\'t match any versions, version solving failed.');
    expect(
      proxy.logs.some((line) => line.msg === 'request' && line['path'] === '/packages/pol_b' && line['policyHidden'] === '1.2.0 (advisory)'),
    ).toBe(true);
  });

  it("through /mirror under the policy: Mix says no such package; MIX_DEBUG=1 shows hexproxy's reason, and hexproxy logs it", async () => {
    const home = await mixHome();
    // The upstream's key stands in for hex.pm's, which Hex has built in.
    const upstreamKey = join(tempDir('hexproxy-mix-key-'), 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    await home.mix(['hex.repo', 'set', 'hexpm', '--public-key', upstreamKey], tempDir());
    const mirror = { HEX_MIRROR: `${proxy.url}/mirror` };
    const result = await home.mix(['deps.get'], home.project(['{:pol_a, "~> 1.0"}']), mirror);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Failed to fetch record for pol_a from registry');
    expect(result.output).toContain(
      "This could be because the package does not exist, it was spelled incorrectly or you don't have permissions to it",
    );
    expect(result.output).toContain('No package with name pol_a (from: mix.exs) in registry');
    expect(result.output).not.toContain('hexproxy:');
    const debug = await home.mix(['deps.get'], home.project(['{:pol_a, "~> 1.0"}']), { ...mirror, MIX_DEBUG: '1' });
    expect(debug.output).toContain(
      "hexproxy: the pass-through view (/mirror) serves upstream's signed registry files unchanged, so it cannot apply hexproxy's policy",
    );
    expect(proxy.logs.some((line) => line.msg === 'refused by the policy' && line.level === 30 && line['path'] === '/mirror/packages/pol_a')).toBe(
      true,
    );
  });

  it("goes back to hex.pm with `mix hex.repo set` and hex.pm's key, or with `mix hex.repo remove hexpm`", async () => {
    const home = await mixHome();
    const cwd = tempDir();
    const show = async (): Promise<string> => (await home.mix(['hex.repo', 'show', 'hexpm'], cwd)).output;
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], cwd);
    const atProxy = await show();
    expect(atProxy).toContain(proxy.url);
    // README's command with the key this repository ships.
    const back = await home.shell(
      mixBackToHexpm('hexpm').replace('path/to/hexpm_public_key.pem', join(projectRoot, 'keys', 'hexpm_public_key.pem')),
      cwd,
    );
    expect(back.code, back.output).toBe(0);
    const atHexpm = await show();
    const hexpmKey = /SHA256:\S+/.exec(atHexpm)?.[0];
    expect(atHexpm).toContain('https://repo.hex.pm');
    expect(hexpmKey).toBeDefined();
    expect(atProxy).not.toContain(hexpmKey);

    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], cwd);
    expect((await home.mix(['hex.repo', 'remove', 'hexpm'], cwd)).code).toBe(0);
    // Hex's built-in hexpm: hex.pm's URL and key.
    const builtIn = await show();
    expect(builtIn).toContain('https://repo.hex.pm');
    expect(builtIn).toContain(hexpmKey);
  });

  it("`mix hex.info` and `mix hex.search` need hex.pm's API and search.hexdocs.pm; `mix hex.package fetch` goes through hexproxy", async () => {
    const home = await mixHome();
    await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir());
    const outside = await startOutside();
    try {
      const behindFirewall = { HTTPS_PROXY: outside.proxyUrl, https_proxy: outside.proxyUrl };
      const info = await home.mix(['hex.info', 'pol_b'], tempDir(), behindFirewall);
      expect(info.output).toContain('Failed to retrieve package information');
      const search = await home.mix(['hex.search', 'pol'], tempDir(), behindFirewall);
      expect(search.code).not.toBe(0);
      expect(search.output).toContain('Docs search request failed');
      expect(outside.wanted).toEqual(expect.arrayContaining(['hex.pm:443', 'search.hexdocs.pm:443']));

      // Without a version, `fetch` asks hex.pm's API for the latest one.
      const latest = await home.mix(['hex.package', 'fetch', 'pol_b'], tempDir(), behindFirewall);
      expect(latest.code).not.toBe(0);
      const cwd = tempDir();
      const fetched = await home.mix(['hex.package', 'fetch', 'pol_b', '1.1.0', '--unpack'], cwd, behindFirewall);
      expect(fetched.code, fetched.output).toBe(0);
      expect(readFileSync(join(cwd, 'pol_b-1.1.0', 'hex_metadata.config'), 'utf8')).toContain('{<<"version">>,<<"1.1.0">>}');
      expect(proxy.logs.some((line) => line.msg === 'request' && line['path'] === '/tarballs/pol_b-1.1.0.tar' && line['status'] === 200)).toBe(true);
      expect(outside.wanted.filter((target) => target.startsWith('repo.hex.pm'))).toEqual([]);
    } finally {
      await outside.close();
    }
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
        acme: {
          authKey: ACME_KEY,
          packages: [
            {
              name: 'acme_core',
              releases: [{ version: '1.0.0', dependencies: [{ package: 'pub_dep', requirement: '~> 2.0', repository: 'hexpm' }] }],
            },
          ],
        },
      },
    });
    const dir = tempDir('hexproxy-mix-org-');
    const orgKey = join(dir, 'acme.pem');
    writeFileSync(orgKey, upstream.organization('acme').publicKeyPem);
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
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

  let tokens = 0;
  async function token(read: string): Promise<string> {
    tokens += 1;
    const created = await runCli(['token', 'create', `mix-${read.replace(',', '-')}-${tokens}`, '--read', read, '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    return created.stdout.trim();
  }

  it("gets hexpm:acme packages with the README's `--auth-key TOKEN --no-oauth-exchange`", async () => {
    const home = await mixHome();
    const set = await home.mix(
      ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', await token('hexpm,acme'), '--no-oauth-exchange'],
      tempDir(),
    );
    expect(set.code, set.output).toBe(0);
    const project = home.project(['{:acme_core, "~> 1.0", organization: "acme"}']);
    const result = await home.mix(['deps.get'], project);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(project, 'mix.lock'), 'utf8');
    expect(lock).toMatch(
      /"acme_core": \{:hex, :acme_core, "1\.0\.0", "[0-9a-f]{64}", \[:rebar3\], \[\{:pub_dep, "~> 2\.0", \[hex: :pub_dep, repo: "hexpm", optional: false\]\}\], "hexpm:acme", /,
    );
    expect(lock).toContain(`"pub_dep": {:hex, :pub_dep, "2.0.0", "${upstream.tarball('pub_dep', '2.0.0').innerChecksum.toString('hex')}"`);
    expect(upstream.lastHeaders('/repos/acme/tarballs/acme_core-1.0.0.tar')?.authorization).toBe(ACME_KEY);
    // Hex 2.5.1 deprecates stored keys for organizations, and still uses them.
    expect(result.output).toContain('Authenticating to the acme repository with a stored key is deprecated');
  });

  it('needs `mix hex.organization deauth acme` after an earlier authorization against hex.pm', async () => {
    const home = await mixHome();
    const cwd = tempDir();
    await home.mix(
      ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', await token('hexpm,acme'), '--no-oauth-exchange'],
      cwd,
    );
    // As `mix hex.organization auth acme --key KEY` left it on a machine that once reached hex.pm
    // (here its API is a closed port, so the key check fails, but the key is stored anyway).
    await home.mix(['hex.organization', 'auth', 'acme', '--key', 'a-hexpm-organization-key'], cwd, { HEX_API_URL: 'http://127.0.0.1:1/api' });
    const stale = await home.mix(['deps.get'], home.project(['{:acme_core, "~> 1.0", organization: "acme"}']));
    expect(stale.code).not.toBe(0);
    expect(stale.output).toContain('No package with name acme_core (from: mix.exs) in registry');
    expect((await home.mix(['hex.organization', 'deauth', 'acme'], cwd)).code).toBe(0);
    const result = await home.mix(['deps.get'], home.project(['{:acme_core, "~> 1.0", organization: "acme"}']));
    expect(result.code, result.output).toBe(0);
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
    await publicOnly.mix(
      ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', await token('hexpm'), '--no-oauth-exchange'],
      tempDir(),
    );
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

  const start = (dataDir: string, flags: Record<string, string | boolean> = {}): Promise<TestProxy> =>
    startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir,
      flags: { 'installs-url': UNREACHABLE_BUILDS, ...flags },
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
      expect(output).toContain(
        `hexproxy: /installs/hex-1.x.csv is not cached, and the builds server (installs.url ${UNREACHABLE_BUILDS}) cannot be reached`,
      );
      expect(output).toContain("only Hex's update check and mix local.hex read this list");
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
      expect(output).toContain("only Hex's update check and mix local.hex read this list");
      await expectNoServerError(proxy);
    } finally {
      await proxy.close();
    }
  });
});

describe.skipIf(!available)('Mix with a token (auth.requireToken): what sends it, and what does not', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let keyFile: string;
  let upstreamKey: string;
  let token = '';

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }] }] });
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'require-token': true } });
    const dir = tempDir('hexproxy-mix-token-');
    keyFile = join(dir, 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
    upstreamKey = join(dir, 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    const created = await runCli(['token', 'create', 'mix-dev', '--read', 'hexpm', '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  /** A Mix home that verifies `hexpm` with the upstream's key, standing in for hex.pm's built-in one (what HEX_MIRROR users have). */
  async function mirrorHome(): Promise<MixHome> {
    const home = await mixHome();
    await home.mix(['hex.repo', 'set', 'hexpm', '--public-key', upstreamKey], tempDir());
    return home;
  }

  const mirrorUrl = (userinfo = ''): string => `${proxy.url.replace('://', `://${userinfo}`)}/mirror`;

  it('HEX_REPOS_KEY with HEX_MIRROR sends nothing: Hex gives no key to an untrusted mirror (401, auth_declined)', async () => {
    const home = await mirrorHome();
    const result = await home.mix(['deps.get'], home.project(['{:pub_dep, "~> 2.0"}']), { HEX_MIRROR: mirrorUrl(), HEX_REPOS_KEY: token });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('{:auth_error, :auth_declined}');
    expect(result.output).toContain('No package with name pub_dep (from: mix.exs) in registry');
    expect(proxy.logs.some((line) => line.msg === 'request' && line['path'] === '/mirror/packages/pub_dep' && line['status'] === 401)).toBe(true);
  });

  it('/mirror with the token as basic auth in HEX_MIRROR (any user name and the token, or the token alone)', async () => {
    for (const userinfo of [`hexproxy:${token}@`, `${token}@`]) {
      const home = await mirrorHome();
      const result = await home.mix(['deps.get'], home.project(['{:pub_dep, "~> 2.0"}']), { HEX_MIRROR: mirrorUrl(userinfo) });
      expect(result.code, result.output).toBe(0);
    }
  });

  it("/mirror with `mix hex.repo set hexpm --url …/mirror --auth-key … --no-oauth-exchange`, keeping Hex's key", async () => {
    const home = await mirrorHome();
    const set = await home.mix(['hex.repo', 'set', 'hexpm', '--url', mirrorUrl(), '--auth-key', token, '--no-oauth-exchange'], tempDir());
    expect(set.code, set.output).toBe(0);
    const result = await home.mix(['deps.get'], home.project(['{:pub_dep, "~> 2.0"}']));
    expect(result.code, result.output).toBe(0);
    expect(proxy.logs.some((line) => line.msg === 'request' && line['path'] === '/mirror/packages/pub_dep' && line['status'] === 200)).toBe(true);
  });

  it("without --no-oauth-exchange Hex first swaps the key for an OAuth token at hex.pm's API, and sends hexproxy that token instead", async () => {
    // hex.pm's API (HEX_API_URL) as a local server that records what it is asked and hands out a token.
    const exchanges: { path: string; body: string }[] = [];
    const grant = Buffer.from(
      execFileSync(
        'elixir',
        ['-e', ':erlang.term_to_binary(%{"access_token" => "an-oauth-token-of-hexpm", "expires_in" => 3600}) |> Base.encode64() |> IO.write()'],
        { encoding: 'utf8' },
      ),
      'base64',
    );
    const api = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        exchanges.push({ path: request.url ?? '', body });
        response.writeHead(200, { 'content-type': 'application/vnd.hex+erlang' }).end(grant);
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const address = api.address();
      const apiUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api`;
      const home = await mixHome();
      await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', token], tempDir());
      const result = await home.mix(['deps.get'], home.project(['{:pub_dep, "~> 2.0"}']), { HEX_API_URL: apiUrl });
      expect(result.code).not.toBe(0);
      expect(exchanges.map((exchange) => exchange.path)).toContain('/api/oauth/token');
      expect(exchanges.some((exchange) => exchange.body.includes(token))).toBe(true);
      // hexproxy gets hex.pm's OAuth token, which it does not know.
      const refused = proxy.logs.filter((line) => line.msg === 'request' && line['path'] === '/packages/pub_dep');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((line) => line['status'] === 401)).toBe(true);
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });

  it("--auth-key alone: Hex's update check sends no key and Mix asks to authenticate; with the netrc entry too it does not", async () => {
    const setUp = async (): Promise<MixHome> => {
      const home = await mixHome();
      await home.mix(
        ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', token, '--no-oauth-exchange'],
        tempDir(),
      );
      return home;
    };
    const plain = await setUp();
    const asked = await plain.mix(['deps.get'], plain.project(['{:pub_dep, "~> 2.0"}']));
    expect(asked.code, asked.output).toBe(0);
    expect(asked.output).toContain('No authenticated user found. Do you want to authenticate now?');
    expect(asked.output).toContain('Failed to check for new Hex version');

    const withNetrc = await setUp();
    const netrc = await withNetrc.shell(netrcEntry(proxy.url), tempDir(), { HEXPROXY_TOKEN: token });
    expect(netrc.code, netrc.output).toBe(0);
    const quiet = await withNetrc.mix(['deps.get'], withNetrc.project(['{:pub_dep, "~> 2.0"}']));
    expect(quiet.code, quiet.output).toBe(0);
    expect(quiet.output).not.toContain('No authenticated user found');
    expect(quiet.output).not.toContain('Failed to check for new Hex version');
  });
});
