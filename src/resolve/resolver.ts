// Works out which releases `hexproxy prewarm` should fetch for some package specs and
// everything they depend on.
//
// Packages live in repositories: a spec is looked up in the repositories asked for, in
// order (the first that has the package wins, as rebar3 picks), and a dependency in the one
// its release names, or else in its dependent's own (as Hex reads the registry).
//
// This is not a version solver: Hex's backtracks to find one version per package that
// satisfies everyone. For filling a cache it is enough to take, for every (package,
// requirement) pair met, the release that requirement prefers (select.ts), so one package
// may come out at several versions. Each distinct release is expanded once, which also
// ends dependency cycles.

import { errorMessage } from '../errors.js';
import { isPackageName } from '../registry/resource.js';
import type { Dependency, Package, Release } from '../registry/types.js';
import { createLimiter } from '../util/concurrency.js';
import { ResolveInputError } from './errors.js';
import { parseRequirement, type Requirement } from './requirement.js';
import { selectExact, selectMatching, selectNewest, type Selection } from './select.js';
import { parseSpec, type Spec } from './spec.js';

export interface ResolveOptions {
  /** The decoded, verified /packages/NAME of a repository, or undefined when it has no such package. */
  readonly fetchPackage: (name: string, repository: string) => Promise<Package | undefined>;
  /** Follow optional dependencies too. */
  readonly withOptional: boolean;
  /** Packages fetched at once; defaults to the Hex client's own 8 (HEX_HTTP_CONCURRENCY). */
  readonly concurrency?: number;
  /**
   * Where a spec's package is looked up, in order: the first repository that has it wins
   * (a repository that cannot be asked stops the lookup). Default: [defaultRepository].
   */
  readonly specRepositories?: readonly string[];
  /** The public repository: a dependency naming it is looked up there, and `via` names its releases without a prefix. Default "hexpm". */
  readonly defaultRepository?: string;
  /**
   * Why a dependency's repository cannot be followed (not served, not readable by the
   * caller), or undefined when it can. Default: every repository but defaultRepository is refused.
   */
  readonly refuses?: (repository: string) => string | undefined;
}

export interface ResolvedRelease {
  /** The repository it was found in. */
  readonly repository: string;
  readonly name: string;
  readonly version: string;
  readonly release: Release;
  /** How it was reached: the spec as given, then NAME@VERSION of each release on the way. */
  readonly via: readonly string[];
  /** Why this version, e.g. "newest stable release matching ~> 1.7". */
  readonly chosen: string;
}

export type ResolveFailure =
  | { readonly kind: 'spec'; readonly spec: string; readonly reason: string }
  | {
      readonly kind: 'dependency';
      readonly package: string;
      readonly requirement: string;
      /** The chain down to and including the release that depends on it. */
      readonly via: readonly string[];
      readonly reason: string;
    };

export interface SkippedDependency {
  readonly package: string;
  readonly requirement: string;
  readonly via: readonly string[];
  /** `optional`: not followed without withOptional; `other-repository`: in a repository refused (ResolveOptions.refuses). */
  readonly reason: 'optional' | 'other-repository';
  /** Set for `other-repository`. */
  readonly repository?: string;
  /** Set for `other-repository` when ResolveOptions.refuses gave a reason other than the default's. */
  readonly detail?: string;
}

export interface Resolution {
  /** Distinct releases, specs' own first, then breadth-first. */
  readonly releases: ResolvedRelease[];
  readonly failures: ResolveFailure[];
  readonly skipped: SkippedDependency[];
}

export const DEFAULT_CONCURRENCY = 8;

const DEFAULT_REPOSITORY = 'hexpm';

type Demand =
  | { readonly origin: 'spec'; readonly name: string; readonly lookIn: readonly string[]; readonly spec: Spec; readonly via: readonly string[] }
  | {
      readonly origin: 'dependency';
      readonly name: string;
      /** The one repository the dependency is in. */
      readonly lookIn: readonly string[];
      readonly requirement: Requirement;
      readonly via: readonly string[];
    };

type Fetched = { readonly ok: true; readonly pkg: Package; readonly repository: string } | { readonly ok: false; readonly reason: string };

// A dependency without a requirement means any version to Hex (lib/hex/registry/server.ex).
const ANY_VERSION = '>= 0.0.0';

