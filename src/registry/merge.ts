// The registry payloads of a root view that other repositories' packages are merged into
// (issue 17, hosted.NAME.merge). A merged package replaces the root's package of the same
// name whole, every version of it, never mixed with it. Pure functions over bytes.
import protobuf from 'protobufjs';
import { decodePackage, encodePackage } from './codec.js';
import type { Dependency } from './types.js';

// Names and Versions share their outer shape: `repeated Package packages = 1` (each with
// `required string name = 1`) and `required string repository = 2`.
const PACKAGES_FIELD = 1;
const REPOSITORY_FIELD = 2;
const NAME_FIELD = 1;
const LENGTH_DELIMITED = 2;
const PACKAGES_TAG = (PACKAGES_FIELD << 3) | LENGTH_DELIMITED;
const REPOSITORY_TAG = (REPOSITORY_FIELD << 3) | LENGTH_DELIMITED;

/**
 * A /names or /versions payload: `root`'s, with the package entries of `merged` (payloads
 * of the same kind, first one first) in place of root's entries of the same names, sorted
 * into root's order by name, naming `repository`. Spliced on the wire, entry by entry,
 * rather than decoded and encoded whole: hex.pm's /versions is megabytes, and decoding it
 * all blocks the event loop for hundreds of milliseconds, where reading each entry's name
 * takes a few. Entries and unknown fields are kept byte for byte.
 */
export function spliceIndexPayload(root: Uint8Array, merged: readonly Uint8Array[], repository: string): Buffer {
  const replacements = new Map<string, Uint8Array>();
  for (const payload of merged) {
    for (const part of scanIndex(payload)) {
      if (part.kind === 'package' && !replacements.has(part.name)) replacements.set(part.name, part.message);
    }
  }
  const pending = [...replacements.entries()].sort(([a], [b]) => compareNames(a, b));
  let next = 0;
  const parts: Uint8Array[] = [];
  const insertBefore = (name: string | undefined): void => {
    for (; next < pending.length; next += 1) {
      const entry = pending[next];
      if (!entry || (name !== undefined && compareNames(entry[0], name) >= 0)) return;
      parts.push(protobuf.Writer.create().uint32(PACKAGES_TAG).bytes(entry[1]).finish());
    }
  };
  for (const part of scanIndex(root)) {
    if (part.kind === 'repository') continue;
    if (part.kind === 'package') {
      if (replacements.has(part.name)) continue;
      insertBefore(part.name);
    }
    parts.push(part.raw);
  }
  insertBefore(undefined);
  parts.push(protobuf.Writer.create().uint32(REPOSITORY_TAG).string(repository).finish());
  return Buffer.concat(parts);
}

type IndexPart =
  | { kind: 'package'; name: string; raw: Uint8Array; message: Uint8Array }
  | { kind: 'repository'; raw: Uint8Array }
  | { kind: 'other'; raw: Uint8Array };

/** The top-level fields of a Names or Versions payload, in order, each with its bytes. */
function* scanIndex(payload: Uint8Array): Generator<IndexPart> {
  const reader = protobuf.Reader.create(payload);
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    if (tag === PACKAGES_TAG) {
      const message = reader.bytes();
      yield { kind: 'package', name: packageName(message), raw: payload.subarray(start, reader.pos), message };
    } else {
      reader.skipType(tag & 7);
      yield { kind: tag === REPOSITORY_TAG ? 'repository' : 'other', raw: payload.subarray(start, reader.pos) };
    }
  }
}

/** The `name` of one package entry, wherever in the entry it is. */
function packageName(message: Uint8Array): string {
  const reader = protobuf.Reader.create(message);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === NAME_FIELD && (tag & 7) === LENGTH_DELIMITED) return reader.string();
    reader.skipType(tag & 7);
  }
  throw new Error('a package entry of /names or /versions has no name');
}

/**
 * A Package payload of another repository as the root view `repository` lists it: naming
 * `repository`, its dependencies as the root's own. A dependency naming no repository was
 * on the package's own repository, whose packages the root view now has; one naming
 * `repository` is on the root, which needs no name.
 */
export function rehomePackagePayload(payload: Uint8Array, repository: string): Buffer {
  const pkg = decodePackage(payload);
  return encodePackage({
    ...pkg,
    repository,
    releases: pkg.releases.map((release) => ({
      ...release,
      dependencies: release.dependencies.map((dependency) => withoutRepository(dependency, repository)),
    })),
  });
}

function withoutRepository(dependency: Dependency, repository: string): Dependency {
  if (dependency.repository !== repository) return dependency;
  const { repository: _root, ...rest } = dependency;
  return rest;
}

// Byte order, as Elixir sorts binaries (names are ASCII).
const compareNames = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
