// Erlang's External Term Format, as far as the Hex HTTP API uses it: maps, binaries, lists,
// integers, floats and the atoms nil, true and false. Mix and rebar3_hex decode what hexproxy
// answers with binary_to_term(_, [safe]), so strings are always binaries (never charlists)
// and no other atom is ever written. Decoding reads what clients send (a retirement's reason
// and message): bounded in size and depth, refusing any atom but those three, tuples,
// functions and compressed terms. Pure: bytes in, values out.
import { BadRequestError } from '../errors.js';

/** A value hexproxy writes: null is nil; undefined map values are left out, as JSON.stringify does. */
export type Term = null | boolean | number | bigint | string | Uint8Array | readonly Term[] | { readonly [key: string]: Term | undefined };

/** A value read: binaries are strings when they are UTF-8 (else bytes), integers beyond 2^53 bigints, maps objects with binary keys. */
export type DecodedTerm = null | boolean | number | bigint | string | Uint8Array | DecodedTerm[] | { [key: string]: DecodedTerm };

export interface DecodeLimits {
  /** Largest input accepted (default 1 MiB). */
  maxBytes?: number;
  /** Deepest nesting of lists and maps (default 32). */
  maxDepth?: number;
}

export const VERSION = 131;
const TAG = {
  NEW_FLOAT: 70,
  BIT_BINARY: 77,
  COMPRESSED: 80,
  SMALL_INTEGER: 97,
  INTEGER: 98,
  FLOAT: 99,
  ATOM: 100,
  SMALL_TUPLE: 104,
  LARGE_TUPLE: 105,
  NIL: 106,
  STRING: 107,
  LIST: 108,
  BINARY: 109,
  SMALL_BIG: 110,
  LARGE_BIG: 111,
  SMALL_ATOM: 115,
  MAP: 116,
  ATOM_UTF8: 118,
  SMALL_ATOM_UTF8: 119,
} as const;

// The atoms the Hex API's terms hold: hexpm turns every other atom into a binary before encoding.
const ATOMS: ReadonlyMap<string, null | boolean> = new Map([
  ['nil', null],
  ['true', true],
  ['false', false],
]);

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_DEPTH = 32;
// hexpm's integers are counts and sizes; 32 bytes (256 bits) is far beyond any of them.
const MAX_BIG_BYTES = 32;
// Deeper than any Hex API answer; stops a cyclic value from overflowing the stack.
const MAX_ENCODE_DEPTH = 100;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** `value` as ETF (version byte 131 first). Throws TypeError on what Erlang has no term for (NaN, Infinity, functions, cycles). */
export function encodeTerm(value: Term): Buffer {
  const out = new Writer();
  out.byte(VERSION);
  encodeValue(value, out, 0);
  return out.finish();
}

function encodeValue(value: Term, out: Writer, depth: number): void {
  if (depth > MAX_ENCODE_DEPTH) throw new TypeError(`a term nested deeper than ${MAX_ENCODE_DEPTH} levels (a cycle?) cannot be encoded`);
  if (value === null) return encodeAtom('nil', out);
  if (typeof value === 'boolean') return encodeAtom(value ? 'true' : 'false', out);
  if (typeof value === 'string') return encodeBinary(Buffer.from(value, 'utf8'), out);
  if (typeof value === 'number') return encodeNumber(value, out);
  if (typeof value === 'bigint') return encodeInteger(value, out);
  if (value instanceof Uint8Array) return encodeBinary(value, out);
  if (Array.isArray(value)) {
    const list = value as readonly Term[];
    if (list.length === 0) return out.byte(TAG.NIL);
    out.byte(TAG.LIST);
    out.uint32(list.length);
    for (const item of list) encodeValue(item, out, depth + 1);
    out.byte(TAG.NIL);
    return;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value).filter((entry): entry is [string, Term] => entry[1] !== undefined);
    out.byte(TAG.MAP);
    out.uint32(entries.length);
    for (const [key, item] of entries) {
      encodeBinary(Buffer.from(key, 'utf8'), out);
      encodeValue(item, out, depth + 1);
    }
    return;
  }
  throw new TypeError(`a ${typeof value} has no Erlang term`);
}

function encodeAtom(name: string, out: Writer): void {
  out.byte(TAG.SMALL_ATOM_UTF8);
  out.byte(name.length);
  out.bytes(Buffer.from(name, 'latin1'));
}

