// What a lock file tells prewarm, whichever tool wrote it, and the checks that turn lock
// terms into those fields. Names, versions and checksums end up in upstream URLs and in
// verification, so each is checked here, where the error can still point into the file.
import { LockFileError } from './errors.js';
import { describeTerm, isAbsent, textOf, type Term } from './term.js';

/** The repository a lock entry belongs to when the lock names none. */
export const DEFAULT_REPOSITORY = 'hexpm';

export interface LockedPackage {
  /** The Hex package name; differs from `app` when the dependency is renamed. */
  readonly name: string;
  readonly version: string;
  /** The deprecated inner checksum (SHA-256 of the tarball's contents), lowercase hex. */
  readonly innerChecksum?: string;
  /** SHA-256 of the whole tarball, lowercase hex: what Mix and rebar3 verify today. */
  readonly outerChecksum?: string;
  /** As the lock names it: `hexpm`, `hexpm:ORG` for an organization, or another repo. */
  readonly repository: string;
  /** The lock's own key: the application the project depends on. */
  readonly app: string;
  /** Build tools recorded by Mix (`mix`, `rebar3`, `make`); rebar.lock records none. */
  readonly managers: readonly string[];
}

/** An entry that is not a Hex package (git, path, ...): nothing to prewarm. */
export interface SkippedLockEntry {
  readonly key: string;
  readonly reason: string;
}

export interface LockParseResult {
  readonly entries: readonly LockedPackage[];
  readonly skipped: readonly SkippedLockEntry[];
}

export function failAt(source: string, term: Term, problem: string): never {
  throw new LockFileError(source, term.at, problem);
}

// hex.pm's own rule for package names (~r"^[a-z]\w*$", ASCII).
const PACKAGE_NAME = /^[a-z][A-Za-z0-9_]*$/;
// SemVer 2.0, which is what Hex requires of every release.
const VERSION = /^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const REPOSITORY = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?$/;

/** Text of an atom, binary or charlist: names appear as all three across lock versions. */
export function nameText(term: Term): string | undefined {
  return term.kind === 'atom' ? term.value : textOf(term);
}

export function packageName(source: string, term: Term, app: string): string {
  const name = nameText(term);
  if (name === undefined || !PACKAGE_NAME.test(name)) failAt(source, term, `expected the Hex package name of "${app}", found ${describeTerm(term)}`);
  return name;
}

export function packageVersion(source: string, term: Term, app: string): string {
  const version = textOf(term);
  if (version === undefined || !VERSION.test(version))
    failAt(source, term, `expected the version of "${app}" as a string such as "1.0.0", found ${describeTerm(term)}`);
  return version;
}

/** A SHA-256 checksum (upper- or lowercase in the file) as lowercase hex, or undefined when absent. */
export function checksum(source: string, term: Term | undefined, nothing: 'nil' | 'undefined', what: string): string | undefined {
  if (isAbsent(term, nothing)) return undefined;
  const hex = textOf(term);
  if (hex === undefined || !SHA256_HEX.test(hex)) failAt(source, term, `expected ${what} as 64 hex digits, found ${describeTerm(term)}`);
  return hex.toLowerCase();
}

export function repositoryName(source: string, term: Term, app: string): string {
  const repository = textOf(term);
  if (repository === undefined || !REPOSITORY.test(repository))
    failAt(source, term, `expected the repository of "${app}" as a string such as "hexpm", found ${describeTerm(term)}`);
  return repository;
}

/** The object prewarm gets, without keys for absent checksums. */
export function lockedPackage(fields: {
  name: string;
  version: string;
  innerChecksum: string | undefined;
  outerChecksum: string | undefined;
  repository: string;
  app: string;
  managers: readonly string[];
}): LockedPackage {
  const { innerChecksum, outerChecksum, ...rest } = fields;
  return {
    ...rest,
    ...(innerChecksum === undefined ? {} : { innerChecksum }),
    ...(outerChecksum === undefined ? {} : { outerChecksum }),
  };
}
