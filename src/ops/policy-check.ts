// `hexproxy policy check | explain | show`: what the policy (config key policy) makes of the
// releases lock files pin, and of one release, said with the config keys that decide. The
// decisions are src/policy/decide.ts's, so they are the server's; this module only gathers
// the releases and words the verdicts. The registry is reached through a function, so the
// logic runs without a network.
import { readFile } from 'node:fs/promises';
import { BadRequestError, NotFoundError, errorMessage } from '../errors.js';
import { parseMixLock } from '../lockfiles/mix-lock.js';
import { parseRebarLock } from '../lockfiles/rebar-lock.js';
import type { LockParseResult } from '../lockfiles/locked-package.js';
import { packageOf, type RegistryMirror } from '../mirror/registry-mirror.js';
import { decideRelease, decidingRule, describeDecision, describeReason, isoSeconds, severityName, severityRank, type BlockReason } from '../policy/decide.js';
import { RETIREMENT_REASONS, type Policy } from '../policy/rules.js';
import { isPackageName, isVersion } from '../registry/resource.js';
import type { Package, Release } from '../registry/types.js';
import { createLimiter } from '../resolve/limiter.js';

/** What stderr says when the configured policy has no rule or restriction. */
export const NO_POLICY_NOTE = 'no policy configured: nothing is blocked';

/** A package file of `repository` for `name` holding `versions` if upstream has them; throws when it cannot be had. */
export type PackageFetcher = (name: string, versions: readonly string[], repository: string) => Promise<Package>;

/**
 * The package file through the cache. A cached file still within its TTL may predate a
 * release a lock pins; such a file is checked with upstream once before the release is
 * called unknown.
 */
export function registryFetcher(registries: ReadonlyMap<string, { registry: RegistryMirror }>): PackageFetcher {
  return async (name, versions, repository) => {
    const registry = registries.get(repository)?.registry;
    if (!registry) throw new NotFoundError(`hexproxy serves no repository "${repository}" (it serves ${[...registries.keys()].join(', ')})`);
    const first = await registry.get({ kind: 'package', name });
    const pkg = packageOf(first.file);
    const missing = versions.some((version) => !pkg.releases.some((release) => release.version === version));
    if (!missing || first.cache !== 'hit') return pkg;
    return packageOf((await registry.get({ kind: 'package', name }, true)).file);
  };
}

/** The release `version` of `pkg`; NotFoundError naming what upstream has otherwise. */
export function releaseOf(pkg: Package, version: string): Release {
  const release = pkg.releases.find((candidate) => candidate.version === version);
  if (release) return release;
  const versions = pkg.releases.map((candidate) => candidate.version);
  const shown = versions.length > 10 ? ['…', ...versions.slice(-10)] : versions;
  throw new NotFoundError(`upstream has no release ${version} of ${pkg.name} (${versions.length === 0 ? 'it has no releases' : `it has ${shown.join(', ')}`})`);
}

export { configuredPolicy } from '../policy/configured.js';

// ---------------------------------------------------------------------------------------
// policy check

export interface LockFileSource {
  /** The file's path, or its name in reports when `text` is given. */
  file: string;
  kind: 'mix' | 'rebar';
  /** The lock's text, when it did not come from a file (POST /api/policy/check). */
  text?: string;
}

