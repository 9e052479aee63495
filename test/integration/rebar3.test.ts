// The final word: the real rebar3 resolves, fetches and compiles a dependency tree through
// hexproxy, verifying hexproxy's signature, from the fake upstream and from the registry
// made by the official Hex tooling.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PLACEHOLDER, rebar3Config, rebar3ConfigPrintf } from '../../src/clients/snippets.js';
import {
  startFakeUpstream,
  startStaticUpstream,
  type FakeUpstream,
  type ReleaseSpec,
  type StaticUpstream,
} from '../support/upstreams/fake-upstream.js';
import { OFFICIAL_REGISTRY } from '../support/fixtures.js';
import { runCli } from '../support/cli.js';
import { startOutside } from '../support/outside.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';

const available = await rebar3Available();

describe('rebar3 is installed', () => {
  it.runIf(requireRebar3)("rebar3 is on PATH (CI=true: .ci/run installs Debian's rebar3)", () => {
    expect(available).toBe(true);
  });
});

describe.skipIf(!available)('rebar3 through hexproxy', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [
        { name: 'app_a', releases: [{ version: '1.0.0' }, { version: '1.2.0', dependencies: [{ package: 'app_b', requirement: '~> 2.0' }] }] },
        { name: 'app_b', releases: [{ version: '2.0.0', dependencies: [{ package: 'app_c', requirement: '>= 0.1.0' }] }, { version: '3.0.0' }] },
        { name: 'app_c', releases: [{ version: '0.1.0' }, { version: '0.2.0-rc.1' }] },
        { name: 'app_d', releases: [{ version: '0.5.0' }] },
      ],
    });
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it("resolves, fetches and compiles a tree with a transitive dependency, verifying hexproxy's key", async () => {
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem, deps: ['app_a', 'app_d'] });
    const result = await project.run(['compile']);
    expect(result.output).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    for (const app of ['app_a', 'app_b', 'app_c', 'app_d']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    const locked: [string, string][] = [
      ['app_a', '1.2.0'],
      ['app_b', '2.0.0'],
      ['app_c', '0.1.0'],
      ['app_d', '0.5.0'],
    ];
    for (const [name, version] of locked) {
      expect(lock).toContain(`{pkg,<<"${name}">>,<<"${version}">>}`);
      const outer = upstream.tarball(name, version).outerChecksum.toString('hex').toUpperCase();
      expect(lock).toContain(`{<<"${name}">>, <<"${outer}">>}`);
      expect(proxy.server.hexproxy.index.findTarball('hexpm', name, version)).toBeDefined();
      expect(upstream.hits(`/tarballs/${name}-${version}.tar`)).toBe(1);
    }
  });

  it("works with the config entry README's printf one-liner writes", async () => {
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: '', deps: ['app_d'], globalConfig: '' });
    const written = await project.shell(`${rebar3ConfigPrintf(proxy.url, 'hexpm')} > "$HOME/.config/rebar3/rebar.config"`);
    expect(written.code, written.output).toBe(0);
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('Fetching app_d v0.5.0');
  });

  it('is refused by rebar3 when rebar3 trusts another key: hexproxy really re-signs', async () => {
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: upstream.publicKeyPem, deps: ['app_d'] });
    const result = await project.run(['get-deps']);
    expect(result.code).not.toBe(0);
    // rebar3's words for a registry file whose signature does not verify.
    expect(result.output).toMatch(/The registry repository hexpm uses a record format that has been deprecated for security reasons/);
    expect(existsSync(join(project.dir, '_build', 'default', 'lib', 'app_d'))).toBe(false);
  });
});

describe('the official Hex registry through hexproxy', () => {
  let upstream: StaticUpstream;
  let proxy: TestProxy;
  const fixture = (path: string): Buffer => readFileSync(new URL(path, OFFICIAL_REGISTRY));

  beforeAll(async () => {
    upstream = await startStaticUpstream(OFFICIAL_REGISTRY);
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: fixture('public_key').toString() });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('serves every tarball with the SHA-256 its signed registry names', async () => {
    const files = readdirSync(new URL('tarballs/', OFFICIAL_REGISTRY));
    expect(files.length).toBe(4);
    for (const file of files) {
      const response = await proxy.get(`/tarballs/${file}`);
      expect(response.status, file).toBe(200);
      const digest = createHash('sha256').update(response.body).digest('hex');
      expect(response.body.equals(fixture(`tarballs/${file}`)), file).toBe(true);
      expect(response.headers['etag']).toBe(`"${digest}"`);
    }
  });

  it.skipIf(!available)('lets rebar3 fetch acme_http and its dependency', async () => {
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem, deps: ['acme_http'] });
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    expect(lock).toContain('6F7488F189151DDBF0674B9DFE98D98A76D12EC125A2625AEDD83C7E15EEFD2B');
    expect(existsSync(join(project.dir, '_build', 'default', 'lib', 'acme_json'))).toBe(true);
  });
});

