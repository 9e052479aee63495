// `hexproxy cache evict NAME[@VERSION]`: remove a package's cached tarballs (pinned or
// not: the operator asked) and, for a whole package, its registry file.
import { NotFoundError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, TarballRow } from '../store/cache-index.js';
import { removeTarball } from './evictor.js';
import { registryKey } from './layout.js';

export interface EvictReport {
  tarballs: TarballRow[];
  registryFile: boolean;
}

export async function evictPackage(index: CacheIndex, blobs: BlobStore, repo: string, name: string, version?: string): Promise<EvictReport> {
  const rows = index.listPackageTarballs(repo, name).filter((row) => version === undefined || row.version === version);
  for (const row of rows) await removeTarball(index, blobs, row);
  let registryFile = false;
  if (version === undefined && index.findRegistryFile(repo, `packages/${name}`)) {
    index.removeRegistryFile(repo, `packages/${name}`);
    await blobs.delete(registryKey(repo, `packages/${name}`));
    registryFile = true;
  }
  if (rows.length === 0 && !registryFile) {
    throw new NotFoundError(`nothing cached for ${name}${version ? ` ${version}` : ''}`);
  }
  return { tarballs: rows, registryFile };
}
