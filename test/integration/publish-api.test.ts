// The publishing API of hosted repositories over real HTTP, as Mix, hex_core and rebar3_hex
// call it: publish (both endpoints), replace within and past the window, docs, revert,
// retire and unretire, the package and release information and search, and the plain
// deploy (PUT). Every refusal is checked for its status, the reason in the Erlang terms Mix
// decodes, and for leaving the repository exactly as it was: its listing, its registry files
// and its files on disk.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { curlDeploy } from '../../src/clients/snippets.js';
import { encodeTerm } from '../../src/hex-api/etf.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Package } from '../../src/registry/types.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { HEX_ERLANG, expectContinue, field, hexCall, hostedSnapshot, text, type HostedSnapshot } from '../support/hosted-api.js';
import { assemblePackage, gzippedTar, metadataConfig, mixRequirement, packageTarball, simpleContents } from '../support/package-parts.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const WINDOW_SECONDS = 600;
let upstream: FakeUpstream;
let proxy: TestProxy;
let store: HostedStore;
let now = Date.parse('2025-01-01T00:00:00Z');
const tokens = { write: '', read: '', other: '', metrics: '' };

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'pub_dep', releases: [{ version: '1.0.0' }, { version: '2.0.0' }] },
      { name: 'pub_pre', releases: [{ version: '3.0.0-rc.1' }] },
    ],
  });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    // beta: replacing and reverting are never allowed (0).
    config: { hosted: { acme: { replaceWindowSeconds: WINDOW_SECONDS }, beta: { replaceWindowSeconds: 0 } } },
    flags: { 'require-token': true },
    clock: () => now,
  });
  const hosted = proxy.server.hexproxy.hosted;
  if (!hosted) throw new Error('hexproxy opened no hosted store');
  store = hosted;
  const file = new TokenStore(proxy.server.hexproxy.config.auth.tokensFile);
  tokens.write = file.create('ci-publish', [], false, { write: ['acme'] }).secret;
  tokens.read = file.create('acme-reader', ['hexpm', 'acme'], false).secret;
  tokens.other = file.create('beta-publish', [], false, { write: ['beta'] }).secret;
  tokens.metrics = file.create('prometheus', [], false, { metrics: true }).secret;
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

beforeEach(() => {
  upstream.behave();
});

const api = (path: string): string => `${proxy.url}/api/repos/${path}`;

/** A Mix-built package: `deps` as Mix writes requirements (each naming its repository unless `repository: null`). */
async function mixPackage(
  name: string,
  version: string,
  deps: { name: string; requirement: string; repository?: string | null; optional?: boolean }[] = [],
): Promise<Buffer> {
  const requirements = deps.map((dep) =>
    dep.repository === null
      ? // rebar3_hex's form: name => pairs, no repository.
        `{${bin(dep.name)},[{<<"app">>,${bin(dep.name)}},{<<"optional">>,false},{<<"requirement">>,${bin(dep.requirement)}}]}`
      : mixRequirement({ name: dep.name, requirement: dep.requirement, repository: dep.repository ?? 'hexpm', optional: dep.optional ?? false }),
  );
  return packageTarball(name, version, { requirements: `[${requirements.join(',')}]` });
}

const bin = (text: string): string => `<<"${text}">>`;

const publish = (repo: string, name: string, tarball: Buffer, { token = tokens.write, replace }: { token?: string; replace?: boolean } = {}) =>
  hexCall(api(`${repo}/packages/${name}/releases${replace === undefined ? '' : `?replace=${replace}`}`), { method: 'POST', token, body: tarball });

/** A command line as docs/hosting.md prints it, run by sh in `cwd`: its exit code and its output. */
function sh(commandLine: string, cwd: string, env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', commandLine], { cwd, env: { PATH: process.env['PATH'], ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: `${stdout}${stderr}` });
    });
  });
}

const snapshot = (repo = 'acme'): HostedSnapshot => hostedSnapshot(store, proxy.dataDir, repo);

