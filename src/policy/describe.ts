// The policy in force as plain data: what the admin API and `hexproxy policy` print.
import type { Policy } from './rules.js';
import { RETIREMENT_REASONS } from './rules.js';

export interface PolicySummary {
  active: boolean;
  repositories: string[];
  rules: { key: string; action: 'allow' | 'deny'; match: string; comment?: string }[];
  minReleaseAge: string;
  undatedReleases: 'allow' | 'block';
  blockAdvisorySeverity: string | null;
  blockRetired: boolean | string[];
  tarballs: 'locked-ok' | 'strict';
}

export function describePolicy(policy: Policy): PolicySummary {
  const retired =
    policy.retired === 'all'
      ? true
      : policy.retired.size === 0
        ? false
        : Object.entries(RETIREMENT_REASONS)
            .filter(([, value]) => (policy.retired as ReadonlySet<number>).has(value))
            .map(([name]) => name);
  return {
    active: policy.active,
    repositories: [...policy.repositories],
    rules: policy.rules.map((rule) => ({
      key: rule.key,
      action: rule.action,
      match: rule.text,
      ...(rule.comment !== undefined && { comment: rule.comment }),
    })),
    minReleaseAge: policy.minReleaseAge,
    undatedReleases: policy.undatedReleases,
    blockAdvisorySeverity: policy.advisoryThreshold?.name ?? null,
    blockRetired: retired,
    tarballs: policy.tarballs,
  };
}
