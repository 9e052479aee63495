// One-token lookahead over a tokenized lock file, shared by the Elixir and Erlang parsers.
import { LockFileError, type SourcePosition } from './errors.js';

export class TokenCursor<T extends { readonly at: SourcePosition }> {
  private index = 0;

  constructor(
    private readonly tokens: readonly T[],
    /** Returned, never consumed, once the tokens run out. */
    private readonly end: T,
    private readonly source: string,
  ) {}

  peek(): T {
    return this.tokens[this.index] ?? this.end;
  }

  next(): T {
    const token = this.peek();
    if (this.index < this.tokens.length) this.index += 1;
    return token;
  }

  fail(token: T, problem: string): never {
    throw new LockFileError(this.source, token.at, problem);
  }
}