async function packageFile(repo: string, name: string): Promise<Package> {
  const served = await proxy.get(`/repos/${repo}/packages/${name}`, { authorization: tokens.read });
  expect(served.status).toBe(200);
  const opened = await openRegistryFile(
    served.body,
    { kind: 'package', name },
    {
      publicKey: parsePublicKey(proxy.server.hexproxy.keys.publicKeyPem),
      repository: repo,
      maxBytes: 1 << 24,
    },
  );
  return opened.message as Package;
}

/** Runs `refused`, expecting it to change nothing in `repo`. */
async function unchanged<T>(refused: () => Promise<T>, repo = 'acme'): Promise<T> {
  const before = snapshot(repo);
  const result = await refused();
  expect(snapshot(repo)).toEqual(before);
  return result;
}

describe('publishing a release', () => {
  it('POST /api/repos/acme/packages/NAME/releases: 201 with location and the release as Erlang terms; served at once, its hex.pm dependency marked "hexpm"', async () => {
    const tarball = await mixPackage('acme_core', '1.0.0', [{ name: 'pub_dep', requirement: '~> 2.0' }]);
    const answer = await publish('acme', 'acme_core', tarball, { replace: false });
    expect(answer.status, answer.body.toString()).toBe(201);
    expect(answer.headers['content-type']).toBe(HEX_ERLANG);
    expect(answer.headers['location']).toBe(`${proxy.url}/api/repos/acme/packages/acme_core/releases/1.0.0`);
    expect(answer.term).toMatchObject({
      name: 'acme_core',
      version: '1.0.0',
      checksum: createHash('sha256').update(tarball).digest('hex'),
      url: `${proxy.url}/api/repos/acme/packages/acme_core/releases/1.0.0`,
      html_url: `${proxy.url}/ui/repos/acme/packages/acme_core?version=1.0.0`,
      has_docs: false,
      retirement: null,
      inserted_at: new Date(now).toISOString(),
      requirements: { pub_dep: { app: 'pub_dep', requirement: '~> 2.0', optional: false, repository: 'hexpm' } },
      configs: { 'mix.exs': '{:acme_core, "~> 1.0", organization: "acme"}' },
      publisher: { username: 'ci-publish', email: null },
    });

    const pkg = await packageFile('acme', 'acme_core');
    expect(pkg.repository).toBe('acme');
    expect(pkg.releases.map((release) => release.version)).toEqual(['1.0.0']);
    expect(pkg.releases[0]?.dependencies).toEqual([expect.objectContaining({ package: 'pub_dep', requirement: '~> 2.0', repository: 'hexpm' })]);
    const served = await proxy.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: tokens.read });
    expect(served.status).toBe(200);
    expect(served.body.equals(tarball)).toBe(true);
  });

  it('POST /api/repos/acme/publish (Hex before 2.3): the name comes from the tarball', async () => {
    const answer = await hexCall(api('acme/publish?replace=false'), {
      method: 'POST',
      token: tokens.write,
      body: await mixPackage('acme_old', '0.1.0'),
    });
    expect(answer.status, answer.body.toString()).toBe(201);
    expect(field(answer.term, 'name')).toBe('acme_old');
    expect(store.versions('acme', 'acme_old')).toEqual(['0.1.0']);
  });

  it('a rebar3_hex requirement (no repository) is met in this repository first, then in hex.pm, and stored as found', async () => {
    const tarball = await mixPackage('acme_erl', '1.0.0', [
      { name: 'acme_core', requirement: '~> 1.0', repository: null },
      { name: 'pub_dep', requirement: '>= 1.0.0', repository: null },
    ]);
    const answer = await publish('acme', 'acme_erl', tarball, { replace: false });
    expect(answer.status, answer.body.toString()).toBe(201);
    const dependencies = (await packageFile('acme', 'acme_erl')).releases[0]?.dependencies ?? [];
    // hexpm's form: no repository for this repository's own packages, "hexpm" for hex.pm's.
    expect(dependencies.find((dep) => dep.package === 'acme_core')?.repository).toBeUndefined();
    expect(dependencies.find((dep) => dep.package === 'pub_dep')?.repository).toBe('hexpm');
  });

  it('a requirement only a pre-release meets is accepted (Hex 2 picks a pre-release when nothing stable matches)', async () => {
    const answer = await publish('acme', 'acme_pre', await mixPackage('acme_pre', '1.0.0', [{ name: 'pub_pre', requirement: '~> 3.0-rc' }]));
    expect(answer.status, answer.body.toString()).toBe(201);
  });

  it("a hex.pm release newer than hexproxy's cached package file is found: upstream is asked again before a requirement is refused", async () => {
    // pub_dep's file is cached and fresh (the first test read it); 3.0.0 appears upstream after.
    await upstream.publish('pub_dep', { version: '3.0.0' });
    const answer = await publish('acme', 'acme_next', await mixPackage('acme_next', '1.0.0', [{ name: 'pub_dep', requirement: '~> 3.0' }]));
    expect(answer.status, answer.body.toString()).toBe(201);
  });

  it('JSON for clients that do not ask for Erlang terms', async () => {
    const answer = await hexCall(api('acme/packages/acme_json/releases'), {
      method: 'POST',
      token: tokens.write,
      body: await mixPackage('acme_json', '1.0.0'),
      accept: 'application/json',
    });
    expect(answer.status).toBe(201);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ name: 'acme_json', version: '1.0.0' });
  });
});

