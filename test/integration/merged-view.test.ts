// A hosted repository merged into the root view (hosted.acme.merge): its packages served as
// hexpm's, re-encoded and signed with hexproxy's key, and the upstream package of a hosted
// name hidden completely, even where it was cached and held in memory before the publish;
// names that exist upstream refused for publishing unless hosted.acme.mayShadow lists them;
// the pass-through view (/mirror) upstream's only. Then the real clients: rebar3 with the
// hexpm:acme recipe and with a plain hexpm repository, Mix without `organization:`.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NameShadowsUpstreamError } from '../../src/errors.js';
import type { Hexproxy } from '../../src/app.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { TokenStore } from '../../src/auth/token-store.js';
import { runCli } from '../support/cli.js';
import { hexCall, text } from '../support/hosted-api.js';
import { packageTarball } from '../support/package-parts.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import type { TarballSpec } from '../support/hex-tarball.js';
import { validatedRelease } from '../support/hosted-release.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { startProxy, tempDir, type HttpResult, type TestProxy } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';

const rebar3 = await rebar3Available();
const mixMissing = await mixUnavailable();

let upstream: FakeUpstream;
let proxy: TestProxy;
let hexproxy: Hexproxy;
let store: HostedStore;
let acmeToken = '';
let hexpmToken = '';
/** Upstream's hits on acme_clash's files once it was published in acme. */
let clashHitsAtPublish: Record<string, number> = {};

const CLASH_PATHS = ['/packages/acme_clash', '/tarballs/acme_clash-9.0.0.tar', '/tarballs/acme_clash-1.0.0.tar'];
const clashHits = (): Record<string, number> => Object.fromEntries(CLASH_PATHS.map((path) => [path, upstream.hits(path)]));

