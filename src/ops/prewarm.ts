// What `hexproxy prewarm` (and `export` with locks or specs, and the admin API) should
// fetch: every Hex entry of the lock files, and the releases package specs resolve to,
// transitively, each in its repository (the public one or an organization's).
import { NotFoundError } from '../errors.js';
import type { LockedPackage } from '../lockfiles/locked-package.js';
import { readLockFile, type LockKind } from '../lockfiles/read-lock.js';
import { packageOf, type Repository } from '../repository/repository.js';
import type { Package } from '../registry/types.js';
import { resolveSpecs } from '../resolve/resolver.js';
import { mapLimited } from '../util/concurrency.js';
import { uniqueTargets, type ReleaseTarget } from './fetch-releases.js';
import { locateEntry } from './lock-lookup.js';
import { rebarLookupOrder, releaseLabel, servedRepositoryOf, type ServedRepositories } from './repositories.js';

export interface PrewarmRequest {
  mixLocks: readonly string[];
  rebarLocks: readonly string[];
  specs: readonly string[];
  withOptional: boolean;
  concurrency: number;
  /**
   * `--repo`: the repositories to work on, in order. Specs are looked up in them (the first
   * that has the package wins), rebar.lock entries too, and mix.lock entries of other
   * repositories are skipped. Undefined: specs in the public repository, rebar.lock entries
   * in the organizations then the public repository (rebar3's order), mix.lock entries
   * wherever they are.
   */
  repos?: readonly string[];
  /** Why the caller may not have a repository's releases (the admin API's token), or undefined when it may. */
  refuses?: (repository: string) => string | undefined;
}

export interface PrewarmContext {
  /** Every repository served, the public one first. */
  repositories: ReadonlyMap<string, Pick<Repository, 'registry'>>;
  publicRepository: string;
}

/** The rebar.lock entries of one file found in one repository. */
export interface FoundEntries {
  file: string;
  repository: string;
  releases: string[];
}

export interface PrewarmPlan {
  /** Each release once, with the lock checksums of every source naming it. */
  targets: ReleaseTarget[];
  skipped: { what: string; reason: string }[];
  failed: { what: string; reason: string }[];
  /** Where each rebar.lock entry was found (rebar.lock does not record it). */
  found: FoundEntries[];
}

export async function planPrewarm(request: PrewarmRequest, context: PrewarmContext): Promise<PrewarmPlan> {
  const { repositories, publicRepository } = context;
  const served = { publicRepository, names: [...repositories.keys()] };
  const plan: PrewarmPlan = { targets: [], skipped: [], failed: [], found: [] };
  const packages = packageSource(repositories);
  const locks: { file: string; kind: LockKind }[] = [
    ...request.mixLocks.map((file) => ({ file, kind: 'mix' as const })),
    ...request.rebarLocks.map((file) => ({ file, kind: 'rebar' as const })),
  ];
  for (const { file, kind } of locks) {
    const lock = await readLockFile(file, kind);
    const targetOf = (entry: LockedPackage, repo: string): ReleaseTarget => ({
      repo,
      name: entry.name,
      version: entry.version,
      source: file,
      ...(entry.outerChecksum !== undefined && { lockOuterChecksum: entry.outerChecksum }),
      ...(entry.innerChecksum !== undefined && { lockInnerChecksum: entry.innerChecksum }),
    });
    if (kind === 'rebar') {
      await locateRebarEntries(lock.entries, file, request.repos ?? rebarLookupOrder(served), {
        served,
        packages,
        concurrency: request.concurrency,
        plan,
        targetOf,
      });
    } else {
      for (const entry of lock.entries) {
        const where = servedRepositoryOf(entry.repository, served);
        if ('reason' in where) {
          plan.skipped.push({ what: `${entry.name} ${entry.version} (${file})`, reason: where.reason });
        } else if (request.repos && !request.repos.includes(where.repository)) {
          plan.skipped.push({
            what: `${entry.name} ${entry.version} (${file})`,
            reason: `it is in repository "${entry.repository}", which --repo ${request.repos.join(',')} leaves out`,
          });
        } else {
          plan.targets.push(targetOf(entry, where.repository));
        }
      }
    }
    for (const skipped of lock.skipped) plan.skipped.push({ what: `${skipped.key} (${file})`, reason: skipped.reason });
  }

  if (request.specs.length > 0) {
    const refuses = (repository: string): string | undefined => {
      if (!repositories.has(repository)) return `hexproxy serves no repository ${repository} (configure organizations.${repository} to fetch it)`;
      return request.refuses?.(repository);
    };
    const resolution = await resolveSpecs(request.specs, {
      withOptional: request.withOptional,
      concurrency: request.concurrency,
      specRepositories: request.repos ?? [publicRepository],
      defaultRepository: publicRepository,
      refuses,
      fetchPackage: (name, repository) => packages(repository, name),
    });
    for (const release of resolution.releases) {
      plan.targets.push({ repo: release.repository, name: release.name, version: release.version, source: release.via.join(' → ') });
    }
    for (const failure of resolution.failures) {
      plan.failed.push(
        failure.kind === 'spec'
          ? { what: failure.spec, reason: failure.reason }
          : { what: `${failure.package} ${failure.requirement} (via ${failure.via.join(' → ')})`, reason: failure.reason },
      );
    }
    for (const skipped of resolution.skipped) {
      plan.skipped.push({
        what: `${skipped.package} ${skipped.requirement} (via ${skipped.via.join(' → ')})`,
        reason:
          skipped.reason === 'optional'
            ? 'optional dependency (--with-optional includes it)'
            : `in repository "${skipped.repository ?? '?'}"${skipped.detail ? `: ${skipped.detail}` : ''}`,
      });
    }
  }
  plan.targets = uniqueTargets(plan.targets);
  return plan;
}

