// Publishing to a hosted repository: the upload is validated (package-tarball.ts), each
// dependency is checked where it lives, then the release is stored (hosted-store.ts). A
// refusal at any step stores nothing: the store is only called once everything passed.
//
// Dependencies follow hexpm (lib/hexpm/repository/requirement.ex): a requirement names the
// public repository or this one, and the package must exist there. A requirement that names
// no repository (rebar3_hex writes none) is looked up in this repository first, then in the
// public one, and stored with the repository it was found in, so the registry entry says
// "hexpm" for a public package as hexpm writes it. Beyond hexpm (whose resolver check is
// disabled), some release must satisfy the requirement: a package nobody can install is
// refused when it is published rather than when someone first depends on it.
import { InvalidPackageError, NotFoundError, UpstreamUnavailableError, allowsStale, errorMessage, type ValidationErrors } from '../errors.js';
import { matches, parseRequirement, type Requirement } from '../resolve/requirement.js';
import { compareVersions } from '../resolve/version.js';
import { mapLimited } from '../util/concurrency.js';
import { validateDocsTarball, type DocsLimits } from './docs-tarball.js';
import type { HostedBlobFile, HostedStore, PublishResult } from './hosted-store.js';
import { validatePackageTarball, type ExpectedRelease, type PackageLimits } from './package-tarball.js';
import type { ReleaseRequirement, ValidatedRelease } from './release.js';

/** The public repository's packages, as the mirror knows them (its signed registry). */
export interface PublicPackages {
  /**
   * The versions of `name`, or undefined when the public repository has no such package.
   * `revalidate`: ask upstream even when a fresh copy is cached. Throws when it cannot be
   * told (upstream unreachable and nothing cached).
   */
  versions(name: string, revalidate: boolean): Promise<readonly string[] | undefined>;
}

/** What publishing needs of the store. */
export type HostedWrites = Pick<HostedStore, 'hosts' | 'has' | 'versions' | 'publish' | 'putDocs'>;

/** Whether a name may be published to a repository at all (a merged one must not shadow hex.pm's: src/repository/shadow-guard.ts). */
export interface NameGuard {
  /** Resolves when it may; throws (NameShadowsUpstreamError) why not. */
  mayPublishName(repo: string, name: string): Promise<void>;
}

export interface PublishServiceOptions {
  store: HostedWrites;
  names: NameGuard;
  /** The public repository's name as requirements and registry files say it ("hexpm"). */
  publicRepository: string;
  publicPackages: PublicPackages;
  packageLimits?: Partial<PackageLimits>;
  docsLimits?: Partial<DocsLimits>;
}

export interface PublishRequest {
  repo: string;
  tarball: Buffer;
  /** The name (and version) the request's URL gives, which the package must state. */
  expected?: ExpectedRelease;
  replace: boolean;
  /** The publishing token's name. */
  publisher: string;
}

// A package lists a few dozen dependencies at most; the public ones may each cost a fetch.
const LOOKUPS_AT_ONCE = 4;
// Versions named in a refusal: enough to see what exists.
const VERSIONS_SHOWN = 5;

export class PublishService {
  constructor(private readonly options: PublishServiceOptions) {}

  /** Validates, checks the dependencies, stores. Throws InvalidPackageError (422) and the store's refusals; nothing is stored then. */
  async publish({ repo, tarball, expected, replace, publisher }: PublishRequest): Promise<PublishResult> {
    this.requireHosted(repo);
    const validated = await validatePackageTarball(tarball, expected, this.options.packageLimits);
    await this.options.names.mayPublishName(repo, validated.name);
    const requirements = await this.checkRequirements(repo, validated);
    return this.options.store.publish(repo, { ...validated, requirements }, { replace, publisher });
  }

  /** Validates a docs tarball and stores it for a published release (NotFoundError when it is not). */
  async publishDocs(repo: string, name: string, version: string, docs: Buffer): Promise<{ created: boolean; docs: HostedBlobFile }> {
    this.requireHosted(repo);
    await validateDocsTarball(docs, this.options.docsLimits);
    return this.options.store.putDocs(repo, name, version, docs);
  }

