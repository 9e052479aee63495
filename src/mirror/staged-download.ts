// Streaming an upstream body into a staged blob, hashing it on the way, and committing it
// with its index row. Shared by every mirror that caches what upstream sends.
import { createHash } from 'node:crypto';
import { UpstreamTooLargeError } from '../errors.js';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';
import { readChunks } from '../upstream/client.js';
import type { UpstreamOk } from '../upstream/upstream-client.js';

export interface StagedDownload {
  /** Staged, not yet visible: commit with commitWithRow, or abort. */
  writer: BlobWriter;
  sha256: string;
  size: number;
  /** The whole body, when asked for (old tarballs need it for their inner checksum). */
  bytes?: Buffer;
}

export interface StageOptions {
  maxBytes: number;
  /** Names the download in errors ("tarball phoenix 1.7.0", "/installs/hex-1.x.csv"). */
  what: string;
  /** Which setting bounds it, for the error message. */
  limitSetting: string;
  keepBytes?: boolean;
}

export async function stageDownload(blobs: BlobStore, key: string, result: UpstreamOk, options: StageOptions): Promise<StagedDownload> {
  const tooLarge = (size?: number): UpstreamTooLargeError =>
    new UpstreamTooLargeError(
      `${options.what} from upstream is ${size === undefined ? 'over' : `${size} bytes, over`} the limit of ${options.maxBytes} bytes (${options.limitSetting})`,
    );
  // An unread body holds its upstream connection forever: every way out lets it go.
  const release = (): Promise<void> => result.body.dump().catch(() => undefined);
  if (result.contentLength !== undefined && result.contentLength > options.maxBytes) {
    await release();
    throw tooLarge(result.contentLength);
  }
  let writer: BlobWriter;
  try {
    writer = await blobs.begin(key);
  } catch (error: unknown) {
    await release();
    throw error;
  }
  try {
    const hash = createHash('sha256');
    const kept: Buffer[] | undefined = options.keepBytes ? [] : undefined;
    for await (const chunk of readChunks(result.body, options.what)) {
      if (writer.bytesWritten + chunk.length > options.maxBytes) throw tooLarge();
      hash.update(chunk);
      kept?.push(Buffer.from(chunk));
      await writer.write(chunk);
    }
    return { writer, sha256: hash.digest('hex'), size: writer.bytesWritten, ...(kept && { bytes: Buffer.concat(kept) }) };
  } catch (error: unknown) {
    await writer.abort();
    await release();
    throw error;
  }
}

/**
 * Makes a staged download visible, then records it. If the index cannot be written, the
 * file goes too: a file the index does not name would only take space until the next start.
 */
export async function commitWithRow(staged: StagedDownload, blobs: BlobStore, key: string, saveRow: () => void): Promise<void> {
  await staged.writer.commit();
  try {
    saveRow();
  } catch (error: unknown) {
    await blobs.delete(key).catch(() => undefined);
    throw error;
  }
}
