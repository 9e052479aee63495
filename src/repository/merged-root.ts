// Hosted repositories merged into the public repository's re-signed view (hosted.NAME.merge,
// issue 17): what clients of the root view get besides upstream's. Each package name is
// served whole from one place: the first merged repository that has it, else upstream.
// A name a merged repository has hides upstream's package of that name completely, every
// version of it: its registry file, its /names and /versions entries, its tarballs (even
// cached ones) and docs, in the re-signed view and under the policy (which filters this
// merged view), and in the pass-through view (/mirror), which never shows hosted packages
// and does not serve upstream's package of a hosted name either.
//
// The Repository keeps its source's registry and tarballs, unmerged, for operations
// (prewarm, mirror, export): they mirror upstream.
import type { KeyObject } from 'node:crypto';
import { NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PassthroughResult } from '../mirror/passthrough-mirror.js';
import { MergedOwners, type MergedMember } from './merged-owners.js';
import { MergedRegistry } from './merged-registry.js';
import type { CachedTarballFile, HotTarball, RepositorySource, TarballFiles, TarballResult } from './repository.js';

export type { MergedMember } from './merged-owners.js';

export interface MergedRootOptions {
  /** The public repository, as mirrored. */
  source: Pick<RepositorySource, 'name' | 'registry' | 'tarballs' | 'docs'>;
  /** The hosted repositories merged into it, in config order: the first with a name has it. */
  members: readonly MergedMember[];
  signingKey: KeyObject;
  log: Logger;
  /** Bound of the merged package files kept in memory. */
  memoryMaxBytes: number;
}

export class MergedRoot {
  /** The registry clients of the root view read (under the policy view). */
  readonly registry: MergedRegistry;
  /** The tarballs clients of the root view get: each name's from its owner. */
  readonly tarballs: TarballFiles;
  private readonly owners: MergedOwners;
  private readonly source: MergedRootOptions['source'];

  constructor(options: MergedRootOptions) {
    this.source = options.source;
    this.owners = new MergedOwners(options.members);
    this.registry = new MergedRegistry({
      repo: options.source.name,
      upstream: options.source.registry,
      owners: this.owners,
      signingKey: options.signingKey,
      log: options.log,
      memoryMaxBytes: options.memoryMaxBytes,
    });
    this.tarballs = new MergedTarballs(options.source.tarballs, this.owners);
  }

  /** A release's docs in the root view: from the package's owner. */
  async docs(name: string, version: string): Promise<PassthroughResult> {
    const member = (await this.owners.get()).owners.get(name);
    return member ? member.docs(name, version) : this.source.docs(name, version);
  }

  /**
   * Whether the pass-through view may serve upstream's `name` (no merged repository has
   * it), as memory knows now: undefined when a member may have changed since (the slow way
   * asks assertPassedThrough).
   */
  passesThrough(name: string): boolean | undefined {
    const owners = this.owners.peek()?.owners;
    return owners && !owners.has(name);
  }

  /** Throws NotFoundError for a name a merged repository has: the pass-through view does not serve upstream's package of it. */
  async assertPassedThrough(name: string): Promise<void> {
    const member = (await this.owners.get()).owners.get(name);
    if (!member) return;
    throw new NotFoundError(
      `${name} is a package of hosted repository ${member.name}, which the root view serves instead of upstream's package of that name (config key hosted.${member.name}.merge); the pass-through view (/mirror) serves upstream's signed files only, and not upstream's ${name}: point clients at hexproxy's root URL with hexproxy's public key`,
    );
  }
}

/** Tarballs by owner: a merged repository's for a name it has, upstream's (cached or not) for any other. */
class MergedTarballs implements TarballFiles {
  constructor(
    private readonly upstream: TarballFiles,
    private readonly owners: MergedOwners,
  ) {}

  async get(name: string, version: string, options?: { waitForDisk?: boolean }): Promise<TarballResult> {
    const member = (await this.owners.get()).owners.get(name);
    return member ? member.tarballs.get(name, version) : this.upstream.get(name, version, options);
  }

  peek(name: string, version: string): HotTarball | undefined {
    const snapshot = this.owners.peek();
    if (!snapshot) return undefined;
    const member = snapshot.owners.get(name);
    return member ? member.tarballs.peek(name, version) : this.upstream.peek(name, version);
  }

  cachedFile(name: string, version: string): CachedTarballFile | undefined {
    const snapshot = this.owners.peek();
    if (!snapshot) return undefined;
    const member = snapshot.owners.get(name);
    return member ? member.tarballs.cachedFile(name, version) : this.upstream.cachedFile(name, version);
  }

  forget(name: string, version: string): void {
    this.upstream.forget(name, version);
  }

  drain(): Promise<void> {
    return this.upstream.drain();
  }

  memoryBytes(): number {
    return this.upstream.memoryBytes();
  }
}
