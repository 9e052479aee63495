// Deterministic tar writing and tar reading, for building and inspecting package tarballs.
import tarStream from 'tar-stream';

export interface TarEntry {
  name: string;
  data: Buffer;
}

// Every entry gets the same owner, mode and mtime, so equal entries give equal bytes.
const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

export async function packTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const { name, data } of entries) {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: '', gname: '', type: 'file' }, data);
  }
  pack.finalize();
  return collect(pack);
}

/** The regular files of a tar, by name, in archive order. */
export async function readTar(tar: Buffer): Promise<Map<string, Buffer>> {
  const extract = tarStream.extract();
  const files = new Map<string, Buffer>();
  extract.end(tar);
  for await (const entry of extract) {
    const data = await collect(entry);
    if (entry.header.type === 'file') files.set(entry.header.name, data);
  }
  return files;
}

// tar-stream's typings yield `unknown`; its streams carry Buffers.
async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('tar stream produced a non-binary chunk');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
