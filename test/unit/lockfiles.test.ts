// The mix.lock and rebar.lock readers behind `hexproxy prewarm`: every layout Mix/Hex and
// rebar3 have written, and errors that say where a broken file is broken.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/errors.js';
import { LockFileError } from '../../src/lockfiles/errors.js';
import type { LockedPackage } from '../../src/lockfiles/locked-package.js';
import { parseMixLock } from '../../src/lockfiles/mix-lock.js';
import { parseLockText } from '../../src/lockfiles/read-lock.js';
import { parseRebarLock } from '../../src/lockfiles/rebar-lock.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/lockfiles/${name}`, import.meta.url), 'utf8');

// Checksums of the tarballs in test/fixtures/official-registry.
const ACME_HTTP = {
  inner: '68a9c297e0a28aa1349c5671d55b9a2e9da258041e70f7c17fdfe98c97101c16',
  outer: '6f7488f189151ddbf0674b9dfe98d98a76d12ec125a2625aedd83c7e15eefd2b',
};
const ACME_JSON_020 = {
  inner: '9e2ad174713614ee6605dd8fc38168c17245655da326f6a77cbc61ab75805f1c',
  outer: '4cb264eb0f57273bcf18b29ae6987ba97c30c20b9fdb4d200902f8bd26845293',
};
const ACME_JSON_010_INNER = '084f50118f8bc2bd55bd11f1d588506d1876c940b3238faa34f40739fe3ea979';
const ACME_TLS = {
  inner: '835a76668b0c4026b192ec31e85d15bb5a0fb8bd5475914ef6f2496ac90e8ef4',
  outer: '34027d56cc0463093d8a1af2ac48556d2e6366c7d3e3521060e90ebfcb3b1daa',
};
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

/** Runs `parse` expecting a LockFileError and returns it. */
function lockError(parse: () => unknown): LockFileError {
  try {
    parse();
  } catch (error: unknown) {
    if (error instanceof LockFileError) return error;
    throw error;
  }
  throw new Error('expected a LockFileError, but the lock parsed');
}

