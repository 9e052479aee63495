// mix.lock: one Elixir map from app name to a lock tuple, written by Mix.Dep.Lock.write/2
// as `"app": inspect(tuple)`. Hex's entries grew over the years and Hex reads them all by
// position (Hex.Utils.lock/1, `destructure`), so a shorter tuple just lacks the later fields:
//   {:hex, :name, "1.0.0"}                                               (Hex 0.x, 2014)
//   {:hex, :name, "1.0.0", "INNER"}
//   {:hex, :name, "1.0.0", "INNER", [:mix], [deps]}
//   {:hex, :name, "1.0.0", "INNER", [:mix], [deps], "hexpm"}
//   {:hex, :name, "1.0.0", "INNER", [:mix], [deps], "hexpm", "OUTER"}   (today)
// Longer tuples come from a newer Hex; their extra fields are ignored, as Hex does.
// Other SCMs (`{:git, url, sha, opts}`, ...) are reported as skipped.
import { parseElixirTerm } from './elixir-term.js';
import {
  DEFAULT_REPOSITORY,
  checksum,
  failAt,
  lockedPackage,
  nameText,
  packageName,
  packageVersion,
  repositoryName,
  type LockParseResult,
  type LockedPackage,
  type SkippedLockEntry,
} from './locked-package.js';
import { describeTerm, isAbsent, type MapEntry, type Term, type TupleTerm } from './term.js';

export function parseMixLock(text: string, source = 'mix.lock'): LockParseResult {
  // Mix reads an empty (or missing) lock as no dependencies.
  if (text.trim() === '') return { entries: [], skipped: [] };
  const root = parseElixirTerm(text, source);
  const entries: LockedPackage[] = [];
  const skipped: SkippedLockEntry[] = [];
  const seen = new Set<string>();
  for (const { key, value } of lockPairs(source, root)) {
    const app = nameText(key);
    if (app === undefined || app === '') return failAt(source, key, `expected an app name as the key, found ${describeTerm(key)}`);
    if (seen.has(app)) failAt(source, key, `"${app}" is locked twice`);
    seen.add(app);
    const scm = value.kind === 'tuple' ? value.items[0] : undefined;
    if (value.kind !== 'tuple' || scm?.kind !== 'atom') {
      return failAt(source, value, `expected a lock tuple such as {:hex, :${app}, "1.0.0", ...} for "${app}", found ${describeTerm(value)}`);
    }
    if (scm.value === 'hex') entries.push(hexEntry(source, app, value));
    else skipped.push({ key: app, reason: `${scm.value} dependency, not a Hex package` });
  }
  return { entries, skipped };
}

/** The map's pairs; Mix before 1.0 (2014) wrote a keyword list `["app": {...}]` instead. */
function lockPairs(source: string, root: Term): readonly MapEntry[] {
  if (root.kind === 'map') return root.entries;
  if (root.kind === 'list') {
    return root.items.map((item) => {
      const [key, value] = item.kind === 'tuple' && item.items.length === 2 ? item.items : [];
      if (key === undefined || value === undefined)
        return failAt(source, item, `expected a "app": {...} pair in the lock, found ${describeTerm(item)}`);
      return { key, value };
    });
  }
  return failAt(source, root, `expected the lock map %{"app": {...}, ...}, found ${describeTerm(root)}`);
}

function hexEntry(source: string, app: string, tuple: TupleTerm): LockedPackage {
  const [, name, version, inner, managers, deps, repository, outer] = tuple.items;
  if (name === undefined || version === undefined) {
    return failAt(source, tuple, `expected at least {:hex, name, version} for "${app}", found ${describeTerm(tuple)}`);
  }
  if (!isAbsent(deps, 'nil') && deps.kind !== 'list') failAt(source, deps, `expected the dependency list of "${app}", found ${describeTerm(deps)}`);
  return lockedPackage({
    name: packageName(source, name, app),
    version: packageVersion(source, version, app),
    innerChecksum: checksum(source, inner, 'nil', `the inner checksum of "${app}"`),
    outerChecksum: checksum(source, outer, 'nil', `the outer checksum of "${app}"`),
    repository: isAbsent(repository, 'nil') ? DEFAULT_REPOSITORY : repositoryName(source, repository, app),
    app,
    managers: managerNames(source, managers, app),
  });
}

function managerNames(source: string, term: Term | undefined, app: string): string[] {
  if (isAbsent(term, 'nil')) return [];
  if (term.kind !== 'list') return failAt(source, term, `expected the build tools of "${app}" as a list such as [:mix], found ${describeTerm(term)}`);
  return term.items.map((item) =>
    item.kind === 'atom' ? item.value : failAt(source, item, `expected a build tool such as :mix for "${app}", found ${describeTerm(item)}`),
  );
}
