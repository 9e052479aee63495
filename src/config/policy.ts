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
  try {
    return compilePolicy(config.policy, config.upstream.repository);
  } catch (error: unknown) {
    throw new ConfigError(`config key policy: ${errorMessage(error)}`, { cause: error });
  }
}