export async function resolveSpecs(specs: readonly string[], options: ResolveOptions): Promise<Resolution> {
  const limit = createLimiter(options.concurrency ?? DEFAULT_CONCURRENCY);
  const defaultRepository = options.defaultRepository ?? DEFAULT_REPOSITORY;
  const specRepositories = options.specRepositories ?? [defaultRepository];
  const refuses = options.refuses ?? ((repository: string) => (repository === defaultRepository ? undefined : ''));
  const resolution: Resolution = { releases: [], failures: [], skipped: [] };
  const fetches = new Map<string, Promise<Fetched>>();
  const lookups = new Map<string, Promise<Fetched>>();
  const demanded = new Set<string>();
  const expanded = new Set<string>();
  const skippedKeys = new Set<string>();
  const queue: Demand[] = [];
  const label = (repository: string, id: string): string => (repository === defaultRepository ? id : `${repository}/${id}`);

  // Every package is fetched once per repository, and as soon as it is first demanded, so
  // fetches overlap while the queue is still worked through in order (which keeps the result stable).
  const fetchIn = (repository: string, name: string): Promise<Fetched> => {
    const key = `${repository}\n${name}`;
    let fetched = fetches.get(key);
    if (!fetched) {
      fetched = limit(() => fetchOnce(options.fetchPackage, name, repository, repository === defaultRepository ? '' : ` from ${repository}`));
      fetches.set(key, fetched);
    }
    return fetched;
  };
  // A lookup over several repositories asks them one after the other, like the clients.
  const lookUp = (demand: Demand): Promise<Fetched> => {
    const key = `${demand.lookIn.join(',')}\n${demand.name}`;
    let found = lookups.get(key);
    if (!found) {
      found = firstHaving(demand.name, demand.lookIn);
      lookups.set(key, found);
    }
    return found;
  };
  const firstHaving = async (name: string, repositories: readonly string[]): Promise<Fetched> => {
    for (const repository of repositories) {
      const fetched = await fetchIn(repository, name);
      if (fetched.ok || fetched.reason !== NOT_FOUND) return fetched;
    }
    const where =
      repositories.length === 1 && repositories[0] === defaultRepository
        ? ''
        : ` in ${repositories.length === 1 ? 'repository' : 'repositories'} ${repositories.join(', ')}`;
    return { ok: false, reason: `there is no package named ${name}${where}` };
  };
  const demand = (key: string, next: Demand): void => {
    if (demanded.has(key)) return;
    demanded.add(key);
    queue.push(next);
    void lookUp(next);
  };
  const fail = (from: Demand, reason: string): void => {
    resolution.failures.push(
      from.origin === 'spec'
        ? { kind: 'spec', spec: from.spec.text, reason }
        : { kind: 'dependency', package: from.name, requirement: from.requirement.source, via: from.via, reason },
    );
  };
  const skip = (entry: SkippedDependency): void => {
    const key = [entry.reason, entry.package, entry.requirement, entry.repository ?? ''].join('\n');
    if (skippedKeys.has(key)) return;
    skippedKeys.add(key);
    resolution.skipped.push(entry);
  };

  for (const text of specs) {
    if (demanded.has(`spec\n${text}`)) continue;
    try {
      const spec = parseSpec(text);
      demand(`spec\n${text}`, { origin: 'spec', name: spec.name, lookIn: specRepositories, spec, via: [text] });
    } catch (e: unknown) {
      if (!(e instanceof ResolveInputError)) throw e;
      demanded.add(`spec\n${text}`);
      resolution.failures.push({ kind: 'spec', spec: text, reason: e.problem });
    }
  }

  // The queue grows while it is read: a plain index loop is the breadth-first walk.
  for (let at = 0; at < queue.length; at += 1) {
    const current = queue[at];
    if (!current) continue;
    const fetched = await lookUp(current);
    if (!fetched.ok) {
      fail(current, fetched.reason);
      continue;
    }
    const selection = select(fetched.pkg, current);
    if (!selection.ok) {
      fail(current, selection.reason);
      continue;
    }
    const { release, chosen } = selection;
    const { repository } = fetched;
    const id = label(repository, `${current.name}@${release.version}`);
    if (expanded.has(id)) continue;
    expanded.add(id);
    resolution.releases.push({ repository, name: current.name, version: release.version, release, via: current.via, chosen });

    const via = [...current.via, id];
    for (const dependency of release.dependencies) {
      const requirement = dependency.requirement || ANY_VERSION;
      const base = { package: dependency.package, requirement, via };
      // Without a repository, a dependency is in the repository of the package depending on it.
      const home = dependency.repository || repository;
      const refused = refuses(home);
      if (dependency.optional && !options.withOptional) {
        skip({ ...base, reason: 'optional' });
      } else if (refused !== undefined) {
        skip({ ...base, reason: 'other-repository', repository: home, ...(refused !== '' && { detail: refused }) });
      } else {
        demandDependency(dependency, requirement, via, home);
      }
    }
  }
  return resolution;

  function demandDependency(dependency: Dependency, requirementText: string, via: readonly string[], repository: string): void {
    const key = `dependency\n${repository}\n${dependency.package}\n${requirementText}`;
    if (demanded.has(key)) return;
    const problem = (reason: string): void => {
      demanded.add(key);
      resolution.failures.push({ kind: 'dependency', package: dependency.package, requirement: requirementText, via, reason });
    };
    if (!isPackageName(dependency.package)) {
      problem(`${JSON.stringify(dependency.package)} is not a Hex package name`);
      return;
    }
    let requirement: Requirement;
    try {
      requirement = parseRequirement(requirementText);
    } catch (e: unknown) {
      if (!(e instanceof ResolveInputError)) throw e;
      problem(e.message);
      return;
    }
    demand(key, { origin: 'dependency', name: dependency.package, lookIn: [repository], requirement, via });
  }
}

function select(pkg: Package, demand: Demand): Selection {
  if (demand.origin === 'dependency') return selectMatching(pkg, demand.requirement);
  const { spec } = demand;
  switch (spec.kind) {
    case 'newest':
      return selectNewest(pkg);
    case 'exact':
      return selectExact(pkg, spec.version);
    case 'matching': {
      const selection = selectMatching(pkg, spec.requirement);
      // Asking for the exact version is the way to get a retired one; say so.
      return selection.ok || selection.newestRetired === undefined
        ? selection
        : { ok: false, reason: `${selection.reason}; ask for ${spec.name}@${selection.newestRetired} to take it anyway` };
    }
  }
}

/** What fetchOnce says of a package a repository does not have, so that a lookup goes on to the next one. */
const NOT_FOUND = 'not found';

async function fetchOnce(fetchPackage: ResolveOptions['fetchPackage'], name: string, repository: string, from: string): Promise<Fetched> {
  try {
    const pkg = await fetchPackage(name, repository);
    return pkg ? { ok: true, pkg, repository } : { ok: false, reason: NOT_FOUND };
  } catch (e: unknown) {
    // One package failing to arrive should not stop the rest of the prewarm.
    return { ok: false, reason: `fetching package ${name}${from} failed: ${errorMessage(e)}` };
  }
}