function encodeBinary(bytes: Uint8Array, out: Writer): void {
  out.byte(TAG.BINARY);
  out.uint32(bytes.length);
  out.bytes(bytes);
}

function encodeNumber(value: number, out: Writer): void {
  if (!Number.isFinite(value)) throw new TypeError(`${value} has no Erlang term (Erlang floats are finite)`);
  // An integral number is an integer (JSON and JavaScript do not tell 1 from 1.0 either),
  // unless it is past 2^53, where a number is no longer exact: a float (a bigint is exact).
  if (Number.isSafeInteger(value)) return encodeInteger(BigInt(value), out);
  out.byte(TAG.NEW_FLOAT);
  out.float64(value);
}

function encodeInteger(value: bigint, out: Writer): void {
  if (value >= 0n && value <= 255n) {
    out.byte(TAG.SMALL_INTEGER);
    out.byte(Number(value));
    return;
  }
  if (value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX)) {
    out.byte(TAG.INTEGER);
    out.int32(Number(value));
    return;
  }
  // Little-endian base-256 digits of the magnitude, then the sign apart.
  const digits: number[] = [];
  for (let rest = value < 0n ? -value : value; rest > 0n; rest >>= 8n) digits.push(Number(rest & 0xffn));
  if (digits.length <= 255) {
    out.byte(TAG.SMALL_BIG);
    out.byte(digits.length);
  } else {
    out.byte(TAG.LARGE_BIG);
    out.uint32(digits.length);
  }
  out.byte(value < 0n ? 1 : 0);
  out.bytes(Uint8Array.from(digits));
}

/**
 * The term `bytes` hold. Throws BadRequestError naming what is wrong: not version 131, a
 * compressed term, an atom other than nil/true/false, a tuple, a map key that is not a
 * binary, bytes left over, or past the limits.
 */
export function decodeTerm(bytes: Uint8Array, limits: DecodeLimits = {}): DecodedTerm {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes) throw invalid(`it is ${bytes.length} bytes, over the ${maxBytes} bytes accepted`);
  const reader = new Reader(bytes, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  const version = reader.byte();
  if (version !== VERSION) throw invalid(`it starts with ${version}, not the version byte ${VERSION}`);
  if (reader.peek() === TAG.COMPRESSED) throw invalid('compressed terms are not accepted');
  const value = reader.term(0);
  if (!reader.done) throw invalid(`${reader.remaining} bytes follow the term`);
  return value;
}

const invalid = (reason: string): BadRequestError => new BadRequestError(`the body is not an Erlang term the Hex API uses: ${reason}`);

