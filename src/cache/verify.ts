// `hexproxy cache verify`: re-hash every cached tarball against the index and re-verify
// every cached registry file with the upstream key; move what fails into quarantine/ so
// it is never served, and report it.
import { createHash, type KeyObject } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { openRegistryFile } from '../registry/registry-file.js';
import { resourceAt, type RegistryResource } from '../registry/resource.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import { quarantineKey, registryKey, tarballKey } from './layout.js';

export interface VerifyProblem {
  key: string;
  reason: string;
  /** Where the bytes went; undefined when they were missing. */
  quarantinedAs?: string;
}

export interface VerifyReport {
  checked: number;
  ok: number;
  /** Registry files of repositories not configured any more: no key to check them with, so left as they are. */
  skipped: string[];
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  index: CacheIndex;
  blobs: BlobStore;
  /** The key a repository's registry files verify with (its own for an organization); undefined for one not configured. */
  registryKey: (repo: string) => KeyObject | undefined;
  maxRegistryBytes: number;
  /** After each item: its key (as in the report's problems) and whether it verified. */
  onProgress?: (done: number, total: number, item: { key: string; ok: boolean }) => void;
}

export async function verifyCache(options: VerifyOptions): Promise<VerifyReport> {
  const { index, blobs } = options;
  const tarballs = index.listTarballs();
  const registry = index.listRegistryFiles();
  const total = tarballs.length + registry.length;
  const report: VerifyReport = { checked: 0, ok: 0, skipped: [], problems: [] };
  const quarantine = async (key: string, reason: string, remove: () => void): Promise<void> => {
    remove();
    const target = quarantineKey(key, new Date());
    try {
      await blobs.move(key, target);
      report.problems.push({ key, reason, quarantinedAs: target });
    } catch {
      report.problems.push({ key, reason });
    }
  };
  const step = (key: string, problemsBefore: number): void => {
    report.checked += 1;
    options.onProgress?.(report.checked, total, { key, ok: report.problems.length === problemsBefore });
  };

  for (const row of tarballs) {
    const key = tarballKey(row.repo, row.name, row.version);
    const problemsBefore = report.problems.length;
    const blob = await blobs.open(key);
    if (!blob) {
      index.removeTarball(row.repo, row.name, row.version);
      report.problems.push({ key, reason: 'indexed but missing on disk; removed from the index' });
    } else {
      const hash = createHash('sha256');
      for await (const chunk of blob.stream()) hash.update(chunk as Buffer);
      const actual = hash.digest('hex');
      if (actual === row.sha256 && blob.size === row.size) report.ok += 1;
      else
        await quarantine(key, `SHA-256 ${actual} (${blob.size} bytes), index says ${row.sha256} (${row.size} bytes)`, () =>
          index.removeTarball(row.repo, row.name, row.version),
        );
    }
    step(key, problemsBefore);
  }

  for (const row of registry) {
    const key = registryKey(row.repo, row.path);
    const problemsBefore = report.problems.length;
    const body = await blobs.read(key);
    const resource: RegistryResource = resourceAt(row.path) ?? { kind: 'versions' };
    const publicKey = options.registryKey(row.repo);
    if (publicKey === undefined) {
      report.skipped.push(key);
    } else if (!body) {
      index.removeRegistryFile(row.repo, row.path);
      report.problems.push({ key, reason: 'indexed but missing on disk; removed from the index' });
    } else {
      try {
        await openRegistryFile(body, resource, { publicKey, repository: row.repo, maxBytes: options.maxRegistryBytes, source: 'cache' });
        report.ok += 1;
      } catch (error: unknown) {
        await quarantine(key, errorMessage(error), () => index.removeRegistryFile(row.repo, row.path));
      }
    }
    step(key, problemsBefore);
  }
  return report;
}
