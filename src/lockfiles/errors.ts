// A lock file given to `hexproxy prewarm` that cannot be read. It is the caller's input that
// is wrong, so it is a bad request: the CLI prints the message, and an HTTP route accepting
// a lock file would answer 400 through the usual error mapping.
import { BadRequestError } from '../errors.js';

export interface SourcePosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based, counted in characters (code points), as editors show it. */
  readonly column: number;
}

export class LockFileError extends BadRequestError {
  constructor(
    /** The file name given to the parser, e.g. `mix.lock` or the path on the command line. */
    readonly file: string,
    readonly at: SourcePosition,
    /** What was wrong, without the location: `expected "=>" after the map key, found "{"`. */
    readonly problem: string,
  ) {
    super(`${file}:${at.line}:${at.column}: ${problem}`);
  }

  get line(): number {
    return this.at.line;
  }

  get column(): number {
    return this.at.column;
  }
}
