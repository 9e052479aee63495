// `hexproxy import`: reads a bundle (docs/bundle-format.md) in one pass, stages every entry
// in the blob store while checking it, and only when the whole bundle checks out (or, with
// skipBad, for the entries that do) commits the files and then all index rows in one
// transaction. Registry files are verified with the upstream key and build lists with the
// builds server's key, not the exporter's: what a bundle holds is trusted exactly as far as
// those signatures reach. The exporter's signature of the manifest (format 2), from a key
// this hexproxy trusts, decides only which of two verified copies is the later one.
import { createHash, type KeyObject } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { HexproxyError, StorageError, errorMessage } from '../errors.js';
import { validateDocsTarball } from '../hosted/docs-tarball.js';
import type { HostedStore } from '../hosted/hosted-store.js';
import { DEFAULT_DOCS_LIMITS, DEFAULT_PACKAGE_LIMITS } from '../hosted/limits.js';
import { validatePackageTarball } from '../hosted/package-tarball.js';
import { RETIREMENT_REASONS, type Retirement, type ValidatedRelease } from '../hosted/release.js';
import { parseBuildList, type BuildEntry, type BuildListName } from '../installs/builds-csv.js';
import { listSignatureProblem } from '../installs/signed-list.js';
import { fingerprintOf } from '../keys/keypair.js';
import type { Logger } from '../log.js';
import { installsPath, passthroughKey, registryKey, tarballKey } from '../cache/layout.js';
import { newTarballRow, revalidateInFull } from '../cache/rows.js';
import { verifyTarball } from '../cache/verify-tarball.js';
import { sha256Hex } from '../mirror/registry-mirror.js';
import { openRegistryFile, type VerifiedRegistryFile } from '../registry/registry-file.js';
import { describeResource, resourcePath, type RegistryResource } from '../registry/resource.js';
import { detachedSignatureProblem, publicKeyPem } from '../registry/signature.js';
import type { Package } from '../registry/types.js';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';
import type { CacheIndex } from '../store/cache-index.js';
import { BundleError, type RefusedEntry } from './bundle-error.js';
import { MAX_RELEASE_FACTS_BYTES, parseReleaseFacts, sameRetirement, type ReleaseFacts } from './hosted-entries.js';
import {
  MANIFEST_PATH,
  MANIFEST_SIGNATURE_PATH,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_SIGNATURE_BYTES,
  asBuffer,
  checkEntry,
  checkManifest,
  entryPathOf,
  hostedEntryPath,
  readEntry,
  readManifestHead,
  type BundleEntry,
  type BundleEntryKind,
  type BundleManifest,
  type EntryTarget,
  type HostedTarget,
} from './manifest.js';
import { expectedChecksum, releaseChecksums, type ExpectedChecksum } from './registry-facts.js';

export interface ImportOptions {
  file: string;
  index: CacheIndex;
  blobs: BlobStore;
  /** The public repository ("hexpm"): the bundle must be for it, and every registry payload at a plain path must name it. */
  repo: string;
  upstreamKey: KeyObject;
  /**
   * The organizations configured here, each with the key its registry files verify with
   * (organizations.ORG.publicKey, or upstream.publicKey). A bundle's files of another
   * organization (repos/ORG/…) are bad entries.
   */
  organizations?: ReadonlyMap<string, KeyObject>;
  /** The builds server's key (installs.publicKey): every installs list must verify with its .signed file and this key. */
  installsKey: KeyObject;
  /**
   * Public keys of the exporters whose signed bundles may replace cached registry files and
   * lists with ones upstream vouched for later (hexproxy's own key, bundles.trustedKeys,
   * --trust-key). Bundles signed otherwise, or unsigned, only fill gaps.
   */
  trustedKeys: readonly KeyObject[];
  /** Largest registry file accepted, compressed or decompressed. */
  maxRegistryBytes: number;
  /** Largest tarball accepted; also the limit for /installs files, as when they are fetched. */
  maxTarballBytes: number;
  /** Import the entries that check out and return the others as refused, instead of importing nothing. */
  skipBad: boolean;
  /** Pin the imported tarballs (and those already cached that the bundle holds) against eviction. */
  pin: boolean;
  log?: Logger;
  /** Called after each entry of the bundle has been read and checked. */
  onProgress?: (progress: { done: number; total: number; path: string }) => void;
  /**
   * The hosted repositories here: a bundle's hosted releases (hosted/REPO/…) are merged into
   * the one of the same name, never replacing a release that is here. Those of a repository
   * not hosted here are bad entries.
   */
  hosted?: HostedImportTarget;
  /** Where hosted files wait, checked, until the bundle is committed (a directory of the import's own is made below it, and removed). */
  stagingDir?: string;
}

/** What an import needs of the hosted store. */
export type HostedImportTarget = Pick<HostedStore, 'hosts' | 'release' | 'importRelease'>;

export interface ImportedEntry {
  path: string;
  kind: BundleEntryKind;
  /** A different copy was cached before and is now replaced. */
  replaced: boolean;
}

export interface KeptEntry {
  path: string;
  reason: string;
}

/** Whether the bundle's manifest is signed by a trusted key; if not, why (said in the report). */
export type BundleSignature = { trusted: true; fingerprint: string } | { trusted: false; fingerprint?: string; reason: string };

export interface ImportSummary {
  manifest: BundleManifest;
  signature: BundleSignature;
  /** Written to the cache, in bundle order. */
  imported: ImportedEntry[];
  /** The same bytes were cached already; nothing was written. */
  alreadyPresent: string[];
  /**
   * Not imported because the cached copy stays in force: registry files and installs lists
   * (with their .signed) not later than the cached ones, or from a bundle not trusted to
   * replace them; tarballs and builds that copy in force does not list.
   */
  keptCached: KeptEntry[];
  /** Tarballs that were cached already and are now pinned (with `pin`). */
  pinned: string[];
  /** Entries that failed a check (only ever non-empty with skipBad; otherwise the import throws). */
  refused: RefusedEntry[];
  /** Hosted releases ("REPO/NAME VERSION"): added here, or here already with the same tarball (left as they are). */
  hosted: { imported: string[]; present: string[] };
}

export async function importBundle(options: ImportOptions): Promise<ImportSummary> {
  return new BundleImport(options).run();
}

interface PlanItem {
  entry: BundleEntry;
  target?: EntryTarget;
  /** Why the manifest's own description of the entry is unacceptable. */
  problem?: string;
  arrived: boolean;
}

type Staged =
  | {
      kind: 'registry';
      path: string;
      repo: string;
      resource: RegistryResource;
      sha256: string;
      size: number;
      replaced: boolean;
      upstreamAsOf: number;
      writer?: BlobWriter;
    }
  | {
      kind: 'tarball';
      path: string;
      repo: string;
      name: string;
      version: string;
      sha256: string;
      size: number;
      replaced: boolean;
      writer?: BlobWriter;
      dependsOn?: string;
    }
  | {
      kind: 'installs';
      path: string;
      rowPath: string;
      sha256: string;
      size: number;
      replaced: boolean;
      upstreamAsOf: number;
      writer?: BlobWriter;
      dependsOn?: string;
    };

/** A cached copy confirmed by a trusted bundle as of a later time: only its row's upstreamAsOf changes. */
type Raise = {
  /** The bundle entry that confirmed it: no raise if that entry ends up refused. */
  entryPath: string;
  /** The row's path ("packages/NAME", "installs/hex.csv"). */
  rowPath: string;
  sha256: string;
  asOf: number;
} & ({ kind: 'registry'; /** The repository of the registry file's row. */ repo: string } | { kind: 'installs' });

/** An installs list or its .signed file, read and waiting for the other half to be checked with it. */
interface PairHalf {
  entry: BundleEntry;
  path: string;
  body: Buffer;
}

