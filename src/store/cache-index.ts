// The SQLite index of what is cached: tarballs, verified registry files and pass-through
// files. WAL so readers in other processes (a CLI beside the server) never block; every
// statement prepared once; schema versioned with user_version.
import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { StorageError, errorMessage } from '../errors.js';
import { ensurePrivateFileSync, makePrivateDirSync } from './private-files.js';

export interface TarballRow {
  repo: string;
  name: string;
  version: string;
  size: number;
  /** Hex SHA-256 of the whole tarball (the outer checksum). */
  sha256: string;
  fetchedAt: number;
  lastUsedAt: number;
  hits: number;
  /** Pinned by prewarm --pin, mirror --pin or import: never evicted automatically. */
  pinned: boolean;
}

export interface RegistryRow {
  repo: string;
  /** "names", "versions" or "packages/NAME". */
  path: string;
  upstreamEtag: string | null;
  /** Hex SHA-256 of the upstream (original, signed) body as stored. */
  sha256: string;
  size: number;
  fetchedAt: number;
  /** Last time upstream confirmed (200 or 304) this content; 0 for imported files, which are revalidated online at first use. */
  checkedAt: number;
  /**
   * Upstream's word as of: the latest time (ms) anyone trusted had upstream's word for
   * these bytes. This hexproxy's own fetch or revalidation, or the time a trusted bundle
   * attested. 0 when unknown (a gap filled from an untrusted bundle). Bundle imports
   * compare it to decide which copy is newer (docs/bundle-format.md).
   */
  upstreamAsOf: number;
}

/**
 * The passthrough_files table's content_type column is no longer written or read: hexproxy
 * decides the type of what it serves (src/http/headers.ts), whatever upstream sent. Rows
 * from older versions keep theirs, unused; dropping the column would need a migration.
 */
export interface PassthroughRow {
  path: string;
  upstreamEtag: string | null;
  sha256: string;
  size: number;
  fetchedAt: number;
  checkedAt: number;
  /** As RegistryRow.upstreamAsOf, for the /installs build lists and their .signed files; builds and docs never use it. */
  upstreamAsOf: number;
}

/** One cached package (its tarballs grouped by repository and name), for the web UI. */
export interface CachedPackageRow {
  repo: string;
  name: string;
  /** Cached releases (tarballs). */
  releases: number;
  bytes: number;
  hits: number;
  lastUsedAt: number;
}

export type CachedPackageSort = 'name' | 'hits' | 'size' | 'recent';

export interface CachedPackageQuery {
  /** Only these repositories (those the viewer may read). */
  repos: readonly string[];
  /** A substring of the name (matched literally: % and _ are not wildcards). */
  search?: string;
  sort?: CachedPackageSort;
  limit: number;
  offset?: number;
}

