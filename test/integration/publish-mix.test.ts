// Publishing to a hosted repository with the real Mix and Hex client, as docs/hosting.md
// tells a team to: HEX_API_URL at hexproxy, HEX_API_KEY a write token, `mix hex.publish
// --organization acme --yes` (package and docs; a `docs` alias writing doc/index.html stands
// in for ex_doc, which cannot be fetched here). Then a second project gets the package and a
// hex.pm one through hexproxy, `mix hex.docs fetch` gets the docs, and --replace, --revert,
// `mix hex.retire` and `mix hex.info` do what they do against hex.pm. Refusals are printed
// by Mix with hexproxy's reason, and leave nothing stored. Debian's elixir and the Hex
// archive in test/tools/ (test/support/mix.ts); with CI=true their absence fails.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { mixPublish, mixRetire, mixRevert, publishEnvironment } from '../../src/clients/snippets.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { hostedSnapshot } from '../support/hosted-api.js';
import { mixHome, mixUnavailable, requireMix, type MixHome } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const unavailable = await mixUnavailable();

describe('Mix and Hex are installed', () => {
  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
    expect(unavailable).toBeUndefined();
  });
});

const WINDOW_SECONDS = 3600;

/** A Mix project of package `name` at `version`, whose `docs` alias writes doc/index.html. */
function packageProject(name: string, version: string, deps: string[] = [], description = `${name}, published to hexproxy`): string {
  const dir = tempDir('hexproxy-mix-publish-');
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', `${name}.ex`), `defmodule ${camel(name)} do\n  def version, do: "${version}"\nend\n`);
  writeFileSync(
    join(dir, 'mix.exs'),
    `defmodule ${camel(name)}.MixProject do
  use Mix.Project

  def project do
    [
      app: :${name},
      version: "${version}",
      description: ${JSON.stringify(description)},
      package: [licenses: ["Apache-2.0"], links: %{"Source" => "https://example.invalid/${name}"}],
      deps: [${deps.join(', ')}],
      aliases: [docs: &docs/1]
    ]
  end

  # Stands in for ex_doc's mix docs.
  defp docs(_args) do
    File.mkdir_p!("doc")
    File.write!("doc/index.html", "<h1>${name} ${version}</h1>")
  end
end
`,
  );
  return dir;
}

const camel = (name: string): string => name.replace(/(^|_)([a-z])/g, (_all, _sep: string, letter: string) => letter.toUpperCase());

