// Policies and registry pieces for the policy tests: a policy config with every key, its
// compiled form, releases and advisories with only what a test sets, and three advisories
// of known severities for the fake upstream.
import { compilePolicy, type Policy, type PolicyConfig } from '../../src/policy/rules.js';
import type { Release, SecurityAdvisory } from '../../src/registry/types.js';

/** A policy section as the schema fills it in, with `overrides`. */
export const policyConfig = (overrides: Partial<PolicyConfig> = {}): PolicyConfig => ({
  deny: [],
  allow: [],
  minReleaseAge: '0',
  undatedReleases: 'allow',
  blockAdvisorySeverity: undefined,
  blockRetired: false,
  tarballs: 'locked-ok',
  ...overrides,
});

export const policyOf = (overrides: Partial<PolicyConfig> = {}): Policy => compilePolicy(policyConfig(overrides), 'hexpm');

export const release = (version: string, extra: Partial<Release> = {}): Release => ({
  version,
  inner_checksum: Buffer.alloc(32, 1),
  dependencies: [],
  advisory_indexes: [],
  ...extra,
});

export const advisory = (id: string, severity?: number): SecurityAdvisory => ({
  id,
  summary: `summary of ${id}`,
  html_url: `https://osv.dev/vulnerability/${id}`,
  api_url: `https://api.osv.dev/v1/vulns/${id}`,
  aliases: [],
  ...(severity !== undefined && { severity }),
});

/** Advisories for fake upstream releases (AdvisorySpec), by severity. */
export const CRITICAL = { id: 'GHSA-crit-0001', summary: 'remote code execution', severity: 4 };
export const HIGH = { id: 'GHSA-high-0002', summary: 'denial of service', severity: 3 };
export const LOW = { id: 'GHSA-low-0003', summary: 'log noise', severity: 1 };
