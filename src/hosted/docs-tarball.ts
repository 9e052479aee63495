// Validates a docs tarball someone publishes (`mix hex.publish docs`, rebar3_hex): a gzipped
// tar of regular files and directories, all inside the docs' own directory, within hex.pm's
// size limits (hex_core hex_tarball.erl unpack_docs/3). Pure: nothing is written.
import { InvalidPackageError } from '../errors.js';
import { formatBytes } from '../util/format-bytes.js';
import { TarProblem, scanGzippedTar } from './gzipped-tar.js';
import { DEFAULT_DOCS_LIMITS, type DocsLimits } from './limits.js';

export type { DocsLimits } from './limits.js';
export { DEFAULT_DOCS_LIMITS } from './limits.js';

export interface ValidatedDocs {
  /** How many regular files the tarball holds. */
  files: number;
  /** Bytes of the tar once gunzipped. */
  uncompressedBytes: number;
  /** Whether it has index.html at its top, the page a browser opens first. */
  hasIndexHtml: boolean;
}

/** Checks `bytes` as a docs tarball; throws InvalidPackageError ({ tar: … }) saying what is wrong. */
export async function validateDocsTarball(bytes: Buffer, limits: Partial<DocsLimits> = {}): Promise<ValidatedDocs> {
  const limit: DocsLimits = { ...DEFAULT_DOCS_LIMITS, ...limits };
  if (bytes.length > limit.tarballBytes) {
    throw new InvalidPackageError({
      tar: `the docs tarball is ${formatBytes(bytes.length)}, more than the ${formatBytes(limit.tarballBytes)} hexproxy takes: leave large files out of the docs`,
    });
  }
  try {
    const scan = await scanGzippedTar(bytes, { maxUncompressedBytes: limit.uncompressedBytes, links: false });
    return { files: scan.files.length, uncompressedBytes: scan.uncompressedBytes, hasIndexHtml: scan.files.includes('index.html') };
  } catch (error: unknown) {
    if (!(error instanceof TarProblem)) throw error;
    const fix = {
      too_big: 'leave large files out of the docs',
      malformed: 'send the docs as a gzipped tar, as `mix hex.publish docs` builds them',
      entry: 'remove it from the docs',
    }[error.kind];
    throw new InvalidPackageError({ tar: `the docs tarball is refused: ${error.message}: ${fix}` });
  }
}