export interface CheckRequest {
  locks: readonly LockFileSource[];
  policy: Policy;
  /** The repository hexproxy proxies (config upstream.repository): the one it can fetch. */
  publicRepository: string;
  fetchPackage: PackageFetcher;
  /** Unix seconds. */
  now: number;
  concurrency?: number;
  /** Whether whoever asks may read a repository ("hexpm", an organization); entries of others are skipped unread. */
  mayRead?: (repository: string) => boolean;
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

export interface CheckError {
  name?: string;
  version?: string;
  source: string;
  message: string;
}

export interface CheckReport {
  policyActive: boolean;
  /** Releases decided: the allowed and the blocked. */
  checked: number;
  blocked: BlockedRelease[];
  skipped: SkippedEntry[];
  errors: CheckError[];
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
  const covered = [...policy.repositories].join(', ') || 'none';
  for (const { file, kind, text } of request.locks) {
    let lock: LockParseResult;
    try {
      lock = text === undefined ? await readLock(file, kind) : parseLock(text, file, kind);
    } catch (error: unknown) {
      errors.push({ source: file, message: errorMessage(error) });
      continue;
    }
    for (const entry of lock.entries) {
      const repository = servedRepositoryName(entry.repository, publicRepository);
      if (!policy.repositories.has(repository)) {
        skipped.push({ name: entry.name, version: entry.version, source: file, reason: `it is in repository "${entry.repository}", which the policy does not cover (policy.repositories: ${covered})` });
      } else if (request.mayRead && !request.mayRead(repository)) {
        skipped.push({ name: entry.name, version: entry.version, source: file, reason: `it is in repository "${entry.repository}", which your token may not read` });
      } else {
        targets.push({ name: entry.name, version: entry.version, source: file, repository });
      }
    }
    for (const entry of lock.skipped) skipped.push({ name: entry.key, source: file, reason: entry.reason });
  }

  // One package file per name, whatever the number of locks pinning it.
  const limit = createLimiter(request.concurrency ?? 8);
  const wanted = new Map<string, { target: CheckTarget; versions: Set<string> }>();
  const keyOf = (target: CheckTarget): string => `${target.repository}/${target.name}`;
  for (const target of targets) {
    const known = wanted.get(keyOf(target));
    if (known) known.versions.add(target.version);
    else wanted.set(keyOf(target), { target, versions: new Set([target.version]) });
  }
  const packages = new Map<string, Promise<Package>>();
  for (const [key, { target, versions }] of wanted) {
    const fetched = limit(() => request.fetchPackage(target.name, [...versions], target.repository));
    fetched.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
    packages.set(key, fetched);
  }

  const blocked: BlockedRelease[] = [];
  let checked = 0;
  for (const target of targets) {
    let release: Release;
    let pkg: Package;
    try {
      pkg = await (packages.get(keyOf(target)) as Promise<Package>);
      release = releaseOf(pkg, target.version);
    } catch (error: unknown) {
      errors.push({ name: target.name, version: target.version, source: target.source, message: errorMessage(error) });
      continue;
    }
    checked += 1;
    const { decision } = decideRelease(policy, pkg, release, request.now);
    if (!decision.allowed) blocked.push({ name: target.name, version: target.version, source: target.source, reasons: decision.reasons.map(describeReason) });
  }
  return { policyActive: policy.active, checked, blocked, skipped, errors };
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
    ...report.errors.map((item) => `ERROR ${entry(item)}: ${item.message}`),
    `${report.checked} checked, ${report.blocked.length} blocked, ${report.skipped.length} skipped, ${errors} ${errors === 1 ? 'error' : 'errors'}`,
  ];
}

