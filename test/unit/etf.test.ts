// The Erlang External Term Format as the Hex API uses it: byte-exact encodings of each
// kind of term, round trips, and what decoding refuses. Interop with a real Erlang is in
// test/integration/etf-erlang.test.ts.
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/errors.js';
import { decodeTerm, encodeTerm, type Term } from '../../src/hex-api/etf.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('encodeTerm', () => {
  it('writes each kind of term as term_to_binary/1 does (atoms as SMALL_ATOM_UTF8_EXT)', () => {
    const cases: [Term, Buffer][] = [
      [null, bytes(131, 119, 3, ...Buffer.from('nil'))],
      [true, bytes(131, 119, 4, ...Buffer.from('true'))],
      [false, bytes(131, 119, 5, ...Buffer.from('false'))],
      [0, bytes(131, 97, 0)],
      [255, bytes(131, 97, 255)],
      [256, bytes(131, 98, 0, 0, 1, 0)],
      [-1, bytes(131, 98, 255, 255, 255, 255)],
      [2 ** 31 - 1, bytes(131, 98, 127, 255, 255, 255)],
      [2 ** 31, bytes(131, 110, 4, 0, 0, 0, 0, 128)],
      [-(2 ** 31), bytes(131, 98, 128, 0, 0, 0)],
      [-(2 ** 31) - 1, bytes(131, 110, 4, 1, 1, 0, 0, 128)],
      [2n ** 64n, bytes(131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)],
      [1.5, bytes(131, 70, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)],
      ['', bytes(131, 109, 0, 0, 0, 0)],
      ['é', bytes(131, 109, 0, 0, 0, 2, 0xc3, 0xa9)],
      [Uint8Array.from([0xff]), bytes(131, 109, 0, 0, 0, 1, 0xff)],
      [[], bytes(131, 106)],
      [['a'], bytes(131, 108, 0, 0, 0, 1, 109, 0, 0, 0, 1, 97, 106)],
      [{}, bytes(131, 116, 0, 0, 0, 0)],
      [{ a: 1 }, bytes(131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 97, 97, 1)],
    ];
    for (const [value, expected] of cases) expect(encodeTerm(value).toString('hex'), expected.toString('hex')).toBe(expected.toString('hex'));
  });

  it('leaves out map entries whose value is undefined, as JSON does', () => {
    expect(encodeTerm({ a: undefined, b: 2 })).toEqual(encodeTerm({ b: 2 }));
  });

  it('refuses what Erlang has no term for', () => {
    expect(() => encodeTerm(Number.NaN)).toThrow(TypeError);
    expect(() => encodeTerm(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    const cyclic: { self?: Term } = {};
    cyclic.self = cyclic;
    expect(() => encodeTerm(cyclic)).toThrow(/deeper than/);
  });
});

describe('decodeTerm', () => {
  it('reads back what encodeTerm writes', () => {
    const values: Term[] = [
      null,
      true,
      false,
      0,
      -7,
      123_456_789,
      2 ** 40,
      -(2 ** 40),
      Number.MAX_SAFE_INTEGER,
      2n ** 64n,
      -(2n ** 70n),
      0.1,
      -2.5e-300,
      '',
      'jason',
      'ünïcödé ✓',
      [],
      [1, 'two', [3, null], { four: false }],
      {},
      { name: 'jason', releases: [{ version: '1.4.1', has_docs: true, retirement: null }], downloads: { all: 2 ** 33 } },
    ];
    for (const value of values)
      expect(
        decodeTerm(encodeTerm(value)),
        JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).toEqual(value);
  });

  it('reads binaries that are not UTF-8 as bytes, and charlists (STRING_EXT) as lists of integers', () => {
    expect(decodeTerm(bytes(131, 109, 0, 0, 0, 2, 0xff, 0xfe))).toEqual(Uint8Array.from([0xff, 0xfe]));
    expect(decodeTerm(bytes(131, 107, 0, 3, 97, 98, 99))).toEqual([97, 98, 99]);
  });

  it('reads every atom encoding of nil, true and false (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT)', () => {
    expect(decodeTerm(bytes(131, 100, 0, 3, ...Buffer.from('nil')))).toBeNull();
    expect(decodeTerm(bytes(131, 115, 4, ...Buffer.from('true')))).toBe(true);
    expect(decodeTerm(bytes(131, 118, 0, 5, ...Buffer.from('false')))).toBe(false);
  });

  it('keeps a "__proto__" key as data, never as the prototype', () => {
    const decoded = decodeTerm(encodeTerm(JSON.parse('{"__proto__": {"polluted": true}}') as Term));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.keys(decoded as object)).toEqual(['__proto__']);
  });

  it('refuses what the Hex API never sends, naming it', () => {
    const refusals: [Buffer, RegExp][] = [
      [bytes(130, 97, 1), /not the version byte 131/],
      [bytes(131, 80, 0, 0, 0, 1, 120, 156), /compressed/],
      [bytes(131, 119, 3, ...Buffer.from('foo')), /atom 'foo'.*only nil, true and false/],
      [bytes(131, 104, 1, 97, 1), /tuple/],
      [bytes(131, 77, 0, 0, 0, 1, 3, 0xff), /bitstring/],
      [bytes(131, 113, 0, 0, 0, 0), /tag 113/],
      [bytes(131, 116, 0, 0, 0, 1, 97, 1, 97, 2), /map key .* not a UTF-8 binary/],
      [bytes(131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 97, 97, 1, 109, 0, 0, 0, 1, 97, 97, 2), /"a" appears twice/],
      [bytes(131, 108, 0, 0, 0, 1, 97, 1, 97, 2), /improper/],
      [bytes(131, 109, 0, 0, 0, 9, 97), /short/],
      [bytes(131, 108, 255, 255, 255, 255, 106), /claims 4294967295 elements/],
      [bytes(131, 97, 1, 97, 2), /2 bytes follow the term/],
      [bytes(131, 111, 0, 0, 1, 0, 0), /integer of 256 bytes/],
    ];
    for (const [input, reason] of refusals) {
      expect(() => decodeTerm(input), input.toString('hex')).toThrow(BadRequestError);
      expect(() => decodeTerm(input), input.toString('hex')).toThrow(reason);
    }
  });

  it('bounds the input size and the nesting depth', () => {
    expect(() => decodeTerm(encodeTerm('x'.repeat(100)), { maxBytes: 50 })).toThrow(/over the 50 bytes accepted/);
    let deep: Term = [];
    for (let i = 0; i < 40; i += 1) deep = [deep];
    expect(() => decodeTerm(encodeTerm(deep))).toThrow(/deeper than 32 levels/);
    expect(decodeTerm(encodeTerm(deep), { maxDepth: 64 })).toEqual(deep);
  });

  it("reads Mix's retirement body: a map of binaries, as OTP 25 writes it", () => {
    // term_to_binary(#{<<"reason">> => <<"security">>, <<"message">> => <<"use 1.0.1">>}) on OTP 25.
    const body = Buffer.from(
      '8374000000026d000000076d6573736167656d0000000975736520312e302e316d00000006726561736f6e6d000000087365637572697479',
      'hex',
    );
    expect(decodeTerm(body)).toEqual({ reason: 'security', message: 'use 1.0.1' });
  });
});
