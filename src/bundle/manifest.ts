// The manifest of an air-gap bundle (docs/bundle-format.md): what it holds, with sizes and
// SHA-256s, and the shapes an entry path may take. Paths are parsed, never joined:
// blob keys are built from the validated name and version (or installs path), so no path can escape.
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { isPackageName, isVersion, resourcePath, splitRelease, type RegistryResource } from '../registry/resource.js';
import { classifyInstallsPath, isSafeInstallsPath, type InstallsPath } from '../installs/builds-csv.js';
import { BundleError } from './bundle-error.js';

export const BUNDLE_FORMAT = 'hexproxy-bundle';
/** What this hexproxy writes: signed (manifest.sig), with upstream's-word times. It reads 1 too. */
export const BUNDLE_FORMAT_VERSION = 2;
export const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];
export const MANIFEST_PATH = 'manifest.json';
/** Format 2: the exporter's signature of manifest.json's bytes, the second tar entry. */
export const MANIFEST_SIGNATURE_PATH = 'manifest.sig';
/** A manifest lists ~200 bytes per entry; this allows several hundred thousand entries. */
export const MAX_MANIFEST_BYTES = 128 * 1024 * 1024;
/** A 4096-bit RSA signature is 700 characters of base64; this leaves room for any key hexproxy accepts. */
export const MAX_MANIFEST_SIGNATURE_BYTES = 16 * 1024;

export const BUNDLE_ENTRY_KINDS = ['registry', 'tarball', 'installs', 'hosted'] as const;
export type BundleEntryKind = (typeof BUNDLE_ENTRY_KINDS)[number];

export interface BundleEntry {
  /**
   * "registry/names", "registry/versions", "registry/packages/NAME", "tarballs/NAME-VERSION.tar",
   * the same under "repos/ORG/" for organization ORG, "installs/PATH", or for hosted
   * repository REPO "hosted/REPO/registry/packages/NAME", "hosted/REPO/releases/NAME-VERSION.json",
   * "hosted/REPO/tarballs/NAME-VERSION.tar" and "hosted/REPO/docs/NAME-VERSION.tar.gz".
   */
  path: string;
  size: number;
  /** Lowercase hex SHA-256 of the entry's bytes. */
  sha256: string;
  kind: BundleEntryKind;
  /** The package, for "registry/packages/NAME", tarballs and hosted entries. */
  name?: string;
  /** The release, for tarballs and a hosted release's entries. */
  version?: string;
  /**
   * Format 2, registry files and installs lists only: when the exporter last had upstream's
   * word for these bytes (ISO 8601, UTC, milliseconds). Absent when it does not know.
   */
  upstreamAsOf?: string;
}

/** What an incremental bundle leaves out: what an earlier bundle held, or what was fetched before a time. */
export type BundleSince = { bundleCreatedAt: string } | { fetchedAfter: string };

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  formatVersion: 1 | 2;
  /** ISO 8601, UTC. */
  createdAt: string;
  upstream: { url: string; repository: string };
  since?: BundleSince;
  /** Format 2: whose key signed manifest.sig (SHA-256 of its DER SubjectPublicKeyInfo, hex). */
  signer?: { fingerprint: string };
  entries: BundleEntry[];
}

/** What an entry path names; `organization` is set for an organization's files ("repos/ORG/…"). */
export type EntryTarget =
  | { kind: 'registry'; resource: RegistryResource; organization?: string }
  | { kind: 'tarball'; name: string; version: string; organization?: string }
  /** `path` is relative to /installs/; `what` is never "unknown". */
  | { kind: 'installs'; path: string; what: Exclude<InstallsPath, { kind: 'unknown' }> }
  | HostedTarget;

/**
 * A hosted repository's entry (hexproxy's own packages, not upstream's): a package's registry
 * file as the exporter built and signed it, and per release its facts (.json), tarball and docs.
 */
export type HostedTarget =
  | { kind: 'hosted'; repository: string; what: 'registry'; name: string }
  | { kind: 'hosted'; repository: string; what: 'release' | 'tarball' | 'docs'; name: string; version: string };

