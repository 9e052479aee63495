import { describe, expect, it } from 'vitest';
import { InvalidRequirementError, InvalidVersionError } from '../../src/resolve/errors.js';
import { matches, parseRequirement } from '../../src/resolve/requirement.js';
import { compareVersions, parseVersion } from '../../src/resolve/version.js';

const both = [true, false] as const;
const match = (requirement: string, version: string, allowPre: boolean): boolean => matches(parseRequirement(requirement), version, { allowPre });

describe('parseVersion', () => {
  it('reads full SemVer versions, numeric pre-release identifiers as numbers', () => {
    const version = parseVersion('1.20.3-rc.1+build.5');
    expect([version.major, version.minor, version.patch]).toEqual([1, 20, 3]);
    expect(version.prerelease).toEqual(['rc', 1]);
    expect(version.build).toEqual(['build', '5']);
    expect(parseVersion('0.0.0').version).toBe('0.0.0');
    expect(parseVersion('12345678901234.0.0').major).toBe(12345678901234);
  });

  it.each([
    ['1.0', /patch number is missing/],
    ['1', /MAJOR.MINOR.PATCH/],
    ['1.0.0.0', /more than three/],
    ['v1.0.0', /not a number/],
    [' 1.0.0', /not a number/],
    ['01.0.0', /leading zero/],
    ['1.00.0', /leading zero/],
    ['123456789012345.0.0', /more than 14 digits/],
    ['1.0.0-', /empty identifier/],
    ['1.0.0-rc..1', /empty identifier/],
    ['1.0.0-01', /leading zero/],
    ['1.0.0-123456789012345', /more than 14 digits/],
    ['1.0.0-rc_1', /characters other than/],
    ['1.0.0+', /empty identifier/],
    ['1.0.0+a+b', /characters other than/],
    ['', /empty/],
  ])('rejects %j as Elixir does', (text, problem) => {
    expect(() => parseVersion(text)).toThrow(InvalidVersionError);
    expect(() => parseVersion(text)).toThrow(problem);
  });

  it('allows long alphanumeric pre-release identifiers, as Elixir does', () => {
    expect(parseVersion('1.0.0-abcdefghijklmnopq').prerelease).toEqual(['abcdefghijklmnopq']);
  });
});

describe('compareVersions', () => {
  it('orders by SemVer precedence (the semver.org example chain)', () => {
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.0.1',
      '1.1.0',
      '2.0.0',
    ];
    for (let i = 1; i < chain.length; i += 1) {
      expect(compareVersions(chain[i - 1] ?? '', chain[i] ?? '')).toBe(-1);
      expect(compareVersions(chain[i] ?? '', chain[i - 1] ?? '')).toBe(1);
    }
  });

  it("agrees with the examples of Elixir's Version.compare/2", () => {
    expect(compareVersions('2.0.1-alpha1', '2.0.0')).toBe(1);
    expect(compareVersions('1.0.0-beta', '1.0.0-rc1')).toBe(-1);
    expect(compareVersions('1.0.0-10', '1.0.0-2')).toBe(1);
    expect(compareVersions('2.0.1+build0', '2.0.1')).toBe(0);
  });

  it('throws on an invalid version', () => {
    expect(() => compareVersions('invalid', '2.0.1')).toThrow(InvalidVersionError);
  });
});

