// Reads the one Elixir literal a mix.lock holds. Mix evaluates the file as code
// (Mix.Dep.Lock.read/1: Code.string_to_quoted + Code.eval_quoted); hexproxy must never
// evaluate a file it was handed, so this accepts only the literal subset `inspect/2`
// writes and older Mix versions wrote by hand-rolled formatting: maps (`=>` and `key:`
// pairs), tuples, lists and keyword lists (also as the trailing part of a tuple or list),
// strings, charlists, atoms, aliases, integers, true/false/nil, comments and trailing
// commas. Anything else (a variable, a call, interpolation, a float) is an error with a
// position, not a guess.
import type { SourcePosition } from './errors.js';
import { Scanner, isDigit, isIdentifierChar, isUpper, isWhitespace, readHexEscape, readInteger } from './scanner.js';
import type { AtomTerm, MapEntry, Term, TupleTerm } from './term.js';
import { TokenCursor } from './token-cursor.js';

type Punct = '%{' | '{' | '}' | '[' | ']' | ',' | '=>' | '<<' | '>>';

type Token =
  | { readonly type: 'punct'; readonly text: Punct; readonly at: SourcePosition }
  /** `keyword` is the `key:` of a keyword pair, quoted or not; `value` is the key. */
  | { readonly type: 'atom' | 'binary' | 'charlist' | 'keyword'; readonly value: string; readonly at: SourcePosition }
  | { readonly type: 'integer'; readonly value: number; readonly at: SourcePosition }
  | EndToken;

interface EndToken {
  readonly type: 'end';
  readonly at: SourcePosition;
}

/** Parses `text` as a single Elixir literal; `source` names the file in errors. */
export function parseElixirTerm(text: string, source: string): Term {
  const { tokens, end } = tokenize(new Scanner(text, source));
  const parser = new Parser(new TokenCursor<Token>(tokens, end, source));
  const term = parser.term();
  parser.expectEnd();
  return term;
}

function tokenize(scanner: Scanner): { tokens: Token[]; end: EndToken } {
  const tokens: Token[] = [];
  for (;;) {
    skipBlanks(scanner);
    const at = scanner.position();
    const char = scanner.peek();
    const pair = TWO_CHAR_PUNCTS.find((text) => scanner.startsWith(text));
    if (scanner.done) return { tokens, end: { type: 'end', at } };
    if (char === '{' || char === '}' || char === '[' || char === ']' || char === ',') {
      scanner.advance();
      tokens.push({ type: 'punct', text: char, at });
    } else if (pair !== undefined) {
      scanner.advance();
      scanner.advance();
      tokens.push({ type: 'punct', text: pair, at });
    } else if (char === '%') {
      scanner.fail('structs are not supported in a lock file: expected "%{"', at);
    } else if (char === '"' || char === "'") {
      const value = readQuoted(scanner, char);
      if (isKeywordColon(scanner)) {
        scanner.advance();
        tokens.push({ type: 'keyword', value, at });
      } else {
        tokens.push({ type: char === '"' ? 'binary' : 'charlist', value, at });
      }
    } else if (char === ':') {
      scanner.advance();
      tokens.push({ type: 'atom', value: readAtomName(scanner, at), at });
    } else if (isDigit(char) || (char === '-' && isDigit(scanner.peek(1)))) {
      tokens.push({ type: 'integer', value: readInteger(scanner), at });
    } else if (isWordStart(char)) {
      tokens.push(readWord(scanner, at));
    } else {
      scanner.fail(`unexpected character ${JSON.stringify(char)}`, at);
    }
  }
}

const TWO_CHAR_PUNCTS = ['%{', '=>', '<<', '>>'] as const;

// Atoms and keyword keys may be written with any Unicode letters (`:é`, `é: 1`), and with
// `@` (`:foo@bar`), as `inspect/1` prints them.
const isWordStart = (char: string): boolean => /^[\p{L}_]$/u.test(char);
const isWordChar = (char: string): boolean => /^[\p{L}\p{N}\p{M}_@]$/u.test(char);

function skipBlanks(scanner: Scanner): void {
  for (;;) {
    if (isWhitespace(scanner.peek())) scanner.advance();
    else if (scanner.peek() === '#') scanner.skipLineComment();
    else return;
  }
}

