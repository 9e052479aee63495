#!/usr/bin/env node
// The hexproxy command line: `serve` and `keygen`. Flags come from the settings table so
// the CLI, the environment variables and the config file always agree.
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { envName, settings } from '../config/settings.js';
import { HexproxyError, errorMessage } from '../errors.js';
import { runKeygen } from './keygen.js';
import { runServe } from './serve.js';

const program = new Command('hexproxy')
  .description('A verifying, re-signing caching proxy of repo.hex.pm for Mix and rebar3')
  .showHelpAfterError();

function withSettings(command: Command): Command {
  command.option('-c, --config <file>', 'JSON config file (env HEXPROXY_CONFIG)');
  for (const setting of settings) {
    const valueName = setting.kind === 'integer' ? 'n' : setting.kind === 'path' ? 'file' : setting.kind === 'url' ? 'url' : 'value';
    const flags = setting.kind === 'boolean' ? `--${setting.flag}` : `--${setting.flag} <${setting.key === 'dataDir' ? 'dir' : valueName}>`;
    command.addOption(new Option(flags, `${setting.description} (env ${envName(setting)})`));
  }
  return command;
}

function configFrom(options: Record<string, string | boolean | undefined>) {
  // commander camelCases flag names; the loader wants them as typed on the command line.
  const flags: Record<string, string | boolean | undefined> = { config: options['config'] };
  for (const setting of settings) flags[setting.flag] = options[camel(setting.flag)];
  return loadConfig({ flags, env: process.env });
}

withSettings(program.command('serve', { isDefault: true }).description('Serve the proxy (the default command)'))
  .action(async (options: Record<string, string | boolean | undefined>) => {
    await runServe(configFrom(options));
  });

withSettings(program.command('keygen').description("Generate hexproxy's RSA signing key pair"))
  .option('--force', 'replace an existing key pair (clients must fetch the new public key)')
  .action((options: Record<string, string | boolean | undefined>) => {
    runKeygen(configFrom(options), options['force'] === true);
  });

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

try {
  await program.parseAsync(process.argv);
} catch (error: unknown) {
  process.stderr.write(`hexproxy: ${error instanceof HexproxyError ? error.message : errorMessage(error)}\n`);
  process.exitCode = error instanceof HexproxyError && error.code === 'config_invalid' ? 2 : 1;
}
