// A lock file as an operator hands it to hexproxy (prewarm, export, policy check): read,
// parsed as the kind the operator said it is, with the mistakes people make said plainly.
// The parsers themselves read a lock as Mix and rebar3 do (an empty file is no
// dependencies); an operator giving an empty file has given the wrong file.
import { readFile } from 'node:fs/promises';
import { BadRequestError, errorMessage } from '../errors.js';
import { LockFileError } from './errors.js';
import type { LockParseResult } from './locked-package.js';
import { parseMixLock } from './mix-lock.js';
import { parseRebarLock } from './rebar-lock.js';

export type LockKind = 'mix' | 'rebar';

export interface LockHints {
  /** How the operator gives a lock of each kind ("--mix-lock", "?format=mix"), for the hint on a lock of the other kind. */
  readonly give: Readonly<Record<LockKind, string>>;
}

/** The command line's words. */
export const CLI_LOCK_HINTS: LockHints = { give: { mix: '--mix-lock', rebar: '--rebar-lock' } };

const FILE_NAME: Record<LockKind, string> = { mix: 'mix.lock', rebar: 'rebar.lock' };
const PARSERS: Record<LockKind, (text: string, source: string) => LockParseResult> = { mix: parseMixLock, rebar: parseRebarLock };

export async function readLockFile(file: string, kind: LockKind, hints: LockHints = CLI_LOCK_HINTS): Promise<LockParseResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error: unknown) {
    throw new BadRequestError(`cannot read lock file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  return parseLockText(text, file, kind, hints);
}

/** Parses `text` as a lock of `kind`; an empty text, or a lock of the other kind, is an error that says so. */
export function parseLockText(text: string, file: string, kind: LockKind, hints: LockHints = CLI_LOCK_HINTS): LockParseResult {
  if (text.replace(/^\uFEFF/, '').trim() === '') {
    throw new BadRequestError(
      `${file} is empty: Mix and rebar3 never write an empty lock file (a project without dependencies has none, or rebar3's "[]."); give the ${FILE_NAME[kind]} of the project to ${hints.give[kind]}`,
    );
  }
  try {
    return PARSERS[kind](text, file);
  } catch (error: unknown) {
    if (!(error instanceof LockFileError)) throw error;
    const other: LockKind = kind === 'mix' ? 'rebar' : 'mix';
    if (readsAs(other, text, file)) {
      throw new BadRequestError(
        `${file} is a ${FILE_NAME[other]}, not a ${FILE_NAME[kind]}: give it with ${hints.give[other]} (read as a ${FILE_NAME[kind]}: ${error.message})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Whether the text is a lock of this kind locking something. */
function readsAs(kind: LockKind, text: string, file: string): boolean {
  try {
    const lock = PARSERS[kind](text, file);
    return lock.entries.length + lock.skipped.length > 0;
  } catch (error: unknown) {
    if (error instanceof LockFileError) return false;
    throw error;
  }
}
