// The policy's pure decision layer (src/policy/duration.ts, rules.ts, decide.ts): durations,
// rule parsing, compilation, and the per-release decision with Hex's precedence. The clock
// is always passed in (NOW, Unix seconds); nothing here reads real time.
import { describe, expect, it } from 'vitest';
import {
  decideRelease,
  decidingRule,
  describeDecision,
  describeReason,
  severityRank,
  type BlockReason,
  type Decision,
} from '../../src/policy/decide.js';
import { DURATION_HINT, durationSeconds } from '../../src/policy/duration.js';
import { OPEN_POLICY, PolicyRuleError, compilePolicy, parseRule, type Policy, type PolicyConfig, type Rule } from '../../src/policy/rules.js';
import type { Package, Release, SecurityAdvisory } from '../../src/registry/types.js';
import { advisory, policyConfig as config, policyOf, release } from '../support/policy.js';

const DAY = 86_400;
/** 2023-11-14T22:13:20Z */
const NOW = 1_700_000_000;

type PkgView = Pick<Package, 'name' | 'advisories'>;
const pkg = (name: string, advisories: SecurityAdvisory[] = []): PkgView => ({ name, advisories });

/** The rule of `policy` configured at `key`. */
const ruleAt = (policy: Policy, key: string): Rule => {
  const rule = policy.rules.find((r) => r.key === key);
  if (!rule) throw new Error(`no rule at ${key}`);
  return rule;
};
const reasonsOf = (decision: Decision): BlockReason[] => {
  if (decision.allowed) throw new Error(`expected a block, got ${describeDecision(decision)}`);
  return decision.reasons;
};

describe('durationSeconds', () => {
  it.each([
    ['0', 0],
    ['0d', 0],
    ['1d', DAY],
    ['7d', 7 * DAY],
    ['007d', 7 * DAY],
    ['2w', 14 * DAY],
    ['1mo', 30 * DAY],
    ['3mo', 90 * DAY],
    ['999999d', 999_999 * DAY],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(durationSeconds(text)).toBe(seconds);
  });

  it.each(['7', '-1d', '1y', '+5d', '', '00', '7D', ' 7d', '7d ', '1.5d', '1m', '1h', 'd', 'mo', '1000000d', '1 d', '1dd', '7d2w'])(
    'rejects %j',
    (text) => {
      expect(durationSeconds(text)).toBeUndefined();
    },
  );

  it('has a hint naming the grammar', () => {
    expect(DURATION_HINT).toBe('a duration such as "0", "7d", "2w" or "1mo" (days, weeks, 30-day months)');
  });
});