/** `name:` and `"name":` start keyword pairs; `::` is something else entirely. */
function isKeywordColon(scanner: Scanner): boolean {
  return scanner.peek() === ':' && scanner.peek(1) !== ':';
}

/** After `:`: `hex`, `valid?`, `"quoted atom"`. */
function readAtomName(scanner: Scanner, at: SourcePosition): string {
  const first = scanner.peek();
  if (first === '"' || first === "'") return readQuoted(scanner, first);
  if (!isWordStart(first)) scanner.fail('expected an atom name after ":"', at);
  return scanner.takeWhile(isWordChar) + takeSuffix(scanner);
}

/** An identifier's optional trailing `?` or `!`. */
function takeSuffix(scanner: Scanner): string {
  return scanner.peek() === '?' || scanner.peek() === '!' ? scanner.advance() : '';
}

/** A bare word: a keyword key, true/false/nil, or an alias such as `Foo.Bar`. */
function readWord(scanner: Scanner, at: SourcePosition): Token {
  const word = scanner.takeWhile(isWordChar) + takeSuffix(scanner);
  if (isKeywordColon(scanner)) {
    scanner.advance();
    return { type: 'keyword', value: word, at };
  }
  if (word === 'true' || word === 'false' || word === 'nil') return { type: 'atom', value: word, at };
  if (isUpper(word.charAt(0))) {
    // An alias is an atom: Foo.Bar is :"Elixir.Foo.Bar".
    let alias = word;
    while (scanner.peek() === '.' && isUpper(scanner.peek(1))) {
      scanner.advance();
      alias += `.${scanner.takeWhile(isIdentifierChar)}`;
    }
    return { type: 'atom', value: `Elixir.${alias}`, at };
  }
  return scanner.fail(`unexpected name ${JSON.stringify(word)}: a lock file holds only literal terms`, at);
}

/**
 * Reads a `"..."` or `'...'` body with Elixir's escapes. `#{` stays literal text: a lock
 * file is data, and Mix itself writes `\#{` for it.
 */
function readQuoted(scanner: Scanner, quote: '"' | "'"): string {
  const start = scanner.position();
  scanner.advance();
  let value = '';
  for (;;) {
    if (scanner.done) scanner.fail(`unterminated ${quote === '"' ? 'string' : 'charlist'}: no closing ${quote} before the end of the file`, start);
    const char = scanner.advance();
    if (char === quote) return value;
    if (char !== '\\') {
      value += char;
      continue;
    }
    if (scanner.done) continue; // reported as unterminated on the next turn
    const escape = scanner.advance();
    switch (escape) {
      case '0':
        value += '\0';
        break;
      case 'a':
        value += '\x07';
        break;
      case 'b':
        value += '\b';
        break;
      case 'd':
        value += '\x7f';
        break;
      case 'e':
        value += '\x1b';
        break;
      case 'f':
        value += '\f';
        break;
      case 'n':
        value += '\n';
        break;
      case 'r':
        value += '\r';
        break;
      case 's':
        value += ' ';
        break;
      case 't':
        value += '\t';
        break;
      case 'v':
        value += '\v';
        break;
      case 'x':
        value += String.fromCodePoint(readHexEscape(scanner, 2, true));
        break;
      case 'u':
        value += String.fromCodePoint(readHexEscape(scanner, 4, true));
        break;
      case '\n':
        break; // a backslash before a newline continues the line
      default:
        value += escape; // \" \\ \# \' and any other character stand for themselves
    }
  }
}

class Parser {
  constructor(private readonly cursor: TokenCursor<Token>) {}

  term(): Term {
    const token = this.next();
    switch (token.type) {
      case 'punct':
        if (token.text === '%{') return this.map(token.at);
        if (token.text === '{') return this.tuple(token.at);
        if (token.text === '[') return this.list(token.at);
        if (token.text === '<<') return { kind: 'binary', value: this.binary(), at: token.at };
        return this.fail(token, `expected a term, found ${describeToken(token)}`);
      case 'atom':
      case 'binary':
      case 'charlist':
        return { kind: token.type, value: token.value, at: token.at };
      case 'integer':
        return { kind: 'integer', value: token.value, at: token.at };
      case 'keyword':
        return this.fail(token, `the keyword pair "${token.value}:" can only appear inside [...], {...} or %{...}`);
      case 'end':
        return this.fail(token, 'expected a term, found the end of the file');
    }
  }