async function token(name: string, read: string): Promise<string> {
  const created = await runCli(['token', 'create', name, '--read', read, '--config', proxy.configFile ?? '', '--data-dir', proxy.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

/** What the publish routes do: the name check, then the store. */
async function publish(repo: string, spec: TarballSpec): Promise<void> {
  await hexproxy.mayPublishName(repo, spec.name);
  await store.publish(repo, await validatedRelease(spec), { replace: false, publisher: 'ci-publish' });
}

function resourceOf(path: string): RegistryResource {
  return path.startsWith('packages/') ? { kind: 'package', name: path.slice('packages/'.length) } : { kind: path as 'names' | 'versions' };
}

/** A registry file as a client checks it: signed with `keyPem`, naming `repository`. */
async function opened<T>(response: HttpResult, path: string, keyPem = hexproxy.keys.publicKeyPem, repository = 'hexpm'): Promise<T> {
  expect(response.status, `${path}: ${response.body.toString()}`).toBe(200);
  const file = await openRegistryFile(response.body, resourceOf(path), { publicKey: parsePublicKey(keyPem), repository, maxBytes: 1 << 24 });
  return file.message as T;
}

/** The same path anonymously (the hot path first) and with a token (the routes): both answers must agree. */
async function both(path: string): Promise<HttpResult> {
  const anonymous = await proxy.get(path);
  const authorized = await proxy.get(path, { authorization: hexpmToken });
  expect(authorized.status, path).toBe(anonymous.status);
  expect(authorized.body.equals(anonymous.body), path).toBe(true);
  return anonymous;
}

const hostedSha = (repo: string, name: string, version: string): string => store.tarballFile(repo, name, version)?.sha256 ?? 'not published';

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'pub_json', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
      // Someone else's package of an internal name, with a higher version: what dependency confusion serves.
      { name: 'acme_clash', releases: [{ version: '9.0.0' }] },
      { name: 'up_only', releases: [{ version: '2.0.0' }] },
    ],
  });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    config: { hosted: { acme: { merge: true, mayShadow: ['acme_clash'] }, beta: {}, gamma: { merge: true } } },
  });
  hexproxy = proxy.server.hexproxy;
  const hosted = hexproxy.hosted;
  if (!hosted) throw new Error('hexproxy opened no hosted store');
  store = hosted;
  acmeToken = await token('acme-reader', 'hexpm,acme');
  hexpmToken = await token('hexpm-reader', 'hexpm');

  // Before the publish: upstream's acme_clash served, its tarball cached and its files held in memory.
  for (const path of ['/names', '/versions', '/packages/acme_clash', '/packages/acme_clash', '/tarballs/acme_clash-9.0.0.tar']) {
    expect((await proxy.get(path)).status, path).toBe(200);
  }
  expect(hexproxy.repositories.get('hexpm')?.tarballs.peek('acme_clash', '9.0.0')).toBeDefined();
  expect(hexproxy.repositories.get('hexpm')?.lookup('packages/acme_clash', 'resigned')).toBeDefined();

  await publish('acme', { name: 'acme_clash', version: '1.0.0' });
  clashHitsAtPublish = clashHits();
  await publish('acme', { name: 'acme_util', version: '0.1.0' });
  await publish('acme', {
    name: 'acme_core',
    version: '1.0.0',
    dependencies: [
      { package: 'pub_json', requirement: '~> 1.0' },
      { package: 'acme_util', requirement: '~> 0.1', repository: 'acme' },
    ],
  });
  await store.putDocs('acme', 'acme_core', '1.0.0', Buffer.from('the docs of acme_core'));
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('the merged root view', () => {
  it("lists the hosted packages in /names and /versions with their own entries, signed with hexproxy's key, naming hexpm", async () => {
    const names = await opened<Names>(await both('/names'), 'names');
    expect(names.repository).toBe('hexpm');
    expect(names.packages.map((entry) => entry.name)).toEqual(['acme_clash', 'acme_core', 'acme_util', 'pub_json', 'up_only']);
    const versions = await opened<Versions>(await both('/versions'), 'versions');
    expect(versions.packages.map((entry) => [entry.name, entry.versions])).toEqual([
      ['acme_clash', ['1.0.0']],
      ['acme_core', ['1.0.0']],
      ['acme_util', ['0.1.0']],
      ['pub_json', ['1.0.0', '1.1.0']],
      ['up_only', ['2.0.0']],
    ]);
  });

  it('serves a hosted package file re-encoded as the root\'s: repository "hexpm", its checksums, dependencies that resolve in the root view', async () => {
    const pkg = await opened<Package>(await both('/packages/acme_core'), 'packages/acme_core');
    expect(pkg.name).toBe('acme_core');
    expect(pkg.repository).toBe('hexpm');
    const release = store.release('acme', 'acme_core', '1.0.0');
    expect(pkg.releases.map((r) => r.version)).toEqual(['1.0.0']);
    expect(pkg.releases[0]?.inner_checksum.equals(release?.innerChecksum ?? Buffer.alloc(0))).toBe(true);
    expect(pkg.releases[0]?.outer_checksum?.equals(release?.outerChecksum ?? Buffer.alloc(0))).toBe(true);
    // Its own repository's dependency and hex.pm's both name no repository: the root view has them.
    expect(pkg.releases[0]?.dependencies).toEqual([
      { package: 'acme_util', requirement: '~> 0.1' },
      { package: 'pub_json', requirement: '~> 1.0' },
    ]);
    // The hosted repository's own file says where each lives.
    const own = await opened<Package>(
      await proxy.get('/repos/acme/packages/acme_core', { authorization: acmeToken }),
      'packages/acme_core',
      undefined,
      'acme',
    );
    expect(own.releases[0]?.dependencies).toEqual([
      { package: 'acme_util', requirement: '~> 0.1' },
      { package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' },
    ]);
  });

  it('serves the hosted tarball and docs: the stored bytes, the stored checksum as ETag', async () => {
    const tarball = await both('/tarballs/acme_core-1.0.0.tar');
    expect(tarball.status).toBe(200);
    const file = store.tarballFile('acme', 'acme_core', '1.0.0');
    expect(tarball.body.equals(readFileSync(file?.path ?? ''))).toBe(true);
    expect(tarball.headers['etag']).toBe(`"${file?.sha256}"`);
    const docs = await both('/docs/acme_core-1.0.0.tar.gz');
    expect(docs.status).toBe(200);
    expect(docs.body.toString()).toBe('the docs of acme_core');
  });

  it('hides every version of the upstream package of a hosted name, even the tarball cached and held in memory before the publish', async () => {
    const pkg = await opened<Package>(await both('/packages/acme_clash'), 'packages/acme_clash');
    expect(pkg.releases.map((r) => r.version)).toEqual(['1.0.0']);
    expect(pkg.releases[0]?.outer_checksum?.toString('hex')).toBe(hostedSha('acme', 'acme_clash', '1.0.0'));
    const hidden = await both('/tarballs/acme_clash-9.0.0.tar');
    expect(hidden.status).toBe(404);
    expect(hidden.body.toString()).toContain('hosted repository acme has no release acme_clash 9.0.0');
    const head = await proxy.head('/tarballs/acme_clash-9.0.0.tar');
    expect(head.status).toBe(404);
    const hosted = await both('/tarballs/acme_clash-1.0.0.tar');
    expect(hosted.status).toBe(200);
    expect(hosted.headers['etag']).toBe(`"${hostedSha('acme', 'acme_clash', '1.0.0')}"`);
    expect(hosted.body.equals(upstream.tarball('acme_clash', '9.0.0').tar)).toBe(false);
    // Upstream was not asked for anything of that name since the publish.
    expect(clashHits()).toEqual(clashHitsAtPublish);
    // The cached upstream tarball is still in the cache (operations mirror upstream), never served.
    expect(hexproxy.repositories.get('hexpm')?.tarballs.cachedFile('acme_clash', '9.0.0')).toBeDefined();
  });

  it('shows a publish at once, in memory hits too: /names, /versions and the package file', async () => {
    for (const path of ['/names', '/versions', '/packages/acme_util']) await proxy.get(path);
    const repository = hexproxy.repositories.get('hexpm');
    expect(repository?.lookup('names', 'resigned')).toBeDefined();
    expect(repository?.lookup('packages/acme_util', 'resigned')).toBeDefined();
    await publish('acme', { name: 'acme_util', version: '0.2.0' });
    await publish('acme', { name: 'acme_fresh', version: '0.1.0' });
    expect(repository?.lookup('names', 'resigned')).toBeUndefined();
    expect(repository?.lookup('packages/acme_util', 'resigned')).toBeUndefined();
    const names = await opened<Names>(await both('/names'), 'names');
    expect(names.packages.map((entry) => entry.name)).toContain('acme_fresh');
    const versions = await opened<Versions>(await both('/versions'), 'versions');
    expect(versions.packages.find((entry) => entry.name === 'acme_util')?.versions).toEqual(['0.1.0', '0.2.0']);
    const pkg = await opened<Package>(await both('/packages/acme_util'), 'packages/acme_util');
    expect(pkg.releases.map((r) => r.version)).toEqual(['0.1.0', '0.2.0']);
    // And held in memory again for the next client.
    expect(repository?.lookup('packages/acme_util', 'resigned')).toBeDefined();
  });

  it('is said at start to be readable without a token while auth.requireToken is off', () => {
    const warned = proxy.logs.filter((line) => line.level === 40 && typeof line['repository'] === 'string').map((line) => line.msg);
    expect(warned).toEqual([
      'hosted repository acme is merged into the root view (hosted.acme.merge), which anyone may read while auth.requireToken is off: its packages can be read without a token; turn auth.requireToken on, or merge only repositories meant to be read by everyone who can reach hexproxy',
      'hosted repository gamma is merged into the root view (hosted.gamma.merge), which anyone may read while auth.requireToken is off: its packages can be read without a token; turn auth.requireToken on, or merge only repositories meant to be read by everyone who can reach hexproxy',
    ]);
  });

  it('keeps serving upstream packages no merged repository has, and a non-merged repository stays out of the root view', async () => {
    await publish('beta', { name: 'up_only', version: '0.0.1' });
    await publish('beta', { name: 'beta_only', version: '1.0.0' });
    const pkg = await opened<Package>(await both('/packages/up_only'), 'packages/up_only');
    expect(pkg.releases.map((r) => r.version)).toEqual(['2.0.0']);
    expect((await both('/tarballs/up_only-2.0.0.tar')).body.equals(upstream.tarball('up_only', '2.0.0').tar)).toBe(true);
    expect((await both('/packages/beta_only')).status).toBe(404);
    const pub = await opened<Package>(await both('/packages/pub_json'), 'packages/pub_json');
    expect(pub.releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
  });
});

describe('the pass-through view (/mirror)', () => {
  it("serves upstream's own signed files, without any hosted package", async () => {
    const names = await proxy.get('/mirror/names');
    expect(names.body.equals(upstream.body('/names') ?? Buffer.alloc(0))).toBe(true);
    const listed = await opened<Names>(names, 'names', upstream.publicKeyPem);
    expect(listed.packages.map((entry) => entry.name)).toEqual(['acme_clash', 'pub_json', 'up_only']);
    expect((await proxy.get('/mirror/versions')).body.equals(upstream.body('/versions') ?? Buffer.alloc(0))).toBe(true);
    expect((await proxy.get('/mirror/packages/pub_json')).body.equals(upstream.body('/packages/pub_json') ?? Buffer.alloc(0))).toBe(true);
    for (const path of ['/mirror/packages/acme_core', '/mirror/tarballs/acme_core-1.0.0.tar', '/mirror/docs/acme_core-1.0.0.tar.gz']) {
      expect((await proxy.get(path)).status, path).toBe(404);
    }
  });

  it("does not serve upstream's package of a hosted name either, and says why", async () => {
    for (const path of ['/mirror/packages/acme_clash', '/mirror/tarballs/acme_clash-9.0.0.tar', '/mirror/tarballs/acme_clash-1.0.0.tar']) {
      for (const headers of [{}, { authorization: hexpmToken }] as Record<string, string>[]) {
        const refused = await proxy.get(path, headers);
        expect(refused.status, path).toBe(404);
        expect(refused.body.toString(), path).toContain('acme_clash is a package of hosted repository acme');
        expect(refused.body.toString(), path).toContain('hosted.acme.merge');
      }
    }
    expect(clashHits()).toEqual(clashHitsAtPublish);
  });
});

describe('publishing a name upstream has (mayPublishName)', () => {
  it('is refused for a merged repository, naming hosted.NAME.mayShadow, and nothing is stored', async () => {
    const refusal = await hexproxy.mayPublishName('acme', 'up_only').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(NameShadowsUpstreamError);
    const error = refusal as NameShadowsUpstreamError;
    expect(error.status).toBe(422);
    expect(error.code).toBe('name_shadows_upstream');
    expect(error.message).toBe(
      "up_only cannot be published to acme: hexpm has a package named up_only, and acme is merged into the root view (hosted.acme.merge), where a hosted package hides hexpm's package of the same name from every project; list it in hosted.acme.mayShadow to shadow hexpm's up_only on purpose, or choose another name",
    );
    expect(store.has('acme', 'up_only')).toBe(false);
  });

  it('is allowed for a name in mayShadow, a name upstream does not have, a name the repository has, and any name in a repository not merged', async () => {
    const asked = upstream.hits('/packages/brand_new');
    await expect(hexproxy.mayPublishName('acme', 'brand_new')).resolves.toBeUndefined();
    // Asked anew, not judged by an old answer.
    expect(upstream.hits('/packages/brand_new')).toBe(asked + 1);
    await expect(hexproxy.mayPublishName('acme', 'acme_clash')).resolves.toBeUndefined();
    await expect(hexproxy.mayPublishName('acme', 'acme_core')).resolves.toBeUndefined();
    await expect(hexproxy.mayPublishName('beta', 'pub_json')).resolves.toBeUndefined();
  });

  it('is refused when another merged repository has the name: the root view serves one package per name', async () => {
    await expect(hexproxy.mayPublishName('gamma', 'acme_core')).rejects.toThrow(
      'acme_core cannot be published to gamma: hosted repository acme, also merged into the root view (hosted.acme.merge), already has a package of that name',
    );
  });

  it('is refused when upstream cannot say whether it has the name, rather than risk it', async () => {
    upstream.misbehave('/packages/unknown_yet', 'status-503');
    try {
      await expect(hexproxy.mayPublishName('acme', 'unknown_yet')).rejects.toThrow(
        /^unknown_yet cannot be published to acme now: hexproxy cannot tell whether hexpm has a package named unknown_yet \(.+\), and acme is merged into the root view .*; try again once upstream is reachable, or list it in hosted\.acme\.mayShadow/,
      );
    } finally {
      upstream.behave();
    }
    await expect(hexproxy.mayPublishName('acme', 'unknown_yet')).resolves.toBeUndefined();
  });
});

describe('publishing a name upstream has, through the publishing API', () => {
  it('is refused by both upload routes with the reason under errors.name (what Mix prints), and nothing is stored', async () => {
    const writer = new TokenStore(hexproxy.config.auth.tokensFile).create('acme-publish', [], false, { write: ['acme'] }).secret;
    const tarball = await packageTarball('up_only', '3.0.0');
    const posted = await hexCall(`${proxy.url}/api/repos/acme/packages/up_only/releases?replace=false`, {
      method: 'POST',
      token: writer,
      body: tarball,
    });
    expect(posted.status).toBe(422);
    expect(posted.headers['x-hexproxy-error']).toBe('name_shadows_upstream');
    expect(text(posted.term, 'message')).toBe('Validation error(s)');
    expect(text(posted.term, 'errors', 'name')).toContain('list it in hosted.acme.mayShadow');
    const put = await hexCall(`${proxy.url}/repos/acme/tarballs/up_only-3.0.0.tar`, { method: 'PUT', token: writer, body: tarball });
    expect(put.status).toBe(422);
    expect(store.has('acme', 'up_only')).toBe(false);
  });
});

describe('publishing a name upstream has, offline', () => {
  it('is judged by the cached /names, upstream as this instance knows it, and refused when nothing is cached', async () => {
    const dataDir = tempDir();
    const config = { hosted: { acme: { merge: true } } };
    const options = { upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config };
    const online = await startProxy({ ...options, dataDir });
    expect((await online.get('/names')).status).toBe(200);
    await online.close();
    const offline = await startProxy({ ...options, dataDir, flags: { offline: true } });
    try {
      await expect(offline.server.hexproxy.mayPublishName('acme', 'up_only')).rejects.toThrow(
        'up_only cannot be published to acme: hexpm has a package named up_only',
      );
      await expect(offline.server.hexproxy.mayPublishName('acme', 'brand_new')).resolves.toBeUndefined();
    } finally {
      await offline.close();
    }
    const empty = await startProxy({ ...options, flags: { offline: true } });
    try {
      await expect(empty.server.hexproxy.mayPublishName('acme', 'brand_new')).rejects.toThrow(
        'brand_new cannot be published to acme now: hexproxy cannot tell whether hexpm has a package named brand_new (/names is not cached and hexproxy runs offline)',
      );
    } finally {
      await empty.close();
    }
  });
});

describe.skipIf(!rebar3 && !requireRebar3)('rebar3 and the merged root view', () => {
  it('fetches and compiles a hosted package and its hex.pm dependency with the hexpm:acme recipe', async () => {
    expect(rebar3, 'rebar3 is on PATH (CI=true)').toBe(true);
    const project = rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: hexproxy.keys.publicKeyPem,
      deps: ['{acme_core, "1.0.0"}'],
      organizations: [{ name: 'acme', repoKey: acmeToken }],
    });
    const result = await project.run(['compile']);
    expect(result.code, result.output).toBe(0);
    for (const app of ['acme_core', 'acme_util', 'pub_json']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    expect(readFileSync(join(project.dir, 'rebar.lock'), 'utf8')).toContain(hostedSha('acme', 'acme_core', '1.0.0').toUpperCase());
  });

  it("fetches them through the root view with a plain hexpm repository, and the hosted acme_clash, not upstream's", async () => {
    const project = rebar3Project({
      repoUrl: proxy.url,
      publicKeyPem: hexproxy.keys.publicKeyPem,
      deps: ['{acme_core, "1.0.0"}', '{acme_clash, ">= 0.0.0"}'],
    });
    const result = await project.run(['compile']);
    expect(result.code, result.output).toBe(0);
    for (const app of ['acme_core', 'acme_util', 'pub_json', 'acme_clash']) {
      expect(existsSync(join(project.dir, '_build', 'default', 'lib', app, 'ebin', `${app}.beam`)), app).toBe(true);
    }
    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    expect(lock).toContain(hostedSha('acme', 'acme_core', '1.0.0').toUpperCase());
    expect(lock).toContain(hostedSha('acme', 'acme_clash', '1.0.0').toUpperCase());
    expect(lock).toMatch(/<<"acme_clash">>,\{pkg,<<"acme_clash">>,<<"1\.0\.0">>/);
    expect(clashHits()).toEqual(clashHitsAtPublish);
  });
});

describe('Mix and Hex are installed', () => {
  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
    expect(mixMissing).toBeUndefined();
  });
});

