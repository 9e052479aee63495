import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { UpstreamTooLargeError, VerificationError } from '../../src/errors.js';
import { decodePackage, decodeSigned, encodeNames, encodePackage, encodeSigned, encodeVersions, topLevelString } from '../../src/registry/codec.js';
import { openRegistryFile, sealRegistryFile, type OpenOptions } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { OFFICIAL_REGISTRY, readOfficial } from '../support/fixtures.js';
import { innerChecksumOf, readHexTarball } from '../support/hex-tarball.js';
import { testKeyPair } from '../support/keys.js';
import { gzipBomb } from '../support/upstreams/misbehaviour.js';

const sha256 = (bytes: Buffer): Buffer => createHash('sha256').update(bytes).digest();
const hex = (bytes: Buffer | undefined): string | undefined => bytes?.toString('hex');

const fixtureKey = parsePublicKey(await readOfficial('public_key'));
const options: OpenOptions = { publicKey: fixtureKey, repository: 'hexpm', maxBytes: 1024 * 1024 };

async function openFixture(path: string, resource: RegistryResource, overrides: Partial<OpenOptions> = {}) {
  return openRegistryFile(await readOfficial(path), resource, { ...options, ...overrides });
}

const openNames = async (): Promise<Names> => (await openFixture('names', { kind: 'names' })).message as Names;
const openVersions = async (): Promise<Versions> => (await openFixture('versions', { kind: 'versions' })).message as Versions;
const openPackage = async (name: string): Promise<Package> => (await openFixture(`packages/${name}`, { kind: 'package', name })).message as Package;

const PACKAGES = { acme_http: ['1.0.0'], acme_json: ['0.1.0', '0.2.0'], acme_tls: ['1.0.0-rc.0'] };
const PACKAGE_NAMES = Object.keys(PACKAGES);

describe('the official fixture registry', () => {
  it('has a names file listing every package, verified with its public key', async () => {
    const names = await openNames();
    expect(names.repository).toBe('hexpm');
    expect(names.packages.map((pkg) => pkg.name)).toEqual(PACKAGE_NAMES);
    for (const pkg of names.packages) expect(pkg.updated_at?.seconds).toBeGreaterThan(0);
  });

  it('has a versions file with every version and nothing retired', async () => {
    const versions = await openVersions();
    expect(versions.repository).toBe('hexpm');
    expect(versions.packages.map(({ name, versions: list, retired }) => ({ name, versions: list, retired }))).toEqual(
      Object.entries(PACKAGES).map(([name, list]) => ({ name, versions: list, retired: [] })),
    );
  });

  it('has package files with releases, checksums and dependencies, optional ones included', async () => {
    const http = await openPackage('acme_http');
    expect(http).toMatchObject({ name: 'acme_http', repository: 'hexpm', advisories: [] });
    expect(http.releases).toHaveLength(1);
    const [release] = http.releases;
    expect(release?.version).toBe('1.0.0');
    expect(hex(release?.inner_checksum)).toBe('68a9c297e0a28aa1349c5671d55b9a2e9da258041e70f7c17fdfe98c97101c16');
    expect(hex(release?.outer_checksum)).toBe('6f7488f189151ddbf0674b9dfe98d98a76d12ec125a2625aedd83c7e15eefd2b');
    expect(release?.retired).toBeUndefined();
    // hexpm dependencies carry no repository field.
    expect(release?.dependencies).toEqual([
      { package: 'acme_json', requirement: '~> 0.2', optional: false, app: 'acme_json' },
      { package: 'acme_tls', requirement: '~> 1.0-rc', optional: true, app: 'acme_tls' },
    ]);

    for (const name of ['acme_json', 'acme_tls'] as const) {
      const pkg = await openPackage(name);
      expect(pkg.name).toBe(name);
      expect(pkg.releases.map((r) => r.version)).toEqual(PACKAGES[name]);
      for (const r of pkg.releases) {
        expect(r.dependencies).toEqual([]);
        expect(r.inner_checksum).toHaveLength(32);
        expect(r.outer_checksum).toHaveLength(32);
      }
    }
  });

  it('re-encodes every decoded payload to the identical bytes', async () => {
    const names = await openFixture('names', { kind: 'names' });
    expect(encodeNames(names.message as Names).equals(names.payload)).toBe(true);
    const versions = await openFixture('versions', { kind: 'versions' });
    expect(encodeVersions(versions.message as Versions).equals(versions.payload)).toBe(true);
    for (const name of PACKAGE_NAMES) {
      const pkg = await openFixture(`packages/${name}`, { kind: 'package', name });
      expect(encodePackage(pkg.message as Package).equals(pkg.payload)).toBe(true);
    }
  });

  it('re-encodes the Signed envelope to the identical bytes', async () => {
    for (const path of ['names', 'versions', ...PACKAGE_NAMES.map((name) => `packages/${name}`)]) {
      const raw = gunzipSync(await readOfficial(path));
      expect(encodeSigned(decodeSigned(raw)).equals(raw)).toBe(true);
    }
  });

  it('has tarballs whose SHA-256 is the outer checksum and whose entries give the inner checksum', async () => {
    const tarballs = (await readdir(new URL('tarballs/', OFFICIAL_REGISTRY))).sort();
    const checked: string[] = [];
    for (const name of PACKAGE_NAMES) {
      for (const release of (await openPackage(name)).releases) {
        const file = `${name}-${release.version}.tar`;
        const tar = await readOfficial(`tarballs/${file}`);
        expect(hex(sha256(tar)), file).toBe(hex(release.outer_checksum));
        const parts = await readHexTarball(tar);
        expect(parts.version.toString()).toBe('3');
        expect(hex(innerChecksumOf(parts)), file).toBe(hex(release.inner_checksum));
        expect(parts.checksum).toBe(release.inner_checksum.toString('hex').toUpperCase());
        expect(parts.metadata.toString()).toContain(`{<<"version">>,<<"${release.version}">>}.`);
        checked.push(file);
      }
    }
    expect(checked.sort()).toEqual(tarballs);
  });
});

