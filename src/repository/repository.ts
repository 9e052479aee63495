// What every repository hexproxy serves offers, whatever its kind: the public hex.pm
// repository and each organization (mirrored read-through, src/mirror/), and later ones
// (issue 17: a hosted repository people publish to). Two layers:
//
// - a RepositorySource is what a kind implements: its registry files, tarballs and docs,
//   and the key its stored registry files verify with (mirror-source.ts builds hex.pm's);
// - a Repository is what everything else depends on: the source, plus the Hex protocol as
//   clients get it (the policy applied, use counted) and the hits memory can answer.
//   createRepository (create.ts) builds one from a source; nothing implements it twice.
//
// Consumers take the narrowest part they need (Pick<Repository, 'registry'>, …), never a
// mirror class.
import type { KeyObject } from 'node:crypto';
import type { PassthroughResult } from '../mirror/passthrough-mirror.js';
import type { RegistryFile, RegistryResult } from '../mirror/registry-mirror.js';
import type { HotTarball, TarballResult } from '../mirror/tarball-mirror.js';
import type { ReleaseIndex } from '../registry/release-index.js';
import type { RegistryResource } from '../registry/resource.js';
import type { TarballRow } from '../store/cache-index.js';
import type { PolicyViewFigures } from './policy-view.js';

export type { CacheStatus, RegistryFile, RegistryResult } from '../mirror/registry-mirror.js';
export { namesOf, packageOf } from '../mirror/registry-mirror.js';
export type { HotTarball, TarballResult } from '../mirror/tarball-mirror.js';
export type { PassthroughResult } from '../mirror/passthrough-mirror.js';
export type { PolicyViewFigures } from './policy-view.js';

/**
 * Which view of a repository a request reads: registry files re-signed with hexproxy's key
 * (at /), or the source's own signed bytes (at /mirror, for clients that only trust
 * upstream's key: HEX_MIRROR, plain HEX_CDN). Both views share one cache.
 */
export type View = 'resigned' | 'original';

/** A package file that lists the versions asked for if the source has them, with its release index. */
export interface PackageListing {
  result: RegistryResult;
  index: ReleaseIndex;
}

/**
 * A repository's registry files (/names, /versions, /packages/NAME, /policies/NAME) as
 * hexproxy holds them: verified, each with its re-signed and original bytes.
 */
export interface RegistryFiles {
  /** `revalidate` asks the source even when the cached copy is fresh (e.g. a release not seen yet). */
  get(resource: RegistryResource, revalidate?: boolean): Promise<RegistryResult>;
  /** The file at `path` ("names", "packages/NAME") if memory holds it, fresh: served with no I/O. */
  peek(path: string): RegistryFile | undefined;
  /** A package file listing every one of `versions` if the source does (a fresh copy may predate a release). */
  packageListing(name: string, versions: readonly string[]): Promise<PackageListing>;
  /** A package file's releases, indexed once: a release is read without decoding the whole file. */
  releaseIndex(file: RegistryFile): ReleaseIndex;
  /** What the in-memory copies take now. */
  memoryBytes(): number;
  /** Drops one file's in-memory copy (after it was evicted in this process). */
  forgetMemory(path: string): void;
  /** Drops every in-memory copy; the next reads come from disk (and verify) again. */
  dropMemory(): void;
}

/** Where a cached tarball's file is, as the index names it: streamed rather than read into memory. */
export interface CachedTarballFile {
  row: TarballRow;
  path: string;
  etag: string;
}

/** A repository's tarballs, verified against its signed registry before anything is cached. */
export interface TarballFiles {
  /**
   * The tarball, cached. `waitForDisk: false` (serving clients) may answer a small miss
   * before it is durable on disk; operations that rely on the cache wait (the default).
   */
  get(name: string, version: string, options?: { waitForDisk?: boolean }): Promise<TarballResult>;
  /** The tarball if memory holds it: served with no I/O. */
  peek(name: string, version: string): HotTarball | undefined;
  /** The file of a cached tarball that is not to be read into memory (no I/O but the index); the reader checks its size. */
  cachedFile(name: string, version: string): CachedTarballFile | undefined;
  /** Drops the in-memory copy (after an eviction). */
  forget(name: string, version: string): void;
  /** Settles once every write behind an early answer has landed (for shutdown). */
  drain(): Promise<void>;
  /** What the in-memory copies take now. */
  memoryBytes(): number;
}