describe('replacing a release', () => {
  it('is refused without replace=true, naming --replace and the window', async () => {
    const tarball = await mixPackage('acme_rep', '1.0.0');
    expect((await publish('acme', 'acme_rep', tarball, { replace: false })).status).toBe(201);
    const again = await unchanged(() => publish('acme', 'acme_rep', tarball, { replace: false }));
    expect(again.status).toBe(422);
    expect(field(again.term, 'message')).toBe('Validation error(s)');
    expect(text(again.term, 'errors', 'inserted_at')).toContain('publish it again with --replace');
  });

  it('is allowed with replace=true inside the window (200, the new bytes served), refused past it', async () => {
    const replacement = await packageTarball('acme_rep', '1.0.0', { description: '<<"replaced">>' });
    const replaced = await publish('acme', 'acme_rep', replacement, { replace: true });
    expect(replaced.status, replaced.body.toString()).toBe(200);
    expect(replaced.headers['location']).toBeUndefined();
    expect(field(replaced.term, 'checksum')).toBe(createHash('sha256').update(replacement).digest('hex'));
    expect((await proxy.get('/repos/acme/tarballs/acme_rep-1.0.0.tar', { authorization: tokens.read })).body.equals(replacement)).toBe(true);

    now += (WINDOW_SECONDS + 1) * 1000;
    const late = await unchanged(() => publish('acme', 'acme_rep', replacement, { replace: true }));
    expect(late.status).toBe(422);
    expect(text(late.term, 'errors', 'inserted_at')).toContain('can no longer be replaced');
  });

  it('is never allowed where replaceWindowSeconds is 0', async () => {
    const tarball = await mixPackage('beta_pkg', '1.0.0');
    expect((await publish('beta', 'beta_pkg', tarball, { token: tokens.other, replace: false })).status).toBe(201);
    const replaced = await unchanged(() => publish('beta', 'beta_pkg', tarball, { token: tokens.other, replace: true }), 'beta');
    expect(replaced.status).toBe(422);
    expect(text(replaced.term, 'errors', 'inserted_at')).toContain('replaceWindowSeconds is 0');
  });
});

