// Organization repositories of the fake upstream (/repos/ORG/…): their own keys and
// repository names, auth keys, cross-repository dependencies, policies, misbehaviour.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VerificationError } from '../../src/errors.js';
import { decodePackage, decodePolicy, decodeSigned } from '../../src/registry/codec.js';
import { openRegistryFile, type OpenOptions } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey, verifyPayload } from '../../src/registry/signature.js';
import type { Names, Package, Policy, Versions } from '../../src/registry/types.js';
import { startFakeUpstream, type FakeUpstream, type OrganizationSpec, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { readHexTarball } from '../support/hex-tarball.js';
import { readTar } from '../support/tar.js';

const sha256 = (bytes: Buffer): Buffer => createHash('sha256').update(bytes).digest();

const PUBLIC: PackageSpec[] = [{ name: 'pub_json', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] }];

const ACME_KEY = 'acme-read-key-0123456789abcdef';
const ACME: OrganizationSpec = {
  authKey: ACME_KEY,
  packages: [
    {
      name: 'acme_core',
      releases: [
        {
          version: '1.0.0',
          dependencies: [
            { package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' },
            { package: 'acme_util', requirement: '>= 0.1.0' },
          ],
        },
      ],
    },
    { name: 'acme_util', releases: [{ version: '0.1.0' }, { version: '0.2.0', omitOuterChecksum: true }] },
  ],
  policies: {
    'strict-prod': {
      description: 'no retired releases',
      repositories: [{ repository: 'hexpm', restriction: { retirement_reasons: [2], cooldown: '7d' }, overrides: [] }],
    },
    'open-policy': { visibility: 1, repositories: [] },
  },
};
const BETA: OrganizationSpec = { authKey: 'beta-key', packages: [{ name: 'beta_only', releases: [{ version: '2.0.0' }] }], unauthorizedStatus: 403 };

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: PUBLIC, organizations: { acme: ACME, beta: BETA } });
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(async () => {
  upstream.behave();
  upstream.resetHits();
  await upstream.setPackages(PUBLIC);
  await upstream.setPackages(ACME.packages, 'acme');
  await upstream.setPackages(BETA.packages, 'beta');
});

