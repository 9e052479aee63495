// The air gap with a private organization, end to end with the real clients (issue 15,
// item 2). A lock file made by real Mix (or rebar3) through hexproxy with a token for
// organization acme holds a private package and its public dependency. Site A pre-warms it
// from the lock (CLI) and exports everything it has; site B, a fresh data directory with
// acme configured and no upstream, imports the bundle and runs `hexproxy serve --offline`;
// real Mix (or rebar3), fresh, with a token of B that may read acme, gets both packages.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/bundle/manifest.js';
import { cliPath, runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';

const mixMissing = await mixUnavailable();
const rebar3Present = await rebar3Available();
const ACME_KEY = 'acme-upstream-key-for-the-air-gap';
// Nothing listens here: site B's upstream is unreachable as well as switched off.
const NOWHERE = 'http://127.0.0.1:9';
const CLIENT_TIMEOUT = 300_000;

interface Sites {
  upstream: FakeUpstream;
  dir: string;
  upstreamKey: string;
  acmeKey: string;
  /** Site A: connected, acme configured with its upstream key. */
  siteA: string[];
  dataA: string;
  /** Site B's config: acme with its public key only (no auth key: there is no upstream). */
  configB: string;
  dataB: string;
}

async function sites(): Promise<Sites> {
  const upstream = await startFakeUpstream({
    packages: [{ name: 'pub_dep', releases: [{ version: '2.0.0' }, { version: '2.1.0' }] }],
    organizations: {
      acme: {
        authKey: ACME_KEY,
        packages: [
          { name: 'acme_core', releases: [{ version: '1.0.0', dependencies: [{ package: 'pub_dep', requirement: '~> 2.0', repository: 'hexpm' }] }] },
        ],
      },
    },
  });
  const dir = tempDir('hexproxy-air-gap-orgs-');
  const upstreamKey = join(dir, 'upstream.pem');
  writeFileSync(upstreamKey, upstream.publicKeyPem);
  const acmeKey = join(dir, 'acme.pem');
  writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
  const configA = join(dir, 'a.json');
  writeFileSync(configA, JSON.stringify({ organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKey } } }));
  const configB = join(dir, 'b.json');
  writeFileSync(configB, JSON.stringify({ organizations: { acme: { publicKey: acmeKey } } }));
  const dataA = join(dir, 'a');
  return {
    upstream,
    dir,
    upstreamKey,
    acmeKey,
    dataA,
    configB,
    dataB: join(dir, 'b'),
    siteA: ['--config', configA, '--data-dir', dataA, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey],
  };
}

/**
 * A hexproxy through which the client makes the lock file: connected, acme configured.
 * Mix sends its token for hexpm too, so tokens are required; rebar3 sends its repo_key only
 * to the organization, so the public repository stays anonymous (hexproxy's default).
 */