const isoDate = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date');
/** Exactly as Date.prototype.toISOString writes it, so that times compare to the millisecond. */
const isoMillis = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'must be an ISO 8601 UTC time with milliseconds (2026-11-22T02:27:27.736Z)')
  .refine((value) => !Number.isNaN(Date.parse(value)), 'must be a valid time');
export const FINGERPRINT = /^[0-9a-f]{64}$/;

// Unknown fields are ignored so that later writers can add some within a format version.
const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  formatVersion: z.union([z.literal(1), z.literal(2)]),
  createdAt: isoDate,
  upstream: z.object({ url: z.string(), repository: z.string().min(1) }),
  since: z.union([z.object({ bundleCreatedAt: isoDate }), z.object({ fetchedAfter: isoDate })]).optional(),
  signer: z.object({ fingerprint: z.string().regex(FINGERPRINT, 'must be 64 lowercase hex digits') }).optional(),
  entries: z.array(
    z.object({
      path: z.string().min(1).max(1024),
      size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
      kind: z.enum(BUNDLE_ENTRY_KINDS),
      name: z.string().optional(),
      version: z.string().optional(),
      upstreamAsOf: isoMillis.optional(),
    }),
  ),
});

const refusal =
  (source: string) =>
  (reason: string, cause?: unknown): BundleError =>
    new BundleError(`${source}: ${MANIFEST_PATH}: ${reason}`, [{ path: MANIFEST_PATH, reason }], cause === undefined ? undefined : { cause });

/**
 * The JSON of manifest.json, with its format and a version this hexproxy reads: enough to
 * find the signer and check manifest.sig before anything else of it is believed.
 */
export function readManifestHead(bytes: Uint8Array, source: string): { json: Record<string, unknown>; formatVersion: 1 | 2; fingerprint?: string } {
  const refuse = refusal(source);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error: unknown) {
    throw refuse(`is not JSON: ${errorMessage(error)}`, error);
  }
  // The two fields that say what this is come first, so a newer bundle gets a clear message.
  const head = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  if (head['format'] !== BUNDLE_FORMAT) throw refuse(`is not a ${BUNDLE_FORMAT} manifest (format is ${JSON.stringify(head['format'])})`);
  const version = head['formatVersion'];
  if (version !== 1 && version !== 2) {
    throw refuse(
      `has format version ${JSON.stringify(version)}; this hexproxy reads versions ${READABLE_FORMAT_VERSIONS.join(' and ')}; import it with a newer hexproxy`,
    );
  }
  if (version === 1) return { json: head, formatVersion: 1 };
  const signer = head['signer'];
  const fingerprint = typeof signer === 'object' && signer !== null ? (signer as Record<string, unknown>)['fingerprint'] : undefined;
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
    throw refuse('is format version 2 but signer.fingerprint is not 64 lowercase hex digits');
  }
  return { json: head, formatVersion: 2, fingerprint };
}

/** Parses and checks manifest.json; every failure is a BundleError naming manifest.json. */
export function parseManifest(bytes: Uint8Array, source: string): BundleManifest {
  return checkManifest(readManifestHead(bytes, source).json, source);
}

