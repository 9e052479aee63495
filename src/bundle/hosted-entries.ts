// Hosted repositories in a bundle (docs/bundle-format.md, "Hosted repositories"): what the
// exporter writes for each release (its registry file, its facts, its tarball and docs),
// and the shape of the facts both sides agree on. The registry file is the one the
// exporter built and signed with its own key; the facts carry what no registry file says
// (who published, when it was last replaced, the docs).
import { Readable } from 'node:stream';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { HostedRelease, HostedStore } from '../hosted/hosted-store.js';
import { RETIREMENT_REASONS, type Retirement } from '../hosted/release.js';
import { sortVersions } from '../hosted/registry-builder.js';
import type { StoredBlob } from '../store/blob-store.js';
import { hostedEntryPath, type HostedTarget } from './manifest.js';

/** A release's facts file is small; anything larger is not one. */
export const MAX_RELEASE_FACTS_BYTES = 64 * 1024;

const isoMillis = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'must be an ISO 8601 UTC time with milliseconds');

const factsSchema = z.strictObject({
  repository: z.string(),
  name: z.string(),
  version: z.string(),
  /** The name of the token that published (or last replaced) it. */
  publisher: z.string().min(1).max(256),
  publishedAt: isoMillis,
  updatedAt: isoMillis,
  retirement: z.strictObject({ reason: z.enum(RETIREMENT_REASONS), message: z.string().max(1024) }).nullable(),
  docs: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().min(0), publishedAt: isoMillis }).nullable(),
});

/** hosted/REPO/releases/NAME-VERSION.json. */
export type ReleaseFacts = z.infer<typeof factsSchema>;

export function releaseFactsOf(release: HostedRelease): ReleaseFacts {
  return {
    repository: release.repository,
    name: release.name,
    version: release.version,
    publisher: release.publisher,
    publishedAt: new Date(release.publishedAt).toISOString(),
    updatedAt: new Date(release.updatedAt).toISOString(),
    retirement: release.retirement ? { reason: release.retirement.reason, message: release.retirement.message } : null,
    docs: release.docs
      ? { sha256: release.docs.sha256, size: release.docs.size, publishedAt: new Date(release.docs.publishedAt).toISOString() }
      : null,
  };
}

/** The same facts always make the same bytes (the field order is the schema's), so --since finds them unchanged. */
export function serializeReleaseFacts(facts: ReleaseFacts): Buffer {
  return Buffer.from(`${JSON.stringify(facts, null, 2)}\n`);
}

/** The facts in `bytes`, or what is wrong with them. */
export function parseReleaseFacts(bytes: Buffer): ReleaseFacts | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error: unknown) {
    return { problem: `is not JSON: ${errorMessage(error)}` };
  }
  const parsed = factsSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  return { problem: `is malformed: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}` };
}

export const sameRetirement = (a: Retirement | undefined, b: ReleaseFacts['retirement']): boolean =>
  (a === undefined && b === null) || (a !== undefined && b !== null && a.reason === b.reason && a.message === b.message);

/** What an export reads of the hosted store. */
export type HostedExportSource = Pick<HostedStore, 'allReleases' | 'registryFile' | 'tarballFile' | 'docsFile' | 'open'>;

/** One entry to write: where, and how to read its bytes when they are hashed and when they are written. */
export interface HostedExportItem {
  target: HostedTarget;
  path: string;
  /** When it last changed (ms), for `export --since TIME`. */
  changedAt: number;
  open: () => Promise<StoredBlob | undefined>;
}

/**
 * Every entry of the hosted repositories `repositories` (or only of `releases`, by
 * "REPO/NAME/VERSION"), in the order the format needs: per package its registry file,
 * then per release its facts, tarball and docs. Packages by name, releases oldest first.
 */
export async function hostedExportItems(
  source: HostedExportSource,
  repositories: readonly string[],
  releases?: ReadonlySet<string>,
): Promise<{ items: HostedExportItem[]; failed: { path: string; reason: string }[] }> {
  const items: HostedExportItem[] = [];
  const failed: { path: string; reason: string }[] = [];
  const wanted = new Set(repositories);
  const byPackage = new Map<string, HostedRelease[]>();
  for (const release of source.allReleases()) {
    if (!wanted.has(release.repository)) continue;
    if (releases && !releases.has(`${release.repository}/${release.name}/${release.version}`)) continue;
    const key = `${release.repository}/${release.name}`;
    byPackage.set(key, [...(byPackage.get(key) ?? []), release]);
  }
  const order = [...byPackage.keys()].sort((a, b) => {
    const [repoA = '', nameA = ''] = a.split('/');
    const [repoB = '', nameB = ''] = b.split('/');
    return repositories.indexOf(repoA) - repositories.indexOf(repoB) || compare(nameA, nameB);
  });
  for (const key of order) {
    const packageReleases = sortVersions(byPackage.get(key) ?? []);
    const first = packageReleases[0];
    if (!first) continue;
    const { repository, name } = first;
    const registryTarget: HostedTarget = { kind: 'hosted', repository, what: 'registry', name };
    const registry = await source.registryFile(repository, `packages/${name}`);
    if (!registry) {
      failed.push({
        path: hostedEntryPath(registryTarget),
        reason: `hosted repository ${repository} has releases of ${name} but no registry file for it`,
      });
      continue;
    }
    items.push(bufferItem(registryTarget, registry.body, registry.builtAt));
    for (const release of packageReleases) {
      const { version } = release;
      const facts = releaseFactsOf(release);
      const changedAt = Math.max(release.updatedAt, release.docs?.publishedAt ?? 0);
      items.push(bufferItem({ kind: 'hosted', repository, what: 'release', name, version }, serializeReleaseFacts(facts), changedAt));
      items.push(fileItem(source, { kind: 'hosted', repository, what: 'tarball', name, version }, release.updatedAt, 'tarball'));
      if (release.docs) items.push(fileItem(source, { kind: 'hosted', repository, what: 'docs', name, version }, release.docs.publishedAt, 'docs'));
    }
  }
  return { items, failed };
}

function bufferItem(target: HostedTarget, bytes: Buffer, changedAt: number): HostedExportItem {
  return {
    target,
    path: hostedEntryPath(target),
    changedAt,
    open: () => Promise.resolve({ size: bytes.length, stream: () => Readable.from([bytes]) }),
  };
}

function fileItem(
  source: HostedExportSource,
  target: HostedTarget & { version: string },
  changedAt: number,
  what: 'tarball' | 'docs',
): HostedExportItem {
  const { repository, name, version } = target;
  return {
    target,
    path: hostedEntryPath(target),
    changedAt,
    open: async () => {
      const file = what === 'tarball' ? source.tarballFile(repository, name, version) : source.docsFile(repository, name, version);
      return file && source.open(file, `${what} of ${repository}/${name} ${version}`);
    },
  };
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
