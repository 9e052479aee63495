// Hosted repositories as data: the packages people publish to hexproxy, kept apart from the
// cache (its own SQLite file and blob directory under DATA_DIR/hosted, which nothing in
// src/cache/ knows of), with the registry files built from them.
//
// A publish is durable and atomic. The tarball is staged under a key of its own (never
// reused), fsynced and renamed into place; then one SQLite transaction (BEGIN IMMEDIATE,
// synchronous = FULL) writes the release's rows and rebuilds that package's file, /names
// and /versions from them. A kill before the commit leaves the old state and a tarball no
// row names, which no read can reach and `reconcile` removes at the next start; a kill
// after it leaves the new state, whose old tarball (on a replace) is removed the same way.
// Changes to one package are serialised (a queue per package in this process, SQLite's
// write lock across processes); other packages proceed at once but for the short commit.
import { matches, parseRequirement } from '../resolve/requirement.js';
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { BadRequestError, HexproxyError, NotFoundError, PackageDependedOnError, ReleaseExistsError, StorageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { openRegistryFile } from '../registry/registry-file.js';
import { isPackageName, isVersion, resourceAt } from '../registry/resource.js';
import type { StoredBlob } from '../store/blob-store.js';
import { FsBlobStore } from '../store/fs-blob-store.js';
import { syncDirectory } from '../store/sync-directory.js';
import { makeDurableDir } from './durable-dir.js';
import { checkEditable, checkPublishable, label } from './edit-window.js';
import { hintOf, openHostedDatabase, prepareStatements, type HostedStatements, type PackageRecord, type ReleaseRecord } from './hosted-db.js';
import { KeyedQueue } from '../util/keyed-queue.js';
import {
  joinEntries,
  namesEntry,
  namesPayload,
  packagePayload,
  sealSync,
  sortVersions,
  versionsEntry,
  versionsPayload,
  type RegistryRelease,
} from './registry-builder.js';
import { RETIREMENT_REASONS, type ReleaseMetadata, type ReleaseRequirement, type Retirement, type ValidatedRelease } from './release.js';

/** One hosted repository's settings (config hosted.NAME). */
export interface HostedRepositorySettings {
  /** How long after its first publication a release may be replaced or reverted; 0: never. */
  replaceWindowSeconds: number;
}

export interface HostedStoreOptions {
  /** Where the store keeps everything: DATA_DIR/hosted. */
  dir: string;
  /** The hosted repositories configured, by name: only these may be written or read. */
  repositories: Readonly<Record<string, HostedRepositorySettings>>;
  /** hexproxy's private key: registry files are signed with it. */
  signingKey: KeyObject;
  /** The public repository's name ("hexpm"): a requirement that names no repository is on it, as hexpm takes it. */
  publicRepository: string;
  log: Logger;
  /** Milliseconds since the epoch: publication times and the replace window. */
  now?: () => number;
}

/** A published release, as the API, the UI and the repository read it. */
export interface HostedRelease {
  repository: string;
  name: string;
  version: string;
  /** When it was first published (ms); a replacement keeps it, and the replace window runs from it. */
  publishedAt: number;
  /** When it was last published or replaced (ms). */
  updatedAt: number;
  /** The name of the token that published (or last replaced) it. */
  publisher: string;
  innerChecksum: Buffer;
  outerChecksum: Buffer;
  /** The tarball's size in bytes. */
  size: number;
  /** As published, each with its repository stated ("hexpm" where metadata.config named none). */
  requirements: ReleaseRequirement[];
  metadata: ReleaseMetadata;
  metadataConfig: string;
  retirement: Retirement | undefined;
  /** The published docs, if any. */
  docs: { size: number; sha256: string; publishedAt: number } | undefined;
  /** Until when (ms) it may be replaced or reverted; undefined when it never may (replaceWindowSeconds 0). */
  editableUntil: number | undefined;
}

/** A package with every release, oldest version first. */
export interface HostedPackage {
  repository: string;
  name: string;
  createdAt: number;
  /** Its last publish, replace, revert or retirement (ms). */
  updatedAt: number;
  releases: HostedRelease[];
}

/** One package of a listing. */
export interface HostedPackageSummary {
  repository: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  /** Oldest first. */
  versions: string[];
  /** The newest release that is not a pre-release (the newest of all when every one is). */
  latestVersion: string;
  /** The latest release's metadata (description, licenses, links). */
  metadata: ReleaseMetadata;
}

/** What an import knows of a release besides its tarball (src/bundle/hosted-entries.ts). */
export interface ImportedReleaseFacts {
  /** The name of the token that published it where it comes from. */
  publisher: string;
  /** Milliseconds since the epoch, as there. */
  publishedAt: number;
  updatedAt: number;
  retirement: Retirement | undefined;
  docs?: { bytes: Buffer; publishedAt: number } | undefined;
}

export interface PublishResult {
  /** A new release (201), not a replacement (200). */
  created: boolean;
  release: HostedRelease;
}

/** A stored tarball or docs tarball. */
export interface HostedBlobFile {
  /** Its key in the hosted blob store. */
  key: string;
  /** The local file (streamed by the hot path, which checks its size). */
  path: string;
  size: number;
  /** Hex SHA-256. */
  sha256: string;
  /** When it was stored (ms). */
  storedAt: number;
}

/** A registry file as stored: signed by hexproxy, verified on the way out. */
export interface HostedRegistryFile {
  repository: string;
  /** "names", "versions" or "packages/NAME". */
  path: string;
  /** gzip(Signed{payload, signature}): what clients get. */
  body: Buffer;
  /** The verified payload. */
  payload: Buffer;
  /** Hex SHA-256 of the body. */
  sha256: string;
  builtAt: number;
}

export interface HostedReconcileReport {
  /** Blobs found. */
  blobs: number;
  /** Blobs no release names (left by a kill), removed. */
  removed: number;
  /** Left for the next start: another process was writing, or one changed meanwhile. */
  deferred: number;
  /** Releases whose tarball or docs file is missing or of the wrong size: data lost, logged. */
  missing: string[];
}

// A registry file is refused past this when read back (it is hexproxy's own, but bounded all the same).
const MAX_REGISTRY_BYTES = 256 * 1024 * 1024;
const BLOB_KEY = /^[a-z0-9_]+\/(?:tarballs|docs)\/[^/]+$/;

export class HostedStore {
  private readonly statements: HostedStatements;
  private readonly queue = new KeyedQueue();
  private readonly now: () => number;
  private readonly publicKey: KeyObject;
  // Keys staged and not yet settled (committed with their rows, or removed): never debris.
  private readonly pending = new Set<string>();
  // Changes per repository: this process's commits, and every commit of another process (data_version).
  private readonly generations = new Map<string, number>();
  private foreignChanges = 0;
  private lastDataVersion: number | undefined;

  private constructor(
    private readonly options: HostedStoreOptions,
    private readonly db: Database.Database,
    private readonly blobs: FsBlobStore,
  ) {
    this.statements = prepareStatements(db);
    this.now = options.now ?? Date.now;
    this.publicKey = createPublicKey(options.signingKey);
  }

  /**
   * Opens the store in `options.dir`, creating what is missing (durably: each new directory's
   * parent is fsynced), and makes sure every configured repository has its /names and
   * /versions. Staged files of writers that no longer run are removed; blobs without a row
   * are left to `reconcile`, which only the server runs.
   */
  static async open(options: HostedStoreOptions): Promise<HostedStore> {
    const blobRoot = join(options.dir, 'blobs');
    try {
      await makeDurableDir(blobRoot);
      for (const repo of Object.keys(options.repositories)) {
        await makeDurableDir(join(blobRoot, repo, 'tarballs'));
        await makeDurableDir(join(blobRoot, repo, 'docs'));
      }
    } catch (error: unknown) {
      throw new StorageError(`cannot create the hosted repositories' directory ${options.dir}: ${hintOf(error)}`, { cause: error });
    }
    await makeDurableDir(join(blobRoot, '.tmp'));
    const blobs = await FsBlobStore.create(blobRoot);
    const file = join(options.dir, 'hosted.db');
    const db = openHostedDatabase(file);
    // The database file's own directory entry.
    await syncDirectory(options.dir);
    const store = new HostedStore(options, db, blobs);
    for (const repo of Object.keys(options.repositories)) {
      if (!store.statements.findRegistryFile.get(repo, 'names') || !store.statements.findRegistryFile.get(repo, 'versions')) {
        store.write(() => store.rebuildIndexes(repo, store.now()));
      }
    }
    return store;
  }

  /** The hosted repositories configured, in config order. */
  repositories(): string[] {
    return Object.keys(this.options.repositories);
  }

  /** Whether `repo` is a configured hosted repository. */
  hosts(repo: string): boolean {
    return Object.hasOwn(this.options.repositories, repo);
  }

  // ---- Writes -------------------------------------------------------------------------

  /**
   * Stores a validated release: a new one (`created`), or, with `replace`, a replacement of
   * one published less than the repository's replace window ago. Resolves once the tarball,
   * the rows and the rebuilt registry files (the package's, /names, /versions) are on disk.
   * Throws ReleaseExistsError (it exists and `replace` is false), ReleaseLockedError (past
   * the window), NotFoundError (no such hosted repository), BadRequestError (a release that
   * cannot have passed validation), StorageError.
   */
  async publish(repo: string, release: ValidatedRelease, { replace, publisher }: { replace: boolean; publisher: string }): Promise<PublishResult> {
    this.settingsOf(repo);
    checkRelease(release);
    const { name, version } = release;
    return this.queue.run(packageKey(repo, name), async () => {
      const now = this.now();
      // Refused before anything is written when it already would be; checked again under the lock.
      checkPublishable(repo, this.settingsOf(repo), this.statements.findRelease.get(repo, name, version), replace, now);
      const key = blobKey(repo, 'tarballs', `${name}-${version}`, '.tar');
      await this.stage(key, release.tarball);
      let created = false;
      let previous: string | undefined;
      try {
        this.write(() => {
          const existing = this.statements.findRelease.get(repo, name, version);
          checkPublishable(repo, this.settingsOf(repo), existing, replace, now);
          created = existing === undefined;
          previous = existing?.tarball_key;
          const pkg = this.statements.findPackage.get(repo, name);
          if (pkg) this.statements.touchPackage.run(now, repo, name);
          else this.statements.insertPackage.run(repo, name, now, now);
          const requirements = release.requirements.map((requirement) => ({
            ...requirement,
            repository: requirement.repository ?? this.options.publicRepository,
          }));
          const record = {
            repo,
            name,
            version,
            published_at: existing?.published_at ?? now,
            updated_at: now,
            publisher,
            inner_checksum: release.innerChecksum,
            outer_checksum: release.outerChecksum,
            size: release.tarball.length,
            tarball_key: key,
            requirements: JSON.stringify(requirements),
            metadata: JSON.stringify(release.metadata),
            metadata_config: release.metadataConfig,
            retirement_reason: null,
            retirement_message: null,
            docs_key: null,
            docs_sha256: null,
            docs_size: null,
            docs_published_at: null,
          };
          if (existing) this.statements.replaceRelease.run(record);
          else this.statements.insertRelease.run(record);
          this.statements.deleteDependencies.run(repo, name, version);
          for (const requirement of requirements) {
            if (requirement.repository === repo) this.statements.insertDependency.run(repo, requirement.name, name, version);
          }
          this.rebuildPackage(repo, name, now);
        });
      } catch (error: unknown) {
        await this.discard(key);
        throw error;
      } finally {
        this.pending.delete(key);
      }
      this.changed(repo);
      if (previous !== undefined && previous !== key) await this.discard(previous);
      return { created, release: this.requireRelease(repo, name, version) };
    });
  }

  /**
   * Removes a release published less than the replace window ago, and the package with
   * its last release. Refused (PackageDependedOnError) for a package's last release while
   * a release of another package of the repository requires it, as hexpm refuses to delete
   * a package others depend on; other releases may go, even if that leaves a requirement
   * unmet. NotFoundError for a release that is not there, ReleaseLockedError past the window.
   */
  async revert(repo: string, name: string, version: string): Promise<{ packageRemoved: boolean }> {
    this.settingsOf(repo);
    return this.queue.run(packageKey(repo, name), async () => {
      const now = this.now();
      let keys: string[] = [];
      let packageRemoved = false;
      this.write(() => {
        const existing = this.findExisting(repo, name, version);
        checkEditable(repo, this.settingsOf(repo), existing, now, 'reverted');
        const last = (this.statements.countReleases.get(repo, name)?.count ?? 0) <= 1;
        const stranded = strandedBy(
          repo,
          name,
          version,
          this.statements.packageVersions.all(repo, name).map((row) => row.version),
          this.statements.dependentReleases.all(repo, name, name),
        );
        if (stranded.length > 0) {
          throw new PackageDependedOnError(
            `cannot revert ${label(repo, name, version)}: ${stranded
              .slice(0, 5)
              .join(
                ', ',
              )}${stranded.length > 5 ? ', …' : ''} of ${repo} ${stranded.length === 1 ? 'depends' : 'depend'} on it, and no other release of ${name} meets ${stranded.length === 1 ? 'its requirement' : 'their requirements'}; revert those releases, or publish another release of ${name} that meets them first`,
          );
        }
        this.statements.deleteRelease.run(repo, name, version);
        this.statements.deleteDependencies.run(repo, name, version);
        if (last) this.statements.deletePackage.run(repo, name);
        else this.statements.touchPackage.run(now, repo, name);
        this.rebuildPackage(repo, name, now);
        keys = [existing.tarball_key, ...(existing.docs_key === null ? [] : [existing.docs_key])];
        packageRemoved = last;
      });
      this.changed(repo);
      for (const key of keys) await this.discard(key);
      return { packageRemoved };
    });
  }

  /** Retires a release (`retirement`), or unretires it (undefined); the registry says so at once. */
  async retire(repo: string, name: string, version: string, retirement: Retirement | undefined): Promise<HostedRelease> {
    this.settingsOf(repo);
    if (retirement && !RETIREMENT_REASONS.includes(retirement.reason)) {
      throw new BadRequestError(`"${String(retirement.reason)}" is not a retirement reason (${RETIREMENT_REASONS.join(', ')})`);
    }
    return this.queue.run(packageKey(repo, name), async () => {
      const now = this.now();
      this.write(() => {
        this.findExisting(repo, name, version);
        this.statements.setRetirement.run(retirement?.reason ?? null, retirement ? retirement.message : null, repo, name, version);
        this.statements.touchPackage.run(now, repo, name);
        this.rebuildPackage(repo, name, now);
      });
      this.changed(repo);
      return this.requireRelease(repo, name, version);
    });
  }

  /**
   * Stores a release's docs tarball (already validated), replacing any before; durable as a
   * publish is. `created`: there were none. NotFoundError when the release is not published.
   * Docs are not in the registry, and no window binds them (as on hexpm).
   */
  async putDocs(repo: string, name: string, version: string, docs: Buffer): Promise<{ created: boolean; docs: HostedBlobFile }> {
    this.settingsOf(repo);
    return this.queue.run(packageKey(repo, name), async () => {
      this.findExisting(repo, name, version, 'publish the package before its docs');
      const key = blobKey(repo, 'docs', `${name}-${version}`, '.tar.gz');
      await this.stage(key, docs);
      const now = this.now();
      let previous: string | null = null;
      try {
        this.write(() => {
          previous = this.findExisting(repo, name, version, 'publish the package before its docs').docs_key;
          this.statements.setDocs.run(key, sha256Hex(docs), docs.length, now, repo, name, version);
        });
      } catch (error: unknown) {
        await this.discard(key);
        throw error;
      } finally {
        this.pending.delete(key);
      }
      this.changed(repo);
      if (previous !== null) await this.discard(previous);
      const file = this.docsFile(repo, name, version);
      if (!file) throw new StorageError(`the docs of ${label(repo, name, version)} vanished right after they were stored`);
      return { created: previous === null, docs: file };
    });
  }

  /** Removes a release's docs; false when it had none. NotFoundError when the release is not published. */
  async deleteDocs(repo: string, name: string, version: string): Promise<boolean> {
    this.settingsOf(repo);
    return this.queue.run(packageKey(repo, name), async () => {
      let previous: string | null = null;
      this.write(() => {
        previous = this.findExisting(repo, name, version).docs_key;
        if (previous !== null) this.statements.setDocs.run(null, null, null, null, repo, name, version);
      });
      if (previous === null) return false;
      this.changed(repo);
      await this.discard(previous);
      return true;
    });
  }

  // ---- Imports (hexproxy import of a bundle or backup: src/bundle/) ---------------------

  /**
   * Adds a release as another hexproxy (or a backup of this one) had it: its publisher,
   * times, retirement and docs, checked by the importer. Durable and atomic as a publish:
   * the tarball and docs are staged, then one transaction writes the rows and rebuilds the
   * package's file, /names and /versions. 'present': the release is here with the same
   * tarball, and nothing changes. ReleaseExistsError: it is here with other bytes, and it
   * stays (a published release is never overwritten). No replace window applies.
   */
  async importRelease(repo: string, release: ValidatedRelease, facts: ImportedReleaseFacts): Promise<'imported' | 'present'> {
    this.settingsOf(repo);
    checkRelease(release);
    if (facts.retirement && !RETIREMENT_REASONS.includes(facts.retirement.reason)) {
      throw new BadRequestError(`"${String(facts.retirement.reason)}" is not a retirement reason (${RETIREMENT_REASONS.join(', ')})`);
    }
    const { name, version } = release;
    return this.queue.run(packageKey(repo, name), async () => {
      const here = (existing: ReleaseRecord | undefined): 'present' | undefined => {
        if (!existing) return undefined;
        if (existing.outer_checksum.equals(release.outerChecksum)) return 'present';
        throw new ReleaseExistsError(
          `${label(repo, name, version)} is here already with another tarball (SHA-256 ${existing.outer_checksum.toString('hex')}, not ${release.outerChecksum.toString('hex')}); a published release is never overwritten by an import`,
        );
      };
      if (here(this.statements.findRelease.get(repo, name, version))) return 'present';
      const key = blobKey(repo, 'tarballs', `${name}-${version}`, '.tar');
      const docsKey = facts.docs && blobKey(repo, 'docs', `${name}-${version}`, '.tar.gz');
      let committed = false;
      let inserted = false;
      try {
        await this.stage(key, release.tarball);
        if (docsKey && facts.docs) await this.stage(docsKey, facts.docs.bytes);
        this.write(() => {
          if (here(this.statements.findRelease.get(repo, name, version))) return;
          const pkg = this.statements.findPackage.get(repo, name);
          if (!pkg) this.statements.insertPackage.run(repo, name, facts.publishedAt, Math.max(facts.updatedAt, facts.publishedAt));
          else if (facts.updatedAt > pkg.updated_at) this.statements.touchPackage.run(facts.updatedAt, repo, name);
          const requirements = release.requirements.map((requirement) => ({
            ...requirement,
            repository: requirement.repository ?? this.options.publicRepository,
          }));
          this.statements.insertRelease.run({
            repo,
            name,
            version,
            published_at: facts.publishedAt,
            updated_at: facts.updatedAt,
            publisher: facts.publisher,
            inner_checksum: release.innerChecksum,
            outer_checksum: release.outerChecksum,
            size: release.tarball.length,
            tarball_key: key,
            requirements: JSON.stringify(requirements),
            metadata: JSON.stringify(release.metadata),
            metadata_config: release.metadataConfig,
            retirement_reason: facts.retirement?.reason ?? null,
            retirement_message: facts.retirement ? facts.retirement.message : null,
            docs_key: docsKey ?? null,
            docs_sha256: facts.docs ? sha256Hex(facts.docs.bytes) : null,
            docs_size: facts.docs ? facts.docs.bytes.length : null,
            docs_published_at: facts.docs ? facts.docs.publishedAt : null,
          });
          for (const requirement of requirements) {
            if (requirement.repository === repo) this.statements.insertDependency.run(repo, requirement.name, name, version);
          }
          this.rebuildPackage(repo, name, this.now());
          inserted = true;
        });
        committed = inserted;
      } finally {
        // Staged files no row names (refused, here already, or a failure) go at once.
        for (const staged of [key, docsKey]) {
          if (staged === undefined) continue;
          if (!committed) await this.discard(staged);
          this.pending.delete(staged);
        }
      }
      if (!committed) return 'present';
      this.changed(repo);
      return 'imported';
    });
  }

  // ---- Reads --------------------------------------------------------------------------

  /** Whether `name` has a release in `repo` (cheap: the publishing route's dependency check). */
  has(repo: string, name: string): boolean {
    return this.hosts(repo) && this.statements.findPackage.get(repo, name) !== undefined;
  }

  /** The versions of `name` in `repo`, oldest first; [] when there is none. */
  versions(repo: string, name: string): string[] {
    if (!this.hosts(repo)) return [];
    return sortVersions(this.statements.packageVersions.all(repo, name)).map((release) => release.version);
  }

  release(repo: string, name: string, version: string): HostedRelease | undefined {
    if (!this.hosts(repo)) return undefined;
    const record = this.statements.findRelease.get(repo, name, version);
    return record && this.toRelease(record);
  }

  /** A package with every release (oldest version first), or undefined. */
  packageInfo(repo: string, name: string): HostedPackage | undefined {
    if (!this.hosts(repo)) return undefined;
    const pkg = this.statements.findPackage.get(repo, name);
    if (!pkg) return undefined;
    const releases = sortVersions(this.statements.packageReleases.all(repo, name)).map((record) => this.toRelease(record));
    return { repository: repo, name, createdAt: pkg.created_at, updatedAt: pkg.updated_at, releases };
  }

  /**
   * The packages of `repo` by name; with `search`, those whose name or latest description
   * contains it (case-insensitive).
   */
  listPackages(repo: string, { search }: { search?: string } = {}): HostedPackageSummary[] {
    if (!this.hosts(repo)) return [];
    const term = search?.trim().toLowerCase() ?? '';
    const summaries: HostedPackageSummary[] = [];
    for (const pkg of this.statements.listPackages.all(repo)) {
      const releases = sortVersions(this.statements.packageReleases.all(repo, pkg.name));
      const latest = latestOf(releases);
      if (!latest) continue;
      const metadata = JSON.parse(latest.metadata) as ReleaseMetadata;
      if (term !== '' && !pkg.name.includes(term) && !metadata.description.toLowerCase().includes(term)) continue;
      summaries.push({
        repository: repo,
        name: pkg.name,
        createdAt: pkg.created_at,
        updatedAt: pkg.updated_at,
        versions: releases.map((release) => release.version),
        latestVersion: latest.version,
        metadata,
      });
    }
    return summaries;
  }

  /** The stored tarball of a release (no I/O but the database), or undefined when it is not published. */
  tarballFile(repo: string, name: string, version: string): HostedBlobFile | undefined {
    if (!this.hosts(repo)) return undefined;
    const record = this.statements.findRelease.get(repo, name, version);
    if (!record) return undefined;
    return {
      key: record.tarball_key,
      path: this.blobs.pathOf(record.tarball_key),
      size: record.size,
      sha256: record.outer_checksum.toString('hex'),
      storedAt: record.updated_at,
    };
  }

  /** The stored docs of a release, or undefined. */
  docsFile(repo: string, name: string, version: string): HostedBlobFile | undefined {
    if (!this.hosts(repo)) return undefined;
    const record = this.statements.findRelease.get(repo, name, version);
    if (!record || record.docs_key === null || record.docs_sha256 === null || record.docs_size === null) return undefined;
    return {
      key: record.docs_key,
      path: this.blobs.pathOf(record.docs_key),
      size: record.docs_size,
      sha256: record.docs_sha256,
      storedAt: record.docs_published_at ?? record.updated_at,
    };
  }

  /** A stored file opened for reading; StorageError when it is missing or of another size than its row (data lost). */
  async open(file: HostedBlobFile, what: string): Promise<StoredBlob> {
    const blob = await this.blobs.open(file.key);
    if (!blob || blob.size !== file.size) {
      this.options.log.error({ key: file.key, size: blob?.size, expected: file.size }, `the stored ${what} is missing or has the wrong size`);
      throw new StorageError(
        `the stored ${what} (${join(this.options.dir, 'blobs', file.key)}) is ${blob ? `${blob.size} bytes, not ${file.size}` : 'missing'}; restore DATA_DIR/hosted from a backup (hexproxy cache verify lists what is damaged)`,
      );
    }
    return blob;
  }

  /** The bytes of a stored file (e.g. to check them). */
  read(file: HostedBlobFile): Promise<Buffer | undefined> {
    return this.blobs.read(file.key);
  }

  /**
   * The registry file at `path` ("names", "versions", "packages/NAME"), verified with
   * hexproxy's key; undefined when there is none (no such package). One that no longer
   * verifies (hexproxy's key was replaced, or the database was changed by hand) is built
   * again from the rows, and the rebuild logged.
   */
  async registryFile(repo: string, path: string): Promise<HostedRegistryFile | undefined> {
    const resource = resourceAt(path);
    if (!this.hosts(repo) || !resource || resource.kind === 'policy') return undefined;
    const record = this.statements.findRegistryFile.get(repo, path);
    if (!record) return undefined;
    try {
      const opened = await openRegistryFile(record.body, resource, {
        publicKey: this.publicKey,
        repository: repo,
        maxBytes: MAX_REGISTRY_BYTES,
        source: 'cache',
      });
      return { repository: repo, path, body: record.body, payload: opened.payload, sha256: record.sha256, builtAt: record.built_at };
    } catch (error: unknown) {
      this.options.log.warn(
        { repo, path, err: errorMessage(error) },
        'a stored hosted registry file does not verify with the signing key; building it again from the published releases',
      );
    }
    const now = this.now();
    this.write(() => {
      if (resource.kind === 'package') this.rebuildPackage(repo, resource.name, now, false);
      else this.rebuildIndexes(repo, now);
    });
    this.changed(repo);
    const rebuilt = this.statements.findRegistryFile.get(repo, path);
    if (!rebuilt) return undefined;
    const opened = await openRegistryFile(rebuilt.body, resource, {
      publicKey: this.publicKey,
      repository: repo,
      maxBytes: MAX_REGISTRY_BYTES,
      source: 'cache',
    });
    return { repository: repo, path, body: rebuilt.body, payload: opened.payload, sha256: rebuilt.sha256, builtAt: rebuilt.built_at };
  }

  /**
   * A number that changes whenever `repo` may have changed: a commit of this process to it,
   * or any commit of another process. What in-memory copies of its files are checked against.
   */
  generation(repo: string): number {
    const version = this.statements.dataVersion.get()?.data_version ?? 0;
    if (this.lastDataVersion !== undefined && version !== this.lastDataVersion) this.foreignChanges += 1;
    this.lastDataVersion = version;
    return (this.generations.get(repo) ?? 0) + this.foreignChanges;
  }

  // ---- Maintenance (reconcile, verify, backups) --------------------------------------------

  /**
   * Removes what a kill left: blobs no release names, committed before this pass began and
   * at least `settleMs` ago, while no other process stages files here. Releases whose file
   * is missing or short are reported (and logged), never removed: they are data.
   */
  async reconcile({ settleMs = 1000 }: { settleMs?: number } = {}): Promise<HostedReconcileReport> {
    const started = Date.now();
    const report: HostedReconcileReport = { blobs: 0, removed: 0, deferred: 0, missing: [] };
    for (const record of this.statements.allReleases.all()) {
      if (!this.db.open) return report;
      for (const [key, size, what] of [
        [record.tarball_key, record.size, 'tarball'],
        [record.docs_key, record.docs_size, 'docs'],
      ] as const) {
        if (key === null || size === null) continue;
        const blob = await this.blobs.open(key);
        if (blob && blob.size === size) continue;
        const release = label(record.repo, record.name, record.version);
        report.missing.push(`${release} (${what})`);
        this.options.log.error(
          { key, release },
          `the stored ${what} of ${release} is missing or has the wrong size; restore DATA_DIR/hosted from a backup`,
        );
      }
    }
    const candidates: { key: string; revision: string | undefined; committedAt: number }[] = [];
    let referenced = this.referencedKeys();
    for await (const key of this.blobs.list('')) {
      // Closed meanwhile (the server stopped): the next start finishes the pass.
      if (!this.db.open) return report;
      report.blobs += 1;
      if (!BLOB_KEY.test(key) || referenced.has(key) || this.pending.has(key)) continue;
      const blob = await this.blobs.open(key);
      // Committed after the pass began: a live writer's, whose row follows.
      if (!blob || (blob.committedAt ?? started) >= started) continue;
      candidates.push({ key, revision: blob.revision, committedAt: blob.committedAt ?? started });
    }
    if (candidates.length === 0) return report;
    const youngest = Math.max(...candidates.map((candidate) => candidate.committedAt));
    const wait = youngest + settleMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (!this.db.open) return report;
    if (await this.blobs.stagingByOtherProcesses()) {
      report.deferred = candidates.length;
      return report;
    }
    referenced = this.referencedKeys();
    for (const candidate of candidates) {
      const blob = await this.blobs.open(candidate.key);
      if (!blob) continue;
      if (referenced.has(candidate.key) || this.pending.has(candidate.key) || blob.revision !== candidate.revision) {
        report.deferred += 1;
        continue;
      }
      await this.blobs.delete(candidate.key);
      report.removed += 1;
    }
    return report;
  }

  /** Every release of every repository in the database (configured or not), for verify and backups. */
  allReleases(): HostedRelease[] {
    return this.statements.allReleases.all().map((record) => this.toRelease(record));
  }

  /** Every stored registry file's repository and path. */
  registryPaths(): { repository: string; path: string }[] {
    return this.statements.listRegistryPaths.all().map((row) => ({ repository: row.repo, path: row.path }));
  }

  /** A stored registry file as it is, unverified (for verify), or undefined. */
  storedRegistryFile(repo: string, path: string): { body: Buffer; sha256: string; builtAt: number } | undefined {
    const record = this.statements.findRegistryFile.get(repo, path);
    return record && { body: record.body, sha256: record.sha256, builtAt: record.built_at };
  }

  /**
   * The payload the rows make for `path` now, or undefined when they make none: what the
   * stored file's payload must equal, byte for byte (both are built by the same code from
   * the same rows). For verify and the crash tests.
   */
  expectedPayload(repo: string, path: string): Buffer | undefined {
    const resource = resourceAt(path);
    if (!resource || resource.kind === 'policy') return undefined;
    if (resource.kind === 'package') {
      const releases = this.statements.packageReleases.all(repo, resource.name);
      return releases.length === 0 ? undefined : packagePayload(repo, resource.name, releases.map(toRegistryRelease));
    }
    return resource.kind === 'names' ? this.namesPayloadOf(repo) : this.versionsPayloadOf(repo);
  }

  /** The public key its registry files verify with (hexproxy's). */
  get registryKey(): KeyObject {
    return this.publicKey;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- Internals ------------------------------------------------------------------------

  private settingsOf(repo: string): HostedRepositorySettings {
    const settings = this.options.repositories[repo];
    if (!settings || !Object.hasOwn(this.options.repositories, repo)) {
      const hosted = this.repositories();
      throw new NotFoundError(
        `hexproxy hosts no repository ${repo} (${hosted.length > 0 ? `it hosts ${hosted.join(', ')}` : 'none is configured'}; config key hosted)`,
      );
    }
    return settings;
  }

  private findExisting(repo: string, name: string, version: string, hint = 'check the name and version'): ReleaseRecord {
    const existing = this.statements.findRelease.get(repo, name, version);
    if (!existing) throw new NotFoundError(`${label(repo, name, version)} is not published; ${hint}`);
    return existing;
  }

  private requireRelease(repo: string, name: string, version: string): HostedRelease {
    const release = this.release(repo, name, version);
    if (!release) throw new StorageError(`${label(repo, name, version)} vanished right after it was written`);
    return release;
  }

  /** Writes `bytes` under `key`, durably (fsync, rename, fsync of the directory); the key stays pending until settled. */
  private async stage(key: string, bytes: Buffer): Promise<void> {
    this.pending.add(key);
    const writer = await this.blobs.begin(key).catch((error: unknown) => {
      this.pending.delete(key);
      throw error;
    });
    try {
      await writer.write(bytes);
      await writer.commit();
    } catch (error: unknown) {
      await writer.abort();
      this.pending.delete(key);
      throw error;
    }
  }

  /** Removes a blob no row names any more; one left behind (an error, a kill) goes at the next reconcile. */
  private async discard(key: string): Promise<void> {
    await this.blobs.delete(key).catch((error: unknown) => {
      this.options.log.warn({ key, err: errorMessage(error) }, 'cannot remove a hosted file no release names; the next start removes it');
    });
  }

  /** Runs `work` as one write transaction, taking the write lock at once (BEGIN IMMEDIATE). */
  private write(work: () => void): void {
    try {
      this.db.transaction(work).immediate();
    } catch (error: unknown) {
      if (error instanceof HexproxyError || !(error instanceof Database.SqliteError)) throw error;
      throw new StorageError(`cannot update the hosted repositories' database: ${hintOf(error)}`, { cause: error });
    }
  }

  private changed(repo: string): void {
    this.generations.set(repo, (this.generations.get(repo) ?? 0) + 1);
  }

  /**
   * Inside a transaction: the package's file (removed with its last release) and its
   * entries of /names and /versions, then /names and /versions joined from every package's.
   */
  private rebuildPackage(repo: string, name: string, now: number, withIndexes = true): void {
    const path = `packages/${name}`;
    const releases = this.statements.packageReleases.all(repo, name);
    if (releases.length > 0) this.save(repo, path, packagePayload(repo, name, releases.map(toRegistryRelease)), now);
    else this.statements.deleteRegistryFile.run(repo, path);
    const pkg = this.statements.findPackage.get(repo, name);
    if (pkg) this.saveEntries(pkg, releases);
    if (withIndexes) this.rebuildIndexes(repo, now);
  }

  private saveEntries(
    pkg: PackageRecord,
    releases: readonly Pick<ReleaseRecord, 'version' | 'retirement_reason'>[],
  ): { names: Buffer; versions: Buffer } {
    const entries = {
      names: namesEntry({ name: pkg.name, updatedAt: pkg.updated_at }),
      versions: versionsEntry({
        name: pkg.name,
        releases: releases.map((release) => ({ version: release.version, retired: release.retirement_reason !== null })),
      }),
    };
    this.statements.setEntries.run(entries.names, entries.versions, pkg.repo, pkg.name);
    return entries;
  }

  /** Inside a transaction: /names and /versions from the packages' entries (one missing is made from the rows). */
  private rebuildIndexes(repo: string, now: number): void {
    const names: Buffer[] = [];
    const versions: Buffer[] = [];
    for (const row of this.statements.indexEntries.all(repo)) {
      let entries = row.names_entry && row.versions_entry ? { names: row.names_entry, versions: row.versions_entry } : undefined;
      if (!entries) {
        const pkg = this.statements.findPackage.get(repo, row.name);
        if (!pkg) continue;
        entries = this.saveEntries(pkg, this.statements.packageReleases.all(repo, row.name));
      }
      names.push(entries.names);
      versions.push(entries.versions);
    }
    this.save(repo, 'names', joinEntries(repo, names), now);
    this.save(repo, 'versions', joinEntries(repo, versions), now);
  }

  // Built whole from the rows, apart from the entries: what verify compares the stored files with.
  private namesPayloadOf(repo: string): Buffer {
    return namesPayload(
      repo,
      this.statements.listPackages.all(repo).map((pkg) => ({ name: pkg.name, updatedAt: pkg.updated_at })),
    );
  }

  private versionsPayloadOf(repo: string): Buffer {
    const packages: { name: string; releases: { version: string; retired: boolean }[] }[] = [];
    for (const row of this.statements.repositoryVersions.all(repo)) {
      let last = packages.at(-1);
      if (last?.name !== row.name) packages.push((last = { name: row.name, releases: [] }));
      last.releases.push({ version: row.version, retired: row.retired === 1 });
    }
    return versionsPayload(repo, packages);
  }

  private save(repo: string, path: string, payload: Buffer, now: number): void {
    const body = sealSync(payload, this.options.signingKey);
    this.statements.saveRegistryFile.run({ repo, path, body, sha256: sha256Hex(body), built_at: now });
  }

  private referencedKeys(): Set<string> {
    return new Set(this.statements.blobKeys.all().map((row) => row.key));
  }

  private toRelease(record: ReleaseRecord): HostedRelease {
    const window = this.options.repositories[record.repo]?.replaceWindowSeconds ?? 0;
    return {
      repository: record.repo,
      name: record.name,
      version: record.version,
      publishedAt: record.published_at,
      updatedAt: record.updated_at,
      publisher: record.publisher,
      innerChecksum: record.inner_checksum,
      outerChecksum: record.outer_checksum,
      size: record.size,
      requirements: JSON.parse(record.requirements) as ReleaseRequirement[],
      metadata: JSON.parse(record.metadata) as ReleaseMetadata,
      metadataConfig: record.metadata_config,
      retirement: retirementOf(record),
      docs:
        record.docs_sha256 !== null && record.docs_size !== null
          ? { size: record.docs_size, sha256: record.docs_sha256, publishedAt: record.docs_published_at ?? record.updated_at }
          : undefined,
      editableUntil: window > 0 ? record.published_at + window * 1000 : undefined,
    };
  }
}

/** A release's row as its package file lists it. */
function toRegistryRelease(record: ReleaseRecord): RegistryRelease {
  return {
    version: record.version,
    innerChecksum: record.inner_checksum,
    outerChecksum: record.outer_checksum,
    requirements: JSON.parse(record.requirements) as ReleaseRequirement[],
    retirement: retirementOf(record),
    publishedAt: record.published_at,
  };
}

function retirementOf(record: ReleaseRecord): Retirement | undefined {
  const reason = RETIREMENT_REASONS.find((known) => known === record.retirement_reason);
  return reason === undefined ? undefined : { reason, message: record.retirement_message ?? '' };
}

/** The newest release that is not a pre-release, or the newest of all; `releases` oldest first. */
function latestOf<T extends { version: string }>(releases: readonly T[]): T | undefined {
  for (let at = releases.length - 1; at >= 0; at -= 1) {
    const release = releases[at];
    if (release && !release.version.includes('-')) return release;
  }
  return releases.at(-1);
}

/** What the validator guarantees, checked again where the store relies on it (blob keys, the registry). */
function checkRelease(release: ValidatedRelease): void {
  if (!isPackageName(release.name)) throw new BadRequestError(`"${release.name}" is not a valid package name`);
  if (!isVersion(release.version) || release.version.includes('+'))
    throw new BadRequestError(`"${release.version}" is not a valid version without build metadata`);
  if (!createHash('sha256').update(release.tarball).digest().equals(release.outerChecksum)) {
    throw new BadRequestError(`the outer checksum given for ${release.name} ${release.version} is not the SHA-256 of its tarball`);
  }
}

/** A key used once: a replacement never overwrites the file the committed row names. */
const blobKey = (repo: string, kind: 'tarballs' | 'docs', stem: string, extension: string): string =>
  `${repo}/${kind}/${stem}-${randomBytes(6).toString('hex')}${extension}`;

const packageKey = (repo: string, name: string): string => `${repo}/${name}`;

const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The releases of other packages of `repo` that require `name` with a requirement `version`
 * meets and no other release of `name` does: what reverting `version` would leave unable to
 * resolve ("a release others depend on cannot be reverted"). A requirement that does not
 * parse (it passed validation, so never) counts as met by nothing else.
 */
function strandedBy(
  repo: string,
  name: string,
  version: string,
  versions: readonly string[],
  dependents: readonly { name: string; version: string; requirements: string }[],
): string[] {
  const others = versions.filter((other) => other !== version);
  const stranded: string[] = [];
  for (const dependent of dependents) {
    const requirements = JSON.parse(dependent.requirements) as { name: string; requirement: string; repository?: string }[];
    const needs = requirements.find((requirement) => requirement.name === name && requirement.repository === repo);
    if (!needs) continue;
    let requirement;
    try {
      requirement = parseRequirement(needs.requirement);
    } catch {
      stranded.push(`${dependent.name} ${dependent.version}`);
      continue;
    }
    const met = (candidate: string): boolean => matches(requirement, candidate, { allowPre: true });
    if (met(version) && !others.some(met)) stranded.push(`${dependent.name} ${dependent.version}`);
  }
  return stranded;
}
