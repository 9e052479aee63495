// The registry as the policy lets clients see it: each upstream file with the blocked
// releases taken out, re-encoded with the vendored schemas and re-signed. A filtered file
// is kept as its own object (the hot path prepares headers per object), remembered under
// the upstream file's hash and the policy generation, and rebuilt when either changes or
// when a blocked release comes of age. A file with nothing blocked is served as it is.
import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ActivePolicy } from '../policy/active-policy.js';
import type { Decision } from '../policy/decide.js';
import { decideFromIndex, filterNames, filterPackage, filterVersions } from '../policy/filter.js';
import { hiddenFromNames, hiddenFromVersions, hiddenReleases } from '../policy/hidden.js';
import { createLimiter } from '../util/concurrency.js';
import { decodeNames, decodeVersions, encodeNames, encodePackage, encodeVersions } from '../registry/codec.js';
import { sealRegistryFile } from '../registry/registry-file.js';
import type { VersionsPackage } from '../registry/types.js';
import { packageOf, sha256Hex, type RegistryFile, type RegistryResult } from '../mirror/registry-mirror.js';
import { SingleFlight } from '../mirror/single-flight.js';
import type { RegistryFiles } from './repository.js';

export interface PolicyViewOptions {
  repo: string;
  registry: Pick<RegistryFiles, 'get' | 'peek' | 'packageListing'>;
  policy: ActivePolicy;
  signingKey: KeyObject;
  log: Logger;
  /** Bound of the filtered copies kept in memory. */
  memoryMaxBytes: number;
  /** The filtered /names and /versions are rebuilt at least this often (new advisories, severities). */
  indexMaxAgeMs: number;
  /**
   * A number that changes when the source changed in a way clients must see at once (a
   * publish to a hosted repository, merged or not): a filtered /names and /versions built
   * before it is not served while the next one is built. Without it, only a policy change
   * makes clients wait (upstream's changes may show a little later).
   */
  sourceGeneration?: () => number;
}

/** Left out of the filtered /versions: blocked releases, packages left with none, packages whose file could not be had. */
export interface PolicyViewFigures {
  releases: number;
  packages: number;
  unavailable: number;
}

/** A package file as the policy shows it, and the releases it took out. */
export interface PackageView {
  result: RegistryResult;
  blocked: ReadonlyMap<string, Decision>;
}

interface PackageEntry {
  sourceSha: string;
  generation: number;
  /** Milliseconds; Infinity when no blocked release comes of age. */
  expiresAt: number;
  /** Undefined: nothing blocked, the upstream file is served as it is. */
  file: RegistryFile | undefined;
  blocked: ReadonlyMap<string, Decision>;
}

interface IndexEntry {
  /** Past the moment a release it left out for its age comes of age: served no more, not even while rebuilding. */
  readonly tooNewExpired: boolean;
  /** The source's generation (sourceGeneration) when its files were read. */
  sourceGeneration: number;
  namesSha: string;
  versionsSha: string;
  generation: number;
  expiresAt: number;
  names: RegistryFile;
  versions: RegistryFile;
}

const NOTHING_BLOCKED: ReadonlyMap<string, Decision> = new Map();
const NONE: ReadonlySet<string> = new Set();
// Package files fetched at once while building /versions.
const PACKAGE_CONCURRENCY = 16;
// A view built while some package files could not be had is retried this soon.
const INCOMPLETE_RETRY_MS = 30_000;

export class PolicyView {
  private readonly packages: LRUCache<string, PackageEntry>;
  private readonly packageFlights = new SingleFlight<PackageEntry>();
  private readonly indexFlight = new SingleFlight<IndexEntry>();
  private index: IndexEntry | undefined;
  private hiddenByLastView: PolicyViewFigures = { releases: 0, packages: 0, unavailable: 0 };