class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxDepth: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  peek(): number | undefined {
    return this.bytes[this.offset];
  }

  private need(count: number): number {
    if (count > this.remaining) throw invalid(`it ends ${count - this.remaining} bytes short at byte ${this.offset}`);
    const at = this.offset;
    this.offset += count;
    return at;
  }

  byte(): number {
    return this.view.getUint8(this.need(1));
  }

  uint16(): number {
    return this.view.getUint16(this.need(2));
  }

  uint32(): number {
    return this.view.getUint32(this.need(4));
  }

  slice(count: number): Uint8Array {
    const at = this.need(count);
    return this.bytes.subarray(at, at + count);
  }

  /** A count of items that each take at least `bytesEach` bytes: no more than the input can hold. */
  private count(count: number, bytesEach: number, what: string): number {
    if (count * bytesEach > this.remaining) throw invalid(`a ${what} claims ${count} elements, more than the ${this.remaining} bytes left can hold`);
    return count;
  }

  term(depth: number): DecodedTerm {
    const at = this.offset;
    const tag = this.byte();
    switch (tag) {
      case TAG.SMALL_INTEGER:
        return this.byte();
      case TAG.INTEGER:
        return this.view.getInt32(this.need(4));
      case TAG.SMALL_BIG:
        return this.big(this.byte());
      case TAG.LARGE_BIG:
        return this.big(this.uint32());
      case TAG.NEW_FLOAT:
        return this.view.getFloat64(this.need(8));
      case TAG.FLOAT: {
        // Before NEW_FLOAT_EXT: 31 bytes of "%.20e" text, NUL-padded.
        const value = Number(Buffer.from(this.slice(31)).toString('latin1').replace(/\0+$/, ''));
        if (!Number.isFinite(value)) throw invalid(`the float at byte ${at} is not a number`);
        return value;
      }
      case TAG.ATOM:
        return this.atom(this.uint16(), 'latin1', at);
      case TAG.SMALL_ATOM:
        return this.atom(this.byte(), 'latin1', at);
      case TAG.ATOM_UTF8:
        return this.atom(this.uint16(), 'utf8', at);
      case TAG.SMALL_ATOM_UTF8:
        return this.atom(this.byte(), 'utf8', at);
      case TAG.BINARY:
        return binaryValue(this.slice(this.uint32()));
      case TAG.NIL:
        return [];
      case TAG.STRING:
        // A list of small integers (a charlist), as term_to_binary writes one.
        return Array.from(this.slice(this.uint16()));
      case TAG.LIST:
        return this.list(depth);
      case TAG.MAP:
        return this.map(depth);
      case TAG.SMALL_TUPLE:
      case TAG.LARGE_TUPLE:
        throw invalid(`a tuple at byte ${at}; the Hex API sends maps, lists, binaries and numbers`);
      case TAG.BIT_BINARY:
        throw invalid(`a bitstring at byte ${at}`);
      default:
        throw invalid(`tag ${tag} at byte ${at} is not a term the Hex API uses`);
    }
  }

  private nest(depth: number): number {
    if (depth + 1 > this.maxDepth) throw invalid(`it nests deeper than ${this.maxDepth} levels`);
    return depth + 1;
  }

  private list(depth: number): DecodedTerm[] {
    const inner = this.nest(depth);
    const length = this.count(this.uint32(), 1, 'list');
    const items: DecodedTerm[] = [];
    for (let i = 0; i < length; i += 1) items.push(this.term(inner));
    const tailAt = this.offset;
    if (this.byte() !== TAG.NIL) throw invalid(`the list ending at byte ${tailAt} is improper`);
    return items;
  }

  private map(depth: number): { [key: string]: DecodedTerm } {
    const inner = this.nest(depth);
    const arity = this.count(this.uint32(), 2, 'map');
    const entries: [string, DecodedTerm][] = [];
    const seen = new Set<string>();
    for (let i = 0; i < arity; i += 1) {
      const keyAt = this.offset;
      const key = this.term(inner);
      if (typeof key !== 'string') throw invalid(`the map key at byte ${keyAt} is not a UTF-8 binary`);
      if (seen.has(key)) throw invalid(`the map key "${key}" appears twice`);
      seen.add(key);
      entries.push([key, this.term(inner)]);
    }
    // fromEntries defines own properties: a "__proto__" key is data, never the prototype.
    return Object.fromEntries(entries);
  }

  private big(length: number): number | bigint {
    if (length > MAX_BIG_BYTES) throw invalid(`an integer of ${length} bytes, over the ${MAX_BIG_BYTES} accepted`);
    const sign = this.byte();
    const digits = this.slice(length);
    let value = 0n;
    for (let i = digits.length - 1; i >= 0; i -= 1) value = (value << 8n) | BigInt(digits[i] ?? 0);
    if (sign !== 0) value = -value;
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private atom(length: number, encoding: 'latin1' | 'utf8', at: number): null | boolean {
    const name = Buffer.from(this.slice(length)).toString(encoding);
    const value = ATOMS.get(name);
    if (value === undefined) throw invalid(`the atom '${name.slice(0, 64)}' at byte ${at}; only nil, true and false are accepted`);
    return value;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function binaryValue(bytes: Uint8Array): string | Uint8Array {
  try {
    return utf8.decode(bytes);
  } catch {
    return Uint8Array.from(bytes);
  }
}

/** A growing buffer. */
class Writer {
  private buffer = Buffer.allocUnsafe(256);
  private length = 0;

  /** Where `count` more bytes go, growing the buffer first (callers take the offset before touching this.buffer). */
  private room(count: number): number {
    if (this.length + count > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + count));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    const at = this.length;
    this.length += count;
    return at;
  }

  byte(value: number): void {
    const at = this.room(1);
    this.buffer.writeUInt8(value, at);
  }

  uint32(value: number): void {
    const at = this.room(4);
    this.buffer.writeUInt32BE(value, at);
  }

  int32(value: number): void {
    const at = this.room(4);
    this.buffer.writeInt32BE(value, at);
  }

  float64(value: number): void {
    const at = this.room(8);
    this.buffer.writeDoubleBE(value, at);
  }

  bytes(value: Uint8Array): void {
    const at = this.room(value.length);
    this.buffer.set(value, at);
  }

  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}
