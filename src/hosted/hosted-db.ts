// The SQLite database of hosted repositories: what was published (packages, releases, who
// depends on whom) and the registry files built from it. Data, not cache: its own file,
// apart from the cache index, never evicted, and every commit on disk before it returns
// (WAL with synchronous = FULL). A publish writes its rows and the registry files they make
// in one transaction, so the two never disagree.
import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { StorageError, errorMessage } from '../errors.js';
import { ensurePrivateFileSync, makePrivateDirSync } from '../store/private-files.js';

/** A release as its row holds it; requirements and metadata as JSON. */
export interface ReleaseRecord {
  repo: string;
  name: string;
  version: string;
  published_at: number;
  updated_at: number;
  publisher: string;
  inner_checksum: Buffer;
  outer_checksum: Buffer;
  size: number;
  tarball_key: string;
  requirements: string;
  metadata: string;
  metadata_config: string;
  retirement_reason: string | null;
  retirement_message: string | null;
  docs_key: string | null;
  docs_sha256: string | null;
  docs_size: number | null;
  docs_published_at: number | null;
}

export interface PackageRecord {
  repo: string;
  name: string;
  created_at: number;
  updated_at: number;
  names_entry: Buffer | null;
  versions_entry: Buffer | null;
}

export interface RegistryFileRecord {
  repo: string;
  path: string;
  /** gzip(Signed{payload, signature}): what clients are served. */
  body: Buffer;
  sha256: string;
  built_at: number;
}

const migrations: readonly string[] = [
  `-- names_entry, versions_entry: the package's entries of /names and /versions, encoded when it last changed.
   CREATE TABLE packages (
     repo TEXT NOT NULL, name TEXT NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     names_entry BLOB, versions_entry BLOB,
     PRIMARY KEY (repo, name)
   ) WITHOUT ROWID;
   CREATE TABLE releases (
     repo TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
     published_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, publisher TEXT NOT NULL,
     inner_checksum BLOB NOT NULL, outer_checksum BLOB NOT NULL, size INTEGER NOT NULL, tarball_key TEXT NOT NULL,
     requirements TEXT NOT NULL, metadata TEXT NOT NULL, metadata_config TEXT NOT NULL,
     retirement_reason TEXT, retirement_message TEXT,
     docs_key TEXT, docs_sha256 TEXT, docs_size INTEGER, docs_published_at INTEGER,
     PRIMARY KEY (repo, name, version)
   );
   -- Requirements on packages of the same repository: what a revert of a package's last release checks.
   CREATE TABLE dependencies (
     repo TEXT NOT NULL, dependency TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
     PRIMARY KEY (repo, dependency, name, version)
   ) WITHOUT ROWID;
   CREATE INDEX dependencies_by_release ON dependencies (repo, name, version);
   CREATE TABLE registry_files (
     repo TEXT NOT NULL, path TEXT NOT NULL, body BLOB NOT NULL, sha256 TEXT NOT NULL, built_at INTEGER NOT NULL,
     PRIMARY KEY (repo, path)
   );`,
];

/** Opens (creating if need be) and migrates the database; failures name the file and the fix. */
export function openHostedDatabase(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    makePrivateDirSync(dirname(file));
    ensurePrivateFileSync(file);
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // Published packages are data: a commit is on disk (the WAL fsynced) before it returns.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    migrate(db, file);
    return db;
  } catch (error: unknown) {
    db?.close();
    if (error instanceof StorageError) throw error;
    throw new StorageError(`cannot open the hosted repositories' database ${file}: ${hintOf(error)}`, { cause: error });
  }
}

function migrate(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new StorageError(
      `the hosted repositories' database ${file} was written by a newer hexproxy (schema ${current}, this one knows ${migrations.length}); upgrade hexproxy`,
    );
  }
  for (let version = current; version < migrations.length; version += 1) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** What to do about a failed database operation, for messages. */
export function hintOf(error: unknown): string {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  return code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'EACCES' || code === 'EROFS'
    ? 'the data directory is not writable by hexproxy; fix its permissions'
    : code === 'SQLITE_FULL' || code === 'ENOSPC'
      ? 'the disk is full; free space or move the data directory'
      : code === 'SQLITE_BUSY'
        ? 'another process held the database for more than 5 s; try again'
        : code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB'
          ? 'the file is damaged; restore it from a backup (it holds published packages, not a cache)'
          : errorMessage(error);
}

// The blob keys the releases name: their tarballs and docs.
const BLOB_KEYS = 'SELECT tarball_key AS key FROM releases UNION SELECT docs_key AS key FROM releases WHERE docs_key IS NOT NULL';

/** The blob keys a hosted database names, read from its file (a backup's copy): the blobs that belong beside it. */
export function blobKeysIn(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[], { key: string }>(BLOB_KEYS)
      .all()
      .map((row) => row.key);
  } finally {
    db.close();
  }
}

