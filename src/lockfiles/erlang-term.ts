// Reads a file of Erlang terms, each ending with `.`, as file:consult/1 does for rebar3's
// rebar.lock (rebar_config:consult_lock_file/1). Only literals are accepted: atoms (bare or
// 'quoted'), strings (adjacent ones concatenate), binaries of strings and bytes
// (`<<"a">>`, `<<"é"/utf8>>`, `<<1,2>>`), integers, tuples, proper lists and `%` comments.
// rebar3 writes the file with io_lib:format("~p"), which never emits anything else.
import type { SourcePosition } from './errors.js';
import { Scanner, isDigit, isIdentifierChar, isLower, isUpper, isWhitespace, readHexEscape, readInteger } from './scanner.js';
import type { Term } from './term.js';
import { TokenCursor } from './token-cursor.js';

type Punct = '{' | '}' | '[' | ']' | ',' | '<<' | '>>' | '/' | '|' | '.';

type Token =
  | { readonly type: 'punct'; readonly text: Punct; readonly at: SourcePosition }
  | { readonly type: 'atom' | 'string'; readonly value: string; readonly at: SourcePosition }
  | { readonly type: 'integer'; readonly value: number; readonly at: SourcePosition }
  | EndToken;

interface EndToken {
  readonly type: 'end';
  readonly at: SourcePosition;
}

/** Parses every `Term.` in `text`; `source` names the file in errors. */
export function parseErlangTerms(text: string, source: string): Term[] {
  const { tokens, end } = tokenize(new Scanner(text, source));
  const parser = new Parser(new TokenCursor<Token>(tokens, end, source));
  return parser.terms();
}

function tokenize(scanner: Scanner): { tokens: Token[]; end: EndToken } {
  const tokens: Token[] = [];
  for (;;) {
    skipBlanks(scanner);
    const at = scanner.position();
    const char = scanner.peek();
    if (scanner.done) return { tokens, end: { type: 'end', at } };
    if (char === '{' || char === '}' || char === '[' || char === ']' || char === ',' || char === '/' || char === '|') {
      scanner.advance();
      tokens.push({ type: 'punct', text: char, at });
    } else if (scanner.startsWith('<<') || scanner.startsWith('>>')) {
      const text = scanner.advance() + scanner.advance();
      tokens.push({ type: 'punct', text: text === '<<' ? '<<' : '>>', at });
    } else if (char === '.') {
      // The full stop that ends a term must be followed by white space, a comment or the end.
      const after = scanner.peek(1);
      if (!(after === '' || after === '%' || isWhitespace(after))) scanner.fail('expected white space after the "." that ends a term', at);
      scanner.advance();
      tokens.push({ type: 'punct', text: '.', at });
    } else if (char === '"') {
      tokens.push({ type: 'string', value: readQuoted(scanner, '"'), at });
    } else if (char === "'") {
      tokens.push({ type: 'atom', value: readQuoted(scanner, "'"), at });
    } else if (isDigit(char) || (char === '-' && isDigit(scanner.peek(1)))) {
      tokens.push({ type: 'integer', value: readInteger(scanner), at });
    } else if (isLower(char)) {
      tokens.push({ type: 'atom', value: scanner.takeWhile((c) => isIdentifierChar(c) || c === '@'), at });
    } else if (isUpper(char) || char === '_') {
      const name = scanner.takeWhile((c) => isIdentifierChar(c) || c === '@');
      scanner.fail(`unexpected variable ${name}: a lock file holds only literal terms`, at);
    } else {
      scanner.fail(`unexpected character ${JSON.stringify(char)}`, at);
    }
  }
}

