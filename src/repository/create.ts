// The one factory of repositories: a spec (what kind, its name, its own settings) and what
// all repositories share in, a Repository out. Two kinds: mirrored from hex.pm (the public
// repository, organizations) and hosted (packages published to hexproxy). A new kind is a RepositorySource
// implementation and one case in sourceOf; the policy view and usage counting come on top
// of every kind alike.
import type { ActivePolicy } from '../policy/active-policy.js';
import type { ClientUsage } from './client-usage.js';
import { hostedSource, type HostedSpec } from './hosted-source.js';
import { mirrorSource, type MirrorShared, type MirrorSpec } from './mirror-source.js';
import { PolicyView } from './policy-view.js';
import { MergedRoot, type MergedMember } from './merged-root.js';
import type { Repository, RepositorySource } from './repository.js';
import { ServedRepository } from './served-repository.js';

/** What a repository is: one kind per implementation of RepositorySource. */
export type RepositorySpec = (MirrorSpec | HostedSpec) & {
  /** Bound of the policy's filtered package files kept in memory. */
  policyMemoryBytes: number;
  /**
   * Hosted repositories whose packages its re-signed view serves as its own (the public
   * repository's, hosted.NAME.merge), in config order; the policy then filters that view.
   */
  merge?: readonly MergedMember[];
};

export interface RepositoryShared extends MirrorShared {
  /** hexproxy's public key (PEM), which clients of the re-signed view verify with. */
  publicKeyPem: string;
  policy: ActivePolicy;
  usage: ClientUsage;
  /** The filtered /names and /versions are rebuilt at least this often (new advisories, severities). */
  policyIndexMaxAgeMs: number;
}

export function createRepository(spec: RepositorySpec, shared: RepositoryShared): Repository {
  const source = sourceOf(spec, shared);
  const merged =
    spec.merge && spec.merge.length > 0
      ? new MergedRoot({ source, members: spec.merge, signingKey: shared.signingKey, log: shared.log, memoryMaxBytes: spec.policyMemoryBytes })
      : undefined;
  const view = new PolicyView({
    repo: source.name,
    registry: merged?.registry ?? source.registry,
    policy: shared.policy,
    signingKey: shared.signingKey,
    log: shared.log,
    memoryMaxBytes: spec.policyMemoryBytes,
    indexMaxAgeMs: shared.policyIndexMaxAgeMs,
  });
  return new ServedRepository(source, { view, usage: shared.usage, publicKeyPem: shared.publicKeyPem, ...(merged && { merged }) });
}

function sourceOf(spec: RepositorySpec, shared: RepositoryShared): RepositorySource {
  switch (spec.kind) {
    case 'mirror':
      return mirrorSource(spec, shared);
    case 'hosted':
      return hostedSource(spec);
  }
}
