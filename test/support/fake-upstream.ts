// A fake repo.hex.pm: a real HTTP server serving a registry signed with a test key and
// real package tarballs built from specs, with hit counting, gates and misbehaviour.
import type { KeyObject } from 'node:crypto';
import { sealRegistryFile } from '../../src/registry/registry-file.js';
import type { BuiltTarball } from './hex-tarball.js';
import { testKeyPair, wrongKeyPair } from './keys.js';
import type { SigningMisbehaviour } from './misbehaviour.js';
import {
  buildPackages, buildRelease, packagePayload, registryPayload,
  type BuiltPackage, type PackageSpec, type ReleaseSpec,
} from './registry-builder.js';
import { contentTypeOf, startUpstreamServer, type Body, type UpstreamControls } from './upstream-server.js';

export type { DependencySpec } from './hex-tarball.js';
export type { PackageSpec, ReleaseSpec } from './registry-builder.js';
export type { Misbehaviour } from './misbehaviour.js';
export type { Gate, MisbehaveOptions, PathMatcher, UpstreamControls } from './upstream-server.js';
export { etagOf } from './upstream-server.js';
export { startStaticUpstream, type StaticUpstream } from './static-upstream.js';

export interface FakeUpstreamOptions {
  packages: PackageSpec[];
  /** The repository named in every payload; defaults to "hexpm". */
  repository?: string;
}

export interface FakeUpstream extends UpstreamControls {
  readonly repository: string;
  /** The key the registry is signed with, and its SPKI PEM (also served at /public_key). */
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  /** The key 'wrong-key' signs with. */
  readonly wrongPublicKeyPem: string;
  /** The tarball served for a release; throws for an unknown one. */
  tarball(name: string, version: string): BuiltTarball;
  /** The body a well-behaved request for a path gets, or undefined for a 404. */
  body(path: string): Buffer | undefined;
  /** Adds a release (replacing one of the same version) and re-signs the registry. */
  publish(name: string, release: ReleaseSpec): Promise<void>;
  /** Replaces every package and re-signs the registry. */
  setPackages(packages: PackageSpec[]): Promise<void>;
}

/** What /installs/hex-1.x.csv serves: "hex version,sha512 of the .ez,elixir version". */
export const INSTALLS_CSV = Buffer.from(`2.0.6,${'ab'.repeat(64)},1.14.0\n2.1.1,${'cd'.repeat(64)},1.15.0\n`);

export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const repository = options.repository ?? 'hexpm';
  const keys = testKeyPair();
  const wrongKeys = wrongKeyPair();
  let packages: BuiltPackage[] = [];
  let files = new Map<string, Buffer>();

  async function rebuild(next: BuiltPackage[]): Promise<void> {
    const built = new Map<string, Buffer>([
      ['/public_key', Buffer.from(keys.publicKeyPem)],
      ['/installs/hex-1.x.csv', INSTALLS_CSV],
    ]);
    const registryPaths = ['/names', '/versions', ...next.map((pkg) => `/packages/${pkg.name}`)];
    for (const path of registryPaths) {
      const payload = registryPayload(path, next, repository);
      if (payload) built.set(path, await sealRegistryFile(payload, keys.privateKey));
    }
    for (const pkg of next) {
      for (const { spec, tarball, docs } of pkg.releases) {
        built.set(`/tarballs/${pkg.name}-${spec.version}.tar`, tarball.tar);
        built.set(`/docs/${pkg.name}-${spec.version}.tar.gz`, docs);
      }
    }
    packages = next;
    files = built;
  }

  async function tamper(path: string, mode: SigningMisbehaviour): Promise<Buffer | undefined> {
    if (mode === 'wrong-key') {
      const payload = registryPayload(path, packages, repository);
      return payload && sealRegistryFile(payload, wrongKeys.privateKey);
    }
    if (mode === 'wrong-repository') {
      const payload = registryPayload(path, packages, 'evil');
      return payload && sealRegistryFile(payload, keys.privateKey);
    }
    const pkg = packages.find((candidate) => path === `/packages/${candidate.name}`);
    if (!pkg) return undefined;
    // Replay another package's genuine file; with no other package, rename this one's.
    const other = packages.find((candidate) => candidate.name !== pkg.name);
    return other ? files.get(`/packages/${other.name}`) : sealRegistryFile(packagePayload(pkg, repository, `${pkg.name}_impostor`), keys.privateKey);
  }

  async function get(path: string): Promise<Body | undefined> {
    const body = files.get(path);
    return body && { body, contentType: contentTypeOf(path) };
  }

  await rebuild(await buildPackages(options.packages));
  const server = await startUpstreamServer({ get, tamper });
  return Object.assign(server, {
    repository,
    publicKey: keys.publicKey,
    publicKeyPem: keys.publicKeyPem,
    wrongPublicKeyPem: wrongKeys.publicKeyPem,
    tarball(name: string, version: string): BuiltTarball {
      const release = packages.find((pkg) => pkg.name === name)?.releases.find((r) => r.spec.version === version);
      if (!release) throw new Error(`the fake upstream has no release ${name} ${version}`);
      return release.tarball;
    },
    body: (path: string): Buffer | undefined => files.get(path),
    async publish(name: string, spec: ReleaseSpec): Promise<void> {
      const release = await buildRelease(name, spec);
      const releases = packages.find((pkg) => pkg.name === name)?.releases ?? [];
      const replaces = releases.some((r) => r.spec.version === spec.version);
      const updated = { name, releases: replaces ? releases.map((r) => (r.spec.version === spec.version ? release : r)) : [...releases, release] };
      await rebuild([...packages.filter((pkg) => pkg.name !== name), updated]);
    },
    async setPackages(specs: PackageSpec[]): Promise<void> {
      await rebuild(await buildPackages(specs));
    },
  });
}