describe('refusals change nothing', () => {
  it('no token: 401; a read-only token, or one that writes elsewhere: 403; an unknown token: 401', async () => {
    const tarball = await mixPackage('acme_denied', '1.0.0');
    const none = await unchanged(() => hexCall(api('acme/packages/acme_denied/releases'), { method: 'POST', body: tarball }));
    expect(none.status).toBe(401);
    expect(text(none.term, 'message')).toContain('hexproxy token create NAME --write acme');
    const readOnly = await unchanged(() => publish('acme', 'acme_denied', tarball, { token: tokens.read }));
    expect(readOnly.status).toBe(403);
    expect(field(readOnly.term, 'message')).toBe(
      'token acme-reader may not publish to repository acme; a token for it is made with hexproxy token create NAME --write acme',
    );
    expect((await unchanged(() => publish('acme', 'acme_denied', tarball, { token: tokens.other }))).status).toBe(403);
    expect((await unchanged(() => publish('acme', 'acme_denied', tarball, { token: 'not-a-token' }))).status).toBe(401);
  });

  it('with expect: 100-continue, a refused token or an oversized upload is answered before the body is asked for', async () => {
    const tarball = await mixPackage('acme_early', '1.0.0');
    const headers = { accept: HEX_ERLANG, 'content-type': 'application/octet-stream' };
    const url = api('acme/packages/acme_early/releases?replace=false');
    const before = snapshot();
    const anonymous = await expectContinue(url, 'POST', headers, tarball);
    expect(anonymous).toMatchObject({ continued: false, status: 401 });
    const readOnly = await expectContinue(url, 'POST', { ...headers, authorization: tokens.read }, tarball);
    expect(readOnly).toMatchObject({ continued: false, status: 403 });
    const huge = await expectContinue(url, 'POST', { ...headers, authorization: tokens.write }, Buffer.alloc(16 * 1024 * 1024 + 1));
    expect(huge).toMatchObject({ continued: false, status: 413 });
    expect(snapshot()).toEqual(before);
    // The same request within the limits gets its 100 Continue and is published.
    const accepted = await expectContinue(url, 'POST', { ...headers, authorization: tokens.write }, tarball);
    expect(accepted).toMatchObject({ continued: true, status: 201 });
  });

  it('a tampered tarball (CHECKSUM that lies): 422, errors.tar', async () => {
    const tampered = await assemblePackage({
      metadata: metadataConfig('acme_bad', '1.0.0'),
      contents: await simpleContents('acme_bad'),
      checksum: '0'.repeat(64),
    });
    const answer = await unchanged(() => publish('acme', 'acme_bad', tampered));
    expect(answer.status).toBe(422);
    expect(field(answer.term, 'message')).toBe('Validation error(s)');
    expect(text(answer.term, 'errors', 'tar')).toMatch(/checksum/i);
  });

  it("a name other than the URL's: 422, errors.name with hexpm's words", async () => {
    const answer = await unchanged(async () => publish('acme', 'acme_url', await mixPackage('acme_other', '1.0.0')));
    expect(answer.status).toBe(422);
    expect(text(answer.term, 'errors', 'name')).toContain('metadata does not match package name');
  });

  it('a dependency that does not exist, in hex.pm or here, or on another repository, or that no version meets: 422, errors.requirements.NAME', async () => {
    const missing = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'ghost_pkg', requirement: '~> 1.0' }])),
    );
    expect(missing.status).toBe(422);
    expect(text(missing.term, 'errors', 'requirements', 'ghost_pkg')).toContain('package does not exist in repository "hexpm"');

    const local = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'acme_ghost', requirement: '~> 1.0', repository: 'acme' }])),
    );
    expect(text(local.term, 'errors', 'requirements', 'acme_ghost')).toContain('package does not exist in repository "acme"');

    const elsewhere = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'pub_dep', requirement: '~> 1.0', repository: 'beta' }])),
    );
    expect(text(elsewhere.term, 'errors', 'requirements', 'pub_dep')).toBe(
      'dependencies can only belong to public repository "hexpm" or current repository "acme", got: "beta"',
    );

    const unmet = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'pub_dep', requirement: '~> 9.0' }])),
    );
    expect(text(unmet.term, 'errors', 'requirements', 'pub_dep')).toContain(
      'no version of pub_dep in repository "hexpm" matches ~> 9.0 (newest: 3.0.0, 2.0.0, 1.0.0)',
    );

    const neither = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'nowhere', requirement: '~> 1.0', repository: null }])),
    );
    expect(text(neither.term, 'errors', 'requirements', 'nowhere')).toContain(
      'package does not exist in repository "acme" nor in repository "hexpm"',
    );
  });

  it('hex.pm cannot be reached to check a dependency: 502 saying which, nothing published', async () => {
    upstream.misbehave('/packages/pub_uncached', 'status-503');
    const answer = await unchanged(async () =>
      publish('acme', 'acme_dep', await mixPackage('acme_dep', '1.0.0', [{ name: 'pub_uncached', requirement: '~> 1.0' }])),
    );
    expect(answer.status).toBe(502);
    expect(text(answer.term, 'message')).toMatch(/^cannot check the dependency pub_uncached in repository "hexpm": .*nothing was published/);
  });

  it('publishing to hexpm, to an unknown repository, or without --organization: 404 saying where to publish', async () => {
    const tarball = await mixPackage('acme_nowhere', '1.0.0');
    const hexpm = await publish('hexpm', 'acme_nowhere', tarball);
    expect(hexpm.status).toBe(404);
    expect(text(hexpm.term, 'message')).toContain('hexproxy does not publish to the public repository hexpm');
    const unknown = await publish('nope', 'acme_nowhere', tarball);
    expect(unknown.status).toBe(404);
    expect(text(unknown.term, 'message')).toContain('hexproxy hosts no repository nope (it hosts acme, beta: config key hosted)');
    const bare = await hexCall(`${proxy.url}/api/packages/acme_nowhere/releases?replace=false`, {
      method: 'POST',
      token: tokens.write,
      body: tarball,
    });
    expect(bare.status).toBe(404);
    expect(text(bare.term, 'message')).toContain('mix hex.publish --organization acme');
    expect(store.has('acme', 'acme_nowhere')).toBe(false);
  });
});

