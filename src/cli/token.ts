// `hexproxy token create | revoke | list`: client tokens in auth.tokensFile. The secret is
// printed once, at creation; the file keeps only its SHA-256. A running server sees the
// change on the next request that presents a token.
import { Command } from 'commander';
import { TokenStore } from '../auth/token-store.js';
import { BadRequestError, ConfigError } from '../errors.js';
import { configFileEnv } from '../config/settings.js';
import { servedRepositories } from '../config/policy.js';
import { checkDirectoryOf } from '../store/private-files.js';
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
      if (read.length === 0 && !admin && !metrics)
        throw new BadRequestError('--read names no repository and neither --admin nor --metrics is given: such a token could do nothing');
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
      const { secret, token: created } = new TokenStore(config.auth.tokensFile).create(name, read, admin, { metrics });
      const rights = [
        `reads ${created.read.join(', ') || 'nothing'}`,
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
        .map(({ name, read, admin, metrics, createdAt }) => ({ name, read, admin, metrics: metrics === true, createdAt }));
      if (options['json']) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      if (tokens.length === 0) process.stdout.write(`no tokens in ${config.auth.tokensFile}\n`);
      for (const t of tokens)
        process.stdout.write(
          `${t.name.padEnd(24)} reads ${t.read.join(', ') || '-'}${t.admin ? '; admin' : ''}${t.metrics ? '; metrics' : ''}; created ${t.createdAt}\n`,
        );
    });

  return token;
}