async function readLock(file: string, kind: LockFileSource['kind']): Promise<LockParseResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error: unknown) {
    throw new BadRequestError(`cannot read lock file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  return parseLock(text, file, kind);
}

function parseLock(text: string, file: string, kind: LockFileSource['kind']): LockParseResult {
  return kind === 'mix' ? parseMixLock(text, file) : parseRebarLock(text, file);
}

/** A lock's repository as hexproxy names what it serves: "hexpm:ORG" is organization ORG. */
function servedRepositoryName(lockRepository: string, publicRepository: string): string {
  if (lockRepository === publicRepository) return lockRepository;
  return lockRepository.startsWith('hexpm:') ? lockRepository.slice('hexpm:'.length) : lockRepository;
}

// ---------------------------------------------------------------------------------------
// policy explain

/** NAME@VERSION as typed; BadRequestError saying what is wrong with it. */
export function parseReleaseArgument(text: string): { name: string; version: string } {
  const at = text.indexOf('@');
  if (at === -1) throw new BadRequestError(`"${text}" is not NAME@VERSION: give one release, e.g. plug@1.15.0`);
  const name = text.slice(0, at);
  const version = text.slice(at + 1);
  if (!isPackageName(name)) throw new BadRequestError(`"${name}" is not a Hex package name (a lowercase letter, then lowercase letters, digits and _)`);
  if (!isVersion(version)) throw new BadRequestError(`"${version}" is not an exact version (SemVer such as 1.15.0); policy explain decides one release, not a requirement`);
  return { name, version };
}

export interface AdvisoryVerdict {
  restriction: 'advisories';
  blocks: boolean;
  detail: string;
  /** policy.blockAdvisorySeverity, or null when advisories do not block. */
  threshold: string | null;
  advisories: { id: string; severity: string; blocks: boolean }[];
}

export interface RetirementVerdict {
  restriction: 'retirement';
  blocks: boolean;
  detail: string;
  retired: { reason: string; message?: string } | null;
}

export interface AgeVerdict {
  restriction: 'age';
  blocks: boolean;
  detail: string;
  minReleaseAge: string;
  /** ISO 8601, or null for a release without a publication date. */
  publishedAt: string | null;
  /** When the minimum age lets it through (past or future); null when undated or no minimum age. */
  allowedFrom: string | null;
}

export type RestrictionVerdict = AdvisoryVerdict | RetirementVerdict | AgeVerdict;

export interface Explanation {
  name: string;
  version: string;
  repository: string;
  policyActive: boolean;
  /** Whether policy.repositories covers `repository`. */
  applies: boolean;
  allowed: boolean;
  /** What decides: an allow/deny rule, the restrictions, or nothing (no policy for this repository). */
  decidedBy: 'rule' | 'restrictions' | 'no-policy';
  rule: { key: string; action: 'allow' | 'deny'; match: string; comment?: string } | null;
  /**
   * Each restriction's verdict as if no rule matched and the policy covered the repository:
   * what decides when decidedBy is "restrictions", and what an allow rule lifts.
   */
  restrictions: RestrictionVerdict[];
  /** Why it is blocked (describeReason lines); empty when allowed. */
  reasons: string[];
  /** The decision in one sentence (describeDecision). */
  decision: string;
}

/** Why the policy allows or blocks one release at `now` (Unix seconds). */
export function explainRelease(policy: Policy, pkg: Pick<Package, 'name' | 'advisories'>, release: Release, now: number, repository: string): Explanation {
  const applies = policy.active && policy.repositories.has(repository);
  const rule = applies ? decidingRule(policy, pkg.name, release.version) : undefined;
  // The restrictions alone: the same decision with no rule to override them.
  const restrictionReasons = decideRelease({ ...policy, rules: [] }, pkg, release, now).decision;
  const blockedBy = (kind: BlockReason['kind']): BlockReason | undefined =>
    restrictionReasons.allowed ? undefined : restrictionReasons.reasons.find((reason) => reason.kind === kind);
  const restrictions = [advisoryVerdict(policy, pkg, release, blockedBy('advisory')), retirementVerdict(release, blockedBy('retired')), ageVerdict(policy, release, blockedBy('too-new') ?? blockedBy('undated'))];
  const decision = applies ? decideRelease(policy, pkg, release, now).decision : { allowed: true as const };
  return {
    name: pkg.name,
    version: release.version,
    repository,
    policyActive: policy.active,
    applies,
    allowed: decision.allowed,
    decidedBy: !applies ? 'no-policy' : rule ? 'rule' : 'restrictions',
    rule: rule ? { key: rule.key, action: rule.action, match: rule.text, ...(rule.comment !== undefined && { comment: rule.comment }) } : null,
    restrictions,
    reasons: decision.allowed ? [] : decision.reasons.map(describeReason),
    decision: describeDecision(decision),
  };
}

/** The explanation as printed: the release, the rule line, the restrictions' verdicts, and `allowed` or `blocked`. */
export function formatExplanation(explanation: Explanation, policy: Policy): string[] {
  const lines = [`${explanation.name} ${explanation.version} (${explanation.repository})`];
  if (explanation.decidedBy === 'no-policy') {
    lines.push(explanation.policyActive
      ? `rule: none: the policy does not cover repository "${explanation.repository}" (policy.repositories: ${[...policy.repositories].join(', ')})`
      : `rule: none: ${NO_POLICY_NOTE}`);
  } else if (explanation.rule) {
    const { key, action, match, comment } = explanation.rule;
    const named = `${key} "${match}"${comment === undefined ? '' : ` (${comment})`}`;
    if (action === 'allow') {
      lines.push(`rule: ${named} allows it, lifting every restriction`);
      for (const verdict of explanation.restrictions) if (verdict.blocks) lines.push(`lifted: ${verdict.detail}`);
    } else {
      lines.push(`rule: ${named} denies it; the restrictions are not consulted`);
    }
  } else {
    lines.push('rule: none matches, so the restrictions decide');
    for (const verdict of explanation.restrictions) lines.push(`${verdict.restriction}: ${verdict.blocks ? 'blocks' : 'passes'}: ${verdict.detail}`);
  }
  lines.push(explanation.allowed ? 'allowed' : 'blocked');
  return lines;
}


function advisoryVerdict(policy: Policy, pkg: Pick<Package, 'advisories'>, release: Release, reason: BlockReason | undefined): AdvisoryVerdict {
  const threshold = policy.advisoryThreshold;
  const advisories = release.advisory_indexes.map((index) => {
    const advisory = pkg.advisories[index];
    const id = advisory?.id ?? `(advisory #${index}, missing from the package)`;
    return { id, severity: severityName(advisory?.severity), blocks: threshold !== undefined && severityRank(advisory?.severity) >= threshold.rank };
  });
  const listed = advisories.map((advisory) => `${advisory.id} (${advisory.severity})`).join(', ');
  const detail = reason ? describeReason(reason)
    : advisories.length === 0 ? 'none'
    : threshold === undefined ? `${listed}; policy.blockAdvisorySeverity is not set`
    : `${listed}, below policy.blockAdvisorySeverity "${threshold.name}"`;
  return { restriction: 'advisories', blocks: reason !== undefined, detail, threshold: threshold?.name ?? null, advisories };
}

