// hexproxy's files are for its own user only: the data directory holds private
// organizations' tarballs, the index that names them, token hashes and the signing key.
// Directories are made 0700 and files 0600 by explicit modes, whatever the umask and
// whichever command (or embedding program) creates them first; only the public key is
// written 0644, for users to copy.
import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, statSync, statfsSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** `mkdir -p`; every directory it creates is 0700. */
export function makePrivateDirSync(dir: string): void {
  makeDirSync(dir, PRIVATE_DIR_MODE);
}

/**
 * `mkdir -p` with `mode` for each directory it creates, one level at a time. Not Node's
 * recursive mkdir: where a filesystem answers ENOENT to every mkdir (/proc), that one
 * loops for ever; here the second ENOENT for the same directory is the error.
 */
export function makeDirSync(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { mode });
    return;
  } catch (error: unknown) {
    if (codeOf(error) === 'EEXIST') return;
    if (codeOf(error) !== 'ENOENT' || dirname(dir) === dir) throw error;
  }
  makeDirSync(dirname(dir), mode);
  try {
    mkdirSync(dir, { mode });
  } catch (error: unknown) {
    if (codeOf(error) !== 'EEXIST') throw error;
  }
}

/** `mkdir -p`; every directory it creates is 0700 (as makeDirSync, without blocking). */
export async function makePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    return;
  } catch (error: unknown) {
    if (codeOf(error) === 'EEXIST') return;
    if (codeOf(error) !== 'ENOENT' || dirname(dir) === dir) throw error;
  }
  await makePrivateDir(dirname(dir));
  try {
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
  } catch (error: unknown) {
    if (codeOf(error) !== 'EEXIST') throw error;
  }
}

// Linux kernel filesystems (statfs f_type, from linux/magic.h) that hold no files of
// anyone's: a data directory there cannot work, and mkdir in /proc answers ENOENT.
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x1cd1, 'devpts'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x62656570, 'configfs'],
]);

/**
 * Checks, writing nothing, that `dir` is a directory this process may use, or one it may
 * create: the data directory before any command writes to it. `what` names it in
 * messages ("data directory"); `flag` is the option that sets it.
 */
export function checkUsableDirectory(dir: string, what = 'data directory', flag = '--data-dir'): void {
  const user = userName();
  const existing = statOrMissing(dir, what);
  if (existing) {
    if (!existing.isDirectory())
      throw new ConfigError(
        `${what} ${dir} is not a directory (it is ${kindOf(existing)}); give ${flag} a directory, or a path where one can be created`,
      );
    refuseKernelFilesystem(dir, `${what} ${dir} cannot be used`, flag);
    try {
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (error: unknown) {
      const remedy =
        codeOf(error) === 'EROFS'
          ? `it is on a read-only file system; remount it read-write, or give ${flag} another directory`
          : `hand it over (chown -R ${user.chown} ${dir}, as its owner or root), or give ${flag} another directory`;
      throw new ConfigError(`${what} ${dir} is not writable by ${user.said} (${codeOf(error) ?? errorMessage(error)}); ${remedy}`, { cause: error });
    }
    return;
  }
  // The nearest directory above that exists: where the missing ones would be created.
  let parent = dirname(dir);
  let found = statOrMissing(parent, what);
  while (!found && dirname(parent) !== parent) {
    parent = dirname(parent);
    found = statOrMissing(parent, what);
  }
  const cannot = `${what} ${dir} cannot be created`;
  if (!found) throw new ConfigError(`${cannot}: no directory above it exists`);
  if (!found.isDirectory()) throw new ConfigError(`${cannot}: ${parent} is ${kindOf(found)}, not a directory; give ${flag} another path`);
  refuseKernelFilesystem(parent, cannot, flag);
  try {
    accessSync(parent, constants.W_OK | constants.X_OK);
  } catch (error: unknown) {
    throw new ConfigError(
      `${cannot}: ${user.said} may not write to ${parent} (${codeOf(error) ?? errorMessage(error)}); create it as a user who may and hand it over (mkdir -p -m 700 ${dir} && chown ${user.chown} ${dir}), or give ${flag} a directory this user may write to`,
      { cause: error },
    );
  }
}

/**
 * checkUsableDirectory for the directory `file` goes in: the data directory when the file
 * is below it (the defaults), else the file's own directory, named by the file's flag.
 */
export function checkDirectoryOf(file: string, dataDir: string, what: string, flag: string): void {
  const inDataDir = relative(resolve(dataDir), resolve(file));
  if (inDataDir !== '' && !inDataDir.startsWith('..') && !isAbsolute(inDataDir)) checkUsableDirectory(dataDir);
  else checkUsableDirectory(dirname(resolve(file)), `directory of ${what}`, flag);
}

function refuseKernelFilesystem(existing: string, prefix: string, flag: string): void {
  let type: number;
  try {
    type = Number(statfsSync(existing).type);
  } catch {
    return;
  }
  const name = KERNEL_FILESYSTEMS.get(type);
  if (name !== undefined)
    throw new ConfigError(`${prefix}: ${existing} is on a ${name} filesystem, which holds no files; give ${flag} a directory on a disk`);
}

function statOrMissing(path: string, what: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error: unknown) {
    const code = codeOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(`cannot reach ${what} ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

function kindOf(stats: Stats): string {
  return stats.isFile()
    ? 'a file'
    : stats.isCharacterDevice()
      ? 'a character device'
      : stats.isBlockDevice()
        ? 'a block device'
        : stats.isFIFO()
          ? 'a named pipe'
          : stats.isSocket()
            ? 'a socket'
            : 'something other than a directory';
}

/** The user hexproxy runs as, for messages: "user hexproxy (uid 999)". */
function userName(): { said: string; chown: string } {
  const uid = process.getuid?.();
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry for the uid (a container's): the number does.
  }
  if (uid === undefined) return { said: 'this user', chown: name ?? 'USER' };
  return name ? { said: `user ${name} (uid ${uid})`, chown: name } : { said: `user ${uid}`, chown: String(uid) };
}

const codeOf = (error: unknown): string | undefined =>
  error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;

/**
 * Creates `file` empty with mode 0600 unless it exists. For the SQLite index: SQLite
 * creates a database 0644, and its -wal and -shm files with the database's mode.
 */
export function ensurePrivateFileSync(file: string): void {
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
}

export type DataDirectoryState =
  | { state: 'created' | 'private' }
  /** Group or others could enter it: now 0700. */
  | { state: 'tightened'; was: number }
  /** Group or others can enter it, and hexproxy could not change that (not its owner). */
  | { state: 'open'; mode: number; reason: string };

/**
 * The data directory: made 0700 if missing. One that group or others may enter (made by
 * an older hexproxy, or by hand) is tightened to 0700: that one change keeps other users
 * from every file below it, including files older versions wrote 0644.
 */
export function securePrivateDirectory(dir: string): DataDirectoryState {
  let stats: Stats;
  try {
    stats = statSync(dir);
  } catch (error: unknown) {
    if (codeOf(error) !== 'ENOENT') throw error;
    makePrivateDirSync(dir);
    return { state: 'created' };
  }
  // Never chmod what is not a directory (a mistyped --data-dir /dev/null); checkUsableDirectory says why first.
  if (!stats.isDirectory()) throw new ConfigError(`data directory ${dir} is not a directory (it is ${kindOf(stats)})`);
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) === 0) return { state: 'private' };
  try {
    chmodSync(dir, mode & PRIVATE_DIR_MODE);
  } catch (error: unknown) {
    return { state: 'open', mode, reason: errorMessage(error) };
  }
  return { state: 'tightened', was: mode };
}

export const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;
