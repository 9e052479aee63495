// `hexproxy backup DEST`: the databases, the key pair and the tokens of a data directory,
// copied while the server runs (docs/operations.md, "Back up and restore").
import { Command } from 'commander';
import { resolve } from 'node:path';
import { writeBackup } from '../ops/backup.js';
import { formatBytes } from '../util/format-bytes.js';
import { configFrom, withSettings, type CommandOptions } from './options.js';

export function backupCommand(): Command {
  return withSettings(
    new Command('backup')
      .description(
        'Copy the cache index and the hosted repositories (SQLite online backups, with the hosted tarballs and docs), the key pair and the tokens file to DEST, a new directory, while hexproxy runs',
      )
      .argument('<dest>', 'directory to create (it must not exist)'),
  ).action(async (dest: string, options: CommandOptions) => {
    const report = await writeBackup(configFrom(options), resolve(dest));
    const width = Math.max(...report.items.map((item) => item.path.length));
    const lines = [
      `backup written to ${report.dir}`,
      ...report.items.map((item) => `  ${item.path.padEnd(width)}  ${formatBytes(item.bytes).padStart(10)}  ${item.what}`),
      ...report.absent.map((what) => `  not there, not copied: ${what}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
