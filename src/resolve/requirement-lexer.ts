// A port of the lexer in Elixir's Version.Parser (lib/elixir/lib/version.ex), kept
// deliberately quirky so that we split requirements exactly where Elixir does: operators
// are recognised anywhere (">=1.0" works), `and`/`or` only with one space on each side,
// plain spaces separate, and any other character (a tab too) belongs to a version.

export type Operator = '==' | '!=' | '>' | '>=' | '<' | '<=' | '~>';

export type Token =
  | { kind: 'operator'; operator: Operator; /** inserted for a bare version */ implicit: boolean }
  | { kind: 'and' }
  | { kind: 'or' }
  | { kind: 'version'; text: string };

// Longest operators first, in Elixir's order. `!` alone is Elixir's deprecated spelling of
// `!=`; Elixir warns about both, and they still occur in old registry entries.
const SYMBOLS: readonly [string, Token][] = [
  ['>=', op('>=')],
  ['<=', op('<=')],
  ['~>', op('~>')],
  ['>', op('>')],
  ['<', op('<')],
  ['==', op('==')],
  [' or ', { kind: 'or' }],
  [' and ', { kind: 'and' }],
  ['!=', op('!=')],
  ['!', op('!=')],
];

export function lexRequirement(source: string): Token[] {
  const tokens: Token[] = [];
  let buffer = '';
  const flush = (): void => {
    if (buffer === '') return;
    // Elixir puts an implicit `==` before a version that does not follow an operator.
    if (tokens.at(-1)?.kind !== 'operator') tokens.push({ kind: 'operator', operator: '==', implicit: true });
    tokens.push({ kind: 'version', text: buffer });
    buffer = '';
  };
  let at = 0;
  outer: while (at < source.length) {
    for (const [symbol, token] of SYMBOLS) {
      if (source.startsWith(symbol, at)) {
        flush();
        tokens.push(token);
        at += symbol.length;
        continue outer;
      }
    }
    if (source[at] === ' ') flush();
    else buffer += source[at];
    at += 1;
  }
  flush();
  return tokens;
}

function op(operator: Operator): Token {
  return { kind: 'operator', operator, implicit: false };
}
