// The package specs `hexproxy prewarm` takes: NAME, NAME@VERSION or NAME@REQUIREMENT.

import type { SemVer } from 'semver';
import { isPackageName } from '../registry/resource.js';
import { InvalidSpecError, InvalidVersionError, ResolveInputError } from './errors.js';
import { parseRequirement, type Requirement } from './requirement.js';
import { parseVersion } from './version.js';

export type Spec =
  /** NAME: the newest release. */
  | { readonly kind: 'newest'; readonly text: string; readonly name: string }
  /** NAME@VERSION: that release, even if retired. */
  | { readonly kind: 'exact'; readonly text: string; readonly name: string; readonly version: SemVer }
  /** NAME@REQUIREMENT, e.g. `phoenix@~> 1.7`: the newest release matching it. */
  | { readonly kind: 'matching'; readonly text: string; readonly name: string; readonly requirement: Requirement };

/** Parses a spec; throws InvalidSpecError naming the spec and what is wrong with it. */
export function parseSpec(text: string): Spec {
  const at = text.indexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  if (!isPackageName(name)) {
    throw new InvalidSpecError(text, `${JSON.stringify(name)} is not a Hex package name (a lowercase letter, then lowercase letters, digits or _)`);
  }
  if (at < 0) return { kind: 'newest', text, name };
  const rest = text.slice(at + 1);
  if (rest.trim() === '') throw new InvalidSpecError(text, "nothing follows '@'; give a version or a requirement");
  // A bare version is also a valid requirement (`== VERSION`), but asking for an exact
  // version is the one way to take a retired release, so it gets its own kind.
  const version = tryParseVersion(rest);
  if (version) return { kind: 'exact', text, name, version };
  try {
    return { kind: 'matching', text, name, requirement: parseRequirement(rest) };
  } catch (e: unknown) {
    if (e instanceof ResolveInputError) throw new InvalidSpecError(text, e.message, { cause: e });
    throw e;
  }
}

function tryParseVersion(text: string): SemVer | undefined {
  try {
    return parseVersion(text);
  } catch (e: unknown) {
    // Not a version; the caller reads it as a requirement, whose error says more.
    if (e instanceof InvalidVersionError) return undefined;
    throw e;
  }
}