const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${upstream.url}${path}`, { headers });
const getAcme = (path: string): Promise<Response> => get(`/repos/acme${path}`, { authorization: ACME_KEY });
const bytesOf = async (response: Response): Promise<Buffer> => Buffer.from(await response.arrayBuffer());

function resourceOf(local: string): RegistryResource {
  if (local === '/names') return { kind: 'names' };
  if (local === '/versions') return { kind: 'versions' };
  return { kind: 'package', name: local.slice('/packages/'.length) };
}

const acmeOptions = (overrides: Partial<OpenOptions> = {}): OpenOptions => ({
  publicKey: upstream.organization('acme').publicKey,
  repository: 'acme',
  maxBytes: 10 * 1024 * 1024,
  ...overrides,
});

/** Fetches /repos/acme + local with acme's key and opens it as a registry file of repository "acme". */
async function openAcme(local: string, overrides: Partial<OpenOptions> = {}) {
  const response = await getAcme(local);
  expect(response.status, local).toBe(200);
  return openRegistryFile(await bytesOf(response), resourceOf(local), acmeOptions(overrides));
}

const openAcmePackage = async (name: string): Promise<Package> => (await openAcme(`/packages/${name}`)).message as Package;

/** Gunzips, checks the signature with `publicKey` and decodes a policy file. */
function openPolicy(body: Buffer, publicKey = upstream.organization('acme').publicKey): Policy {
  const { payload, signature } = decodeSigned(gunzipSync(body));
  if (!signature || !verifyPayload(payload, signature, publicKey)) throw new VerificationError('bad policy signature');
  return decodePolicy(payload);
}

describe('organization repositories', () => {
  it("serve names, versions and packages signed with the organization's own key, naming the organization", async () => {
    const names = (await openAcme('/names')).message as Names;
    expect(names.repository).toBe('acme');
    expect(names.packages.map((pkg) => pkg.name)).toEqual(['acme_core', 'acme_util']);
    const versions = (await openAcme('/versions')).message as Versions;
    expect(versions.repository).toBe('acme');
    expect(versions.packages.map((pkg) => [pkg.name, pkg.versions])).toEqual([
      ['acme_core', ['1.0.0']],
      ['acme_util', ['0.1.0', '0.2.0']],
    ]);
    const core = await openAcmePackage('acme_core');
    expect(core).toMatchObject({ name: 'acme_core', repository: 'acme' });

    // The public key, the other organization's key and the wrong repository name all fail.
    for (const local of ['/names', '/versions', '/packages/acme_core']) {
      await expect(openAcme(local, { publicKey: upstream.publicKey }), local).rejects.toThrow(VerificationError);
      await expect(openAcme(local, { publicKey: upstream.organization('beta').publicKey }), local).rejects.toThrow(VerificationError);
      await expect(openAcme(local, { repository: 'hexpm' }), local).rejects.toThrow(VerificationError);
    }
    expect(upstream.organization('acme').publicKeyPem).not.toBe(upstream.publicKeyPem);
    expect(upstream.organization('acme').publicKeyPem).not.toBe(upstream.organization('beta').publicKeyPem);
    expect(parsePublicKey(upstream.organization('acme').publicKeyPem).equals(upstream.organization('acme').publicKey)).toBe(true);
    expect(upstream.organization('acme').authKey).toBe(ACME_KEY);
    expect(() => upstream.organization('nope')).toThrow(/no organization nope/);
  });

  it('encode a dependency on a public package with repository "hexpm", in the registry and in metadata.config', async () => {
    const core = await openAcmePackage('acme_core');
    expect(core.releases[0]?.dependencies).toEqual([
      { package: 'pub_json', requirement: '~> 1.0', repository: 'hexpm' },
      { package: 'acme_util', requirement: '>= 0.1.0' },
    ]);
    const metadata = (await readHexTarball(upstream.tarball('acme_core', '1.0.0', 'acme').tar)).metadata.toString();
    expect(metadata).toContain('{<<"name">>,<<"pub_json">>},{<<"optional">>,false},{<<"repository">>,<<"hexpm">>}');
    // The public dependency really is in the public repository, and only there.
    const pub = await openRegistryFile(
      await bytesOf(await get('/packages/pub_json')),
      { kind: 'package', name: 'pub_json' },
      { publicKey: upstream.publicKey, repository: 'hexpm', maxBytes: 1 << 20 },
    );
    expect((pub.message as Package).releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
    expect((await getAcme('/packages/pub_json')).status).toBe(404);
  });

  it('serve tarballs whose SHA-256 is the signed outer checksum, and docs', async () => {
    for (const { name, releases } of ACME.packages) {
      const signed = await openAcmePackage(name);
      for (const { version, omitOuterChecksum } of releases) {
        const tar = await bytesOf(await getAcme(`/tarballs/${name}-${version}.tar`));
        const built = upstream.tarball(name, version, 'acme');
        expect(tar.equals(built.tar)).toBe(true);
        expect(sha256(tar).equals(built.outerChecksum)).toBe(true);
        const release = signed.releases.find((r) => r.version === version);
        if (omitOuterChecksum) expect(release?.outer_checksum).toBeUndefined();
        else expect(release?.outer_checksum?.equals(sha256(tar))).toBe(true);
        expect(release?.inner_checksum.equals(built.innerChecksum)).toBe(true);
      }
    }
    const docs = await readTar(gunzipSync(await bytesOf(await getAcme('/docs/acme_util-0.1.0.tar.gz'))));
    expect(docs.get('index.html')?.toString()).toContain('acme_util 0.1.0');
    expect(() => upstream.tarball('acme_core', '1.0.0')).toThrow(/no release acme_core 1.0.0/);
    expect(() => upstream.tarball('pub_json', '1.0.0', 'acme')).toThrow(/in organization acme/);
  });

  it('answer 401 without the exact auth key (403 where configured), counting each request as a hit', async () => {
    const paths = [
      '/names',
      '/versions',
      '/packages/acme_core',
      '/tarballs/acme_core-1.0.0.tar',
      '/docs/acme_core-1.0.0.tar.gz',
      '/policies/strict-prod',
      '/packages/nope',
    ];
    for (const local of paths) {
      const path = `/repos/acme${local}`;
      const wrongs: Record<string, string>[] = [
        {},
        { authorization: 'wrong' },
        { authorization: `Bearer ${ACME_KEY}` },
        { authorization: 'beta-key' },
      ];
      for (const headers of wrongs) {
        const response = await get(path, headers);
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(await response.text()).toMatch(/authentication information/);
      }
      expect(upstream.lastHeaders(path)?.authorization).toBe('beta-key');
      expect(upstream.hits(path)).toBe(4);
      expect((await get(path, { authorization: ACME_KEY })).status, path).toBe(local === '/packages/nope' ? 404 : 200);
      expect(upstream.hits(path)).toBe(5);
      expect(upstream.lastHeaders(path)?.authorization).toBe(ACME_KEY);
    }
    expect((await get('/repos/beta/names')).status).toBe(403);
    expect((await get('/repos/beta/names', { authorization: ACME_KEY })).status).toBe(403);
    expect((await get('/repos/beta/names', { authorization: 'beta-key' })).status).toBe(200);
    // An organization that does not exist, a path that is no organization's, or no public_key: 404.
    for (const path of ['/repos/nope/names', '/repos/acme', '/repos/', '/repos/acme/public_key']) {
      expect((await get(path, { authorization: ACME_KEY })).status, path).toBe(404);
    }
  });

  it("send hex.pm's private Cache-Control for organization files, none for public ones", async () => {
    expect((await getAcme('/packages/acme_core')).headers.get('cache-control')).toBe('private, max-age=3600');
    expect((await getAcme('/names')).headers.get('cache-control')).toBe('private, max-age=3600');
    expect((await getAcme('/tarballs/acme_util-0.1.0.tar')).headers.get('cache-control')).toBe('private, max-age=86400');
    expect((await getAcme('/policies/strict-prod')).headers.get('cache-control')).toBe('private, max-age=60');
    expect((await get('/repos/acme/policies/open-policy')).headers.get('cache-control')).toBe('public, max-age=600');
    expect((await get('/packages/pub_json')).headers.get('cache-control')).toBeNull();
    const etag = (await getAcme('/versions')).headers.get('etag') ?? '';
    const again = await get('/repos/acme/versions', { authorization: ACME_KEY, 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.headers.get('cache-control')).toBe('private, max-age=3600');
    // Without the key, a matching If-None-Match still gets 401.
    expect((await get('/repos/acme/versions', { 'if-none-match': etag })).status).toBe(401);
  });

  it('leave the public repository as it was', async () => {
    const publicOptions = { publicKey: upstream.publicKey, repository: 'hexpm', maxBytes: 1 << 20 };
    const names = await openRegistryFile(await bytesOf(await get('/names')), { kind: 'names' }, publicOptions);
    expect((names.message as Names).packages.map((pkg) => pkg.name)).toEqual(['pub_json']);
    const versions = await openRegistryFile(await bytesOf(await get('/versions')), { kind: 'versions' }, publicOptions);
    expect((versions.message as Versions).repository).toBe('hexpm');
    await expect(
      openRegistryFile(
        await bytesOf(await get('/names')),
        { kind: 'names' },
        { ...publicOptions, publicKey: upstream.organization('acme').publicKey },
      ),
    ).rejects.toThrow(VerificationError);
    expect((await get('/public_key')).status).toBe(200);
    expect(await (await get('/public_key')).text()).toBe(upstream.publicKeyPem);
    for (const path of ['/packages/acme_core', '/tarballs/acme_core-1.0.0.tar', '/policies/strict-prod']) {
      expect((await get(path, { authorization: ACME_KEY })).status, path).toBe(404);
    }
    // The public repository never asks for a key, and ignores one.
    expect((await get('/packages/pub_json', { authorization: 'anything' })).status).toBe(200);
    expect(upstream.body('/names')?.equals(await bytesOf(await get('/names')))).toBe(true);
  });

  it("publish to and replace an organization's packages, re-signing only its registry", async () => {
    const publicVersions = upstream.body('/versions');
    await upstream.publish(
      'acme_util',
      { version: '0.3.0', dependencies: [{ package: 'pub_json', requirement: '~> 1.1', repository: 'hexpm' }] },
      'acme',
    );
    await upstream.publish('acme_new', { version: '0.0.1' }, 'acme');
    expect(upstream.body('/versions')?.equals(publicVersions ?? Buffer.alloc(0))).toBe(true);
    const versions = (await openAcme('/versions')).message as Versions;
    expect(versions.packages.map((pkg) => [pkg.name, pkg.versions])).toEqual([
      ['acme_core', ['1.0.0']],
      ['acme_new', ['0.0.1']],
      ['acme_util', ['0.1.0', '0.2.0', '0.3.0']],
    ]);
    const util = await openAcmePackage('acme_util');
    const tar = await bytesOf(await getAcme('/tarballs/acme_util-0.3.0.tar'));
    expect(util.releases[2]?.outer_checksum?.equals(sha256(tar))).toBe(true);
    expect(upstream.body('/repos/acme/tarballs/acme_util-0.3.0.tar')?.equals(tar)).toBe(true);
    expect((await get('/packages/acme_new')).status).toBe(404);

    await upstream.setPackages([{ name: 'solo', releases: [{ version: '1.0.0' }] }], 'acme');
    expect(((await openAcme('/names')).message as Names).packages.map((pkg) => pkg.name)).toEqual(['solo']);
    expect((await getAcme('/packages/acme_core')).status).toBe(404);
    expect((await getAcme('/policies/strict-prod')).status).toBe(200);
    await expect(upstream.publish('x', { version: '1.0.0' }, 'nope')).rejects.toThrow(/no organization nope/);
  });
});

describe('organization policies', () => {
  it("serve a private policy, signed with the organization's key, only with its key", async () => {
    const body = await bytesOf(await getAcme('/policies/strict-prod'));
    expect(upstream.body('/repos/acme/policies/strict-prod')?.equals(body)).toBe(true);
    const policy = openPolicy(body);
    expect(policy).toEqual({
      repository: 'acme',
      name: 'strict-prod',
      description: 'no retired releases',
      visibility: 0,
      repositories: [{ repository: 'hexpm', restriction: { retirement_reasons: [2], cooldown: '7d' }, overrides: [] }],
    });
    expect(() => openPolicy(body, upstream.publicKey)).toThrow(VerificationError);
    expect((await get('/repos/acme/policies/strict-prod')).status).toBe(401);
    expect((await getAcme('/policies/nope')).status).toBe(404);
  });

  it('serve a public policy to anyone', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'wrong' }, { authorization: ACME_KEY }];
    for (const headers of attempts) {
      const response = await get('/repos/acme/policies/open-policy', headers);
      expect(response.status).toBe(200);
      expect(openPolicy(await bytesOf(response))).toEqual({ repository: 'acme', name: 'open-policy', visibility: 1, repositories: [] });
    }
  });
});

describe('misbehaviour on organization paths', () => {
  it('wrong-key signs organization files with the wrong key', async () => {
    upstream.misbehave(/^\/repos\/acme\//, 'wrong-key');
    await expect(openAcme('/packages/acme_core')).rejects.toThrow(VerificationError);
    const wrongKey = parsePublicKey(upstream.wrongPublicKeyPem);
    expect(((await openAcme('/packages/acme_core', { publicKey: wrongKey })).message as Package).repository).toBe('acme');
    expect(((await openAcme('/names', { publicKey: wrongKey })).message as Names).repository).toBe('acme');
    expect(openPolicy(await bytesOf(await getAcme('/policies/strict-prod')), wrongKey).repository).toBe('acme');
    expect((await bytesOf(await getAcme('/tarballs/acme_util-0.1.0.tar'))).equals(upstream.tarball('acme_util', '0.1.0', 'acme').tar)).toBe(true);
  });

  it('wrong-repository names "evil", signed with the organization\'s key', async () => {
    upstream.misbehave('/repos/acme/versions', 'wrong-repository');
    upstream.misbehave('/repos/acme/policies/strict-prod', 'wrong-repository');
    await expect(openAcme('/versions')).rejects.toThrow(VerificationError);
    expect(((await openAcme('/versions', { repository: 'evil' })).message as Versions).packages).toHaveLength(2);
    expect(openPolicy(await bytesOf(await getAcme('/policies/strict-prod'))).repository).toBe('evil');
    await expect(openAcme('/names')).resolves.toBeDefined();
  });

  it('wrong-package-name replays another package of the same organization', async () => {
    upstream.misbehave('/repos/acme/packages/acme_util', 'wrong-package-name');
    await expect(openAcme('/packages/acme_util')).rejects.toThrow(VerificationError);
    const replayed = decodePackage(decodeSigned(gunzipSync(await bytesOf(await getAcme('/packages/acme_util')))).payload);
    expect(replayed).toMatchObject({ name: 'acme_core', repository: 'acme' });

    upstream.misbehave('/repos/beta/packages/beta_only', 'wrong-package-name');
    const renamed = await bytesOf(await get('/repos/beta/packages/beta_only', { authorization: 'beta-key' }));
    await expect(
      openRegistryFile(
        renamed,
        { kind: 'package', name: 'beta_only' },
        { publicKey: upstream.organization('beta').publicKey, repository: 'beta', maxBytes: 1 << 20 },
      ),
    ).rejects.toThrow(VerificationError);
    expect(decodePackage(decodeSigned(gunzipSync(renamed)).payload).name).toBe('beta_only_impostor');
  });

  it('flip-tarball-byte changes organization tarballs', async () => {
    upstream.misbehave('*', 'flip-tarball-byte');
    const good = upstream.tarball('acme_util', '0.1.0', 'acme');
    const served = await bytesOf(await getAcme('/tarballs/acme_util-0.1.0.tar'));
    expect(served.length).toBe(good.tar.length);
    expect(sha256(served).equals(good.outerChecksum)).toBe(false);
    await expect(openAcme('/packages/acme_util')).resolves.toBeDefined();
  });

  it('status modes apply after the key check: refused requests use up no rule', async () => {
    upstream.misbehave('/repos/acme/names', 'status-503', { times: 1 });
    expect((await get('/repos/acme/names')).status).toBe(401);
    expect((await getAcme('/names')).status).toBe(503);
    expect((await getAcme('/names')).status).toBe(200);
    expect(upstream.hits('/repos/acme/names')).toBe(3);
  });

  it('holds organization requests, authorized or not, until released', async () => {
    const gate = upstream.hold('/repos/acme/packages/acme_core');
    const requests = [getAcme('/packages/acme_core'), get('/repos/acme/packages/acme_core'), getAcme('/packages/acme_core')];
    await gate.arrived(3);
    expect(upstream.hits('/repos/acme/packages/acme_core')).toBe(3);
    gate.release();
    expect((await Promise.all(requests)).map((r) => r.status)).toEqual([200, 401, 200]);
  });
});
