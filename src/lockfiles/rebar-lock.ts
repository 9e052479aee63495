// rebar.lock, as rebar_config:consult_lock_file/1 reads it. Two layouts:
//   [Lock, ...].                                    beta / 1.0.0, no checksums
//   {"1.2.0", [Lock, ...]}.                          versioned ("1.1.0", "1.2.0", newer
//   [{pkg_hash, [{<<"app">>, <<"INNER">>}, ...]},     versions are read the same way)
//    {pkg_hash_ext, [{<<"app">>, <<"OUTER">>}, ...]}].
// A Lock is {<<"app">>, Source, Level}. A package Source is {pkg, <<"pkg">>, <<"vsn">>}
// in the file; the internal {pkg, Name, Vsn, Inner} and {pkg, Name, Vsn, Inner, Outer}
// forms are accepted too. The hash lists are keyed by the lock's app name, not the
// package name. The file records no repository: rebar3 resolves the package in its
// configured repos at fetch time. Entries say `hexpm` here; prewarm and policy check look
// each up in the served repositories as rebar3 would (src/ops/lock-lookup.ts).
import { parseErlangTerms } from './erlang-term.js';
import {
  DEFAULT_REPOSITORY,
  checksum,
  failAt,
  lockedPackage,
  nameText,
  packageName,
  packageVersion,
  type LockParseResult,
  type LockedPackage,
  type SkippedLockEntry,
} from './locked-package.js';
import { describeTerm, type ListTerm, type Term } from './term.js';

const EXAMPLE_LOCK = '{<<"app">>, {pkg, <<"app">>, <<"1.0.0">>}, 0}';

interface Hashes {
  readonly inner: ReadonlyMap<string, Term>;
  readonly outer: ReadonlyMap<string, Term>;
}

export function parseRebarLock(text: string, source = 'rebar.lock'): LockParseResult {
  const [first, ...attributes] = parseErlangTerms(text, source);
  // rebar3 treats an empty lock file as no locks.
  if (first === undefined) return { entries: [], skipped: [] };
  let locks: ListTerm;
  let hashes: Hashes = { inner: new Map(), outer: new Map() };
  if (first.kind === 'list') {
    const extra = attributes[0];
    if (extra !== undefined)
      failAt(source, extra, `expected nothing after the lock list of a lock file without a version, found ${describeTerm(extra)}`);
    locks = first;
  } else {
    const [version, list] = first.kind === 'tuple' && first.items.length === 2 ? first.items : [];
    if (version?.kind !== 'charlist' || list?.kind !== 'list') {
      return failAt(source, first, `expected the lock list [${EXAMPLE_LOCK}, ...] or {"1.2.0", [...]}, found ${describeTerm(first)}`);
    }
    locks = list;
    // Like rebar3, only the first term after the locks holds attributes; later ones are ignored.
    if (attributes[0] !== undefined) hashes = readHashes(source, attributes[0]);
  }

  const entries: LockedPackage[] = [];
  const skipped: SkippedLockEntry[] = [];
  const seen = new Set<string>();
  for (const lock of locks.items) {
    const [nameTerm, sourceTerm, level] = lock.kind === 'tuple' && lock.items.length === 3 ? lock.items : [];
    if (nameTerm === undefined || sourceTerm === undefined || level?.kind !== 'integer') {
      return failAt(source, lock, `expected a lock such as ${EXAMPLE_LOCK}, found ${describeTerm(lock)}`);
    }
    const app = nameText(nameTerm);
    if (app === undefined || app === '') return failAt(source, nameTerm, `expected an app name such as <<"app">>, found ${describeTerm(nameTerm)}`);
    if (seen.has(app)) failAt(source, nameTerm, `"${app}" is locked twice`);
    seen.add(app);
    const kind = sourceTerm.kind === 'tuple' ? sourceTerm.items[0] : undefined;
    if (sourceTerm.kind !== 'tuple' || kind?.kind !== 'atom') {
      return failAt(
        source,
        sourceTerm,
        `expected the source of "${app}" such as {pkg, <<"${app}">>, <<"1.0.0">>}, found ${describeTerm(sourceTerm)}`,
      );
    }
    if (kind.value !== 'pkg') {
      skipped.push({ key: app, reason: `${kind.value} dependency, not a Hex package` });
      continue;
    }
    const [, name, version, inner, outer] = sourceTerm.items;
    if (name === undefined || version === undefined || sourceTerm.items.length > 5) {
      return failAt(source, sourceTerm, `expected {pkg, Name, Version} for "${app}", found ${describeTerm(sourceTerm)}`);
    }
    // The file's 3-tuple takes its checksums from the attributes; longer forms carry their own.
    const fromFile = sourceTerm.items.length === 3;
    entries.push(
      lockedPackage({
        name: packageName(source, name, app),
        version: packageVersion(source, version, app),
        innerChecksum: checksum(source, fromFile ? hashes.inner.get(app) : inner, 'undefined', `the pkg_hash of "${app}"`),
        outerChecksum: checksum(source, fromFile ? hashes.outer.get(app) : outer, 'undefined', `the pkg_hash_ext of "${app}"`),
        repository: DEFAULT_REPOSITORY,
        app,
        managers: [],
      }),
    );
  }
  return { entries, skipped };
}

/** `[{pkg_hash, [{<<"app">>, <<"HEX">>}, ...]}, {pkg_hash_ext, [...]}]`; other keys are left for newer rebar3s. */
function readHashes(source: string, attributes: Term): Hashes {
  if (attributes.kind !== 'list')
    return failAt(source, attributes, `expected the attribute list [{pkg_hash, [...]}, {pkg_hash_ext, [...]}], found ${describeTerm(attributes)}`);
  const inner = new Map<string, Term>();
  const outer = new Map<string, Term>();
  const done = new Set<string>();
  for (const attribute of attributes.items) {
    const [key, value] = attribute.kind === 'tuple' && attribute.items.length === 2 ? attribute.items : [];
    if (key?.kind !== 'atom' || value === undefined || (key.value !== 'pkg_hash' && key.value !== 'pkg_hash_ext')) continue;
    // proplists:get_value/3: the first {pkg_hash, _} counts.
    if (done.has(key.value)) continue;
    done.add(key.value);
    if (value.kind !== 'list')
      return failAt(source, value, `expected a list of {<<"app">>, <<"HASH">>} after ${key.value}, found ${describeTerm(value)}`);
    const target = key.value === 'pkg_hash' ? inner : outer;
    for (const pair of value.items) {
      const [app, hash] = pair.kind === 'tuple' && pair.items.length === 2 ? pair.items : [];
      const name = app === undefined ? undefined : nameText(app);
      if (name === undefined || hash === undefined)
        return failAt(source, pair, `expected {<<"app">>, <<"HASH">>} in ${key.value}, found ${describeTerm(pair)}`);
      if (!target.has(name)) target.set(name, hash);
    }
  }
  return { inner, outer };
}