async function lockMaker(s: Sites, requireToken: boolean): Promise<{ proxy: TestProxy; token: string; keyFile: string }> {
  const proxy = await startProxy({
    upstreamUrl: s.upstream.url,
    upstreamPublicKeyPem: s.upstream.publicKeyPem,
    config: { organizations: { acme: { authKey: ACME_KEY, publicKey: s.acmeKey } } },
    flags: { 'require-token': requireToken },
  });
  const created = await runCli(['token', 'create', 'lock-maker', '--read', 'hexpm,acme', '--data-dir', proxy.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  const keyFile = join(tempDir(), 'lock-maker.pem');
  writeFileSync(keyFile, proxy.server.hexproxy.keys.publicKeyPem);
  return { proxy, token: created.stdout.trim(), keyFile };
}

/** export at A (everything cached), import at B (trusting A's key), and a token of B that reads hexpm and acme. */
async function carryAcross(s: Sites): Promise<string> {
  const bundle = join(s.dir, 'bundle.tar');
  const exported = await runCli(['export', '--out', bundle, ...s.siteA]);
  expect(exported.code, exported.stdout + exported.stderr).toBe(0);
  expect(exported.stdout).toMatch(/repositories:\s+hexpm, acme/);
  const paths = (await readManifest(bundle)).entries.map((entry) => entry.path);
  expect(paths).toContain('repos/acme/registry/packages/acme_core');
  expect(paths).toContain('repos/acme/tarballs/acme_core-1.0.0.tar');
  expect(paths).toContain('tarballs/pub_dep-2.1.0.tar');

  const siteB = ['--config', s.configB, '--data-dir', s.dataB, '--offline', '--upstream-url', NOWHERE, '--upstream-public-key', s.upstreamKey];
  const imported = await runCli(['import', bundle, ...siteB, '--trust-key', join(s.dataA, 'keys', 'hexproxy_public.pem')]);
  expect(imported.code, imported.stdout + imported.stderr).toBe(0);
  expect(imported.stdout).toMatch(/refused:\s+0/);
  const token = await runCli(['token', 'create', 'client-b', '--read', 'hexpm,acme', '--data-dir', s.dataB]);
  expect(token.code, token.stderr).toBe(0);
  return token.stdout.trim();
}

interface Served {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `hexproxy serve --offline` at site B, as an operator runs it; resolves once it says it listens. */
async function serveOffline(s: Sites, requireToken: boolean): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      cliPath,
      'serve',
      '--offline',
      '--config',
      s.configB,
      '--data-dir',
      s.dataB,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--upstream-url',
      NOWHERE,
      '--upstream-public-key',
      s.upstreamKey,
      ...(requireToken ? ['--require-token'] : []),
    ],
    { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /hexproxy is listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`hexproxy serve exited with ${String(code)}: ${stderr}`)));
  });
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    },
  };
}

describe.runIf(mixMissing === undefined || requireMix)('air gap with an organization: real Mix', () => {
  let s: Sites;
  let served: Served | undefined;

  beforeAll(async () => {
    s = await sites();
  });

  afterAll(async () => {
    await served?.stop();
    await s?.upstream.close();
  });

  it(
    "carries a mix.lock's hexpm:acme package and its public dependency to an offline site, where Mix gets both with a token",
    async () => {
      // The lock, made by real Mix through hexproxy with a token that may read acme.
      const maker = await lockMaker(s, true);
      const project = await (async () => {
        try {
          const home = await mixHome();
          const set = await home.mix(
            ['hex.repo', 'set', 'hexpm', '--url', maker.proxy.url, '--public-key', maker.keyFile, '--auth-key', maker.token, '--no-oauth-exchange'],
            tempDir(),
          );
          expect(set.code, set.output).toBe(0);
          const dir = home.project(['{:acme_core, "~> 1.0", organization: "acme"}', '{:pub_dep, "~> 2.0"}']);
          const got = await home.mix(['deps.get'], dir);
          expect(got.code, got.output).toBe(0);
          return dir;
        } finally {
          await maker.proxy.close();
        }
      })();
      const lock = join(project, 'mix.lock');
      const lockText = readFileSync(lock, 'utf8');
      expect(lockText).toMatch(/"acme_core": \{:hex, :acme_core, "1\.0\.0", .*"hexpm:acme", "[0-9a-f]{64}"\}/);
      expect(lockText).toMatch(/"pub_dep": \{:hex, :pub_dep, "2\.1\.0", .*"hexpm", "[0-9a-f]{64}"\}/);

      // Site A: pre-warm from the lock (a fresh cache), then export everything.
      const prewarm = await runCli(['prewarm', '--mix-lock', lock, ...s.siteA]);
      expect(prewarm.code, prewarm.stdout + prewarm.stderr).toBe(0);
      expect(prewarm.stdout).toMatch(/fetched:\s+2/);
      expect(prewarm.stdout).not.toMatch(/skipped/);
      const token = await carryAcross(s);
      const hitsAtA = s.upstream.totalHits();

      // Site B: serve offline; a fresh Mix with B's key and token, and the lock.
      served = await serveOffline(s, true);
      const home = await mixHome();
      const set = await home.mix(
        [
          'hex.repo',
          'set',
          'hexpm',
          '--url',
          served.url,
          '--public-key',
          join(s.dataB, 'keys', 'hexproxy_public.pem'),
          '--auth-key',
          token,
          '--no-oauth-exchange',
        ],
        tempDir(),
      );
      expect(set.code, set.output).toBe(0);
      const atB = home.project(['{:acme_core, "~> 1.0", organization: "acme"}', '{:pub_dep, "~> 2.0"}'], lockText);
      const got = await home.mix(['deps.get'], atB);
      expect(got.code, got.output).toBe(0);
      expect(readFileSync(join(atB, 'deps', 'acme_core', 'hex_metadata.config'), 'utf8')).toContain('{<<"version">>,<<"1.0.0">>}');
      expect(readFileSync(join(atB, 'deps', 'pub_dep', 'hex_metadata.config'), 'utf8')).toContain('{<<"version">>,<<"2.1.0">>}');
      expect(readFileSync(join(atB, 'mix.lock'), 'utf8')).toBe(lockText);
      expect(s.upstream.totalHits(), 'site B never reached the upstream').toBe(hitsAtA);
    },
    CLIENT_TIMEOUT,
  );
});

