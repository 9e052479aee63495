// Validates a package tarball someone publishes, as hex.pm does (hex_core hex_tarball.erl
// unpack/3, then hexpm's release checks): the outer tar holds exactly VERSION ("3"),
// CHECKSUM (the inner checksum), metadata.config and contents.tar.gz; the metadata is
// well-formed and complete; the contents unpack inside the package, within the size limits.
// Pure: bytes in, a ValidatedRelease or an InvalidPackageError out, nothing written.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { InvalidPackageError, errorMessage, type ValidationErrors } from '../errors.js';
import { parseErlangTerms } from '../lockfiles/erlang-term.js';
import { LockFileError } from '../lockfiles/errors.js';
import type { Term } from '../lockfiles/term.js';
import { formatBytes } from '../util/format-bytes.js';
import { TarProblem, scanGzippedTar } from './gzipped-tar.js';
import { DEFAULT_PACKAGE_LIMITS, type PackageLimits } from './limits.js';
import { readPackageMetadata } from './package-metadata.js';
import type { ValidatedRelease } from './release.js';

export type { PackageLimits } from './limits.js';
export { DEFAULT_PACKAGE_LIMITS } from './limits.js';

/** What the upload must be, when the request names it (the URL's package, the file name's version). */
export interface ExpectedRelease {
  name?: string;
  version?: string;
}

const ENTRIES = ['VERSION', 'CHECKSUM', 'metadata.config', 'contents.tar.gz'] as const;
type EntryName = (typeof ENTRIES)[number];

// hex_core's caps on the small entries (hex_tarball.erl MAX_VERSION_SIZE, MAX_CHECKSUM_SIZE).
const MAX_VERSION_BYTES = 32;
const MAX_CHECKSUM_BYTES = 128;

const REBUILD = 'build the package again with `mix hex.build` or `rebar3 hex build` and publish what they write';

/** Checks `bytes` as a package tarball; throws InvalidPackageError with every problem found. */
export async function validatePackageTarball(
  bytes: Buffer,
  expected: ExpectedRelease = {},
  limits: Partial<PackageLimits> = {},
): Promise<ValidatedRelease> {
  const limit: PackageLimits = { ...DEFAULT_PACKAGE_LIMITS, ...limits };
  const refuse = (message: string): never => {
    throw new InvalidPackageError({ tar: message });
  };
  if (bytes.length > limit.tarballBytes) {
    refuse(
      `the package tarball is ${formatBytes(bytes.length)}, more than the ${formatBytes(limit.tarballBytes)} hexproxy takes: leave large files out of the package`,
    );
  }
  const parts = await readOuterTar(bytes, limit).catch((error: unknown) => refuse(error instanceof TarProblem ? error.message : errorMessage(error)));

  const version = parts.VERSION.toString('latin1');
  if (version !== '3') {
    refuse(
      `unsupported package tarball version ${JSON.stringify(version)} in VERSION: hexproxy takes version 3, what current Mix (Hex), hex_core and rebar3_hex build; ${REBUILD}`,
    );
  }
  const innerChecksum = createHash('sha256').update(parts.VERSION).update(parts['metadata.config']).update(parts['contents.tar.gz']).digest();
  const stated = parts.CHECKSUM.toString('latin1');
  if (!/^[0-9a-fA-F]{64}$/.test(stated)) {
    refuse(
      `CHECKSUM must be 64 hexadecimal digits (the SHA-256 of VERSION, metadata.config and contents.tar.gz), found ${JSON.stringify(stated.slice(0, 80))}: ${REBUILD}`,
    );
  }
  if (stated.toLowerCase() !== innerChecksum.toString('hex')) {
    refuse(
      `tarball checksum mismatch: CHECKSUM says ${stated.toUpperCase()}, but VERSION, metadata.config and contents.tar.gz hash to ` +
        `${innerChecksum.toString('hex').toUpperCase()}; the tarball was changed after it was built: ${REBUILD}`,
    );
  }

  const metadataConfig = decodeUtf8(parts['metadata.config']) ?? refuse(`metadata.config is not valid UTF-8: ${REBUILD}`);
  const metadata = readPackageMetadata(parseMetadata(metadataConfig));
  const errors: Record<string, string | ValidationErrors> = metadata.ok ? {} : { ...metadata.errors };
  if (metadata.ok && expected.name !== undefined && metadata.value.name !== expected.name) {
    errors['name'] =
      `metadata does not match package name: the tarball is the package ${JSON.stringify(metadata.value.name)}, ` +
      `but it was sent for ${JSON.stringify(expected.name)}: publish it under its own name, or fix the name in the package settings`;
  }
  if (metadata.ok && expected.version !== undefined && metadata.value.version !== expected.version) {
    errors['version'] =
      `metadata does not match the version: the tarball is version ${JSON.stringify(metadata.value.version)}, ` +
      `but it was sent as ${JSON.stringify(expected.version)}: send it as ${metadata.value.name}-${metadata.value.version}.tar, or fix the version`;
  }

  try {
    await scanGzippedTar(parts['contents.tar.gz'], { maxUncompressedBytes: limit.uncompressedBytes, links: true });
  } catch (error: unknown) {
    if (!(error instanceof TarProblem)) throw error;
    const fix = { too_big: 'leave large files out of the package', malformed: REBUILD, entry: 'remove it from the package files' }[error.kind];
    errors['tar'] = `contents.tar.gz is refused: ${error.message}: ${fix}`;
  }

  if (!metadata.ok || Object.keys(errors).length > 0) throw new InvalidPackageError(errors);
  return {
    ...metadata.value,
    innerChecksum,
    outerChecksum: createHash('sha256').update(bytes).digest(),
    tarball: bytes,
    metadataConfig,
  };
}