const migrations: readonly string[] = [
  `CREATE TABLE tarballs (
     repo TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
     size INTEGER NOT NULL, sha256 TEXT NOT NULL,
     fetched_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (repo, name, version)
   ) WITHOUT ROWID;
   CREATE TABLE registry_files (
     repo TEXT NOT NULL, path TEXT NOT NULL, upstream_etag TEXT,
     sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     fetched_at INTEGER NOT NULL, checked_at INTEGER NOT NULL,
     PRIMARY KEY (repo, path)
   ) WITHOUT ROWID;
   CREATE TABLE passthrough_files (
     path TEXT PRIMARY KEY, upstream_etag TEXT, content_type TEXT,
     sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     fetched_at INTEGER NOT NULL, checked_at INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  `ALTER TABLE tarballs ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX tarballs_by_last_use ON tarballs (pinned, last_used_at);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`,
  // Upstream's word as of (RegistryRow.upstreamAsOf). A row fetched online had it when it
  // was last checked; an imported row (checked_at 0) has no known time.
  `ALTER TABLE registry_files ADD COLUMN upstream_as_of INTEGER NOT NULL DEFAULT 0;
   UPDATE registry_files SET upstream_as_of = checked_at;
   ALTER TABLE passthrough_files ADD COLUMN upstream_as_of INTEGER NOT NULL DEFAULT 0;
   UPDATE passthrough_files SET upstream_as_of = checked_at;`,
];

/** A package's cached tarballs summed: what stats list as top packages. */
export interface PackageFigures {
  repo: string;
  name: string;
  hits: number;
  bytes: number;
  releases: number;
}

const IN_REPOS = 'repo IN (SELECT value FROM json_each(?))';

// cachedPackages(): repositories as a JSON array, the name as a LIKE pattern escaped with "\\".
const CACHED_PACKAGE_FILTER = "repo IN (SELECT value FROM json_each(?)) AND name LIKE ? ESCAPE '\\'";
const CACHED_PACKAGE_ORDER: Record<CachedPackageSort, string> = {
  name: 'name, repo',
  hits: 'hits DESC, name, repo',
  size: 'bytes DESC, name, repo',
  recent: 'lastUsedAt DESC, name, repo',
};

interface TarballRecord {
  repo: string;
  name: string;
  version: string;
  size: number;
  sha256: string;
  fetched_at: number;
  last_used_at: number;
  hits: number;
  pinned: number;
}
interface RegistryRecord {
  repo: string;
  path: string;
  upstream_etag: string | null;
  sha256: string;
  size: number;
  fetched_at: number;
  checked_at: number;
  upstream_as_of: number;
}
/** A pass-through file's row: a registry row's columns, without the repository (its path holds the prefix). */
type PassthroughRecord = Omit<RegistryRecord, 'repo'>;

export class CacheIndex {
  private readonly db: Database.Database;
  private readonly statements;
  private lastDataVersion: number | undefined;
  private generation = 0;
  private generationCheckedAt = 0;
  private readonly cachedPackageStatements = new Map<CachedPackageSort, Database.Statement<[string, string, number, number], CachedPackageRow>>();

  constructor(file: string) {
    this.db = openDatabase(file);
    const db = this.db;
    this.statements = {
      findTarball: db.prepare<[string, string, string], TarballRecord>('SELECT * FROM tarballs WHERE repo = ? AND name = ? AND version = ?'),
      // A pin, once set, survives a refetch; only setPinned clears it.
      saveTarball: db.prepare(
        'INSERT INTO tarballs (repo, name, version, size, sha256, fetched_at, last_used_at, hits, pinned) VALUES (@repo, @name, @version, @size, @sha256, @fetchedAt, @lastUsedAt, @hits, @pinned) ON CONFLICT (repo, name, version) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, fetched_at = excluded.fetched_at, pinned = max(pinned, excluded.pinned)',
      ),
      setPinned: db.prepare('UPDATE tarballs SET pinned = ? WHERE repo = ? AND name = ? AND version = ?'),
      listEvictable: db.prepare<[number], TarballRecord>('SELECT * FROM tarballs WHERE pinned = 0 ORDER BY last_used_at LIMIT ?'),
      removeTarball: db.prepare('DELETE FROM tarballs WHERE repo = ? AND name = ? AND version = ?'),
      listTarballs: db.prepare<[], TarballRecord>('SELECT * FROM tarballs ORDER BY repo, name, version'),
      tarballPage: db.prepare<[string, string, string, number], TarballRecord>(
        'SELECT * FROM tarballs WHERE (repo, name, version) > (?, ?, ?) ORDER BY repo, name, version LIMIT ?',
      ),
      addHits: db.prepare('UPDATE tarballs SET hits = hits + ?, last_used_at = max(last_used_at, ?) WHERE repo = ? AND name = ? AND version = ?'),
      tarballTotals: db.prepare<[], { count: number; bytes: number | null; pinned: number | null }>(
        'SELECT count(*) AS count, sum(size) AS bytes, sum(pinned) AS pinned FROM tarballs',
      ),
      topPackages: db.prepare<[number], PackageFigures>(
        'SELECT repo, name, sum(hits) AS hits, sum(size) AS bytes, count(*) AS releases FROM tarballs GROUP BY repo, name ORDER BY hits DESC, bytes DESC LIMIT ?',
      ),
      // The same figures over some repositories (a JSON array): what a token that may read only those is shown.
      topPackagesIn: db.prepare<[string, number], PackageFigures>(
        `SELECT repo, name, sum(hits) AS hits, sum(size) AS bytes, count(*) AS releases FROM tarballs WHERE ${IN_REPOS} GROUP BY repo, name ORDER BY hits DESC, bytes DESC LIMIT ?`,
      ),
      tarballTotalsIn: db.prepare<[string], { count: number; bytes: number | null; pinned: number | null }>(
        `SELECT count(*) AS count, sum(size) AS bytes, sum(pinned) AS pinned FROM tarballs WHERE ${IN_REPOS}`,
      ),
      registryTotalsIn: db.prepare<[string], { count: number; bytes: number | null }>(
        `SELECT count(*) AS count, sum(size) AS bytes FROM registry_files WHERE ${IN_REPOS}`,
      ),
      // Pass-through files of an organization are under repos/ORG/ (src/cache/layout.ts); the rest (docs, installs) are the public repository's.
      passthroughTotalsIn: db.prepare<[string, string], { count: number; bytes: number | null }>(
        "SELECT count(*) AS count, sum(size) AS bytes FROM passthrough_files WHERE (CASE WHEN path LIKE 'repos/%' THEN substr(path, 7, instr(substr(path, 7), '/') - 1) ELSE ? END) IN (SELECT value FROM json_each(?))",
      ),
      listPackageTarballs: db.prepare<[string, string], TarballRecord>('SELECT * FROM tarballs WHERE repo = ? AND name = ? ORDER BY version'),
      addCounter: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value'),
      listCounters: db.prepare<[], { name: string; value: number }>('SELECT name, value FROM counters'),
      registryTotals: db.prepare<[], { count: number; bytes: number | null }>('SELECT count(*) AS count, sum(size) AS bytes FROM registry_files'),
      passthroughTotals: db.prepare<[], { count: number; bytes: number | null }>(
        'SELECT count(*) AS count, sum(size) AS bytes FROM passthrough_files',
      ),
      findRegistry: db.prepare<[string, string], RegistryRecord>('SELECT * FROM registry_files WHERE repo = ? AND path = ?'),
      saveRegistry: db.prepare(
        'INSERT INTO registry_files (repo, path, upstream_etag, sha256, size, fetched_at, checked_at, upstream_as_of) VALUES (@repo, @path, @upstreamEtag, @sha256, @size, @fetchedAt, @checkedAt, @upstreamAsOf) ON CONFLICT (repo, path) DO UPDATE SET upstream_etag = excluded.upstream_etag, sha256 = excluded.sha256, size = excluded.size, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at, upstream_as_of = excluded.upstream_as_of',
      ),
      // A 304: upstream's word now, unless a trusted bundle attested a later time (a clock ahead of this one).
      touchRegistry: db.prepare(
        'UPDATE registry_files SET checked_at = @at, upstream_as_of = max(upstream_as_of, @at) WHERE repo = @repo AND path = @path',
      ),
      raiseRegistryAsOf: db.prepare('UPDATE registry_files SET upstream_as_of = max(upstream_as_of, ?) WHERE repo = ? AND path = ? AND sha256 = ?'),
      removeRegistry: db.prepare('DELETE FROM registry_files WHERE repo = ? AND path = ?'),
      listRegistry: db.prepare<[], RegistryRecord>('SELECT * FROM registry_files ORDER BY repo, path'),
      findPassthrough: db.prepare<[string], PassthroughRecord>('SELECT * FROM passthrough_files WHERE path = ?'),
      savePassthrough: db.prepare(
        'INSERT INTO passthrough_files (path, upstream_etag, content_type, sha256, size, fetched_at, checked_at, upstream_as_of) VALUES (@path, @upstreamEtag, NULL, @sha256, @size, @fetchedAt, @checkedAt, @upstreamAsOf) ON CONFLICT (path) DO UPDATE SET upstream_etag = excluded.upstream_etag, content_type = NULL, sha256 = excluded.sha256, size = excluded.size, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at, upstream_as_of = excluded.upstream_as_of',
      ),
      touchPassthrough: db.prepare('UPDATE passthrough_files SET checked_at = @at, upstream_as_of = max(upstream_as_of, @at) WHERE path = @path'),
      raisePassthroughAsOf: db.prepare('UPDATE passthrough_files SET upstream_as_of = max(upstream_as_of, ?) WHERE path = ? AND sha256 = ?'),
      removePassthrough: db.prepare('DELETE FROM passthrough_files WHERE path = ?'),
      listPassthrough: db.prepare<[], PassthroughRecord>('SELECT * FROM passthrough_files ORDER BY path'),
      dataVersion: db.prepare<[], { data_version: number }>('PRAGMA data_version'),
      cachedPackageTotals: db.prepare<[string, string], { packages: number; releases: number; bytes: number | null }>(
        `SELECT count(DISTINCT repo || '/' || name) AS packages, count(*) AS releases, sum(size) AS bytes FROM tarballs WHERE ${CACHED_PACKAGE_FILTER}`,
      ),
    };
  }

  findTarball(repo: string, name: string, version: string): TarballRow | undefined {
    const record = this.statements.findTarball.get(repo, name, version);
    return record && toTarballRow(record);
  }

  saveTarball(row: TarballRow): void {
    write(() => this.statements.saveTarball.run({ ...row, pinned: row.pinned ? 1 : 0 }));
  }

  setPinned(repo: string, name: string, version: string, pinned: boolean): void {
    write(() => this.statements.setPinned.run(pinned ? 1 : 0, repo, name, version));
  }

  /** Unpinned tarballs, least recently used first. */
  listEvictable(limit: number): TarballRow[] {
    return this.statements.listEvictable.all(limit).map(toTarballRow);
  }

  removeTarball(repo: string, name: string, version: string): void {
    write(() => this.statements.removeTarball.run(repo, name, version));
  }

  listTarballs(): TarballRow[] {
    return this.statements.listTarballs.all().map(toTarballRow);
  }

  /** Up to `limit` rows after `after` in (repo, name, version) order: for walking a large index in steps. */
  tarballPage(after: Pick<TarballRow, 'repo' | 'name' | 'version'> | undefined, limit: number): TarballRow[] {
    return this.statements.tarballPage.all(after?.repo ?? '', after?.name ?? '', after?.version ?? '', limit).map(toTarballRow);
  }

  tarballTotals(): { count: number; bytes: number; pinned: number } {
    const totals = this.statements.tarballTotals.get();
    return { count: totals?.count ?? 0, bytes: totals?.bytes ?? 0, pinned: totals?.pinned ?? 0 };
  }

  registryTotals(): { count: number; bytes: number } {
    const totals = this.statements.registryTotals.get();
    return { count: totals?.count ?? 0, bytes: totals?.bytes ?? 0 };
  }

  passthroughTotals(): { count: number; bytes: number } {
    const totals = this.statements.passthroughTotals.get();
    return { count: totals?.count ?? 0, bytes: totals?.bytes ?? 0 };
  }

  /** Packages by tarball hits, then bytes; of `repos` only, if given. */
  topPackages(limit: number, repos?: readonly string[]): PackageFigures[] {
    return repos === undefined ? this.statements.topPackages.all(limit) : this.statements.topPackagesIn.all(JSON.stringify(repos), limit);
  }

  /** tarballTotals, registryTotals and passthroughTotals over some repositories only. */
  totalsIn(
    repos: readonly string[],
    publicRepository: string,
  ): {
    tarballs: { count: number; bytes: number; pinned: number };
    registryFiles: { count: number; bytes: number };
    passthroughFiles: { count: number; bytes: number };
  } {
    const list = JSON.stringify(repos);
    const tarballs = this.statements.tarballTotalsIn.get(list);
    const registry = this.statements.registryTotalsIn.get(list);
    const passthrough = this.statements.passthroughTotalsIn.get(publicRepository, list);
    return {
      tarballs: { count: tarballs?.count ?? 0, bytes: tarballs?.bytes ?? 0, pinned: tarballs?.pinned ?? 0 },
      registryFiles: { count: registry?.count ?? 0, bytes: registry?.bytes ?? 0 },
      passthroughFiles: { count: passthrough?.count ?? 0, bytes: passthrough?.bytes ?? 0 },
    };
  }

  listPackageTarballs(repo: string, name: string): TarballRow[] {
    return this.statements.listPackageTarballs.all(repo, name).map(toTarballRow);
  }

  /** Applies usage gathered in memory (per-tarball hits and named counters) in one transaction. */
  saveUsage(
    hits: Iterable<{ repo: string; name: string; version: string; hits: number; lastUsedAt: number }>,
    counters: Iterable<[string, number]>,
  ): void {
    write(() =>
      this.db.transaction(() => {
        for (const hit of hits) this.statements.addHits.run(hit.hits, hit.lastUsedAt, hit.repo, hit.name, hit.version);
        for (const [name, value] of counters) this.statements.addCounter.run(name, value);
      })(),
    );
  }

  counters(): Record<string, number> {
    return Object.fromEntries(this.statements.listCounters.all().map((row) => [row.name, row.value]));
  }

  findRegistryFile(repo: string, path: string): RegistryRow | undefined {
    const record = this.statements.findRegistry.get(repo, path);
    return record && toRegistryRow(record);
  }

  saveRegistryFile(row: RegistryRow): void {
    write(() => this.statements.saveRegistry.run(row));
  }

  /** Upstream confirmed the cached copy (304) at `checkedAt`, which is also upstream's word as of then. */
  touchRegistryFile(repo: string, path: string, checkedAt: number): void {
    write(() => this.statements.touchRegistry.run({ at: checkedAt, repo, path }));
  }

  /** A trusted bundle attested the same bytes (`sha256`) as of `asOf`: raises the row's upstreamAsOf to it if later. */
  raiseRegistryAsOf(repo: string, path: string, sha256: string, asOf: number): void {
    write(() => this.statements.raiseRegistryAsOf.run(asOf, repo, path, sha256));
  }

  removeRegistryFile(repo: string, path: string): void {
    write(() => this.statements.removeRegistry.run(repo, path));
  }

  listRegistryFiles(): RegistryRow[] {
    return this.statements.listRegistry.all().map(toRegistryRow);
  }

  findPassthroughFile(path: string): PassthroughRow | undefined {
    const record = this.statements.findPassthrough.get(path);
    return record && toPassthroughRow(record);
  }

  savePassthroughFile(row: PassthroughRow): void {
    write(() => this.statements.savePassthrough.run(row));
  }

  touchPassthroughFile(path: string, checkedAt: number): void {
    write(() => this.statements.touchPassthrough.run({ at: checkedAt, path }));
  }

  /** As raiseRegistryAsOf, for an installs list or its .signed file. */
  raisePassthroughAsOf(path: string, sha256: string, asOf: number): void {
    write(() => this.statements.raisePassthroughAsOf.run(asOf, path, sha256));
  }

  removePassthroughFile(path: string): void {
    write(() => this.statements.removePassthrough.run(path));
  }

  listPassthroughFiles(): PassthroughRow[] {
    return this.statements.listPassthrough.all().map(toPassthroughRow);
  }

  /**
   * Cached packages of some repositories, optionally those whose name contains `search`:
   * a page of them and the totals over all that match (for the web UI). Read-only.
   */
  cachedPackages(query: CachedPackageQuery): { total: { packages: number; releases: number; bytes: number }; packages: CachedPackageRow[] } {
    const repos = JSON.stringify(query.repos);
    const like = `%${(query.search ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const sort = query.sort ?? 'name';
    let statement = this.cachedPackageStatements.get(sort);
    if (!statement) {
      statement = this.db.prepare<[string, string, number, number], CachedPackageRow>(
        `SELECT repo, name, count(*) AS releases, sum(size) AS bytes, sum(hits) AS hits, max(last_used_at) AS lastUsedAt
         FROM tarballs WHERE ${CACHED_PACKAGE_FILTER} GROUP BY repo, name ORDER BY ${CACHED_PACKAGE_ORDER[sort]} LIMIT ? OFFSET ?`,
      );
      this.cachedPackageStatements.set(sort, statement);
    }
    const totals = this.statements.cachedPackageTotals.get(repos, like);
    return {
      total: { packages: totals?.packages ?? 0, releases: totals?.releases ?? 0, bytes: totals?.bytes ?? 0 },
      packages: statement.all(repos, like, Math.max(0, query.limit), Math.max(0, query.offset ?? 0)),
    };
  }

  /**
   * A number that changes when another connection (another process: a CLI import,
   * pre-warm or evict) has committed. Asked at most once a second, so it is cheap enough
   * for the request path; memory caches compare it with the one they were filled under.
   */
  writesElsewhere(now = Date.now()): number {
    if (now - this.generationCheckedAt < 1000) return this.generation;
    this.generationCheckedAt = now;
    const version = this.statements.dataVersion.get()?.data_version ?? 0;
    if (this.lastDataVersion !== undefined && version !== this.lastDataVersion) this.generation += 1;
    this.lastDataVersion = version;
    return this.generation;
  }

  /** Runs `work` in one transaction: other processes see all of its writes or none. */
  transaction<T>(work: () => T): T {
    let result: T | undefined;
    write(() => {
      result = this.db.transaction(work)();
    });
    return result as T;
  }

  /** Whether the database is open and answers a query (for /readyz). */
  healthy(): boolean {
    try {
      return this.db.open && this.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Opens (creating if need be) and migrates the index; failures name the file and the fix. */
function openDatabase(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    makePrivateDirSync(dirname(file));
    // 0600 before SQLite creates it 0644; its -wal and -shm files take the same mode.
    ensurePrivateFileSync(file);
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error: unknown) {
    db?.close();
    if (error instanceof StorageError) throw error;
    const code = error instanceof Error && 'code' in error ? String(error.code) : '';
    const hint =
      code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'EACCES' || code === 'EROFS'
        ? 'the data directory is not writable by hexproxy; fix its permissions or choose another with --data-dir'
        : code === 'SQLITE_FULL' || code === 'ENOSPC'
          ? 'the disk is full; free space or move the data directory'
          : code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB'
            ? 'the file is damaged or not a hexproxy index; move it aside and hexproxy starts with an empty cache'
            : errorMessage(error);
    throw new StorageError(`cannot open the cache index ${file}: ${hint}`, { cause: error });
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new StorageError(
      `the cache index was written by a newer hexproxy (schema ${current}, this one knows ${migrations.length}); upgrade hexproxy or use another data directory`,
    );
  }
  for (let version = current; version < migrations.length; version += 1) {
    db.transaction(() => {
      db.exec(migrations[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** A failed index write (disk full, read-only file system) is a storage failure, named as such. */
function write(statement: () => unknown): void {
  try {
    statement();
  } catch (error: unknown) {
    // Only the database's own failures are storage failures; anything else passes through.
    if (!(error instanceof Database.SqliteError)) throw error;
    const code = error.code;
    const hint =
      code === 'SQLITE_FULL'
        ? 'the disk is full; free space or move the data directory'
        : code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN'
          ? 'the data directory is not writable by hexproxy'
          : errorMessage(error);
    throw new StorageError(`cannot update the cache index: ${hint}`, { cause: error });
  }
}

const toTarballRow = (r: TarballRecord): TarballRow => ({
  repo: r.repo,
  name: r.name,
  version: r.version,
  size: r.size,
  sha256: r.sha256,
  fetchedAt: r.fetched_at,
  lastUsedAt: r.last_used_at,
  hits: r.hits,
  pinned: r.pinned === 1,
});

const toRegistryRow = (r: RegistryRecord): RegistryRow => ({
  repo: r.repo,
  path: r.path,
  upstreamEtag: r.upstream_etag,
  sha256: r.sha256,
  size: r.size,
  fetchedAt: r.fetched_at,
  checkedAt: r.checked_at,
  upstreamAsOf: r.upstream_as_of,
});

const toPassthroughRow = (r: PassthroughRecord): PassthroughRow => ({
  path: r.path,
  upstreamEtag: r.upstream_etag,
  sha256: r.sha256,
  size: r.size,
  fetchedAt: r.fetched_at,
  checkedAt: r.checked_at,
  upstreamAsOf: r.upstream_as_of,
});
