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
   * The hosted repositories (by their specs' names) whose packages its re-signed view serves
   * as its own: the public repository's, hosted.NAME.merge, in config order. The policy
   * then filters that merged view.
   */
  merge?: readonly string[];
};

export interface RepositoryShared extends MirrorShared {
  /** hexproxy's public key (PEM), which clients of the re-signed view verify with. */
  publicKeyPem: string;
  policy: ActivePolicy;
  usage: ClientUsage;
  /** The filtered /names and /versions are rebuilt at least this often (new advisories, severities). */
  policyIndexMaxAgeMs: number;
}

/** One repository, merging none (createRepositories merges). */
export function createRepository(spec: RepositorySpec, shared: RepositoryShared): Repository {
  return served(spec, sourceOf(spec, shared), [], shared);
}

/**
 * Every repository of `specs`, by name, in their order; one whose spec has `merge` gets the
 * sources of those hosted repositories merged into its re-signed view (merged-root.ts).
 */
export function createRepositories(specs: readonly RepositorySpec[], shared: RepositoryShared): Map<string, Repository> {
  const sources = new Map(specs.map((spec) => [spec.name, sourceOf(spec, shared)]));
  const repositories = new Map<string, Repository>();
  for (const spec of specs) {
    const source = sources.get(spec.name);
    if (!source) continue;
    const members = (spec.merge ?? []).map((name) => mergedMember(name, specs, sources));
    repositories.set(spec.name, served(spec, source, members, shared));
  }
  return repositories;
}

function served(spec: RepositorySpec, source: RepositorySource, members: readonly MergedMember[], shared: RepositoryShared): Repository {
  const merged =
    members.length > 0
      ? new MergedRoot({ source, members, signingKey: shared.signingKey, log: shared.log, memoryMaxBytes: spec.policyMemoryBytes })
      : undefined;
  const view = new PolicyView({
    repo: source.name,
    registry: merged?.registry ?? source.registry,
    policy: shared.policy,
    signingKey: shared.signingKey,
    log: shared.log,
    memoryMaxBytes: spec.policyMemoryBytes,
    indexMaxAgeMs: shared.policyIndexMaxAgeMs,
    ...sourceGeneration(spec, members),
  });
  return new ServedRepository(source, { view, usage: shared.usage, publicKeyPem: shared.publicKeyPem, ...(merged && { merged }) });
}

/** What makes the policy's filtered /names and /versions of a hosted source (or of a merged view) stale at once: a publish. */
function sourceGeneration(spec: RepositorySpec, members: readonly MergedMember[]): { sourceGeneration?: () => number } {
  if (members.length > 0) return { sourceGeneration: () => members.reduce((sum, member) => sum + member.generation(), 0) };
  if (spec.kind === 'hosted') {
    const { store, name } = spec;
    return { sourceGeneration: () => store.generation(name) };
  }
  return {};
}

/** The hosted repository `name` as a member of a merged view: its source (uncounted), and its store's generation. */
function mergedMember(name: string, specs: readonly RepositorySpec[], sources: ReadonlyMap<string, RepositorySource>): MergedMember {
  const spec = specs.find((candidate) => candidate.name === name);
  const source = sources.get(name);
  if (spec?.kind !== 'hosted' || !source) throw new Error(`cannot merge ${name} into the root view: it is not a hosted repository being served`);
  const { store } = spec;
  return {
    name,
    registry: source.registry,
    tarballs: source.tarballs,
    docs: (pkg, version) => source.docs(pkg, version),
    generation: () => store.generation(name),
  };
}

function sourceOf(spec: RepositorySpec, shared: RepositoryShared): RepositorySource {
  switch (spec.kind) {
    case 'mirror':
      return mirrorSource(spec, shared);
    case 'hosted':
      return hostedSource(spec);
  }
}