describe.runIf(rebar3Present || requireRebar3)('air gap with an organization: real rebar3', () => {
  let s: Sites;
  let served: Served | undefined;

  beforeAll(async () => {
    s = await sites();
  });

  afterAll(async () => {
    await served?.stop();
    await s?.upstream.close();
  });

  it(
    "carries a rebar.lock's private package, found in acme, and its public dependency to an offline site, where rebar3 builds both",
    async () => {
      const maker = await lockMaker(s, false);
      let lockDir: string;
      try {
        const project = rebar3Project({
          repoUrl: maker.proxy.url,
          publicKeyPem: maker.proxy.server.hexproxy.keys.publicKeyPem,
          deps: ['acme_core'],
          organizations: [{ name: 'acme', repoKey: maker.token }],
        });
        const got = await project.run(['get-deps']);
        expect(got.code, got.output).toBe(0);
        lockDir = project.dir;
      } finally {
        await maker.proxy.close();
      }
      const lock = join(lockDir, 'rebar.lock');
      const lockText = readFileSync(lock, 'utf8');
      expect(lockText).toContain('{<<"acme_core">>,{pkg,<<"acme_core">>,<<"1.0.0">>},0}');
      expect(lockText).toContain('{<<"pub_dep">>,{pkg,<<"pub_dep">>,<<"2.1.0">>},1}');

      // Site A: the lock does not say acme_core is acme's: prewarm looks it up, as rebar3 does, and says where it found each.
      const prewarm = await runCli(['prewarm', '--rebar-lock', lock, ...s.siteA]);
      expect(prewarm.code, prewarm.stdout + prewarm.stderr).toBe(0);
      expect(prewarm.stdout).toMatch(/fetched:\s+2/);
      expect(prewarm.stdout).toContain(`found in acme (${lock}): acme_core 1.0.0`);
      expect(prewarm.stdout).toContain(`found in hexpm (${lock}): pub_dep 2.1.0`);
      const token = await carryAcross(s);
      const hitsAtA = s.upstream.totalHits();

      served = await serveOffline(s, false);
      const atB = rebar3Project({
        repoUrl: served.url,
        publicKeyPem: readFileSync(join(s.dataB, 'keys', 'hexproxy_public.pem'), 'utf8'),
        deps: ['acme_core'],
        organizations: [{ name: 'acme', repoKey: token }],
      });
      copyFileSync(lock, join(atB.dir, 'rebar.lock'));
      const built = await atB.run(['compile']);
      expect(built.code, built.output).toBe(0);
      for (const app of ['acme_core', 'pub_dep']) {
        expect(existsSync(join(atB.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
      }
      expect(readFileSync(join(atB.dir, 'rebar.lock'), 'utf8')).toBe(lockText);
      expect(s.upstream.totalHits(), 'site B never reached the upstream').toBe(hitsAtA);
    },
    CLIENT_TIMEOUT,
  );
});
