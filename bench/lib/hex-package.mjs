// Valid Hex package tarballs (package_tarball.md, version 3) of a chosen size, for the
// publish bench: what hexproxy validates (VERSION, CHECKSUM, metadata.config, a safe
// contents.tar.gz) is all real; the padding file is random, so the size is what is sent.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** A tar of `entries` ([name, bytes]), as one Buffer. */
export function packTar(entries) {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks = [];
    pack.on('data', (chunk) => chunks.push(chunk));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const [name, bytes] of entries) pack.entry({ name, size: bytes.length, mtime: new Date(0), mode: 0o644 }, bytes);
    pack.finalize();
  });
}

/** Deterministic incompressible bytes from a seed (SHA-256 in counter mode). */
export function seededBytes(seed, length) {
  const out = Buffer.alloc(length);
  for (let offset = 0, counter = 0; offset < length; counter += 1) {
    const block = createHash('sha256').update(`${seed}:${counter}`).digest();
    block.copy(out, offset, 0, Math.min(block.length, length - offset));
    offset += block.length;
  }
  return out;
}

const binary = (text) => `<<"${text}">>`;

/** A package NAME at VERSION whose tarball is about `bytes` long (never less than ~1 KB). */
export async function buildHexPackage({ name, version, bytes = 50_000 }) {
  const source = Buffer.from(`-module(${name}).\n-export([version/0]).\nversion() -> <<"${version}">>.\n`);
  const files = [
    [`src/${name}.erl`, source],
    ['priv/padding.bin', seededBytes(`${name}-${version}`, Math.max(0, bytes - 3000))],
  ];
  const contents = gzipSync(await packTar(files));
  const metadata = Buffer.from(
    [
      `{${binary('name')},${binary(name)}}.`,
      `{${binary('version')},${binary(version)}}.`,
      `{${binary('app')},${binary(name)}}.`,
      `{${binary('description')},${binary('A package published by the hexproxy bench')}}.`,
      `{${binary('licenses')},[${binary('Apache-2.0')}]}.`,
      `{${binary('build_tools')},[${binary('rebar3')}]}.`,
      `{${binary('files')},[${files.map(([file]) => binary(file)).join(',')}]}.`,
      `{${binary('requirements')},[]}.`,
      '',
    ].join('\n'),
  );
  const versionFile = Buffer.from('3');
  const checksum = createHash('sha256').update(versionFile).update(metadata).update(contents).digest('hex').toUpperCase();
  return packTar([
    ['VERSION', versionFile],
    ['CHECKSUM', Buffer.from(checksum)],
    ['metadata.config', metadata],
    ['contents.tar.gz', contents],
  ]);
}
