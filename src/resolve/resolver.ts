// Works out which releases `hexproxy prewarm` should fetch for some package specs and
// everything they depend on.
//
// This is not a version solver: Hex's backtracks to find one version per package that
// satisfies everyone. For filling a cache it is enough to take, for every (package,
// requirement) pair met, the release that requirement prefers (select.ts), so one package
// may come out at several versions. Each distinct release is expanded once, which also
// ends dependency cycles.

import { errorMessage } from '../errors.js';
import { isPackageName } from '../registry/resource.js';
import type { Dependency, Package, Release } from '../registry/types.js';
import { ResolveInputError } from './errors.js';
import { createLimiter } from './limiter.js';
import { parseRequirement, type Requirement } from './requirement.js';
import { selectExact, selectMatching, selectNewest, type Selection } from './select.js';
import { parseSpec, type Spec } from './spec.js';

export interface ResolveOptions {
  /** The decoded, verified /packages/NAME, or undefined when there is no such package. */
  readonly fetchPackage: (name: string) => Promise<Package | undefined>;
  /** Follow optional dependencies too. */
  readonly withOptional: boolean;
  /** Packages fetched at once; defaults to the Hex client's own 8 (HEX_HTTP_CONCURRENCY). */
  readonly concurrency?: number;
}

export interface ResolvedRelease {
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
  /** `optional`: not followed without withOptional; `other-repository`: not on hexpm. */
  readonly reason: 'optional' | 'other-repository';
  /** Set for `other-repository`. */
  readonly repository?: string;
}

export interface Resolution {
  /** Distinct releases, specs' own first, then breadth-first. */
  readonly releases: ResolvedRelease[];
  readonly failures: ResolveFailure[];
  readonly skipped: SkippedDependency[];
}

export const DEFAULT_CONCURRENCY = 8;

type Demand =
  | { readonly origin: 'spec'; readonly name: string; readonly spec: Spec; readonly via: readonly string[] }
  | {
      readonly origin: 'dependency';
      readonly name: string;
      readonly requirement: Requirement;
      readonly via: readonly string[];
    };

type Fetched = { readonly ok: true; readonly pkg: Package } | { readonly ok: false; readonly reason: string };

// A dependency without a requirement means any version to Hex (lib/hex/registry/server.ex).
const ANY_VERSION = '>= 0.0.0';

export async function resolveSpecs(specs: readonly string[], options: ResolveOptions): Promise<Resolution> {
  const limit = createLimiter(options.concurrency ?? DEFAULT_CONCURRENCY);
  const resolution: Resolution = { releases: [], failures: [], skipped: [] };
  const fetches = new Map<string, Promise<Fetched>>();
  const demanded = new Set<string>();
  const expanded = new Set<string>();
  const skippedKeys = new Set<string>();
  const queue: Demand[] = [];

  // Every package is fetched once, and as soon as it is first demanded, so fetches overlap
  // while the queue is still worked through in order (which keeps the result stable).
  const fetchPackage = (name: string): Promise<Fetched> => {
    let fetched = fetches.get(name);
    if (!fetched) {
      fetched = limit(() => fetchOnce(options.fetchPackage, name));
      fetches.set(name, fetched);
    }
    return fetched;
  };
  const demand = (key: string, next: Demand): void => {
    if (demanded.has(key)) return;
    demanded.add(key);
    queue.push(next);
    void fetchPackage(next.name);
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
      demand(`spec\n${text}`, { origin: 'spec', name: spec.name, spec, via: [text] });
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
    const fetched = await fetchPackage(current.name);
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
    const id = `${current.name}@${release.version}`;
    if (expanded.has(id)) continue;
    expanded.add(id);
    resolution.releases.push({ name: current.name, version: release.version, release, via: current.via, chosen });

    const via = [...current.via, id];
    for (const dependency of release.dependencies) {
      const requirement = dependency.requirement || ANY_VERSION;
      const base = { package: dependency.package, requirement, via };
      if (dependency.optional && !options.withOptional) {
        skip({ ...base, reason: 'optional' });
      } else if (dependency.repository && dependency.repository !== 'hexpm') {
        skip({ ...base, reason: 'other-repository', repository: dependency.repository });
      } else {
        demandDependency(dependency, requirement, via);
      }
    }
  }
  return resolution;

  function demandDependency(dependency: Dependency, requirementText: string, via: readonly string[]): void {
    const key = `dependency\n${dependency.package}\n${requirementText}`;
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
    demand(key, { origin: 'dependency', name: dependency.package, requirement, via });
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

async function fetchOnce(fetchPackage: ResolveOptions['fetchPackage'], name: string): Promise<Fetched> {
  try {
    const pkg = await fetchPackage(name);
    return pkg ? { ok: true, pkg } : { ok: false, reason: `there is no package named ${name}` };
  } catch (e: unknown) {
    // One package failing to arrive should not stop the rest of the prewarm.
    return { ok: false, reason: `fetching package ${name} failed: ${errorMessage(e)}` };
  }
}
