// An online copy of a SQLite database: SQLite's backup API copies a consistent snapshot
// while other connections (a running server, a CLI command) go on reading and writing.
import Database from 'better-sqlite3';
import { StorageError, errorMessage } from '../errors.js';
import { ensurePrivateFileSync } from './private-files.js';

/**
 * Copies `source` to `target` (which must not hold a database), 0600. The copy is put in
 * rollback-journal mode so it is one self-contained file; hexproxy puts a database back in
 * WAL mode when it opens it.
 */
export async function backupDatabase(source: string, target: string): Promise<void> {
  try {
    ensurePrivateFileSync(target);
    const db = new Database(source, { readonly: true, fileMustExist: true });
    try {
      await db.backup(target);
    } finally {
      db.close();
    }
    const copy = new Database(target);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
  } catch (error: unknown) {
    throw new StorageError(`cannot copy the database ${source} to ${target}: ${errorMessage(error)}`, { cause: error });
  }
}
