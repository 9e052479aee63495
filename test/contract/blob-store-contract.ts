// What every BlobStore backend must do (src/store/blob-store.ts), as one suite a backend's
// test file runs with its factory: test/contract/fs-blob-store.test.ts for the file system.
// An object-store backend is one module plus a test file calling blobStoreContract.
//
// Only the interface is used here. The optional capabilities (localPath, committedAt and
// revision, stagingByOtherProcesses, deleteRevision) are checked when a backend has them.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { BlobStore, StoredBlob } from '../../src/store/blob-store.js';

export interface BlobStoreBackend {
  /** A store on new, empty storage. */
  create(): Promise<BlobStore>;
  /** Another store on the same storage as `store`: what a restarted server, or a CLI beside it, opens. */
  reopen(store: BlobStore): Promise<BlobStore>;
}

const bytes = (text: string): Buffer => Buffer.from(text);

async function streamed(blob: StoredBlob): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of blob.stream()) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function listed(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys.sort();
}

/** What every way of reading `key` sees: nothing, or the same whole bytes. */
async function seen(store: BlobStore, key: string): Promise<string | undefined> {
  const [blob, read, has] = await Promise.all([store.open(key), store.read(key), store.has(key)]);
  if (!blob) {
    expect(read, `read(${key}) without a blob`).toBeUndefined();
    expect(has, `has(${key}) without a blob`).toBe(false);
    return undefined;
  }
  expect(has, `has(${key})`).toBe(true);
  const viaStream = await streamed(blob);
  expect(blob.size, `size of ${key}`).toBe(viaStream.length);
  expect(read?.equals(viaStream), `read(${key}) and open(${key}).stream() agree`).toBe(true);
  return viaStream.toString();
}