interface Present {
  tarball?: { repo: string; name: string; version: string; pinned: boolean };
  dependsOn?: string;
}

interface BundlePackage {
  checksums: Map<string, ExpectedChecksum>;
  /** The cached copy's checksums, when the cached copy is kept in force. */
  kept?: Map<string, ExpectedChecksum>;
}

/** `keepOut`: the entry checks out, but the copy in force does not list it, so it is not imported. */
type BuildExpectation = { sha512: string; source: string; dependsOn?: string; keepOut?: string } | { problem: string };

type Expectation = { checksum: ExpectedChecksum; source: string; dependsOn?: string; keepOut?: string } | { problem: string };

type TarEntry = tar.Extract extends AsyncIterable<infer T> ? T : never;

/** What a hosted package's registry file (signed by the exporter) says of one release. */
interface HostedListed {
  innerChecksum: Buffer;
  outerChecksum: Buffer;
  retirement: Retirement | undefined;
  publishedAt: number | undefined;
}

/** A hosted release of the bundle, as its entries arrive and check out. */
interface HostedArrival {
  repository: string;
  name: string;
  version: string;
  facts: ReleaseFacts;
  factsPath: string;
  /** The same release, with the same tarball, is here already: nothing of it is written. */
  present: boolean;
  /** The checked tarball, waiting in the staging directory, with what validation found in it. */
  tarball?: { file: string; path: string; release: Omit<ValidatedRelease, 'tarball'> };
  docs?: { file: string; path: string };
}

/** Reading the bundle itself failed: it is cut short or corrupt. */
class BrokenBundle extends Error {}

class BundleImport {
  private items: PlanItem[] = [];
  private readonly byPath = new Map<string, number[]>();
  /** Index of the next manifest entry the tar should hold. */
  private next = 0;
  private current: string | undefined;
  private readonly refused = new Map<string, string>();
  private readonly staged = new Map<string, Staged>();
  private readonly present = new Map<string, Present>();
  private readonly kept = new Map<string, string>();
  /** By "REPO/NAME". */
  private readonly bundlePackages = new Map<string, BundlePackage>();
  /** By "REPO/NAME". */
  private readonly cachedPackages = new Map<string, Map<string, ExpectedChecksum> | string>();
  /** The builds each of the bundle's build lists names, once the list verified with its .signed file. */
  private readonly bundleLists = new Map<BuildListName, Map<string, BuildEntry>>();
  /** Build lists of the bundle kept out: the builds the cached list in force names. */
  private readonly keptLists = new Map<BuildListName, Map<string, BuildEntry>>();
  /** Lists and .signed files read, waiting for the other half. */
  private readonly pendingPairs = new Map<BuildListName, { list?: PairHalf; signed?: PairHalf }>();
  private readonly raises: Raise[] = [];
  private signature: BundleSignature = { trusted: false, reason: 'is not signed (format version 1)' };
  /** The trusted key that signed the manifest: hosted registry files verify with it. */
  private signerKey: KeyObject | undefined;
  /** Hosted registry files read and verified, by "REPO/NAME": what each lists, by version. */
  private readonly hostedPackages = new Map<string, Map<string, HostedListed>>();
  /** Hosted releases, by "REPO/NAME/VERSION". */
  private readonly hostedArrivals = new Map<string, HostedArrival>();
  private staging: string | undefined;
  private stagedFiles = 0;

  constructor(private readonly options: ImportOptions) {}

  async run(): Promise<ImportSummary> {
    const { file } = this.options;
    // Opened first, so a missing or unreadable file is reported as the file system puts it.
    const handle = await open(file, 'r');
    const extract = tar.extract();
    const feeding = pipeline(handle.createReadStream(), extract).catch(() => undefined);
    const entries = extract[Symbol.asyncIterator]();
    try {
      const manifest = await this.readManifest(entries);
      this.plan(manifest);
      for (;;) {
        let step: IteratorResult<TarEntry>;
        try {
          step = await entries.next();
        } catch (error: unknown) {
          await this.broken(error);
          break;
        }
        if (step.done) break;
        try {
          await this.onEntry(step.value);
        } catch (error: unknown) {
          if (!(error instanceof BrokenBundle)) throw error;
          await this.broken(error.cause);
          break;
        }
      }
      await this.refuseMissing();
      await this.refuseLonePairs();
      await this.refuseDependents();
      await this.settleHosted();
      return await this.finish(manifest);
    } catch (error: unknown) {
      await this.abortAll();
      throw error;
    } finally {
      extract.destroy();
      await feeding;
      if (this.staging !== undefined) await rm(this.staging, { recursive: true, force: true });
    }
  }

  private async readManifest(entries: AsyncIterator<TarEntry>): Promise<BundleManifest> {
    const { file, repo } = this.options;
    const fatal = (reason: string, cause?: unknown): BundleError =>
      BundleError.refusing(file, [{ path: MANIFEST_PATH, reason }], cause === undefined ? undefined : { cause });
    let first: IteratorResult<TarEntry>;
    try {
      first = await entries.next();
    } catch (error: unknown) {
      throw fatal(`cannot be read; the file is not a tar archive (${errorMessage(error)})`, error);
    }
    if (first.done) throw fatal('is missing; the bundle is empty');
    const { name, size, type } = first.value.header;
    if (name !== MANIFEST_PATH || !isRegularFile(type)) throw fatal(`is missing; the first entry is ${JSON.stringify(name)}`);
    if (size > MAX_MANIFEST_BYTES) throw fatal(`is larger than ${MAX_MANIFEST_BYTES} bytes`);
    let bytes: Buffer;
    try {
      bytes = await readEntry(first.value);
    } catch (error: unknown) {
      throw fatal(`is cut short (${errorMessage(error)})`, error);
    }
    let manifest: BundleManifest;
    try {
      // The signature is checked before anything else of the manifest is believed.
      const head = readManifestHead(bytes, file);
      if (head.formatVersion === 2 && head.fingerprint !== undefined) this.signature = await this.checkSignature(entries, bytes, head.fingerprint);
      manifest = checkManifest(head.json, file);
    } catch (error: unknown) {
      if (error instanceof BundleError && error.refused[0]?.path === MANIFEST_PATH) throw fatal(error.refused[0].reason, error);
      throw error;
    }
    if (manifest.upstream.repository !== repo) {
      throw fatal(`is for repository "${manifest.upstream.repository}" (${manifest.upstream.url}); this hexproxy mirrors "${repo}"`);
    }
    return manifest;
  }

  /**
   * manifest.sig, the second entry of a format 2 bundle: verified with the trusted key the
   * manifest names. A signature by a trusted key that does not verify refuses the whole
   * bundle (the manifest was changed); one by a key not trusted makes the bundle untrusted.
   */
  private async checkSignature(entries: AsyncIterator<TarEntry>, manifestBytes: Buffer, fingerprint: string): Promise<BundleSignature> {
    const { file, trustedKeys } = this.options;
    const fatal = (reason: string, cause?: unknown): BundleError =>
      BundleError.refusing(file, [{ path: MANIFEST_SIGNATURE_PATH, reason }], cause === undefined ? undefined : { cause });
    let next: IteratorResult<TarEntry>;
    try {
      next = await entries.next();
    } catch (error: unknown) {
      throw fatal(`cannot be read; the bundle is cut short or corrupt (${errorMessage(error)})`, error);
    }
    const expected = `is missing: a format version 2 bundle has ${MANIFEST_SIGNATURE_PATH} right after ${MANIFEST_PATH}`;
    if (next.done) throw fatal(`${expected}; the bundle ends after ${MANIFEST_PATH}`);
    const { name, size, type } = next.value.header;
    if (name !== MANIFEST_SIGNATURE_PATH || !isRegularFile(type)) {
      await drain(next.value).catch(() => undefined);
      throw fatal(`${expected}; the second entry is ${JSON.stringify(name)}`);
    }
    if (size > MAX_MANIFEST_SIGNATURE_BYTES) throw fatal(`is larger than ${MAX_MANIFEST_SIGNATURE_BYTES} bytes`);
    let signature: Buffer;
    try {
      signature = await readEntry(next.value);
    } catch (error: unknown) {
      throw fatal(`is cut short (${errorMessage(error)})`, error);
    }
    const key = trustedKeys.find((candidate) => fingerprintOf(publicKeyPem(candidate)) === fingerprint);
    if (!key) return { trusted: false, fingerprint, reason: `is signed by a key this hexproxy does not trust (fingerprint ${fingerprint})` };
    const problem = detachedSignatureProblem(manifestBytes, signature, key);
    if (problem !== undefined) {
      throw fatal(
        `does not verify with the trusted key ${fingerprint} the manifest names: the manifest or its signature was changed after signing (${problem})`,
      );
    }
    this.signerKey = key;
    return { trusted: true, fingerprint };
  }