  constructor(private readonly options: PolicyViewOptions) {
    this.packages = new LRUCache<string, PackageEntry>({
      maxSize: Math.max(1, options.memoryMaxBytes),
      sizeCalculation: (entry) => 512 + (entry.file ? entry.file.body.length + entry.file.payload.length : 0),
    });
  }

  /** What the latest filtered /versions left out; zeros while no policy applies. */
  figures(): PolicyViewFigures {
    return this.applies() ? this.hiddenByLastView : { releases: 0, packages: 0, unavailable: 0 };
  }

  /** Whether the policy changes what this repository serves. */
  applies(): boolean {
    return this.options.policy.appliesTo(this.options.repo);
  }

  /** Whether tarballs of blocked releases are refused (policy.tarballs "strict"). */
  strictTarballs(): boolean {
    return this.applies() && this.options.policy.current.tarballs === 'strict';
  }

  async names(): Promise<RegistryResult> {
    if (!this.applies()) return this.options.registry.get({ kind: 'names' });
    const { names, versions, sourceGeneration } = await this.sources();
    return { file: (await this.indexView(names.file, versions.file, sourceGeneration)).names, cache: names.cache };
  }

  async versions(): Promise<RegistryResult> {
    if (!this.applies()) return this.options.registry.get({ kind: 'versions' });
    const { names, versions, sourceGeneration } = await this.sources();
    return { file: (await this.indexView(names.file, versions.file, sourceGeneration)).versions, cache: versions.cache };
  }

  async package(name: string): Promise<PackageView> {
    const result = await this.options.registry.get({ kind: 'package', name });
    if (!this.applies()) return { result, blocked: NOTHING_BLOCKED };
    const entry = await this.packageEntry(name, result.file);
    const file = filteredFile(entry, result.file);
    return { result: file ? { file, cache: result.cache } : result, blocked: entry.blocked };
  }

  /** The file memory can serve at once as clients should see it ("names", "packages/NAME"). */
  peek(path: string): RegistryFile | undefined {
    const { registry } = this.options;
    const source = registry.peek(path);
    if (!source || !this.applies()) return source;
    if (path === 'names' || path === 'versions') {
      const index = this.index;
      const names = path === 'names' ? source : registry.peek('names');
      const versions = path === 'versions' ? source : registry.peek('versions');
      if (!index || !names || !versions || !this.current(index) || index.namesSha !== names.row.sha256 || index.versionsSha !== versions.row.sha256)
        return undefined;
      return path === 'names' ? index.names : index.versions;
    }
    const entry = this.packages.get(path);
    if (!entry || entry.sourceSha !== source.row.sha256 || !this.current(entry)) return undefined;
    return filteredFile(entry, source) ?? source;
  }

  /**
   * Whether memory already knows NAME@VERSION to be allowed: lets the hot path serve a
   * tarball under strict tarballs without a lookup; otherwise the routes decide.
   */
  knownAllowed(name: string, version: string): boolean {
    if (!this.strictTarballs()) return true;
    const path = `packages/${name}`;
    const source = this.options.registry.peek(path);
    const entry = this.packages.get(path);
    return source !== undefined && entry !== undefined && entry.sourceSha === source.row.sha256 && this.current(entry) && !entry.blocked.has(version);
  }

  private async sources(): Promise<{ names: RegistryResult; versions: RegistryResult; sourceGeneration: number }> {
    const { registry } = this.options;
    // Taken before reading: a change meanwhile makes what is built from them stale at once.
    const sourceGeneration = this.options.sourceGeneration?.() ?? 0;
    const [names, versions] = await Promise.all([registry.get({ kind: 'names' }), registry.get({ kind: 'versions' })]);
    return { names, versions, sourceGeneration };
  }

  private current(entry: { generation: number; expiresAt: number }): boolean {
    const { policy } = this.options;
    return entry.generation === policy.generation && policy.nowMs() < entry.expiresAt;
  }