describe('parseRule', () => {
  it('parses an exact name: specificity 2, no requirement, exact matching only', () => {
    const rule = parseRule('jason', 'deny', 'policy.deny[3]');
    expect(rule).toMatchObject({ action: 'deny', text: 'jason', key: 'policy.deny[3]', specificity: 2 });
    expect('requirement' in rule).toBe(false);
    expect('comment' in rule).toBe(false);
    expect(rule.matchesName('jason')).toBe(true);
    expect(rule.matchesName('jason_x')).toBe(false);
    expect(rule.matchesName('jaso')).toBe(false);
    expect(rule.matchesName('ja*')).toBe(false);
  });

  it('parses NAME@REQUIREMENT: specificity 3 and the requirement as written', () => {
    const rule = parseRule('jason@~> 1.2', 'allow', 'policy.allow[0]');
    expect(rule).toMatchObject({ action: 'allow', text: 'jason@~> 1.2', key: 'policy.allow[0]', specificity: 3 });
    expect(rule.requirement?.source).toBe('~> 1.2');
  });

  it('trims the name and the requirement but keeps the text as written', () => {
    const rule = parseRule(' jason @ >= 1.0.0 ', 'deny', 'k');
    expect(rule.text).toBe(' jason @ >= 1.0.0 ');
    expect(rule.requirement?.source).toBe('>= 1.0.0');
    expect(rule.specificity).toBe(3);
    expect(rule.matchesName('jason')).toBe(true);
  });

  it('parses a glob: specificity 0, or 1 with a requirement', () => {
    const glob = parseRule('ja*', 'deny', 'k');
    expect(glob.specificity).toBe(0);
    expect(glob.matchesName('jason')).toBe(true);
    expect(glob.matchesName('ja')).toBe(true);
    expect(glob.matchesName('json')).toBe(false);
    expect(parseRule('ja*@>= 1.0.0', 'deny', 'k').specificity).toBe(1);

    const braces = parseRule('{plug,cowboy}', 'deny', 'k');
    expect(braces.specificity).toBe(0);
    expect(['plug', 'cowboy', 'plug_cowboy'].map((n) => braces.matchesName(n))).toEqual([true, true, false]);
    const question = parseRule('ecto?', 'deny', 'k');
    expect(['ecto', 'ectox', 'ecto_sql'].map((n) => question.matchesName(n))).toEqual([false, true, false]);
    const bracket = parseRule('[pc]lug', 'deny', 'k');
    expect(['plug', 'clug', 'slug'].map((n) => bracket.matchesName(n))).toEqual([true, true, false]);
  });

  it('keeps the comment of an object entry', () => {
    const rule = parseRule({ match: 'plug@< 1.14.0', comment: 'CVE-2024-0001' }, 'deny', 'policy.deny[1]');
    expect(rule).toMatchObject({ text: 'plug@< 1.14.0', comment: 'CVE-2024-0001', specificity: 3, key: 'policy.deny[1]' });
    expect('comment' in parseRule({ match: 'plug' }, 'deny', 'k')).toBe(false);
  });

  const problemOf = (entry: string): { message: string; text: string; problem: string } => {
    try {
      parseRule(entry, 'deny', 'policy.deny[0]');
    } catch (error: unknown) {
      expect(error).toBeInstanceOf(PolicyRuleError);
      const { message, text, problem } = error as PolicyRuleError;
      return { message, text, problem };
    }
    throw new Error(`${JSON.stringify(entry)} parsed`);
  };

  it.each(['', '   ', '@~> 1.0', '@', ' @1.0.0'])('rejects %j as having no package name', (entry) => {
    expect(problemOf(entry)).toEqual({
      text: entry,
      problem: 'has no package name (write NAME or NAME@REQUIREMENT, e.g. "plug@~> 1.14")',
      message: `"${entry}" has no package name (write NAME or NAME@REQUIREMENT, e.g. "plug@~> 1.14")`,
    });
  });

  it.each(['Jason', 'jason.ex', 'org/jason', 'ja son', 'jäson', 'jason+1'])('rejects %j as not a name or glob', (entry) => {
    expect(problemOf(entry).message).toBe(
      `"${entry}" is not a package name or a glob of one (lowercase letters, digits, _, and the glob characters * ? [ ] { } , ! -)`,
    );
  });

  it('refuses a negated rule, which would match nothing', () => {
    expect(problemOf('!jason')).toEqual({
      text: '!jason',
      problem: 'cannot be negated; list the exceptions as allow rules instead',
      message: '"!jason" cannot be negated; list the exceptions as allow rules instead',
    });
  });

  it.each(['jason@', 'jason@   '])('rejects %j: an "@" with no requirement', (entry) => {
    expect(problemOf(entry)).toEqual({
      text: entry,
      problem: 'has an "@" but no requirement after it',
      message: `"${entry}" has an "@" but no requirement after it`,
    });
  });

  it('rejects an invalid requirement, saying what is wrong with it', () => {
    expect(problemOf('jason@>= 1.0')).toEqual({
      text: 'jason@>= 1.0',
      problem: "has an invalid requirement: '1.0' has no patch number, which only '~>' allows (write 1.0.0)",
      message: `"jason@>= 1.0" has an invalid requirement: '1.0' has no patch number, which only '~>' allows (write 1.0.0)`,
    });
    const banana = problemOf('jason@~> banana');
    expect(banana.problem.startsWith("has an invalid requirement: 'banana' is not a version: ")).toBe(true);
    expect(problemOf('jason@>= 1.0.0 and').problem).toBe("has an invalid requirement: 'and' must stand between two comparisons");
  });
});