/**
 * What a kind of repository implements; createRepository adds the policy and usage
 * counting on top. A hosted repository (issue 17) is one more of these.
 */
export interface RepositorySource {
  /** hexproxy's name for it: "hexpm", an organization's name. */
  readonly name: string;
  /**
   * The key its stored registry files are signed with, which they verify with when read
   * back (startup reconcile, cache verify, import): upstream's or the organization's for a
   * mirror. The pass-through view (/mirror) serves those files and this key.
   */
  readonly registryKey: KeyObject;
  readonly registry: RegistryFiles;
  readonly tarballs: TarballFiles;
  /** A release's documentation tarball (immutable once published). */
  docs(name: string, version: string): Promise<PassthroughResult>;
}

/**
 * What memory (or, for a large tarball, the index) can answer at once: a registry file, a
 * tarball held in memory, or a cached tarball's file. Tell them apart with isRegistryHit
 * and isFileHit.
 */
export type Hit = RegistryFile | HotTarball | CachedTarballFile;

export const isRegistryHit = (hit: Hit): hit is RegistryFile => 'resource' in hit;
export const isFileHit = (hit: Hit): hit is CachedTarballFile => 'path' in hit;

/** A repository as everything but its own implementation sees it. */
export interface Repository extends RepositorySource {
  // `registry` and `tarballs` (from the source) are what operations read: prewarm, mirror,
  // export, policy check, the UI. No policy applies to them and they count no client use.

  // The Hex repository protocol as clients get it: the policy applied, use counted. `view`
  // (default: the re-signed one) is the one the request reads: the re-signed view is the
  // policy's, with the hosted repositories merged into it (hosted.NAME.merge) for the public
  // repository; the pass-through view is the source's own files (callers check
  // assertUnfiltered first), and never a merged hosted package.
  names(view?: View): Promise<RegistryResult>;
  versions(view?: View): Promise<RegistryResult>;
  package(name: string, view?: View): Promise<RegistryResult>;
  /** An organization's dependency policy (Hex 2.5, /policies/NAME). */
  dependencyPolicy(name: string): Promise<RegistryResult>;
  /** Refused (PolicyBlockedError) under policy.tarballs "strict" for a blocked release. */
  tarball(name: string, version: string, view?: View): Promise<TarballResult>;
  /** A release's documentation tarball, from whoever serves the package in `view`. */
  docs(name: string, version: string, view?: View): Promise<PassthroughResult>;
  /** hexproxy's public key, which the re-signed view is signed with (/public_key). */
  publicKey(): string;
  /** The key of the pass-through view's files (/mirror/public_key): registryKey, as PEM. */
  originalPublicKey(): string;
  /**
   * The pass-through view serves the source's own signed files, from which no release can
   * be taken out: throws PolicyBlockedError while the policy applies to this repository.
   */
  assertUnfiltered(): void;

  /**
   * A hit for `path` ("names", "versions", "packages/NAME", "tarballs/NAME-VERSION.tar") in
   * `view`, as the policy lets clients see it; undefined when memory cannot answer or the
   * policy is not known to allow the release (the slow way decides). Synchronous, and not
   * counted: whoever serves it calls countHit.
   */
  lookup(path: string, view: View): Hit | undefined;
  /** Counts a hit from `lookup` as served to a client. */
  countHit(hit: Hit): void;

  /** What the policy's latest filtered /versions left out; zeros while no policy applies. */
  policyFigures(): PolicyViewFigures;
  /** Builds the policy's filtered /names and /versions ahead of the first client. */
  warmPolicyView(): Promise<void>;
}