function retirementVerdict(release: Release, reason: BlockReason | undefined): RetirementVerdict {
  const status = release.retired;
  const retired = reason?.kind === 'retired' ? { reason: reason.reason, ...(reason.message !== undefined && { message: reason.message }) }
    : status ? { reason: retirementName(status.reason), ...(status.message !== undefined && { message: status.message }) }
    : null;
  const detail = reason ? describeReason(reason)
    : retired === null ? 'not retired'
    : `retired (${retired.reason}${retired.message ? `: ${retired.message}` : ''}), a reason policy.blockRetired does not block`;
  return { restriction: 'retirement', blocks: reason !== undefined, detail, retired };
}

function ageVerdict(policy: Policy, release: Release, reason: BlockReason | undefined): AgeVerdict {
  const published = release.published_at?.seconds;
  const publishedAt = published === undefined ? null : isoSeconds(published);
  const allowedFrom = published === undefined || policy.minReleaseAgeSeconds === 0 ? null : isoSeconds(published + policy.minReleaseAgeSeconds);
  const detail = reason ? describeReason(reason)
    : policy.minReleaseAgeSeconds === 0 ? `${publishedAt === null ? 'has no publication date' : `published ${publishedAt}`}; policy.minReleaseAge is "${policy.minReleaseAge}"`
    : publishedAt === null ? `has no publication date and policy.undatedReleases is "${policy.undatedReleases}"`
    : `published ${publishedAt}, old enough for policy.minReleaseAge "${policy.minReleaseAge}" since ${allowedFrom ?? ''}`;
  return { restriction: 'age', blocks: reason !== undefined, detail, minReleaseAge: policy.minReleaseAge, publishedAt, allowedFrom };
}

const retirementName = (reason: number): string =>
  Object.entries(RETIREMENT_REASONS).find(([, value]) => value === reason)?.[0] ?? `unknown (${reason})`;

