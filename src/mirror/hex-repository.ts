// The repository as clients see it: one method per endpoint of the Hex repository
// protocol. Routes validate, call one of these, and write headers. Client usage is
// counted here, so pre-warming and mirroring do not count as hits.
import { docsPath } from '../cache/layout.js';
import { PolicyBlockedError } from '../errors.js';
import { describeDecision } from '../policy/decide.js';
import type { KeyPair } from '../keys/keypair.js';
import type { PassthroughMirror, PassthroughResult } from './passthrough-mirror.js';
import type { PolicyView, PolicyViewFigures } from './policy-view.js';
import type { RegistryFile, RegistryMirror, RegistryResult } from './registry-mirror.js';
import type { HotTarball, TarballMirror, TarballResult } from './tarball-mirror.js';
import type { UsageRecorder } from './usage-recorder.js';
import type { Metrics } from '../metrics/metrics.js';

export class HexRepository {
  constructor(
    private readonly registry: RegistryMirror,
    private readonly tarballs: TarballMirror,
    private readonly passthrough: PassthroughMirror,
    /** The builds server's files: src/installs/installs-mirror.ts, a layer above this one. */
    private readonly builds: { get(path: string): Promise<PassthroughResult> },
    private readonly keys: KeyPair,
    private readonly usage: UsageRecorder,
    private readonly repo: string,
    private readonly upstreamKeyPem: string,
    /** The registry as the policy (config key policy) lets clients see it. */
    private readonly view: PolicyView,
    /** Where this repository's docs are cached: "" for the public one, "repos/ORG/" for an organization. */
    private readonly docsPrefix = '',
    private readonly metrics?: Metrics,
  ) {}

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

  /**
   * The pass-through view serves upstream's own signed files, from which no release can be
   * taken out; under a policy it would let clients around it.
   */
  assertUnfiltered(): void {
    if (this.view.applies()) {
      throw new PolicyBlockedError("the pass-through view (/mirror) serves upstream's signed registry files unchanged, so it cannot apply hexproxy's policy (config key policy); point clients at the re-signed view (hexproxy's URL without /mirror, with hexproxy's public key)");
    }
  }

  /** What the policy's latest filtered /versions left out. */
  policyFigures(): PolicyViewFigures {
    return this.view.figures();
  }

  /** Builds the policy's filtered /names and /versions ahead of the first client. */
  async warmPolicyView(): Promise<void> {
    await this.view.warm();
  }

  /**
   * A registry file ("names", "packages/NAME") memory can answer at once, in the re-signed
   * view or (`original`) the pass-through one; counted as a hit.
   */
  hotRegistryFile(path: string, original = false): RegistryFile | undefined {
    // The pass-through view has nothing to serve while a policy applies (assertUnfiltered).
    const file = !original ? this.view.peek(path) : this.view.applies() ? undefined : this.registry.peek(path);
    if (file) {
      this.usage.registry('hit');
      this.metrics?.cache('registry', 'hit');
    }
    return file;
  }

  /** A tarball memory can answer at once; counted as a hit. */
  hotTarball(name: string, version: string): HotTarball | undefined {
    if (!this.view.knownAllowed(name, version)) return undefined;
    const hot = this.tarballs.peek(name, version);
    if (hot) {
      this.usage.tarball(this.repo, name, version, 'hit');
      this.metrics?.cache('tarball', 'hit');
    }
    return hot;
  }

  /** Where a cached tarball's file is (see TarballMirror.cachedFile); count it with `tarballServed`. */
  cachedTarballFile(name: string, version: string): ReturnType<TarballMirror['cachedFile']> {
    if (!this.view.knownAllowed(name, version)) return undefined;
    return this.tarballs.cachedFile(name, version);
  }

  tarballServed(name: string, version: string): void {
    this.usage.tarball(this.repo, name, version, 'hit');
    this.metrics?.cache('tarball', 'hit');
  }

  /** An organization's dependency policy (Hex 2.5). */
  policy(name: string): Promise<RegistryResult> {
    return this.counted(this.registry.get({ kind: 'policy', name }));
  }

  async tarball(name: string, version: string): Promise<TarballResult> {
    if (this.view.strictTarballs()) {
      const { blocked } = await this.view.package(name);
      const decision = blocked.get(version);
      if (decision) {
        throw new PolicyBlockedError(`${name} ${version} is ${describeDecision(decision)}. Tarballs of blocked releases are refused because policy.tarballs is "strict"; choose an allowed release (hexproxy policy explain ${name}@${version})`);
      }
    }
    // Clients get a verified small tarball before it is durable on disk.
    const result = await this.tarballs.get(name, version, { waitForDisk: false });
    this.usage.tarball(this.repo, name, version, result.cache);
    this.metrics?.cache('tarball', result.cache);
    return result;
  }

  private async counted(pending: Promise<RegistryResult>): Promise<RegistryResult> {
    const result = await pending;
    this.usage.registry(result.cache);
    this.metrics?.cache('registry', result.cache);
    return result;
  }

  /** Documentation tarballs never change once published. */
  async docs(name: string, version: string): Promise<PassthroughResult> {
    const result = await this.passthrough.get(docsPath(this.docsPrefix, name, version), true);
    this.metrics?.cache('docs', result.cache);
    return result;
  }

  /** From the builds server: lists served only if they verify with their .signed file, builds checked against their list. */
  async installs(path: string): Promise<PassthroughResult> {
    const result = await this.builds.get(path);
    this.metrics?.cache('installs', result.cache);
    return result;
  }

  publicKey(): string {
    return this.keys.publicKeyPem;
  }

  /** The key the pass-through view's registry files are signed with. */
  upstreamPublicKey(): string {
    return this.upstreamKeyPem;
  }
}
