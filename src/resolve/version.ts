// Versions read exactly as Elixir's Version.Parser reads them (elixir-lang/elixir,
// lib/elixir/lib/version.ex), so that we accept and reject what Mix and hex.pm do, then held
// as node-semver SemVer objects: semver's precedence (numeric before alphanumeric
// pre-release identifiers, a pre-release before its release, build metadata ignored) is
// the order Version.compare/2 defines.

import { SemVer, compare } from 'semver';
import { errorMessage } from '../errors.js';
import { InvalidVersionError } from './errors.js';

// Elixir caps every numeric component, and numeric pre-release identifiers, at 14 digits.
const MAX_NUMERIC_DIGITS = 14;
const DIGITS = /^[0-9]+$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

export interface VersionParts {
  major: number;
  minor: number;
  /** Absent only in an approximate version (the operand of `~>`, e.g. `1.2` or `1.2-rc`). */
  patch: number | undefined;
  /** Pre-release identifiers; numeric ones as numbers, as Elixir keeps them. */
  pre: (string | number)[];
  build: string[];
}

/**
 * Splits a version the way Elixir's parse_version/2 does: at the first `+`, then at the
 * first `-`, then at dots. `approximate` allows the patch to be left out, which Elixir
 * allows for the operand of `~>` only.
 */
export function parseVersionParts(text: string, approximate = false): VersionParts {
  const fail = (problem: string): never => {
    throw new InvalidVersionError(text, problem);
  };
  const [withPre = '', build] = splitOnce(text, '+');
  const [core = '', pre] = splitOnce(withPre, '-');
  const numbers = core.split('.');
  if (numbers.length > 3) fail('it has more than three dot-separated numbers');
  const [majorText, minorText, patchText] = numbers;
  const major = numeric(majorText, 'major', fail);
  if (minorText === undefined) fail(approximate ? 'expected at least MAJOR.MINOR' : 'expected MAJOR.MINOR.PATCH');
  const minor = numeric(minorText, 'minor', fail);
  let patch: number | undefined;
  if (patchText !== undefined) patch = numeric(patchText, 'patch', fail);
  else if (!approximate) fail('expected MAJOR.MINOR.PATCH (the patch number is missing)');
  return {
    major,
    minor,
    patch,
    pre: identifiers(pre, 'pre-release', fail).map((id) => preIdentifier(id, fail)),
    build: identifiers(build, 'build', fail),
  };
}

/** Parses a full version (MAJOR.MINOR.PATCH, optional pre-release and build). */
export function parseVersion(text: string): SemVer {
  return toSemVer(parseVersionParts(text), text);
}

/** The SemVer of already-split parts; a missing patch counts as 0, as Elixir's `~>` does. */
export function toSemVer(parts: VersionParts, text: string): SemVer {
  const pre = parts.pre.length > 0 ? `-${parts.pre.join('.')}` : '';
  const build = parts.build.length > 0 ? `+${parts.build.join('.')}` : '';
  try {
    return new SemVer(`${parts.major}.${parts.minor}.${parts.patch ?? 0}${pre}${build}`);
  } catch (e: unknown) {
    // Only node-semver's own limits (a 256-character cap) can get here: the text is valid.
    throw new InvalidVersionError(text, errorMessage(e));
  }
}

export type Ordering = -1 | 0 | 1;

/** Orders two versions by SemVer precedence; build metadata is ignored, as in Elixir. */
export function compareVersions(a: string | SemVer, b: string | SemVer): Ordering {
  return compare(asSemVer(a), asSemVer(b));
}

export const isPrerelease = (version: SemVer): boolean => version.prerelease.length > 0;

export const asSemVer = (version: string | SemVer): SemVer => (typeof version === 'string' ? parseVersion(version) : version);

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

function numeric(part: string | undefined, name: string, fail: (problem: string) => never): number {
  if (part === undefined || part === '') return fail(`the ${name} number is empty`);
  if (!DIGITS.test(part)) return fail(`the ${name} number ${JSON.stringify(part)} is not a number`);
  if (part.length > 1 && part.startsWith('0')) return fail(`the ${name} number ${part} has a leading zero`);
  if (part.length > MAX_NUMERIC_DIGITS) return fail(`the ${name} number has more than ${MAX_NUMERIC_DIGITS} digits`);
  return Number(part);
}

function identifiers(part: string | undefined, name: string, fail: (problem: string) => never): string[] {
  if (part === undefined) return [];
  const ids = part.split('.');
  for (const id of ids) {
    if (id === '') fail(`the ${name} part has an empty identifier`);
    if (!IDENTIFIER.test(id)) fail(`the ${name} identifier ${JSON.stringify(id)} has characters other than [0-9A-Za-z-]`);
  }
  return ids;
}

function preIdentifier(id: string, fail: (problem: string) => never): string | number {
  if (!DIGITS.test(id)) return id;
  if (id.length > MAX_NUMERIC_DIGITS) return fail(`the pre-release identifier ${id} has more than ${MAX_NUMERIC_DIGITS} digits`);
  if (id.length > 1 && id.startsWith('0')) return fail(`the pre-release identifier ${id} has a leading zero`);
  return Number(id);
}