/** The rest of the checks, on what readManifestHead returned. */
export function checkManifest(head: Record<string, unknown>, source: string): BundleManifest {
  const refuse = refusal(source);
  // An entry kind from a later writer: refuse the whole bundle, with a message that says why.
  const listed = Array.isArray(head['entries']) ? (head['entries'] as unknown[]) : [];
  const unknown = listed.find(
    (entry): entry is { kind: unknown; path?: unknown } =>
      typeof entry === 'object' && entry !== null && !(BUNDLE_ENTRY_KINDS as readonly unknown[]).includes((entry as Record<string, unknown>)['kind']),
  );
  if (unknown && typeof unknown.kind === 'string') {
    throw refuse(
      `lists ${JSON.stringify(unknown.path)} of kind ${JSON.stringify(unknown.kind)}, which this hexproxy does not know (it reads ${BUNDLE_ENTRY_KINDS.join(', ')}); import it with a newer hexproxy`,
    );
  }
  const result = manifestSchema.safeParse(head);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw refuse(`is malformed: ${problems.slice(0, 10).join('; ')}`);
  }
  const manifest: BundleManifest = result.data;
  if (manifest.formatVersion === 1) {
    // Nothing in an unsigned manifest is attested: fields of format 2 mean nothing in it.
    delete manifest.signer;
    for (const entry of manifest.entries) delete entry.upstreamAsOf;
  } else {
    const createdAt = Date.parse(manifest.createdAt);
    for (const entry of manifest.entries) {
      if (entry.upstreamAsOf === undefined) continue;
      if (entry.kind !== 'registry' && installsTargetOf(entry.path)?.what.kind !== 'list') {
        throw refuse(`gives upstreamAsOf for ${entry.path}; only registry files and installs lists carry one`);
      }
      if (Date.parse(entry.upstreamAsOf) > createdAt) {
        throw refuse(`gives upstreamAsOf ${entry.upstreamAsOf} for ${entry.path}, after the bundle was created (${manifest.createdAt})`);
      }
    }
  }
  // Importers check each tarball against its package's registry file in one pass over
  // the bundle, so every registry entry comes before every tarball.
  const firstTarball = manifest.entries.findIndex((entry) => entry.kind === 'tarball');
  const lateRegistry = firstTarball < 0 ? -1 : manifest.entries.findIndex((entry, i) => i > firstTarball && entry.kind === 'registry');
  if (lateRegistry >= 0) {
    throw refuse(`lists registry entry ${manifest.entries[lateRegistry]?.path ?? ''} after a tarball; registry entries must come first`);
  }
  // Likewise each build is checked against its list, so installs lists (and .signed) come before builds.
  const firstBuild = manifest.entries.findIndex((entry) => entry.kind === 'installs' && installsTargetOf(entry.path)?.what.kind === 'build');
  const lateList =
    firstBuild < 0 ? -1 : manifest.entries.findIndex((entry, i) => i > firstBuild && entry.kind === 'installs' && isListOrSignature(entry.path));
  if (lateList >= 0) {
    throw refuse(
      `lists installs entry ${manifest.entries[lateList]?.path ?? ''} after a build; build lists and their .signed files must come before builds`,
    );
  }
  const lateHosted = lateHostedEntry(manifest.entries);
  if (lateHosted !== undefined) throw refuse(lateHosted);
  return manifest;
}

/**
 * A hosted release is checked against its package's registry file, and its tarball and docs
 * against its facts, in one pass: why an entry comes before what it is checked against.
 */
function lateHostedEntry(entries: readonly BundleEntry[]): string | undefined {
  const firstAt = new Map<string, number>();
  entries.forEach((entry, at) => {
    const target = entry.kind === 'hosted' ? hostedTargetOf(entry.path) : undefined;
    if (target && (target.what === 'registry' || target.what === 'release') && !firstAt.has(entry.path)) firstAt.set(entry.path, at);
  });
  for (const [at, entry] of entries.entries()) {
    const target = entry.kind === 'hosted' ? hostedTargetOf(entry.path) : undefined;
    if (!target || target.what === 'registry') continue;
    const registry = hostedEntryPath({ kind: 'hosted', repository: target.repository, what: 'registry', name: target.name });
    if ((firstAt.get(registry) ?? -1) > at) return `lists ${entry.path} before ${registry}; a package's registry file must come before its releases`;
    if (target.what === 'release') continue;
    const facts = hostedEntryPath({ ...target, what: 'release' });
    if ((firstAt.get(facts) ?? -1) > at) return `lists ${entry.path} before ${facts}; a release's facts must come before its tarball and docs`;
  }
  return undefined;
}

export function serializeManifest(manifest: BundleManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}

