// `hexproxy token create | revoke | list`: client tokens in auth.tokensFile. The secret is
// printed once, at creation; the file keeps only its SHA-256. A running server sees the
// change on the next request that presents a token.
import { Command } from 'commander';
import { TokenStore } from '../auth/token-store.js';
import { BadRequestError } from '../errors.js';
import { configFrom, withSettings, type CommandOptions } from './options.js';

export function tokenCommand(): Command {
  const token = new Command('token').description('Create, revoke and list client tokens');

  withSettings(token.command('create').description('Create a token and print its secret (shown once)').argument('<name>', 'a name for the token (who or what uses it)'))
    .option('--read <repos>', 'comma-separated repositories it may read: hexpm and/or organizations', 'hexpm')
    .option('--admin', 'it may use the admin API')
    .action((name: string, options: CommandOptions) => {
      const config = configFrom(options);
      const read = String(options['read'] ?? '').split(',').map((repo) => repo.trim()).filter(Boolean);
      if (read.length === 0 && options['admin'] !== true) throw new BadRequestError('--read names no repository and --admin is not given: such a token could do nothing');
      const { secret, token: created } = new TokenStore(config.auth.tokensFile).create(name, read, options['admin'] === true);
      process.stderr.write(`token ${created.name} created in ${config.auth.tokensFile}: reads ${created.read.join(', ') || 'nothing'}${created.admin ? ', admin' : ''}.\n`);
      process.stderr.write('Its secret is printed below and nowhere else; store it now:\n');
      process.stdout.write(`${secret}\n`);
    });

  withSettings(token.command('revoke').description('Revoke a token (a running server stops accepting it at once)').argument('<name>', 'the token name'))
    .action((name: string, options: CommandOptions) => {
      const config = configFrom(options);
      if (!new TokenStore(config.auth.tokensFile).revoke(name)) throw new BadRequestError(`no token named "${name}" in ${config.auth.tokensFile}`);
      process.stdout.write(`token ${name} revoked\n`);
    });

  withSettings(token.command('list').description('List tokens (names and rights, never secrets)'))
    .option('--json', 'as JSON')
    .action((options: CommandOptions) => {
      const config = configFrom(options);
      const tokens = new TokenStore(config.auth.tokensFile).tokens().map(({ name, read, admin, createdAt }) => ({ name, read, admin, createdAt }));
      if (options['json']) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      if (tokens.length === 0) process.stdout.write(`no tokens in ${config.auth.tokensFile}\n`);
      for (const t of tokens) process.stdout.write(`${t.name.padEnd(24)} reads ${t.read.join(', ') || '-'}${t.admin ? '; admin' : ''}; created ${t.createdAt}\n`);
    });

  return token;
}
