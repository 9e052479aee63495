// Policies cover hosted repositories: policy.repositories names them as it names
// organizations, and the policy's filters apply to their views; a hosted repository merged
// into the root view is filtered with it, a release published later too; a policy that
// names a merged repository without the public one is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hexproxy } from '../../src/app.js';
import { ConfigError } from '../../src/errors.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import type { TarballSpec } from '../support/hex-tarball.js';
import { validatedRelease } from '../support/hosted-release.js';
import { startProxy, type HttpResult, type TestProxy } from '../support/proxy.js';

let upstream: FakeUpstream;
let proxy: TestProxy;
let hexproxy: Hexproxy;
let store: HostedStore;
let readToken = '';

const policy = { repositories: ['hexpm', 'beta'], deny: ['*_denied', 'acme_partly@>= 2.0.0'], tarballs: 'strict' as const };

async function publish(repo: string, spec: TarballSpec): Promise<void> {
  await hexproxy.mayPublishName(repo, spec.name);
  await store.publish(repo, await validatedRelease(spec), { replace: false, publisher: 'ci-publish' });
}

function resourceOf(path: string): RegistryResource {
  return path.startsWith('packages/') ? { kind: 'package', name: path.slice('packages/'.length) } : { kind: path as 'names' | 'versions' };
}

async function opened<T>(response: HttpResult, path: string, repository: string): Promise<T> {
  expect(response.status, `${path}: ${response.body.toString()}`).toBe(200);
  const key = parsePublicKey(hexproxy.keys.publicKeyPem);
  return (await openRegistryFile(response.body, resourceOf(path), { publicKey: key, repository, maxBytes: 1 << 24 })).message as T;
}

/** A registry file of `repo` ("hexpm": the root view), decoded. */
async function file<T>(repo: string, path: string): Promise<{ message: T; response: HttpResult }> {
  const response = await proxy.get(repo === 'hexpm' ? `/${path}` : `/repos/${repo}/${path}`, { authorization: readToken });
  return { message: await opened<T>(response, path, repo), response };
}

const namesOf = async (repo: string): Promise<string[]> => (await file<Names>(repo, 'names')).message.packages.map((entry) => entry.name);

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'pub_json', releases: [{ version: '1.0.0' }] },
      { name: 'pub_denied', releases: [{ version: '1.0.0' }] },
      // Shadowed by acme's acme_ok (hosted.acme.mayShadow): not in the filtered view either.
      { name: 'acme_ok', releases: [{ version: '5.0.0' }] },
    ],
  });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    config: { hosted: { acme: { merge: true, mayShadow: ['acme_ok'] }, beta: {} }, policy },
  });
  hexproxy = proxy.server.hexproxy;
  const hosted = hexproxy.hosted;
  if (!hosted) throw new Error('hexproxy opened no hosted store');
  store = hosted;
  const created = await runCli([
    'token',
    'create',
    'reader',
    '--read',
    'hexpm,acme,beta',
    '--config',
    proxy.configFile ?? '',
    '--data-dir',
    proxy.dataDir,
  ]);
  expect(created.code, created.stderr).toBe(0);
  readToken = created.stdout.trim();
  await publish('acme', { name: 'acme_ok', version: '1.0.0' });
  await publish('acme', { name: 'acme_denied', version: '1.0.0' });
  await publish('acme', { name: 'acme_partly', version: '1.0.0' });
  await publish('acme', { name: 'acme_partly', version: '2.0.0' });
  await publish('beta', { name: 'beta_ok', version: '1.0.0' });
  await publish('beta', { name: 'beta_denied', version: '1.0.0' });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('a policy naming a hosted repository', () => {
  it("filters that repository's view as an organization's: /names, the package file, strict tarballs", async () => {
    expect(await namesOf('beta')).toEqual(['beta_ok']);
    const denied = await file<Package>('beta', 'packages/beta_denied');
    expect(denied.message.releases).toEqual([]);
    expect(denied.response.headers['x-hexproxy-policy-hidden']).toBe('1.0.0 (deny)');
    const refused = await proxy.get('/repos/beta/tarballs/beta_denied-1.0.0.tar', { authorization: readToken });
    expect(refused.status).toBe(403);
    expect(refused.body.toString()).toContain('denied by policy.deny[0] "*_denied"');
    expect((await proxy.get('/repos/beta/tarballs/beta_ok-1.0.0.tar', { authorization: readToken })).status).toBe(200);
  });

  it('leaves a hosted repository it does not name as it is', async () => {
    expect(await namesOf('acme')).toEqual(['acme_denied', 'acme_ok', 'acme_partly']);
    expect((await proxy.get('/repos/acme/tarballs/acme_denied-1.0.0.tar', { authorization: readToken })).status).toBe(200);
  });
});