/** An organization's name, as the config's organizations keys allow it. */
export const ORGANIZATION_NAME = /^[a-z0-9_]{1,128}$/;

/** The target of one of the path shapes, or undefined for anything else. */
export function parseEntryPath(path: string): EntryTarget | undefined {
  if (path.startsWith('installs/')) return installsTargetOf(path);
  if (path.startsWith('hosted/')) return hostedTargetOf(path);
  const org = /^repos\/([^/]+)\/(.*)$/.exec(path);
  if (org) {
    const organization = org[1] as string;
    const target = ORGANIZATION_NAME.test(organization) ? repositoryTargetOf(org[2] as string) : undefined;
    return target && { ...target, organization };
  }
  return repositoryTargetOf(path);
}

/** A registry file or tarball path within a repository's part of the bundle. */
function repositoryTargetOf(path: string): Extract<EntryTarget, { kind: 'registry' | 'tarball' }> | undefined {
  if (path === 'registry/names') return { kind: 'registry', resource: { kind: 'names' } };
  if (path === 'registry/versions') return { kind: 'registry', resource: { kind: 'versions' } };
  const pkg = /^registry\/packages\/([^/]+)$/.exec(path);
  if (pkg) {
    const name = pkg[1] as string;
    return isPackageName(name) ? { kind: 'registry', resource: { kind: 'package', name } } : undefined;
  }
  const release = /^tarballs\/([^/]+)\.tar$/.exec(path);
  const parsed = release && splitRelease(release[1] as string);
  return parsed ? { kind: 'tarball', ...parsed } : undefined;
}

/** "hosted/REPO/…": a hosted repository's package file, or a release's facts, tarball or docs. */
function hostedTargetOf(path: string): HostedTarget | undefined {
  const parts = /^hosted\/([^/]+)\/(registry\/packages|releases|tarballs|docs)\/([^/]+)$/.exec(path);
  const [, repository = '', folder = '', file = ''] = parts ?? [];
  if (!parts || !ORGANIZATION_NAME.test(repository)) return undefined;
  if (folder === 'registry/packages') return isPackageName(file) ? { kind: 'hosted', repository, what: 'registry', name: file } : undefined;
  const suffix = { releases: '.json', tarballs: '.tar', docs: '.tar.gz' }[folder] ?? '';
  const what = ({ releases: 'release', tarballs: 'tarball', docs: 'docs' } as const)[folder as 'releases' | 'tarballs' | 'docs'];
  const release = file.endsWith(suffix) ? splitRelease(file.slice(0, -suffix.length)) : undefined;
  return release && { kind: 'hosted', repository, what, ...release };
}

function isListOrSignature(path: string): boolean {
  const kind = installsTargetOf(path)?.what.kind;
  return kind === 'list' || kind === 'signature';
}

/** "installs/PATH" for a path hexproxy serves under /installs/ (a build list, its .signed, or a build it lists). */
function installsTargetOf(path: string): Extract<EntryTarget, { kind: 'installs' }> | undefined {
  if (!path.startsWith('installs/')) return undefined;
  const relative = path.slice('installs/'.length);
  if (!isSafeInstallsPath(relative)) return undefined;
  const what = classifyInstallsPath(relative);
  return what.kind === 'unknown' ? undefined : { kind: 'installs', path: relative, what };
}

export function entryPathOf(target: EntryTarget): string {
  if (target.kind === 'installs') return `installs/${target.path}`;
  if (target.kind === 'hosted') return hostedEntryPath(target);
  const prefix = target.organization === undefined ? '' : `repos/${target.organization}/`;
  return prefix + (target.kind === 'registry' ? `registry/${resourcePath(target.resource)}` : `tarballs/${target.name}-${target.version}.tar`);
}

