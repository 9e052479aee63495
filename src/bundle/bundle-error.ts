// A bundle that fails a check. It is a verification failure (code "verification_failed")
// that also carries every refused entry, so the CLI can list them and tests can assert on
// them without parsing the message.
import { VerificationError } from '../errors.js';

export interface RefusedEntry {
  /** The path in the bundle ("tarballs/NAME-VERSION.tar", "manifest.json", …), as written there. */
  path: string;
  reason: string;
}

/** How many refused entries the message spells out; `refused` always holds all of them. */
const LISTED_IN_MESSAGE = 20;

export class BundleError extends VerificationError {
  readonly refused: readonly RefusedEntry[];

  constructor(message: string, refused: readonly RefusedEntry[], options?: ErrorOptions) {
    super(message, options);
    this.refused = refused;
  }

  /** "bundle FILE was not imported: FIRST: WHY", then one line per bad entry when there are several. */
  static refusing(file: string, refused: readonly RefusedEntry[], options?: ErrorOptions): BundleError {
    const [first] = refused;
    if (!first) throw new Error('BundleError.refusing needs at least one refused entry');
    const headline = `bundle ${file} was not imported: ${first.path}: ${first.reason}`;
    if (refused.length === 1) return new BundleError(headline, refused, options);
    const listed = refused
      .slice(0, LISTED_IN_MESSAGE)
      .map((entry) => `\n  ${entry.path}: ${entry.reason}`)
      .join('');
    const more = refused.length > LISTED_IN_MESSAGE ? `\n  … and ${refused.length - LISTED_IN_MESSAGE} more` : '';
    return new BundleError(`${headline}\n${refused.length} bad entries:${listed}${more}`, refused, options);
  }
}
