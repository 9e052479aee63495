// The terms both lock formats are made of, as the BEAM sees them, each with where it
// starts in the file so that a lock-file reader can say exactly which part is wrong.
import type { SourcePosition } from './errors.js';

export type Term = AtomTerm | BinaryTerm | CharlistTerm | IntegerTerm | TupleTerm | ListTerm | MapTerm;

/** `:hex`, `true`, `nil` in Elixir; `pkg`, `'quoted'` in Erlang. */
export interface AtomTerm {
  readonly kind: 'atom';
  readonly value: string;
  readonly at: SourcePosition;
}

/** A binary: Elixir's `"..."`, Erlang's `<<"...">>`, decoded as UTF-8. */
export interface BinaryTerm {
  readonly kind: 'binary';
  readonly value: string;
  readonly at: SourcePosition;
}

/** A list of characters: Erlang's `"..."`, Elixir's `'...'`. */
export interface CharlistTerm {
  readonly kind: 'charlist';
  readonly value: string;
  readonly at: SourcePosition;
}

export interface IntegerTerm {
  readonly kind: 'integer';
  readonly value: number;
  readonly at: SourcePosition;
}

export interface TupleTerm {
  readonly kind: 'tuple';
  readonly items: readonly Term[];
  readonly at: SourcePosition;
}

/** Keyword pairs (`[a: 1]`) are already 2-tuples of an atom and a value here, as in Elixir. */
export interface ListTerm {
  readonly kind: 'list';
  readonly items: readonly Term[];
  readonly at: SourcePosition;
}

export interface MapTerm {
  readonly kind: 'map';
  readonly entries: readonly MapEntry[];
  readonly at: SourcePosition;
}

export interface MapEntry {
  readonly key: Term;
  readonly value: Term;
}

const PREVIEW = 40;

/** A short phrase for error messages: `the atom git`, `a tuple of 2 elements`. */
export function describeTerm(term: Term): string {
  switch (term.kind) {
    case 'atom':
      return `the atom ${term.value}`;
    case 'binary':
      return `the string ${preview(term.value)}`;
    case 'charlist':
      return `the charlist ${preview(term.value)}`;
    case 'integer':
      return `the integer ${term.value}`;
    case 'tuple':
      return `a tuple of ${term.items.length} element${term.items.length === 1 ? '' : 's'}`;
    case 'list':
      return term.items.length === 0 ? 'an empty list' : `a list of ${term.items.length} element${term.items.length === 1 ? '' : 's'}`;
    case 'map':
      return 'a map';
  }
}

function preview(text: string): string {
  return JSON.stringify(text.length > PREVIEW ? `${text.slice(0, PREVIEW)}…` : text);
}

/** A binary or a charlist as text: both spell names and versions in older locks. */
export function textOf(term: Term): string | undefined {
  return term.kind === 'binary' || term.kind === 'charlist' ? term.value : undefined;
}

/** A missing trailing element or the language's "nothing" atom (`nil`, `undefined`). */
export function isAbsent<N extends 'nil' | 'undefined'>(term: Term | undefined, nothing: N): term is undefined | (AtomTerm & { readonly value: N }) {
  return term === undefined || (term.kind === 'atom' && term.value === nothing);
}
