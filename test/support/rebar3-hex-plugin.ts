// The rebar3_hex plugin (`rebar3 hex build`, `rebar3 hex publish`) for tests: rebar3 would
// fetch it from hex.pm, which cannot be reached where the tests run, so a project gets its
// sources in _checkouts/ from the archive kept in test/tools/ (see its README), and
// Debian's rebar3 builds it offline.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/paths.js';

const run = promisify(execFile);

const ARCHIVE = join(projectRoot, 'test', 'tools', 'rebar3_hex-7.2.0-checkouts.tar.gz');
const SHA256 = '3a9c67e68fc6bfe954223407f2ceeeb7313dda6838a568927174b55a99691a33';

/** Why the plugin cannot be installed here, or undefined when it can. */
export function rebar3HexPluginUnavailable(): string | undefined {
  if (!existsSync(ARCHIVE)) return `no rebar3_hex archive at ${ARCHIVE} (test/tools/README.md)`;
  const digest = createHash('sha256').update(readFileSync(ARCHIVE)).digest('hex');
  if (digest !== SHA256) return `${ARCHIVE} has SHA-256 ${digest}, not rebar3_hex 7.2.0's ${SHA256} (test/tools/README.md)`;
  return undefined;
}

/** Unpacks rebar3_hex, hex_core and verl into `projectDir`/_checkouts; the project's rebar.config must list `{plugins, [rebar3_hex]}`. */
export async function installRebar3HexPlugin(projectDir: string): Promise<void> {
  const checkouts = join(projectDir, '_checkouts');
  mkdirSync(checkouts, { recursive: true });
  await run('tar', ['xzf', ARCHIVE, '-C', checkouts]);
}
