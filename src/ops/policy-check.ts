// `hexproxy policy check` and POST /api/policy/check: what the policy (config key policy)
// makes of the releases lock files pin, said with the config keys that decide. The
// decisions are src/policy/decide.ts's, so they are the server's; this module only gathers
// the releases and words the verdicts. The registry is reached through a function, so the
// logic runs without a network.
import { NotFoundError, RequestTooLargeError, errorMessage } from '../errors.js';
import type { LockParseResult, LockedPackage } from '../lockfiles/locked-package.js';
import { parseLockText, readLockFile, type LockHints } from '../lockfiles/read-lock.js';
import { namesOf, type RegistryFile, type RegistryFiles, type Repository } from '../repository/repository.js';
import { decideRelease, describeReason } from '../policy/decide.js';
import type { Policy } from '../policy/rules.js';
import type { ReleaseIndex } from '../registry/release-index.js';
import type { Release } from '../registry/types.js';
import { createLimiter, type Limiter } from '../util/concurrency.js';
import { locateEntry } from './lock-lookup.js';
import { ownName } from './repositories.js';

/** What stderr says when the configured policy has no rule or restriction. */
export const NO_POLICY_NOTE = 'no policy configured: nothing is blocked';

/**
 * The releases of the package file of `repository` for `name`, holding `versions` if
 * upstream has them; throws when it cannot be had. An index, not the decoded package: a
 * package of 200,000 releases is checked without decoding them all.
 */
export type PackageFetcher = (name: string, versions: readonly string[], repository: string) => Promise<ReleaseIndex>;

/**
 * The package file through the cache. A cached file still within its TTL may predate a
 * release a lock pins; such a file is checked with upstream once before the release is
 * called unknown.
 */
export function registryFetcher(registries: ReadonlyMap<string, Pick<Repository, 'registry'>>): PackageFetcher {
  return async (name, versions, repository) => (await registryOf(registries, repository).packageListing(name, versions)).index;
}

/**
 * The package files of POST /api/policy/check, whose callers may be anonymous: a fresh copy
 * in memory that lists every version answers at once; a name the repository's /names does
 * not list is answered without asking upstream for its file; every other file waits for one
 * of `upstreamSlots`, a limit shared by all requests.
 */
export function boundedRegistryFetcher(registries: ReadonlyMap<string, Pick<Repository, 'registry'>>, upstreamSlots: Limiter): PackageFetcher {
  return async (name, versions, repository) => {
    const registry = registryOf(registries, repository);
    const hot = registry.peek(`packages/${name}`);
    if (hot) {
      const index = registry.releaseIndex(hot);
      if (versions.every((version) => index.positionOf(version) !== undefined)) return index;
    } else if (!(await listedInNames(registry, name))) {
      throw new NotFoundError(`upstream has no /packages/${name}`);
    }
    return upstreamSlots(async () => (await registry.packageListing(name, versions)).index);
  };
}

function registryOf(registries: ReadonlyMap<string, Pick<Repository, 'registry'>>, repository: string): RegistryFiles {
  const registry = registries.get(repository)?.registry;
  if (!registry) throw new NotFoundError(`hexproxy serves no repository "${repository}" (it serves ${[...registries.keys()].join(', ')})`);
  return registry;
}

// Each /names payload's names, decoded once however many checks ask (hex.pm lists about
// 20,000); dropped with the payload.
const namesByPayload = new WeakMap<Buffer, ReadonlySet<string>>();

/**
 * Whether the repository's /names (through the cache, so as fresh as clients get it) lists
 * `name`. Without a /names to consult, the package file itself has to tell.
 */
async function listedInNames(registry: RegistryFiles, name: string): Promise<boolean> {
  let file: RegistryFile;
  try {
    file = (await registry.get({ kind: 'names' })).file;
  } catch {
    return true;
  }
  let names = namesByPayload.get(file.payload);
  if (!names) {
    names = new Set(namesOf(file).packages.map((entry) => entry.name));
    namesByPayload.set(file.payload, names);
  }
  return names.has(name);
}

/** The release `version` of a package; NotFoundError naming what upstream has otherwise (the newest ten, oldest first). */
export function releaseOf(index: ReleaseIndex, version: string): Release {
  const position = index.positionOf(version);
  if (position !== undefined) return index.releaseAt(position);
  const newest = Array.from({ length: Math.min(10, index.count) }, (_, i) => index.entryAt(i)?.version ?? '').reverse();
  const shown = index.count > 10 ? ['…', ...newest] : newest;
  throw new NotFoundError(
    `upstream has no release ${version} of ${index.name} (${index.count === 0 ? 'it has no releases' : `it has ${shown.join(', ')}`})`,
  );
}

export { configuredPolicy } from '../config/policy.js';

// ---------------------------------------------------------------------------------------
// policy check