describe.skipIf(!available)('rebar3 through hexproxy: a private organization package with a public dependency', () => {
  const ACME_KEY = 'acme-upstream-key-for-rebar3';
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let token = '';

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [{ name: 'pub_json', releases: [{ version: '1.1.0' }] }],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            {
              name: 'acme_core',
              releases: [{ version: '1.0.0', dependencies: [{ package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' }] }],
            },
          ],
        },
      },
    });
    const dir = tempDir('hexproxy-rebar3-org-');
    const acmeKey = join(dir, 'acme.pem');
    writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKey } } }));
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { config } });
    const created = await runCli(['token', 'create', 'rebar3-ci', '--read', 'acme', '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('fetches and compiles it with a hexproxy token as repo_key', async () => {
    const project = rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['acme_core'],
      organizations: [{ name: 'acme', repoKey: token }],
    });
    const result = await project.run(['compile']);
    expect(result.code, result.output).toBe(0);
    for (const app of ['acme_core', 'pub_json']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    expect(proxy.server.hexproxy.index.findTarball('acme', 'acme_core', '1.0.0')).toBeDefined();
    expect(proxy.server.hexproxy.index.findTarball('hexpm', 'pub_json', '1.1.0')).toBeDefined();
    expect(upstream.hits('/repos/acme/tarballs/acme_core-1.0.0.tar')).toBe(1);
    // rebar3 looks for the public dependency in the organization first: hexproxy's 404 there sends it on to hexpm.
    expect(upstream.hits('/tarballs/pub_json-1.1.0.tar')).toBe(1);
  });

  it('doubles /repos/acme when the organization entry has a repo_url ending in it (README: keep HEX_CDN at the root)', async () => {
    const entry = rebar3Config(proxy.server.hexproxy.keys.publicKeyPem, 'hexpm', ['acme'], false)
      .replaceAll(TOKEN_PLACEHOLDER, token)
      .replace('#{name => <<"hexpm:acme">>,', `#{name => <<"hexpm:acme">>, repo_url => <<"${proxy.url}/repos/acme">>,`);
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: '', deps: ['acme_core'], globalConfig: `${entry}\n` });
    const result = await project.run(['get-deps']);
    expect(result.code).not.toBe(0);
    expect(
      proxy.logs.some((line) => line.msg === 'request' && line['path'] === '/repos/acme/repos/acme/packages/acme_core' && line['status'] === 404),
    ).toBe(true);
  });

  it('is refused without a token for the organization, and gets nothing private', async () => {
    const project = rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['acme_core'],
      organizations: [{ name: 'acme', repoKey: 'hxp_not-a-token' }],
    });
    const result = await project.run(['compile']);
    expect(result.code).not.toBe(0);
    expect(existsSync(join(project.dir, '_build', 'default', 'lib', 'acme_core'))).toBe(false);
  });
});

