// Whether a policy lets clients see one release, and why: pure, with the clock passed in.
// The order is Hex's (hexpm/hex lib/hex/policy/filter.ex): the most specific matching
// allow/deny rule decides outright (an allow bypasses every restriction; at equal
// specificity deny wins); otherwise the restrictions (advisories, retirement, minimum
// age) each may block.
import { matches } from '../resolve/requirement.js';
import { isVersion } from '../registry/resource.js';
import type { Release, SecurityAdvisory } from '../registry/types.js';
import { RETIREMENT_REASONS, type Policy, type Rule } from './rules.js';

export type BlockReason =
  | { kind: 'deny'; rule: Rule }
  | { kind: 'advisory'; advisories: { id: string; severity: string }[]; threshold: string }
  | { kind: 'retired'; reason: string; message?: string }
  | { kind: 'too-new'; publishedAt: number; eligibleAt: number; minReleaseAge: string }
  | { kind: 'undated'; minReleaseAge: string };

export type Decision = { allowed: true; rule?: Rule } | { allowed: false; reasons: BlockReason[] };

export interface DecisionInTime {
  decision: Decision;
  /** Unix seconds at which the decision changes by itself (a release coming of age). */
  changesAt?: number;
}

const SEVERITY_NAMES = ['none', 'low', 'medium', 'high', 'critical'];

/** Severity rank; a missing or unknown severity ranks above critical, so it cannot slip under a threshold (as in Hex). */
export function severityRank(severity: number | undefined): number {
  return severity !== undefined && severity >= 0 && severity < SEVERITY_NAMES.length ? severity : SEVERITY_NAMES.length;
}

/** A proto severity as the messages name it. */
export const severityName = (severity: number | undefined): string =>
  severity === undefined ? 'unknown' : (SEVERITY_NAMES[severity] ?? `unknown (${severity})`);

const retirementName = (reason: number): string =>
  Object.entries(RETIREMENT_REASONS).find(([, value]) => value === reason)?.[0] ?? `unknown (${reason})`;

/** The rule that decides for NAME@VERSION regardless of restrictions, if any matches. */
export function decidingRule(policy: Policy, name: string, version: string): Rule | undefined {
  let best: Rule | undefined;
  for (const rule of policy.rules) {
    if (!rule.matchesName(name)) continue;
    if (rule.requirement && !(isVersion(version) && matches(rule.requirement, version, { allowPre: true }))) continue;
    if (!best || rule.specificity > best.specificity || (rule.specificity === best.specificity && rule.action === 'deny' && best.action === 'allow'))
      best = rule;
  }
  return best;
}

/** What deciding needs of a package besides the release: a decoded Package, or a release index (src/registry/release-index.ts). */
export interface PackageFacts {
  readonly name: string;
  readonly advisories: readonly SecurityAdvisory[];
}

/** The decision for one release of `pkg` at `now` (Unix seconds). */
export function decideRelease(policy: Policy, pkg: PackageFacts, release: Release, now: number): DecisionInTime {
  const rule = decidingRule(policy, pkg.name, release.version);
  if (rule?.action === 'allow') return { decision: { allowed: true, rule } };
  if (rule?.action === 'deny') return { decision: { allowed: false, reasons: [{ kind: 'deny', rule }] } };

  const reasons: BlockReason[] = [];
  let changesAt: number | undefined;
  const threshold = policy.advisoryThreshold;
  if (threshold) {
    // An index past the package's advisories (a malformed file) counts as an advisory of
    // unknown severity, as /versions' with_advisories would: it blocks at any threshold.
    const advisories = release.advisory_indexes
      .map((index): Pick<SecurityAdvisory, 'id' | 'severity'> => pkg.advisories[index] ?? { id: `(advisory #${index}, missing from the package)` })
      .filter((advisory) => severityRank(advisory.severity) >= threshold.rank);
    if (advisories.length > 0) {
      reasons.push({
        kind: 'advisory',
        threshold: threshold.name,
        advisories: advisories.map((a) => ({ id: a.id, severity: severityName(a.severity) })),
      });
    }
  }
  if (release.retired && (policy.retired === 'all' || policy.retired.has(release.retired.reason))) {
    reasons.push({
      kind: 'retired',
      reason: retirementName(release.retired.reason),
      ...(release.retired.message !== undefined && { message: release.retired.message }),
    });
  }
  if (policy.minReleaseAgeSeconds > 0) {
    const publishedAt = release.published_at?.seconds;
    if (publishedAt === undefined) {
      if (policy.undatedReleases === 'block') reasons.push({ kind: 'undated', minReleaseAge: policy.minReleaseAge });
    } else {
      // Eligible once published at least minReleaseAge ago, to the second (Hex: published_at <= now - age).
      const eligibleAt = publishedAt + policy.minReleaseAgeSeconds;
      if (now < eligibleAt) {
        reasons.push({ kind: 'too-new', publishedAt, eligibleAt, minReleaseAge: policy.minReleaseAge });
        changesAt = eligibleAt;
      }
    }
  }
  const decision: Decision = reasons.length === 0 ? { allowed: true } : { allowed: false, reasons };
  return changesAt === undefined ? { decision } : { decision, changesAt };
}

/** One line per reason, naming the config key that blocks and what in the release trips it. */
export function describeReason(reason: BlockReason): string {
  switch (reason.kind) {
    case 'deny':
      return `denied by ${reason.rule.key} "${reason.rule.text}"${reason.rule.comment ? ` (${reason.rule.comment})` : ''}`;
    case 'advisory':
      return `advisory ${reason.advisories.map((a) => `${a.id} (${a.severity})`).join(', ')} at or above policy.blockAdvisorySeverity "${reason.threshold}"`;
    case 'retired':
      return `retired (${reason.reason}${reason.message ? `: ${reason.message}` : ''}) and policy.blockRetired blocks that reason`;
    case 'too-new':
      return `published ${isoSeconds(reason.publishedAt)}, younger than policy.minReleaseAge "${reason.minReleaseAge}"; allowed from ${isoSeconds(reason.eligibleAt)}`;
    case 'undated':
      return `has no publication date and policy.undatedReleases is "block" (policy.minReleaseAge "${reason.minReleaseAge}")`;
  }
}

/** The decision in one sentence. */
export function describeDecision(decision: Decision): string {
  if (decision.allowed)
    return decision.rule
      ? `allowed by ${decision.rule.key} "${decision.rule.text}", which lifts every restriction`
      : 'allowed: no rule or restriction blocks it';
  return `blocked: ${decision.reasons.map(describeReason).join('; ')}`;
}

/** Unix seconds as an ISO 8601 time, to the second. */
export const isoSeconds = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