describe('docs', () => {
  it('POST …/docs: 201 with location, served at /repos/acme/docs; DELETE: 204, then 404', async () => {
    const docs = await gzippedTar([{ name: 'index.html', data: '<h1>acme_core</h1>' }]);
    const url = api('acme/packages/acme_core/releases/1.0.0/docs');
    const posted = await hexCall(url, { method: 'POST', token: tokens.write, body: docs });
    expect(posted.status).toBe(201);
    expect(posted.headers['location']).toBe(`${proxy.url}/repos/acme/docs/acme_core-1.0.0.tar.gz`);
    const served = await proxy.get('/repos/acme/docs/acme_core-1.0.0.tar.gz', { authorization: tokens.read });
    expect(served.status).toBe(200);
    expect(served.body.equals(docs)).toBe(true);
    const release = (await hexCall(api('acme/packages/acme_core/releases/1.0.0'), { token: tokens.read })).term;
    expect(field(release, 'has_docs')).toBe(true);
    // The web UI's docs pages (served sandboxed there), for the release and the package.
    expect(field(release, 'docs_html_url')).toBe(`${proxy.url}/ui/docs/acme/acme_core/1.0.0/`);
    expect(field((await hexCall(api('acme/packages/acme_core'), { token: tokens.read })).term, 'docs_html_url')).toBe(
      `${proxy.url}/ui/docs/acme/acme_core/1.0.0/`,
    );

    expect((await hexCall(url, { method: 'DELETE', token: tokens.write })).status).toBe(204);
    expect((await proxy.get('/repos/acme/docs/acme_core-1.0.0.tar.gz', { authorization: tokens.read })).status).toBe(404);
    expect((await hexCall(url, { method: 'DELETE', token: tokens.write })).status).toBe(404);
  });

  it('refused for a release not published (404), for docs that are not a gzipped tar (422), and without the write right (403)', async () => {
    const docs = await gzippedTar([{ name: 'index.html', data: 'x' }]);
    const missing = await unchanged(() =>
      hexCall(api('acme/packages/acme_core/releases/9.9.9/docs'), { method: 'POST', token: tokens.write, body: docs }),
    );
    expect(missing.status).toBe(404);
    const broken = await unchanged(() =>
      hexCall(api('acme/packages/acme_core/releases/1.0.0/docs'), { method: 'POST', token: tokens.write, body: Buffer.from('not gzip') }),
    );
    expect(broken.status).toBe(422);
    expect(field(broken.term, 'errors', 'tar')).toBeDefined();
    const readOnly = await unchanged(() =>
      hexCall(api('acme/packages/acme_core/releases/1.0.0/docs'), { method: 'POST', token: tokens.read, body: docs }),
    );
    expect(readOnly.status).toBe(403);
  });
});