describe.skipIf(mixMissing !== undefined)('Mix and the merged root view', () => {
  it('gets a hosted package, its hosted and hex.pm dependencies, and the hosted acme_clash, with no organization option', async () => {
    const home = await mixHome();
    const keyFile = join(tempDir('hexproxy-mix-key-'), 'hexproxy.pem');
    writeFileSync(keyFile, hexproxy.keys.publicKeyPem);
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', proxy.url, '--public-key', keyFile], tempDir())).code).toBe(0);
    const project = home.project(['{:acme_core, "~> 1.0"}', '{:acme_clash, ">= 0.0.0"}']);
    const result = await home.mix(['deps.get'], project);
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toMatch(/verif|error/i);
    const lock = readFileSync(join(project, 'mix.lock'), 'utf8');
    for (const [name, version] of [
      ['acme_core', '1.0.0'],
      ['acme_util', '0.2.0'],
      ['acme_clash', '1.0.0'],
    ] as const) {
      expect(lock).toContain(`"${name}": {:hex, :${name}, "${version}", "${store.release('acme', name, version)?.innerChecksum.toString('hex')}"`);
      expect(lock).toContain(hostedSha('acme', name, version));
    }
    expect(lock).toContain(`"pub_json": {:hex, :pub_json, "1.1.0", "${upstream.tarball('pub_json', '1.1.0').innerChecksum.toString('hex')}"`);
    expect(lock).not.toContain('9.0.0');
    expect(clashHits()).toEqual(clashHitsAtPublish);
  });
});
