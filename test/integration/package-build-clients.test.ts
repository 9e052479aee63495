// Packages built by the real clients pass hexproxy's validation (src/hosted/package-tarball.ts)
// with the facts they state: Mix with the Hex archive (`mix hex.build`, requirements as a list
// of pairs naming their repository) and rebar3 with the rebar3_hex plugin (`rebar3 hex build`,
// requirements as a map from name to requirement, with no repository). With CI=true a missing
// client is a failure, not a skip.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatePackageTarball } from '../../src/hosted/package-tarball.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { tempDir } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';
import { installRebar3HexPlugin, rebar3HexPluginUnavailable } from '../support/rebar3-hex-plugin.js';

const mixProblem = await mixUnavailable();
const rebar3Problem = (await rebar3Available()) ? rebar3HexPluginUnavailable() : 'rebar3 is not on PATH (apt-get install -y rebar3)';

describe('the clients are installed', () => {
  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
    expect(mixProblem).toBeUndefined();
  });

  it.runIf(requireRebar3)("rebar3 runs and the rebar3_hex plugin's sources are in test/tools (CI=true)", () => {
    expect(rebar3Problem).toBeUndefined();
  });
});

describe.skipIf(mixProblem !== undefined)('a package built by mix hex.build', () => {
  it('validates, with the checksum Mix prints and the metadata and requirements of mix.exs', async () => {
    const home = await mixHome();
    const dir = tempDir('hexproxy-mix-build-');
    mkdirSync(join(dir, 'lib'));
    mkdirSync(join(dir, 'priv'));
    writeFileSync(
      join(dir, 'mix.exs'),
      `defmodule PubDemo.MixProject do
  use Mix.Project

  def project do
    [
      app: :pub_demo,
      version: "1.2.3-rc.1",
      elixir: "~> 1.14",
      description: "A package published to hexproxy",
      package: [
        licenses: ["Apache-2.0"],
        links: %{"Source" => "https://example.invalid/pub_demo"},
        files: ["lib", "priv", "mix.exs"],
        extra: %{"team" => "platform", "tier" => 2}
      ],
      deps: [
        {:jason, "~> 1.4"},
        {:acme_core, ">= 1.0.0 and < 3.0.0", organization: "acme", optional: true},
        {:telemetry, "~> 1.0", hex: :telemetry_fork}
      ]
    ]
  end
end
`,
    );
    writeFileSync(join(dir, 'lib', 'pub_demo.ex'), 'defmodule PubDemo do\n  def hello, do: :world\nend\n');
    writeFileSync(join(dir, 'priv', 'data.txt'), 'data\n');
    // A link inside the package, which hex_core packs as a link: it must pass.
    symlinkSync('data.txt', join(dir, 'priv', 'alias.txt'));

    const built = await home.mix(['hex.build'], dir);
    expect(built.code, built.output).toBe(0);
    const printed = /Package checksum: ([0-9a-f]{64})/.exec(built.output)?.[1];
    expect(printed, built.output).toBeDefined();

    const release = await validatePackageTarball(readFileSync(join(dir, 'pub_demo-1.2.3-rc.1.tar')), { name: 'pub_demo', version: '1.2.3-rc.1' });
    expect(release.outerChecksum.toString('hex')).toBe(printed);
    expect(release.requirements).toEqual([
      { name: 'jason', requirement: '~> 1.4', optional: false, app: 'jason', repository: 'hexpm' },
      { name: 'acme_core', requirement: '>= 1.0.0 and < 3.0.0', optional: true, app: 'acme_core', repository: 'acme' },
      { name: 'telemetry_fork', requirement: '~> 1.0', optional: false, app: 'telemetry', repository: 'hexpm' },
    ]);
    expect(release.metadata).toEqual({
      app: 'pub_demo',
      description: 'A package published to hexproxy',
      licenses: ['Apache-2.0'],
      links: { Source: 'https://example.invalid/pub_demo' },
      buildTools: ['mix'],
      elixir: '~> 1.14',
      fileCount: 6,
    });
    expect(release.metadataConfig).toContain('{<<"extra">>,');
  });
});

describe.skipIf(rebar3Problem !== undefined)('a package built by rebar3 hex build', () => {
  let upstream: FakeUpstream;

  beforeAll(async () => {
    // rebar3 resolves the dependencies (its lock is what rebar3_hex reads them from).
    upstream = await startFakeUpstream({
      packages: [
        { name: 'dep_a', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
        { name: 'dep_b', releases: [{ version: '0.2.0' }] },
      ],
    });
  });

  afterAll(async () => {
    await upstream?.close();
  });

  it('validates, with the metadata of the .app.src and requirements without a repository', async () => {
    const project = rebar3Project({ repoUrl: upstream.url, publicKeyPem: upstream.publicKeyPem, deps: [] });
    writeFileSync(join(project.dir, 'rebar.config'), '{deps, [{dep_a, "~> 1.0"}, dep_b]}.\n{plugins, [rebar3_hex]}.\n');
    writeFileSync(
      join(project.dir, 'src', 'demo.app.src'),
      '{application, demo, [{description, "An Erlang package"}, {vsn, "0.1.0"}, {applications, [kernel, stdlib, dep_a, dep_b]},\n' +
        ' {licenses, ["Apache-2.0"]}, {links, [{"Source", "https://example.invalid/demo"}]}]}.\n',
    );
    writeFileSync(join(project.dir, 'src', 'demo.erl'), '-module(demo).\n-export([hello/0]).\nhello() -> world.\n');
    await installRebar3HexPlugin(project.dir);

    const built = await project.run(['hex', 'build']);
    expect(built.code, built.output).toBe(0);
    const path = /Your package tarball is available at (\S+\.tar)/.exec(built.output)?.[1];
    if (path === undefined) throw new Error(`rebar3 hex build named no tarball:\n${built.output}`);

    const release = await validatePackageTarball(readFileSync(path), { name: 'demo', version: '0.1.0' });
    expect(release.requirements.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'dep_a', requirement: '~> 1.0', optional: false, app: 'dep_a' },
      // A dependency without a requirement in rebar.config gets "~>" and its locked version.
      { name: 'dep_b', requirement: '~>0.2.0', optional: false, app: 'dep_b' },
    ]);
    expect(release.metadata).toMatchObject({
      app: 'demo',
      description: 'An Erlang package',
      licenses: ['Apache-2.0'],
      links: { Source: 'https://example.invalid/demo' },
      buildTools: ['rebar3'],
    });
    expect(release.metadataConfig).toMatch(/\{<<"requirements">>,\s*\[\{<<"dep_/);
  });
});