describe.skipIf(unavailable !== undefined)('mix hex.publish --organization acme to hexproxy', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let store: HostedStore;
  let keyFile: string;
  let now = Date.parse('2025-03-01T12:00:00Z');
  const tokens = { write: '', read: '' };
  /** The publisher: commands run after docs/hosting.md's `export HEX_API_URL=… HEX_API_KEY="$HEXPROXY_TOKEN"`, with a write token. */
  let publisher: MixHome;
  /** A developer who depends on the package: hexpm at hexproxy with a read token. */
  let consumer: MixHome;
  let consumerProject: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }] }] });
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { hosted: { acme: { replaceWindowSeconds: WINDOW_SECONDS } } },
      clock: () => now,
    });
    const hosted = proxy.server.hexproxy.hosted;
    if (!hosted) throw new Error('hexproxy opened no hosted store');
    store = hosted;
    const file = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile);
    tokens.write = file.create('ci-publish', ['hexpm'], false, { write: ['acme'] }).secret;
    tokens.read = file.create('developer', ['hexpm', 'acme'], false).secret;
    keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);

    publisher = await mixHome();
    await repoSet(publisher, tokens.write);
    consumer = await mixHome();
    await repoSet(consumer, tokens.read);
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  /** The README's organization recipe: hexpm at hexproxy, verified with its key, with a token Hex must not exchange. */
  async function repoSet(home: MixHome, token: string): Promise<void> {
    const set = await home.mix(
      ['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile, '--auth-key', token, '--no-oauth-exchange'],
      tempDir(),
    );
    expect(set.code, set.output).toBe(0);
  }

  /** `command` as docs/hosting.md prints it, after its `export HEX_API_URL=… HEX_API_KEY=…`, with `token` (null: HEX_API_KEY left out). */
  function withApi(command: string, dir: string, token: string | null = tokens.write): Promise<{ code: number; output: string }> {
    const environment = token === null ? `export HEX_API_URL=${proxy.url}/api` : publishEnvironment(proxy.url);
    return publisher.shell(`${environment}\n${command}`, dir, { HEXPROXY_TOKEN: token ?? '', HEX_BUILDS_URL: proxy.url });
  }

  /** `mix hex.publish --organization acme --yes …` in `dir` (after `mix deps.get`: Mix loads the dependencies before it builds). */
  async function publish(
    dir: string,
    extra: string[] = [],
    token: string | null = tokens.write,
    depsGet = true,
  ): Promise<{ code: number; output: string }> {
    if (depsGet) {
      const deps = await publisher.mix(['deps.get'], dir);
      expect(deps.code, deps.output).toBe(0);
    }
    return withApi([mixPublish('acme'), '--yes', ...extra].join(' '), dir, token);
  }

  it('publishes the package and its docs; the release is stored with its hex.pm dependency', async () => {
    const dir = packageProject('acme_core', '1.0.0', ['{:pub_dep, "~> 2.0"}']);
    const published = await publish(dir);
    expect(published.code, published.output).toBe(0);
    expect(published.output).toContain(`Publishing package to private repository acme using ${proxy.url}/api.`);
    const checksum = createHash('sha256')
      .update(readFileSync(store.tarballFile('acme', 'acme_core', '1.0.0')?.path ?? ''))
      .digest('hex');
    expect(published.output).toContain(`Package published to ${proxy.url}/ui/repos/acme/packages/acme_core?version=1.0.0 (${checksum})`);
    expect(published.output).toContain(`Docs will soon be available at ${proxy.url}/repos/acme/docs/acme_core-1.0.0.tar.gz`);
    const release = store.release('acme', 'acme_core', '1.0.0');
    expect(release?.publisher).toBe('ci-publish');
    expect(release?.docs).toBeDefined();
    expect(release?.requirements).toEqual([{ name: 'pub_dep', requirement: '~> 2.0', optional: false, app: 'pub_dep', repository: 'hexpm' }]);
  });

  it('a second project gets acme_core (organization: "acme") and a hex.pm package through hexproxy', async () => {
    consumerProject = consumer.project(['{:acme_core, "~> 1.0", organization: "acme"}', '{:pub_dep, "~> 2.0"}']);
    const result = await consumer.mix(['deps.get'], consumerProject);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(consumerProject, 'mix.lock'), 'utf8');
    const inner = store.release('acme', 'acme_core', '1.0.0')?.innerChecksum.toString('hex');
    expect(lock).toContain(
      `"acme_core": {:hex, :acme_core, "1.0.0", "${inner}", [:mix], [{:pub_dep, "~> 2.0", [hex: :pub_dep, repo: "hexpm", optional: false]}], "hexpm:acme", `,
    );
    expect(lock).toContain(`"pub_dep": {:hex, :pub_dep, "2.0.0", "${upstream.tarball('pub_dep', '2.0.0').innerChecksum.toString('hex')}"`);
    expect(readFileSync(join(consumerProject, 'deps', 'acme_core', 'lib', 'acme_core.ex'), 'utf8')).toContain('"1.0.0"');
  });

  it('mix hex.docs fetch acme_core 1.0.0 --organization acme gets the docs', async () => {
    const fetched = await consumer.mix(['hex.docs', 'fetch', 'acme_core', '1.0.0', '--organization', 'acme'], tempDir());
    expect(fetched.code, fetched.output).toBe(0);
    expect(fetched.output).toContain('Docs fetched:');
    const index = findFile(consumer.env['HOME'] ?? '', 'index.html');
    expect(index && readFileSync(index, 'utf8')).toBe('<h1>acme_core 1.0.0</h1>');
  });

  it('mix hex.info acme_core --organization acme prints the package and its releases; mix hex.package search finds it', async () => {
    const info = await withApi('mix hex.info acme_core --organization acme', tempDir());
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain('acme_core, published to hexproxy');
    expect(info.output).toContain('Config: {:acme_core, "~> 1.0", organization: "acme"}');
    expect(info.output).toMatch(/Recent releases:\s+1\.0\.0 \(2025-03-01\)/);
    expect(info.output).toContain('Licenses: Apache-2.0');
    const release = await withApi('mix hex.info acme_core 1.0.0 --organization acme', tempDir());
    expect(release.code, release.output).toBe(0);
    expect(release.output).toContain('Dependencies:\n  pub_dep ~> 2.0');
    expect(release.output).toContain('Published by: ci-publish');
    const search = await withApi('mix hex.package search core --organization acme', tempDir());
    expect(search.code, search.output).toBe(0);
    expect(search.output).toMatch(/acme\s+\|?\s*acme_core\s+\|?\s*acme_core, published to hexproxy\s+\|?\s*1\.0\.0/);
    expect(search.output).toContain(`${proxy.url}/ui/repos/acme/packages/acme_core`);
  });

  it('--replace inside the window replaces the release; past it Mix prints why not, and nothing changes', async () => {
    const first = packageProject('acme_core', '1.1.0', ['{:pub_dep, "~> 2.0"}']);
    expect((await publish(first)).code).toBe(0);
    const before = store.release('acme', 'acme_core', '1.1.0')?.outerChecksum.toString('hex');
    const again = packageProject('acme_core', '1.1.0', ['{:pub_dep, "~> 2.0"}'], 'acme_core, published again');
    const unasked = await publish(again, ['package']);
    expect(unasked.code).not.toBe(0);
    expect(unasked.output).toContain('Publishing failed');
    expect(unasked.output).toContain('publish it again with --replace');
    const replaced = await publish(again, ['package', '--replace']);
    expect(replaced.code, replaced.output).toBe(0);
    expect(store.release('acme', 'acme_core', '1.1.0')?.outerChecksum.toString('hex')).not.toBe(before);
    expect(store.release('acme', 'acme_core', '1.1.0')?.metadata.description).toBe('acme_core, published again');

    now += (WINDOW_SECONDS + 60) * 1000;
    const snapshot = hostedSnapshot(store, proxy.dataDir, 'acme');
    const late = await publish(packageProject('acme_core', '1.1.0', ['{:pub_dep, "~> 2.0"}'], 'too late'), ['package', '--replace']);
    expect(late.code).not.toBe(0);
    expect(late.output).toContain('Publishing failed');
    expect(late.output).toContain('Validation error(s)');
    expect(late.output).toMatch(/inserted_at: acme\/acme_core 1\.1\.0 can no longer be replaced/);
    expect(hostedSnapshot(store, proxy.dataDir, 'acme')).toEqual(snapshot);
  });

  it('mix hex.publish --revert VERSION removes a release inside its window', async () => {
    const dir = packageProject('acme_core', '1.2.0', ['{:pub_dep, "~> 2.0"}']);
    expect((await publish(dir)).code).toBe(0);
    expect(store.versions('acme', 'acme_core')).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    const reverted = await withApi(mixRevert('acme', '1.2.0'), dir);
    expect(reverted.code, reverted.output).toBe(0);
    expect(reverted.output).toContain('Reverted acme_core 1.2.0');
    expect(store.versions('acme', 'acme_core')).toEqual(['1.0.0', '1.1.0']);
  });

  it('mix hex.retire, then mix deps.get warns about the retired release', async () => {
    const retired = await withApi(mixRetire('acme', 'acme_core', '1.0.0', 'security', 'use 1.0.1'), tempDir());
    expect(retired.code, retired.output).toBe(0);
    expect(retired.output).toContain('acme_core 1.0.0 has been retired');
    expect(store.release('acme', 'acme_core', '1.0.0')?.retirement).toEqual({ reason: 'security', message: 'use 1.0.1' });
    // The project's lock holds 1.0.0: Hex reads the retirement from the registry and says so.
    const result = await consumer.mix(['deps.get'], consumerProject);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('acme_core 1.0.0 RETIRED!');
    expect(result.output).toContain('(security) use 1.0.1');
    const info = await withApi('mix hex.info acme_core 1.0.0 --organization acme', tempDir());
    expect(info.output).toContain('This version has been retired: (security) use 1.0.1');
  });

  it('refused with a read-only token: Mix prints the reason, nothing is stored', async () => {
    const snapshot = hostedSnapshot(store, proxy.dataDir, 'acme');
    const refused = await publish(packageProject('acme_denied', '1.0.0'), [], tokens.read);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('Publishing failed');
    expect(refused.output).toContain(
      'token developer may not publish to repository acme; a token for it is made with hexproxy token create NAME --write acme',
    );
    expect(hostedSnapshot(store, proxy.dataDir, 'acme')).toEqual(snapshot);
  });

  it('refused without a token: Mix stops before sending anything, nothing is stored', async () => {
    const snapshot = hostedSnapshot(store, proxy.dataDir, 'acme');
    const refused = await publish(packageProject('acme_anon', '1.0.0'), [], null);
    expect(refused.code).not.toBe(0);
    // Hex asks who the key belongs to first (GET /api/users/me): with no key, it stops there.
    expect(refused.output).toContain('No authenticated user found. Run `mix hex.user auth`');
    expect(hostedSnapshot(store, proxy.dataDir, 'acme')).toEqual(snapshot);
  });

  it('refused for a dependency on a package that does not exist: Mix prints which, nothing is stored', async () => {
    const snapshot = hostedSnapshot(store, proxy.dataDir, 'acme');
    // only: :prod keeps Mix (in dev) from loading it, and it still goes into the package's requirements.
    const refused = await publish(packageProject('acme_ghostly', '1.0.0', ['{:ghost_pkg, "~> 1.0", only: :prod}']), [], tokens.write, false);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('Publishing failed');
    expect(refused.output).toContain('Validation error(s)');
    expect(refused.output).toMatch(/requirements:\s+ghost_pkg: package does not exist in repository "hexpm"/);
    expect(hostedSnapshot(store, proxy.dataDir, 'acme')).toEqual(snapshot);
  });
});

/** The first file named `name` under `dir`. */
function findFile(dir: string, name: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findFile(path, name);
      if (found) return found;
    } else if (entry.name === name) return path;
  }
  return undefined;
}