describe('openRegistryFile', () => {
  const keys = testKeyPair();

  it('rejects a file signed by another key', async () => {
    await expect(openFixture('names', { kind: 'names' }, { publicKey: keys.publicKey })).rejects.toThrow(VerificationError);
  });

  it('rejects a file whose payload does not match its signature', async () => {
    const { payload, signature } = decodeSigned(gunzipSync(await readOfficial('packages/acme_json')));
    const tampered = Buffer.from(payload);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    const body = gzipSync(encodeSigned(signature ? { payload: tampered, signature } : { payload: tampered }));
    await expect(openRegistryFile(body, { kind: 'package', name: 'acme_json' }, options)).rejects.toThrow(VerificationError);
  });

  it('rejects a file without a signature', async () => {
    const { payload } = decodeSigned(gunzipSync(await readOfficial('names')));
    await expect(openRegistryFile(gzipSync(encodeSigned({ payload })), { kind: 'names' }, options)).rejects.toThrow(/missing signature/);
  });

  it('rejects a file for another repository, signed or not by the right key', async () => {
    await expect(openFixture('names', { kind: 'names' }, { repository: 'acme' })).rejects.toThrow(VerificationError);
    const evil = await sealRegistryFile(encodeVersions({ repository: 'evil', packages: [] }), keys.privateKey);
    const open = openRegistryFile(evil, { kind: 'versions' }, { ...options, publicKey: keys.publicKey });
    await expect(open).rejects.toThrow(VerificationError);
    await expect(open).rejects.toThrow(/"evil"/);
  });

  it('checks the repository of /names and /versions without decoding them, and decodes them on demand', async () => {
    // Repository after the packages, as the official encoder writes it, and before them.
    const packages = [{ name: 'a', versions: ['1.0.0'], retired: [], with_advisories: [] }];
    const after = encodeVersions({ repository: 'hexpm', packages });
    const before = Buffer.concat([Buffer.from([0x12, 5]), Buffer.from('hexpm'), encodeVersions({ repository: 'x', packages }).subarray(0, -3)]);
    for (const payload of [after, before]) {
      expect(topLevelString(payload, 2)).toBe('hexpm');
      const opened = await openRegistryFile(
        await sealRegistryFile(payload, keys.privateKey),
        { kind: 'versions' },
        { ...options, publicKey: keys.publicKey },
      );
      expect((opened.message as Versions).packages.map((p) => p.name)).toEqual(['a']);
    }
    expect(topLevelString(encodeNames({ repository: 'hexpm', packages: [] }), 3)).toBeUndefined();
    // A payload cut short is not a message: refused, not half-read.
    const cut = await sealRegistryFile(after.subarray(0, 6), keys.privateKey);
    await expect(openRegistryFile(cut, { kind: 'versions' }, { ...options, publicKey: keys.publicKey })).rejects.toThrow(/does not decode/);
    // A payload with no repository at all.
    const none = await sealRegistryFile(Buffer.from([0x0a, 0x00]), keys.privateKey);
    await expect(openRegistryFile(none, { kind: 'names' }, { ...options, publicKey: keys.publicKey })).rejects.toThrow(/names repository "\(none\)"/);
  });

  it('rejects a package file that describes another package', async () => {
    await expect(openFixture('packages/acme_json', { kind: 'package', name: 'acme_http' })).rejects.toThrow(VerificationError);
  });

  it('rejects a body that is not gzip', async () => {
    const raw = gunzipSync(await readOfficial('names'));
    await expect(openRegistryFile(raw, { kind: 'names' }, options)).rejects.toThrow(VerificationError);
    await expect(openRegistryFile(Buffer.from('<html>oops</html>'), { kind: 'names' }, options)).rejects.toThrow(VerificationError);
  });

  it('rejects gzip that is not a Signed message', async () => {
    await expect(openRegistryFile(gzipSync(Buffer.from('not protobuf at all')), { kind: 'names' }, options)).rejects.toThrow(VerificationError);
  });

  it('rejects a body inflating past maxBytes', async () => {
    await expect(openRegistryFile(await gzipBomb(), { kind: 'names' }, options)).rejects.toThrow(UpstreamTooLargeError);
    await expect(openFixture('names', { kind: 'names' }, { maxBytes: 64 })).rejects.toThrow(UpstreamTooLargeError);
  });
});

describe('the codec', () => {
  it('round-trips a Package with every field set', () => {
    const pkg: Package = {
      name: 'acme',
      repository: 'hexpm',
      advisories: [
        {
          id: 'GHSA-xxxx',
          summary: 'bad',
          html_url: 'https://example.invalid/a',
          api_url: 'https://example.invalid/b',
          severity: 3,
          cvss_score: 7.5,
          aliases: ['CVE-2025-1'],
        },
      ],
      releases: [
        {
          version: '1.0.0',
          inner_checksum: Buffer.alloc(32, 1),
          outer_checksum: Buffer.alloc(32, 2),
          dependencies: [{ package: 'dep', requirement: '~> 1.0', optional: true, app: 'dep_app', repository: 'other' }],
          retired: { reason: 2, message: 'security' },
          advisory_indexes: [0],
          published_at: { seconds: 1_700_000_000, nanos: 5 },
        },
      ],
    };
    const bytes = encodePackage(pkg);
    expect(decodePackage(bytes)).toEqual(pkg);
    expect(encodePackage(decodePackage(bytes)).equals(bytes)).toBe(true);
  });
});