describe('parseRequirement', () => {
  it('groups comparisons: and inside or', () => {
    const requirement = parseRequirement('>= 1.0.0 and < 2.0.0 or ~> 3.1');
    expect(requirement.source).toBe('>= 1.0.0 and < 2.0.0 or ~> 3.1');
    expect(requirement.anyOf.map((all) => all.map((c) => `${c.operator} ${c.text}`))).toEqual([['>= 1.0.0', '< 2.0.0'], ['~> 3.1']]);
  });

  it('reads a bare version as ==, and operators without a space', () => {
    expect(parseRequirement('1.0.0').anyOf).toEqual(parseRequirement('== 1.0.0').anyOf);
    expect(parseRequirement('>=1.0.0 and <2.0.0').anyOf).toEqual(parseRequirement('>= 1.0.0 and < 2.0.0').anyOf);
    expect(parseRequirement('  >=  1.0.0  and  < 2.0.0 ').anyOf).toHaveLength(1);
  });

  it("computes ~>'s bounds, excluding pre-releases of the bound", () => {
    const bounds = (text: string): [string, string] => {
      const [c] = parseRequirement(text).anyOf[0] ?? [];
      if (c?.operator !== '~>') throw new Error('expected ~>');
      return [c.version.version, c.below.version];
    };
    expect(bounds('~> 1.2')).toEqual(['1.2.0', '2.0.0-0']);
    expect(bounds('~> 1.2.3')).toEqual(['1.2.3', '1.3.0-0']);
    expect(bounds('~> 1.2-rc')).toEqual(['1.2.0-rc', '2.0.0-0']);
    expect(bounds('~> 0.4.3-rc.0')).toEqual(['0.4.3-rc.0', '0.5.0-0']);
  });

  it("accepts Elixir's deprecated != and ! spellings", () => {
    expect(parseRequirement('!= 1.0.0').anyOf[0]?.[0]?.operator).toBe('!=');
    expect(parseRequirement('!1.0.0').anyOf[0]?.[0]?.operator).toBe('!=');
  });

  it.each([
    ['', /it is empty/],
    ['   ', /it is empty/],
    ['~> 1', /'1' is not a version: expected at least MAJOR.MINOR/],
    ['>> 1.0.0', /'>' must be followed by a version, not '>'/],
    ['== == 1.0.0', /'==' must be followed by a version, not '=='/],
    ['~>', /'~>' must be followed by a version, not nothing/],
    ['1.0.0 and', /'and' must stand between two comparisons/],
    ['1.0.0 and ', /'and' must stand between two comparisons/],
    ['>= 1.0.0 or', /'or' must stand between two comparisons/],
    ['and 1.0.0', /'and' must stand between two comparisons/],
    [' and 1.0.0', /'and' must stand between two comparisons/],
    ['1.0.0 and or 2.0.0', /'or' must stand between two comparisons/],
    ['1.0.0 2.0.0', /expected 'and' or 'or' after '1.0.0', found '2.0.0'/],
    ['>= 1.0.0 < 2.0.0', /expected 'and' or 'or' after '1.0.0', found '<'/],
    ['>= 1.2', /'1.2' has no patch number, which only '~>' allows \(write 1.2.0\)/],
    ['1.2', /no patch number/],
    ['~> 1.2.3.4', /more than three/],
    ['>= 1.0.0-01', /leading zero/],
    ['~> 1.0 || ~> 2.0', /expected 'and' or 'or' after '1.0', found '||'/],
    ['>= 1.0.0\tand < 2.0.0', /not a version/],
    ['=> 1.0.0', /'=' is not a version/],
  ])('rejects %j, saying what is wrong', (text, problem) => {
    let error: unknown;
    try {
      parseRequirement(text);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRequirementError);
    expect(error).toMatchObject({ code: 'invalid_requirement', input: text });
    expect((error as InvalidRequirementError).message).toContain(JSON.stringify(text));
    expect((error as InvalidRequirementError).problem).toMatch(problem);
  });
});