  /** When a trusted bundle says upstream vouched for an entry; undefined if it does not say, or the bundle is not trusted. */
  private attested(entry: BundleEntry): number | undefined {
    return this.signature.trusted && entry.upstreamAsOf !== undefined ? Date.parse(entry.upstreamAsOf) : undefined;
  }

  /**
   * Why a verified bundle copy does not replace the verified cached one (`what`, upstream's
   * word as of `cachedAsOf`), or undefined when it does: only a trusted bundle's copy
   * attested later than the cached one replaces it.
   */
  private keepReason(what: string, cachedAsOf: number, attested: number | undefined): string | undefined {
    const { signature } = this;
    if (!signature.trusted) {
      const hint =
        signature.fingerprint === undefined
          ? 'to let them replace cached ones, export it again with a hexproxy that signs bundles, and add its public key to bundles.trustedKeys here'
          : "to let them replace cached ones, add the exporter's public key to bundles.trustedKeys (or pass --trust-key)";
      return `the bundle ${signature.reason}: its registry files and lists only fill gaps, and a verified ${what} is cached; ${hint}`;
    }
    if (attested === undefined) {
      return `the bundle gives no time of upstream's word for it (its exporter had it from a bundle it did not trust): it only fills a gap, and a verified ${what} is cached`;
    }
    if (attested <= cachedAsOf) {
      return `the cached ${what} is upstream's word as of ${new Date(cachedAsOf).toISOString()}, not older than this one's (${new Date(attested).toISOString()})`;
    }
    return undefined;
  }

  /** Checks what the manifest says of each entry before any bytes arrive. */
  private plan(manifest: BundleManifest): void {
    const { maxRegistryBytes, maxTarballBytes } = this.options;
    this.items = manifest.entries.map((entry, i): PlanItem => {
      const indices = this.byPath.get(entry.path);
      if (indices) indices.push(i);
      else this.byPath.set(entry.path, [i]);
      const checked = checkEntry(entry);
      if ('problem' in checked) return { entry, problem: checked.problem, arrived: false };
      const { target } = checked;
      const organization = target.kind === 'registry' || target.kind === 'tarball' ? target.organization : undefined;
      if (organization !== undefined && !this.options.organizations?.has(organization)) {
        return { entry, target, problem: unconfiguredOrganization(organization), arrived: false };
      }
      if (target.kind === 'hosted' && this.options.hosted?.hosts(target.repository) !== true) {
        return { entry, target, problem: notHostedHere(target.repository), arrived: false };
      }
      const [limit, setting] =
        target.kind === 'hosted'
          ? hostedLimit(target, maxRegistryBytes)
          : entry.kind === 'registry'
            ? [maxRegistryBytes, 'cache.maxRegistryBytes']
            : [maxTarballBytes, 'cache.maxTarballBytes'];
      if (entry.size > limit) {
        return { entry, target, problem: `is ${entry.size} bytes, over the limit of ${limit} bytes (${setting})`, arrived: false };
      }
      return { entry, target: checked.target, arrived: false };
    });
    for (const item of this.items) {
      if ((this.byPath.get(item.entry.path)?.length ?? 0) > 1) item.problem = 'is listed more than once in the manifest';
    }
  }

  private async onEntry(entry: TarEntry): Promise<void> {
    const { name, size, type } = entry.header;
    const item = await this.match(name);
    if (!item) {
      await drain(entry);
      return;
    }
    // Left set if reading the entry fails, so that broken() can name it.
    this.current = item.entry.path;
    if (item.problem || !item.target) {
      await this.refuse(item.entry.path, item.problem ?? 'is not a bundle path');
      await drain(entry);
    } else if (!isRegularFile(type)) {
      await this.refuse(item.entry.path, `is a ${type} entry in the tar, not a regular file`);
      await drain(entry);
    } else if (size !== item.entry.size) {
      await this.refuse(item.entry.path, `is ${size} bytes in the tar; the manifest says ${item.entry.size}`);
      await drain(entry);
    } else if (item.target.kind === 'registry') {
      await this.stageRegistryFile(item.entry, this.repositoryOf(item.target), item.target.resource, entry);
    } else if (item.target.kind === 'installs') {
      await this.stageInstalls(item.entry, item.target, entry);
    } else if (item.target.kind === 'hosted') {
      await this.stageHosted(item.entry, item.target, entry);
    } else {
      await this.stageTarball(item.entry, this.repositoryOf(item.target), item.target.name, item.target.version, entry);
    }
    this.current = undefined;
    this.options.onProgress?.({ done: this.next, total: this.items.length, path: item.entry.path });
  }

  /** The manifest entry a tar entry stands for, in manifest order; refuses entries that fit none. */
  private async match(name: string): Promise<PlanItem | undefined> {
    const indices = this.byPath.get(name);
    if (!indices) {
      await this.refuse(name, 'is in the bundle but not listed in the manifest');
      return undefined;
    }
    const at = indices.find((i) => i >= this.next && !this.items[i]?.arrived);
    if (at === undefined) {
      await this.refuse(name, indices.every((i) => this.items[i]?.arrived) ? 'appears more than once in the bundle' : 'is out of manifest order');
      return undefined;
    }
    // Entries skipped over are missing: a later copy could only be out of order.
    for (let i = this.next; i < at; i += 1) await this.refuseMissingItem(i, `is missing: the bundle goes on with ${name}`);
    this.next = at + 1;
    const item = this.items[at] as PlanItem;
    item.arrived = true;
    return item;
  }

  /** The repository an organization's entry is in, else the public one. */
  private repositoryOf(target: { organization?: string }): string {
    return target.organization ?? this.options.repo;
  }

  /** The key a repository's registry files verify with, and the setting it comes from. */
  private keyOf(repo: string): { key: KeyObject; setting: string } {
    const orgKey = repo === this.options.repo ? undefined : this.options.organizations?.get(repo);
    return orgKey
      ? { key: orgKey, setting: `the key of organization ${repo} (organizations.${repo}.publicKey, or upstream.publicKey)` }
      : { key: this.options.upstreamKey, setting: 'the upstream key' };
  }