describe('parseMixLock', () => {
  it("reads today's mix.lock: 8-element Hex tuples, another repository, renamed packages, git and path entries", () => {
    const result = parseMixLock(fixture('mix.lock'));
    expect(result.entries).toStrictEqual<LockedPackage[]>([
      {
        name: 'acme_http',
        version: '1.0.0',
        repository: 'hexpm',
        app: 'acme_http',
        managers: ['mix'],
        innerChecksum: ACME_HTTP.inner,
        outerChecksum: ACME_HTTP.outer,
      },
      {
        name: 'acme_json',
        version: '0.2.0',
        repository: 'hexpm',
        app: 'acme_json',
        managers: ['mix'],
        innerChecksum: ACME_JSON_020.inner,
        outerChecksum: ACME_JSON_020.outer,
      },
      {
        name: 'acme_private',
        version: '2.1.0',
        repository: 'acme',
        app: 'acme_private',
        managers: ['make', 'rebar3'],
        innerChecksum: '4ddda7073121caf8064dccdc0ae01bd53a87f87b71c3c4ec4b128dfbdec9b035',
        outerChecksum: '22cf8f5cec3845f3ab1d679b4e999a6c18887a457c2c37b8164ac200ab901c69',
      },
      {
        name: 'acme_tls',
        version: '1.0.0-rc.0',
        repository: 'hexpm',
        app: 'my_tls',
        managers: ['mix'],
        innerChecksum: ACME_TLS.inner,
        outerChecksum: ACME_TLS.outer,
      },
    ]);
    expect(result.skipped).toStrictEqual([
      { key: 'cowlib', reason: 'git dependency, not a Hex package' },
      { key: 'local_tools', reason: 'path dependency, not a Hex package' },
    ]);
  });

  it('reads the 2016-17 layout: 6-element tuples without repository or outer checksum', () => {
    const result = parseMixLock(fixture('mix-old.lock'));
    expect(result.entries).toStrictEqual<LockedPackage[]>([
      { name: 'acme_http', version: '1.0.0', repository: 'hexpm', app: 'acme_http', managers: ['mix'], innerChecksum: ACME_HTTP.inner },
      { name: 'acme_json', version: '0.1.0', repository: 'hexpm', app: 'acme_json', managers: ['mix'], innerChecksum: ACME_JSON_010_INNER },
    ]);
    expect(result.skipped).toStrictEqual([{ key: 'cowboy', reason: 'git dependency, not a Hex package' }]);
  });

  it('reads every Hex tuple length by position, as Hex.Utils.lock/1 does, ignoring fields a newer Hex adds', () => {
    const lock = `%{
      "three": {:hex, :three, "0.1.0"},
      "four": {:hex, :four, "0.2.0", "${HASH_A}"},
      "seven": {:hex, :seven, "0.3.0", "${HASH_A}", [:mix], [], "hexpm:acme"},
      "eight_nil": {:hex, :eight_nil, "0.4.0", nil, nil, nil, nil, "${HASH_B}"},
      "nine": {:hex, :nine, "0.5.0", "${HASH_A}", [:rebar3], [], "hexpm", "${HASH_B}", %{"future" => [1, 2]}},
    }`;
    expect(parseMixLock(lock).entries).toStrictEqual<LockedPackage[]>([
      { name: 'three', version: '0.1.0', repository: 'hexpm', app: 'three', managers: [] },
      { name: 'four', version: '0.2.0', repository: 'hexpm', app: 'four', managers: [], innerChecksum: HASH_A },
      { name: 'seven', version: '0.3.0', repository: 'hexpm:acme', app: 'seven', managers: ['mix'], innerChecksum: HASH_A },
      { name: 'eight_nil', version: '0.4.0', repository: 'hexpm', app: 'eight_nil', managers: [], outerChecksum: HASH_B },
      { name: 'nine', version: '0.5.0', repository: 'hexpm', app: 'nine', managers: ['rebar3'], innerChecksum: HASH_A, outerChecksum: HASH_B },
    ]);
  });

  it('accepts "=>" maps, comments, trailing commas, quoted atoms, string names and uppercase checksums', () => {
    const lock = `# written by hand
      %{ "app_one" => {:hex, :"acme_json", "1.2.3-beta.1+build.7", "${HASH_A.toUpperCase()}", [:mix,], [
            {:dep, "~> 1.0", [hex: :dep, repo: "hexpm", optional: false,]}, # a comment inside
          ], "hexpm", "${HASH_B}",},
        :app_two => {:hex, "acme_tls", "2.0.0"},
        app_three: {:hex, :acme_http, "3.0.0"},
      }`;
    expect(parseMixLock(lock, 'deps/mix.lock').entries).toStrictEqual<LockedPackage[]>([
      {
        name: 'acme_json',
        version: '1.2.3-beta.1+build.7',
        repository: 'hexpm',
        app: 'app_one',
        managers: ['mix'],
        innerChecksum: HASH_A,
        outerChecksum: HASH_B,
      },
      { name: 'acme_tls', version: '2.0.0', repository: 'hexpm', app: 'app_two', managers: [] },
      { name: 'acme_http', version: '3.0.0', repository: 'hexpm', app: 'app_three', managers: [] },
    ]);
  });

  it('reads the keyword-list lock Mix wrote before 1.0', () => {
    const lock = `[ "cowboy": {:git, "git://github.com/extend/cowboy.git", "903594bb8709db4fa98697ecf8adbdccabf64a83", []},
  "plug": {:hex, :plug, "0.5.0"} ]`;
    const result = parseMixLock(lock);
    expect(result.entries).toStrictEqual<LockedPackage[]>([{ name: 'plug', version: '0.5.0', repository: 'hexpm', app: 'plug', managers: [] }]);
    expect(result.skipped).toStrictEqual([{ key: 'cowboy', reason: 'git dependency, not a Hex package' }]);
  });

  it('reads an empty lock as no dependencies, as Mix does', () => {
    expect(parseMixLock('')).toStrictEqual({ entries: [], skipped: [] });
    expect(parseMixLock('%{}\n')).toStrictEqual({ entries: [], skipped: [] });
  });

  describe('errors name the file, line and column and what was expected', () => {
    it('an unterminated string points at its opening quote', () => {
      const error = lockError(() => parseMixLock('%{\n  "acme": {:hex, :acme, "1.0.0}\n}\n', 'proj/mix.lock'));
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error.code).toBe('bad_request');
      expect(error.file).toBe('proj/mix.lock');
      expect([error.line, error.column]).toStrictEqual([2, 25]);
      expect(error.message).toBe('proj/mix.lock:2:25: unterminated string: no closing " before the end of the file');
    });

    it('a missing "=>" points at what came instead', () => {
      const error = lockError(() => parseMixLock('%{\n  "acme" {:hex, :acme, "1.0.0"}\n}'));
      expect(error.message).toBe('mix.lock:2:10: expected "=>" after the map key, found "{"');
    });

    it('a Hex tuple too short to hold a version', () => {
      const error = lockError(() => parseMixLock('%{\n  "acme": {:hex, :acme},\n}'));
      expect(error.message).toBe('mix.lock:2:11: expected at least {:hex, name, version} for "acme", found a tuple of 2 elements');
    });

    it('fields of the wrong type or form', () => {
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, 1}}')).message).toBe(
        'mix.lock:1:19: expected the version of "a" as a string such as "1.0.0", found the integer 1',
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0"}}')).message).toMatch(/^mix\.lock:1:19: expected the version of "a"/);
      expect(lockError(() => parseMixLock('%{"a": {:hex, :"a/../b", "1.0.0"}}')).message).toMatch(
        /^mix\.lock:1:15: expected the Hex package name of "a", found the atom a\/\.\.\/b/,
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0.0", "abc"}}')).message).toBe(
        'mix.lock:1:28: expected the inner checksum of "a" as 64 hex digits, found the string "abc"',
      );
      expect(lockError(() => parseMixLock(`%{"a": {:hex, :a, "1.0.0", nil, [:mix], [], "hexpm", "${HASH_A}0"}}`)).message).toMatch(
        /^mix\.lock:1:54: expected the outer checksum of "a" as 64 hex digits/,
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0.0", nil, ["mix"]}}')).message).toBe(
        'mix.lock:1:34: expected a build tool such as :mix for "a", found the string "mix"',
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0.0", nil, [], [], "hex pm"}}')).message).toMatch(
        /^mix\.lock:1:41: expected the repository of "a"/,
      );
    });

    it('a value that is no lock tuple, a lock that is no map, a key locked twice', () => {
      expect(lockError(() => parseMixLock('%{"a": "1.0.0"}')).message).toBe(
        'mix.lock:1:8: expected a lock tuple such as {:hex, :a, "1.0.0", ...} for "a", found the string "1.0.0"',
      );
      expect(lockError(() => parseMixLock('{:hex, :a, "1.0.0"}')).message).toBe(
        'mix.lock:1:1: expected the lock map %{"app": {...}, ...}, found a tuple of 3 elements',
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0.0"},\n "a": {:hex, :a, "1.0.1"}}')).message).toBe(
        'mix.lock:2:2: "a" is locked twice',
      );
    });

    it('code, not data, is refused rather than evaluated', () => {
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, System.cmd("rm", [])}}')).message).toBe('mix.lock:1:25: unexpected character "."');
      expect(lockError(() => parseMixLock('%{"a": version}')).message).toBe(
        'mix.lock:1:8: unexpected name "version": a lock file holds only literal terms',
      );
      expect(lockError(() => parseMixLock('%{"a": {:hex, :a, "1.0.0"}} %{}')).message).toBe(
        'mix.lock:1:29: expected the end of the file after the term, found "%{"',
      );
    });

    it('keyword pairs must come last, as in Elixir', () => {
      expect(lockError(() => parseMixLock('%{a: {:hex, :a, "1.0.0"}, "b" => {:hex, :b, "1.0.0"}}')).message).toBe(
        'mix.lock:1:27: expected a keyword pair such as "key: value" (keyword pairs come last in a map), found the string "b"',
      );
    });
  });
});

