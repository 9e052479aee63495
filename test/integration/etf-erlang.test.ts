// hexproxy's Erlang terms against a real Erlang: what encodeTerm writes, binary_to_term(_,
// [safe]) reads as the term expected (Mix and rebar3 decode answers that way); what
// term_to_binary writes, with each encoding option Erlang has, decodeTerm reads as the value
// expected. With CI=true a missing erl fails (test/support/erl.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTerm, encodeTerm, type Term } from '../../src/hex-api/etf.js';
import { erlUnavailable, requireErl, runErl } from '../support/erl.js';
import { tempDir } from '../support/proxy.js';

const unavailable = await erlUnavailable();

describe('erl is installed', () => {
  it.runIf(requireErl)("erl runs (CI=true: .ci/run installs Debian's elixir, which brings it)", () => {
    expect(unavailable).toBeUndefined();
  });
});

/** Each case: a value, and the Erlang term it is (in Erlang syntax). */
const CASES: [Term, string][] = [
  [null, 'nil'],
  [true, 'true'],
  [false, 'false'],
  [0, '0'],
  [255, '255'],
  [256, '256'],
  [-1, '-1'],
  [2 ** 31 - 1, '2147483647'],
  [2 ** 31, '2147483648'],
  [-(2 ** 31) - 1, '-2147483649'],
  [Number.MAX_SAFE_INTEGER, '9007199254740991'],
  [2n ** 64n, '18446744073709551616'],
  [-(2n ** 200n), `-${(2n ** 200n).toString()}`],
  // An integral number is an integer (1.0 is written as 1), up to 2^53; past that a float.
  [1.0, '1'],
  [1e300, '1.0e300'],
  [1.5, '1.5'],
  [-0.1, '-0.1'],
  ['', '<<>>'],
  ['jason', '<<"jason">>'],
  ['ünïcödé ✓', '<<"ünïcödé ✓"/utf8>>'],
  [Uint8Array.from([0, 255, 128]), '<<0, 255, 128>>'],
  [[], '[]'],
  [[1, 2, 3], '[1, 2, 3]'],
  [['a', null, [true]], '[<<"a">>, nil, [true]]'],
  [{}, '#{}'],
  [
    { status: 422, message: 'Validation error(s)', errors: { name: 'has already been taken', requirements: { jason: 'does not exist' } } },
    '#{<<"status">> => 422, <<"message">> => <<"Validation error(s)">>, <<"errors">> => #{<<"name">> => <<"has already been taken">>, <<"requirements">> => #{<<"jason">> => <<"does not exist">>}}}',
  ],
  [
    { username: 'ci-publish', email: null, organizations: [{ name: 'acme', role: 'write' }], inserted_at: '2024-01-02T03:04:05.000Z' },
    '#{<<"username">> => <<"ci-publish">>, <<"email">> => nil, <<"organizations">> => [#{<<"name">> => <<"acme">>, <<"role">> => <<"write">>}], <<"inserted_at">> => <<"2024-01-02T03:04:05.000Z">>}',
  ],
];

// Reads lines of HEX<TAB>TERM from the file named first; for each, decodes HEX with
// binary_to_term(_, [safe]), parses TERM, and prints "same" or "differs", then the term read.
const DECODE_AND_COMPARE = `
[File] = init:get_plain_arguments(),
{ok, Data} = file:read_file(File),
Lines = [L || L <- binary:split(Data, <<"\\n">>, [global]), L =/= <<>>],
lists:foreach(fun(Line) ->
    [Hex, Literal] = binary:split(Line, <<"\\t">>),
    Read = binary_to_term(binary:decode_hex(Hex), [safe]),
    {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Literal) ++ "."),
    {ok, Expected} = erl_parse:parse_term(Tokens),
    io:format("~s ~w~n", [case Read =:= Expected of true -> "same"; false -> "differs" end, Read])
end, Lines),
halt().`;

// Reads lines of TERM from the file named first; prints term_to_binary of each, in hex, with
// each set of options given after it (one line per term and option set).
const ENCODE = `
[File | Options] = init:get_plain_arguments(),
{ok, Data} = file:read_file(File),
Lines = [L || L <- binary:split(Data, <<"\\n">>, [global]), L =/= <<>>],
lists:foreach(fun(Literal) ->
    {ok, Tokens, _} = erl_scan:string(unicode:characters_to_list(Literal) ++ "."),
    {ok, Term} = erl_parse:parse_term(Tokens),
    lists:foreach(fun(Option) ->
        {ok, OptionTokens, _} = erl_scan:string(Option ++ "."),
        {ok, Opts} = erl_parse:parse_term(OptionTokens),
        io:format("~s~n", [binary:encode_hex(term_to_binary(Term, Opts))])
    end, Options)
end, Lines),
halt().`;

describe.skipIf(unavailable !== undefined)('ETF against a real Erlang', () => {
  it('binary_to_term(_, [safe]) reads what encodeTerm writes as the term expected', async () => {
    const file = join(tempDir('hexproxy-etf-'), 'cases.tsv');
    writeFileSync(file, CASES.map(([value, literal]) => `${encodeTerm(value).toString('hex')}\t${literal}\n`).join(''));
    const lines = (await runErl(DECODE_AND_COMPARE, [file])).trim().split('\n');
    expect(lines).toHaveLength(CASES.length);
    lines.forEach((line, i) => expect(line, CASES[i]?.[1]).toMatch(/^same /));
  });

  it("decodeTerm reads what term_to_binary writes, with Erlang's default, oldest (FLOAT_EXT, ATOM_EXT) and UTF-8 atom encodings", async () => {
    const options = ['[]', '[{minor_version, 0}]', '[{minor_version, 2}]'];
    const file = join(tempDir('hexproxy-etf-'), 'terms.txt');
    writeFileSync(file, CASES.map(([, literal]) => `${literal}\n`).join(''));
    const lines = (await runErl(ENCODE, [file, ...options])).trim().split('\n');
    expect(lines).toHaveLength(CASES.length * options.length);
    CASES.forEach(([value, literal], i) => {
      for (let o = 0; o < options.length; o += 1) {
        const decoded = decodeTerm(Buffer.from(lines[i * options.length + o] ?? '', 'hex'));
        expect(decoded, `${literal} with ${options[o]}`).toEqual(value);
      }
    });
  });

  it('decodeTerm refuses an atom Erlang writes other than nil, true and false, and a tuple', async () => {
    const file = join(tempDir('hexproxy-etf-'), 'terms.txt');
    writeFileSync(file, '#{<<"reason">> => security}\n{<<"a">>, 1}\n\'Elixir.File\'\n');
    const lines = (await runErl(ENCODE, [file, '[]'])).trim().split('\n');
    expect(() => decodeTerm(Buffer.from(lines[0] ?? '', 'hex'))).toThrow(/atom 'security'/);
    expect(() => decodeTerm(Buffer.from(lines[1] ?? '', 'hex'))).toThrow(/tuple/);
    expect(() => decodeTerm(Buffer.from(lines[2] ?? '', 'hex'))).toThrow(/atom 'Elixir.File'/);
  });
});
