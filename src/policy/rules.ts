// The policy as configured (config key `policy`), compiled once into what decisions need:
// parsed requirements, name matchers, numeric severities and retirement reasons.
import picomatch from 'picomatch';
import { InvalidRequirementError } from '../resolve/errors.js';
import { parseRequirement, type Requirement } from '../resolve/requirement.js';
import { durationSeconds } from './duration.js';

export const SEVERITIES = ['any', 'low', 'medium', 'high', 'critical'] as const;
export type SeverityName = (typeof SEVERITIES)[number];

/** proto/package.proto RetirementReason, by the names the config uses. */
export const RETIREMENT_REASONS = { other: 0, invalid: 1, security: 2, deprecated: 3, renamed: 4 } as const;
export type RetirementReasonName = keyof typeof RETIREMENT_REASONS;

export type RuleEntry = string | { match: string; comment?: string | undefined };

/** The `policy` config section, validated (src/config/schema.ts). */
export interface PolicyConfig {
  /** Repositories the policy applies to; default: the public one (upstream.repository). */
  repositories?: readonly string[] | undefined;
  deny: readonly RuleEntry[];
  allow: readonly RuleEntry[];
  minReleaseAge: string;
  undatedReleases: 'allow' | 'block';
  blockAdvisorySeverity?: SeverityName | undefined;
  blockRetired: boolean | readonly RetirementReasonName[];
  tarballs: 'locked-ok' | 'strict';
}

export interface Rule {
  action: 'allow' | 'deny';
  /** The entry as written, e.g. "plug@~> 1.14". */
  text: string;
  comment?: string;
  /** Where it is configured, e.g. "policy.deny[2]". */
  key: string;
  /** Exact name (2) over glob, requirement (+1) over none: the most specific rule decides. */
  specificity: number;
  matchesName: (name: string) => boolean;
  requirement?: Requirement;
}

export interface Policy {
  rules: readonly Rule[];
  minReleaseAge: string;
  minReleaseAgeSeconds: number;
  undatedReleases: 'allow' | 'block';
  /** The lowest severity rank that blocks (0 any … 4 critical); undefined: advisories do not block. */
  advisoryThreshold?: { name: SeverityName; rank: number };
  /** Retirement reasons that block (numeric, proto values); 'all' blocks every retired release. */
  retired: 'all' | ReadonlySet<number>;
  tarballs: 'locked-ok' | 'strict';
  repositories: ReadonlySet<string>;
  /** False when no rule or restriction is set: the registry is served as it is. */
  active: boolean;
}

/** A rule entry that does not parse; `problem` says why. */
export class PolicyRuleError extends Error {
  constructor(
    readonly text: string,
    readonly problem: string,
  ) {
    super(`"${text}" ${problem}`);
  }
}

const NAME_GLOB = /^[a-z0-9_*?[\]{},!-]+$/;

/** Parses one deny/allow entry ("NAME", "NAME@REQUIREMENT", globs on the name). */
export function parseRule(entry: RuleEntry, action: Rule['action'], key: string): Rule {
  const text = typeof entry === 'string' ? entry : entry.match;
  const at = text.indexOf('@');
  const name = (at === -1 ? text : text.slice(0, at)).trim();
  const requirementText = at === -1 ? undefined : text.slice(at + 1).trim();
  if (name === '') throw new PolicyRuleError(text, 'has no package name (write NAME or NAME@REQUIREMENT, e.g. "plug@~> 1.14")');
  // A negated glob ("!jason") would read as "all but jason" and match nothing here: allow rules say that.
  if (name.startsWith('!')) throw new PolicyRuleError(text, 'cannot be negated; list the exceptions as allow rules instead');
  if (!NAME_GLOB.test(name))
    throw new PolicyRuleError(
      text,
      'is not a package name or a glob of one (lowercase letters, digits, _, and the glob characters * ? [ ] { } , ! -)',
    );
  const glob = picomatch.scan(name).isGlob;
  let requirement: Requirement | undefined;
  if (requirementText !== undefined) {
    if (requirementText === '') throw new PolicyRuleError(text, 'has an "@" but no requirement after it');
    try {
      requirement = parseRequirement(requirementText);
    } catch (error: unknown) {
      if (error instanceof InvalidRequirementError) throw new PolicyRuleError(text, `has an invalid requirement: ${error.problem}`);
      throw error;
    }
  }
  const comment = typeof entry === 'string' ? undefined : entry.comment;
  return {
    action,
    text,
    key,
    ...(comment !== undefined && { comment }),
    specificity: (glob ? 0 : 2) + (requirement ? 1 : 0),
    matchesName: glob ? picomatch(name) : (candidate) => candidate === name,
    ...(requirement && { requirement }),
  };
}

/** Compiles a validated policy section; throws PolicyRuleError (or Error) for a bad entry. */
export function compilePolicy(config: PolicyConfig, defaultRepository: string): Policy {
  const rules = [
    ...config.deny.map((entry, at) => parseRule(entry, 'deny', `policy.deny[${at}]`)),
    ...config.allow.map((entry, at) => parseRule(entry, 'allow', `policy.allow[${at}]`)),
  ];
  const minReleaseAgeSeconds = durationSeconds(config.minReleaseAge);
  if (minReleaseAgeSeconds === undefined) throw new Error(`policy.minReleaseAge "${config.minReleaseAge}" is not a duration`);
  const retired =
    config.blockRetired === true
      ? ('all' as const)
      : new Set((config.blockRetired === false ? [] : config.blockRetired).map((reason) => RETIREMENT_REASONS[reason]));
  const threshold = config.blockAdvisorySeverity;
  const advisoryThreshold = threshold === undefined ? undefined : { name: threshold, rank: SEVERITIES.indexOf(threshold) };
  // Allow rules only lift restrictions, and undated releases matter only under a minimum
  // age: without a deny rule or a restriction nothing can be blocked.
  const active =
    rules.some((rule) => rule.action === 'deny') ||
    minReleaseAgeSeconds > 0 ||
    advisoryThreshold !== undefined ||
    retired === 'all' ||
    retired.size > 0;
  return {
    rules,
    minReleaseAge: config.minReleaseAge,
    minReleaseAgeSeconds,
    undatedReleases: config.undatedReleases,
    ...(advisoryThreshold && { advisoryThreshold }),
    retired,
    tarballs: config.tarballs,
    repositories: new Set(config.repositories ?? [defaultRepository]),
    active,
  };
}

/** Allows everything: the policy when none is configured. */
export const OPEN_POLICY: Policy = {
  rules: [],
  minReleaseAge: '0',
  minReleaseAgeSeconds: 0,
  undatedReleases: 'allow',
  retired: new Set(),
  tarballs: 'locked-ok',
  repositories: new Set(),
  active: false,
};