  private async stageRegistryFile(entry: BundleEntry, repo: string, resource: RegistryResource, stream: TarEntry): Promise<void> {
    const { index, blobs, maxRegistryBytes } = this.options;
    const body = Buffer.concat(await collect(stream));
    const sha256 = sha256Hex(body);
    if (sha256 !== entry.sha256) {
      await this.refuse(entry.path, `has SHA-256 ${sha256}; the manifest says ${entry.sha256}`);
      return;
    }
    let verified: VerifiedRegistryFile;
    const { key: publicKey, setting } = this.keyOf(repo);
    try {
      verified = await openRegistryFile(body, resource, { publicKey, repository: repo, maxBytes: maxRegistryBytes, source: 'bundle' });
    } catch (error: unknown) {
      if (!(error instanceof HexproxyError)) throw error;
      await this.refuse(entry.path, `does not verify with ${setting}: ${error.message}`);
      return;
    }
    const pkg: BundlePackage | undefined = resource.kind === 'package' ? { checksums: releaseChecksums(verified.message as Package) } : undefined;
    if (resource.kind === 'package' && pkg) this.bundlePackages.set(`${repo}/${resource.name}`, pkg);

    const path = resourcePath(resource);
    const key = registryKey(repo, path);
    const attested = this.attested(entry);
    // Unknown (0) unless a trusted bundle attests it: any later trusted copy replaces it.
    const upstreamAsOf = attested ?? 0;
    const row = index.findRegistryFile(repo, path);
    const cachedBody = await blobs.read(key);
    if (cachedBody && sha256Hex(cachedBody) === sha256) {
      if (row?.sha256 === sha256 && row.size === body.length) {
        this.present.set(entry.path, {});
        if (attested !== undefined && attested > row.upstreamAsOf)
          this.raises.push({ entryPath: entry.path, kind: 'registry', repo, rowPath: path, sha256, asOf: attested });
      } else {
        // The bytes are on disk already but their index row lags (a crash between the two): write only the row.
        this.staged.set(entry.path, { kind: 'registry', path: entry.path, repo, resource, sha256, size: body.length, replaced: false, upstreamAsOf });
      }
      return;
    }
    // A cached file that no longer verifies is a gap: any verified copy fills it.
    const cached = cachedBody && row ? await this.openCached(repo, cachedBody, resource) : undefined;
    if (cached && row) {
      const keep = this.keepReason(this.describe(repo, resource), row.upstreamAsOf, attested);
      if (keep !== undefined) {
        this.kept.set(entry.path, keep);
        if (pkg) pkg.kept = releaseChecksums(cached.message as Package);
        return;
      }
    }
    const writer = await blobs.begin(key);
    this.staged.set(entry.path, {
      kind: 'registry',
      path: entry.path,
      repo,
      resource,
      sha256,
      size: body.length,
      replaced: row !== undefined,
      upstreamAsOf,
      writer,
    });
    await writer.write(body);
    // Durable and closed now, so a large bundle does not hold a file open per entry.
    await writer.finish();
  }

  private async stageTarball(entry: BundleEntry, repo: string, name: string, version: string, stream: TarEntry): Promise<void> {
    const { index, blobs } = this.options;
    const expectation = await this.expectationFor(repo, name, version);
    if ('problem' in expectation) {
      await this.refuse(entry.path, expectation.problem);
      await drain(stream);
      return;
    }
    const { checksum, source, dependsOn, keepOut } = expectation;
    const key = tarballKey(repo, name, version);
    const row = index.findTarball(repo, name, version);
    const onDisk = row && row.sha256 === entry.sha256 && row.size === entry.size ? await blobs.open(key) : undefined;
    const isPresent = row !== undefined && onDisk?.size === row.size;
    // Kept out: still read and checked (a changed bundle is refused), but never written.
    const writer = isPresent || keepOut !== undefined ? undefined : await blobs.begin(key);
    const staged: Staged = {
      kind: 'tarball',
      path: entry.path,
      repo,
      name,
      version,
      sha256: entry.sha256,
      size: entry.size,
      replaced: row !== undefined,
      ...(writer && { writer }),
      ...(dependsOn !== undefined && { dependsOn }),
    };
    if (writer) this.staged.set(entry.path, staged);

    const hash = createHash('sha256');
    // The inner checksum needs the parts of the tarball, so old releases are kept whole in memory.
    const kept: Buffer[] | undefined = checksum.kind === 'inner' ? [] : undefined;
    let size = 0;
    for await (const chunk of chunksOf(stream)) {
      hash.update(chunk);
      size += chunk.length;
      kept?.push(chunk);
      await writer?.write(chunk);
    }
    await writer?.finish();
    const actual = hash.digest('hex');
    if (actual !== entry.sha256 || size !== entry.size) {
      await this.refuse(entry.path, `has SHA-256 ${actual}; the manifest says ${entry.sha256}`);
      return;
    }
    const mismatch = await verifyTarball(checksum, { sha256: actual, ...(kept && { bytes: Buffer.concat(kept) }) });
    if (mismatch !== undefined) {
      await this.refuse(entry.path, `does not match ${source}: ${mismatch}`);
      return;
    }
    if (keepOut !== undefined) {
      this.kept.set(entry.path, keepOut);
      return;
    }
    if (isPresent) {
      this.present.set(entry.path, { tarball: { repo, name, version, pinned: row.pinned }, ...(dependsOn !== undefined && { dependsOn }) });
    }
  }

  /**
   * A build list, its .signed file, or a build. A list and its .signed file are held until
   * both are read, then verified together with the builds server's key (as Mix checks them)
   * and imported, kept or refused together. A build must have the SHA-512 a verified list
   * gives: the bundle's if it holds one, else the cached one.
   */
  private async stageInstalls(entry: BundleEntry, target: Extract<EntryTarget, { kind: 'installs' }>, stream: TarEntry): Promise<void> {
    const { what } = target;
    if (what.kind === 'build') {
      // Every list and .signed file comes before the first build: a half still alone stays alone.
      await this.refuseLonePairs();
      const expectation = await this.buildExpectation(target.path, what.list);
      if ('problem' in expectation) {
        await this.refuse(entry.path, expectation.problem);
        await drain(stream);
        return;
      }
      const body = Buffer.concat(await collect(stream));
      if (!(await this.checkedBody(entry, body))) return;
      const sha512 = createHash('sha512').update(body).digest('hex');
      if (sha512 !== expectation.sha512) {
        await this.refuse(entry.path, `does not match ${expectation.source}: expected SHA-512 ${expectation.sha512}, got ${sha512}`);
        return;
      }
      if (expectation.keepOut !== undefined) {
        this.kept.set(entry.path, expectation.keepOut);
        return;
      }
      await this.stageInstallsBody(entry, target.path, body, expectation.dependsOn, 0);
      return;
    }
    const body = Buffer.concat(await collect(stream));
    if (!(await this.checkedBody(entry, body))) return;
    const pair = this.pendingPairs.get(what.list) ?? {};
    pair[what.kind === 'list' ? 'list' : 'signed'] = { entry, path: target.path, body };
    this.pendingPairs.set(what.list, pair);
    if (pair.list && pair.signed) {
      this.pendingPairs.delete(what.list);
      await this.settlePair(what.list, pair.list, pair.signed);
    }
  }