function skipBlanks(scanner: Scanner): void {
  for (;;) {
    if (isWhitespace(scanner.peek())) scanner.advance();
    else if (scanner.peek() === '%') scanner.skipLineComment();
    else return;
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  b: '\b',
  d: '\x7f',
  e: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  s: ' ',
  t: '\t',
  v: '\v',
};

/** Reads a `"string"` or `'atom'` body with Erlang's escapes. */
function readQuoted(scanner: Scanner, quote: '"' | "'"): string {
  const start = scanner.position();
  scanner.advance();
  let value = '';
  for (;;) {
    if (scanner.done) scanner.fail(`unterminated ${quote === '"' ? 'string' : 'quoted atom'}: no closing ${quote} before the end of the file`, start);
    const char = scanner.advance();
    if (char === quote) return value;
    if (char !== '\\') {
      value += char;
      continue;
    }
    if (scanner.done) continue; // reported as unterminated on the next turn
    const escape = scanner.peek();
    if (escape >= '0' && escape <= '7') {
      let octal = '';
      while (octal.length < 3 && scanner.peek() >= '0' && scanner.peek() <= '7') octal += scanner.advance();
      value += String.fromCodePoint(Number.parseInt(octal, 8));
      continue;
    }
    scanner.advance();
    const simple = SIMPLE_ESCAPES[escape];
    if (simple !== undefined) value += simple;
    else if (escape === 'x') value += String.fromCodePoint(readHexEscape(scanner, 2, true));
    else if (escape === '^') value += String.fromCodePoint((scanner.advance().codePointAt(0) ?? 0) & 31);
    else value += escape; // \" \' \\ and any other character stand for themselves
  }
}

class Parser {
  constructor(private readonly cursor: TokenCursor<Token>) {}

  terms(): Term[] {
    const terms: Term[] = [];
    while (this.cursor.peek().type !== 'end') {
      terms.push(this.term());
      const stop = this.cursor.next();
      if (!isPunct(stop, '.')) this.cursor.fail(stop, `expected "." after the term, found ${describeToken(stop)}`);
    }
    return terms;
  }

  private term(): Term {
    const token = this.cursor.next();
    switch (token.type) {
      case 'punct':
        if (token.text === '{') return { kind: 'tuple', items: this.sequence('}', 'tuple'), at: token.at };
        if (token.text === '[') return { kind: 'list', items: this.sequence(']', 'list'), at: token.at };
        if (token.text === '<<') return { kind: 'binary', value: this.binary(), at: token.at };
        return this.cursor.fail(token, `expected a term, found ${describeToken(token)}`);
      case 'string':
        return { kind: 'charlist', value: token.value + this.adjacentStrings(), at: token.at };
      case 'atom':
        return { kind: 'atom', value: token.value, at: token.at };
      case 'integer':
        return { kind: 'integer', value: token.value, at: token.at };
      case 'end':
        return this.cursor.fail(token, 'expected a term, found the end of the file');
    }
  }

  /** Erlang has no trailing commas: after "," another element must follow. */
  private sequence(close: '}' | ']', what: string): Term[] {
    const items: Term[] = [];
    if (this.skipPunct(close)) return items;
    for (;;) {
      items.push(this.term());
      const token = this.cursor.next();
      if (isPunct(token, ',')) continue;
      if (isPunct(token, close)) return items;
      this.cursor.fail(token, `expected "," or "${close}" in the ${what}, found ${describeToken(token)}`);
    }
  }

  /**
   * The segments of `<<...>>`, decoded as UTF-8. String segments are encoded as UTF-8 with
   * or without `/utf8`: rebar3 prints a binary's bytes as Latin-1 characters (`~p`) and
   * writes those characters back as the same bytes, so the file's UTF-8 text is the
   * binary's bytes either way.
   */
  private binary(): string {
    const bytes: number[] = [];
    if (this.skipPunct('>>')) return '';
    for (;;) {
      const token = this.cursor.next();
      if (token.type === 'string') {
        bytes.push(...Buffer.from(token.value + this.adjacentStrings(), 'utf8'));
        if (this.skipPunct('/')) {
          const type = this.cursor.next();
          if (!(type.type === 'atom' && type.value === 'utf8'))
            this.cursor.fail(type, `expected the segment type utf8 after "/", found ${describeToken(type)}`);
        }
      } else if (token.type === 'integer') {
        if (token.value < 0 || token.value > 255) this.cursor.fail(token, `expected a byte (0 to 255) in the binary, found ${token.value}`);
        bytes.push(token.value);
      } else {
        this.cursor.fail(token, `expected a string or a byte in the binary, found ${describeToken(token)}`);
      }
      const separator = this.cursor.next();
      if (isPunct(separator, ',')) continue;
      if (isPunct(separator, '>>')) return Buffer.from(bytes).toString('utf8');
      this.cursor.fail(separator, `expected "," or ">>" in the binary, found ${describeToken(separator)}`);
    }
  }

  /** `"ab" "cd"` is the string "abcd". */
  private adjacentStrings(): string {
    let text = '';
    for (let token = this.cursor.peek(); token.type === 'string'; token = this.cursor.peek()) {
      text += token.value;
      this.cursor.next();
    }
    return text;
  }

  private skipPunct(text: Punct): boolean {
    if (!isPunct(this.cursor.peek(), text)) return false;
    this.cursor.next();
    return true;
  }
}

function isPunct(token: Token, text: Punct): boolean {
  return token.type === 'punct' && token.text === text;
}

function describeToken(token: Token): string {
  switch (token.type) {
    case 'punct':
      return `"${token.text}"`;
    case 'atom':
      return `the atom ${token.value}`;
    case 'string':
      return `the string ${JSON.stringify(token.value)}`;
    case 'integer':
      return `the integer ${token.value}`;
    case 'end':
      return 'the end of the file';
  }
}
