// `hexproxy backup DEST`: what a data directory cannot get back from upstream, copied while
// hexproxy runs. The databases are copied with SQLite's online backup, then the hosted
// tarballs and docs their copy names (each written once, under a name used once, so the
// copy and the files agree). Laid out as in the data directory, so a restore is a copy.
// Written to DEST.partial and renamed: a DEST that exists is a whole backup.
import { chmodSync, copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { ConfigError, HexproxyError, StorageError, errorMessage } from '../errors.js';
import { blobKeysIn } from '../hosted/hosted-db.js';
import { PRIVATE_FILE_MODE, makePrivateDirSync } from '../store/private-files.js';
import { backupDatabase } from '../store/sqlite-backup.js';
import { syncDirectory } from '../store/sync-directory.js';

export interface BackupItem {
  /** Relative to the backup directory, as in the data directory. */
  path: string;
  what: string;
  bytes: number;
}

export interface BackupReport {
  dir: string;
  items: BackupItem[];
  /** What was not there to copy (a data directory that never had it). */
  absent: string[];
}

export async function writeBackup(config: Readonly<Config>, dest: string): Promise<BackupReport> {
  if (!existsSync(config.dataDir)) {
    throw new ConfigError(`the data directory ${config.dataDir} does not exist; give hexproxy backup the server's --config or --data-dir`);
  }
  if (existsSync(dest)) throw new ConfigError(`${dest} already exists; give hexproxy backup a directory that does not exist yet`);
  const staging = `${dest}.partial`;
  // Left by a backup that did not finish: never a backup, so it goes.
  rmSync(staging, { recursive: true, force: true });
  try {
    makePrivateDirSync(staging);
  } catch (error: unknown) {
    throw new StorageError(`cannot create ${staging}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return await fill(config, staging, dest);
  } catch (error: unknown) {
    rmSync(staging, { recursive: true, force: true });
    if (error instanceof HexproxyError) throw error;
    throw new StorageError(`cannot write the backup ${dest}: ${errorMessage(error)}`, { cause: error });
  }
}

async function fill(config: Readonly<Config>, staging: string, dest: string): Promise<BackupReport> {
  const report: BackupReport = { dir: dest, items: [], absent: [] };
  const written: string[] = [];
  const add = (path: string, what: string): void => {
    const file = join(staging, path);
    chmodSync(file, PRIVATE_FILE_MODE);
    written.push(file);
    report.items.push({ path, what, bytes: statSync(file).size });
  };
  const copy = (from: string, path: string, what: string): void => {
    if (!existsSync(from)) {
      report.absent.push(`${what} (${from})`);
      return;
    }
    makePrivateDirSync(dirname(join(staging, path)));
    copyFileSync(from, join(staging, path));
    add(path, what);
  };

  const index = join(config.dataDir, 'hexproxy.db');
  if (existsSync(index)) {
    await backupDatabase(index, join(staging, 'hexproxy.db'));
    add('hexproxy.db', 'cache index (rows, pins, hit counts; not the cached files)');
  } else report.absent.push(`cache index (${index})`);

  const hostedDir = join(config.dataDir, 'hosted');
  if (existsSync(join(hostedDir, 'hosted.db'))) {
    const { blobs, bytes } = await copyHosted(hostedDir, join(staging, 'hosted'));
    add(join('hosted', 'hosted.db'), 'hosted repositories: releases and registry files');
    written.push(...blobs);
    report.items.push({ path: 'hosted/blobs/', what: `hosted tarballs and docs (${blobs.length} files)`, bytes });
  }

  copy(config.keys.privateKey, join('keys', 'hexproxy_private.pem'), 'private key');
  copy(config.keys.publicKey, join('keys', 'hexproxy_public.pem'), 'public key');
  copy(config.auth.tokensFile, 'tokens.json', 'tokens');

  // On disk before the name says it is a backup.
  for (const file of written) await syncFile(file);
  for (const dir of directoriesOf(staging, written)) await syncDirectory(dir);
  renameSync(staging, dest);
  await syncDirectory(dirname(dest));
  report.items.sort((a, b) => a.path.localeCompare(b.path));
  return report;
}

/** How many times the hosted database is taken when a file its copy names is gone meanwhile. */
const HOSTED_ATTEMPTS = 3;

/**
 * The hosted database, then every file its copy names. A replace or a revert deletes the
 * file it supersedes once its commit is in: a file the copy names that is gone meanwhile
 * means the database has moved on, so it is taken again. One still missing is missing
 * from the data directory itself.
 */
async function copyHosted(hostedDir: string, target: string): Promise<{ blobs: string[]; bytes: number }> {
  for (let attempt = 1; ; attempt += 1) {
    rmSync(target, { recursive: true, force: true });
    makePrivateDirSync(target);
    await backupDatabase(join(hostedDir, 'hosted.db'), join(target, 'hosted.db'));
    const blobs: string[] = [];
    let bytes = 0;
    let gone: string | undefined;
    for (const key of blobKeysIn(join(target, 'hosted.db'))) {
      const from = join(hostedDir, 'blobs', key);
      const to = join(target, 'blobs', key);
      makePrivateDirSync(dirname(to));
      try {
        copyFileSync(from, to);
      } catch (error: unknown) {
        if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
        gone = from;
        break;
      }
      chmodSync(to, PRIVATE_FILE_MODE);
      blobs.push(to);
      bytes += statSync(to).size;
    }
    if (gone === undefined) return { blobs, bytes };
    if (attempt === HOSTED_ATTEMPTS) {
      throw new StorageError(
        `the hosted file ${gone}, which the hosted database names, is missing (the database was taken ${HOSTED_ATTEMPTS} times); the backup was not written. hexproxy cache verify lists what is damaged`,
      );
    }
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Every directory from `root` down to each file's own. */
function directoriesOf(root: string, files: readonly string[]): Set<string> {
  const dirs = new Set<string>([root]);
  for (const file of files) {
    for (let dir = dirname(file); dir.startsWith(`${root}/`) && !dirs.has(dir); dir = dirname(dir)) dirs.add(dir);
  }
  return dirs;
}