  /** Both halves of a list's pair are read: verify them together, then import, keep or refuse both. */
  private async settlePair(list: BuildListName, listHalf: PairHalf, signedHalf: PairHalf): Promise<void> {
    const { index, installsKey } = this.options;
    const problem = listSignatureProblem(listHalf.body, signedHalf.body, installsKey);
    if (problem !== undefined) {
      await this.refuse(listHalf.entry.path, `does not verify with its .signed file and the builds server's key (installs.publicKey): ${problem}`);
      await this.refuse(signedHalf.entry.path, `does not verify its list ${listHalf.entry.path} (see there)`);
      return;
    }
    const entries = parseBuildList(list, listHalf.body);
    this.bundleLists.set(list, entries);
    const attested = this.attested(listHalf.entry);
    const listRow = index.findPassthroughFile(installsPath(list));
    const signedRow = index.findPassthroughFile(installsPath(`${list}.signed`));
    const same = listRow?.sha256 === listHalf.entry.sha256 && signedRow?.sha256 === signedHalf.entry.sha256;
    const cached = same ? undefined : await this.cachedList(list);
    if (cached && listRow && typeof cached !== 'string') {
      const keep = this.keepReason(`/installs/${list}`, listRow.upstreamAsOf, attested);
      if (keep !== undefined) {
        this.keptLists.set(list, cached);
        this.kept.set(listHalf.entry.path, keep);
        this.kept.set(signedHalf.entry.path, `goes with its list ${listHalf.entry.path}, which is kept`);
        return;
      }
    }
    const upstreamAsOf = attested ?? 0;
    await this.stageInstallsBody(listHalf.entry, listHalf.path, listHalf.body, undefined, upstreamAsOf);
    // The .signed file is refused, kept or imported with its list.
    await this.stageInstallsBody(signedHalf.entry, signedHalf.path, signedHalf.body, listHalf.entry.path, upstreamAsOf);
    if (same && attested !== undefined && listRow && attested > listRow.upstreamAsOf) {
      this.raises.push({
        entryPath: listHalf.entry.path,
        kind: 'installs',
        rowPath: installsPath(list),
        sha256: listHalf.entry.sha256,
        asOf: attested,
      });
      this.raises.push({
        entryPath: signedHalf.entry.path,
        kind: 'installs',
        rowPath: installsPath(`${list}.signed`),
        sha256: signedHalf.entry.sha256,
        asOf: attested,
      });
    }
  }

  /** A list without its .signed file in the bundle, or a .signed file without its list, cannot be verified. */
  private async refuseLonePairs(): Promise<void> {
    for (const [list, { list: listHalf, signed }] of this.pendingPairs) {
      const partnerRefused = (path: string): string | undefined => {
        const reason = this.refused.get(path);
        return reason === undefined ? undefined : `goes with ${path}, which was refused (${reason})`;
      };
      const listPath = `installs/${list}`;
      if (listHalf) {
        await this.refuse(
          listHalf.entry.path,
          partnerRefused(`${listPath}.signed`) ??
            `comes without ${listPath}.signed in the bundle, so it cannot be verified with the builds server's key`,
        );
      }
      if (signed) await this.refuse(signed.entry.path, partnerRefused(listPath) ?? `comes without its list ${listPath} in the bundle`);
    }
    this.pendingPairs.clear();
  }

  /** Whether the bytes are those the manifest lists; refuses the entry if not. */
  private async checkedBody(entry: BundleEntry, body: Buffer): Promise<boolean> {
    const sha256 = sha256Hex(body);
    if (sha256 === entry.sha256 && body.length === entry.size) return true;
    await this.refuse(entry.path, `has SHA-256 ${sha256}; the manifest says ${entry.sha256}`);
    return false;
  }

  /** Records the same bytes already cached as present, else stages them in the blob store. */
  private async stageInstallsBody(
    entry: BundleEntry,
    path: string,
    body: Buffer,
    dependsOn: string | undefined,
    upstreamAsOf: number,
  ): Promise<void> {
    const { index, blobs } = this.options;
    const rowPath = installsPath(path);
    const key = passthroughKey(rowPath);
    const row = index.findPassthroughFile(rowPath);
    if (row?.sha256 === entry.sha256 && row.size === body.length && (await blobs.open(key))?.size === row.size) {
      this.present.set(entry.path, dependsOn === undefined ? {} : { dependsOn });
      return;
    }
    const writer = await blobs.begin(key);
    this.staged.set(entry.path, {
      kind: 'installs',
      path: entry.path,
      rowPath,
      sha256: entry.sha256,
      size: body.length,
      replaced: row !== undefined,
      upstreamAsOf,
      writer,
      ...(dependsOn !== undefined && { dependsOn }),
    });
    await writer.write(body);
    await writer.finish();
  }

  /** The SHA-512 a build must have: from the bundle's verified list (or the cached one kept in force), else from the cached one. */
  private async buildExpectation(path: string, list: BuildListName): Promise<BuildExpectation> {
    const listPath = `installs/${list}`;
    if (this.byPath.has(listPath)) {
      const reason = this.refused.get(listPath);
      if (reason !== undefined) return { problem: `its list ${listPath} was refused (${reason})` };
      const listed = this.bundleLists.get(list);
      if (!listed) return { problem: `its list ${listPath} was not read and verified before it` };
      const build = listed.get(path);
      if (!build) return { problem: `${listPath} in the bundle does not list it` };
      const inForce = this.keptLists.get(list);
      if (inForce) {
        const cached = inForce.get(path);
        if (!cached)
          return {
            sha512: build.sha512,
            source: listPath,
            keepOut: `the cached /installs/${list}, kept in force, does not name it (this bundle's copy does); not imported`,
          };
        if (cached.sha512 !== build.sha512)
          return { problem: `the cached /installs/${list}, kept in force, gives another SHA-512 for it (${cached.sha512})` };
      }
      return { sha512: build.sha512, source: listPath, dependsOn: listPath };
    }
    const cached = await this.cachedList(list);
    if (cached === undefined) return { problem: `the bundle has no ${listPath}, and none is cached to check the build against` };
    if (typeof cached === 'string') return { problem: `the bundle has no ${listPath}, and the cached /installs/${list} ${cached}` };
    const build = cached.get(path);
    if (!build) return { problem: `the bundle has no ${listPath}, and the cached /installs/${list} does not list it` };
    return { sha512: build.sha512, source: `the cached /installs/${list}` };
  }

  /** The builds the cached list names, if it and its cached .signed file verify together; what is wrong otherwise; undefined if no list is cached. */
  private async cachedList(list: BuildListName): Promise<Map<string, BuildEntry> | string | undefined> {
    const { index, blobs, installsKey } = this.options;
    const listPath = installsPath(list);
    const listBody = index.findPassthroughFile(listPath) ? await blobs.read(passthroughKey(listPath)) : undefined;
    if (!listBody) return undefined;
    const signedBody = index.findPassthroughFile(`${listPath}.signed`) ? await blobs.read(passthroughKey(`${listPath}.signed`)) : undefined;
    if (!signedBody) return 'is cached without its .signed file, so it cannot be verified';
    const problem = listSignatureProblem(listBody, signedBody, installsKey);
    if (problem !== undefined) return `does not verify with its cached .signed file (${problem})`;
    return parseBuildList(list, listBody);
  }

  /** How messages name a registry file: /packages/NAME, or /repos/ORG/packages/NAME for an organization's. */
  private describe(repo: string, resource: RegistryResource): string {
    return `${repo === this.options.repo ? '' : `/repos/${repo}`}${describeResource(resource)}`;
  }

  /** The checksum a release's tarball must have: from the bundle's verified /packages/NAME, else from the cached one. */
  private async expectationFor(repo: string, name: string, version: string): Promise<Expectation> {
    const organization = repo === this.options.repo ? {} : { organization: repo };
    const registryPath = entryPathOf({ kind: 'registry', resource: { kind: 'package', name }, ...organization });
    const cachedName = this.describe(repo, { kind: 'package', name });
    if (this.byPath.has(registryPath)) {
      const reason = this.refused.get(registryPath);
      if (reason !== undefined) return { problem: `its registry file ${registryPath} was refused (${reason})` };
      const pkg = this.bundlePackages.get(`${repo}/${name}`);
      if (!pkg) return { problem: `its registry file ${registryPath} was not read before it` };
      const checksum = pkg.checksums.get(version);
      if (!checksum) return { problem: `${registryPath} in the bundle does not list version ${version}` };
      if (pkg.kept) {
        // The cached file stays in force: a release it does not list stays out (it may have been removed since).
        const cached = pkg.kept.get(version);
        if (!cached)
          return {
            checksum,
            source: registryPath,
            keepOut: `the cached ${cachedName}, kept in force, does not list ${version} (this bundle's copy does); not imported`,
          };
        if (cached.kind !== checksum.kind || cached.hex !== checksum.hex) {
          return { problem: `the cached ${cachedName}, kept in force, lists another ${cached.kind} checksum for ${version} (${cached.hex})` };
        }
      }
      return { checksum, source: registryPath, dependsOn: registryPath };
    }
    const cached = await this.cachedPackage(repo, name);
    if (typeof cached === 'string') return { problem: cached };
    const checksum = cached.get(version);
    if (!checksum) return { problem: `the bundle has no ${registryPath}, and the cached ${cachedName} does not list version ${version}` };
    return { checksum, source: `the cached ${cachedName}` };
  }

