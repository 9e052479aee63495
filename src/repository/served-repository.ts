// A repository as clients get it, over any source: one method per endpoint of the Hex
// repository protocol, with the policy's view of the registry (policy-view.ts) and client
// use counted (client-usage.ts). Routes validate, call one of these, and write headers;
// hits memory can answer come from `lookup`, the one place both HTTP stacks ask. With
// hosted repositories merged into it (merged-root.ts), its re-signed view is the merged one
// and the pass-through view stays upstream's.
import type { KeyObject } from 'node:crypto';
import { PolicyBlockedError } from '../errors.js';
import { describeDecision } from '../policy/decide.js';
import { publicKeyPem } from '../registry/signature.js';
import { splitRelease, type RegistryResource } from '../registry/resource.js';
import type { ClientUsage } from './client-usage.js';
import type { MergedRoot } from './merged-root.js';
import type { PolicyView, PolicyViewFigures } from './policy-view.js';
import {
  isRegistryHit,
  type Hit,
  type PassthroughResult,
  type RegistryFiles,
  type RegistryResult,
  type Repository,
  type RepositorySource,
  type TarballFiles,
  type TarballResult,
  type View,
} from './repository.js';

export interface ServedRepositoryLayers {
  /** The registry as the policy (config key policy) lets clients see it, over the source's registry. */
  view: PolicyView;
  usage: ClientUsage;
  /** hexproxy's public key (PEM), which the re-signed view is signed with. */
  publicKeyPem: string;
  /** Hosted repositories merged into the re-signed view (hosted.NAME.merge); `view` reads its registry. */
  merged?: MergedRoot;
}

const TARBALLS = 'tarballs/';
const PACKAGES = 'packages/';
const TAR = '.tar';

export class ServedRepository implements Repository {
  readonly name: string;
  readonly registryKey: KeyObject;
  readonly registry: RegistryFiles;
  readonly tarballs: TarballFiles;
  private readonly view: PolicyView;
  private readonly merged: MergedRoot | undefined;
  /** What clients of the re-signed view get: the merged tarballs, or the source's. */
  private readonly servedTarballs: TarballFiles;
  private readonly usage: ClientUsage;
  private readonly ownKeyPem: string;
  private readonly originalKeyPem: string;

  constructor(
    private readonly source: RepositorySource,
    layers: ServedRepositoryLayers,
  ) {
    this.name = source.name;
    this.registryKey = source.registryKey;
    this.registry = source.registry;
    this.tarballs = source.tarballs;
    this.view = layers.view;
    this.merged = layers.merged;
    this.servedTarballs = layers.merged?.tarballs ?? source.tarballs;
    this.usage = layers.usage;
    this.ownKeyPem = layers.publicKeyPem;
    this.originalKeyPem = publicKeyPem(source.registryKey);
  }

  /** The re-signed view: with the policy's blocked releases taken out. The pass-through view: the source's own files. */
  names(view: View = 'resigned'): Promise<RegistryResult> {
    return this.counted(view === 'resigned' ? this.view.names() : this.original({ kind: 'names' }));
  }

  versions(view: View = 'resigned'): Promise<RegistryResult> {
    return this.counted(view === 'resigned' ? this.view.versions() : this.original({ kind: 'versions' }));
  }

  package(name: string, view: View = 'resigned'): Promise<RegistryResult> {
    if (view === 'resigned') return this.counted(this.view.package(name).then((listed) => listed.result));
    return this.counted(this.passedThrough(name).then(() => this.original({ kind: 'package', name })));
  }

  dependencyPolicy(name: string): Promise<RegistryResult> {
    return this.counted(this.registry.get({ kind: 'policy', name }));
  }

  async tarball(name: string, version: string, view: View = 'resigned'): Promise<TarballResult> {
    if (view === 'original') await this.passedThrough(name);
    if (this.view.strictTarballs()) {
      const { blocked } = await this.view.package(name);
      const decision = blocked.get(version);
      if (decision) {
        throw new PolicyBlockedError(
          `${name} ${version} is ${describeDecision(decision)}. Tarballs of blocked releases are refused because policy.tarballs is "strict"; choose an allowed release (hexproxy policy explain ${name}@${version})`,
        );
      }
    }
    // Clients get a verified small tarball before it is durable on disk.
    const tarballs = view === 'resigned' ? this.servedTarballs : this.tarballs;
    const result = await tarballs.get(name, version, { waitForDisk: false });
    // Counted where it is kept: a merged hosted tarball is its repository's.
    this.usage.tarball(result.row.repo, name, version, result.cache);
    return result;
  }

  async docs(name: string, version: string, view: View = 'resigned'): Promise<PassthroughResult> {
    if (view === 'original') await this.passedThrough(name);
    const result = await (view === 'resigned' && this.merged ? this.merged.docs(name, version) : this.source.docs(name, version));
    this.usage.docs(result.cache);
    return result;
  }

  publicKey(): string {
    return this.ownKeyPem;
  }

  originalPublicKey(): string {
    return this.originalKeyPem;
  }

  assertUnfiltered(): void {
    if (this.view.applies()) {
      throw new PolicyBlockedError(
        "the pass-through view (/mirror) serves upstream's signed registry files unchanged, so it cannot apply hexproxy's policy (config key policy); point clients at the re-signed view (hexproxy's URL without /mirror, with hexproxy's public key)",
      );
    }
  }

  lookup(path: string, view: View): Hit | undefined {
    if (path.startsWith(TARBALLS)) {
      // Tarballs are the same bytes in both views, but a merged repository's are not in the pass-through view.
      const release = path.endsWith(TAR) ? splitRelease(path.slice(TARBALLS.length, -TAR.length)) : undefined;
      if (!release || !this.view.knownAllowed(release.name, release.version)) return undefined;
      if (view === 'original' && this.merged && this.merged.passesThrough(release.name) !== true) return undefined;
      const tarballs = view === 'resigned' ? this.servedTarballs : this.tarballs;
      return tarballs.peek(release.name, release.version) ?? tarballs.cachedFile(release.name, release.version);
    }
    if (view === 'resigned') return this.view.peek(path);
    // The pass-through view has nothing to serve while a policy applies (assertUnfiltered).
    if (this.view.applies()) return undefined;
    if (this.merged && path.startsWith(PACKAGES) && this.merged.passesThrough(path.slice(PACKAGES.length)) !== true) return undefined;
    return this.registry.peek(path);
  }

  countHit(hit: Hit): void {
    if (isRegistryHit(hit)) this.usage.registry('hit');
    else this.usage.tarball(hit.row.repo, hit.row.name, hit.row.version, 'hit');
  }

  policyFigures(): PolicyViewFigures {
    return this.view.figures();
  }

  async warmPolicyView(): Promise<void> {
    await this.view.warm();
  }

  /** A file of the pass-through view: the source's own, unfiltered. */
  private original(resource: RegistryResource): Promise<RegistryResult> {
    this.assertUnfiltered();
    return this.registry.get(resource);
  }

  /** Throws NotFoundError for a name a merged hosted repository has: the pass-through view does not serve upstream's package of it. */
  private async passedThrough(name: string): Promise<void> {
    await this.merged?.assertPassedThrough(name);
  }

  private async counted(pending: Promise<RegistryResult>): Promise<RegistryResult> {
    const result = await pending;
    this.usage.registry(result.cache);
    return result;
  }
}
