// `hexproxy cache verify` for hosted repositories: every stored tarball and docs file hashed
// against its release's row, every stored registry file checked for hexproxy's signature
// and its repository, and against the payload its rows make now. Hosted packages are data:
// what is wrong is reported, never moved or deleted (restore DATA_DIR/hosted from a backup).
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { openRegistryFile } from '../registry/registry-file.js';
import { resourceAt } from '../registry/resource.js';
import type { HostedBlobFile, HostedStore } from './hosted-store.js';

export interface HostedVerifyProblem {
  /** What is wrong: "hosted/acme/tarballs/foo-1.0.0", "hosted/acme/registry/packages/foo". */
  key: string;
  reason: string;
}

export interface HostedVerifyReport {
  checked: number;
  ok: number;
  /** Repositories the database holds that are no longer configured under hosted: left unchecked. */
  skipped: string[];
  problems: HostedVerifyProblem[];
}

export interface HostedVerifyOptions {
  /** After each item: its key and whether it verified. */
  onProgress?: (done: number, total: number, item: { key: string; ok: boolean }) => void;
}

/** How many items verifyHosted checks (for a progress bar). */
export function hostedItemCount(store: HostedStore): number {
  const releases = store.allReleases().filter((release) => store.hosts(release.repository));
  const registry = store.registryPaths().filter((file) => store.hosts(file.repository));
  return releases.length + releases.filter((release) => release.docs !== undefined).length + registry.length;
}

export async function verifyHosted(store: HostedStore, options: HostedVerifyOptions = {}): Promise<HostedVerifyReport> {
  const report: HostedVerifyReport = { checked: 0, ok: 0, skipped: [], problems: [] };
  const skip = (repository: string): boolean => {
    if (store.hosts(repository)) return false;
    if (!report.skipped.includes(repository)) report.skipped.push(repository);
    return true;
  };
  const total = hostedItemCount(store);
  const done = (key: string, problem: string | undefined): void => {
    report.checked += 1;
    if (problem === undefined) report.ok += 1;
    else report.problems.push({ key, reason: problem });
    options.onProgress?.(report.checked, total, { key, ok: problem === undefined });
  };

  for (const release of store.allReleases()) {
    if (skip(release.repository)) continue;
    const stem = `hosted/${release.repository}`;
    const tarball = store.tarballFile(release.repository, release.name, release.version);
    done(`${stem}/tarballs/${release.name}-${release.version}.tar`, await fileProblem(store, tarball, release.outerChecksum.toString('hex')));
    const docs = store.docsFile(release.repository, release.name, release.version);
    if (docs) done(`${stem}/docs/${release.name}-${release.version}.tar.gz`, await fileProblem(store, docs, docs.sha256));
  }

  for (const { repository, path } of store.registryPaths()) {
    if (skip(repository)) continue;
    done(`hosted/${repository}/registry/${path}`, await registryProblem(store, repository, path));
  }
  return report;
}

async function fileProblem(store: HostedStore, file: HostedBlobFile | undefined, sha256: string): Promise<string | undefined> {
  if (!file) return 'its release vanished while it was checked';
  const bytes = await store.read(file);
  if (!bytes) return `its file ${file.key} is missing`;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== file.size || actual !== sha256) {
    return `its file ${file.key} has SHA-256 ${actual} (${bytes.length} bytes); the release's row says ${sha256} (${file.size} bytes)`;
  }
  return undefined;
}

async function registryProblem(store: HostedStore, repository: string, path: string): Promise<string | undefined> {
  const stored = store.storedRegistryFile(repository, path);
  const resource = resourceAt(path);
  if (!stored || !resource) return 'it is not a registry file hexproxy writes';
  let payload: Buffer;
  try {
    ({ payload } = await openRegistryFile(stored.body, resource, {
      publicKey: store.registryKey,
      repository,
      maxBytes: 256 * 1024 * 1024,
      source: 'cache',
    }));
  } catch (error: unknown) {
    return errorMessage(error);
  }
  const expected = store.expectedPayload(repository, path);
  if (!expected) return 'it describes a package that has no release any more';
  if (!expected.equals(payload)) return 'it does not say what the published releases say (its rows were changed without it)';
  return undefined;
}