  expectEnd(): void {
    const token = this.next();
    if (token.type !== 'end') this.fail(token, `expected the end of the file after the term, found ${describeToken(token)}`);
  }

  private tuple(at: SourcePosition): Term {
    // `{:a, b: 1}` is `{:a, [b: 1]}`: trailing keyword pairs form one list.
    const { items, pairs } = this.sequence('}', 'tuple');
    return { kind: 'tuple', items: pairs.length > 0 ? [...items, { kind: 'list', items: pairs, at: pairs[0]?.at ?? at }] : items, at };
  }

  private list(at: SourcePosition): Term {
    const { items, pairs } = this.sequence(']', 'list');
    return { kind: 'list', items: [...items, ...pairs], at };
  }

  private sequence(close: '}' | ']', what: string): { items: Term[]; pairs: TupleTerm[] } {
    const items: Term[] = [];
    const pairs: TupleTerm[] = [];
    while (!this.skipPunct(close)) {
      const token = this.peek();
      if (token.type === 'keyword') {
        const { key, value } = this.keywordPair(token);
        pairs.push({ kind: 'tuple', items: [key, value], at: key.at });
      } else if (pairs.length > 0)
        this.fail(token, `expected a keyword pair such as "key: value" (keyword pairs come last in a ${what}), found ${describeToken(token)}`);
      else items.push(this.term());
      if (this.separator(close, what)) break;
    }
    return { items, pairs };
  }

  private map(at: SourcePosition): Term {
    const entries: MapEntry[] = [];
    let keywords = false;
    while (!this.skipPunct('}')) {
      const token = this.peek();
      if (token.type === 'keyword') {
        entries.push(this.keywordPair(token));
        keywords = true;
      } else {
        if (keywords)
          this.fail(token, `expected a keyword pair such as "key: value" (keyword pairs come last in a map), found ${describeToken(token)}`);
        const key = this.term();
        const arrow = this.next();
        if (!(arrow.type === 'punct' && arrow.text === '=>')) this.fail(arrow, `expected "=>" after the map key, found ${describeToken(arrow)}`);
        entries.push({ key, value: this.term() });
      }
      if (this.separator('}', 'map')) break;
    }
    return { kind: 'map', entries, at };
  }

  /** `<<104, "i">>`: how `inspect/1` prints a binary that is not printable text. */
  private binary(): string {
    const bytes: number[] = [];
    while (!this.skipPunct('>>')) {
      const token = this.next();
      if (token.type === 'binary') bytes.push(...Buffer.from(token.value, 'utf8'));
      else if (token.type === 'integer' && token.value >= 0 && token.value <= 255) bytes.push(token.value);
      else this.fail(token, `expected a string or a byte (0 to 255) in the binary, found ${describeToken(token)}`);
      if (this.separator('>>', 'binary')) break;
    }
    return Buffer.from(bytes).toString('utf8');
  }

  private keywordPair(token: { readonly value: string; readonly at: SourcePosition }): { key: AtomTerm; value: Term } {
    this.next();
    return { key: { kind: 'atom', value: token.value, at: token.at }, value: this.term() };
  }

  /** After an element: `,` (a trailing one is fine) or the closing bracket; true when closed. */
  private separator(close: '}' | ']' | '>>', what: string): boolean {
    const token = this.next();
    if (token.type === 'punct' && token.text === ',') return false;
    if (token.type === 'punct' && token.text === close) return true;
    return this.fail(token, `expected "," or "${close}" in the ${what}, found ${describeToken(token)}`);
  }

  private skipPunct(text: Punct): boolean {
    const token = this.peek();
    if (token.type !== 'punct' || token.text !== text) return false;
    this.next();
    return true;
  }

  private peek(): Token {
    return this.cursor.peek();
  }

  private next(): Token {
    return this.cursor.next();
  }

  private fail(token: Token, problem: string): never {
    return this.cursor.fail(token, problem);
  }
}

function describeToken(token: Token): string {
  switch (token.type) {
    case 'punct':
      return `"${token.text}"`;
    case 'atom':
      return `the atom :${token.value}`;
    case 'binary':
      return `the string ${JSON.stringify(token.value)}`;
    case 'charlist':
      return `the charlist '${token.value}'`;
    case 'keyword':
      return `the keyword key "${token.value}:"`;
    case 'integer':
      return `the integer ${token.value}`;
    case 'end':
      return 'the end of the file';
  }
}
