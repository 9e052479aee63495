// The root view's registry with hosted repositories merged into it (hosted.NAME.merge): the
// layer between the public repository's mirrored registry and its policy view. A name a
// merged repository has is that repository's package, re-encoded as the root's
// (repository "hexpm") and signed with hexproxy's key; upstream's package of that name is
// not read at all. /names and /versions are upstream's with the merged packages in place
// of upstream's, built once per change of upstream's file or of a member (a publish), and
// kept: the hot path peeks them without I/O while nothing changed.
import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { rehomePackagePayload, spliceIndexPayload } from '../registry/merge.js';
import { sealRegistryFile } from '../registry/registry-file.js';
import { ReleaseIndexCache } from '../registry/release-index.js';
import type { RegistryResource } from '../registry/resource.js';
import { registryEntryCost, sha256Hex, type RegistryFile, type RegistryResult } from '../mirror/registry-mirror.js';
import { SingleFlight } from '../mirror/single-flight.js';
import type { MergedOwners } from './merged-owners.js';
import type { PackageListing, RegistryFiles } from './repository.js';

export interface MergedRegistryOptions {
  /** The root repository's name ("hexpm"): what the merged files name. */
  repo: string;
  /** The public repository's registry, as mirrored. */
  upstream: Pick<RegistryFiles, 'get' | 'peek' | 'packageListing'>;
  owners: MergedOwners;
  /** hexproxy's private key: merged files are signed with it. */
  signingKey: KeyObject;
  log: Logger;
  /** Bound of the re-encoded package files kept in memory. */
  memoryMaxBytes: number;
}

type IndexKind = 'names' | 'versions';

/**
 * A merged /names or /versions, and what it was built from: upstream's file, the members'
 * files, and members' generations those files are at least as new as (while the members
 * are still at these, the entry is theirs now: the hot path checks no file of theirs).
 */
interface IndexEntry {
  upstreamSha: string;
  /** Each member's file of the same kind, in member order. */
  memberShas: readonly string[];
  generations: readonly number[];
  file: RegistryFile;
}

/** A merged package's file as the root lists it, the member's file it was built from, and that member's generation as for IndexEntry. */
interface PackageEntry {
  memberSha: string;
  generation: number;
  file: RegistryFile;
}

export class MergedRegistry implements Pick<RegistryFiles, 'get' | 'peek' | 'packageListing'> {
  private readonly indexFiles = new Map<IndexKind, IndexEntry>();
  private readonly packages: LRUCache<string, PackageEntry>;
  private readonly indexes: ReleaseIndexCache;
  private readonly flights = new SingleFlight<RegistryFile>();

  constructor(private readonly options: MergedRegistryOptions) {
    const bound = Math.max(1, options.memoryMaxBytes);
    this.packages = new LRUCache({ maxSize: bound, sizeCalculation: (entry) => registryEntryCost(entry.file) });
    this.indexes = new ReleaseIndexCache(bound);
  }

  /** `revalidate` is passed on to upstream's files; the members' are the store's, always current. */
  async get(resource: RegistryResource, revalidate = false): Promise<RegistryResult> {
    switch (resource.kind) {
      case 'names':
      case 'versions':
        return this.index(resource.kind, revalidate);
      case 'package':
        return this.package(resource.name, revalidate);
      case 'policy':
        return this.options.upstream.get(resource, revalidate);
    }
  }

  /** The merged file at `path` if memory holds it and nothing it was built from changed since: no I/O. */
  peek(path: string): RegistryFile | undefined {
    // The members' generations now: nothing else of theirs is asked.
    const snapshot = this.options.owners.peek();
    if (!snapshot) return undefined;
    const { owners, generations } = snapshot;
    const { upstream } = this.options;
    if (path === 'names' || path === 'versions') {
      const root = upstream.peek(path);
      if (!root || owners.size === 0) return root;
      const entry = this.indexFiles.get(path);
      return entry && entry.upstreamSha === root.row.sha256 && sameList(entry.generations, generations) ? entry.file : undefined;
    }
    if (path.startsWith(PACKAGES)) {
      const name = path.slice(PACKAGES.length);
      const member = owners.get(name);
      if (!member) return upstream.peek(path);
      const entry = this.packages.get(name);
      return entry && entry.generation === generations[this.options.owners.members.indexOf(member)] ? entry.file : undefined;
    }
    return upstream.peek(path);
  }