  private async cachedPackage(repo: string, name: string): Promise<Map<string, ExpectedChecksum> | string> {
    const memo = this.cachedPackages.get(`${repo}/${name}`);
    if (memo !== undefined) return memo;
    const { index, blobs } = this.options;
    const resource: RegistryResource = { kind: 'package', name };
    const path = resourcePath(resource);
    const registryPath = entryPathOf({ kind: 'registry', resource, ...(repo === this.options.repo ? {} : { organization: repo }) });
    const cachedName = this.describe(repo, resource);
    const body = index.findRegistryFile(repo, path) ? await blobs.read(registryKey(repo, path)) : undefined;
    let result: Map<string, ExpectedChecksum> | string;
    if (!body) {
      result = `the bundle has no ${registryPath} and none is cached to check the tarball against`;
    } else {
      const verified = await this.openCached(repo, body, resource);
      result = verified
        ? new Map((verified.message as Package).releases.map((release) => [release.version, expectedChecksum(release)]))
        : `the bundle has no ${registryPath}, and the cached ${cachedName} does not verify with ${this.keyOf(repo).setting}`;
    }
    this.cachedPackages.set(`${repo}/${name}`, result);
    return result;
  }

  /** A cached registry file that no longer verifies counts as not cached. */
  private async openCached(repo: string, body: Buffer, resource: RegistryResource): Promise<VerifiedRegistryFile | undefined> {
    const { maxRegistryBytes } = this.options;
    try {
      return await openRegistryFile(body, resource, {
        publicKey: this.keyOf(repo).key,
        repository: repo,
        maxBytes: maxRegistryBytes,
        source: 'cache',
      });
    } catch (error: unknown) {
      if (error instanceof HexproxyError) return undefined;
      throw error;
    }
  }

  // ---- Hosted repositories ------------------------------------------------------------
  // Their releases are hexproxy's own, so no upstream key vouches for them: their registry
  // files verify with the key that signed the manifest, which must be one this hexproxy
  // trusts; each tarball must have the checksums that file lists (and pass publishing's
  // validation), each docs tarball the SHA-256 its release's facts give.

  private async stageHosted(entry: BundleEntry, target: HostedTarget, stream: TarEntry): Promise<void> {
    const signerKey = this.signature.trusted ? this.signerKey : undefined;
    if (!signerKey) {
      await this.refuse(entry.path, untrustedHosted(this.signature));
      await drain(stream);
      return;
    }
    if (target.what === 'registry') {
      const body = Buffer.concat(await collect(stream));
      if (!(await this.checkedBody(entry, body))) return;
      try {
        const verified = await openRegistryFile(
          body,
          { kind: 'package', name: target.name },
          {
            publicKey: signerKey,
            repository: target.repository,
            maxBytes: this.options.maxRegistryBytes,
            source: 'bundle',
          },
        );
        const listed = new Map<string, HostedListed>();
        for (const release of (verified.message as Package).releases) {
          listed.set(release.version, {
            innerChecksum: release.inner_checksum,
            outerChecksum: release.outer_checksum ?? Buffer.alloc(0),
            retirement: release.retired && {
              reason: RETIREMENT_REASONS[release.retired.reason] ?? 'other',
              message: release.retired.message ?? '',
            },
            publishedAt: millisOf(release.published_at),
          });
        }
        this.hostedPackages.set(`${target.repository}/${target.name}`, listed);
      } catch (error: unknown) {
        if (!(error instanceof HexproxyError)) throw error;
        await this.refuse(
          entry.path,
          `does not verify with the exporter's key (the key that signed the manifest, ${this.signature.trusted ? this.signature.fingerprint : ''}): ${error.message}`,
        );
      }
      return;
    }
    const registryPath = hostedEntryPath({ kind: 'hosted', repository: target.repository, what: 'registry', name: target.name });
    const key = releaseKey(target);
    if (target.what === 'release') {
      const body = Buffer.concat(await collect(stream));
      if (!(await this.checkedBody(entry, body))) return;
      const listed = await this.hostedListed(entry.path, registryPath, target);
      if (!listed) return;
      const facts = parseReleaseFacts(body);
      const problem =
        'problem' in facts
          ? facts.problem
          : facts.repository !== target.repository || facts.name !== target.name || facts.version !== target.version
            ? `names ${facts.repository}/${facts.name} ${facts.version}, not the release its path names`
            : listed.publishedAt !== undefined && Date.parse(facts.publishedAt) !== listed.publishedAt
              ? `gives ${facts.publishedAt} as its publication time; ${registryPath} says ${new Date(listed.publishedAt).toISOString()}`
              : !sameRetirement(listed.retirement, facts.retirement)
                ? `does not give the retirement ${registryPath} gives`
                : undefined;
      if (problem !== undefined || 'problem' in facts) {
        await this.refuse(entry.path, problem ?? 'is malformed');
        return;
      }
      const existing = this.options.hosted?.release(target.repository, target.name, target.version);
      if (existing && !existing.outerChecksum.equals(listed.outerChecksum)) {
        await this.refuse(entry.path, conflict(target, existing.outerChecksum, listed.outerChecksum));
        return;
      }
      this.hostedArrivals.set(key, { ...target, facts, factsPath: entry.path, present: existing !== undefined });
      if (existing) this.present.set(entry.path, {});
      return;
    }
    const arrival = this.hostedArrivals.get(key);
    const factsPath = hostedEntryPath({ ...target, what: 'release' });
    if (!arrival) {
      const reason = this.refused.get(factsPath);
      await this.refuse(
        entry.path,
        reason === undefined ? `its facts ${factsPath} are not in the bundle before it` : `its facts ${factsPath} were refused (${reason})`,
      );
      await drain(stream);
      return;
    }
    const bytes = Buffer.concat(await collect(stream));
    if (!(await this.checkedBody(entry, bytes))) return;
    if (target.what === 'tarball') {
      const listed = this.hostedPackages.get(`${target.repository}/${target.name}`)?.get(target.version);
      const outer = createHash('sha256').update(bytes).digest();
      if (!listed || !outer.equals(listed.outerChecksum)) {
        await this.refuse(
          entry.path,
          `does not match ${registryPath}: its SHA-256 is ${outer.toString('hex')}, the registry file gives ${listed?.outerChecksum.toString('hex') ?? 'none'}`,
        );
        return;
      }
      let release: ValidatedRelease;
      try {
        release = await validatePackageTarball(bytes, { name: target.name, version: target.version });
      } catch (error: unknown) {
        if (!(error instanceof HexproxyError)) throw error;
        await this.refuse(entry.path, `is not a package hexproxy would accept for publishing: ${error.message}`);
        return;
      }
      if (!release.innerChecksum.equals(listed.innerChecksum)) {
        await this.refuse(
          entry.path,
          `does not match ${registryPath}: its inner checksum is ${release.innerChecksum.toString('hex')}, the registry file gives ${listed.innerChecksum.toString('hex')}`,
        );
        return;
      }
      if (arrival.present) {
        this.present.set(entry.path, {});
        return;
      }
      const { tarball: _bytes, ...facts } = release;
      arrival.tarball = { file: await this.stageFile(bytes), path: entry.path, release: facts };
      return;
    }
    const docs = arrival.facts.docs;
    if (!docs || docs.sha256 !== entry.sha256 || docs.size !== bytes.length) {
      await this.refuse(
        entry.path,
        docs ? `is not the docs ${factsPath} gives (SHA-256 ${docs.sha256})` : `${factsPath} says the release has no docs`,
      );
      return;
    }
    try {
      await validateDocsTarball(bytes);
    } catch (error: unknown) {
      if (!(error instanceof HexproxyError)) throw error;
      await this.refuse(entry.path, `are not docs hexproxy would accept for publishing: ${error.message}`);
      return;
    }
    if (arrival.present) {
      this.present.set(entry.path, {});
      return;
    }
    arrival.docs = { file: await this.stageFile(bytes), path: entry.path };
  }