  private async packageEntry(name: string, source: RegistryFile): Promise<PackageEntry> {
    const path = `packages/${name}`;
    const known = this.packages.get(path);
    if (known && known.sourceSha === source.row.sha256 && this.current(known)) return known;
    const { policy } = this.options;
    const generation = policy.generation;
    // Keyed by generation too: a request after a reload must not join a build under the old policy.
    const rules = policy.current;
    return this.packageFlights.run(`${path}@${source.row.sha256}/${generation}`, async () => {
      const now = policy.nowMs();
      const filtered = filterPackage(rules, packageOf(source), Math.floor(now / 1000));
      const entry: PackageEntry = {
        sourceSha: source.row.sha256,
        generation,
        blocked: filtered.blocked,
        expiresAt: filtered.changesAt === undefined ? Infinity : filtered.changesAt * 1000,
        file: filtered.blocked.size === 0 ? undefined : await this.sealed(source, encodePackage(filtered.package), hiddenReleases(filtered.blocked)),
      };
      this.packages.set(path, entry);
      return entry;
    });
  }

  /**
   * The filtered /names and /versions for these upstream files. A view built under the
   * policy in force but for older upstream files, or past its age, is served while its
   * successor is built in the background (it can only lack releases, never show a blocked
   * one); after a policy change clients wait for the new view.
   */
  private async indexView(names: RegistryFile, versions: RegistryFile, sourceGeneration: number): Promise<IndexEntry> {
    const known = this.index;
    const { policy } = this.options;
    if (known && known.namesSha === names.row.sha256 && known.versionsSha === versions.row.sha256 && this.current(known)) return known;
    const build = this.indexFlight.run(`${policy.generation}/${names.row.sha256}/${versions.row.sha256}`, async () => {
      const entry = await this.buildIndex(names, versions, sourceGeneration);
      if (entry.generation === policy.generation) this.index = entry;
      return entry;
    });
    // Not after a change clients must see at once (a publish): they wait for the new view.
    const sourceChanged = known !== undefined && known.sourceGeneration !== (this.options.sourceGeneration?.() ?? 0);
    if (known && known.generation === policy.generation && !known.tooNewExpired && !sourceChanged) {
      build.catch((error: unknown) =>
        this.options.log.error({ repo: this.options.repo, err: errorMessage(error) }, 'policy: rebuilding the filtered /names and /versions failed'),
      );
      return known;
    }
    return build;
  }

  /** Builds the filtered /names and /versions now, so the first client does not wait for it. */
  async warm(): Promise<void> {
    if (!this.applies()) return;
    await this.versions();
  }

