// Makes the index and the cached files agree again after a crash (a kill, the OOM killer, a
// power cut). Every writer renames its file into place and only then inserts the index row,
// so a crash can leave a file with no row; a power cut (the index runs with synchronous =
// NORMAL) or a hand-deleted file can leave a row with no file, or a file of another size.
// Neither is ever served (reads go through a row and check the size), but they waste space,
// skew `cache stats`, and keep a row that promises what is not there. The server runs this
// pass once, in the background, when it starts.
//
// Rows are checked against the files by size; hashing every tarball at every start is
// `cache verify`'s job. A tarball or pass-through row whose file is missing or has another
// size is removed (the file, if any, then goes as an unindexed file, below). A registry row
// whose file is missing is removed. One whose file has another size is what a crash between
// writing a newer file and its row leaves, and the registry mirror keeps such a file if it
// still verifies; so does this pass: it verifies the file with the upstream key and writes
// the row the file deserves (no ETag, never checked, so the next revalidation fetches in
// full), or removes the row so the file goes too.
//
// Files with no row are the delicate part: a file with no row may be a commit in progress
// (renamed, its row not yet inserted), in this process or in a CLI beside it, not debris.
// The commit time of a file is its ctime, which the rename sets (mtime would not do: a staged
// file keeps the time of its last write, for a bundle import minutes before its rename); the
// blob store reports it as committedAt, with a revision (inode and ctime). One is removed only
// when all of these hold:
//  - it was committed before this pass began. Later commits are live writers' (this server's
//    fills, or a CLI's), whose rows follow; a crash of this process leaves them for the next
//    start.
//  - it was committed at least `settleMs` (1 s) before it is removed: a CLI beside the server
//    that renamed a file just before the pass began is about to insert its row, a few
//    milliseconds (a directory fsync) later. Young files are waited for, once, after the
//    listing. An age threshold alone (say 60 s) would keep the debris of a crash followed by
//    a quick restart (systemd restarts in 100 ms) until some later restart.
//  - it still has no row when looked up again right before it is removed, and it is the same
//    file (revision and commit time) that was listed, not a fresh commit since; the store's
//    deleteRevision makes that check and the removal one step with respect to this process's
//    commits (a request filling the same key renames its file in turn, then indexes it);
//  - no other live process has staged files in DATA_DIR/.tmp. A bundle import commits all its
//    files before it writes any row, which can take longer than the wait; while another
//    process writes, files with no row are left for the next start (counted as deferred).
// What is left is a CLI whose row insert comes more than a second after its rename (SQLite
// busy, up to its 5 s timeout). It can lose its file; its row then names a missing file,
// which the next request for it notices, drops and fetches again. Wrong bytes are never
// served either way. Files this pass does not recognise as hexproxy's are left alone, and
// it never looks outside tarballs/, registry/ and passthrough/ (so never at quarantine/,
// keys/ or the blob store's .tmp/, which it only reads).
import { createHash, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { openRegistryFile } from '../registry/registry-file.js';
import { resourceAt } from '../registry/resource.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, PassthroughRow, RegistryRow, TarballRow } from '../store/cache-index.js';
import { revalidateInFull } from './rows.js';
import { INDEXED_KINDS, parseCacheKey, passthroughKey, registryKey, tarballKey, type IndexedKind } from './layout.js';

export const SETTLE_MS = 1000;

export interface ReconcileOptions {
  index: CacheIndex;
  blobs: BlobStore;
  /** Lets a registry file of another size than its row be kept when it still verifies. */
  registry?: { keyOf: (repo: string) => KeyObject | undefined; maxRegistryBytes: number };
  /** How long a file with no row must have been in place before it is removed. */
  settleMs?: number;
  /** Checked after every wait; true once the server is shutting down and the index closes. */
  stopped?: () => boolean;
}

export interface KindCounts {
  /** Index rows checked. */
  rows: number;
  /** Files found on disk. */
  files: number;
  rowsRemoved: number;
  /** Registry rows rewritten to describe the (verified) file on disk. */
  rowsRepaired: number;
  filesRemoved: number;
}

export interface ReconcileReport {
  tarballs: KindCounts;
  registry: KindCounts;
  passthrough: KindCounts;
  /** Files with no row kept this time (another process was writing, or one was replaced). */
  deferred: number;
  /** Files under tarballs/, registry/ or passthrough/ that hexproxy does not name so; left alone. */
  unknown: number;
  /** Checks or removals that failed (e.g. a read-only or full disk); the first one's reason. */
  failed: number;
  firstFailure?: string;
  /** The server stopped before the pass finished. */
  stopped: boolean;
  ms: number;
}

/** A file hexproxy writes, and how to ask the index whether it has a row. */
interface Entry {
  key: string;
  kind: IndexedKind;
  indexed(): boolean;
}

/** The file behind a key as it was seen, to tell it from a later commit under the same key. */
interface Identity {
  revision: string;
  changedAt: number;
}

interface Candidate {
  entry: Entry;
  seenAt: number;
  identity: Identity | undefined;
}

class Stopped extends Error {}

/** Runs the pass and logs one line when it is done ("cache reconciled", with the counts). */
export function reconcileInBackground(options: ReconcileOptions & { log: Logger }): Promise<ReconcileReport | undefined> {
  const { log, ...rest } = options;
  return reconcileCache(rest).then(
    (report) => {
      if (report.stopped) return report;
      const { stopped: _stopped, ...fields } = report;
      log[report.failed > 0 ? 'warn' : 'info'](fields, 'cache reconciled');
      return report;
    },
    (error: unknown) => {
      if (!options.stopped?.()) log.error({ err: errorMessage(error) }, 'cache reconciliation failed');
      return undefined;
    },
  );
}

export async function reconcileCache(options: ReconcileOptions): Promise<ReconcileReport> {
  return new Reconciler(options).run();
}

class Reconciler {
  private readonly started = Date.now();
  private readonly report: ReconcileReport = {
    tarballs: counts(),
    registry: counts(),
    passthrough: counts(),
    deferred: 0,
    unknown: 0,
    failed: 0,
    stopped: false,
    ms: 0,
  };

  constructor(private readonly options: ReconcileOptions) {}

  async run(): Promise<ReconcileReport> {
    try {
      await this.checkTarballRows();
      await this.checkRegistryRows();
      await this.checkPassthroughRows();
      await this.removeUnindexedFiles(await this.listUnindexedFiles());
    } catch (error: unknown) {
      if (!(error instanceof Stopped)) throw error;
      this.report.stopped = true;
    }
    this.report.ms = Date.now() - this.started;
    return this.report;
  }

  private async checkTarballRows(): Promise<void> {
    const { index, blobs } = this.options;
    const counted = this.report.tarballs;
    for await (const row of this.tarballRows()) {
      counted.rows += 1;
      await this.attempt(async () => {
        const blob = await blobs.open(tarballKey(row.repo, row.name, row.version));
        this.checkStopped();
        if (blob && blob.size === row.size) return;
        // Only the row that was checked: a fill or an eviction may have replaced it since.
        if (!sameRow(index.findTarball(row.repo, row.name, row.version), row)) return;
        index.removeTarball(row.repo, row.name, row.version);
        counted.rowsRemoved += 1;
      });
    }
  }

  private async checkRegistryRows(): Promise<void> {
    const { index, blobs } = this.options;
    const counted = this.report.registry;
    for (const row of this.rows(() => index.listRegistryFiles())) {
      counted.rows += 1;
      await this.attempt(async () => {
        const key = registryKey(row.repo, row.path);
        const blob = await blobs.open(key);
        this.checkStopped();
        if (blob && blob.size === row.size) return;
        const repaired = blob ? await this.verifiedRow(row, key) : undefined;
        this.checkStopped();
        if (!sameRow(index.findRegistryFile(row.repo, row.path), row)) return;
        if (repaired) {
          index.saveRegistryFile(repaired);
          counted.rowsRepaired += 1;
        } else {
          index.removeRegistryFile(row.repo, row.path);
          counted.rowsRemoved += 1;
        }
      });
    }
  }

  /** The row a registry file of another size deserves, if it still verifies with its repository's key. */
  private async verifiedRow(row: RegistryRow, key: string): Promise<RegistryRow | undefined> {
    const { registry, blobs } = this.options;
    const resource = resourceAt(row.path);
    const publicKey = registry?.keyOf(row.repo);
    if (!registry || !resource || !publicKey) return undefined;
    const body = await blobs.read(key);
    if (!body) return undefined;
    try {
      await openRegistryFile(body, resource, { publicKey, repository: row.repo, maxBytes: registry.maxRegistryBytes, source: 'cache' });
    } catch {
      return undefined;
    }
    return revalidateInFull({ ...row, sha256: createHash('sha256').update(body).digest('hex'), size: body.length });
  }

  private async checkPassthroughRows(): Promise<void> {
    const { index, blobs } = this.options;
    const counted = this.report.passthrough;
    for (const row of this.rows(() => index.listPassthroughFiles())) {
      counted.rows += 1;
      await this.attempt(async () => {
        const blob = await blobs.open(passthroughKey(row.path));
        this.checkStopped();
        if (blob && blob.size === row.size) return;
        if (!sameRow(index.findPassthroughFile(row.path), row)) return;
        index.removePassthroughFile(row.path);
        counted.rowsRemoved += 1;
      });
    }
  }

  private async listUnindexedFiles(): Promise<Candidate[]> {
    const candidates: Candidate[] = [];
    let listed = 0;
    for (const prefix of INDEXED_KINDS) {
      for await (const key of this.options.blobs.list(prefix)) {
        // Index lookups are synchronous: let requests in between, even in a directory of thousands.
        if (++listed % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
        this.checkStopped();
        const entry = this.identify(key);
        if (!entry) {
          this.report.unknown += 1;
          continue;
        }
        this.report[entry.kind].files += 1;
        if (entry.indexed()) continue;
        await this.attempt(async () => {
          const identity = await this.identity(key);
          this.checkStopped();
          // Committed since the pass began: a live writer's, its row on the way.
          if (identity === 'gone' || (identity && identity.changedAt >= this.started)) return;
          candidates.push({ entry, seenAt: Date.now(), identity });
        });
      }
    }
    return candidates;
  }

  private async removeUnindexedFiles(candidates: Candidate[]): Promise<void> {
    if (candidates.length === 0) return;
    const settleMs = this.options.settleMs ?? SETTLE_MS;
    const readyAt = Math.max(...candidates.map(({ identity, seenAt }) => (identity?.changedAt ?? seenAt) + settleMs));
    const wait = readyAt - Date.now();
    if (wait > 0) await sleep(wait, undefined, { ref: false });
    this.checkStopped();
    if (await this.otherProcessIsWriting()) {
      this.report.deferred += candidates.filter(({ entry }) => !entry.indexed()).length;
      return;
    }
    for (const { entry, identity } of candidates) {
      this.checkStopped();
      if (entry.indexed()) continue;
      await this.attempt(async () => {
        const now = await this.identity(entry.key);
        this.checkStopped();
        if (now === 'gone') return;
        if (!sameIdentity(now, identity)) {
          this.report.deferred += 1;
          return;
        }
        // Looked up once more after the last wait: a row inserted meanwhile keeps the file.
        if (entry.indexed()) return;
        const { blobs } = this.options;
        if (now && blobs.deleteRevision) {
          // A request of this server may be committing the same key right now (its row follows
          // the rename): the store removes the file only if no commit came between.
          if (!(await blobs.deleteRevision(entry.key, now.revision, () => !entry.indexed()))) {
            this.report.deferred += 1;
            return;
          }
        } else {
          await blobs.delete(entry.key);
        }
        this.report[entry.kind].filesRemoved += 1;
      });
    }
  }

  /** Which row a key belongs to, for the keys hexproxy writes; undefined for anything else. */
  private identify(key: string): Entry | undefined {
    const { index } = this.options;
    const named = parseCacheKey(key);
    switch (named?.kind) {
      case 'tarballs': {
        const { repo, name, version } = named;
        return { key, kind: 'tarballs', indexed: () => index.findTarball(repo, name, version) !== undefined };
      }
      case 'registry': {
        const { repo, path } = named;
        return { key, kind: 'registry', indexed: () => index.findRegistryFile(repo, path) !== undefined };
      }
      case 'passthrough': {
        const { path } = named;
        return { key, kind: 'passthrough', indexed: () => index.findPassthroughFile(path) !== undefined };
      }
      default:
        return undefined;
    }
  }

  /** The revision and commit time of a key's blob (a file's inode and ctime); undefined when the store cannot tell. */
  private async identity(key: string): Promise<Identity | undefined | 'gone'> {
    const blob = await this.options.blobs.open(key);
    if (!blob) return 'gone';
    if (blob.revision === undefined || blob.committedAt === undefined) return undefined;
    return { revision: blob.revision, changedAt: blob.committedAt };
  }

  /** Staged files of another live process: a CLI (prewarm, mirror, import) is writing. */
  private async otherProcessIsWriting(): Promise<boolean> {
    return (await this.options.blobs.stagingByOtherProcesses?.()) ?? false;
  }

  /**
   * The tarball index in pages, yielding to the event loop between them: with 100,000
   * rows, reading them all at once blocked the server for ~300 ms just after it started.
   */
  private async *tarballRows(): AsyncIterable<TarballRow> {
    let last: TarballRow | undefined;
    for (;;) {
      this.checkStopped();
      const page = this.options.index.tarballPage(last, 1000);
      yield* page;
      if (page.length < 1000) return;
      last = page[page.length - 1];
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private rows<T>(list: () => T[]): T[] {
    this.checkStopped();
    return list();
  }

  /** One check or removal: a failure (a read-only or full disk) is counted, and the pass goes on. */
  private async attempt(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error: unknown) {
      if (error instanceof Stopped) throw error;
      this.report.failed += 1;
      this.report.firstFailure ??= errorMessage(error);
    }
  }

  private checkStopped(): void {
    if (this.options.stopped?.()) throw new Stopped('the server is shutting down');
  }
}

const counts = (): KindCounts => ({ rows: 0, files: 0, rowsRemoved: 0, rowsRepaired: 0, filesRemoved: 0 });

function sameRow<T extends TarballRow | RegistryRow | PassthroughRow>(current: T | undefined, seen: T): boolean {
  return current !== undefined && current.sha256 === seen.sha256 && current.size === seen.size && current.fetchedAt === seen.fetchedAt;
}

function sameIdentity(now: Identity | undefined, seen: Identity | undefined): boolean {
  if (!now || !seen) return now === seen;
  return now.revision === seen.revision && now.changedAt === seen.changedAt;
}
