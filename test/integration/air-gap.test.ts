// The air-gap story end to end. Site A reaches the upstream: it pre-warms from a mix.lock
// and exports a bundle. Site B has no upstream at all: it imports the bundle, serves, and
// rebar3 resolves and fetches the whole tree through it. Then a new release reaches B
// through an incremental bundle, imported while B is serving.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/bundle/manifest.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';

const available = await rebar3Available();
// Nothing listens here: site B's upstream is unreachable as well as switched off.
const NOWHERE = 'http://127.0.0.1:9';

describe.runIf(available || requireRebar3)('air gap: prewarm and export at A, import and serve at B', () => {
  let upstream: FakeUpstream;
  let keyFile: string;
  let siteA: string[];
  let siteB: string[];
  /** B trusts A's bundles: A's public key, carried across with the first bundle. */
  let trustA: string[];
  let dataB: string;
  let serverB: TestProxy;
  const work = tempDir();

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [
        { name: 'app_a', releases: [{ version: '1.2.0', dependencies: [{ package: 'app_b', requirement: '~> 2.0' }] }] },
        { name: 'app_b', releases: [{ version: '2.0.0', dependencies: [{ package: 'app_c', requirement: '>= 0.1.0' }] }] },
        { name: 'app_c', releases: [{ version: '0.1.0' }] },
        { name: 'app_d', releases: [{ version: '0.5.0' }] },
      ],
    });
    keyFile = join(work, 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    siteA = ['--data-dir', join(work, 'a'), '--upstream-url', upstream.url, '--upstream-public-key', keyFile];
    dataB = join(work, 'b');
    siteB = ['--data-dir', dataB, '--offline', '--upstream-url', NOWHERE, '--upstream-public-key', keyFile];
    trustA = ['--trust-key', join(work, 'a', 'keys', 'hexproxy_public.pem')];
  });

  afterAll(async () => {
    await serverB?.close();
    await upstream?.close();
  });

  it("carries a lock file's tree from A to B, where rebar3 builds it with no upstream", async () => {
    const lock = join(work, 'mix.lock');
    writeFileSync(
      lock,
      mixLock(upstream, [
        { name: 'app_a', version: '1.2.0', deps: [{ name: 'app_b', requirement: '~> 2.0' }] },
        { name: 'app_b', version: '2.0.0', deps: [{ name: 'app_c', requirement: '>= 0.1.0' }] },
        { name: 'app_c', version: '0.1.0' },
        { name: 'app_d', version: '0.5.0' },
      ]),
    );
    const prewarm = await runCli(['prewarm', '--mix-lock', lock, ...siteA]);
    expect(prewarm.code, prewarm.stdout + prewarm.stderr).toBe(0);
    expect(prewarm.stdout).toMatch(/fetched:\s+4/);

    const bundle = join(work, 'bundle-1.tar');
    const exported = await runCli(['export', '--out', bundle, '--mix-lock', lock, ...siteA]);
    expect(exported.code, exported.stdout + exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/tarballs:\s+4/);
    expect(existsSync(`${bundle}.partial`)).toBe(false);
    const manifest = await readManifest(bundle);
    expect(
      manifest.entries
        .filter((e) => e.kind === 'tarball')
        .map((e) => e.path)
        .sort(),
    ).toEqual(['tarballs/app_a-1.2.0.tar', 'tarballs/app_b-2.0.0.tar', 'tarballs/app_c-0.1.0.tar', 'tarballs/app_d-0.5.0.tar']);
    const hitsAtA = upstream.totalHits();

    const imported = await runCli(['import', bundle, ...siteB, ...trustA]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/refused:\s+0/);
    expect(imported.stdout).toMatch(/signed by:\s+[0-9a-f]{64} \(trusted\)/);
    const twice = await runCli(['import', bundle, ...siteB, ...trustA]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(/imported:\s+0/);

    serverB = await startProxy({ upstreamUrl: NOWHERE, upstreamPublicKeyPem: upstream.publicKeyPem, dataDir: dataB, flags: { offline: true } });
    const project = rebar3Project({ repoUrl: serverB.url, publicKeyPem: serverB.server.hexproxy.keys.publicKeyPem, deps: ['app_a', 'app_d'] });
    const built = await project.run(['compile']);
    expect(built.code, built.output).toBe(0);
    for (const app of ['app_a', 'app_b', 'app_c', 'app_d']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    const lockB = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    expect(lockB).toContain(upstream.tarball('app_c', '0.1.0').outerChecksum.toString('hex').toUpperCase());
    // B never reached the upstream; A did not either after exporting.
    expect(upstream.totalHits()).toBe(hitsAtA);
  });

  it('brings a new release across in an incremental bundle, imported while B serves', async () => {
    await upstream.publish('app_d', { version: '0.6.0' });
    const prewarm = await runCli(['prewarm', 'app_d@0.6.0', ...siteA]);
    expect(prewarm.code, prewarm.stdout + prewarm.stderr).toBe(0);
    const first = join(work, 'bundle-1.tar');
    const second = join(work, 'bundle-2.tar');
    const exported = await runCli(['export', '--out', second, '--since', first, ...siteA]);
    expect(exported.code, exported.stdout + exported.stderr).toBe(0);
    const manifest = await readManifest(second);
    expect(manifest.entries.map((e) => e.path).sort()).toEqual(['registry/packages/app_d', 'tarballs/app_d-0.6.0.tar']);
    expect(statSync(second).size).toBeLessThan(statSync(first).size);

    // Not trusting A, B keeps its cached app_d: the new release stays out, and the report says which key to trust.
    const untrusted = await runCli(['import', second, ...siteB]);
    expect(untrusted.code, untrusted.stdout + untrusted.stderr).toBe(0);
    expect(untrusted.stdout).toMatch(/not trusted:\s+the bundle is signed by a key this hexproxy does not trust \(fingerprint [0-9a-f]{64}\)/);
    expect(untrusted.stdout).toMatch(/imported:\s+0/);
    expect(untrusted.stdout).toContain('KEPT registry/packages/app_d: the bundle is signed by a key this hexproxy does not trust');
    expect(untrusted.stdout).toContain('bundles.trustedKeys');
    const imported = await runCli(['import', second, ...siteB, ...trustA]);
    expect(imported.code, imported.stdout + imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/imported:\s+2 \(1 replacing older copies\)/);

    const project = rebar3Project({ repoUrl: serverB.url, publicKeyPem: serverB.server.hexproxy.keys.publicKeyPem, deps: ['{app_d, "0.6.0"}'] });
    const fetched = await project.run(['get-deps']);
    expect(fetched.code, fetched.output).toBe(0);
    expect(readFileSync(join(project.dir, 'rebar.lock'), 'utf8')).toContain('{pkg,<<"app_d">>,<<"0.6.0">>}');
  });
});