  /**
   * `release`'s requirements, each with the repository it is met in; InvalidPackageError
   * naming every one that is not (`errors.requirements.NAME`, as hexpm files them), or
   * UpstreamUnavailableError when the public repository cannot be asked.
   */
  async checkRequirements(repo: string, release: ValidatedRelease): Promise<ReleaseRequirement[]> {
    const problems: Record<string, string> = {};
    const checked = await mapLimited(release.requirements, LOOKUPS_AT_ONCE, async (requirement) => {
      const outcome = await this.checkRequirement(repo, requirement);
      if (!outcome.met) problems[requirement.name] = outcome.problem;
      return outcome.met ? { ...requirement, repository: outcome.repository } : requirement;
    });
    if (Object.keys(problems).length > 0) throw new InvalidPackageError({ requirements: problems } satisfies ValidationErrors);
    return checked;
  }

  /** The repository `requirement` is met in, or what is wrong with it. */
  private async checkRequirement(repo: string, requirement: ReleaseRequirement): Promise<Outcome> {
    const { publicRepository } = this.options;
    const { name, repository } = requirement;
    if (repository !== undefined && repository !== publicRepository && repository !== repo) {
      // hexpm's words (lib/hexpm/ecto/changeset.ex, validate_repository).
      return refusal(`dependencies can only belong to public repository "${publicRepository}" or current repository "${repo}", got: "${repository}"`);
    }
    if (repository === undefined || repository === repo) {
      const versions = this.options.store.has(repo, name) ? this.options.store.versions(repo, name) : [];
      if (versions.length > 0) return this.satisfied(requirement, repo, versions);
      if (repository === repo) return refusal(`package does not exist in repository "${repo}": publish ${name} to ${repo} first`);
    }
    const versions = await this.publicVersions(name, false);
    if (versions === undefined) {
      return refusal(
        repository === undefined
          ? `package does not exist in repository "${repo}" nor in repository "${publicRepository}": check the name, or publish ${name} to ${repo} first`
          : `package does not exist in repository "${publicRepository}": check the name (a package of this repository needs repository "${repo}"; Mix: organization: "${repo}")`,
      );
    }
    const met = this.satisfied(requirement, publicRepository, versions);
    if (met.met || versions.length === 0) return met;
    // A fresh copy may predate the release that would satisfy it: upstream has the last word.
    const fresh = await this.publicVersions(name, true);
    return fresh === undefined ? met : this.satisfied(requirement, publicRepository, fresh);
  }

  /** Met in `repository` when some version satisfies the requirement, else why not. */
  private satisfied(requirement: ReleaseRequirement, repository: string, versions: readonly string[]): Outcome {
    let parsed: Requirement;
    try {
      parsed = parseRequirement(requirement.requirement);
    } catch (error: unknown) {
      // The validator refuses such a requirement before this runs; said here all the same.
      return refusal(`invalid requirement ${JSON.stringify(requirement.requirement)}: ${errorMessage(error)}`);
    }
    if (versions.some((version) => satisfiesSafely(parsed, version))) return { met: true, repository };
    const newest = [...versions].sort((a, b) => compareVersionsSafely(b, a)).slice(0, VERSIONS_SHOWN);
    return refusal(
      `no version of ${requirement.name} in repository "${repository}" matches ${requirement.requirement} (${
        newest.length === 0 ? 'it has no releases' : `newest: ${newest.join(', ')}`
      }): change the requirement, or publish a matching release of ${requirement.name} first`,
    );
  }

  /** The public repository's versions of `name`; an upstream that cannot be asked stops the publish, naming the dependency. */
  private async publicVersions(name: string, revalidate: boolean): Promise<readonly string[] | undefined> {
    try {
      return await this.options.publicPackages.versions(name, revalidate);
    } catch (error: unknown) {
      if (error instanceof NotFoundError) return undefined;
      if (!allowsStale(error)) throw error;
      throw new UpstreamUnavailableError(
        `cannot check the dependency ${name} in repository "${this.options.publicRepository}": ${error.message}; nothing was published: publish again once hex.pm can be reached (or once hexproxy has ${name} cached)`,
        { cause: error },
      );
    }
  }

  private requireHosted(repo: string): void {
    if (!this.options.store.hosts(repo)) throw new NotFoundError(`hexproxy hosts no repository ${repo} (config key hosted)`);
  }
}

/** Where a requirement is met, or why it is not. */
type Outcome = { met: true; repository: string } | { met: false; problem: string };

const refusal = (problem: string): Outcome => ({ met: false, problem });

function satisfiesSafely(requirement: Requirement, version: string): boolean {
  try {
    // Pre-releases count: Hex 2's solver picks one when nothing stable matches.
    return matches(requirement, version, { allowPre: true });
  } catch {
    return false;
  }
}

function compareVersionsSafely(a: string, b: string): number {
  try {
    return compareVersions(a, b);
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}
