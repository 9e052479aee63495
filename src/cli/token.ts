// `hexproxy token create | revoke | list`: client tokens in auth.tokensFile. The secret is
// printed once, at creation; the file keeps only its SHA-256. A running server sees the
// change on the next request that presents a token.
import { Command } from 'commander';
import { TokenStore } from '../auth/token-store.js';
import { BadRequestError, ConfigError } from '../errors.js';
import { configFileEnv } from '../config/settings.js';
import { servedRepositories } from '../config/policy.js';
import { checkDirectoryOf } from '../store/private-files.js';
import type { Config } from '../config/schema.js';
import { configFrom, withSettings, type CommandOptions } from './options.js';

export function tokenCommand(): Command {
  const token = new Command('token').description('Create, revoke and list client tokens');

  withSettings(
    token
      .command('create')
      .description('Create a token and print its secret (shown once)')
      .argument('<name>', 'a name for the token (who or what uses it)'),
  )
    .option(
      '--read <repos>',
      'comma-separated repositories it may read: hexpm, organizations and/or hosted repositories (default: hexpm; none for a --metrics token)',
    )
    .option('--write <repos>', 'comma-separated hosted repositories it may publish to, revert and retire in (and so read)')
    .option('--admin', 'it may use the admin API, on the repositories it may read')
    .option('--metrics', 'it may scrape /metrics (for Prometheus)')
    .action((name: string, options: CommandOptions) => {
      const config = configFrom(options);
      const admin = options['admin'] === true;
      const metrics = options['metrics'] === true;
      // A scrape-only token reads nothing unless asked to.
      const readOption = options['read'] ?? (metrics ? '' : 'hexpm');
      const read = String(readOption)
        .split(',')
        .map((repo) => repo.trim())
        .filter(Boolean);
      const write = listOption(options['write']);
      if (read.length === 0 && write.length === 0 && !admin && !metrics)
        throw new BadRequestError('--read names no repository and neither --write, --admin nor --metrics is given: such a token could do nothing');
      checkWritable(config, write);
      // A misspelt organization would make a token that silently reads nothing of it. With a
      // configuration that names organizations (a config file, or an organization's key in the
      // environment) that is an error; without one, only a warning: tokens are often made with
      // just --data-dir, and the organizations are then the server's to know.
      const served = servedRepositories(config);
      const unknown = read.filter((repo) => !served.includes(repo));
      if (unknown.length > 0) {
        const names = `${unknown.map((repo) => `"${repo}"`).join(', ')} ${unknown.length === 1 ? 'is not a repository' : 'are not repositories'} hexproxy serves (${served.join(', ')})`;
        const knowsOrganizations =
          typeof options['config'] === 'string' ||
          Boolean(process.env[configFileEnv]) ||
          Object.keys(config.organizations).length > 0 ||
          Object.keys(config.hosted).length > 0;
        if (knowsOrganizations) {
          throw new ConfigError(
            `--read: ${names}; an organization must be configured under organizations (or through HEXPROXY_ORG_NAME_AUTH_KEY), a hosted repository under hosted, before a token may read it`,
          );
        }
        process.stderr.write(
          `warning: --read: ${names} with this configuration (no config file given). If the server's config file configures it, pass it with --config to have it checked; if it is a typo, revoke this token (hexproxy token revoke ${name}).\n`,
        );
      }
      checkDirectoryOf(config.auth.tokensFile, config.dataDir, 'auth.tokensFile', '--tokens-file');
      const { secret, token: created } = new TokenStore(config.auth.tokensFile).create(name, read, admin, { metrics, write });
      const rights = [
        `reads ${created.read.join(', ') || 'nothing'}`,
        ...(created.write ? [`writes ${created.write.join(', ')}`] : []),
        ...(created.admin ? ['admin (on the repositories it may read)'] : []),
        ...(created.metrics ? ['metrics'] : []),
      ];
      process.stderr.write(`token ${created.name} created in ${config.auth.tokensFile}: ${rights.join(', ')}.\n`);
      process.stderr.write('Its secret is printed below and nowhere else; store it now:\n');
      process.stdout.write(`${secret}\n`);
    });

  withSettings(
    token.command('revoke').description('Revoke a token (a running server stops accepting it at once)').argument('<name>', 'the token name'),
  ).action((name: string, options: CommandOptions) => {
    const config = configFrom(options);
    if (!new TokenStore(config.auth.tokensFile).revoke(name)) throw new BadRequestError(`no token named "${name}" in ${config.auth.tokensFile}`);
    process.stdout.write(`token ${name} revoked\n`);
  });

  withSettings(token.command('list').description('List tokens (names and rights, never secrets)'))
    .option('--json', 'as JSON')
    .action((options: CommandOptions) => {
      const config = configFrom(options);
      const tokens = new TokenStore(config.auth.tokensFile)
        .tokens()
        .map(({ name, read, write, admin, metrics, createdAt }) => ({ name, read, write: write ?? [], admin, metrics: metrics === true, createdAt }));
      if (options['json']) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      if (tokens.length === 0) process.stdout.write(`no tokens in ${config.auth.tokensFile}\n`);
      for (const t of tokens)
        process.stdout.write(
          `${t.name.padEnd(24)} reads ${t.read.join(', ') || '-'}${t.write.length > 0 ? `; writes ${t.write.join(', ')}` : ''}${t.admin ? '; admin' : ''}${t.metrics ? '; metrics' : ''}; created ${t.createdAt}\n`,
        );
    });

  return token;
}

const listOption = (value: unknown): string[] =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((repo) => repo.trim())
        .filter(Boolean)
    : [];

/**
 * --write names repositories hexproxy hosts: never the public repository nor a hex.pm
 * organization it mirrors, which only hex.pm can publish to.
 */
function checkWritable(config: Config, write: readonly string[]): void {
  for (const repo of write) {
    if (repo === config.upstream.repository)
      throw new BadRequestError(
        `--write ${repo}: ${repo} is hex.pm's public repository, which hexproxy mirrors and cannot publish to; --write names hosted repositories (config key hosted)`,
      );
    if (Object.hasOwn(config.organizations, repo))
      throw new BadRequestError(
        `--write ${repo}: ${repo} is a hex.pm organization hexproxy mirrors (config key organizations), and only hex.pm can publish to it; --write names hosted repositories (config key hosted)`,
      );
    const hosted = hostedNames(config);
    if (hosted !== undefined && !hosted.includes(repo))
      throw new ConfigError(
        `--write ${repo}: no hosted repository ${repo} is configured (hosted: ${hosted.join(', ') || 'none'}); declare it under hosted before a token may write it`,
      );
  }
}

// HOSTED-NAMES HOOK (issue 17): the hosted repositories, servedRepositories(config) without hexpm and the organizations, once config.hosted exists; undefined accepts any other name.
const hostedNames = (_config: Config): readonly string[] | undefined => undefined;