describe('matches', () => {
  // The table in the moduledoc of Elixir's Version (lib/elixir/lib/version.ex).
  it.each([
    ['~> 2.0', '2.1.0', both, true],
    ['~> 2.0', '3.0.0', both, false],
    ['~> 2.0.0', '2.0.5', both, true],
    ['~> 2.0.0', '2.1.0', both, false],
    ['~> 2.1.2', '2.1.6-dev', [true], true],
    ['~> 2.1.2', '2.1.6-dev', [false], false],
    ['~> 2.1-dev', '2.2.0-dev', both, true],
    ['~> 2.1.2-dev', '2.1.6-dev', both, true],
    ['>= 2.1.0', '2.2.0-dev', [true], true],
    ['>= 2.1.0', '2.2.0-dev', [false], false],
    ['>= 2.1.0-dev', '2.2.6-dev', both, true],
    ['< 2.2.0', '2.1.0-dev', both, true],
  ] as const)("Elixir's table: %s with %s (allowPre %j) is %s", (requirement, version, allowPre, expected) => {
    for (const pre of allowPre) expect(match(requirement, version, pre)).toBe(expected);
  });

  it('~> 1.2 allows up to the next major; ~> 1.2.3 up to the next minor', () => {
    for (const pre of both) {
      expect(['1.1.9', '1.2.0', '1.2.3', '1.9.9', '2.0.0'].filter((v) => match('~> 1.2', v, pre))).toEqual(['1.2.0', '1.2.3', '1.9.9']);
      expect(['1.2.2', '1.2.3', '1.2.9', '1.3.0'].filter((v) => match('~> 1.2.3', v, pre))).toEqual(['1.2.3', '1.2.9']);
    }
  });

  it('never lets ~> reach a pre-release of its upper bound, even with allowPre', () => {
    expect(match('~> 1.2', '2.0.0-rc.1', true)).toBe(false);
    expect(match('~> 1.2.3', '1.3.0-0', true)).toBe(false);
    expect(match('~> 1.2-rc', '2.0.0-alpha', true)).toBe(false);
  });

  it('~> 1.0-rc matches the release candidates and the release after them', () => {
    for (const pre of both) {
      expect(match('~> 1.0-rc', '1.0.0-rc.1', pre)).toBe(true);
      expect(match('~> 1.0-rc', '1.0.0-rc', pre)).toBe(true);
      expect(match('~> 1.0-rc', '1.0.0', pre)).toBe(true);
      expect(match('~> 1.0-rc', '1.4.0', pre)).toBe(true);
      expect(match('~> 1.0-rc', '1.0.0-beta.9', pre)).toBe(false);
      expect(match('~> 1.0-rc', '2.0.0', pre)).toBe(false);
      expect(match('~> 1.0-rc.0', '1.0.0-rc.1', pre)).toBe(true);
      // A pre-release operand lets every pre-release in the range through.
      expect(match('~> 1.0-rc', '1.3.0-dev', pre)).toBe(true);
    }
  });

  it('>= 1.0.0 and < 2.0.0', () => {
    for (const pre of both) {
      expect(['0.9.9', '1.0.0', '1.9.9', '2.0.0'].filter((v) => match('>= 1.0.0 and < 2.0.0', v, pre))).toEqual(['1.0.0', '1.9.9']);
    }
    // Unlike ~>, `< 2.0.0` is plain precedence: 2.0.0-rc.1 is below it.
    expect(match('>= 1.0.0 and < 2.0.0', '2.0.0-rc.1', true)).toBe(true);
    expect(match('>= 1.0.0 and < 2.0.0', '2.0.0-rc.1', false)).toBe(false);
  });

  it('or joins alternatives, and binds tighter than or', () => {
    expect(['1.5.0', '2.5.0', '3.0.0'].filter((v) => match('~> 1.0 or ~> 2.0', v, false))).toEqual(['1.5.0', '2.5.0']);
    // Read as `== 1.0.0 or (== 2.0.0 and == 3.0.0)`, not `(== 1.0.0 or == 2.0.0) and == 3.0.0`.
    expect(match('== 1.0.0 or == 2.0.0 and == 3.0.0', '1.0.0', false)).toBe(true);
    expect(match('== 2.0.0 and == 3.0.0 or == 1.0.0', '1.0.0', false)).toBe(true);
    expect(match('== 1.0.0 or == 2.0.0 and == 3.0.0', '2.0.0', false)).toBe(false);
  });

  it('!= excludes one version, ignoring build metadata, and is not affected by allowPre', () => {
    expect(match('!= 1.0.0', '1.0.0', true)).toBe(false);
    expect(match('!= 1.0.0', '1.0.0+build.1', true)).toBe(false);
    expect(match('!= 1.0.0', '1.0.1', false)).toBe(true);
    expect(match('!= 1.0.0', '1.1.0-rc.1', false)).toBe(true);
    expect(match('>= 1.0.0 and != 1.2.0', '1.2.0', false)).toBe(false);
  });

  it('== ignores build metadata on either side', () => {
    expect(match('== 1.0.0', '1.0.0+build', false)).toBe(true);
    expect(match('1.0.0+other', '1.0.0+build', false)).toBe(true);
    expect(match('== 1.0.0', '1.0.1', false)).toBe(false);
    expect(match('== 1.0.0', '1.0.0-rc.1', true)).toBe(false);
  });

  it('lets == and <, <= match pre-releases whatever allowPre says', () => {
    expect(match('== 1.0.0-rc.1', '1.0.0-rc.1', false)).toBe(true);
    expect(match('<= 1.0.0', '1.0.0-rc.1', false)).toBe(true);
    expect(match('< 1.0.0', '0.9.0-dev', false)).toBe(true);
  });

  it('lets > and >= match any pre-release when their operand is one, with allowPre false', () => {
    expect(match('> 1.0.0-rc.1', '1.0.0-rc.2', false)).toBe(true);
    expect(match('> 1.0.0-rc.1', '3.0.0-dev', false)).toBe(true);
    expect(match('> 1.0.0-rc.1', '1.0.0-rc.1', false)).toBe(false);
    expect(match('> 1.0.0', '1.1.0-rc.1', false)).toBe(false);
    // Decided per comparison: here the pre-release operand is in another comparison.
    expect(match('>= 1.0.0 and < 2.0.0-rc.1', '1.5.0-dev', false)).toBe(false);
  });

  it('throws on an invalid version', () => {
    expect(() => match('~> 1.0', '1.0', true)).toThrow(InvalidVersionError);
  });
});
