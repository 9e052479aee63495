// BlobStore on a local directory. Writes go to ROOT/.tmp, are fsynced, then renamed into
// place, so a crash or kill leaves either the whole file or none; leftovers in .tmp are
// removed when the store opens.
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { StorageError, errorMessage } from '../errors.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import { PRIVATE_FILE_MODE, makePrivateDir } from './private-files.js';
import { syncDirectory } from './sync-directory.js';
import { assertValidKey, type BlobStore, type BlobWriter, type StoredBlob } from './blob-store.js';

export class FsBlobStore implements BlobStore {
  private readonly tmpDir: string;
  private openWriters = 0;
  /** What changes which file is under a key (a rename into it, a conditional delete), one at a time per key. */
  private readonly keyChanges = new KeyedQueue();

  private constructor(private readonly root: string) {
    this.tmpDir = join(root, '.tmp');
  }

  static async create(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    await makePrivateDir(store.tmpDir);
    await store.removeAbandonedStagedFiles();
    return store;
  }

  /**
   * Staged files are named after the process writing them. Those of processes that no
   * longer run belong to writes that never committed (a crash or a kill); other processes
   * sharing the data directory (a CLI pre-warm beside the server) keep theirs.
   */
  async removeAbandonedStagedFiles(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmpDir)) {
      const pid = stagingPid(name);
      if (pid !== undefined && pid !== process.pid && isRunning(pid)) continue;
      if (pid === process.pid && this.openWriters > 0) continue;
      await rm(join(this.tmpDir, name), { force: true });
      removed += 1;
    }
    return removed;
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  pathOf(key: string): string {
    assertValidKey(key);
    return join(this.root, key);
  }

  async open(key: string): Promise<StoredBlob | undefined> {
    const filePath = this.pathOf(key);
    try {
      const info = await stat(filePath);
      // The rename that committed the file set its ctime; another commit makes another inode.
      return {
        size: info.size,
        filePath,
        committedAt: info.ctimeMs,
        revision: `${info.ino}:${info.ctimeMs}`,
        stream: () => createReadStream(filePath),
      };
    } catch (error: unknown) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error: unknown) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.open(key)) !== undefined;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const writer = await this.begin(key);
    try {
      await writer.write(data);
      await writer.commit();
    } catch (error: unknown) {
      await writer.abort();
      throw error;
    }
  }

  async begin(key: string): Promise<BlobWriter> {
    const target = this.pathOf(key);
    const staged = join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.partial`);
    let handle: FileHandle;
    try {
      handle = await open(staged, 'wx', PRIVATE_FILE_MODE);
    } catch (error: unknown) {
      throw storageError(`cannot create a temporary file in ${this.tmpDir}`, error);
    }
    this.openWriters += 1;
    return new FsBlobWriter(
      handle,
      staged,
      target,
      () => {
        this.openWriters -= 1;
      },
      (work) => this.keyChanges.run(target, work),
    );
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.pathOf(to);
    await makePrivateDir(dirname(target));
    await this.keyChanges.run(target, () => rename(this.pathOf(from), target));
  }

  async deleteRevision(key: string, revision: string, confirm: () => boolean): Promise<boolean> {
    const path = this.pathOf(key);
    return this.keyChanges.run(path, async () => {
      const blob = await this.open(key);
      if (blob?.revision !== revision || !confirm()) return false;
      await rm(path, { force: true });
      return true;
    });
  }

  async stagingByOtherProcesses(): Promise<boolean> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch (error: unknown) {
      // Cannot tell: assume someone is.
      return !isMissing(error);
    }
    return names.some((name) => {
      const pid = stagingPid(name);
      return pid !== undefined && pid !== process.pid && isRunning(pid);
    });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = prefix.replace(/\/+$/, '');
    if (base) assertValidKey(base);
    yield* walk(join(this.root, base), base);
  }
}

class FsBlobWriter implements BlobWriter {
  bytesWritten = 0;
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly staged: string,
    private readonly target: string,
    private readonly onClose: () => void,
    /** Runs the rename into place in turn with other changes to the same key. */
    private readonly changeKey: (work: () => Promise<void>) => Promise<void>,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
      this.bytesWritten += chunk.length;
    } catch (error: unknown) {
      throw storageError(`cannot write to the cache (${this.target})`, error);
    }
  }

  async finish(): Promise<void> {
    if (this.closed) return;
    try {
      await this.handle.sync();
      await this.close();
    } catch (error: unknown) {
      await this.abort();
      throw storageError(`cannot write ${this.target} to the cache`, error);
    }
  }

  async commit(): Promise<void> {
    await this.finish();
    try {
      await makePrivateDir(dirname(this.target));
      await this.changeKey(() => rename(this.staged, this.target));
      await syncDirectory(dirname(this.target));
    } catch (error: unknown) {
      await this.abort();
      throw storageError(`cannot commit ${this.target} to the cache`, error);
    }
  }

  async abort(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.staged, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    await this.handle.close();
  }
}

async function* walk(dir: string, prefix: string): AsyncIterable<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error: unknown) {
    if (isMissing(error)) return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const key = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) yield* walk(join(dir, entry.name), key);
    else if (entry.isFile()) yield key;
  }
}

function storageError(what: string, cause: unknown): StorageError {
  const code = cause instanceof Error && 'code' in cause ? String(cause.code) : '';
  const hint =
    code === 'ENOSPC'
      ? ': the disk is full; free space or move the data directory'
      : code === 'EACCES' || code === 'EROFS' || code === 'EPERM'
        ? ': the data directory is not writable by hexproxy'
        : `: ${errorMessage(cause)}`;
  return new StorageError(`${what}${hint}`, { cause });
}

/** Staged files are named PID-RANDOM.partial, after the process writing them. */
function stagingPid(name: string): number | undefined {
  const pid = Number(name.split('-')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    // EPERM: it exists but belongs to someone else.
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

const isMissing = (error: unknown): boolean => error instanceof Error && 'code' in error && error.code === 'ENOENT';
