#!/usr/bin/env node
// The hexproxy command line. Configuration flags come from the settings table (options.ts)
// so the CLI, the environment variables and the config file always agree.
import { Command } from 'commander';
import { HexproxyError, errorMessage } from '../errors.js';
import { backupCommand } from './backup.js';
import { exportCommand, importCommand } from './bundle.js';
import { cacheCommand } from './cache.js';
import { runKeygen } from './keygen.js';
import { mirrorCommand } from './mirror.js';
import { configFrom, withSettings, type CommandOptions } from './options.js';
import { policyCommand } from './policy.js';
import { prewarmCommand } from './prewarm.js';
import { runServe } from './serve.js';
import { tokenCommand } from './token.js';

const program = new Command('hexproxy').description('A verifying, re-signing caching proxy of repo.hex.pm for Mix and rebar3').showHelpAfterError();

program.addCommand(
  withSettings(new Command('serve').description('Serve the proxy (the default command)'), { serve: true }).action(async (options: CommandOptions) => {
    await runServe(configFrom(options), () => configFrom(options));
  }),
  { isDefault: true },
);

program.addCommand(
  withSettings(new Command('keygen').description("Generate hexproxy's RSA signing key pair"))
    .option('--force', 'replace an existing key pair (clients must fetch the new public key)')
    .action((options: CommandOptions) => {
      runKeygen(configFrom(options), options['force'] === true);
    }),
);

program.addCommand(prewarmCommand());
program.addCommand(mirrorCommand());
program.addCommand(exportCommand());
program.addCommand(importCommand());
program.addCommand(cacheCommand());
program.addCommand(tokenCommand());
program.addCommand(policyCommand());
program.addCommand(backupCommand());

try {
  await program.parseAsync(process.argv);
} catch (error: unknown) {
  process.stderr.write(`hexproxy: ${error instanceof HexproxyError ? error.message : errorMessage(error)}\n`);
  process.exitCode = error instanceof HexproxyError && error.code === 'config_invalid' ? 2 : 1;
}