/** The four entries, each a regular file, none twice, nothing else; TarProblem otherwise. */
async function readOuterTar(bytes: Buffer, limit: PackageLimits): Promise<Record<EntryName, Buffer>> {
  const caps: Record<EntryName, number> = {
    VERSION: MAX_VERSION_BYTES,
    CHECKSUM: MAX_CHECKSUM_BYTES,
    'metadata.config': limit.metadataBytes,
    'contents.tar.gz': limit.tarballBytes,
  };
  const found = new Map<EntryName, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    // An entry's stream fails only when the whole archive does (tar-stream passes the error on), and pipeline reports that.
    stream.on('error', ignore);
    const name = ENTRIES.find((entry) => entry === header.name);
    if (name === undefined) {
      extract.destroy(
        new TarProblem('entry', `it holds ${JSON.stringify(header.name)}, which a package tarball does not (only ${ENTRIES.join(', ')}): ${REBUILD}`),
      );
      return;
    }
    const problem =
      header.type !== 'file'
        ? `${name} is a ${header.type ?? 'special entry'}, not a regular file`
        : found.has(name)
          ? `it holds ${name} twice`
          : (header.size ?? 0) > caps[name]
            ? `${name} is ${formatBytes(header.size ?? 0)}, more than the ${formatBytes(caps[name])} allowed`
            : undefined;
    if (problem !== undefined) {
      extract.destroy(new TarProblem('entry', `${problem}: ${REBUILD}`));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      if (Buffer.isBuffer(chunk)) chunks.push(chunk);
    });
    stream.on('end', () => {
      found.set(name, Buffer.concat(chunks));
      next();
    });
  });
  try {
    await pipeline(Readable.from([bytes]), extract);
  } catch (error: unknown) {
    if (error instanceof TarProblem) throw error;
    throw new TarProblem('malformed', `the package is not a valid tar file (${errorMessage(error)}): ${REBUILD}`, { cause: error });
  }
  const missing = ENTRIES.filter((entry) => !found.has(entry));
  if (missing.length > 0)
    throw new TarProblem('entry', `the package tarball has no ${missing.join(', ')}: a package tarball holds ${ENTRIES.join(', ')}; ${REBUILD}`);
  const part = (name: EntryName): Buffer => found.get(name) ?? Buffer.alloc(0);
  return {
    VERSION: part('VERSION'),
    CHECKSUM: part('CHECKSUM'),
    'metadata.config': part('metadata.config'),
    'contents.tar.gz': part('contents.tar.gz'),
  };
}

/** The terms of metadata.config; InvalidPackageError naming the place when it does not parse. */
function parseMetadata(text: string): Term[] {
  try {
    return parseErlangTerms(text, 'metadata.config');
  } catch (error: unknown) {
    if (!(error instanceof LockFileError)) throw error;
    throw new InvalidPackageError({
      tar: `${error.message}: metadata.config must be Erlang terms, each {<<"key">>, Value} and a full stop; ${REBUILD}`,
    });
  }
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function ignore(): void {}
