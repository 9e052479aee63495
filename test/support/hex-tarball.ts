// Real Hex package tarballs (package_tarball.md, version 3) whose contents rebar3 can
// compile: src/NAME.app.src and src/NAME.erl. The same spec always gives the same bytes.
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { packTar, readTar, type TarEntry } from './tar.js';

export interface DependencySpec {
  package: string;
  requirement: string;
  optional?: boolean;
  /** OTP application name; defaults to the package name. */
  app?: string;
  /** Repository of the dependency; metadata.config says "hexpm" when unset. */
  repository?: string;
}

export interface TarballSpec {
  name: string;
  version: string;
  dependencies?: DependencySpec[];
  /** OTP application name; defaults to the package name. */
  app?: string;
  description?: string;
  /** Adds priv/padding.bin of this many pseudo-random (incompressible) bytes. */
  padBytes?: number;
  /** Seed of the padding; defaults to "NAME-VERSION". */
  padSeed?: string;
}

export interface BuiltTarball {
  tar: Buffer;
  /** SHA-256 of VERSION ‖ metadata.config ‖ contents.tar.gz (what CHECKSUM holds, as bytes). */
  innerChecksum: Buffer;
  /** SHA-256 of the whole tar. */
  outerChecksum: Buffer;
}

export interface HexTarballParts {
  version: Buffer;
  checksum: string;
  metadata: Buffer;
  contents: Buffer;
}

const sha256 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

export const innerChecksumOf = (parts: Pick<HexTarballParts, 'version' | 'metadata' | 'contents'>): Buffer =>
  sha256(parts.version, parts.metadata, parts.contents);

export async function buildHexTarball(spec: TarballSpec): Promise<BuiltTarball> {
  const version = Buffer.from('3');
  const sources = sourceFiles(spec);
  const metadata = Buffer.from(
    metadataConfig(
      spec,
      sources.map((file) => file.name),
    ),
  );
  const contents = gzipSync(await packTar(sources));
  const innerChecksum = innerChecksumOf({ version, metadata, contents });
  const tar = await packTar([
    { name: 'VERSION', data: version },
    { name: 'CHECKSUM', data: Buffer.from(innerChecksum.toString('hex').toUpperCase()) },
    { name: 'metadata.config', data: metadata },
    { name: 'contents.tar.gz', data: contents },
  ]);
  return { tar, innerChecksum, outerChecksum: sha256(tar) };
}

/** The four entries of a Hex tarball; throws if one is missing. */
export async function readHexTarball(tar: Buffer): Promise<HexTarballParts> {
  const files = await readTar(tar);
  const entry = (name: string): Buffer => {
    const data = files.get(name);
    if (!data) throw new Error(`tarball has no ${name}`);
    return data;
  };
  return {
    version: entry('VERSION'),
    checksum: entry('CHECKSUM').toString(),
    metadata: entry('metadata.config'),
    contents: entry('contents.tar.gz'),
  };
}

function sourceFiles(spec: TarballSpec): TarEntry[] {
  const files: TarEntry[] = [
    { name: `src/${spec.name}.app.src`, data: Buffer.from(appSrc(spec)) },
    { name: `src/${spec.name}.erl`, data: Buffer.from(erlModule(spec)) },
  ];
  if (spec.padBytes) files.push({ name: 'priv/padding.bin', data: seededBytes(spec.padSeed ?? `${spec.name}-${spec.version}`, spec.padBytes) });
  return files;
}

function metadataConfig(spec: TarballSpec, files: string[]): string {
  const requirements = (spec.dependencies ?? []).map(
    (dep) =>
      `[{<<"app">>,${binary(dep.app ?? dep.package)}},{<<"name">>,${binary(dep.package)}},` +
      `{<<"optional">>,${dep.optional === true}},{<<"repository">>,${binary(dep.repository ?? 'hexpm')}},` +
      `{<<"requirement">>,${binary(dep.requirement)}}]`,
  );
  const dirs = [...new Set(files.map((file) => file.slice(0, file.indexOf('/'))))];
  return [
    `{<<"app">>,${binary(spec.app ?? spec.name)}}.`,
    `{<<"build_tools">>,[<<"rebar3">>]}.`,
    `{<<"description">>,${binary(description(spec))}}.`,
    `{<<"files">>,[${[...dirs, ...files].map(binary).join(',')}]}.`,
    `{<<"licenses">>,[<<"Apache-2.0">>]}.`,
    `{<<"name">>,${binary(spec.name)}}.`,
    `{<<"requirements">>,[${requirements.join(',')}]}.`,
    `{<<"version">>,${binary(spec.version)}}.`,
    '',
  ].join('\n');
}

function appSrc(spec: TarballSpec): string {
  const runtime = (spec.dependencies ?? []).filter((dep) => dep.optional !== true).map((dep) => atom(dep.app ?? dep.package));
  return [
    `{application, ${atom(spec.app ?? spec.name)}, [`,
    `  {description, ${string(description(spec))}},`,
    `  {vsn, ${string(spec.version)}},`,
    `  {registered, []},`,
    `  {applications, [${['kernel', 'stdlib', ...runtime].join(', ')}]},`,
    `  {env, []},`,
    `  {modules, []},`,
    `  {licenses, ["Apache-2.0"]}`,
    `]}.`,
    '',
  ].join('\n');
}

function erlModule(spec: TarballSpec): string {
  return [`-module(${atom(spec.name)}).`, `-export([version/0]).`, '', `version() -> ${string(spec.version)}.`, ''].join('\n');
}

const description = (spec: TarballSpec): string => spec.description ?? `${spec.name} test package`;

// Erlang literals. Atoms are always quoted so reserved words (`end`, `if`) stay atoms.
const escape = (text: string): string => text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n');
const string = (text: string): string => `"${escape(text)}"`;
const atom = (name: string): string => `'${name.replace(/[\\']/g, (c) => `\\${c}`)}'`;
const binary = (text: string): string => `<<"${escape(text)}"${/^[\x00-\x7f]*$/.test(text) ? '' : '/utf8'}>>`;

/** Pseudo-random bytes from a seed: AES-128-CTR over zeros, fast even for many megabytes. */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}