export interface LockFileSource {
  /** The file's path, or its name in reports when `text` is given. */
  file: string;
  kind: 'mix' | 'rebar';
  /** The lock's text, when it did not come from a file (POST /api/policy/check). */
  text?: string;
  /** How the caller gives a lock of each kind, for the hint on one of the other kind; default the CLI's flags. */
  hints?: LockHints;
}

export interface CheckRequest {
  locks: readonly LockFileSource[];
  policy: Policy;
  /** The public repository (config upstream.repository). */
  publicRepository: string;
  /**
   * Where a rebar.lock entry is looked up, which the file does not record (rebarLookupOrder:
   * the organizations, then the public repository). Default: the public repository only.
   */
  lookupOrder?: readonly string[];
  fetchPackage: PackageFetcher;
  /** Unix seconds. */
  now: number;
  concurrency?: number;
  /** Whether whoever asks may read a repository ("hexpm", an organization); entries of others are skipped unread. */
  mayRead?: (repository: string) => boolean;
  /** POST /api/policy/check: refuse (RequestTooLargeError) locks pinning more distinct packages to check than this. */
  maxPackages?: number;
}

export interface BlockedRelease {
  name: string;
  version: string;
  /** The lock file, as given. */
  source: string;
  /** describeReason of each reason, in decide.ts's order. */
  reasons: string[];
}

export interface SkippedEntry {
  /** The package name, or the lock key of an entry that is not a Hex package. */
  name: string;
  version?: string;
  source: string;
  reason: string;
}

/** A rebar.lock entry, and the repository it was found in. */
export interface FoundEntry {
  name: string;
  version: string;
  source: string;
  repository: string;
}

export interface CheckError {
  name?: string;
  version?: string;
  source: string;
  message: string;
}

export interface CheckReport {
  policyActive: boolean;
  /** Without a policy in force: NO_POLICY_NOTE (nothing was fetched: nothing can be blocked). */
  note?: string;
  /** Releases decided: the allowed and the blocked. */
  checked: number;
  blocked: BlockedRelease[];
  skipped: SkippedEntry[];
  errors: CheckError[];
  /** Where each rebar.lock entry was found, when there was more than one repository to look in (absent otherwise). */
  found?: FoundEntry[];
}

interface CheckTarget {
  name: string;
  version: string;
  source: string;
  /** As hexproxy names it: "hexpm", or the organization's name. */
  repository: string;
}

