// A repository as clients get it, over any source: one method per endpoint of the Hex
// repository protocol, with the policy's view of the registry (policy-view.ts) and client
// use counted (client-usage.ts). Routes validate, call one of these, and write headers;
// hits memory can answer come from `lookup`, the one place both HTTP stacks ask.
import type { KeyObject } from 'node:crypto';
import { PolicyBlockedError } from '../errors.js';
import { describeDecision } from '../policy/decide.js';
import { publicKeyPem } from '../registry/signature.js';
import { splitRelease } from '../registry/resource.js';
import type { ClientUsage } from './client-usage.js';
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
}

const TARBALLS = 'tarballs/';
const TAR = '.tar';

export class ServedRepository implements Repository {
  readonly name: string;
  readonly registryKey: KeyObject;
  readonly registry: RegistryFiles;
  readonly tarballs: TarballFiles;
  private readonly view: PolicyView;
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
    this.usage = layers.usage;
    this.ownKeyPem = layers.publicKeyPem;
    this.originalKeyPem = publicKeyPem(source.registryKey);
  }

  /** The re-signed view: with the policy's blocked releases taken out. */
  names(): Promise<RegistryResult> {
    return this.counted(this.view.names());
  }

  versions(): Promise<RegistryResult> {
    return this.counted(this.view.versions());
  }

  package(name: string): Promise<RegistryResult> {
    return this.counted(this.view.package(name).then((view) => view.result));
  }

  dependencyPolicy(name: string): Promise<RegistryResult> {
    return this.counted(this.registry.get({ kind: 'policy', name }));
  }

  async tarball(name: string, version: string): Promise<TarballResult> {
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
    const result = await this.tarballs.get(name, version, { waitForDisk: false });
    this.usage.tarball(this.name, name, version, result.cache);
    return result;
  }

  async docs(name: string, version: string): Promise<PassthroughResult> {
    const result = await this.source.docs(name, version);
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
      // Tarballs are the same bytes in both views.
      const release = path.endsWith(TAR) ? splitRelease(path.slice(TARBALLS.length, -TAR.length)) : undefined;
      if (!release || !this.view.knownAllowed(release.name, release.version)) return undefined;
      return this.tarballs.peek(release.name, release.version) ?? this.tarballs.cachedFile(release.name, release.version);
    }
    if (view === 'resigned') return this.view.peek(path);
    // The pass-through view has nothing to serve while a policy applies (assertUnfiltered).
    return this.view.applies() ? undefined : this.registry.peek(path);
  }

  countHit(hit: Hit): void {
    if (isRegistryHit(hit)) this.usage.registry('hit');
    else this.usage.tarball(this.name, hit.row.name, hit.row.version, 'hit');
  }

  policyFigures(): PolicyViewFigures {
    return this.view.figures();
  }

  async warmPolicyView(): Promise<void> {
    await this.view.warm();
  }

  private async counted(pending: Promise<RegistryResult>): Promise<RegistryResult> {
    const result = await pending;
    this.usage.registry(result.cache);
    return result;
  }
}
