// The registry files of a hosted repository, made from what was published, the way hexpm's
// registry builder makes them: /names (every package, by name, with its last change),
// /versions (every package's versions in SemVer order, with the indexes of the retired
// ones), /packages/NAME (its releases with checksums, dependencies, retirement and
// publication time). Pure and synchronous, so the store can build them inside the SQLite
// transaction that writes the rows they describe.
//
// A publish changes one package, so /names and /versions are joined from each package's
// entry, encoded when that package last changed (namesEntry, versionsEntry, joinEntries):
// the cost of a publish grows with the bytes of the two files, not with decoding, sorting
// and encoding every package again. namesPayload and versionsPayload build them whole from
// the rows, the same bytes: what verify checks the stored files against.
import { gzipSync } from 'node:zlib';
import type { KeyObject } from 'node:crypto';
import type { SemVer } from 'semver';
import {
  encodeNames,
  encodeNamesEntry,
  encodePackage,
  encodeSigned,
  encodeVersions,
  encodeVersionsEntry,
  joinIndexEntries,
} from '../registry/codec.js';
import { signPayload } from '../registry/signature.js';
import type { Dependency, NamesPackage, Release, Timestamp, VersionsPackage } from '../registry/types.js';
import { asSemVer } from '../resolve/version.js';
import { RETIREMENT_REASONS, type ReleaseRequirement, type Retirement } from './release.js';

/** What a package file says of one release. */
export interface RegistryRelease {
  version: string;
  innerChecksum: Buffer;
  outerChecksum: Buffer;
  /** Each with its repository stated ("hexpm", or this repository's own name). */
  requirements: readonly ReleaseRequirement[];
  retirement: Retirement | undefined;
  /** Milliseconds since the epoch. */
  publishedAt: number;
}

/** `versions` sorted by SemVer precedence, oldest first (as hexpm lists them). */
export function sortVersions<T extends { version: string }>(releases: readonly T[]): T[] {
  const parsed = new Map<string, SemVer>(releases.map((release) => [release.version, asSemVer(release.version)]));
  const semver = (version: string): SemVer => parsed.get(version) ?? asSemVer(version);
  return [...releases].sort((a, b) => semver(a.version).compare(semver(b.version)));
}

/** The Package payload of `name` in repository `repo`: `releases` in any order. */
export function packagePayload(repo: string, name: string, releases: readonly RegistryRelease[]): Buffer {
  return encodePackage({
    name,
    repository: repo,
    advisories: [],
    releases: sortVersions(releases).map((release): Release => {
      const entry: Release = {
        version: release.version,
        inner_checksum: release.innerChecksum,
        outer_checksum: release.outerChecksum,
        dependencies: dependencies(repo, release.requirements),
        advisory_indexes: [],
        published_at: timestamp(release.publishedAt),
      };
      if (release.retirement) {
        entry.retired = {
          reason: RETIREMENT_REASONS.indexOf(release.retirement.reason),
          ...(release.retirement.message !== '' && { message: release.retirement.message }),
        };
      }
      return entry;
    }),
  });
}

/**
 * A release's dependencies as hexpm writes them: `optional` only when true, `app` only when
 * it differs from the package, `repository` only when it is not this repository (so a
 * private package's dependency on a public one says "hexpm"), sorted by repository, then
 * package.
 */
function dependencies(repo: string, requirements: readonly ReleaseRequirement[]): Dependency[] {
  const sorted = [...requirements].sort(
    (a, b) => compareText(a.repository ?? '', b.repository ?? '') || compareText(a.name, b.name) || compareText(a.requirement, b.requirement),
  );
  return sorted.map((requirement) => {
    const dependency: Dependency = { package: requirement.name, requirement: requirement.requirement || '>= 0.0.0' };
    if (requirement.optional) dependency.optional = true;
    if (requirement.app !== requirement.name) dependency.app = requirement.app;
    if (requirement.repository !== undefined && requirement.repository !== repo) dependency.repository = requirement.repository;
    return dependency;
  });
}

/** What /names says of a package. */
export interface NamesFacts {
  name: string;
  /** Its last change (ms). */
  updatedAt: number;
}

/** What /versions says of a package: its releases in any order. */
export interface VersionsFacts {
  name: string;
  releases: readonly { version: string; retired: boolean }[];
}

const namesPackage = (pkg: NamesFacts): NamesPackage => ({ name: pkg.name, updated_at: timestamp(pkg.updatedAt) });

function versionsPackage(pkg: VersionsFacts): VersionsPackage {
  const sorted = sortVersions(pkg.releases);
  return {
    name: pkg.name,
    versions: sorted.map((release) => release.version),
    retired: sorted.flatMap((release, index) => (release.retired ? [index] : [])),
    with_advisories: [],
  };
}

/** The Names payload, built whole: `packages` sorted by name. */
export function namesPayload(repo: string, packages: readonly NamesFacts[]): Buffer {
  return encodeNames({ repository: repo, packages: [...packages].sort((a, b) => compareText(a.name, b.name)).map(namesPackage) });
}

/** The Versions payload, built whole: `packages` sorted by name. */
export function versionsPayload(repo: string, packages: readonly VersionsFacts[]): Buffer {
  return encodeVersions({ repository: repo, packages: [...packages].sort((a, b) => compareText(a.name, b.name)).map(versionsPackage) });
}

/** A package's entry in /names, encoded once. */
export const namesEntry = (pkg: NamesFacts): Buffer => encodeNamesEntry(namesPackage(pkg));

/** A package's entry in /versions, encoded once. */
export const versionsEntry = (pkg: VersionsFacts): Buffer => encodeVersionsEntry(versionsPackage(pkg));

/** /names or /versions from its packages' entries, which must be in name order (SQLite's BINARY order is). */
export const joinEntries = (repo: string, entries: readonly Uint8Array[]): Buffer => joinIndexEntries(entries, repo);

/** gzip(Signed{payload, signature}) with hexproxy's key, synchronously (inside a transaction). */
export function sealSync(payload: Buffer, privateKey: KeyObject): Buffer {
  return gzipSync(encodeSigned({ payload, signature: signPayload(payload, privateKey) }));
}

const timestamp = (ms: number): Timestamp => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

// Byte order, as Elixir sorts binaries (locale-independent).
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
