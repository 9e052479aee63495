// A hosted repository (src/hosted/) as a RepositorySource: the registry files hexproxy built
// and signed from what was published, the published tarballs and docs. Its files are
// hexproxy's own, so the re-signed and the original view are the same bytes, and
// registryKey is hexproxy's public key. Nothing is fetched: a file the store does not hold
// is a 404. Registry files are kept in memory after their first read (peek), until the
// store changes; tarballs are private, so they are streamed from their files, never kept.
import { LRUCache } from 'lru-cache';
import { NotFoundError } from '../errors.js';
import type { HostedBlobFile, HostedRegistryFile, HostedStore } from '../hosted/hosted-store.js';
import { registryEntryCost, type RegistryFile, type RegistryResult } from '../mirror/registry-mirror.js';
import type { TarballResult } from '../mirror/tarball-mirror.js';
import type { PassthroughResult } from '../mirror/passthrough-mirror.js';
import { ReleaseIndexCache, type ReleaseIndex } from '../registry/release-index.js';
import { describeResource, resourcePath, type RegistryResource } from '../registry/resource.js';
import type { TarballRow } from '../store/cache-index.js';
import type { CachedTarballFile, PackageListing, RegistryFiles, RepositorySource, TarballFiles } from './repository.js';

export interface HostedSpec {
  kind: 'hosted';
  name: string;
  store: HostedStore;
  /** Bound of the registry files kept in memory. */
  registryMemoryBytes: number;
}

export function hostedSource(spec: HostedSpec): RepositorySource {
  const { name, store } = spec;
  return {
    name,
    registryKey: store.registryKey,
    registry: new HostedRegistry(name, store, spec.registryMemoryBytes),
    tarballs: new HostedTarballs(name, store),
    async docs(pkg, version): Promise<PassthroughResult> {
      const file = store.docsFile(name, pkg, version);
      if (!file) throw new NotFoundError(`${name}/${pkg} ${version} has no published docs`);
      const blob = await store.open(file, `docs of ${name}/${pkg} ${version}`);
      return {
        blob,
        row: {
          path: `repos/${name}/docs/${pkg}-${version}.tar.gz`,
          upstreamEtag: null,
          sha256: file.sha256,
          size: file.size,
          fetchedAt: file.storedAt,
          checkedAt: file.storedAt,
          upstreamAsOf: file.storedAt,
        },
        etag: `"${file.sha256.slice(0, 40)}"`,
        cache: 'hit',
      };
    },
  };
}

class HostedRegistry implements RegistryFiles {
  private readonly memory: LRUCache<string, { file: RegistryFile; generation: number }>;
  private readonly indexes: ReleaseIndexCache;

  constructor(
    private readonly repo: string,
    private readonly store: HostedStore,
    memoryBytes: number,
  ) {
    this.memory = new LRUCache({ maxSize: Math.max(1, memoryBytes), sizeCalculation: ({ file }) => registryEntryCost(file) });
    this.indexes = new ReleaseIndexCache(Math.max(1, memoryBytes));
  }

  async get(resource: RegistryResource): Promise<RegistryResult> {
    if (resource.kind === 'policy') throw new NotFoundError(`hosted repository ${this.repo} has no dependency policies`);
    const path = resourcePath(resource);
    const hot = this.peek(path);
    if (hot) return { file: hot, cache: 'hit' };
    // Taken before reading: a commit meanwhile makes this copy stale at once.
    const generation = this.store.generation(this.repo);
    const stored = await this.store.registryFile(this.repo, path);
    if (!stored) {
      const what = resource.kind === 'package' ? `package ${resource.name}` : describeResource(resource);
      throw new NotFoundError(`hosted repository ${this.repo} has no ${what}`);
    }
    const file = registryFileOf(this.repo, resource, stored);
    this.memory.set(path, { file, generation });
    return { file, cache: 'hit' };
  }

  peek(path: string): RegistryFile | undefined {
    const hot = this.memory.get(path);
    return hot && hot.generation === this.store.generation(this.repo) ? hot.file : undefined;
  }

  async packageListing(name: string): Promise<PackageListing> {
    // The store is the authority: what it holds is every release there is.
    const result = await this.get({ kind: 'package', name });
    return { result, index: this.releaseIndex(result.file) };
  }

  releaseIndex(file: RegistryFile): ReleaseIndex {
    return this.indexes.of(file.payload);
  }

  memoryBytes(): number {
    return this.memory.calculatedSize;
  }

  forgetMemory(path: string): void {
    this.memory.delete(path);
  }

  dropMemory(): void {
    this.memory.clear();
  }
}

/** A stored file as the serving layers take one; both views are these bytes. */
function registryFileOf(repo: string, resource: RegistryResource, stored: HostedRegistryFile): RegistryFile {
  const etag = `"${stored.sha256.slice(0, 40)}"`;
  return {
    resource,
    row: {
      repo,
      path: stored.path,
      upstreamEtag: null,
      sha256: stored.sha256,
      size: stored.body.length,
      fetchedAt: stored.builtAt,
      checkedAt: stored.builtAt,
      upstreamAsOf: stored.builtAt,
    },
    payload: stored.payload,
    body: stored.body,
    etag,
    original: { body: stored.body, etag },
  };
}

class HostedTarballs implements TarballFiles {
  constructor(
    private readonly repo: string,
    private readonly store: HostedStore,
  ) {}

  async get(name: string, version: string): Promise<TarballResult> {
    const file = this.store.tarballFile(this.repo, name, version);
    if (!file) throw new NotFoundError(`hosted repository ${this.repo} has no release ${name} ${version}`);
    const blob = await this.store.open(file, `tarball of ${this.repo}/${name} ${version}`);
    return { blob, row: tarballRow(this.repo, name, version, file), etag: `"${file.sha256}"`, cache: 'hit' };
  }

  peek(): undefined {
    return undefined;
  }

  cachedFile(name: string, version: string): CachedTarballFile | undefined {
    const file = this.store.tarballFile(this.repo, name, version);
    return file && { row: tarballRow(this.repo, name, version, file), path: file.path, etag: `"${file.sha256}"` };
  }

  forget(): void {}

  async drain(): Promise<void> {}

  memoryBytes(): number {
    return 0;
  }
}

/** A published tarball as the serving layers' row: never evicted (pinned), never counted as cache. */
const tarballRow = (repo: string, name: string, version: string, file: HostedBlobFile): TarballRow => ({
  repo,
  name,
  version,
  size: file.size,
  sha256: file.sha256,
  fetchedAt: file.storedAt,
  lastUsedAt: file.storedAt,
  hits: 0,
  pinned: true,
});
