// The web UI's Set me up page, run as printed: its commands and config entries are taken
// from the page's HTML and handed to the real Mix (Hex 2.5.1, Debian's Elixir) and rebar3
// (Debian's 3.19), for an open hexproxy, one that needs a token from every client, and one
// with a policy in force. The snippets are src/clients/snippets.ts, which README shows too
// (test/unit/readme-snippets.test.ts).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PLACEHOLDER } from '../../src/clients/snippets.js';
import { runCli } from '../support/cli.js';
import { BUILDS_SIGNING_KEY, startFakeBuilds, type FakeBuilds } from '../support/upstreams/fake-builds.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { hexArchive, mixHome, mixUnavailable, type MixHome } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project } from '../support/rebar3.js';

const execFileAsync = promisify(execFile);
const mixAvailable = (await mixUnavailable()) === undefined;
const rebar3 = await rebar3Available();
// mix.test.ts and rebar3.test.ts fail under CI=true when these are missing.

/** The text of the page's code block `id`, as a browser shows it; undefined if the page has none. */
function block(html: string, id: string): string | undefined {
  const match = new RegExp(`<pre id="${id}"[^>]*><code>([\\s\\S]*?)</code></pre>`).exec(html);
  return match?.[1]?.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
}

function required(html: string, id: string): string {
  const text = block(html, id);
  if (text === undefined) throw new Error(`the Set me up page has no block #${id}`);
  return text;
}

/** The Elixir this machine runs: Mix before 1.15 reads HEX_MIRROR for its builds, later ones HEX_BUILDS_URL. */
const elixirVersion = mixAvailable ? execFileSync('elixir', ['--short-version'], { encoding: 'utf8' }).trim() : '';
const buildsBlock = /^1\.(\d|1[0-4])\./.test(elixirVersion) ? 'mix-builds-old' : 'mix-builds';

const DEP = '{:pub_dep, "~> 2.0"}';

