// Directories whose creation survives a power cut: a new directory's entry lives in its
// parent, which is fsynced after each mkdir (FsBlobStore fsyncs the directory a file is
// renamed into, not the parents of directories it creates).
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE } from '../store/private-files.js';
import { syncDirectory } from '../store/sync-directory.js';

/** `mkdir -p` (0700) where each directory it creates is made durable by fsyncing its parent. */
export async function makeDurableDir(dir: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return;
  } catch (error: unknown) {
    if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
  }
  const parent = dirname(dir);
  if (parent !== dir) await makeDurableDir(parent);
  try {
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
  } catch (error: unknown) {
    if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST')) throw error;
  }
  await syncDirectory(parent);
}
