// Makes a rename in a directory durable: without fsyncing the directory, a power cut can
// lose a file that was already renamed into place.
import { open } from 'node:fs/promises';

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