describe('a policy on the root view', () => {
  it("filters the merged repository's packages there with upstream's, from memory too", async () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      expect(await namesOf('hexpm'), `attempt ${attempt}`).toEqual(['acme_ok', 'acme_partly', 'pub_json']);
      const versions = await file<Versions>('hexpm', 'versions');
      expect(versions.message.packages.map((entry) => [entry.name, entry.versions])).toEqual([
        ['acme_ok', ['1.0.0']],
        ['acme_partly', ['1.0.0']],
        ['pub_json', ['1.0.0']],
      ]);
      const partly = await file<Package>('hexpm', 'packages/acme_partly');
      expect(partly.message.repository).toBe('hexpm');
      expect(partly.message.releases.map((release) => release.version)).toEqual(['1.0.0']);
      expect(partly.response.headers['x-hexproxy-policy-hidden']).toBe('2.0.0 (deny)');
      const ok = await file<Package>('hexpm', 'packages/acme_ok');
      expect(ok.message.releases.map((release) => release.version)).toEqual(['1.0.0']);
      for (const headers of [{}, { authorization: readToken }] as Record<string, string>[]) {
        expect((await proxy.get('/tarballs/acme_partly-2.0.0.tar', headers)).status).toBe(403);
        expect((await proxy.get('/tarballs/acme_partly-1.0.0.tar', headers)).status).toBe(200);
        expect((await proxy.get('/tarballs/acme_ok-5.0.0.tar', headers)).status).toBe(404);
      }
    }
    // Upstream's acme_ok was never asked for: the filtered view judged acme's.
    expect(upstream.hits('/packages/acme_ok') + upstream.hits('/tarballs/acme_ok-5.0.0.tar')).toBe(0);
  });

  it('keeps filtering after a publish: a new blocked release stays out, a new allowed one shows', async () => {
    await publish('acme', { name: 'acme_partly', version: '2.1.0' });
    await publish('acme', { name: 'acme_partly', version: '1.1.0' });
    const versions = await file<Versions>('hexpm', 'versions');
    expect(versions.message.packages.find((entry) => entry.name === 'acme_partly')?.versions).toEqual(['1.0.0', '1.1.0']);
    const partly = await file<Package>('hexpm', 'packages/acme_partly');
    expect(partly.message.releases.map((release) => release.version)).toEqual(['1.0.0', '1.1.0']);
    expect(partly.response.headers['x-hexproxy-policy-hidden']).toBe('2.0.0 (deny), 2.1.0 (deny)');
  });

  it('is refused when it names a merged repository without the public one, keeping the policy in force', async () => {
    const before = hexproxy.policy.generation;
    expect(() =>
      hexproxy.replacePolicy({ ...policy, repositories: ['acme'], allow: [], minReleaseAge: '0', undatedReleases: 'allow', blockRetired: false }),
    ).toThrow(
      new ConfigError(
        'config key policy.repositories: "acme" is merged into the root view (hosted.acme.merge), which the policy filters only when policy.repositories names "hexpm"; add "hexpm" to policy.repositories, or set hosted.acme.merge to false',
      ),
    );
    expect(hexproxy.policy.generation).toBe(before);
    // A repository that is not merged may be named alone.
    hexproxy.replacePolicy({ ...policy, repositories: ['beta'], allow: [], minReleaseAge: '0', undatedReleases: 'allow', blockRetired: false });
    expect(await namesOf('hexpm')).toContain('acme_denied');
    expect(await namesOf('beta')).toEqual(['beta_ok']);
  });
});
