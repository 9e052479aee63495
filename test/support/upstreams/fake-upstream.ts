// A fake repo.hex.pm: a real HTTP server serving a registry signed with a test key and
// real package tarballs built from specs, with hit counting, gates and misbehaviour; and,
// optionally, organization repositories under /repos/ORG/, each with its own key and
// behind its own auth key.
import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sealRegistryFile } from '../../../src/registry/registry-file.js';
import type { BuiltTarball } from '../hex-tarball.js';
import { signedFileFor } from './fake-builds.js';
import { buildsKeyPair, orgKeyPair, testKeyPair, wrongKeyPair, type TestKeyPair } from '../keys.js';
import type { SigningMisbehaviour } from './misbehaviour.js';
import {
  buildGeneratedPackage,
  buildPackages,
  buildRelease,
  packagePayload,
  policyPayload,
  registryPayload,
  type BuiltPackage,
  type PackageSpec,
  type PolicySpec,
  type ReleaseSpec,
} from '../registry-builder.js';
import { contentTypeOf, startUpstreamServer, type Body, type Refusal, type UpstreamControls } from './upstream-server.js';

export type { DependencySpec } from '../hex-tarball.js';
export type { AdvisorySpec, PackageSpec, PolicySpec, ReleaseSpec } from '../registry-builder.js';
export type { Misbehaviour } from './misbehaviour.js';
export type { Gate, MisbehaveOptions, PathMatcher, UpstreamControls } from './upstream-server.js';
export { etagOf } from './upstream-server.js';
export { startStaticUpstream, type StaticUpstream } from './static-upstream.js';

export interface OrganizationSpec {
  packages: PackageSpec[];
  /**
   * The `authorization` header value every request under /repos/ORG/ must carry, exactly:
   * hex_core (Mix's and rebar3's) sends the repository key raw, with no scheme.
   */
  authKey: string;
  /** Dependency policies, served signed at /repos/ORG/policies/NAME (NAME: the key). */
  policies?: Record<string, PolicySpec>;
  /**
   * The status of a request without the right key; defaults to 401. repo.hex.pm's CDN
   * asks hex.pm's /api/auth, which answers 401 for a missing or unknown key and 403 for
   * a key without access to the organization; rebar3 users have reported 403 from
   * repo.hex.pm for a request that carried no key (erlef/rebar3_hex#103). Mix treats
   * 401 and 403 alike.
   */
  unauthorizedStatus?: 401 | 403;
}

export interface FakeUpstreamOptions {
  packages: PackageSpec[];
  /** Huge packages of the public repository, made up (buildGeneratedPackage): `releases` releases each, no tarballs. */
  generated?: { name: string; releases: number }[];
  /** The repository named in every payload; defaults to "hexpm". */
  repository?: string;
  /** Organization repositories by name, served under /repos/NAME/ with repository NAME. */
  organizations?: Record<string, OrganizationSpec>;
}

export interface FakeOrganization {
  /** The key the organization's registry files are signed with, and its SPKI PEM. */
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  /** The `authorization` value its requests must carry. */
  readonly authKey: string;
}

export interface FakeUpstream extends UpstreamControls {
  readonly repository: string;
  /** The key the registry is signed with, and its SPKI PEM (also served at /public_key). */
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  /** The key 'wrong-key' signs with (for organizations' files too). */
  readonly wrongPublicKeyPem: string;
  /** An organization's key and auth key; throws for an unknown one. */
  organization(name: string): FakeOrganization;
  /** The tarball served for a release (of organization `org` if given); throws for an unknown one. */
  tarball(name: string, version: string, org?: string): BuiltTarball;
  /** The body a well-behaved, authorized request for a path ("/repos/ORG/…" too) gets, or undefined for a 404. */
  body(path: string): Buffer | undefined;
  /** Adds a release (replacing one of the same version) and re-signs the registry (of organization `org` if given). */
  publish(name: string, release: ReleaseSpec, org?: string): Promise<void>;
  /** Replaces every package (of organization `org` if given) and re-signs that registry. */
  setPackages(packages: PackageSpec[], org?: string): Promise<void>;
}

/** What /installs/hex-1.x.csv serves: "hex version,sha512 of the .ez,elixir version". */
export const INSTALLS_CSV = Buffer.from(`2.0.6,${'ab'.repeat(64)},1.14.0\n2.1.1,${'cd'.repeat(64)},1.15.0\n`);
/** Its .signed file, signed with the fake builds server's key (Elixir's, in real life). */
export const INSTALLS_CSV_SIGNED = signedFileFor(INSTALLS_CSV, buildsKeyPair().privateKey);

