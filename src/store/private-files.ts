// hexproxy's files are for its own user only: the data directory holds private
// organizations' tarballs, the index that names them, token hashes and the signing key.
// Directories are made 0700 and files 0600 by explicit modes, whatever the umask and
// whichever command (or embedding program) creates them first; only the public key is
// written 0644, for users to copy.
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { errorMessage } from '../errors.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** `mkdir -p`; every directory it creates is 0700. */
export function makePrivateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** `mkdir -p`; every directory it creates is 0700. */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

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
  let mode: number;
  try {
    mode = statSync(dir).mode & 0o777;
  } catch (error: unknown) {
    if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
    makePrivateDirSync(dir);
    return { state: 'created' };
  }
  if ((mode & 0o077) === 0) return { state: 'private' };
  try {
    chmodSync(dir, mode & PRIVATE_DIR_MODE);
  } catch (error: unknown) {
    return { state: 'open', mode, reason: errorMessage(error) };
  }
  return { state: 'tightened', was: mode };
}

export const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;