describe('compilePolicy', () => {
  it('compiles the empty policy as inactive, on the default repository', () => {
    const empty: PolicyConfig = {
      deny: [],
      allow: [],
      minReleaseAge: '0',
      undatedReleases: 'allow',
      blockRetired: false,
      tarballs: 'locked-ok',
    };
    const policy = compilePolicy(empty, 'hexpm');
    expect(policy).toStrictEqual({
      rules: [],
      minReleaseAge: '0',
      minReleaseAgeSeconds: 0,
      undatedReleases: 'allow',
      retired: new Set(),
      tarballs: 'locked-ok',
      repositories: new Set(['hexpm']),
      active: false,
    });
    expect('advisoryThreshold' in policy).toBe(false);
  });

  it('is inactive with only allow rules, an empty retirement list, or undated blocking without a minimum age', () => {
    const allowOnly: PolicyConfig = {
      deny: [],
      allow: ['jason', 'plug@~> 1.0'],
      minReleaseAge: '0',
      undatedReleases: 'block',
      blockRetired: [],
      tarballs: 'strict',
    };
    const policy = compilePolicy(allowOnly, 'hexpm');
    expect(policy.active).toBe(false);
    expect(policy.rules.map((r) => [r.key, r.action, r.text])).toEqual([
      ['policy.allow[0]', 'allow', 'jason'],
      ['policy.allow[1]', 'allow', 'plug@~> 1.0'],
    ]);
    expect(policy.retired).toStrictEqual(new Set());
    expect(policy.tarballs).toBe('strict');
    expect(policy.undatedReleases).toBe('block');
  });

  it.each<[string, Partial<PolicyConfig>]>([
    ['a deny rule', { deny: ['jason'] }],
    ['a minimum age', { minReleaseAge: '1d' }],
    ['an advisory threshold of any', { blockAdvisorySeverity: 'any' }],
    ['an advisory threshold of critical', { blockAdvisorySeverity: 'critical' }],
    ['blockRetired true', { blockRetired: true }],
    ['a retirement reason', { blockRetired: ['renamed'] }],
  ])('is active with %s alone', (_, overrides) => {
    expect(policyOf(overrides).active).toBe(true);
  });

  it('lists deny rules before allow rules, keyed by where they are configured', () => {
    const policy = policyOf({ allow: ['a', { match: 'b@1.0.0', comment: 'pinned' }], deny: ['c*', 'd'] });
    expect(policy.rules.map((r) => ({ key: r.key, action: r.action, text: r.text, specificity: r.specificity, comment: r.comment }))).toEqual([
      { key: 'policy.deny[0]', action: 'deny', text: 'c*', specificity: 0, comment: undefined },
      { key: 'policy.deny[1]', action: 'deny', text: 'd', specificity: 2, comment: undefined },
      { key: 'policy.allow[0]', action: 'allow', text: 'a', specificity: 2, comment: undefined },
      { key: 'policy.allow[1]', action: 'allow', text: 'b@1.0.0', specificity: 3, comment: 'pinned' },
    ]);
  });

  it('converts the minimum age, advisory threshold and retirement reasons', () => {
    expect(policyOf({ minReleaseAge: '2w' })).toMatchObject({ minReleaseAge: '2w', minReleaseAgeSeconds: 14 * DAY });
    expect(policyOf({ blockAdvisorySeverity: 'any' }).advisoryThreshold).toEqual({ name: 'any', rank: 0 });
    expect(policyOf({ blockAdvisorySeverity: 'low' }).advisoryThreshold).toEqual({ name: 'low', rank: 1 });
    expect(policyOf({ blockAdvisorySeverity: 'medium' }).advisoryThreshold).toEqual({ name: 'medium', rank: 2 });
    expect(policyOf({ blockAdvisorySeverity: 'high' }).advisoryThreshold).toEqual({ name: 'high', rank: 3 });
    expect(policyOf({ blockAdvisorySeverity: 'critical' }).advisoryThreshold).toEqual({ name: 'critical', rank: 4 });
    expect(policyOf({ blockRetired: true }).retired).toBe('all');
    expect(policyOf({ blockRetired: ['other', 'invalid', 'security', 'deprecated', 'renamed'] }).retired).toStrictEqual(new Set([0, 1, 2, 3, 4]));
    expect(policyOf({ blockRetired: ['renamed', 'security'] }).retired).toStrictEqual(new Set([4, 2]));
  });

  it('uses the configured repositories instead of the default', () => {
    expect(policyOf({ repositories: ['hexpm', 'acme'] }).repositories).toStrictEqual(new Set(['hexpm', 'acme']));
    expect(policyOf({ repositories: ['acme'] }).repositories.has('hexpm')).toBe(false);
    expect(compilePolicy(config(), 'mirror').repositories).toStrictEqual(new Set(['mirror']));
  });

  it('rejects a bad minimum age and a bad rule', () => {
    expect(() => policyOf({ minReleaseAge: '1y' })).toThrow(new Error('policy.minReleaseAge "1y" is not a duration'));
    expect(() => policyOf({ allow: ['ok', 'Bad'] })).toThrow(PolicyRuleError);
    expect(() => policyOf({ deny: ['x@'] })).toThrow('"x@" has an "@" but no requirement after it');
  });

  it('OPEN_POLICY is inactive and allows everything', () => {
    expect(OPEN_POLICY.active).toBe(false);
    expect(OPEN_POLICY.repositories.size).toBe(0);
    const worst = release('1.0.0', { retired: { reason: 2 }, advisory_indexes: [0], published_at: { seconds: NOW, nanos: 0 } });
    expect(decideRelease(OPEN_POLICY, pkg('jason', [advisory('GHSA-1', 4)]), worst, NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(OPEN_POLICY, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });
});

describe('severityRank', () => {
  it('ranks the known severities as themselves and anything else above critical', () => {
    expect([0, 1, 2, 3, 4].map(severityRank)).toEqual([0, 1, 2, 3, 4]);
    expect(severityRank(undefined)).toBe(5);
    expect(severityRank(5)).toBe(5);
    expect(severityRank(99)).toBe(5);
    expect(severityRank(-1)).toBe(5);
  });
});

describe('decideRelease, one rule type at a time', () => {
  it('allows everything under a policy with nothing set', () => {
    const policy = policyOf();
    const r = release('1.0.0', { retired: { reason: 1 }, advisory_indexes: [0], published_at: { seconds: NOW, nanos: 0 } });
    expect(decideRelease(policy, pkg('jason', [advisory('A', 4)]), r, NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('deny NAME blocks every release of that package only', () => {
    const policy = policyOf({ deny: ['jason'] });
    const rule = ruleAt(policy, 'policy.deny[0]');
    expect(decideRelease(policy, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'deny', rule }] },
    });
    expect(decideRelease(policy, pkg('jason'), release('0.0.1-dev'), NOW).decision.allowed).toBe(false);
    expect(decideRelease(policy, pkg('jason_x'), release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('deny NAME@REQUIREMENT blocks the matching versions, pre-releases included', () => {
    const policy = policyOf({ deny: ['jason@~> 1.2'] });
    const allowed = (version: string): boolean => decideRelease(policy, pkg('jason'), release(version), NOW).decision.allowed;
    expect(['1.1.9', '1.2.0', '1.2.5', '1.9.0', '1.3.0-rc.1', '2.0.0-rc.0', '2.0.0'].map(allowed)).toEqual([
      true,
      false,
      false,
      false,
      false,
      true,
      true,
    ]);
  });

  it('a rule with a requirement does not match a release whose version does not parse', () => {
    const policy = policyOf({ deny: ['jason@>= 0.0.0'] });
    expect(decideRelease(policy, pkg('jason'), release('not-a-version'), NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(policy, pkg('jason'), release('0.0.0'), NOW).decision.allowed).toBe(false);
  });

  it('deny with a glob blocks every matching package', () => {
    const policy = policyOf({ deny: ['phoenix_*'] });
    expect(decideRelease(policy, pkg('phoenix_html'), release('1.0.0'), NOW).decision.allowed).toBe(false);
    expect(decideRelease(policy, pkg('phoenix'), release('1.0.0'), NOW).decision.allowed).toBe(true);
  });

  it('allow rules alone change nothing', () => {
    const policy = policyOf({ allow: ['jason'] });
    expect(decideRelease(policy, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({
      decision: { allowed: true, rule: ruleAt(policy, 'policy.allow[0]') },
    });
    expect(decideRelease(policy, pkg('plug'), release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('blockAdvisorySeverity blocks releases with an advisory at or above the threshold, listing only those', () => {
    const policy = policyOf({ blockAdvisorySeverity: 'high' });
    const p = pkg('jason', [advisory('GHSA-low', 1), advisory('GHSA-med', 2), advisory('GHSA-high', 3), advisory('GHSA-crit', 4)]);
    expect(decideRelease(policy, p, release('1.0.0', { advisory_indexes: [0, 1] }), NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(policy, p, release('1.0.1', { advisory_indexes: [1, 2] }), NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'advisory', threshold: 'high', advisories: [{ id: 'GHSA-high', severity: 'high' }] }] },
    });
    expect(decideRelease(policy, p, release('1.0.2', { advisory_indexes: [3, 0, 2] }), NOW)).toStrictEqual({
      decision: {
        allowed: false,
        reasons: [
          {
            kind: 'advisory',
            threshold: 'high',
            advisories: [
              { id: 'GHSA-crit', severity: 'critical' },
              { id: 'GHSA-high', severity: 'high' },
            ],
          },
        ],
      },
    });
    expect(decideRelease(policy, p, release('1.0.3'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('counts an advisory index that points past the advisories as unknown severity, blocking at any threshold', () => {
    const policy = policyOf({ blockAdvisorySeverity: 'critical' });
    expect(decideRelease(policy, pkg('jason', [advisory('A', 1)]), release('1.0.0', { advisory_indexes: [1] }), NOW)).toStrictEqual({
      decision: {
        allowed: false,
        reasons: [{ kind: 'advisory', threshold: 'critical', advisories: [{ id: '(advisory #1, missing from the package)', severity: 'unknown' }] }],
      },
    });
  });

  it("a missing severity blocks even at 'critical'; an unknown one is named as such", () => {
    const policy = policyOf({ blockAdvisorySeverity: 'critical' });
    const p = pkg('jason', [advisory('GHSA-none', undefined), advisory('GHSA-new', 7), advisory('GHSA-high', 3)]);
    expect(reasonsOf(decideRelease(policy, p, release('1.0.0', { advisory_indexes: [0, 1, 2] }), NOW).decision)).toEqual([
      {
        kind: 'advisory',
        threshold: 'critical',
        advisories: [
          { id: 'GHSA-none', severity: 'unknown' },
          { id: 'GHSA-new', severity: 'unknown (7)' },
        ],
      },
    ]);
    expect(decideRelease(policy, p, release('1.0.1', { advisory_indexes: [2] }), NOW).decision.allowed).toBe(true);
  });

  it("'any' blocks an advisory of severity NONE; 'low' does not", () => {
    const p = pkg('jason', [advisory('GHSA-zero', 0)]);
    const r = release('1.0.0', { advisory_indexes: [0] });
    expect(reasonsOf(decideRelease(policyOf({ blockAdvisorySeverity: 'any' }), p, r, NOW).decision)).toEqual([
      { kind: 'advisory', threshold: 'any', advisories: [{ id: 'GHSA-zero', severity: 'none' }] },
    ]);
    expect(decideRelease(policyOf({ blockAdvisorySeverity: 'low' }), p, r, NOW).decision.allowed).toBe(true);
  });

  it('each threshold blocks exactly the severities at or above it', () => {
    const p = pkg(
      'jason',
      [0, 1, 2, 3, 4].map((s) => advisory(`S${s}`, s)),
    );
    const blockedSeverities = (threshold: PolicyConfig['blockAdvisorySeverity']): number[] =>
      [0, 1, 2, 3, 4].filter(
        (s) => !decideRelease(policyOf({ blockAdvisorySeverity: threshold }), p, release('1.0.0', { advisory_indexes: [s] }), NOW).decision.allowed,
      );
    expect(blockedSeverities(undefined)).toEqual([]);
    expect(blockedSeverities('any')).toEqual([0, 1, 2, 3, 4]);
    expect(blockedSeverities('low')).toEqual([1, 2, 3, 4]);
    expect(blockedSeverities('medium')).toEqual([2, 3, 4]);
    expect(blockedSeverities('high')).toEqual([3, 4]);
    expect(blockedSeverities('critical')).toEqual([4]);
  });

  it('blockRetired true blocks every retirement reason, with the message when there is one', () => {
    const policy = policyOf({ blockRetired: true });
    const decide = (retired: Release['retired']): Decision =>
      decideRelease(policy, pkg('jason'), release('1.0.0', retired ? { retired } : {}), NOW).decision;
    expect(decide({ reason: 0, message: 'broken build' })).toStrictEqual({
      allowed: false,
      reasons: [{ kind: 'retired', reason: 'other', message: 'broken build' }],
    });
    expect(decide({ reason: 1 })).toStrictEqual({ allowed: false, reasons: [{ kind: 'retired', reason: 'invalid' }] });
    expect(decide({ reason: 2 })).toStrictEqual({ allowed: false, reasons: [{ kind: 'retired', reason: 'security' }] });
    expect(decide({ reason: 3 })).toStrictEqual({ allowed: false, reasons: [{ kind: 'retired', reason: 'deprecated' }] });
    expect(decide({ reason: 4, message: '' })).toStrictEqual({ allowed: false, reasons: [{ kind: 'retired', reason: 'renamed', message: '' }] });
    expect(decide({ reason: 9 })).toStrictEqual({ allowed: false, reasons: [{ kind: 'retired', reason: 'unknown (9)' }] });
    expect(decide(undefined)).toStrictEqual({ allowed: true });
  });

  it('blockRetired with reasons blocks only those reasons', () => {
    const policy = policyOf({ blockRetired: ['security', 'invalid'] });
    const allowedFor = (reason: number): boolean =>
      decideRelease(policy, pkg('jason'), release('1.0.0', { retired: { reason } }), NOW).decision.allowed;
    expect([0, 1, 2, 3, 4, 9].map(allowedFor)).toEqual([true, false, false, true, true, true]);
  });

  it('blockRetired false lets retired releases through', () => {
    const r = release('1.0.0', { retired: { reason: 2, message: 'CVE' } });
    expect(decideRelease(policyOf({ blockRetired: false }), pkg('jason'), r, NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(policyOf({ blockRetired: [] }), pkg('jason'), r, NOW)).toStrictEqual({ decision: { allowed: true } });
  });
});

describe('decideRelease, minimum release age', () => {
  const policy = policyOf({ minReleaseAge: '7d' });
  const published = (seconds: number, nanos = 0): Release => release('1.0.0', { published_at: { seconds, nanos } });

  it('allows a release exactly at its eligibility time, with no change ahead', () => {
    expect(decideRelease(policy, pkg('jason'), published(NOW - 7 * DAY), NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(policy, pkg('jason'), published(NOW - 7 * DAY - 1), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('blocks a release one second short of its eligibility time, changing then', () => {
    expect(decideRelease(policy, pkg('jason'), published(NOW - 7 * DAY + 1), NOW)).toStrictEqual({
      decision: {
        allowed: false,
        reasons: [{ kind: 'too-new', publishedAt: NOW - 7 * DAY + 1, eligibleAt: NOW + 1, minReleaseAge: '7d' }],
      },
      changesAt: NOW + 1,
    });
  });

  it('the same release is allowed once the clock reaches changesAt', () => {
    const r = published(NOW);
    const first = decideRelease(policy, pkg('jason'), r, NOW);
    expect(first.changesAt).toBe(NOW + 7 * DAY);
    expect(decideRelease(policy, pkg('jason'), r, NOW + 7 * DAY - 1).decision.allowed).toBe(false);
    expect(decideRelease(policy, pkg('jason'), r, NOW + 7 * DAY)).toStrictEqual({ decision: { allowed: true } });
  });

  it('counts whole seconds: nanos do not delay eligibility', () => {
    expect(decideRelease(policy, pkg('jason'), published(NOW - 7 * DAY, 999_999_999), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it('blocks a release published in the future until its age is reached', () => {
    expect(decideRelease(policy, pkg('jason'), published(NOW + 60), NOW).changesAt).toBe(NOW + 60 + 7 * DAY);
  });

  it('uses 30-day months', () => {
    const months = policyOf({ minReleaseAge: '1mo' });
    expect(decideRelease(months, pkg('jason'), published(NOW - 30 * DAY), NOW).decision.allowed).toBe(true);
    expect(decideRelease(months, pkg('jason'), published(NOW - 30 * DAY + 1), NOW).changesAt).toBe(NOW + 1);
  });

  it('has no minimum age at "0", whatever the publication date', () => {
    const none = policyOf({ minReleaseAge: '0', undatedReleases: 'block' });
    expect(decideRelease(none, pkg('jason'), published(NOW), NOW)).toStrictEqual({ decision: { allowed: true } });
    expect(decideRelease(none, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it("lets an undated release through under undatedReleases 'allow'", () => {
    expect(decideRelease(policy, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true } });
  });

  it("blocks an undated release under undatedReleases 'block', with no change ahead", () => {
    const strict = policyOf({ minReleaseAge: '2w', undatedReleases: 'block' });
    expect(decideRelease(strict, pkg('jason'), release('1.0.0'), NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'undated', minReleaseAge: '2w' }] },
    });
    expect(decideRelease(strict, pkg('jason'), published(NOW - 14 * DAY), NOW)).toStrictEqual({ decision: { allowed: true } });
  });
});

describe('decideRelease, combined restrictions', () => {
  const policy = policyOf({ blockAdvisorySeverity: 'medium', blockRetired: ['security'], minReleaseAge: '7d' });
  const p = pkg('jason', [advisory('GHSA-1', 3)]);

  it('reports every restriction that blocks, in order advisory, retired, age, and keeps changesAt', () => {
    const r = release('1.0.0', {
      advisory_indexes: [0],
      retired: { reason: 2, message: 'CVE-1' },
      published_at: { seconds: NOW - DAY, nanos: 5 },
    });
    const result = decideRelease(policy, p, r, NOW);
    expect(result).toStrictEqual({
      decision: {
        allowed: false,
        reasons: [
          { kind: 'advisory', threshold: 'medium', advisories: [{ id: 'GHSA-1', severity: 'high' }] },
          { kind: 'retired', reason: 'security', message: 'CVE-1' },
          { kind: 'too-new', publishedAt: NOW - DAY, eligibleAt: NOW + 6 * DAY, minReleaseAge: '7d' },
        ],
      },
      changesAt: NOW + 6 * DAY,
    });
    expect(describeDecision(result.decision)).toBe(
      'blocked: advisory GHSA-1 (high) at or above policy.blockAdvisorySeverity "medium"; ' +
        'retired (security: CVE-1) and policy.blockRetired blocks that reason; ' +
        'published 2023-11-13T22:13:20Z, younger than policy.minReleaseAge "7d"; allowed from 2023-11-20T22:13:20Z',
    );
  });

  it('reports only the restrictions that apply', () => {
    const r = release('1.0.0', { advisory_indexes: [0], retired: { reason: 3 }, published_at: { seconds: NOW - 8 * DAY, nanos: 0 } });
    expect(decideRelease(policy, p, r, NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'advisory', threshold: 'medium', advisories: [{ id: 'GHSA-1', severity: 'high' }] }] },
    });
  });
});

describe('precedence of allow and deny rules', () => {
  const everything: Partial<PolicyConfig> = {
    blockAdvisorySeverity: 'any',
    blockRetired: true,
    minReleaseAge: '1mo',
    undatedReleases: 'block',
  };
  const p = pkg('jason', [advisory('GHSA-1', 4)]);
  const worst = release('1.2.5', { advisory_indexes: [0], retired: { reason: 2 }, published_at: { seconds: NOW, nanos: 0 } });

  it('an allow rule lifts every restriction, with no change ahead', () => {
    const policy = policyOf({ ...everything, allow: ['jason'] });
    expect(decideRelease(policy, p, worst, NOW)).toStrictEqual({ decision: { allowed: true, rule: ruleAt(policy, 'policy.allow[0]') } });
    expect(decideRelease(policy, p, release('1.0.0'), NOW)).toStrictEqual({ decision: { allowed: true, rule: ruleAt(policy, 'policy.allow[0]') } });
    // Without the allow rule, the same release is blocked four ways over.
    expect(reasonsOf(decideRelease(policyOf(everything), p, worst, NOW).decision).map((r) => r.kind)).toEqual(['advisory', 'retired', 'too-new']);
    expect(reasonsOf(decideRelease(policyOf(everything), p, release('1.0.0'), NOW).decision).map((r) => r.kind)).toEqual(['undated']);
  });

  it('a deny rule decides without restrictions being looked at', () => {
    const policy = policyOf({ ...everything, deny: ['jason'] });
    expect(decideRelease(policy, p, worst, NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'deny', rule: ruleAt(policy, 'policy.deny[0]') }] },
    });
  });

  it('at equal specificity deny beats allow, whichever comes first', () => {
    const policy = policyOf({ deny: ['jason'], allow: ['jason'] });
    expect(decidingRule(policy, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
    const allowFirst: Policy = {
      ...policy,
      rules: [parseRule('jason@~> 1.0', 'allow', 'policy.allow[0]'), parseRule('jason@~> 1.0', 'deny', 'policy.deny[0]')],
    };
    expect(decidingRule(allowFirst, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
    expect(decideRelease(allowFirst, pkg('jason'), release('1.0.0'), NOW).decision.allowed).toBe(false);
    const globs = policyOf({ allow: ['j*'], deny: ['*n'] });
    expect(decidingRule(globs, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
  });

  it('of two rules of the same action and specificity the first decides', () => {
    const policy = policyOf({ allow: ['j*', 'ja*'] });
    expect(decidingRule(policy, 'jason', '1.0.0')?.key).toBe('policy.allow[0]');
  });

  it('a rule with a requirement outranks the bare name', () => {
    const allowRange = policyOf({ deny: ['jason'], allow: ['jason@~> 1.2'] });
    expect(decideRelease(allowRange, pkg('jason'), release('1.2.5'), NOW)).toStrictEqual({
      decision: { allowed: true, rule: ruleAt(allowRange, 'policy.allow[0]') },
    });
    expect(decideRelease(allowRange, pkg('jason'), release('2.0.0'), NOW)).toStrictEqual({
      decision: { allowed: false, reasons: [{ kind: 'deny', rule: ruleAt(allowRange, 'policy.deny[0]') }] },
    });
    const denyRange = policyOf({ deny: ['jason@~> 1.2'], allow: ['jason'] });
    expect(decidingRule(denyRange, 'jason', '1.2.5')?.key).toBe('policy.deny[0]');
    expect(decidingRule(denyRange, 'jason', '1.1.0')?.key).toBe('policy.allow[0]');
  });

  it('an exact name outranks a glob', () => {
    const denyExact = policyOf({ deny: ['jason'], allow: ['ja*'] });
    expect(decidingRule(denyExact, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
    expect(decidingRule(denyExact, 'jam', '1.0.0')?.key).toBe('policy.allow[0]');
    const allowExact = policyOf({ deny: ['ja*'], allow: ['jason'] });
    expect(decideRelease(allowExact, pkg('jason'), release('1.0.0'), NOW).decision).toStrictEqual({
      allowed: true,
      rule: ruleAt(allowExact, 'policy.allow[0]'),
    });
    expect(decideRelease(allowExact, pkg('jam'), release('1.0.0'), NOW).decision).toStrictEqual({
      allowed: false,
      reasons: [{ kind: 'deny', rule: ruleAt(allowExact, 'policy.deny[0]') }],
    });
  });

  it('an exact name without a requirement outranks a glob with one', () => {
    const policy = policyOf({ deny: ['jason'], allow: ['ja*@>= 0.0.0'] });
    expect(decidingRule(policy, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
    expect(decidingRule(policy, 'jam', '1.0.0')?.key).toBe('policy.allow[0]');
    const reversed = policyOf({ deny: ['ja*@>= 0.0.0'], allow: ['jason'] });
    expect(decidingRule(reversed, 'jason', '1.0.0')?.key).toBe('policy.allow[0]');
  });

  it('a glob with a requirement outranks a bare glob', () => {
    const policy = policyOf({ deny: ['ja*@>= 1.0.0'], allow: ['ja*'] });
    expect(decidingRule(policy, 'jason', '1.0.0')?.key).toBe('policy.deny[0]');
    expect(decidingRule(policy, 'jason', '0.9.0')?.key).toBe('policy.allow[0]');
  });

  it('no rule decides when none matches', () => {
    const policy = policyOf({ deny: ['plug', 'jason@>= 2.0.0'], allow: ['ecto*'] });
    expect(decidingRule(policy, 'jason', '1.0.0')).toBeUndefined();
    expect(decidingRule(OPEN_POLICY, 'jason', '1.0.0')).toBeUndefined();
  });
});

describe('describeReason and describeDecision', () => {
  it('names the rule of a deny, with its comment', () => {
    const policy = policyOf({ deny: [{ match: 'jason', comment: 'CVE-2024-1' }, 'plug@< 1.0.0'] });
    expect(describeReason({ kind: 'deny', rule: ruleAt(policy, 'policy.deny[0]') })).toBe('denied by policy.deny[0] "jason" (CVE-2024-1)');
    expect(describeReason({ kind: 'deny', rule: ruleAt(policy, 'policy.deny[1]') })).toBe('denied by policy.deny[1] "plug@< 1.0.0"');
    expect(describeDecision(decideRelease(policy, pkg('plug'), release('0.9.0'), NOW).decision)).toBe(
      'blocked: denied by policy.deny[1] "plug@< 1.0.0"',
    );
  });

  it('names the advisories and policy.blockAdvisorySeverity', () => {
    expect(
      describeReason({
        kind: 'advisory',
        threshold: 'high',
        advisories: [
          { id: 'GHSA-1', severity: 'high' },
          { id: 'GHSA-2', severity: 'unknown' },
        ],
      }),
    ).toBe('advisory GHSA-1 (high), GHSA-2 (unknown) at or above policy.blockAdvisorySeverity "high"');
  });

  it('names the retirement reason and policy.blockRetired', () => {
    expect(describeReason({ kind: 'retired', reason: 'security', message: 'use 1.2.1' })).toBe(
      'retired (security: use 1.2.1) and policy.blockRetired blocks that reason',
    );
    expect(describeReason({ kind: 'retired', reason: 'deprecated' })).toBe('retired (deprecated) and policy.blockRetired blocks that reason');
    expect(describeReason({ kind: 'retired', reason: 'renamed', message: '' })).toBe('retired (renamed) and policy.blockRetired blocks that reason');
  });

  it('names the dates and policy.minReleaseAge', () => {
    expect(describeReason({ kind: 'too-new', publishedAt: NOW, eligibleAt: NOW + 7 * DAY, minReleaseAge: '7d' })).toBe(
      'published 2023-11-14T22:13:20Z, younger than policy.minReleaseAge "7d"; allowed from 2023-11-21T22:13:20Z',
    );
  });

  it('names policy.undatedReleases and policy.minReleaseAge', () => {
    expect(describeReason({ kind: 'undated', minReleaseAge: '1mo' })).toBe(
      'has no publication date and policy.undatedReleases is "block" (policy.minReleaseAge "1mo")',
    );
  });

  it('says what allowed a release', () => {
    const policy = policyOf({ allow: ['jason@~> 1.2'] });
    expect(describeDecision({ allowed: true, rule: ruleAt(policy, 'policy.allow[0]') })).toBe(
      'allowed by policy.allow[0] "jason@~> 1.2", which lifts every restriction',
    );
    expect(describeDecision({ allowed: true })).toBe('allowed: no rule or restriction blocks it');
  });
});