  /** What the package's verified registry file lists for the release; refuses the entry (and says why) if it cannot be had. */
  private async hostedListed(path: string, registryPath: string, target: HostedTarget & { version: string }): Promise<HostedListed | undefined> {
    const listed = this.hostedPackages.get(`${target.repository}/${target.name}`);
    const refusedWhy = this.refused.get(registryPath);
    const problem = !listed
      ? refusedWhy !== undefined
        ? `its registry file ${registryPath} was refused (${refusedWhy})`
        : `its registry file ${registryPath} is not in the bundle before it, and a hosted release is checked against it`
      : !listed.has(target.version)
        ? `${registryPath} in the bundle does not list version ${target.version}`
        : undefined;
    if (problem !== undefined) {
      await this.refuse(path, problem);
      return undefined;
    }
    return listed?.get(target.version);
  }

  /** After the last entry: a release needs its facts and tarball (and the docs its facts name); whatever of it was refused refuses it all. */
  private async settleHosted(): Promise<void> {
    for (const arrival of this.hostedArrivals.values()) {
      const paths = [
        arrival.factsPath,
        hostedEntryPath({ kind: 'hosted', repository: arrival.repository, what: 'tarball', name: arrival.name, version: arrival.version }),
        hostedEntryPath({ kind: 'hosted', repository: arrival.repository, what: 'docs', name: arrival.name, version: arrival.version }),
      ];
      const registryPath = hostedEntryPath({ kind: 'hosted', repository: arrival.repository, what: 'registry', name: arrival.name });
      const refusedPath = [registryPath, ...paths].find((path) => this.refused.has(path));
      const missing = arrival.present
        ? undefined
        : !arrival.tarball
          ? `its tarball ${paths[1] ?? ''} is not in the bundle, and ${hostedLabel(arrival)} is not here yet`
          : arrival.facts.docs && !arrival.docs
            ? `its docs ${paths[2] ?? ''} are not in the bundle`
            : undefined;
      if (refusedPath === undefined && missing === undefined) continue;
      const why =
        refusedPath !== undefined
          ? `${hostedLabel(arrival)} goes whole or not at all, and ${refusedPath} was refused (${this.refused.get(refusedPath) ?? ''})`
          : (missing ?? '');
      for (const path of paths) if (!this.refused.has(path) && (path === arrival.factsPath || this.byPath.has(path))) await this.refuse(path, why);
      this.hostedArrivals.delete(releaseKey(arrival));
    }
  }

  /** Each release checked out whole goes into the hosted store, in bundle order; one that appeared here meanwhile with other bytes is refused. */
  private async commitHosted(refused: RefusedEntry[]): Promise<{ entries: ImportedEntry[]; imported: string[]; present: string[] }> {
    const result = { entries: [] as ImportedEntry[], imported: [] as string[], present: [] as string[] };
    const { hosted } = this.options;
    for (const arrival of this.hostedArrivals.values()) {
      if (arrival.present) {
        result.present.push(hostedLabel(arrival));
        continue;
      }
      const { tarball, docs, facts } = arrival;
      if (!hosted || !tarball) continue;
      const outcome = await hosted
        .importRelease(
          arrival.repository,
          { ...tarball.release, tarball: await readFile(tarball.file) },
          {
            publisher: facts.publisher,
            publishedAt: Date.parse(facts.publishedAt),
            updatedAt: Date.parse(facts.updatedAt),
            retirement: facts.retirement ?? undefined,
            ...(docs && facts.docs && { docs: { bytes: await readFile(docs.file), publishedAt: Date.parse(facts.docs.publishedAt) } }),
          },
        )
        .catch((error: unknown) => {
          if (!(error instanceof HexproxyError) || error instanceof StorageError) throw error;
          refused.push({ path: tarball.path, reason: error.message });
          return undefined;
        });
      if (outcome === 'imported') {
        result.imported.push(hostedLabel(arrival));
        const registryPath = hostedEntryPath({ kind: 'hosted', repository: arrival.repository, what: 'registry', name: arrival.name });
        if (!result.entries.some((entry) => entry.path === registryPath))
          result.entries.push({ path: registryPath, kind: 'hosted', replaced: false });
        for (const path of [arrival.factsPath, tarball.path, ...(docs ? [docs.path] : [])])
          result.entries.push({ path, kind: 'hosted', replaced: false });
      } else if (outcome === 'present') {
        result.present.push(hostedLabel(arrival));
      }
    }
    // A package's registry file of which nothing was added is accounted as present.
    for (const key of this.hostedPackages.keys()) {
      const [repository = '', name = ''] = key.split('/');
      const path = hostedEntryPath({ kind: 'hosted', repository, what: 'registry', name });
      if (!this.refused.has(path) && !result.entries.some((entry) => entry.path === path)) this.present.set(path, {});
    }
    return result;
  }

  /** Writes checked bytes to the import's staging directory (made on first use), to be read back at commit. */
  private async stageFile(bytes: Buffer): Promise<string> {
    if (this.staging === undefined) {
      const parent = this.options.stagingDir ?? tmpdir();
      await removeAbandonedStaging(parent);
      this.staging = await mkdtemp(join(parent, `.import-${process.pid}-`));
    }
    const file = join(this.staging, String(this.stagedFiles++));
    await writeFile(file, bytes, { mode: 0o600 });
    return file;
  }

  /** The tar could not be read on: the entry being read is cut short, the rest are missing. */
  private async broken(error: unknown): Promise<void> {
    const why = errorMessage(error);
    if (this.current !== undefined) await this.refuse(this.current, `the bundle ends or is corrupt inside this entry (${why})`);
    else if (this.items.every((item) => item.arrived)) await this.refuse('(end of bundle)', `the tar is corrupt after its last entry (${why})`);
    this.current = undefined;
  }

  private async refuseMissing(): Promise<void> {
    for (let i = 0; i < this.items.length; i += 1)
      await this.refuseMissingItem(i, 'is listed in the manifest but missing from the bundle; the bundle may be cut short');
  }

  private async refuseMissingItem(i: number, reason: string): Promise<void> {
    const item = this.items[i];
    if (!item || item.arrived) return;
    item.arrived = true;
    await this.refuse(item.entry.path, item.problem ?? reason);
  }

  /** A tarball checked against a refused registry file is refused with it. */
  private async refuseDependents(): Promise<void> {
    const dependents = [...this.staged.values()].flatMap((staged) =>
      staged.kind !== 'registry' && staged.dependsOn ? [[staged.path, staged.dependsOn] as const] : [],
    );
    for (const [path, present] of this.present) if (present.dependsOn) dependents.push([path, present.dependsOn]);
    for (const [path, dependsOn] of dependents) {
      const reason = this.refused.get(dependsOn);
      if (reason !== undefined)
        await this.refuse(path, `its ${dependsOn.startsWith('installs/') ? 'list' : 'registry file'} ${dependsOn} was refused (${reason})`);
    }
  }

