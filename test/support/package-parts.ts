// Package and docs tarballs put together part by part, so that a test can get each part
// wrong in exactly one way: raw tar entries of any type (links, devices, absolute names),
// a metadata.config written field by field, a CHECKSUM that lies, a gzip bomb.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

export interface RawEntry {
  name: string;
  data?: Buffer | string;
  /** Defaults to a regular file. */
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  linkname?: string;
}

const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

/** A tar of exactly these entries, in this order. */
export async function rawTar(entries: readonly RawEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const data = type === 'file' ? Buffer.from(entry.data ?? '') : Buffer.alloc(0);
    pack.entry({ name: entry.name, type, size: data.length, mode: 0o644, mtime: FIXED_MTIME, uid: 0, gid: 0, linkname: entry.linkname }, data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) {
    if (!Buffer.isBuffer(chunk)) throw new TypeError('tar-stream produced a non-binary chunk');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A gzipped tar of these entries: a package's contents.tar.gz, or a docs tarball. */
export const gzippedTar = async (entries: readonly RawEntry[]): Promise<Buffer> => gzipSync(await rawTar(entries));

/** Terms of metadata.config as Erlang source, by key; `undefined` leaves the key out. */
export type MetadataFields = Record<string, string | undefined>;

const binary = (text: string): string => `<<"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"/utf8>>`;

/** A metadata.config like Mix writes for `name` `version`, with `overrides` (Erlang source of each value). */
export function metadataConfig(name: string, version: string, overrides: MetadataFields = {}): string {
  const fields: MetadataFields = {
    app: binary(name),
    build_tools: `[${binary('mix')}]`,
    description: binary(`${name} test package`),
    files: `[${binary('lib')},${binary(`lib/${name}.ex`)},${binary('mix.exs')}]`,
    licenses: `[${binary('Apache-2.0')}]`,
    links: `[{${binary('Source')},${binary(`https://example.invalid/${name}`)}}]`,
    name: binary(name),
    requirements: '[]',
    version: binary(version),
    ...overrides,
  };
  return Object.entries(fields)
    .flatMap(([key, value]) => (value === undefined ? [] : [`{${binary(key)},${value}}.\n`]))
    .join('');
}

/** A Mix-style requirement term: a list of pairs with the name inside. */
export function mixRequirement(dep: { name: string; requirement: string; optional?: boolean; app?: string; repository?: string }): string {
  return (
    `[{<<"app">>,${binary(dep.app ?? dep.name)}},{<<"name">>,${binary(dep.name)}},{<<"optional">>,${dep.optional === true}},` +
    `{<<"repository">>,${binary(dep.repository ?? 'hexpm')}},{<<"requirement">>,${binary(dep.requirement)}}]`
  );
}

export interface PackageParts {
  version?: Buffer | string;
  /** CHECKSUM as written; the true inner checksum (uppercase hex) when left out. */
  checksum?: string;
  metadata: Buffer | string;
  contents: Buffer;
  /** Replaces the outer entries altogether (after VERSION, CHECKSUM, metadata.config and contents.tar.gz are worked out). */
  entries?: (parts: { version: Buffer; checksum: Buffer; metadata: Buffer; contents: Buffer }) => RawEntry[];
}

/** A package tarball from its parts. */
export async function assemblePackage(parts: PackageParts): Promise<Buffer> {
  const version = Buffer.from(parts.version ?? '3');
  const metadata = Buffer.from(parts.metadata);
  const inner = createHash('sha256').update(version).update(metadata).update(parts.contents).digest('hex').toUpperCase();
  const checksum = Buffer.from(parts.checksum ?? inner);
  const pieces = { version, checksum, metadata, contents: parts.contents };
  return rawTar(
    parts.entries?.(pieces) ?? [
      { name: 'VERSION', data: version },
      { name: 'CHECKSUM', data: checksum },
      { name: 'metadata.config', data: metadata },
      { name: 'contents.tar.gz', data: parts.contents },
    ],
  );
}

/** The contents.tar.gz of a small valid package. */
export const simpleContents = (name: string): Promise<Buffer> =>
  gzippedTar([
    { name: `lib/${name}.ex`, data: `defmodule ${name} do\nend\n` },
    { name: 'mix.exs', data: 'defmodule X.MixProject do\nend\n' },
  ]);

/** A valid package tarball like Mix builds, with metadata `overrides` and the given contents. */
export async function packageTarball(name: string, version: string, overrides: MetadataFields = {}, contents?: Buffer): Promise<Buffer> {
  return assemblePackage({ metadata: metadataConfig(name, version, overrides), contents: contents ?? (await simpleContents(name)) });
}

/**
 * A gzipped tar whose single file claims `inflatedBytes` of zeros: a header, then gzip members
 * of 1 MiB of zeros each (gunzip reads concatenated members as one stream). A few hundred
 * KiB on the wire, built without holding the inflated bytes.
 */
export function gzipBomb(inflatedBytes: number): Buffer {
  const MiB = 1024 * 1024;
  const member = gzipSync(Buffer.alloc(MiB), { level: 9 });
  const members = [gzipSync(tarHeader('bomb.bin', inflatedBytes))];
  for (let written = 0; written < inflatedBytes; written += MiB) members.push(member);
  return Buffer.concat(members);
}

/** A ustar header of a regular file. */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, width: number): string => `${value.toString(8).padStart(width - 1, '0')}\0`;
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(size, 12), 124);
  header.write(octal(946684800, 12), 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}
