// Reads an uploaded gzipped tar (a package's contents.tar.gz, or a docs tarball) as a stream,
// checking every entry, without unpacking it anywhere. It counts the bytes gunzip produces
// and stops at the limit: a gzip bomb costs at most the limit's worth of inflating, never
// its memory, since the inflated bytes are counted and dropped as they come.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { errorMessage } from '../errors.js';
import { normalName, unsafeLinkReason, unsafeNameReason } from './archive-paths.js';
import { formatBytes } from '../util/format-bytes.js';

export interface TarRules {
  /** The most the tar may take once gunzipped (its headers count too). */
  maxUncompressedBytes: number;
  /** Whether symbolic and hard links that stay inside the archive are allowed (packages: yes; docs: no). */
  links: boolean;
}

export interface TarScan {
  /** The regular files, by path (no leading `./`), in archive order. */
  files: string[];
  /** Bytes of the gunzipped tar. */
  uncompressedBytes: number;
}

/** What is wrong with the archive, said for the person who uploaded it. */
export class TarProblem extends Error {
  constructor(
    /** too_big: over the limit; malformed: not gzip, or not a tar; entry: an entry that may not stay. */
    readonly kind: 'too_big' | 'malformed' | 'entry',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Checks `gzipped` entry by entry; throws TarProblem saying what is wrong. */
export async function scanGzippedTar(gzipped: Buffer, rules: TarRules): Promise<TarScan> {
  const files: string[] = [];
  let uncompressedBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      uncompressedBytes += chunk.length;
      if (uncompressedBytes > rules.maxUncompressedBytes) {
        done(new TarProblem('too_big', `it is larger than ${formatBytes(rules.maxUncompressedBytes)} uncompressed, the most hexproxy takes`));
      } else {
        done(null, chunk);
      }
    },
  });
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    // An entry's stream fails only when the whole archive does (tar-stream passes the error on), and pipeline reports that.
    stream.on('error', ignore);
    const problem = entryProblem(header, rules);
    if (problem !== undefined) {
      extract.destroy(new TarProblem('entry', `the entry ${JSON.stringify(header.name)} ${problem}`));
      return;
    }
    if (header.type === 'file' || header.type === 'contiguous-file') files.push(normalName(header.name));
    stream.on('end', next);
    stream.resume();
  });
  try {
    await pipeline(Readable.from([gzipped]), createGunzip(), counter, extract);
  } catch (error: unknown) {
    if (error instanceof TarProblem) throw error;
    if (isZlibError(error)) throw new TarProblem('malformed', `it is not valid gzip data (${errorMessage(error)})`, { cause: error });
    throw new TarProblem('malformed', `it is not a valid tar archive once gunzipped (${errorMessage(error)})`, { cause: error });
  }
  return { files, uncompressedBytes };
}

/** Why this entry may not stay (completing "the entry NAME …"), or undefined. */
function entryProblem(header: tar.Header, rules: TarRules): string | undefined {
  const nameProblem = unsafeNameReason(header.name);
  if (nameProblem !== undefined) return `is refused: ${nameProblem}`;
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
    case 'directory':
      return undefined;
    case 'symlink':
    case 'link': {
      const kind = header.type === 'symlink' ? 'a symbolic link' : 'a hard link';
      if (!rules.links) return `is ${kind}: only regular files and directories are allowed here`;
      const linkProblem = unsafeLinkReason(header.name, header.linkname ?? '', header.type === 'symlink');
      return linkProblem === undefined ? undefined : `is ${kind} that is refused: ${linkProblem}`;
    }
    default:
      return `is of type ${header.type ?? 'unknown'}: only ${rules.links ? 'regular files, directories and links' : 'regular files and directories'} are allowed`;
  }
}

function isZlibError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('Z_');
}

function ignore(): void {}