/** One repository of the fake: the public one at "/" or an organization's at "/repos/ORG/". */
interface Repo {
  /** "" for the public repository, "/repos/ORG" for an organization's. */
  readonly prefix: string;
  /** The repository its payloads name. */
  readonly repository: string;
  readonly keys: TestKeyPair;
  readonly org?: { authKey: string; unauthorizedStatus: number; policies: Record<string, PolicySpec> };
  packages: BuiltPackage[];
  /** By full path ("/repos/acme/names"). */
  files: Map<string, Buffer>;
}

const ORG_PATH = /^\/repos\/([^/]+)(\/.*)$/;
const POLICY_PATH = /^\/policies\/([^/]+)$/;
const VISIBILITY_PUBLIC = 1;

// hex.pm's Cache-Control for organization files (hexpm's registry_builder.ex, assets.ex
// and policy_builder.ex); the public repository's files are served without one here.
function orgCacheControl(local: string, policy: PolicySpec | undefined): string {
  if (policy) return policy.visibility === VISIBILITY_PUBLIC ? 'public, max-age=600' : 'private, max-age=60';
  if (local.startsWith('/tarballs/') || local.startsWith('/docs/')) return 'private, max-age=86400';
  return 'private, max-age=3600';
}

export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const wrongKeys = wrongKeyPair();
  const publicRepo: Repo = { prefix: '', repository: options.repository ?? 'hexpm', keys: testKeyPair(), packages: [], files: new Map() };
  const orgs = new Map<string, Repo>(
    Object.entries(options.organizations ?? {}).map(([name, spec]) => [
      name,
      {
        prefix: `/repos/${name}`,
        repository: name,
        keys: orgKeyPair(name),
        org: { authKey: spec.authKey, unauthorizedStatus: spec.unauthorizedStatus ?? 401, policies: { ...spec.policies } },
        packages: [],
        files: new Map(),
      },
    ]),
  );

  /** The repository serving a path, and the path within it ("/names"). */
  function locate(path: string): { repo: Repo; local: string } | undefined {
    const match = ORG_PATH.exec(path);
    if (!match) return { repo: publicRepo, local: path };
    const repo = orgs.get(match[1] ?? '');
    return repo && { repo, local: match[2] ?? '' };
  }

  function repoNamed(org: string | undefined): Repo {
    if (org === undefined) return publicRepo;
    const repo = orgs.get(org);
    if (!repo) throw new Error(`the fake upstream has no organization ${org}`);
    return repo;
  }

  function policyAt(repo: Repo, local: string): { name: string; spec: PolicySpec } | undefined {
    const name = POLICY_PATH.exec(local)?.[1];
    const spec = name === undefined || !repo.org || !Object.hasOwn(repo.org.policies, name) ? undefined : repo.org.policies[name];
    return name === undefined || !spec ? undefined : { name, spec };
  }

  /** The signed payload at a path of a repository, naming `repository`. */
  function payloadAt(repo: Repo, local: string, repository: string, packages = repo.packages): Buffer | undefined {
    const policy = policyAt(repo, local);
    return policy ? policyPayload(policy.name, policy.spec, repository) : registryPayload(local, packages, repository);
  }

  async function rebuild(repo: Repo, next: BuiltPackage[]): Promise<void> {
    const built = new Map<string, Buffer>(
      repo === publicRepo
        ? [
            ['/public_key', Buffer.from(repo.keys.publicKeyPem)],
            ['/installs/hex-1.x.csv', INSTALLS_CSV],
            ['/installs/hex-1.x.csv.signed', INSTALLS_CSV_SIGNED],
          ]
        : [],
    );
    const policies = Object.keys(repo.org?.policies ?? {}).map((name) => `/policies/${name}`);
    for (const local of ['/names', '/versions', ...next.map((pkg) => `/packages/${pkg.name}`), ...policies]) {
      const payload = payloadAt(repo, local, repo.repository, next);
      if (payload) built.set(repo.prefix + local, await sealRegistryFile(payload, repo.keys.privateKey));
    }
    for (const pkg of next) {
      if (pkg.generated) continue;
      for (const { spec, tarball, docs } of pkg.releases) {
        built.set(`${repo.prefix}/tarballs/${pkg.name}-${spec.version}.tar`, tarball.tar);
        built.set(`${repo.prefix}/docs/${pkg.name}-${spec.version}.tar.gz`, docs);
      }
    }
    repo.packages = next;
    repo.files = built;
  }

  async function tamper(path: string, mode: SigningMisbehaviour): Promise<Buffer | undefined> {
    const located = locate(path);
    if (!located) return undefined;
    const { repo, local } = located;
    if (mode === 'wrong-key') {
      const payload = payloadAt(repo, local, repo.repository);
      return payload && sealRegistryFile(payload, wrongKeys.privateKey);
    }
    if (mode === 'wrong-repository') {
      const payload = payloadAt(repo, local, 'evil');
      return payload && sealRegistryFile(payload, repo.keys.privateKey);
    }
    const pkg = repo.packages.find((candidate) => local === `/packages/${candidate.name}`);
    if (!pkg) return undefined;
    // Replay another package's genuine file; with no other package, rename this one's.
    const other = repo.packages.find((candidate) => candidate.name !== pkg.name);
    return other
      ? repo.files.get(`${repo.prefix}/packages/${other.name}`)
      : sealRegistryFile(packagePayload(pkg, repo.repository, `${pkg.name}_impostor`), repo.keys.privateKey);
  }

  async function get(path: string): Promise<Body | undefined> {
    const located = locate(path);
    const body = located?.repo.files.get(path);
    if (!located || !body) return undefined;
    const { repo, local } = located;
    const contentType = contentTypeOf(local);
    return repo.org ? { body, contentType, cacheControl: orgCacheControl(local, policyAt(repo, local)?.spec) } : { body, contentType };
  }

  // Every request under /repos/ORG/ of a known organization needs its key, except for
  // public policies, which hex.pm serves to anyone (registry-v2.md, "Visibility").
  function refuse(path: string, headers: IncomingHttpHeaders): Refusal | undefined {
    const located = locate(path);
    const org = located?.repo.org;
    if (!located || !org || headers.authorization === org.authKey) return undefined;
    if (policyAt(located.repo, located.local)?.spec.visibility === VISIBILITY_PUBLIC) return undefined;
    const reason = headers.authorization === undefined ? 'missing authentication information' : 'invalid authentication information';
    return { status: org.unauthorizedStatus, body: { body: Buffer.from(`${reason}\n`), contentType: 'text/plain' } };
  }

  const generated = (options.generated ?? []).map(({ name, releases }) => buildGeneratedPackage(name, releases));
  await rebuild(publicRepo, [...(await buildPackages(options.packages)), ...generated]);
  for (const [name, repo] of orgs) await rebuild(repo, await buildPackages(options.organizations?.[name]?.packages ?? []));
  const server = await startUpstreamServer({ get, tamper, refuse });
  return Object.assign(server, {
    repository: publicRepo.repository,
    publicKey: publicRepo.keys.publicKey,
    publicKeyPem: publicRepo.keys.publicKeyPem,
    wrongPublicKeyPem: wrongKeys.publicKeyPem,
    organization(name: string): FakeOrganization {
      const repo = repoNamed(name);
      if (!repo.org) throw new Error(`the fake upstream has no organization ${name}`);
      return { publicKey: repo.keys.publicKey, publicKeyPem: repo.keys.publicKeyPem, authKey: repo.org.authKey };
    },
    tarball(name: string, version: string, org?: string): BuiltTarball {
      const release = repoNamed(org)
        .packages.find((pkg) => pkg.name === name)
        ?.releases.find((r) => r.spec.version === version);
      if (!release) throw new Error(`the fake upstream has no release ${name} ${version}${org === undefined ? '' : ` in organization ${org}`}`);
      return release.tarball;
    },
    body: (path: string): Buffer | undefined => locate(path)?.repo.files.get(path),
    async publish(name: string, spec: ReleaseSpec, org?: string): Promise<void> {
      const repo = repoNamed(org);
      const release = await buildRelease(name, spec);
      const releases = repo.packages.find((pkg) => pkg.name === name)?.releases ?? [];
      const replaces = releases.some((r) => r.spec.version === spec.version);
      const updated = { name, releases: replaces ? releases.map((r) => (r.spec.version === spec.version ? release : r)) : [...releases, release] };
      await rebuild(repo, [...repo.packages.filter((pkg) => pkg.name !== name), updated]);
    },
    async setPackages(specs: PackageSpec[], org?: string): Promise<void> {
      const repo = repoNamed(org);
      await rebuild(repo, await buildPackages(specs));
    },
  });
}
