// Publishing an Erlang package to a hosted repository with the real rebar3 and rebar3_hex
// (built offline from test/tools/, in _checkouts), as docs/hosting.md prints it: the
// repository listed as `hexpm:acme` in rebar3's global config, HEX_API_URL and HEX_API_KEY
// in the environment (rebar3_hex reads both with -r), `rebar3 hex publish -r hexpm:acme
// --yes`. Then a Mix project and a rebar3 project depend on it and fetch it, with its hex.pm
// dependency, through hexproxy. With CI=true a missing rebar3, Mix or plugin fails.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { publishEnvironment, rebar3Publish } from '../../src/clients/snippets.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { hostedSnapshot } from '../support/hosted-api.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3, type Rebar3Project } from '../support/rebar3.js';
import { installRebar3HexPlugin, rebar3HexPluginUnavailable } from '../support/rebar3-hex-plugin.js';

const rebar3Problem = (await rebar3Available()) ? rebar3HexPluginUnavailable() : 'rebar3 is not on PATH (apt-get install -y rebar3)';
const mixProblem = await mixUnavailable();

describe('the clients are installed', () => {
  it.runIf(requireRebar3)("rebar3 runs and the rebar3_hex plugin's sources are in test/tools (CI=true)", () => {
    expect(rebar3Problem).toBeUndefined();
  });

  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
    expect(mixProblem).toBeUndefined();
  });
});

describe.skipIf(rebar3Problem !== undefined)('rebar3 hex publish -r hexpm:acme to hexproxy', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let store: HostedStore;
  const tokens = { write: '', read: '' };

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }, { version: '2.1.0' }] }] });
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { hosted: { acme: {} } },
    });
    const hosted = proxy.server.hexproxy.hosted;
    if (!hosted) throw new Error('hexproxy opened no hosted store');
    store = hosted;
    const file = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile);
    tokens.write = file.create('ci-publish', ['hexpm'], false, { write: ['acme'] }).secret;
    tokens.read = file.create('developer', ['hexpm', 'acme'], false).secret;
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  /** A rebar3 project whose global config lists hexpm:acme before hexpm (the README's organization recipe), with `token` as acme's repo_key. */
  function project(token: string, deps: string[], env: Record<string, string> = {}): Rebar3Project {
    return rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: proxy.server.hexproxy.keys.publicKeyPem,
      deps,
      organizations: [{ name: 'acme', repoKey: token }],
      env,
    });
  }

  /** The Erlang application acme_erl 0.1.0, depending on pub_dep from hex.pm, with rebar3_hex in _checkouts. */
  async function publishingProject(): Promise<Rebar3Project> {
    const publisher = project(tokens.write, [], { HEXPROXY_TOKEN: tokens.write });
    rmSync(join(publisher.dir, 'src', 'demo.app.src'));
    writeFileSync(join(publisher.dir, 'rebar.config'), '{deps, [{pub_dep, "~> 2.0"}]}.\n{plugins, [rebar3_hex]}.\n');
    writeFileSync(
      join(publisher.dir, 'src', 'acme_erl.app.src'),
      '{application, acme_erl, [{description, "Acme\'s Erlang library"}, {vsn, "0.1.0"}, {applications, [kernel, stdlib, pub_dep]},\n' +
        ' {licenses, ["Apache-2.0"]}, {links, [{"Source", "https://example.invalid/acme_erl"}]}]}.\n',
    );
    writeFileSync(join(publisher.dir, 'src', 'acme_erl.erl'), '-module(acme_erl).\n-export([hello/0]).\nhello() -> pub_dep:module_info(module).\n');
    await installRebar3HexPlugin(publisher.dir);
    return publisher;
  }

  it('publishes an Erlang package non-interactively (--yes); its hex.pm dependency is stored as "hexpm"', async () => {
    const publisher = await publishingProject();
    const published = await publisher.shell(`${publishEnvironment(proxy.url)}\n${rebar3Publish('hexpm', 'acme')} --yes`);
    expect(published.code, published.output).toBe(0);
    expect(published.output).toContain('Publishing acme_erl 0.1.0 to hexpm:acme');
    expect(published.output).toContain('Published acme_erl 0.1.0');
    const release = store.release('acme', 'acme_erl', '0.1.0');
    expect(release?.publisher).toBe('ci-publish');
    expect(release?.metadata).toMatchObject({ app: 'acme_erl', description: "Acme's Erlang library", buildTools: ['rebar3'] });
    // rebar3_hex writes no repository: the package was found on hex.pm.
    expect(release?.requirements).toEqual([{ name: 'pub_dep', requirement: '~> 2.0', optional: false, app: 'pub_dep', repository: 'hexpm' }]);
  });

  it('is refused with a read-only token: rebar3 prints the reason, nothing is stored', async () => {
    const publisher = await publishingProject();
    writeFileSync(
      join(publisher.dir, 'src', 'acme_erl.app.src'),
      readFileSync(join(publisher.dir, 'src', 'acme_erl.app.src'), 'utf8').replace('0.1.0', '0.2.0'),
    );
    const before = hostedSnapshot(store, proxy.dataDir, 'acme');
    const refused = await publisher.shell(`HEXPROXY_TOKEN=${tokens.read}\n${publishEnvironment(proxy.url)}\n${rebar3Publish('hexpm', 'acme')} --yes`);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('token developer may not publish to repository acme');
    expect(hostedSnapshot(store, proxy.dataDir, 'acme')).toEqual(before);
  });

  it('a rebar3 project gets it and its hex.pm dependency through hexproxy (hexpm:acme before hexpm)', async () => {
    const consumer = project(tokens.read, ['{acme_erl, "~> 0.1"}']);
    const compiled = await consumer.run(['compile']);
    expect(compiled.code, compiled.output).toBe(0);
    const lock = readFileSync(join(consumer.dir, 'rebar.lock'), 'utf8');
    expect(lock).toMatch(/\{<<"acme_erl">>,\{pkg,<<"acme_erl">>,<<"0\.1\.0">>\},0\}/);
    expect(lock).toMatch(/\{<<"pub_dep">>,\{pkg,<<"pub_dep">>,<<"2\.1\.0">>\},1\}/);
    const outer = store.release('acme', 'acme_erl', '0.1.0')?.outerChecksum.toString('hex').toUpperCase();
    expect(lock).toContain(`{<<"acme_erl">>, <<"${outer}">>}`);
  });

  it.skipIf(mixProblem !== undefined)('a Mix project gets it (organization: "acme") and its hex.pm dependency through hexproxy', async () => {
    const home = await mixHome();
    const keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
    const set = await home.mix(
      ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', tokens.read, '--no-oauth-exchange'],
      tempDir(),
    );
    expect(set.code, set.output).toBe(0);
    const dir = home.project(['{:acme_erl, "~> 0.1", organization: "acme"}']);
    const result = await home.mix(['deps.get'], dir);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(dir, 'mix.lock'), 'utf8');
    expect(lock).toMatch(
      /"acme_erl": \{:hex, :acme_erl, "0\.1\.0", "[0-9a-f]{64}", \[:rebar3\], \[\{:pub_dep, "~> 2\.0", \[hex: :pub_dep, repo: "hexpm", optional: false\]\}\], "hexpm:acme", /,
    );
    expect(lock).toContain('"pub_dep": {:hex, :pub_dep, "2.1.0"');
  });
});