describe('retiring', () => {
  const retire = (version: string, body: Record<string, string>, token = tokens.write) =>
    hexCall(api(`acme/packages/acme_core/releases/${version}/retire`), { method: 'POST', token, body: encodeTerm(body), contentType: HEX_ERLANG });

  it('POST …/retire with an Erlang map: 204; the registry and the API say so; DELETE unretires', async () => {
    expect((await retire('1.0.0', { reason: 'security', message: 'use 1.0.1' })).status).toBe(204);
    const pkg = await packageFile('acme', 'acme_core');
    expect(pkg.releases[0]?.retired).toMatchObject({ reason: 2, message: 'use 1.0.1' });
    const release = await hexCall(api('acme/packages/acme_core/releases/1.0.0'), { token: tokens.read });
    expect(field(release.term, 'retirement')).toEqual({ reason: 'security', message: 'use 1.0.1' });
    const info = await hexCall(api('acme/packages/acme_core'), { token: tokens.read });
    expect(field(info.term, 'retirements')).toEqual({ '1.0.0': { reason: 'security', message: 'use 1.0.1' } });

    expect((await hexCall(api('acme/packages/acme_core/releases/1.0.0/retire'), { method: 'DELETE', token: tokens.write })).status).toBe(204);
    expect((await packageFile('acme', 'acme_core')).releases[0]?.retired).toBeUndefined();
    expect(field((await hexCall(api('acme/packages/acme_core/releases/1.0.0'), { token: tokens.read })).term, 'retirement')).toBeNull();
  });

  it('an unknown reason, or a message not 3 to 140 characters: 422 naming it; nothing changes', async () => {
    const reason = await unchanged(() => retire('1.0.0', { reason: 'bored', message: 'no reason at all' }));
    expect(reason.status).toBe(422);
    expect(text(reason.term, 'errors', 'retirement', 'reason')).toContain('use one of other, invalid, security, deprecated, renamed');
    const short = await unchanged(() => retire('1.0.0', { reason: 'other', message: 'no' }));
    expect(text(short.term, 'errors', 'retirement', 'message')).toContain('3 to 140');
    const long = await unchanged(() => retire('1.0.0', { reason: 'other', message: 'x'.repeat(141) }));
    expect(long.status).toBe(422);
    expect((await unchanged(() => retire('1.0.0', { reason: 'other', message: 'fine' }, tokens.read))).status).toBe(403);
    expect((await unchanged(() => retire('7.0.0', { reason: 'other', message: 'fine' }))).status).toBe(404);
  });
});

