// Registry payloads (Names, Versions, Package, Policy) for a set of package specs, built
// with the project's codec; the fake upstream seals them with sealRegistryFile.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { encodeNames, encodePackage, encodePolicy, encodeVersions } from '../../src/registry/codec.js';
import type { Policy, Release, SecurityAdvisory, Timestamp } from '../../src/registry/types.js';
import { buildHexTarball, type BuiltTarball, type DependencySpec } from './hex-tarball.js';
import { packTar } from './tar.js';

export interface ReleaseSpec {
  version: string;
  dependencies?: DependencySpec[];
  /** reason: a RetirementReason (0 other, 1 invalid, 2 security, 3 deprecated, 4 renamed). */
  retired?: { reason: number; message?: string };
  /** Leave Release.outer_checksum unset, like releases from before it existed. */
  omitOuterChecksum?: boolean;
  /** Defaults to 2024-01-01T00:00:00Z; null leaves Release.published_at unset (releases from before it existed). */
  publishedAt?: Date | null;
  description?: string;
  /** Pads the tarball with this many incompressible bytes (see TarballSpec.padBytes). */
  padBytes?: number;
  /**
   * Security advisories affecting this release. Package.advisories lists each id once (in
   * order of first appearance) and the release points at them by index.
   */
  advisories?: AdvisorySpec[];
}

/** A SecurityAdvisory; html_url and api_url default to OSV's addresses for the id. */
export type AdvisorySpec = Pick<SecurityAdvisory, 'id' | 'summary'> & Partial<Omit<SecurityAdvisory, 'id' | 'summary'>>;

export interface PackageSpec {
  name: string;
  releases: ReleaseSpec[];
}

/**
 * A dependency policy (policy.proto) of an organization, served at /repos/ORG/policies/NAME.
 * Policy.repository and Policy.name come from where it is served; visibility defaults to
 * 0 (VISIBILITY_PRIVATE: served only with the organization's key), 1 is VISIBILITY_PUBLIC.
 */
export type PolicySpec = Partial<Omit<Policy, 'repository' | 'name'>>;

export interface BuiltRelease {
  spec: ReleaseSpec;
  tarball: BuiltTarball;
  /** A small docs tarball (gzip of a tar holding index.html). */
  docs: Buffer;
}

export interface BuiltPackage {
  name: string;
  releases: BuiltRelease[];
  /** Made up by buildGeneratedPackage: listed in the registry, but with no tarballs or docs to serve. */
  generated?: true;
}

const DEFAULT_PUBLISHED_AT = new Date('2024-01-01T00:00:00Z');

export async function buildRelease(name: string, spec: ReleaseSpec): Promise<BuiltRelease> {
  const tarball = await buildHexTarball({
    name,
    version: spec.version,
    ...(spec.dependencies && { dependencies: spec.dependencies }),
    ...(spec.description !== undefined && { description: spec.description }),
    ...(spec.padBytes !== undefined && { padBytes: spec.padBytes }),
  });
  const docs = gzipSync(await packTar([{ name: 'index.html', data: Buffer.from(`<h1>${name} ${spec.version}</h1>\n`) }]));
  return { spec, tarball, docs };
}

export async function buildPackages(specs: readonly PackageSpec[]): Promise<BuiltPackage[]> {
  return Promise.all(
    specs.map(async (spec) => ({
      name: spec.name,
      releases: await Promise.all(spec.releases.map((release) => buildRelease(spec.name, release))),
    })),
  );
}

/** The version of release `i` (from 0) of a generated package: 1.0.0, 1.0.1, … 1.0.999, 1.1.0, … */
export const generatedVersion = (i: number): string => `1.${Math.floor(i / 1000)}.${i % 1000}`;

/**
 * A package of `count` releases (generatedVersion order, oldest first, as hex.pm lists them)
 * with checksums derived from the version and no tarballs: a validly signed package of
 * 200,000 releases is built in a second or two instead of 200,000 tarballs.
 */
