// The Elixir and Erlang literal readers under the lock-file parsers, checked against what
// Elixir's and Erlang's own readers make of the same text.
import { describe, expect, it } from 'vitest';
import { parseElixirTerm } from '../../src/lockfiles/elixir-term.js';
import { parseErlangTerms } from '../../src/lockfiles/erlang-term.js';
import { LockFileError } from '../../src/lockfiles/errors.js';
import type { Term } from '../../src/lockfiles/term.js';

/** A term without positions, for comparing shapes: atoms as ':a', binaries as strings. */
type Plain = string | number | { tuple: Plain[] } | { charlist: string } | Plain[] | { map: [Plain, Plain][] };

function plain(term: Term): Plain {
  switch (term.kind) {
    case 'atom':
      return `:${term.value}`;
    case 'binary':
      return term.value;
    case 'charlist':
      return { charlist: term.value };
    case 'integer':
      return term.value;
    case 'tuple':
      return { tuple: term.items.map(plain) };
    case 'list':
      return term.items.map(plain);
    case 'map':
      return { map: term.entries.map(({ key, value }): [Plain, Plain] => [plain(key), plain(value)]) };
  }
}

const elixir = (text: string): Plain => plain(parseElixirTerm(text, 'test.exs'));
const erlang = (text: string): Plain[] => parseErlangTerms(text, 'test.config').map(plain);

function errorOf(parse: () => unknown): string {
  try {
    parse();
  } catch (error: unknown) {
    if (error instanceof LockFileError) return error.message;
    throw error;
  }
  throw new Error('expected a LockFileError');
}

describe('Elixir literals', () => {
  it('turns keyword pairs into 2-tuples, and trailing ones in a tuple into one list', () => {
    expect(elixir('{:dep, "~> 1.0", hex: :dep, optional: false}')).toStrictEqual({
      tuple: [':dep', '~> 1.0', [{ tuple: [':hex', ':dep'] }, { tuple: [':optional', ':false'] }]],
    });
    expect(elixir('[1, "b c": 2, d?: nil]')).toStrictEqual([1, { tuple: [':b c', 2] }, { tuple: [':d?', ':nil'] }]);
    expect(elixir('%{"k" => 1, a: true}')).toStrictEqual({
      map: [
        ['k', 1],
        [':a', ':true'],
      ],
    });
  });

  it('reads atoms, aliases, charlists and integers', () => {
    expect(elixir('[:a, :b?, :"c d", :e@f, Foo.Bar, \'chars\', -12, 1_000, [], {}]')).toStrictEqual([
      ':a',
      ':b?',
      ':c d',
      ':e@f',
      ':Elixir.Foo.Bar',
      { charlist: 'chars' },
      -12,
      1000,
      [],
      { tuple: [] },
    ]);
  });

  it('reads what inspect/1 prints for unusual atoms, keys and binaries', () => {
    expect(elixir('[:é, <<104, "i">>, <<>>, é: 1, foo@bar: 2]')).toStrictEqual([':é', 'hi', '', { tuple: [':é', 1] }, { tuple: [':foo@bar', 2] }]);
    expect(errorOf(() => parseElixirTerm('<<256>>', 'x'))).toBe('x:1:3: expected a string or a byte (0 to 255) in the binary, found the integer 256');
  });

  it('unescapes strings as Elixir does, leaving #{ as text', () => {
    expect(elixir(String.raw`"q\" b\\ n\n t\t \x41\u00e9\u{1F600} \#{x} #{y} \z"`)).toBe('q" b\\ n\n t\t Aé😀 #{x} #{y} z');
    expect(elixir('"line one\nline two"')).toBe('line one\nline two');
  });

  it('counts columns in characters, not UTF-16 units', () => {
    expect(errorOf(() => parseElixirTerm('["😀😀", ?]', 'x'))).toBe('x:1:8: unexpected character "?"');
  });

  it('refuses what is not a literal', () => {
    expect(errorOf(() => parseElixirTerm('%Foo{}', 'x'))).toBe('x:1:1: structs are not supported in a lock file: expected "%{"');
    expect(errorOf(() => parseElixirTerm('[1.5]', 'x'))).toBe('x:1:2: floats do not appear in lock files');
    expect(errorOf(() => parseElixirTerm('[a: 1, 2]', 'x'))).toBe(
      'x:1:8: expected a keyword pair such as "key: value" (keyword pairs come last in a list), found the integer 2',
    );
    expect(errorOf(() => parseElixirTerm('a: 1', 'x'))).toBe('x:1:1: the keyword pair "a:" can only appear inside [...], {...} or %{...}');
    expect(errorOf(() => parseElixirTerm('[,]', 'x'))).toBe('x:1:2: expected a term, found ","');
    expect(errorOf(() => parseElixirTerm('[1', 'x'))).toBe('x:1:3: expected "," or "]" in the list, found the end of the file');
    expect(errorOf(() => parseElixirTerm('"\\x{110000}"', 'x'))).toBe('x:1:4: expected a valid code point in the escape');
  });
});

describe('Erlang terms', () => {
  it('reads a sequence of terms, each ending with a full stop', () => {
    expect(erlang('{a, \'B c\', "str", <<"bin">>, -3}.\n% comment\n[].%\n')).toStrictEqual([
      { tuple: [':a', ':B c', { charlist: 'str' }, 'bin', -3] },
      [],
    ]);
  });

  it('builds binaries from strings (UTF-8) and bytes, and joins adjacent strings', () => {
    expect(erlang('[<<>>, <<"é"/utf8>>, <<"é">>, <<104,105>>, <<"a", 98, "c">>, <<"ab" "cd">>, "ab" "cd"].')).toStrictEqual([
      ['', 'é', 'é', 'hi', 'abc', 'abcd', { charlist: 'abcd' }],
    ]);
  });

  it('unescapes strings as Erlang does', () => {
    expect(erlang(String.raw`["\"\\\n\t\s\101\1010\x41\x{1F600}\^a\q"].`)).toStrictEqual([[{ charlist: '"\\\n\t AA0A😀\x01q' }]]);
  });

  it('refuses what file:consult would refuse or rebar3 never writes', () => {
    expect(errorOf(() => parseErlangTerms('[a|b].', 'x'))).toBe('x:1:3: expected "," or "]" in the list, found "|"');
    expect(errorOf(() => parseErlangTerms('<<256>>.', 'x'))).toBe('x:1:3: expected a byte (0 to 255) in the binary, found 256');
    expect(errorOf(() => parseErlangTerms('<<"a"/binary>>.', 'x'))).toBe('x:1:7: expected the segment type utf8 after "/", found the atom binary');
    expect(errorOf(() => parseErlangTerms('<<a>>.', 'x'))).toBe('x:1:3: expected a string or a byte in the binary, found the atom a');
    expect(errorOf(() => parseErlangTerms('{a}', 'x'))).toBe('x:1:4: expected "." after the term, found the end of the file');
    expect(errorOf(() => parseErlangTerms('#{a => 1}.', 'x'))).toBe('x:1:1: unexpected character "#"');
  });
});