describe('reverting', () => {
  it('DELETE …/releases/VERSION: 204 inside the window, and the package goes with its last release', async () => {
    expect((await publish('acme', 'acme_gone', await mixPackage('acme_gone', '1.0.0'))).status).toBe(201);
    expect((await publish('acme', 'acme_gone', await mixPackage('acme_gone', '1.1.0'))).status).toBe(201);
    expect((await hexCall(api('acme/packages/acme_gone/releases/1.1.0'), { method: 'DELETE', token: tokens.write })).status).toBe(204);
    expect(store.versions('acme', 'acme_gone')).toEqual(['1.0.0']);
    expect((await hexCall(api('acme/packages/acme_gone/releases/1.0.0'), { method: 'DELETE', token: tokens.write })).status).toBe(204);
    expect(store.has('acme', 'acme_gone')).toBe(false);
    expect((await proxy.get('/repos/acme/packages/acme_gone', { authorization: tokens.read })).status).toBe(404);
  });

  it('refused past the window, for a package others here depend on, without the right, and for what is not there', async () => {
    // acme_core 1.0.0 was published before the clock moved past the window.
    const late = await unchanged(() => hexCall(api('acme/packages/acme_core/releases/1.0.0'), { method: 'DELETE', token: tokens.write }));
    expect(late.status).toBe(422);
    expect(text(late.term, 'errors', 'inserted_at')).toContain('retire it instead');

    expect((await publish('acme', 'acme_base', await mixPackage('acme_base', '1.0.0'))).status).toBe(201);
    expect(
      (await publish('acme', 'acme_top', await mixPackage('acme_top', '1.0.0', [{ name: 'acme_base', requirement: '~> 1.0', repository: 'acme' }])))
        .status,
    ).toBe(201);
    const depended = await unchanged(() => hexCall(api('acme/packages/acme_base/releases/1.0.0'), { method: 'DELETE', token: tokens.write }));
    expect(depended.status).toBe(422);
    expect(text(depended.term, 'errors', 'name')).toContain('acme_top 1.0.0');

    expect((await unchanged(() => hexCall(api('acme/packages/acme_top/releases/1.0.0'), { method: 'DELETE', token: tokens.read }))).status).toBe(403);
    expect((await unchanged(() => hexCall(api('acme/packages/acme_top/releases/5.0.0'), { method: 'DELETE', token: tokens.write }))).status).toBe(
      404,
    );
  });
});

describe('reading', () => {
  it('GET /api/repos/acme/packages/NAME: what mix hex.info prints (configs, releases newest first, retirements, meta)', async () => {
    expect((await publish('acme', 'acme_info', await mixPackage('acme_info', '0.2.0'))).status).toBe(201);
    expect((await publish('acme', 'acme_info', await mixPackage('acme_info', '0.10.0'))).status).toBe(201);
    const answer = await hexCall(api('acme/packages/acme_info'), { token: tokens.read });
    expect(answer.status).toBe(200);
    expect(answer.term).toMatchObject({
      repository: 'acme',
      name: 'acme_info',
      latest_version: '0.10.0',
      latest_stable_version: '0.10.0',
      configs: {
        'mix.exs': '{:acme_info, "~> 0.10.0", organization: "acme"}',
        'rebar.config': '{acme_info, "0.10.0"}',
        'erlang.mk': 'dep_acme_info = hex 0.10.0',
      },
      meta: { description: 'acme_info test package', licenses: ['Apache-2.0'], links: { Source: 'https://example.invalid/acme_info' } },
      retirements: {},
    });
    expect((field(answer.term, 'releases') as { version: string }[]).map((release) => release.version)).toEqual(['0.10.0', '0.2.0']);
  });

  it('GET …/releases/VERSION and ?search=: for a read token; 401 without one; 404 for what is not there', async () => {
    const release = await hexCall(api('acme/packages/acme_info/releases/0.2.0'), { token: tokens.read });
    expect(release.term).toMatchObject({ version: '0.2.0', requirements: {}, meta: { app: 'acme_info', build_tools: ['mix'] }, retirement: null });
    const search = await hexCall(api('acme/packages?search=info&sort=downloads'), { token: tokens.read });
    expect(search.status).toBe(200);
    expect((search.term as { name: string }[]).map((pkg) => pkg.name)).toEqual(['acme_info']);
    expect((await hexCall(api('acme/packages?search=zzz'), { token: tokens.read })).term).toEqual([]);
    expect((await hexCall(api('acme/packages/acme_info'))).status).toBe(401);
    expect((await hexCall(api('acme/packages/acme_info'), { token: tokens.other })).status).toBe(403);
    expect((await hexCall(api('acme/packages/acme_nothing'), { token: tokens.read })).status).toBe(404);
    expect((await hexCall(api('acme/packages/acme_info/releases/3.0.0'), { token: tokens.read })).status).toBe(404);
  });
});