/** Every statement the store runs, prepared once. */
export function prepareStatements(db: Database.Database) {
  return {
    findPackage: db.prepare<[string, string], PackageRecord>('SELECT * FROM packages WHERE repo = ? AND name = ?'),
    insertPackage: db.prepare<[string, string, number, number]>('INSERT INTO packages (repo, name, created_at, updated_at) VALUES (?, ?, ?, ?)'),
    touchPackage: db.prepare<[number, string, string]>('UPDATE packages SET updated_at = ? WHERE repo = ? AND name = ?'),
    deletePackage: db.prepare<[string, string]>('DELETE FROM packages WHERE repo = ? AND name = ?'),
    listPackages: db.prepare<[string], PackageRecord>('SELECT * FROM packages WHERE repo = ? ORDER BY name'),
    setEntries: db.prepare<[Buffer, Buffer, string, string]>('UPDATE packages SET names_entry = ?, versions_entry = ? WHERE repo = ? AND name = ?'),
    // In name order (BINARY collation: byte order, as hexpm sorts), which /names and /versions list them in.
    indexEntries: db.prepare<[string], Pick<PackageRecord, 'name' | 'names_entry' | 'versions_entry'>>(
      'SELECT name, names_entry, versions_entry FROM packages WHERE repo = ? ORDER BY name',
    ),
    findRelease: db.prepare<[string, string, string], ReleaseRecord>('SELECT * FROM releases WHERE repo = ? AND name = ? AND version = ?'),
    packageReleases: db.prepare<[string, string], ReleaseRecord>('SELECT * FROM releases WHERE repo = ? AND name = ?'),
    packageVersions: db.prepare<[string, string], { version: string; retired: number }>(
      'SELECT version, retirement_reason IS NOT NULL AS retired FROM releases WHERE repo = ? AND name = ?',
    ),
    // What /versions is made of: every release of a repository, by package.
    repositoryVersions: db.prepare<[string], { name: string; version: string; retired: number }>(
      'SELECT name, version, retirement_reason IS NOT NULL AS retired FROM releases WHERE repo = ? ORDER BY name',
    ),
    countReleases: db.prepare<[string, string], { count: number }>('SELECT count(*) AS count FROM releases WHERE repo = ? AND name = ?'),
    insertRelease: db.prepare(
      `INSERT INTO releases (repo, name, version, published_at, updated_at, publisher, inner_checksum, outer_checksum, size, tarball_key,
         requirements, metadata, metadata_config, retirement_reason, retirement_message, docs_key, docs_sha256, docs_size, docs_published_at)
       VALUES (@repo, @name, @version, @published_at, @updated_at, @publisher, @inner_checksum, @outer_checksum, @size, @tarball_key,
         @requirements, @metadata, @metadata_config, @retirement_reason, @retirement_message, @docs_key, @docs_sha256, @docs_size, @docs_published_at)`,
    ),
    // A replacement keeps the first publication time (the window runs from it), the retirement and the docs, as hexpm does.
    replaceRelease: db.prepare(
      `UPDATE releases SET updated_at = @updated_at, publisher = @publisher, inner_checksum = @inner_checksum, outer_checksum = @outer_checksum,
         size = @size, tarball_key = @tarball_key, requirements = @requirements, metadata = @metadata, metadata_config = @metadata_config
       WHERE repo = @repo AND name = @name AND version = @version`,
    ),
    deleteRelease: db.prepare<[string, string, string]>('DELETE FROM releases WHERE repo = ? AND name = ? AND version = ?'),
    setRetirement: db.prepare<[string | null, string | null, string, string, string]>(
      'UPDATE releases SET retirement_reason = ?, retirement_message = ? WHERE repo = ? AND name = ? AND version = ?',
    ),
    setDocs: db.prepare<[string | null, string | null, number | null, number | null, string, string, string]>(
      'UPDATE releases SET docs_key = ?, docs_sha256 = ?, docs_size = ?, docs_published_at = ? WHERE repo = ? AND name = ? AND version = ?',
    ),
    insertDependency: db.prepare<[string, string, string, string]>(
      'INSERT OR IGNORE INTO dependencies (repo, dependency, name, version) VALUES (?, ?, ?, ?)',
    ),
    deleteDependencies: db.prepare<[string, string, string]>('DELETE FROM dependencies WHERE repo = ? AND name = ? AND version = ?'),
    // Every release of another package that requires `dependency`, with its requirements (a revert checks them).
    dependentReleases: db.prepare<[string, string, string], { name: string; version: string; requirements: string }>(
      `SELECT r.name, r.version, r.requirements FROM dependencies d
       JOIN releases r ON r.repo = d.repo AND r.name = d.name AND r.version = d.version
       WHERE d.repo = ? AND d.dependency = ? AND d.name != ? ORDER BY r.name, r.version`,
    ),
    findRegistryFile: db.prepare<[string, string], RegistryFileRecord>('SELECT * FROM registry_files WHERE repo = ? AND path = ?'),
    saveRegistryFile: db.prepare(
      `INSERT INTO registry_files (repo, path, body, sha256, built_at) VALUES (@repo, @path, @body, @sha256, @built_at)
       ON CONFLICT (repo, path) DO UPDATE SET body = excluded.body, sha256 = excluded.sha256, built_at = excluded.built_at`,
    ),
    deleteRegistryFile: db.prepare<[string, string]>('DELETE FROM registry_files WHERE repo = ? AND path = ?'),
    listRegistryPaths: db.prepare<[], { repo: string; path: string }>('SELECT repo, path FROM registry_files ORDER BY repo, path'),
    allReleases: db.prepare<[], ReleaseRecord>('SELECT * FROM releases ORDER BY repo, name, version'),
    blobKeys: db.prepare<[], { key: string }>(BLOB_KEYS),
    dataVersion: db.prepare<[], { data_version: number }>('PRAGMA data_version'),
  };
}

export type HostedStatements = ReturnType<typeof prepareStatements>;