  /**
   * /versions decides most packages by itself (deny and allow rules, "any" advisories, all
   * retirements, packages not updated within the minimum age); the rest need their package
   * file, fetched PACKAGE_CONCURRENCY at a time. A package whose file cannot be had is
   * left out: what cannot be checked is not offered.
   */
  private async buildIndex(namesFile: RegistryFile, versionsFile: RegistryFile, sourceGeneration: number): Promise<IndexEntry> {
    const { policy, log, repo } = this.options;
    // One policy for the whole build, even if a reload lands while package files are fetched.
    const generation = policy.generation;
    const rules = policy.current;
    const startedMs = policy.nowMs();
    const now = Math.floor(startedMs / 1000);
    const names = decodeNames(namesFile.payload);
    const versions = decodeVersions(versionsFile.payload);
    const updatedAt = new Map(names.packages.map((entry) => [entry.name, entry.updated_at?.seconds]));
    const blocked = new Map<string, ReadonlySet<string>>();
    const needed: VersionsPackage[] = [];
    for (const entry of versions.packages) {
      const decided = decideFromIndex(rules, entry, updatedAt.get(entry.name), now);
      if (decided === 'needs-package') needed.push(entry);
      else if (decided.size > 0) blocked.set(entry.name, decided);
    }
    let expiresAt = startedMs + this.options.indexMaxAgeMs;
    let comesOfAge = Infinity;
    let unavailable = 0;
    const limit = createLimiter(PACKAGE_CONCURRENCY);
    await Promise.all(
      needed.map((entry) =>
        limit(async () => {
          try {
            const { result, index } = await this.options.registry.packageListing(entry.name, entry.versions);
            const has = (version: string): boolean => index.positionOf(version) !== undefined;
            const pkg = packageOf(result.file);
            // Only what is blocked is needed here; a package file is filtered and signed when it is asked for.
            const filtered = filterPackage(rules, pkg, now);
            // Still unknown to the package file: not checkable, so not offered.
            const removed = new Set([...filtered.blocked.keys(), ...entry.versions.filter((version) => !has(version))]);
            if (removed.size > 0) blocked.set(entry.name, removed);
            if (filtered.changesAt !== undefined) {
              expiresAt = Math.min(expiresAt, filtered.changesAt * 1000);
              comesOfAge = Math.min(comesOfAge, filtered.changesAt * 1000);
            }
          } catch (error: unknown) {
            unavailable += 1;
            blocked.set(entry.name, new Set(entry.versions));
            log.warn(
              { repo, package: entry.name, err: errorMessage(error) },
              'policy: cannot read a package file needed to filter /versions; leaving the package out',
            );
          }
        }),
      ),
    );
    if (unavailable > 0) expiresAt = Math.min(expiresAt, startedMs + INCOMPLETE_RETRY_MS);
    const filteredVersions = filterVersions(versions, (name) => blocked.get(name) ?? NONE);
    const offered = new Set(filteredVersions.packages.map((entry) => entry.name));
    const listed = new Set(versions.packages.map((entry) => entry.name));
    // A name /versions does not list cannot be judged here; its package file is filtered when asked for.
    const filteredNames = filterNames(names, (name) => offered.has(name) || !listed.has(name));
    const removedReleases = [...blocked.values()].reduce((sum, set) => sum + set.size, 0);
    const emptied = listed.size - offered.size;
    const [namesOut, versionsOut] = await Promise.all([
      this.sealed(namesFile, encodeNames(filteredNames), hiddenFromNames(emptied)),
      this.sealed(
        versionsFile,
        encodeVersions(filteredVersions),
        hiddenFromVersions(removedReleases, [...blocked.values()].filter((set) => set.size > 0).length, emptied),
      ),
    ]);
    if (generation === policy.generation) this.hiddenByLastView = { releases: removedReleases, packages: emptied, unavailable };
    log.info(
      { repo, packagesChecked: needed.length, removedReleases, removedPackages: emptied, unavailable },
      'policy: built the filtered /names and /versions',
    );
    return {
      sourceGeneration,
      namesSha: namesFile.row.sha256,
      versionsSha: versionsFile.row.sha256,
      generation,
      expiresAt,
      names: namesOut,
      versions: versionsOut,
      get tooNewExpired() {
        return policy.nowMs() >= comesOfAge;
      },
    };
  }

  /** `source` with a payload of hexproxy's making: sealed with its key, its own ETag, and what the policy took out. */
  private async sealed(source: RegistryFile, payload: Buffer, policyHidden: string | undefined): Promise<RegistryFile> {
    const body = await sealRegistryFile(payload, this.options.signingKey);
    return { ...source, payload, body, etag: `"${sha256Hex(body).slice(0, 40)}"`, ...(policyHidden !== undefined && { policyHidden }) };
  }
}

/**
 * The entry's filtered file with the row its source has now: upstream's confirmations of the
 * same bytes (304s) move checkedAt on, and with it the lifetime a shared cache in front is
 * offered (src/http/headers.ts). Replaced once per confirmation, not per request.
 */
function filteredFile(entry: PackageEntry, source: RegistryFile): RegistryFile | undefined {
  const file = entry.file;
  if (file && file.row.checkedAt !== source.row.checkedAt) entry.file = { ...file, row: { ...file.row, checkedAt: source.row.checkedAt } };
  return entry.file;
}
