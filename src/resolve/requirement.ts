// Elixir version requirements ("~> 1.7", ">= 1.0.0 and < 2.0.0 or == 3.0.0-rc.1") parsed
// and matched with the semantics of Elixir's Version module (elixir-lang/elixir,
// lib/elixir/lib/version.ex: Version.Parser and Version.Requirement.match_op?/3).
//
// node-semver does the version parsing and ordering, but not the matching: its Range
// treats pre-releases per comparator set (a pre-release matches only if a comparator with
// the same MAJOR.MINOR.PATCH has a pre-release too) and has no `!=`, whereas Elixir's
// :allow_pre is decided per operator. Each comparison is therefore written out here.

import { type SemVer, compare } from 'semver';
import { InvalidRequirementError, InvalidVersionError } from './errors.js';
import { lexRequirement, type Operator, type Token } from './requirement-lexer.js';
import { asSemVer, isPrerelease, parseVersionParts, toSemVer, type VersionParts } from './version.js';

export type { Operator } from './requirement-lexer.js';

export type Comparator =
  | {
      readonly operator: '~>';
      /** The operand; a patch left out (`~> 1.2`) counts as 0. */
      readonly version: SemVer;
      /** The exclusive upper bound, X.Y+1.0-0 or X+1.0.0-0: no pre-release of it matches. */
      readonly below: SemVer;
      /** The operand as written. */
      readonly text: string;
    }
  | {
      readonly operator: Exclude<Operator, '~>'>;
      readonly version: SemVer;
      readonly text: string;
    };

export interface Requirement {
  /** The requirement as written. */
  readonly source: string;
  /** Alternatives joined by `or`, each a list of comparisons joined by `and`. */
  readonly anyOf: readonly (readonly Comparator[])[];
}

export interface MatchOptions {
  /**
   * Elixir's :allow_pre. When false, a pre-release version satisfies `~>`, `>` and `>=`
   * only if that operand is itself a pre-release; `==`, `!=`, `<` and `<=` ignore it.
   * Elixir defaults to true; Hex 1.x matched with false; Hex 2.x (hex_solver) matches as
   * if true and prefers stable releases when choosing instead (see select.ts).
   */
  readonly allowPre: boolean;
}

/** Parses a requirement; throws InvalidRequirementError saying what is wrong with it. */
export function parseRequirement(source: string): Requirement {
  const fail = (problem: string): never => {
    throw new InvalidRequirementError(source, problem);
  };
  const tokens = lexRequirement(source);
  if (tokens.length === 0) fail('it is empty');
  const anyOf: Comparator[][] = [[]];
  // Elixir accepts exactly: OPERATOR VERSION ((and | or) OPERATOR VERSION)*, where a bare
  // version has had an implicit `==` put before it by the lexer.
  for (let at = 0; ; at += 3) {
    const operator = tokens[at];
    // Only reached after an `and`/`or` with nothing following it.
    if (operator === undefined) return fail(`'${describe(tokens, at - 1)}' must stand between two comparisons`);
    if (operator.kind !== 'operator') return fail(`'${operator.kind}' must stand between two comparisons`);
    const operand = tokens[at + 1];
    if (operand?.kind !== 'version') {
      const found = operand === undefined ? 'nothing' : `'${describe(tokens, at + 1)}'`;
      return fail(`'${operator.operator}' must be followed by a version, not ${found}`);
    }
    anyOf.at(-1)?.push(comparator(operator.operator, operand.text, fail));
    const joiner = tokens[at + 2];
    if (joiner === undefined) break;
    if (joiner.kind === 'or') anyOf.push([]);
    else if (joiner.kind !== 'and') {
      const found = describe(tokens, at + 2);
      // A trailing "and"/"or" lacks the space after it that makes it a keyword.
      if (isKeyword(found)) return fail(`'${found}' must stand between two comparisons`);
      return fail(`expected 'and' or 'or' after '${operand.text}', found '${found}'`);
    }
  }
  return { source, anyOf };
}

/** Whether `version` satisfies `requirement`; `and` binds tighter than `or`. */
export function matches(requirement: Requirement, version: string | SemVer, options: MatchOptions): boolean {
  const candidate = asSemVer(version);
  return requirement.anyOf.some((all) => all.every((c) => satisfies(c, candidate, options.allowPre)));
}

function satisfies(c: Comparator, version: SemVer, allowPre: boolean): boolean {
  const order = compare(version, c.version);
  const preAllowed = allowPre || isPrerelease(c.version) || !isPrerelease(version);
  switch (c.operator) {
    case '==':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0 && preAllowed;
    case '>=':
      return order >= 0 && preAllowed;
    case '~>':
      return order >= 0 && compare(version, c.below) < 0 && preAllowed;
  }
}

function comparator(operator: Operator, text: string, fail: (problem: string) => never): Comparator {
  if (isKeyword(text)) return fail(`'${text}' must stand between two comparisons`);
  const parts = operandParts(text, fail);
  const version = toSemVer(parts, text);
  if (operator !== '~>') {
    if (parts.patch === undefined) {
      return fail(`'${text}' has no patch number, which only '~>' allows (write ${text.replace(/^(\d+\.\d+)/, '$1.0')})`);
    }
    return { operator, version, text };
  }
  // `~> 1.2` allows up to the next major, `~> 1.2.3` up to the next minor; the `-0`
  // pre-release is the lowest there is, so the bound shuts out 2.0.0-rc and the like.
  const below = toSemVer(
    parts.patch === undefined
      ? { major: parts.major + 1, minor: 0, patch: 0, pre: [0], build: [] }
      : { major: parts.major, minor: parts.minor + 1, patch: 0, pre: [0], build: [] },
    text,
  );
  return { operator, version, below, text };
}

function operandParts(text: string, fail: (problem: string) => never): VersionParts {
  try {
    return parseVersionParts(text, true);
  } catch (e: unknown) {
    if (e instanceof InvalidVersionError) return fail(`'${text}' is not a version: ${e.problem}`);
    throw e;
  }
}

const isKeyword = (text: string): boolean => text === 'and' || text === 'or';

function describe(tokens: readonly Token[], at: number): string {
  const token = tokens[at];
  if (token === undefined) return '';
  if (token.kind === 'version') return token.text;
  // An implicit `==` stands for the bare version after it.
  if (token.kind === 'operator') return token.implicit ? describe(tokens, at + 1) : token.operator;
  return token.kind;
}
