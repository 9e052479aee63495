// A character cursor that knows its line and column, shared by the Elixir and the Erlang
// tokenizers so that every error points at the place in the file a person would look.
import { LockFileError, type SourcePosition } from './errors.js';

export class Scanner {
  private offset = 0;
  private line = 1;
  private column = 1;

  constructor(
    private readonly text: string,
    readonly source: string,
  ) {
    // An editor's byte order mark is not part of the term.
    if (text.startsWith('\uFEFF')) this.offset = 1;
  }

  get done(): boolean {
    return this.offset >= this.text.length;
  }

  /** The UTF-16 unit `ahead` places on, or '' past the end: lookahead is only ever for ASCII. */
  peek(ahead = 0): string {
    return this.text.charAt(this.offset + ahead);
  }

  startsWith(literal: string): boolean {
    return this.text.startsWith(literal, this.offset);
  }

  position(): SourcePosition {
    return { line: this.line, column: this.column };
  }

  /** Consumes one character (a whole code point) and returns it; '' at the end. */
  advance(): string {
    const code = this.text.codePointAt(this.offset);
    if (code === undefined) return '';
    const char = String.fromCodePoint(code);
    this.offset += char.length;
    if (char === '\n') {
      this.line += 1;
      this.column = 1;
    } else {
      this.column += 1;
    }
    return char;
  }

  /** Consumes characters while `accept` holds and returns them. */
  takeWhile(accept: (char: string) => boolean): string {
    let taken = '';
    while (!this.done && accept(this.peek())) taken += this.advance();
    return taken;
  }

  /** Skips a comment: everything up to the end of the line. */
  skipLineComment(): void {
    this.takeWhile((char) => char !== '\n');
  }

  fail(problem: string, at: SourcePosition = this.position()): never {
    throw new LockFileError(this.source, at, problem);
  }
}

export const isDigit = (char: string): boolean => char >= '0' && char <= '9';
export const isLower = (char: string): boolean => char >= 'a' && char <= 'z';
export const isUpper = (char: string): boolean => char >= 'A' && char <= 'Z';
export const isIdentifierChar = (char: string): boolean => isLower(char) || isUpper(char) || isDigit(char) || char === '_';
export const isWhitespace = (char: string): boolean =>
  char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\f' || char === '\v';
const isHexDigit = (char: string): boolean => isDigit(char) || (char >= 'a' && char <= 'f') || (char >= 'A' && char <= 'F');

/**
 * Reads the hex digits of a `\x..` style escape: `{1F600}` (braced, any count) when
 * `braced` is allowed, else exactly `count` digits. Returns the code point.
 */
export function readHexEscape(scanner: Scanner, count: number, braced: boolean): number {
  const at = scanner.position();
  let digits: string;
  if (braced && scanner.peek() === '{') {
    scanner.advance();
    digits = scanner.takeWhile(isHexDigit);
    if (scanner.peek() !== '}') scanner.fail('expected "}" to close the escape', scanner.position());
    scanner.advance();
  } else {
    digits = '';
    while (digits.length < count && isHexDigit(scanner.peek())) digits += scanner.advance();
    if (digits.length < count) scanner.fail(`expected ${count} hex digits in the escape`, at);
  }
  const code = Number.parseInt(digits, 16);
  if (digits === '' || !(code <= 0x10ffff)) scanner.fail('expected a valid code point in the escape', at);
  return code;
}

/** Reads an optionally negative run of decimal digits, `_` separators allowed (Elixir; Erlang since OTP 23). */
export function readInteger(scanner: Scanner): number {
  const at = scanner.position();
  const negative = scanner.peek() === '-';
  if (negative) scanner.advance();
  const digits = scanner.takeWhile((char) => isDigit(char) || char === '_');
  if (scanner.peek() === '.' && isDigit(scanner.peek(1))) scanner.fail('floats do not appear in lock files', at);
  const value = Number(digits.replaceAll('_', '')) * (negative ? -1 : 1);
  if (!Number.isSafeInteger(value)) scanner.fail(`integer ${negative ? '-' : ''}${digits} is out of range`, at);
  return value;
}