  private async refuse(path: string, reason: string): Promise<void> {
    if (!this.refused.has(path)) this.refused.set(path, reason);
    const staged = this.staged.get(path);
    this.staged.delete(path);
    this.present.delete(path);
    this.kept.delete(path);
    await staged?.writer?.abort();
  }

  private async abortAll(): Promise<void> {
    const writers = [...this.staged.values()].flatMap((staged) => (staged.writer ? [staged.writer] : []));
    this.staged.clear();
    await Promise.all(writers.map((writer) => writer.abort().catch(() => undefined)));
  }

  /** Throws unless every entry checked out (or skipBad); commits the files, then all index rows at once. */
  private async finish(manifest: BundleManifest): Promise<ImportSummary> {
    const { file, index, pin, skipBad, log } = this.options;
    const refused = [...this.refused].map(([path, reason]) => ({ path, reason }));
    if (refused.length > 0 && !skipBad) {
      await this.abortAll();
      throw BundleError.refusing(file, refused);
    }
    const staged = [...this.staged.values()];
    for (const [i, item] of staged.entries()) {
      try {
        await item.writer?.commit();
      } catch (error: unknown) {
        // The files committed so far have no index rows; hexproxy ignores such files and overwrites them.
        await Promise.all(staged.slice(i + 1).map(async (rest) => rest.writer?.abort().catch(() => undefined)));
        this.staged.clear();
        if (error instanceof StorageError) throw error;
        throw new StorageError(`cannot import ${item.path}: ${errorMessage(error)}`, { cause: error });
      }
    }
    this.staged.clear();
    const pinnedNow = pin
      ? [...this.present].flatMap(([path, present]) => (present.tarball && !present.tarball.pinned ? [{ path, ...present.tarball }] : []))
      : [];
    const now = Date.now();
    index.transaction(() => {
      for (const item of staged) {
        if (item.kind === 'registry') {
          // No ETag and never checked: served offline as it is, revalidated in full once upstream is reachable.
          // upstreamAsOf: what a trusted bundle attested, else 0 (unknown).
          index.saveRegistryFile(
            revalidateInFull({
              repo: item.repo,
              path: resourcePath(item.resource),
              sha256: item.sha256,
              size: item.size,
              fetchedAt: now,
              upstreamAsOf: item.upstreamAsOf,
            }),
          );
        } else if (item.kind === 'installs') {
          // Like registry files: no ETag and never checked, so a list is served offline as it is and fetched again online.
          index.savePassthroughFile(
            revalidateInFull({
              path: item.rowPath,
              sha256: item.sha256,
              size: item.size,
              fetchedAt: now,
              upstreamAsOf: item.upstreamAsOf,
            }),
          );
        } else {
          index.saveTarball(
            newTarballRow({ repo: item.repo, name: item.name, version: item.version, size: item.size, sha256: item.sha256 }, now, pin),
          );
        }
      }
      for (const tarball of pinnedNow) index.setPinned(tarball.repo, tarball.name, tarball.version, true);
      // Only if the bytes are still those the bundle confirmed.
      for (const raise of this.raises) {
        if (this.refused.has(raise.entryPath)) continue;
        if (raise.kind === 'registry') index.raiseRegistryAsOf(raise.repo, raise.rowPath, raise.sha256, raise.asOf);
        else index.raisePassthroughAsOf(raise.rowPath, raise.sha256, raise.asOf);
      }
    });
    const hosted = await this.commitHosted(refused);
    const summary: ImportSummary = {
      manifest,
      signature: this.signature,
      imported: [...staged.map((item) => ({ path: item.path, kind: item.kind, replaced: item.replaced })), ...hosted.entries],
      alreadyPresent: [...this.present.keys()],
      keptCached: [...this.kept].map(([path, reason]) => ({ path, reason })),
      pinned: pinnedNow.map((tarball) => tarball.path),
      refused,
      hosted: { imported: hosted.imported, present: hosted.present },
    };
    log?.info(
      {
        file,
        signature: this.signature,
        imported: summary.imported.length,
        alreadyPresent: summary.alreadyPresent.length,
        keptCached: summary.keptCached.length,
        refused: refused.length,
        hostedImported: hosted.imported.length,
      },
      'bundle imported',
    );
    return summary;
  }
}

// tar-stream reports a cut-short or corrupt archive as an error of the entry being read.
async function* chunksOf(entry: TarEntry): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of entry) yield asBuffer(chunk);
  } catch (error: unknown) {
    throw new BrokenBundle(errorMessage(error), { cause: error });
  }
}

async function collect(entry: TarEntry): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of chunksOf(entry)) chunks.push(chunk);
  return chunks;
}

async function drain(entry: TarEntry): Promise<void> {
  for await (const chunk of chunksOf(entry)) void chunk;
}

const isRegularFile = (type: tar.Header['type']): boolean => type === 'file' || type === 'contiguous-file';

/** Why an organization's entries cannot be imported here: its key and namespace are not configured. */
const unconfiguredOrganization = (organization: string): string =>
  `is a file of organization ${organization}, which is not configured here: add organizations.${organization} to the config (with its publicKey if it is not upstream.publicKey; the auth key is not needed offline) to import it, or import the rest with --skip-bad`;

/** Why a hosted repository's entries cannot be imported here. */
const notHostedHere = (repository: string): string =>
  `is a file of hosted repository ${repository}, which is not hosted here: add hosted.${repository} to the config to import it, or import the rest with --skip-bad`;

/** The largest a hosted entry may be, and what sets it. */
function hostedLimit(target: HostedTarget, maxRegistryBytes: number): [number, string] {
  switch (target.what) {
    case 'registry':
      return [maxRegistryBytes, 'cache.maxRegistryBytes'];
    case 'release':
      return [MAX_RELEASE_FACTS_BYTES, "a release's facts file"];
    case 'tarball':
      return [DEFAULT_PACKAGE_LIMITS.tarballBytes, "hex.pm's package limit, as publishing"];
    case 'docs':
      return [DEFAULT_DOCS_LIMITS.tarballBytes, "hex.pm's docs limit, as publishing"];
  }
}

const hostedLabel = (arrival: { repository: string; name: string; version: string }): string =>
  `${arrival.repository}/${arrival.name} ${arrival.version}`;

const releaseKey = (target: { repository: string; name: string; version: string }): string => `${target.repository}/${target.name}/${target.version}`;

const millisOf = (timestamp: { seconds: number; nanos: number } | undefined): number | undefined =>
  timestamp === undefined ? undefined : timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6);

/** Staging directories of imports that no longer run (killed): named after their process. */
async function removeAbandonedStaging(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^\.import-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isRunning(Number(pid))) continue;
    await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    return error instanceof Error && 'code' in error && error.code === 'EPERM';
  }
}

/** Why hosted entries of a bundle that is not trusted are refused. */
function untrustedHosted(signature: BundleSignature): string {
  const why = signature.trusted ? '' : signature.reason;
  return `the bundle ${why}: a hosted repository's releases are vouched for by their exporter's key alone, so only a bundle signed by a trusted key carries them; add the exporter's public key to bundles.trustedKeys (or pass --trust-key)`;
}

/** A release that is here with other bytes is never overwritten. */
function conflict(target: { repository: string; name: string; version: string }, here: Buffer, bundle: Buffer): string {
  return `${hostedLabel(target)} is here already with other bytes (tarball SHA-256 ${here.toString('hex')} here, ${bundle.toString('hex')} in the bundle); a published release is never overwritten: keep this one, or revert it here (within hosted.${target.repository}.replaceWindowSeconds) and import again`;
}
