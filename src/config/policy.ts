// The policy section of a configuration, compiled as the server and the CLI use it.
import { ConfigError, errorMessage } from '../errors.js';
import { compilePolicy, type Policy } from '../policy/rules.js';
import type { Config } from './schema.js';

/** The repositories hexproxy serves: the public one, then the configured organizations, then the hosted repositories. */
export const servedRepositories = (config: Readonly<Config>): string[] => [
  config.upstream.repository,
  ...Object.keys(config.organizations),
  ...Object.keys(config.hosted),
];

/**
 * The schema has checked every entry; a repository name is checked here, against what is
 * served, since a misspelt one would silently apply nothing.
 */
export function configuredPolicy(config: Readonly<Config>): Policy {
  const served = servedRepositories(config);
  const unknown = (config.policy.repositories ?? []).filter((name) => !served.includes(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `config key policy.repositories: ${unknown.map((name) => `"${name}"`).join(', ')} is not a repository hexproxy serves (${served.join(', ')}); organizations must be configured under organizations, hosted repositories under hosted`,
    );
  }
  checkMergedCovered(config);
  try {
    return compilePolicy(config.policy, config.upstream.repository);
  } catch (error: unknown) {
    throw new ConfigError(`config key policy: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * A hosted repository merged into the root view (hosted.NAME.merge) is served there too, and
 * the policy filters the root view only when it names the public repository: a policy naming
 * the merged repository alone would leave its packages unfiltered there.
 */
function checkMergedCovered(config: Readonly<Config>): void {
  const named = config.policy.repositories;
  const root = config.upstream.repository;
  if (named === undefined || named.includes(root)) return;
  const merged = named.filter((name) => Object.hasOwn(config.hosted, name) && config.hosted[name]?.merge === true);
  const [first] = merged;
  if (first === undefined) return;
  throw new ConfigError(
    `config key policy.repositories: ${merged.map((name) => `"${name}"`).join(', ')} ${merged.length === 1 ? 'is' : 'are'} merged into the root view (hosted.${first}.merge), which the policy filters only when policy.repositories names "${root}"; add "${root}" to policy.repositories, or set hosted.${first}.merge to false`,
  );
}