export function buildGeneratedPackage(name: string, count: number): BuiltPackage {
  const none = Buffer.alloc(0);
  const digest = (kind: string, version: string): Buffer => createHash('sha256').update(`${kind}:${name}-${version}`).digest();
  return {
    name,
    generated: true,
    releases: Array.from({ length: count }, (_, i) => {
      const version = generatedVersion(i);
      return {
        spec: { version },
        tarball: { tar: none, innerChecksum: digest('inner', version), outerChecksum: digest('outer', version) },
        docs: none,
      };
    }),
  };
}

function timestamp(date: Date): Timestamp {
  const millis = date.getTime();
  return { seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1_000_000 };
}

const publishedAt = (spec: ReleaseSpec): Date => spec.publishedAt ?? DEFAULT_PUBLISHED_AT;

// Hex lists packages by name.
const byName = (packages: readonly BuiltPackage[]): BuiltPackage[] => [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export function namesPayload(packages: readonly BuiltPackage[], repository: string): Buffer {
  return encodeNames({
    repository,
    packages: byName(packages).map((pkg) => {
      const latest = pkg.releases.reduce((max, release) => Math.max(max, publishedAt(release.spec).getTime()), -Infinity);
      return Number.isFinite(latest) ? { name: pkg.name, updated_at: timestamp(new Date(latest)) } : { name: pkg.name };
    }),
  });
}

export function versionsPayload(packages: readonly BuiltPackage[], repository: string): Buffer {
  return encodeVersions({
    repository,
    packages: byName(packages).map((pkg) => ({
      name: pkg.name,
      versions: pkg.releases.map((release) => release.spec.version),
      retired: pkg.releases.flatMap((release, index) => (release.spec.retired ? [index] : [])),
      with_advisories: pkg.releases.flatMap((release, index) => (release.spec.advisories?.length ? [index] : [])),
    })),
  });
}

/** `name` overrides Package.name, for serving one package's releases under another's name. */
export function packagePayload(pkg: BuiltPackage, repository: string, name = pkg.name): Buffer {
  const advisories = advisoriesOf(pkg);
  const advisoryIndex = (id: string): number => advisories.findIndex((advisory) => advisory.id === id);
  return encodePackage({
    name,
    repository,
    advisories,
    releases: pkg.releases.map(({ spec, tarball }): Release => ({
      version: spec.version,
      inner_checksum: tarball.innerChecksum,
      ...(spec.omitOuterChecksum ? {} : { outer_checksum: tarball.outerChecksum }),
      dependencies: (spec.dependencies ?? []).map((dep) => ({
        package: dep.package,
        requirement: dep.requirement,
        ...(dep.optional !== undefined && { optional: dep.optional }),
        ...(dep.app !== undefined && { app: dep.app }),
        ...(dep.repository !== undefined && { repository: dep.repository }),
      })),
      ...(spec.retired && { retired: spec.retired }),
      advisory_indexes: (spec.advisories ?? []).map((advisory) => advisoryIndex(advisory.id)),
      ...(spec.publishedAt !== null && { published_at: timestamp(publishedAt(spec)) }),
    })),
  });
}

/** Every advisory of a package's releases, each id once, in order of first appearance. */
function advisoriesOf(pkg: BuiltPackage): SecurityAdvisory[] {
  const byId = new Map<string, SecurityAdvisory>();
  for (const { spec } of pkg.releases) {
    for (const advisory of spec.advisories ?? []) {
      if (byId.has(advisory.id)) continue;
      byId.set(advisory.id, {
        html_url: `https://osv.dev/vulnerability/${advisory.id}`,
        api_url: `https://api.osv.dev/v1/vulns/${advisory.id}`,
        aliases: [],
        ...advisory,
      });
    }
  }
  return [...byId.values()];
}

/** The payload served at a registry path ("/names", "/versions", "/packages/NAME"), if any. */
export function registryPayload(path: string, packages: readonly BuiltPackage[], repository: string): Buffer | undefined {
  if (path === '/names') return namesPayload(packages, repository);
  if (path === '/versions') return versionsPayload(packages, repository);
  const pkg = packages.find((candidate) => path === `/packages/${candidate.name}`);
  return pkg && packagePayload(pkg, repository);
}

/** The Policy payload of /repos/REPOSITORY/policies/NAME. */
export function policyPayload(name: string, spec: PolicySpec, repository: string): Buffer {
  return encodePolicy({ visibility: 0, repositories: [], ...spec, repository, name });
}