/** Every Hex entry of the lock files the policy covers, decided now. Never throws for one entry or file. */
export async function checkLocks(request: CheckRequest): Promise<CheckReport> {
  const { policy, publicRepository } = request;
  const skipped: SkippedEntry[] = [];
  const errors: CheckError[] = [];
  const targets: CheckTarget[] = [];
  // rebar.lock entries whose repository is to be looked up.
  const unplaced: { entry: LockedPackage; source: string }[] = [];
  const lookupOrder = request.lookupOrder ?? [publicRepository];
  const covered = [...policy.repositories].join(', ') || 'none';
  const place = (entry: LockedPackage, source: string, repository: string, named: string): void => {
    if (!policy.repositories.has(repository)) {
      skipped.push({
        name: entry.name,
        version: entry.version,
        source,
        reason: `it is in repository "${named}", which the policy does not cover (policy.repositories: ${covered})`,
      });
    } else if (request.mayRead && !request.mayRead(repository)) {
      skipped.push({ name: entry.name, version: entry.version, source, reason: `it is in repository "${named}", which your token may not read` });
    } else {
      targets.push({ name: entry.name, version: entry.version, source, repository });
    }
  };
  for (const { file, kind, text, hints } of request.locks) {
    let lock: LockParseResult;
    try {
      lock = text === undefined ? await readLockFile(file, kind, hints) : parseLockText(text, file, kind, hints);
    } catch (error: unknown) {
      errors.push({ source: file, message: errorMessage(error) });
      continue;
    }
    for (const entry of lock.entries) {
      if (kind === 'rebar' && lookupOrder.length > 1) unplaced.push({ entry, source: file });
      else if (kind === 'rebar') place(entry, file, lookupOrder[0] ?? publicRepository, entry.repository);
      else place(entry, file, ownName(entry.repository, publicRepository), entry.repository);
    }
    for (const entry of lock.skipped) skipped.push({ name: entry.key, source: file, reason: entry.reason });
  }

  // One package file per name, whatever the number of locks pinning it.
  const wanted = new Map<string, { target: CheckTarget; versions: Set<string> }>();
  const keyOf = (target: CheckTarget): string => `${target.repository}/${target.name}`;
  const addWanted = (target: CheckTarget): void => {
    const known = wanted.get(keyOf(target));
    if (known) known.versions.add(target.version);
    else wanted.set(keyOf(target), { target, versions: new Set([target.version]) });
  };
  for (const target of targets) addWanted(target);
  // Counted with or without a policy, so a lock that passes today is not refused the day one is configured.
  const distinct = wanted.size + new Set(unplaced.map(({ entry }) => entry.name)).size;
  if (request.maxPackages !== undefined && distinct > request.maxPackages) {
    throw new RequestTooLargeError(
      `the lock file pins ${distinct} distinct packages; POST /api/policy/check checks at most ${request.maxPackages} per request (split the lock, or run \`hexproxy policy check\` where the server's configuration is)`,
    );
  }
  // Nothing can be blocked: every release is allowed without looking it up.
  if (!policy.active) return { policyActive: false, note: NO_POLICY_NOTE, checked: targets.length + unplaced.length, blocked: [], skipped, errors };

  const limit = createLimiter(request.concurrency ?? 8);
  const packages = new Map<string, Promise<ReleaseIndex>>();
  const fetchOnce = (repository: string, name: string, versions: readonly string[]): Promise<ReleaseIndex> => {
    const key = `${repository}/${name}`;
    let fetched = packages.get(key);
    if (!fetched) {
      fetched = limit(() => request.fetchPackage(name, [...versions], repository));
      fetched.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
      packages.set(key, fetched);
    }
    return fetched;
  };

  for (const [, { target, versions }] of wanted) void fetchOnce(target.repository, target.name, [...versions]);

  // rebar.lock entries: in the repositories the caller may read, in rebar3's order.
  const found: FoundEntry[] = [];
  if (unplaced.length > 0) {
    const readable = lookupOrder.filter((repository) => !request.mayRead || request.mayRead(repository));
    const versionsOf = new Map<string, string[]>();
    for (const { entry } of unplaced) versionsOf.set(entry.name, [...(versionsOf.get(entry.name) ?? []), entry.version]);
    const located = await Promise.all(
      unplaced.map(async ({ entry, source }) => ({
        entry,
        source,
        where: await locateEntry(entry, readable, async (repository) => {
          let index: ReleaseIndex;
          try {
            const versions = new Set([...(versionsOf.get(entry.name) ?? []), ...(wanted.get(`${repository}/${entry.name}`)?.versions ?? [])]);
            index = await fetchOnce(repository, entry.name, [...versions]);
          } catch (error: unknown) {
            if (error instanceof NotFoundError) return 'no-package';
            throw error;
          }
          const position = index.positionOf(entry.version);
          return position === undefined ? 'no-release' : index.releaseAt(position);
        }),
      })),
    );
    for (const { entry, source, where } of located) {
      if ('reason' in where) {
        errors.push({ name: entry.name, version: entry.version, source, message: where.reason });
        continue;
      }
      found.push({ name: entry.name, version: entry.version, source, repository: where.repository });
      place(entry, source, where.repository, where.repository);
    }
  }

  const blocked: BlockedRelease[] = [];
  let checked = 0;
  for (const target of targets) {
    let release: Release;
    let pkg: ReleaseIndex;
    try {
      pkg = await fetchOnce(target.repository, target.name, [target.version]);
      release = releaseOf(pkg, target.version);
    } catch (error: unknown) {
      errors.push({ name: target.name, version: target.version, source: target.source, message: errorMessage(error) });
      continue;
    }
    checked += 1;
    const { decision } = decideRelease(policy, pkg, release, request.now);
    if (!decision.allowed)
      blocked.push({ name: target.name, version: target.version, source: target.source, reasons: decision.reasons.map(describeReason) });
  }
  return { policyActive: policy.active, checked, blocked, skipped, errors, ...(found.length > 0 && { found }) };
}

/** 0 nothing blocked, 1 something blocked, 2 something could not be checked (whatever else was found). */
export function checkExitCode(report: CheckReport): 0 | 1 | 2 {
  if (report.errors.length > 0) return 2;
  return report.blocked.length > 0 ? 1 : 0;
}

/** The report as printed: BLOCKED, skipped and ERROR lines, then the summary line. */
export function formatCheckReport(report: CheckReport): string[] {
  const entry = (item: { name?: string; version?: string; source: string }): string =>
    item.name === undefined ? item.source : `${item.name}${item.version === undefined ? '' : ` ${item.version}`} (${item.source})`;
  const errors = report.errors.length;
  return [
    ...report.blocked.map((item) => `BLOCKED ${entry(item)}: ${item.reasons.join('; ')}`),
    ...report.skipped.map((item) => `skipped ${entry(item)}: ${item.reason}`),
    ...foundLines(report.found ?? []),
    ...report.errors.map((item) => `ERROR ${entry(item)}: ${item.message}`),
    `${report.checked} checked, ${report.blocked.length} blocked, ${report.skipped.length} skipped, ${errors} ${errors === 1 ? 'error' : 'errors'}`,
  ];
}

/** "found in acme (rebar.lock): a 1.0.0, b 2.0.0": one line per lock file and repository, in the order found. */
function foundLines(found: readonly FoundEntry[]): string[] {
  const groups = new Map<string, string[]>();
  for (const item of found) {
    const key = `found in ${item.repository} (${item.source})`;
    groups.set(key, [...(groups.get(key) ?? []), `${item.name} ${item.version}`]);
  }
  return [...groups].map(([key, releases]) => `${key}: ${releases.join(', ')}`);
}
