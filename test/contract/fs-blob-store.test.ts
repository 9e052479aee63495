// FsBlobStore passes the BlobStore contract; then what only a store on a local directory
// does: staged files named after their process, and the leftovers of dead ones removed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/store/blob-store.js';
import { FsBlobStore } from '../../src/store/fs-blob-store.js';
import { tempDir } from '../support/proxy.js';
import { blobStoreContract } from './blob-store-contract.js';

const roots = new WeakMap<BlobStore, string>();

async function open(root: string): Promise<FsBlobStore> {
  const store = await FsBlobStore.create(root);
  roots.set(store, root);
  return store;
}

blobStoreContract('FsBlobStore', {
  create: () => open(tempDir('hexproxy-blobs-')),
  reopen: async (store) => {
    const root = roots.get(store);
    if (root === undefined) throw new Error('not a store this test opened');
    return open(root);
  },
});

describe('FsBlobStore on a local directory', () => {
  it('keeps staged files in ROOT/.tmp, named after the writing process, and removes them at the commit', async () => {
    const root = tempDir('hexproxy-blobs-');
    const store = await open(root);
    const writer = await store.begin('registry/hexpm/names');
    await writer.write(Buffer.from('names'));
    expect(readdirSync(join(root, '.tmp'))).toEqual([expect.stringMatching(new RegExp(`^${process.pid}-[0-9a-f]{16}\\.partial$`))]);
    await writer.commit();
    expect(readdirSync(join(root, '.tmp'))).toEqual([]);
    expect(existsSync(join(root, 'registry/hexpm/names'))).toBe(true);
  });

  it('removes the staged files of processes that no longer run when it opens, and keeps those of live ones', async () => {
    const root = tempDir('hexproxy-blobs-');
    await open(root);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => live.once('exit', resolve));
    try {
      const livePid = live.pid;
      if (livePid === undefined) throw new Error('could not start a process');
      writeFileSync(join(root, '.tmp', `${dead}-0000000000000000.partial`), 'a crashed write');
      writeFileSync(join(root, '.tmp', `${livePid}-0000000000000000.partial`), 'a write in progress');
      const store = await open(root);
      expect(readdirSync(join(root, '.tmp'))).toEqual([`${livePid}-0000000000000000.partial`]);
      expect(await store.stagingByOtherProcesses()).toBe(true);
      live.kill();
      await exited;
      expect(await store.stagingByOtherProcesses()).toBe(false);
      await open(root);
      expect(readdirSync(join(root, '.tmp'))).toEqual([]);
    } finally {
      live.kill();
    }
  });
});