describe.skipIf(!available)('rebar3 through hexproxy with a policy: the newest allowed release wins', () => {
  const DAY = 86_400_000;
  const START = Date.parse('2026-11-22T12:00:00Z');
  const OLD = new Date('2024-01-01T00:00:00Z');
  const critical = { id: 'GHSA-pol-b-0001', summary: 'remote code execution in pol_b', severity: 4, aliases: ['CVE-2026-4242'] };
  // The proxies' clock: the minimum release age never depends on the real time.
  let now = START;

  interface Setup {
    upstream: FakeUpstream;
    proxy: TestProxy;
  }
  const started: Setup[] = [];
  let byAdvisory: Setup;
  let byAge: Setup;
  let byAll: Setup;

  /** pol_a 1.0.0 needs pol_b ~> 1.0; pol_b has the given releases. Its own upstream and proxy. */
  async function setup(polB: ReleaseSpec[], policy: Record<string, unknown>): Promise<Setup> {
    const upstream = await startFakeUpstream({
      packages: [
        { name: 'pol_a', releases: [{ version: '1.0.0', publishedAt: OLD, dependencies: [{ package: 'pol_b', requirement: '~> 1.0' }] }] },
        { name: 'pol_b', releases: polB },
      ],
    });
    const pair: Setup = {
      upstream,
      proxy: await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy }, clock: () => now }),
    };
    started.push(pair);
    return pair;
  }

  beforeAll(async () => {
    byAdvisory = await setup(
      [
        { version: '1.0.0', publishedAt: OLD },
        { version: '1.1.0', publishedAt: OLD },
        { version: '1.2.0', publishedAt: OLD, advisories: [critical] },
      ],
      { blockAdvisorySeverity: 'critical' },
    );
    byAge = await setup(
      // One day old at START: too new for a 7-day minimum age until START + 6 days.
      [
        { version: '1.0.0', publishedAt: OLD },
        { version: '1.1.0', publishedAt: OLD },
        { version: '1.2.0', publishedAt: new Date(START - DAY) },
      ],
      { minReleaseAge: '7d' },
    );
    byAll = await setup(
      [
        { version: '1.0.0', publishedAt: OLD },
        { version: '1.1.0', publishedAt: OLD },
        { version: '1.2.0', publishedAt: OLD, advisories: [critical] },
        { version: '1.3.0', publishedAt: new Date(START - DAY) },
      ],
      { deny: [{ match: 'pol_b@1.1.0', comment: 'bad build' }], blockAdvisorySeverity: 'critical', minReleaseAge: '7d' },
    );
  });

  afterAll(async () => {
    for (const { proxy, upstream } of started) {
      await proxy.close();
      await upstream.close();
    }
  });

  /** rebar3 compiles pol_a through the proxy and picks pol_b `expected`; the `blocked` tarballs are never asked of upstream. */
  async function expectResolved({ upstream, proxy }: Setup, expected: string, blocked: string[]): Promise<string> {
    const project = rebar3Project({ repoUrl: proxy.url, publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem, deps: ['pol_a'] });
    const result = await project.run(['compile']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toMatch(/error/i);
    const escaped = expected.replaceAll('.', '\\.');
    // rebar3's own words: "Fetching pol_b v1.1.0".
    expect(result.output).toMatch(new RegExp(`Fetching pol_b v${escaped}\\b`));

    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    expect(lock).toContain('{<<"pol_a">>,{pkg,<<"pol_a">>,<<"1.0.0">>},0}');
    expect(lock).toContain(`{<<"pol_b">>,{pkg,<<"pol_b">>,<<"${expected}">>},1}`);
    const outer = upstream.tarball('pol_b', expected).outerChecksum.toString('hex').toUpperCase();
    expect(lock).toContain(`{<<"pol_b">>, <<"${outer}">>}`);

    // What was compiled is that release: its .app and its module say so.
    const ebin = join(project.dir, '_build', 'default', 'lib', 'pol_b', 'ebin');
    expect(readFileSync(join(ebin, 'pol_b.app'), 'utf8')).toMatch(new RegExp(`\\{vsn,\\s*"${escaped}"\\}`));
    expect(existsSync(join(ebin, 'pol_b.beam'))).toBe(true);

    expect(upstream.hits(`/tarballs/pol_b-${expected}.tar`)).toBe(1);
    expect(upstream.hits('/tarballs/pol_a-1.0.0.tar')).toBe(1);
    for (const version of blocked) {
      expect(upstream.hits(`/tarballs/pol_b-${version}.tar`), version).toBe(0);
      expect(lock, version).not.toContain(`<<"${version}">>`);
    }
    return result.output;
  }

  it('skips a release with a critical advisory (blockAdvisorySeverity: critical)', async () => {
    await expectResolved(byAdvisory, '1.1.0', ['1.2.0']);
  });

  it('skips a release younger than minReleaseAge (7d, by the injected clock), and takes it once it comes of age', async () => {
    await expectResolved(byAge, '1.1.0', ['1.2.0']);
    now = START + 6 * DAY;
    try {
      // A fresh project (and rebar3 cache): the release is now old enough.
      await expectResolved(byAge, '1.2.0', []);
    } finally {
      now = START;
    }
    expect(byAge.upstream.hits('/tarballs/pol_b-1.1.0.tar')).toBe(1);
  });

  it('falls back past a deny rule, an advisory and the minimum age at once', async () => {
    await expectResolved(byAll, '1.0.0', ['1.1.0', '1.2.0', '1.3.0']);
  });

  it('says "Package not found in any repo" when the policy hides every release a requirement allows', async () => {
    const project = rebar3Project({
      repoUrl: byAdvisory.proxy.url,
      publicKeyPem: byAdvisory.proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['{pol_b, "~> 1.2"}'],
    });
    const result = await project.run(['get-deps']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Package not found in any repo: pol_b ~> 1.2');
  });

  it('through /mirror under the policy: "Failed to update package"; DEBUG=1 shows hexproxy\'s 403 and its reason', async () => {
    const { proxy, upstream } = byAdvisory;
    // The upstream's key stands in for hex.pm's, which rebar3 has built in.
    const result = await rebar3Project({ repoUrl: `${proxy.url}/mirror`, publicKeyPem: upstream.publicKeyPem, deps: ['pol_a'] }).run(['get-deps']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Failed to update package pol_a from repo hexpm');
    expect(result.output).toContain('Package not found in any repo: pol_a');
    expect(result.output).not.toContain('hexproxy:');
    const debug = await rebar3Project({
      repoUrl: `${proxy.url}/mirror`,
      publicKeyPem: upstream.publicKeyPem,
      deps: ['pol_a'],
      env: { DEBUG: '1' },
    }).run(['get-deps']);
    expect(debug.output).toMatch(/Hex get_package request failed: \{ok,\{403,/);
    expect(debug.output).toContain("hexproxy: the pass-through view (/mirror) serves upstream's signed registry files unchanged");
  });

  // rebar3 checks a locked release against /packages/NAME before fetching it, so a lock
  // pinning a blocked release fails even where tarballs are "locked-ok" (README: Policies).
  it.each(['locked-ok', 'strict'])('refuses a rebar.lock pinning a blocked release (tarballs: %s), without fetching it', async (tarballs) => {
    const pinned = await setup(
      [
        { version: '1.0.0', publishedAt: OLD },
        { version: '1.2.0', publishedAt: OLD },
      ],
      { deny: ['pol_b@1.2.0'], tarballs },
    );
    const project = rebar3Project({
      repoUrl: pinned.proxy.url,
      publicKeyPem: pinned.proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['{pol_b, "1.2.0"}'],
    });
    const tarball = pinned.upstream.tarball('pol_b', '1.2.0');
    const hex = (bytes: Buffer): string => bytes.toString('hex').toUpperCase();
    writeFileSync(
      join(project.dir, 'rebar.lock'),
      [
        '{"1.2.0",',
        '[{<<"pol_b">>,{pkg,<<"pol_b">>,<<"1.2.0">>},0}]}.',
        '[',
        `{pkg_hash,[{<<"pol_b">>, <<"${hex(tarball.innerChecksum)}">>}]},`,
        `{pkg_hash_ext,[{<<"pol_b">>, <<"${hex(tarball.outerChecksum)}">>}]}`,
        '].',
        '',
      ].join('\n'),
    );
    const result = await project.run(['compile']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Package not found in any repo: pol_b 1.2.0');
    expect(pinned.upstream.hits('/tarballs/pol_b-1.2.0.tar')).toBe(0);
  });
});

describe.skipIf(!available)('rebar3 with a token (auth.requireToken)', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let token = '';

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'app_d', releases: [{ version: '0.5.0' }] }] });
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'require-token': true } });
    const created = await runCli(['token', 'create', 'rebar3-dev', '--read', 'hexpm', '--data-dir', proxy.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  const withToken = (): string =>
    `${rebar3Config(proxy.server.hexproxy.keys.publicKeyPem, 'hexpm', [], true).replaceAll(TOKEN_PLACEHOLDER, token)}\n`;

  it("fetches with README's entry (repo_key) and HEX_CDN", async () => {
    const result = await rebar3Project({ repoUrl: proxy.url, publicKeyPem: '', deps: ['app_d'], globalConfig: withToken() }).run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('Fetching app_d v0.5.0');
  });

  it('ignores a repo_url in the hexpm entry: without HEX_CDN it goes to repo.hex.pm (README printed that once)', async () => {
    const outside = await startOutside();
    try {
      const entry = withToken().replace('#{name => <<"hexpm">>,', `#{name => <<"hexpm">>,\n                  repo_url => <<"${proxy.url}">>,`);
      const project = rebar3Project({
        repoUrl: undefined,
        publicKeyPem: '',
        deps: ['app_d'],
        globalConfig: entry,
        env: { https_proxy: outside.proxyUrl },
      });
      const logged = proxy.logs.length;
      const result = await project.run(['get-deps']);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('Failed to update package app_d from repo hexpm');
      expect(outside.wanted).toContain('repo.hex.pm:443');
      expect(proxy.logs.slice(logged).some((line) => line.msg === 'request')).toBe(false);
    } finally {
      await outside.close();
    }
  });

  it('sends the token as basic auth from the URL in HEX_CDN', async () => {
    const project = rebar3Project({
      repoUrl: proxy.url.replace('://', `://rebar3:${token}@`),
      publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem,
      deps: ['app_d'],
    });
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
  });
});
