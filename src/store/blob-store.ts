// Where cached bytes live. Small, streaming, and written in two phases (stage, then
// commit) so nothing is visible under its key before it has been verified; an object
// store can implement the same contract with a multipart upload. What every backend must
// do is written down as a test suite: test/contract/blob-store-contract.ts.
import { Readable } from 'node:stream';

export interface StoredBlob {
  size: number;
  stream(): Readable;
  /** A local file holding the bytes, when the backend has one (lets HTTP use sendfile-like paths). */
  filePath?: string;
  /**
   * When these bytes were committed under their key (ms since the epoch), and a token that
   * changes with every commit under it: what the reconcile pass tells debris from a commit
   * in progress by. Set by stores that can tell (both or neither), never on bytes in memory.
   */
  committedAt?: number;
  revision?: string;
}

/** Bytes held in memory, offered as a blob (a verified download not yet on disk). */
export const bufferBlob = (bytes: Buffer): StoredBlob => ({ size: bytes.length, stream: () => Readable.from([bytes]) });

export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  readonly bytesWritten: number;
  /**
   * Makes the staged bytes durable and releases what holds them open, without making them
   * visible; for callers that stage many blobs before committing them together.
   */
  finish(): Promise<void>;
  /** Makes the bytes durable and visible under the key, atomically (finishing first if needed). */
  commit(): Promise<void>;
  /** Throws the staged bytes away; safe to call after a failed write or twice. */
  abort(): Promise<void>;
}

/**
 * Keys are paths of segments (assertValidKey); a key never names a prefix of another. Every
 * method refuses an invalid key. Write failures are StorageErrors that say why (disk full,
 * not writable). Optional members are capabilities a backend may lack.
 */
export interface BlobStore {
  /** The committed blob, or undefined if there is none. */
  open(key: string): Promise<StoredBlob | undefined>;
  read(key: string): Promise<Buffer | undefined>;
  /** Atomic write of a whole value, replacing what is there. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Stages a blob for `key`: invisible (to every reader, in any process) until committed; the last commit wins. */
  begin(key: string): Promise<BlobWriter>;
  has(key: string): Promise<boolean>;
  /** Removes the blob, if there is one. */
  delete(key: string): Promise<void>;
  /** Moves a blob to another key (e.g. into quarantine), replacing what is there; fails if there is none. */
  move(from: string, to: string): Promise<void>;
  /** Every committed key under `prefix` (whole segments: "tarballs" lists "tarballs/…", not "tarballs2/…"), in no order. */
  list(prefix: string): AsyncIterable<string>;
  /**
   * Where the blob of `key` would be as a local file, for backends that keep one (lets
   * HTTP stream it with no copy through a web stream); no I/O, the file may not exist.
   */
  localPath?(key: string): string;
  /** Whether another live process is staging writes here (a CLI beside the server). */
  stagingByOtherProcesses?(): Promise<boolean>;
  /**
   * Removes the blob only if it is still `revision` and `confirm()` (asked last) still says
   * so, with no commit under the key by this store in between: a commit in progress is
   * waited for, and one asked for meanwhile waits. Whether it removed the blob. What lets the
   * reconcile pass and the evictor remove a file without removing a fresh commit that a
   * request of this process is about to index.
   */
  deleteRevision?(key: string, revision: string, confirm: () => boolean): Promise<boolean>;
}

// Keys are slash-separated segments of safe characters; anything else is a programming
// error upstream of the store, refused here as a second line of defence.
const SEGMENT = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/;

export function assertValidKey(key: string): void {
  const segments = key.split('/');
  if (key.length > 512 || segments.some((segment) => !SEGMENT.test(segment) || segment === '..' || segment === '.')) {
    throw new Error(`invalid blob key ${JSON.stringify(key)}`);
  }
}