/** Where a hosted repository's entry is in a bundle. */
export function hostedEntryPath(target: HostedTarget): string {
  const base = `hosted/${target.repository}/`;
  switch (target.what) {
    case 'registry':
      return `${base}registry/packages/${target.name}`;
    case 'release':
      return `${base}releases/${target.name}-${target.version}.json`;
    case 'tarball':
      return `${base}tarballs/${target.name}-${target.version}.tar`;
    case 'docs':
      return `${base}docs/${target.name}-${target.version}.tar.gz`;
  }
}

/** Why an entry's path, kind, name and version do not fit together, or its target. */
export function checkEntry(entry: BundleEntry): { target: EntryTarget } | { problem: string } {
  const target = parseEntryPath(entry.path);
  if (!target)
    return {
      problem:
        'is not a bundle path (registry/names, registry/versions, registry/packages/NAME, tarballs/NAME-VERSION.tar with a valid name and version, the same under repos/ORG/ for an organization, installs/PATH for a build list, its .signed file or a build, or hosted/REPO/registry/packages/NAME, hosted/REPO/releases/NAME-VERSION.json, hosted/REPO/tarballs/NAME-VERSION.tar or hosted/REPO/docs/NAME-VERSION.tar.gz)',
    };
  if (target.kind !== entry.kind) {
    const named = { registry: 'a registry file', tarball: 'a tarball', installs: 'an installs file', hosted: "a hosted repository's file" }[
      target.kind
    ];
    return { problem: `is listed as kind "${entry.kind}" but its path names ${named}` };
  }
  const name =
    target.kind === 'tarball' || target.kind === 'hosted'
      ? target.name
      : target.kind === 'registry' && target.resource.kind === 'package'
        ? target.resource.name
        : undefined;
  if (entry.name !== undefined && entry.name !== name) return { problem: `is listed with name "${entry.name}", which its path does not carry` };
  const version = target.kind === 'tarball' || (target.kind === 'hosted' && target.what !== 'registry') ? target.version : undefined;
  if (entry.version !== undefined && entry.version !== version)
    return { problem: `is listed with version "${entry.version}", which its path does not carry` };
  return { target };
}

export const isValidRelease = (name: string, version: string): boolean => isPackageName(name) && isVersion(version);

/** Reads only the manifest of a bundle (its first entry), e.g. to export what came since. */
export async function readManifest(file: string): Promise<BundleManifest> {
  // Opened first, so a missing or unreadable file is reported as the file system puts it.
  const handle = await open(file, 'r');
  const extract = tar.extract();
  const feeding = pipeline(handle.createReadStream(), extract).catch(() => undefined);
  try {
    for await (const entry of extract) {
      const { name, size, type } = entry.header;
      if (name !== MANIFEST_PATH || (type !== 'file' && type !== 'contiguous-file')) {
        throw new BundleError(`${file}: the first entry is ${JSON.stringify(name)}, not ${MANIFEST_PATH}`, [
          { path: MANIFEST_PATH, reason: 'is not the first entry' },
        ]);
      }
      if (size > MAX_MANIFEST_BYTES) {
        throw new BundleError(`${file}: ${MANIFEST_PATH} is larger than ${MAX_MANIFEST_BYTES} bytes`, [
          { path: MANIFEST_PATH, reason: 'is too large' },
        ]);
      }
      return parseManifest(await readEntry(entry), file);
    }
    throw new BundleError(`${file} holds no ${MANIFEST_PATH}; it is empty or not a bundle`, [{ path: MANIFEST_PATH, reason: 'is missing' }]);
  } catch (error: unknown) {
    if (error instanceof BundleError) throw error;
    throw new BundleError(
      `${file} is not a readable tar file: ${errorMessage(error)}`,
      [{ path: MANIFEST_PATH, reason: `cannot be read: ${errorMessage(error)}` }],
      { cause: error },
    );
  } finally {
    extract.destroy();
    await feeding;
  }
}

/** All of a (size-checked) tar entry's bytes. */
export async function readEntry(entry: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(asBuffer(chunk));
  return Buffer.concat(chunks);
}

// tar-stream's streams carry Buffers; its typings for `on('data')` do not say so.
export function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('the tar stream produced a non-binary chunk');
}