/** Pseudo-random bytes, incompressible, the same for the same seed. */
function noise(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i += 1) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function blobStoreContract(name: string, backend: BlobStoreBackend): void {
  describe(`BlobStore contract: ${name}`, () => {
    describe('whole values', () => {
      it('has nothing under a key never written', async () => {
        const store = await backend.create();
        expect(await seen(store, 'registry/hexpm/names')).toBeUndefined();
      });

      it('gives back what was put, by open, stream, read and has, with its size', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/names', bytes('the names'));
        expect(await seen(store, 'registry/hexpm/names')).toBe('the names');
        expect((await store.open('registry/hexpm/names'))?.size).toBe(9);
      });

      it('keeps an empty value, of size 0', async () => {
        const store = await backend.create();
        await store.put('passthrough/empty', new Uint8Array(0));
        expect(await seen(store, 'passthrough/empty')).toBe('');
        expect((await store.open('passthrough/empty'))?.size).toBe(0);
      });

      it('keeps a large value whole, streamed in as many chunks as it takes', async () => {
        const store = await backend.create();
        const large = noise(3 * 1024 * 1024 + 17);
        await store.put('tarballs/hexpm/big/big-1.0.0.tar', large);
        const blob = await store.open('tarballs/hexpm/big/big-1.0.0.tar');
        expect(blob?.size).toBe(large.length);
        expect(blob && (await streamed(blob)).equals(large)).toBe(true);
        expect((await store.read('tarballs/hexpm/big/big-1.0.0.tar'))?.equals(large)).toBe(true);
      });

      it('replaces a value with another, of another size', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/versions', bytes('a longer first value'));
        await store.put('registry/hexpm/versions', bytes('short'));
        expect(await seen(store, 'registry/hexpm/versions')).toBe('short');
      });

      it('keeps keys apart: one key, one value', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/packages/a', bytes('a'));
        await store.put('registry/hexpm/packages/b', bytes('b'));
        await store.put('registry/acme/packages/a', bytes('acme a'));
        expect(await seen(store, 'registry/hexpm/packages/a')).toBe('a');
        expect(await seen(store, 'registry/hexpm/packages/b')).toBe('b');
        expect(await seen(store, 'registry/acme/packages/a')).toBe('acme a');
      });

      it('keeps what was committed for another store on the same storage', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/names', bytes('durable'));
        const again = await backend.reopen(store);
        expect(await seen(again, 'registry/hexpm/names')).toBe('durable');
      });
    });

    describe('staged writes', () => {
      it('shows nothing of a staged blob until it is committed, then all of it', async () => {
        const store = await backend.create();
        const writer = await store.begin('tarballs/hexpm/a/a-1.0.0.tar');
        await writer.write(bytes('first half, '));
        expect(await seen(store, 'tarballs/hexpm/a/a-1.0.0.tar')).toBeUndefined();
        expect(await listed(store, 'tarballs')).toEqual([]);
        await writer.write(bytes('second half'));
        expect(writer.bytesWritten).toBe(23);
        expect(await seen(store, 'tarballs/hexpm/a/a-1.0.0.tar')).toBeUndefined();
        await writer.commit();
        expect(await seen(store, 'tarballs/hexpm/a/a-1.0.0.tar')).toBe('first half, second half');
        expect(await listed(store, 'tarballs')).toEqual(['tarballs/hexpm/a/a-1.0.0.tar']);
      });

      it('keeps the old value whole while a new one is staged, and swaps it at the commit', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/names', bytes('old'));
        const writer = await store.begin('registry/hexpm/names');
        await writer.write(bytes('new, not yet'));
        expect(await seen(store, 'registry/hexpm/names')).toBe('old');
        await writer.commit();
        expect(await seen(store, 'registry/hexpm/names')).toBe('new, not yet');
      });

      it('shows another store on the same storage nothing staged, and the blob once committed', async () => {
        const store = await backend.create();
        const other = await backend.reopen(store);
        const writer = await store.begin('passthrough/docs/a-1.0.0.tar.gz');
        await writer.write(bytes('docs'));
        await writer.finish();
        expect(await seen(other, 'passthrough/docs/a-1.0.0.tar.gz')).toBeUndefined();
        expect(await listed(other, '')).toEqual([]);
        await writer.commit();
        expect(await seen(other, 'passthrough/docs/a-1.0.0.tar.gz')).toBe('docs');
      });

      it('finishes a staged blob (durable, closed) without showing it; commits it later', async () => {
        const store = await backend.create();
        const writer = await store.begin('registry/hexpm/versions');
        await writer.write(bytes('finished'));
        await writer.finish();
        await writer.finish();
        expect(await seen(store, 'registry/hexpm/versions')).toBeUndefined();
        await writer.commit();
        expect(await seen(store, 'registry/hexpm/versions')).toBe('finished');
      });

      it('throws a staged blob away on abort, leaving what was there; abort is safe twice and after a commit', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/names', bytes('kept'));
        const writer = await store.begin('registry/hexpm/names');
        await writer.write(bytes('thrown away'));
        await writer.abort();
        await writer.abort();
        expect(await seen(store, 'registry/hexpm/names')).toBe('kept');
        const fresh = await store.begin('tarballs/hexpm/b/b-1.0.0.tar');
        await fresh.abort();
        expect(await seen(store, 'tarballs/hexpm/b/b-1.0.0.tar')).toBeUndefined();
        const committed = await store.begin('tarballs/hexpm/c/c-1.0.0.tar');
        await committed.write(bytes('c'));
        await committed.commit();
        await committed.abort();
        expect(await seen(store, 'tarballs/hexpm/c/c-1.0.0.tar')).toBe('c');
        expect(await listed(store, '')).toEqual(['registry/hexpm/names', 'tarballs/hexpm/c/c-1.0.0.tar']);
      });

      it('lets the last commit win when two writers stage the same key', async () => {
        const store = await backend.create();
        const first = await store.begin('registry/hexpm/names');
        const second = await store.begin('registry/hexpm/names');
        await second.write(bytes('second'));
        await first.write(bytes('first'));
        await second.commit();
        expect(await seen(store, 'registry/hexpm/names')).toBe('second');
        await first.commit();
        expect(await seen(store, 'registry/hexpm/names')).toBe('first');
      });

      it('stages many blobs at once, each committed or aborted on its own', async () => {
        const store = await backend.create();
        const writers = await Promise.all(
          ['a', 'b', 'c', 'd'].map(async (name) => {
            const writer = await store.begin(`tarballs/hexpm/${name}/${name}-1.0.0.tar`);
            await writer.write(bytes(name));
            await writer.finish();
            return writer;
          }),
        );
        expect(await listed(store, '')).toEqual([]);
        for (const [i, writer] of writers.entries()) await (i % 2 === 0 ? writer.commit() : writer.abort());
        expect(await listed(store, 'tarballs')).toEqual(['tarballs/hexpm/a/a-1.0.0.tar', 'tarballs/hexpm/c/c-1.0.0.tar']);
      });
    });

    describe('delete and move', () => {
      it('deletes a blob, and deleting what is not there is no error', async () => {
        const store = await backend.create();
        await store.put('passthrough/docs/a-1.0.0.tar.gz', bytes('docs'));
        await store.delete('passthrough/docs/a-1.0.0.tar.gz');
        expect(await seen(store, 'passthrough/docs/a-1.0.0.tar.gz')).toBeUndefined();
        await store.delete('passthrough/docs/a-1.0.0.tar.gz');
        await store.delete('registry/hexpm/never-written');
        expect(await listed(store, '')).toEqual([]);
      });

      it('moves a blob to a new key under a new prefix, replacing what is there', async () => {
        const store = await backend.create();
        await store.put('tarballs/hexpm/a/a-1.0.0.tar', bytes('rotten'));
        await store.move('tarballs/hexpm/a/a-1.0.0.tar', 'quarantine/2024-01-01T00-00-00-000Z/tarballs/hexpm/a/a-1.0.0.tar');
        expect(await seen(store, 'tarballs/hexpm/a/a-1.0.0.tar')).toBeUndefined();
        expect(await seen(store, 'quarantine/2024-01-01T00-00-00-000Z/tarballs/hexpm/a/a-1.0.0.tar')).toBe('rotten');
        await store.put('registry/hexpm/names', bytes('new'));
        await store.put('registry/hexpm/old-names', bytes('old'));
        await store.move('registry/hexpm/names', 'registry/hexpm/old-names');
        expect(await seen(store, 'registry/hexpm/old-names')).toBe('new');
        expect(await seen(store, 'registry/hexpm/names')).toBeUndefined();
      });

      it('fails to move what is not there', async () => {
        const store = await backend.create();
        await expect(store.move('registry/hexpm/none', 'quarantine/x/registry/hexpm/none')).rejects.toThrow();
        expect(await listed(store, '')).toEqual([]);
      });
    });

    describe('listing', () => {
      it('lists every committed key under a prefix of whole segments, at any depth, and nothing else', async () => {
        const store = await backend.create();
        const keys = [
          'registry/hexpm/names',
          'registry/hexpm/packages/a',
          'registry/acme/packages/a',
          'tarballs/hexpm/a/a-1.0.0.tar',
          'tarballs2/x',
          'passthrough/repos/acme/docs/a-1.0.0.tar.gz',
        ];
        for (const key of keys) await store.put(key, bytes(key));
        expect(await listed(store, 'registry')).toEqual(['registry/acme/packages/a', 'registry/hexpm/names', 'registry/hexpm/packages/a']);
        expect(await listed(store, 'registry/hexpm')).toEqual(['registry/hexpm/names', 'registry/hexpm/packages/a']);
        expect(await listed(store, 'registry/hexpm/')).toEqual(['registry/hexpm/names', 'registry/hexpm/packages/a']);
        expect(await listed(store, 'tarballs')).toEqual(['tarballs/hexpm/a/a-1.0.0.tar']);
        expect(await listed(store, 'passthrough')).toEqual(['passthrough/repos/acme/docs/a-1.0.0.tar.gz']);
        expect(await listed(store, '')).toEqual([...keys].sort());
      });

      it('lists nothing under a prefix nothing was written under', async () => {
        const store = await backend.create();
        expect(await listed(store, 'tarballs')).toEqual([]);
        await store.put('registry/hexpm/names', bytes('names'));
        expect(await listed(store, 'tarballs')).toEqual([]);
        expect(await listed(store, 'registry/acme')).toEqual([]);
      });

      it('stops listing a key once it is deleted or moved', async () => {
        const store = await backend.create();
        await store.put('registry/hexpm/names', bytes('names'));
        await store.put('registry/hexpm/versions', bytes('versions'));
        await store.delete('registry/hexpm/names');
        await store.move('registry/hexpm/versions', 'quarantine/x/registry/hexpm/versions');
        expect(await listed(store, 'registry')).toEqual([]);
        expect(await listed(store, 'quarantine')).toEqual(['quarantine/x/registry/hexpm/versions']);
      });
    });

    describe('keys', () => {
      const invalid = [
        '',
        '/registry/hexpm/names',
        'registry//names',
        'registry/../keys/private',
        '../outside',
        'registry/./names',
        '.tmp/x',
        'registry/has space',
        'a\\b',
        `x/${'a'.repeat(600)}`,
      ];

      it.each(invalid)('refuses the key %j in every method', async (key) => {
        const store = await backend.create();
        await expect(store.put(key, bytes('x'))).rejects.toThrow(/invalid blob key/);
        await expect(store.begin(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.open(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.read(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.has(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.delete(key)).rejects.toThrow(/invalid blob key/);
        await store.put('registry/hexpm/names', bytes('names'));
        await expect(store.move('registry/hexpm/names', key)).rejects.toThrow(/invalid blob key/);
        expect(await seen(store, 'registry/hexpm/names')).toBe('names');
        expect(await listed(store, '')).toEqual(['registry/hexpm/names']);
      });

      it('refuses to list under an invalid prefix', async () => {
        const store = await backend.create();
        await expect(listed(store, '../outside')).rejects.toThrow(/invalid blob key/);
        await expect(listed(store, 'registry/../..')).rejects.toThrow(/invalid blob key/);
      });

      it('takes the characters of package names, versions and build paths', async () => {
        const store = await backend.create();
        const keys = [
          'tarballs/hexpm/a_b/a_b-1.0.0-rc.1+build.5.tar',
          'passthrough/installs/1.14.0/hex-2.0.6-otp-25.ez',
          'passthrough/installs/rebar3-3.22.1',
        ];
        for (const key of keys) await store.put(key, bytes(key));
        for (const key of keys) expect(await seen(store, key)).toBe(key);
        expect(await listed(store, '')).toEqual([...keys].sort());
      });
    });

    describe('optional capabilities', () => {
      it('names the local file of a committed blob, if the backend keeps one', async () => {
        const store = await backend.create();
        if (!store.localPath) return;
        await store.put('tarballs/hexpm/a/a-1.0.0.tar', bytes('on disk'));
        const path = store.localPath('tarballs/hexpm/a/a-1.0.0.tar');
        expect((await readFile(path)).toString()).toBe('on disk');
        const blob = await store.open('tarballs/hexpm/a/a-1.0.0.tar');
        expect(blob?.filePath).toBe(path);
        expect(() => store.localPath?.('../outside')).toThrow(/invalid blob key/);
      });

      it('tells when a blob was committed, and a revision that changes with each commit, if it can', async () => {
        const store = await backend.create();
        const before = Date.now();
        await store.put('registry/hexpm/names', bytes('one'));
        const after = Date.now();
        const first = await store.open('registry/hexpm/names');
        expect(first?.committedAt === undefined).toBe(first?.revision === undefined);
        if (first?.committedAt === undefined) return;
        // File systems stamp times with a coarse clock: allow it a second either way.
        expect(first.committedAt).toBeGreaterThanOrEqual(before - 1000);
        expect(first.committedAt).toBeLessThanOrEqual(after + 1000);
        expect((await store.open('registry/hexpm/names'))?.revision).toBe(first.revision);
        await store.put('registry/hexpm/names', bytes('one'));
        expect((await store.open('registry/hexpm/names'))?.revision).not.toBe(first.revision);
      });

      it('deletes a blob only while it is the revision named and the caller still confirms', async () => {
        const store = await backend.create();
        if (!store.deleteRevision) return;
        const key = 'tarballs/hexpm/a/a-1.0.0.tar';
        expect(await store.deleteRevision(key, 'no such revision', () => true)).toBe(false);
        await store.put(key, bytes('first'));
        const first = (await store.open(key))?.revision;
        if (first === undefined) throw new Error('a store with deleteRevision must tell revisions');
        expect(await store.deleteRevision(key, first, () => false)).toBe(false);
        expect(await seen(store, key)).toBe('first');
        await store.put(key, bytes('second'));
        expect(await store.deleteRevision(key, first, () => true)).toBe(false);
        expect(await seen(store, key)).toBe('second');
        const second = (await store.open(key))?.revision ?? '';
        expect(await store.deleteRevision(key, second, () => true)).toBe(true);
        expect(await seen(store, key)).toBeUndefined();
      });

      it('never removes a commit made while a conditional delete of the old revision runs', async () => {
        const store = await backend.create();
        if (!store.deleteRevision) return;
        const key = 'registry/hexpm/names';
        for (let round = 0; round < 20; round += 1) {
          await store.put(key, bytes(`old ${round}`));
          const old = (await store.open(key))?.revision ?? '';
          const writer = await store.begin(key);
          await writer.write(bytes(`new ${round}`));
          // Both at once: whichever reaches the key first, the new bytes stay.
          await Promise.all([writer.commit(), store.deleteRevision(key, old, () => true)]);
          expect(await seen(store, key), `round ${round}`).toBe(`new ${round}`);
        }
      });

      it('does not count its own staged writes as another process writing', async () => {
        const store = await backend.create();
        if (!store.stagingByOtherProcesses) return;
        const other = await backend.reopen(store);
        expect(await store.stagingByOtherProcesses()).toBe(false);
        const writer = await store.begin('registry/hexpm/names');
        await writer.write(bytes('staged'));
        expect(await store.stagingByOtherProcesses()).toBe(false);
        expect(await other.stagingByOtherProcesses?.()).toBe(false);
        await writer.abort();
      });
    });
  });
}