type PackageSource = (repository: string, name: string) => Promise<Package | undefined>;

/** Each package file once per run, asked of upstream whatever the TTL: a pre-warm wants what is current. */
function packageSource(repositories: PrewarmContext['repositories']): PackageSource {
  const fetched = new Map<string, Promise<Package | undefined>>();
  return (repository, name) => {
    const key = `${repository}\n${name}`;
    let pkg = fetched.get(key);
    if (!pkg) {
      const registry = repositories.get(repository)?.registry;
      pkg = registry
        ? registry.get({ kind: 'package', name }, true).then(
            ({ file }) => packageOf(file),
            (error: unknown) => {
              if (error instanceof NotFoundError) return undefined;
              throw error;
            },
          )
        : Promise.reject(new NotFoundError(`hexproxy serves no repository ${repository}`));
      // Awaited by whoever asked; a rejection must not go unhandled meanwhile.
      pkg.catch(() => undefined);
      fetched.set(key, pkg);
    }
    return pkg;
  };
}

interface Locating {
  served: ServedRepositories;
  packages: PackageSource;
  concurrency: number;
  plan: PrewarmPlan;
  targetOf: (entry: LockedPackage, repo: string) => ReleaseTarget;
}

/**
 * rebar.lock does not record where a package came from: each entry is looked up in `order`
 * as rebar3 looks it up, and taken from the first repository whose registry has the
 * release with the locked checksum. A repository that cannot be asked (upstream down, the
 * organization's key refused) ends the lookup: a package of the same name further on may
 * not be the one locked. With one repository served, there is nothing to look up.
 */
async function locateRebarEntries(entries: readonly LockedPackage[], file: string, order: readonly string[], locating: Locating): Promise<void> {
  const { served, packages, plan, targetOf } = locating;
  const [only, ...others] = order;
  if (served.names.length === 1 && only !== undefined && others.length === 0) {
    for (const entry of entries) plan.targets.push(targetOf(entry, only));
    return;
  }
  const located = await mapLimited(entries, locating.concurrency, async (entry) => ({
    entry,
    where: await locateEntry(entry, order, async (repository) => {
      const pkg = await packages(repository, entry.name);
      return pkg?.releases.find((release) => release.version === entry.version) ?? (pkg ? 'no-release' : 'no-package');
    }),
  }));
  const found = new Map<string, string[]>();
  for (const { entry, where } of located) {
    if ('reason' in where) {
      plan.failed.push({ what: `${entry.name} ${entry.version} (${file})`, reason: where.reason });
      continue;
    }
    plan.targets.push(targetOf(entry, where.repository));
    found.set(where.repository, [...(found.get(where.repository) ?? []), `${entry.name} ${entry.version}`]);
  }
  for (const repository of order) {
    const releases = found.get(repository);
    if (releases) plan.found.push({ file, repository, releases });
  }
}

/** A target as progress lines and summaries name it. */
export const targetLabel = (target: ReleaseTarget, publicRepository: string): string =>
  releaseLabel(target.repo, target.name, target.version, publicRepository);