describe('parseRebarLock', () => {
  const expected319: LockedPackage[] = [
    {
      name: 'acme_http',
      version: '1.0.0',
      repository: 'hexpm',
      app: 'acme_http',
      managers: [],
      innerChecksum: ACME_HTTP.inner,
      outerChecksum: ACME_HTTP.outer,
    },
    {
      name: 'acme_json',
      version: '0.2.0',
      repository: 'hexpm',
      app: 'acme_json',
      managers: [],
      innerChecksum: ACME_JSON_020.inner,
      outerChecksum: ACME_JSON_020.outer,
    },
    // The hashes are keyed by the app name (my_tls), not the package name.
    {
      name: 'acme_tls',
      version: '1.0.0-rc.0',
      repository: 'hexpm',
      app: 'my_tls',
      managers: [],
      innerChecksum: ACME_TLS.inner,
      outerChecksum: ACME_TLS.outer,
    },
  ];

  it('reads the versioned lock rebar3 3.19 writes, with pkg_hash (inner) and pkg_hash_ext (outer)', () => {
    const text = fixture('rebar-3.19.lock');
    expect(text).toMatch(/^\{"1\.2\.0",\n\[\{<<"acme_http">>,\{pkg,<<"acme_http">>,<<"1\.0\.0">>\},0\},/);
    const result = parseRebarLock(text);
    expect(result.entries).toStrictEqual(expected319);
    expect(result.skipped).toStrictEqual([{ key: 'cowlib', reason: 'git dependency, not a Hex package' }]);
  });

  it('reads the unversioned beta lock: a bare list, no checksums', () => {
    const result = parseRebarLock(fixture('rebar-beta.lock'), 'old/rebar.lock');
    expect(result.entries).toStrictEqual<LockedPackage[]>([
      { name: 'acme_http', version: '1.0.0', repository: 'hexpm', app: 'acme_http', managers: [] },
      { name: 'acme_json', version: '0.2.0', repository: 'hexpm', app: 'acme_json', managers: [] },
    ]);
    expect(result.skipped).toStrictEqual([{ key: 'cowlib', reason: 'git dependency, not a Hex package' }]);
  });

  it('reads the 1.1.0 layout, comments, quoted atoms, byte binaries and pkg tuples that carry their own hashes', () => {
    const lock = `%% hand-edited
{"1.1.0",
 [{<<"four">>, {pkg, <<"four">>, <<"1.0.0">>, <<"${HASH_A.toUpperCase()}">>}, 0},
  {<<"five">>, {'pkg', <<"five">>, <<"2.0.0">>, undefined, <<"${HASH_B}">>}, 1},
  {<<"bytes">>, {pkg, <<98,121,116,101,115>>, <<"3.0.0"/utf8>>}, 0},
  {<<"no_hash">>, {pkg, <<"no_hash">>, <<"4.0.0">>}, 2}]}. % trailing comment
[{pkg_hash, [{<<"bytes">>, <<"${HASH_A}">>}]}, {future_attribute, [x]}].
`;
    expect(parseRebarLock(lock).entries).toStrictEqual<LockedPackage[]>([
      { name: 'four', version: '1.0.0', repository: 'hexpm', app: 'four', managers: [], innerChecksum: HASH_A },
      { name: 'five', version: '2.0.0', repository: 'hexpm', app: 'five', managers: [], outerChecksum: HASH_B },
      { name: 'bytes', version: '3.0.0', repository: 'hexpm', app: 'bytes', managers: [], innerChecksum: HASH_A },
      { name: 'no_hash', version: '4.0.0', repository: 'hexpm', app: 'no_hash', managers: [] },
    ]);
  });

  it('reads an empty lock as no dependencies, as rebar3 does', () => {
    expect(parseRebarLock('')).toStrictEqual({ entries: [], skipped: [] });
    expect(parseRebarLock('[].\n')).toStrictEqual({ entries: [], skipped: [] });
  });

  describe('errors name the file, line and column and what was expected', () => {
    it('an unterminated binary string points at its opening quote', () => {
      const error = lockError(() => parseRebarLock('{"1.2.0",\n[{<<"acme>>,{pkg,acme},0}]}.\n'));
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error.message).toMatch(/^rebar\.lock:2:5: unterminated string/);
      expect(lockError(() => parseRebarLock('[{<<"a">>, {\'pkg, <<"a">>, <<"1.0.0">>}, 0}].')).message).toBe(
        "rebar.lock:1:13: unterminated quoted atom: no closing ' before the end of the file",
      );
    });

    it('a term without its full stop, and a full stop glued to the next token', () => {
      expect(lockError(() => parseRebarLock('[]\n[]')).message).toBe('rebar.lock:2:1: expected "." after the term, found "["');
      expect(lockError(() => parseRebarLock('[].[]')).message).toBe('rebar.lock:1:3: expected white space after the "." that ends a term');
    });

    it('locks and sources of the wrong shape', () => {
      expect(lockError(() => parseRebarLock('[{<<"a">>, {pkg, <<"a">>, <<"1.0.0">>}}].')).message).toBe(
        'rebar.lock:1:2: expected a lock such as {<<"app">>, {pkg, <<"app">>, <<"1.0.0">>}, 0}, found a tuple of 2 elements',
      );
      expect(lockError(() => parseRebarLock('[{<<"a">>, {pkg, <<"a">>}, 0}].')).message).toBe(
        'rebar.lock:1:12: expected {pkg, Name, Version} for "a", found a tuple of 2 elements',
      );
      expect(lockError(() => parseRebarLock('[{<<"a">>, <<"1.0.0">>, 0}].')).message).toMatch(/^rebar\.lock:1:12: expected the source of "a"/);
      expect(lockError(() => parseRebarLock('{"1.2.0", #{}}.')).message).toBe('rebar.lock:1:11: unexpected character "#"');
      expect(lockError(() => parseRebarLock('{<<"1.2.0">>, []}.')).message).toMatch(/^rebar\.lock:1:1: expected the lock list/);
      expect(lockError(() => parseRebarLock('[].\n[].')).message).toBe(
        'rebar.lock:2:1: expected nothing after the lock list of a lock file without a version, found an empty list',
      );
    });

    it('bad checksums in the attributes point at the hash', () => {
      const lock = '{"1.2.0",\n[{<<"a">>,{pkg,<<"a">>,<<"1.0.0">>},0}]}.\n[\n{pkg_hash,[\n {<<"a">>, <<"XYZ">>}]}\n].\n';
      expect(lockError(() => parseRebarLock(lock)).message).toBe(
        'rebar.lock:5:12: expected the pkg_hash of "a" as 64 hex digits, found the string "XYZ"',
      );
      expect(lockError(() => parseRebarLock('{"1.2.0", []}.\n[{pkg_hash, [x]}].')).message).toBe(
        'rebar.lock:2:14: expected {<<"app">>, <<"HASH">>} in pkg_hash, found the atom x',
      );
    });

    it('variables and trailing commas are not Erlang terms', () => {
      expect(lockError(() => parseRebarLock('[{Name, {pkg, <<"a">>, <<"1.0.0">>}, 0}].')).message).toBe(
        'rebar.lock:1:3: unexpected variable Name: a lock file holds only literal terms',
      );
      expect(lockError(() => parseRebarLock('[{<<"a">>, {pkg, <<"a">>, <<"1.0.0">>}, 0},].')).message).toBe(
        'rebar.lock:1:44: expected a term, found "]"',
      );
    });
  });
});

describe('parseLockText: a lock file as an operator gives it', () => {
  const rebar = '{"1.2.0",\n[{<<"a">>,{pkg,<<"a">>,<<"1.0.0">>},0}]}.\n[].\n';
  const mix = '%{\n  "a": {:hex, :a, "1.0.0", nil, [:mix], [], "hexpm", nil},\n}\n';

  it('refuses an empty file (a BOM and blank lines too), which Mix and rebar3 never write', () => {
    for (const text of ['', '\n\n', '\uFEFF  \n']) {
      expect(() => parseLockText(text, 'deps/mix.lock', 'mix')).toThrow(
        /^deps\/mix\.lock is empty: Mix and rebar3 never write an empty lock file .*give the mix\.lock of the project to --mix-lock$/,
      );
    }
    expect(() => parseLockText('', 'rebar.lock', 'rebar', { give: { mix: '?format=mix', rebar: '?format=rebar' } })).toThrow(
      /give the rebar\.lock of the project to \?format=rebar$/,
    );
    // A lock of a project without dependencies is not empty.
    expect(parseLockText('[].\n', 'rebar.lock', 'rebar')).toEqual({ entries: [], skipped: [] });
    expect(parseLockText('%{}\n', 'mix.lock', 'mix')).toEqual({ entries: [], skipped: [] });
  });

  it('says which flag takes a lock of the other kind, keeping the parse error', () => {
    expect(() => parseLockText(rebar, 'x/rebar.lock', 'mix')).toThrow(BadRequestError);
    expect(() => parseLockText(rebar, 'x/rebar.lock', 'mix')).toThrow(
      /^x\/rebar\.lock is a rebar\.lock, not a mix\.lock: give it with --rebar-lock \(read as a mix\.lock: x\/rebar\.lock:2:12: unexpected name "pkg": /,
    );
    expect(() => parseLockText(mix, 'mix.lock', 'rebar')).toThrow(
      /^mix\.lock is a mix\.lock, not a rebar\.lock: give it with --mix-lock \(read as a rebar\.lock: /,
    );
    // A broken lock of the right kind keeps its own error.
    expect(() => parseLockText('%{\n  "a": {:hex, :a, "1.0.0"\n', 'mix.lock', 'mix')).toThrow(LockFileError);
  });
});
