// A hex.pm repository mirrored read-through (src/mirror/): the public one, or an
// organization's. Its registry files verify with upstream's key (or the organization's),
// its tarballs against them; docs are relayed as they are. Each has its own upstream path
// and credentials (in its client), cache namespace (the repo column and blob keys) and
// in-memory bounds.
import type { KeyObject } from 'node:crypto';
import { docsPath } from '../cache/layout.js';
import type { Logger } from '../log.js';
import { PassthroughMirror } from '../mirror/passthrough-mirror.js';
import { RegistryMirror } from '../mirror/registry-mirror.js';
import { TarballMirror } from '../mirror/tarball-mirror.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { MemoryBudget } from '../upstream/memory-budget.js';
import type { RepositorySource } from './repository.js';

export interface MirrorSpec {
  kind: 'mirror';
  name: string;
  /** Asks upstream for this repository's files (an organization's: under /repos/ORG, with its auth key). */
  upstream: UpstreamClient;
  /** The key its upstream registry files verify with (upstream.publicKey, or the organization's publicKey). */
  upstreamKey: KeyObject;
  /**
   * Where its docs are cached: "" for the public repository, "repos/ORG/" for an
   * organization (whose upstream client's base URL already holds it).
   */
  docsPrefix: string;
  /** Bound of the registry files kept in memory. */
  registryMemoryBytes: number;
  /** Bound of the small tarballs kept in memory; 0 keeps none (private tarballs are not). */
  tarballMemoryBytes: number;
}

/** What every mirror shares: the stores, the signing key, and the cache settings. */
export interface MirrorShared {
  index: CacheIndex;
  blobs: BlobStore;
  log: Logger;
  /** What registry files being fetched take at once, shared by every repository (cache.registryFetchMemoryBytes). */
  fetchBudget: MemoryBudget;
  /** hexproxy's private key: registry files are served re-signed with it. */
  signingKey: KeyObject;
  ttlMs: number;
  notFoundTtlMs: number;
  maxRegistryBytes: number;
  maxTarballBytes: number;
}

export function mirrorSource(spec: MirrorSpec, shared: MirrorShared): RepositorySource {
  const { index, blobs, log, fetchBudget, signingKey, ttlMs, notFoundTtlMs, maxRegistryBytes, maxTarballBytes } = shared;
  const { name, upstream, upstreamKey } = spec;
  const registry = new RegistryMirror({
    repo: name,
    upstream,
    upstreamKey,
    signingKey,
    index,
    blobs,
    log,
    fetchBudget,
    ttlMs,
    notFoundTtlMs,
    memoryMaxBytes: spec.registryMemoryBytes,
    maxRegistryBytes,
  });
  const tarballs = new TarballMirror({
    repo: name,
    upstream,
    registry,
    index,
    blobs,
    log,
    maxTarballBytes,
    notFoundTtlMs,
    memoryBytes: spec.tarballMemoryBytes,
  });
  const docs = new PassthroughMirror({ upstream, index, blobs, log, ttlMs, maxBytes: maxTarballBytes, pathPrefix: spec.docsPrefix });
  return {
    name,
    registryKey: upstreamKey,
    registry,
    tarballs,
    docs: (pkg, version) => docs.get(docsPath(spec.docsPrefix, pkg, version), true),
  };
}
