// `hexproxy policy explain`: why the policy allows or blocks one release, rule by rule and
// restriction by restriction. Every decision comes from src/policy/decide.ts; this only
// words it.
import { BadRequestError } from '../errors.js';
import {
  decideRelease,
  decidingRule,
  describeDecision,
  describeReason,
  isoSeconds,
  severityName,
  severityRank,
  type BlockReason,
  type PackageFacts,
} from '../policy/decide.js';
import { RETIREMENT_REASONS, type Policy } from '../policy/rules.js';
import { isPackageName, isVersion } from '../registry/resource.js';
import type { Release } from '../registry/types.js';
import { NO_POLICY_NOTE } from './policy-check.js';

/** NAME@VERSION as typed; BadRequestError saying what is wrong with it. */
export function parseReleaseArgument(text: string): { name: string; version: string } {
  const at = text.indexOf('@');
  if (at === -1) throw new BadRequestError(`"${text}" is not NAME@VERSION: give one release, e.g. plug@1.15.0`);
  const name = text.slice(0, at);
  const version = text.slice(at + 1);
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a Hex package name (a lowercase letter, then lowercase letters, digits and _)`);
  if (!isVersion(version))
    throw new BadRequestError(`"${version}" is not an exact version (SemVer such as 1.15.0); policy explain decides one release, not a requirement`);
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
export function explainRelease(policy: Policy, pkg: PackageFacts, release: Release, now: number, repository: string): Explanation {
  const applies = policy.active && policy.repositories.has(repository);
  const rule = applies ? decidingRule(policy, pkg.name, release.version) : undefined;
  // The restrictions alone: the same decision with no rule to override them.
  const restrictionReasons = decideRelease({ ...policy, rules: [] }, pkg, release, now).decision;
  const blockedBy = (kind: BlockReason['kind']): BlockReason | undefined =>
    restrictionReasons.allowed ? undefined : restrictionReasons.reasons.find((reason) => reason.kind === kind);
  const restrictions = [
    advisoryVerdict(policy, pkg, release, blockedBy('advisory')),
    retirementVerdict(release, blockedBy('retired')),
    ageVerdict(policy, release, blockedBy('too-new') ?? blockedBy('undated')),
  ];
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
    lines.push(
      explanation.policyActive
        ? `rule: none: the policy does not cover repository "${explanation.repository}" (policy.repositories: ${[...policy.repositories].join(', ')})`
        : `rule: none: ${NO_POLICY_NOTE}`,
    );
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

function advisoryVerdict(policy: Policy, pkg: PackageFacts, release: Release, reason: BlockReason | undefined): AdvisoryVerdict {
  const threshold = policy.advisoryThreshold;
  const advisories = release.advisory_indexes.map((index) => {
    const advisory = pkg.advisories[index];
    const id = advisory?.id ?? `(advisory #${index}, missing from the package)`;
    return { id, severity: severityName(advisory?.severity), blocks: threshold !== undefined && severityRank(advisory?.severity) >= threshold.rank };
  });
  const listed = advisories.map((advisory) => `${advisory.id} (${advisory.severity})`).join(', ');
  const detail = reason
    ? describeReason(reason)
    : advisories.length === 0
      ? 'none'
      : threshold === undefined
        ? `${listed}; policy.blockAdvisorySeverity is not set`
        : `${listed}, below policy.blockAdvisorySeverity "${threshold.name}"`;
  return { restriction: 'advisories', blocks: reason !== undefined, detail, threshold: threshold?.name ?? null, advisories };
}

function retirementVerdict(release: Release, reason: BlockReason | undefined): RetirementVerdict {
  const status = release.retired;
  const retired =
    reason?.kind === 'retired'
      ? { reason: reason.reason, ...(reason.message !== undefined && { message: reason.message }) }
      : status
        ? { reason: retirementName(status.reason), ...(status.message !== undefined && { message: status.message }) }
        : null;
  const detail = reason
    ? describeReason(reason)
    : retired === null
      ? 'not retired'
      : `retired (${retired.reason}${retired.message ? `: ${retired.message}` : ''}), a reason policy.blockRetired does not block`;
  return { restriction: 'retirement', blocks: reason !== undefined, detail, retired };
}

function ageVerdict(policy: Policy, release: Release, reason: BlockReason | undefined): AgeVerdict {
  const published = release.published_at?.seconds;
  const publishedAt = published === undefined ? null : isoSeconds(published);
  const allowedFrom = published === undefined || policy.minReleaseAgeSeconds === 0 ? null : isoSeconds(published + policy.minReleaseAgeSeconds);
  const detail = reason
    ? describeReason(reason)
    : policy.minReleaseAgeSeconds === 0
      ? `${publishedAt === null ? 'has no publication date' : `published ${publishedAt}`}; policy.minReleaseAge is "${policy.minReleaseAge}"`
      : publishedAt === null
        ? `has no publication date and policy.undatedReleases is "${policy.undatedReleases}"`
        : `published ${publishedAt}, old enough for policy.minReleaseAge "${policy.minReleaseAge}" since ${allowedFrom ?? ''}`;
  return { restriction: 'age', blocks: reason !== undefined, detail, minReleaseAge: policy.minReleaseAge, publishedAt, allowedFrom };
}

const retirementName = (reason: number): string =>
  Object.entries(RETIREMENT_REASONS).find(([, value]) => value === reason)?.[0] ?? `unknown (${reason})`;