  async packageListing(name: string, versions: readonly string[]): Promise<PackageListing> {
    const { owners } = await this.options.owners.get();
    if (!owners.has(name)) return this.options.upstream.packageListing(name, versions);
    // The store is the authority: what it holds is every release there is.
    const result = await this.package(name);
    return { result, index: this.indexes.of(result.file.payload) };
  }

  private async index(kind: IndexKind, revalidate: boolean): Promise<RegistryResult> {
    const { owners, generations } = await this.options.owners.get();
    const root = await this.options.upstream.get({ kind }, revalidate);
    // Nothing merged yet: upstream's own file, as an unmerged root serves it.
    if (owners.size === 0) return root;
    const { members } = this.options.owners;
    const sources = await Promise.all(members.map((member) => member.registry.get({ kind })));
    const upstreamSha = root.file.row.sha256;
    const memberShas = sources.map((source) => source.file.row.sha256);
    const known = this.indexFiles.get(kind);
    if (known && known.upstreamSha === upstreamSha && sameList(known.memberShas, memberShas)) {
      // The same files, read at these generations or later: the entry is theirs.
      known.generations = generations;
      return { file: known.file, cache: root.cache };
    }
    const file = await this.flights.run(`${kind}/${upstreamSha}/${memberShas.join('/')}`, async () => {
      const built = await this.buildIndex(
        kind,
        root.file,
        sources.map((source) => source.file),
      );
      this.indexFiles.set(kind, { upstreamSha, memberShas, generations, file: built });
      return built;
    });
    return { file, cache: root.cache };
  }

  /** Upstream's /names or /versions with each member's packages in place of upstream's; the first member with a name has it. */
  private async buildIndex(kind: IndexKind, root: RegistryFile, sources: readonly RegistryFile[]): Promise<RegistryFile> {
    const { repo, log } = this.options;
    const started = performance.now();
    const payload = spliceIndexPayload(
      root.payload,
      sources.map((source) => source.payload),
      repo,
    );
    const file = await this.sealed(root, payload);
    log.info(
      { repo, file: kind, ms: Math.round(performance.now() - started) },
      'merged view: built the root /names or /versions with the hosted packages',
    );
    return file;
  }

  private async package(name: string, revalidate = false, retried = false): Promise<RegistryResult> {
    const { owners, generations } = await this.options.owners.get();
    const member = owners.get(name);
    // Upstream's package only for a name no merged repository has.
    if (!member) return this.options.upstream.get({ kind: 'package', name }, revalidate);
    const generation = generations[this.options.owners.members.indexOf(member)] ?? -1;
    let source: RegistryResult;
    try {
      source = await member.registry.get({ kind: 'package', name });
    } catch (error: unknown) {
      // Its last release was reverted since the owners were read: read them again, once.
      if (error instanceof NotFoundError && !retried) return this.package(name, revalidate, true);
      throw error;
    }
    const sha = source.file.row.sha256;
    const known = this.packages.get(name);
    if (known && known.memberSha === sha) {
      known.generation = generation;
      return { file: known.file, cache: source.cache };
    }
    const file = await this.flights.run(`packages/${name}/${sha}`, async () => {
      const built = await this.sealed(source.file, rehomePackagePayload(source.file.payload, this.options.repo));
      this.packages.set(name, { memberSha: sha, generation, file: built });
      return built;
    });
    return { file, cache: source.cache };
  }

  /**
   * A file of hexproxy's making from `source`: signed with its key, identified by its own
   * hash (what the policy view and the hot path key their copies on). A merged /names or
   * /versions keeps upstream's file as its original (the pass-through view never reads
   * this layer); a merged package's original is itself, as a hosted repository's is.
   */
  private async sealed(source: RegistryFile, payload: Buffer): Promise<RegistryFile> {
    const body = await sealRegistryFile(payload, this.options.signingKey);
    const sha256 = sha256Hex(body);
    const etag = `"${sha256.slice(0, 40)}"`;
    const ownOriginal = source.resource.kind === 'package';
    return {
      resource: source.resource,
      row: { ...source.row, repo: this.options.repo, sha256, size: body.length },
      payload,
      body,
      etag,
      original: ownOriginal ? { body, etag } : source.original,
    };
  }
}

const PACKAGES = 'packages/';

const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => a.length === b.length && a.every((value, at) => value === b[at]);
