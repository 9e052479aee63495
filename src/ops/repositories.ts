// Which repositories an operation works on, by hexproxy's names for them: the public
// repository (upstream.repository, "hexpm") and each configured organization ("acme").
// Lock files and clients name an organization's repository "hexpm:acme"; hexproxy's
// config, tokens, cache and admin API say "acme".
import { BadRequestError } from '../errors.js';

export interface ServedRepositories {
  /** The public repository (config upstream.repository). */
  readonly publicRepository: string;
  /** Every repository served: the public one first, then the organizations in config order. */
  readonly names: readonly string[];
}

export function servedRepositories(repositories: ReadonlyMap<string, unknown>, publicRepository: string): ServedRepositories {
  return { publicRepository, names: [...repositories.keys()] };
}

/**
 * Where rebar3 looks for a package whose repository a rebar.lock does not record: its
 * configured repositories in the order its config lists them, with hexpm appended unless
 * listed (rebar_hex_repos:repos/1), and it takes the first that has the release with the
 * locked checksum. Organizations are listed before hexpm (README, rebar3), so: the
 * organizations in config order, then the public repository.
 */
export function rebarLookupOrder({ publicRepository, names }: ServedRepositories): string[] {
  return [...names.filter((name) => name !== publicRepository), publicRepository];
}

/** A lock's or client's name for a repository ("hexpm", "hexpm:acme") as hexproxy names it ("hexpm", "acme"). */
export function ownName(repository: string, publicRepository: string): string {
  const prefix = `${publicRepository}:`;
  return repository.startsWith(prefix) ? repository.slice(prefix.length) : repository;
}

/** The served repository a lock entry's repository is, or why hexproxy cannot fetch from it. */
export function servedRepositoryOf(lockRepository: string, served: ServedRepositories): { repository: string } | { reason: string } {
  const name = ownName(lockRepository, served.publicRepository);
  if (served.names.includes(name)) return { repository: name };
  if (name !== lockRepository) {
    return {
      reason: `it is in repository "${lockRepository}", and hexproxy serves no organization ${name} (configure organizations.${name}, with its auth key, to fetch it)`,
    };
  }
  return { reason: `it is in repository "${lockRepository}", which hexproxy does not serve (it serves ${served.names.join(', ')})` };
}

/**
 * The repositories `--repo` names (repeatable, each a name or a comma-separated list;
 * "hexpm:acme" for "acme"), in the order given, each once; undefined when not given.
 * A repository hexproxy does not serve is an error naming the config key that would add it.
 */
export function parseRepoOption(values: readonly string[] | undefined, served: ServedRepositories): string[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const chosen: string[] = [];
  for (const value of values.flatMap((item) => item.split(','))) {
    const given = value.trim();
    if (given === '')
      throw new BadRequestError(
        `--repo ${JSON.stringify(values.join(','))}: an empty repository name; give names such as --repo acme or --repo acme,hexpm`,
      );
    const name = ownName(given, served.publicRepository);
    if (!served.names.includes(name)) {
      const hint = /^[a-z0-9_]+$/.test(name) ? `; configure it as organizations.${name} (with its auth key) to serve it` : '';
      throw new BadRequestError(`--repo ${given}: hexproxy serves no repository ${name} (it serves ${served.names.join(', ')})${hint}`);
    }
    if (!chosen.includes(name)) chosen.push(name);
  }
  return chosen;
}

/** How an operation's messages name a release: plain in the public repository, "acme/NAME VERSION" in an organization. */
export function releaseLabel(repository: string, name: string, version: string, publicRepository: string): string {
  return `${repository === publicRepository ? '' : `${repository}/`}${name} ${version}`;
}