describe('the plain deploy: PUT /repos/acme/tarballs/NAME-VERSION.tar', () => {
  const put = (file: string, body: Buffer, token: string | null = tokens.write, query = '') =>
    hexCall(`${proxy.url}/repos/acme/tarballs/${file}${query}`, { method: 'PUT', ...(token !== null && { token }), body, accept: '*/*' });

  it("docs/hosting.md's curl command publishes; a refusal prints hexproxy's reason and fails", async () => {
    const dir = tempDir('hexproxy-curl-');
    writeFileSync(join(dir, 'acme_curl-1.0.0.tar'), await mixPackage('acme_curl', '1.0.0'));
    const deploy = curlDeploy(proxy.url, 'acme', 'acme_curl-1.0.0.tar');
    const published = await sh(deploy, dir, { HEXPROXY_TOKEN: tokens.write });
    expect(published.code, published.output).toBe(0);
    expect(published.output).toMatch(/^published acme\/acme_curl 1\.0\.0 \(sha256 [0-9a-f]{64}\)\n$/);
    expect(store.versions('acme', 'acme_curl')).toEqual(['1.0.0']);
    const again = await unchanged(() => sh(deploy, dir, { HEXPROXY_TOKEN: tokens.write }));
    expect(again.code).not.toBe(0);
    expect(again.output).toContain('hexproxy: acme/acme_curl 1.0.0 has already been published');
    const readOnly = await unchanged(() => sh(deploy, dir, { HEXPROXY_TOKEN: tokens.read }));
    expect(readOnly.output).toContain('token acme-reader may not publish to repository acme');
  });

  it('201 then, with ?replace=true, 200; plain text', async () => {
    const tarball = await mixPackage('acme_put', '1.0.0');
    const created = await put('acme_put-1.0.0.tar', tarball);
    expect(created.status, created.body.toString()).toBe(201);
    expect(created.body.toString()).toBe(`published acme/acme_put 1.0.0 (sha256 ${createHash('sha256').update(tarball).digest('hex')})\n`);
    const replaced = await put('acme_put-1.0.0.tar', tarball, tokens.write, '?replace=true');
    expect(replaced.status).toBe(200);
    expect((await proxy.get('/repos/acme/tarballs/acme_put-1.0.0.tar', { authorization: tokens.read })).body.equals(tarball)).toBe(true);
  });

  it('refused in plain text: no token (401), read-only (403), a version other than the file name (422), a bad file name (400)', async () => {
    const tarball = await mixPackage('acme_put', '2.0.0');
    expect((await unchanged(() => put('acme_put-2.0.0.tar', tarball, null))).status).toBe(401);
    expect((await unchanged(() => put('acme_put-2.0.0.tar', tarball, tokens.read))).status).toBe(403);
    const mismatch = await unchanged(() => put('acme_put-2.0.1.tar', tarball));
    expect(mismatch.status).toBe(422);
    expect(mismatch.headers['content-type']).toMatch(/^text\/plain/);
    expect(mismatch.body.toString()).toContain('version');
    expect((await unchanged(() => put('acme_put.tar', tarball))).status).toBe(400);
  });
});

describe('/metrics', () => {
  it('counts publishes and refusals by reason', async () => {
    const metrics = (await proxy.get('/metrics', { authorization: tokens.metrics })).body.toString();
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 'NaN');
    expect(value('hexproxy_hosted_publishes_total{repository="acme",result="created"}')).toBeGreaterThanOrEqual(10);
    expect(value('hexproxy_hosted_publishes_total{repository="acme",result="replaced"}')).toBe(2);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="unauthorized"}')).toBeGreaterThanOrEqual(3);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="forbidden"}')).toBeGreaterThanOrEqual(3);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="invalid_tarball"}')).toBe(1);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="invalid_metadata"}')).toBe(2);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="dependency"}')).toBe(5);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="dependency_unchecked"}')).toBe(1);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="release_exists"}')).toBe(2);
    expect(value('hexproxy_hosted_publish_refusals_total{repository="acme",reason="release_locked"}')).toBe(1);
  });
});