describe('the Set me up page, run as printed by Mix and rebar3', () => {
  let upstream: FakeUpstream;
  let builds: FakeBuilds;
  let open: TestProxy;
  let locked: TestProxy;
  let guarded: TestProxy;
  let token = '';
  let dir = '';

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }] }] });
    // The real Hex archive and rebar3 escript as builds, listed for Elixir 1.14 and later.
    builds = await startFakeBuilds([
      { list: 'hex-1.x.csv', version: '2.5.1', elixir: '1.14.0', bytes: readFileSync(hexArchive) },
      { list: 'rebar3-1.x.csv', version: '3.19.0', elixir: '1.14.0', bytes: readFileSync('/usr/bin/rebar3') },
    ]);
    const start = (flags: Record<string, string | boolean>, config?: Record<string, unknown>) =>
      startProxy({
        upstreamUrl: upstream.url,
        upstreamPublicKeyPem: upstream.publicKeyPem,
        flags: { 'installs-url': builds.url, ...flags },
        ...(config && { config }),
      });
    open = await start({});
    locked = await start({ 'require-token': true });
    guarded = await start({}, { policy: { deny: ['evil_*'] } });
    const created = await runCli(['token', 'create', 'dev', '--read', 'hexpm', '--data-dir', locked.dataDir]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
    dir = tempDir('hexproxy-setup-');
    // Stand-ins for keys the clients have built in: hex.pm's (the fake upstream's here) and Elixir's (the fake builds server's).
    writeFileSync(join(dir, 'upstream.pem'), upstream.publicKeyPem);
    writeFileSync(join(dir, 'builds.pem'), BUILDS_SIGNING_KEY.publicKeyPem);
  });

  afterAll(async () => {
    for (const proxy of [open, locked, guarded]) await proxy?.close();
    await upstream?.close();
    await builds?.close();
  });

  const page = async (proxy: TestProxy, withToken = false): Promise<string> => {
    const response = await proxy.get('/ui/setup', withToken ? { authorization: `Basic ${Buffer.from(`dev:${token}`).toString('base64')}` } : {});
    expect(response.status).toBe(200);
    return response.body.toString('utf8');
  };

  /** Mix trusts the upstream's key for `hexpm` as it trusts hex.pm's built-in one: what HEX_MIRROR users rely on. */
  const trustUpstreamKey = async (home: MixHome): Promise<void> => {
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--public-key', join(dir, 'upstream.pem')], dir)).code).toBe(0);
  };

  const fetched = (proxy: TestProxy, path: string): boolean =>
    proxy.logs.some((line) => line.msg === 'request' && line['path'] === path && line['status'] === 200);

  describe.skipIf(!mixAvailable)('Mix', () => {
    it("sets up the re-signed view with hexproxy's key and gets a dependency", async () => {
      const home = await mixHome();
      const setup = await home.shell(required(await page(open), 'mix-setup'), tempDir());
      expect(setup.code, setup.output).toBe(0);
      const project = home.project([DEP]);
      const result = await home.mix(['deps.get'], project);
      expect(result.code, result.output).toBe(0);
      expect(readFileSync(join(project, 'mix.lock'), 'utf8')).toContain('"pub_dep": {:hex, :pub_dep, "2.0.0"');
    });

    it(`installs Hex and rebar3 through hexproxy with the block for this Elixir (${elixirVersion}: #${buildsBlock})`, async () => {
      const html = await page(open);
      expect(html).toContain('Elixir 1.14 and earlier');
      expect(html).toContain('Elixir 1.15 and later');
      const home = await mixHome();
      expect((await home.mix(['local.public_keys', join(dir, 'builds.pem'), '--force'], dir)).code).toBe(0);
      const result = await home.shell(required(html, buildsBlock), tempDir());
      expect(result.code, result.output).toBe(0);
      expect(result.output).toMatch(/creating .*archives\/hex-2\.5\.1/);
      expect(result.output).toMatch(/creating .*rebar3/);
      expect(fetched(open, '/installs/1.14.0/hex-2.5.1.ez')).toBe(true);
      expect(fetched(open, '/installs/1.14.0/rebar3-3.19.0')).toBe(true);
      expect(existsSync(join(home.env['MIX_HOME'] as string, 'archives', 'hex-2.5.1'))).toBe(true);
    });

    it("gets a dependency through /mirror, verifying with the upstream's key", async () => {
      const home = await mixHome();
      await trustUpstreamKey(home);
      const result = await home.shell(required(await page(open), 'mix-mirror'), home.project([DEP]));
      expect(result.code, result.output).toBe(0);
      expect(fetched(open, '/mirror/packages/pub_dep')).toBe(true);
    });

    it('with a token required: the token variant, the netrc entry for /mirror and the builds with the token', async () => {
      const html = await page(locked, true);
      const env = { HEXPROXY_TOKEN: token };

      const resigned = await mixHome();
      const set = await resigned.shell(required(html, 'mix-token'), tempDir(), env);
      expect(set.code, set.output).toBe(0);
      const got = await resigned.mix(['deps.get'], resigned.project([DEP]));
      expect(got.code, got.output).toBe(0);

      const mirror = await mixHome();
      await trustUpstreamKey(mirror);
      const netrc = await mirror.shell(required(html, 'mix-netrc'), tempDir(), env);
      expect(netrc.code, netrc.output).toBe(0);
      const viaMirror = await mirror.shell(required(html, 'mix-mirror'), mirror.project([DEP]));
      expect(viaMirror.code, viaMirror.output).toBe(0);
      // The netrc entry covers every request Hex makes, its update check included.
      expect(viaMirror.output).not.toContain('No authenticated user found');
      expect(fetched(locked, '/mirror/packages/pub_dep')).toBe(true);

      const bootstrap = await mixHome();
      expect((await bootstrap.mix(['local.public_keys', join(dir, 'builds.pem'), '--force'], dir)).code).toBe(0);
      const installed = await bootstrap.shell(required(html, buildsBlock), tempDir(), env);
      expect(installed.code, installed.output).toBe(0);
      expect(fetched(locked, '/installs/1.14.0/hex-2.5.1.ez')).toBe(true);
    });
  });

  describe.skipIf(!rebar3)('rebar3', () => {
    /** HEX_CDN as `export HEX_CDN=URL` sets it. */
    const cdnOf = (html: string): string => required(html, 'rebar3-cdn').replace(/^export HEX_CDN=/, '');

    it('compiles a dependency with HEX_CDN and the config entry, and through /mirror', async () => {
      const html = await page(open);
      const project = rebar3Project({
        repoUrl: cdnOf(html),
        publicKeyPem: '',
        deps: ['pub_dep'],
        globalConfig: `${required(html, 'rebar3-config')}\n`,
      });
      const result = await project.run(['compile']);
      expect(result.code, result.output).toBe(0);
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', 'pub_dep', 'ebin', 'pub_dep.beam'))).toBe(true);

      // rebar3 keeps its built-in key for /mirror; the upstream's key stands in for hex.pm's.
      const mirror = rebar3Project({ repoUrl: undefined, publicKeyPem: upstream.publicKeyPem, deps: ['pub_dep'] });
      const viaMirror = await mirror.shell(required(html, 'rebar3-mirror'));
      expect(viaMirror.code, viaMirror.output).toBe(0);
      expect(fetched(open, '/mirror/packages/pub_dep')).toBe(true);
    });

    it('with a token required: the config entry with the token, and the /mirror entry', async () => {
      const html = await page(locked, true);
      const config = required(html, 'rebar3-config');
      expect(config).toContain(TOKEN_PLACEHOLDER);
      const project = rebar3Project({
        repoUrl: cdnOf(html),
        publicKeyPem: '',
        deps: ['pub_dep'],
        globalConfig: `${config.replaceAll(TOKEN_PLACEHOLDER, token)}\n`,
      });
      const result = await project.run(['compile']);
      expect(result.code, result.output).toBe(0);
      expect(locked.server.hexproxy.index.findTarball('hexpm', 'pub_dep', '2.0.0')).toBeDefined();

      // The page's entry has only the token; the upstream's key is added as the stand-in for rebar3's built-in hex.pm key.
      const entry = required(html, 'rebar3-mirror-config')
        .replaceAll(TOKEN_PLACEHOLDER, token)
        .replace('repo_key =>', `repo_public_key => <<"${upstream.publicKeyPem.trim()}">>, repo_key =>`);
      const mirror = rebar3Project({ repoUrl: undefined, publicKeyPem: '', deps: ['pub_dep'], globalConfig: `${entry}\n` });
      const viaMirror = await mirror.shell(required(html, 'rebar3-mirror'));
      expect(viaMirror.code, viaMirror.output).toBe(0);
    });
  });

  it("checks a downloaded key: the page's openssl line prints the fingerprint the page shows", async () => {
    const html = await page(open);
    const cwd = tempDir();
    const download = required(html, 'mix-setup').split('\n')[0] ?? '';
    expect(download).toMatch(/^curl /);
    // Not execFileSync: hexproxy runs in this process and must answer curl meanwhile.
    const { stdout: printed } = await execFileAsync('sh', ['-c', `${download} && ${required(html, 'fingerprint-check')}`], { cwd, encoding: 'utf8' });
    expect(printed.split(/\s/)[0]).toBe(open.server.hexproxy.keys.fingerprint);
    expect(html).toContain(`<code id="fingerprint">${open.server.hexproxy.keys.fingerprint}</code>`);
  });

  it('does not offer /mirror while a policy is in force, and says why', async () => {
    const html = await page(guarded);
    expect(block(html, 'mix-mirror')).toBeUndefined();
    expect(block(html, 'rebar3-mirror')).toBeUndefined();
    for (const id of ['mix-mirror-off', 'rebar3-mirror-off']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('403 blocked_by_policy');
    // What it would have offered is refused indeed.
    expect((await guarded.get('/mirror/packages/pub_dep')).status).toBe(403);
    // The re-signed view stays on offer.
    expect(block(html, 'mix-setup')).toContain(`mix hex.repo set hexpm --url ${guarded.url} --public-key hexproxy.pem`);
  });
});
