// What the policy took out of a registry file, in one line for the x-hexproxy-policy-hidden
// header and the access log: a package file names its hidden releases with a word for each
// reason ("1.2.0 (advisory)"); /versions and /names say how much they lost. The full reasons
// are in `hexproxy policy explain` and the web UI's package page.
import type { Decision } from './decide.js';

/** A header line stays short: past this many releases the rest are counted. */
const LISTED = 20;

export function hiddenReleases(blocked: ReadonlyMap<string, Decision>): string | undefined {
  if (blocked.size === 0) return undefined;
  const listed = [...blocked].slice(0, LISTED).map(([version, decision]) => {
    const kinds = decision.allowed ? [] : [...new Set(decision.reasons.map((reason) => reason.kind))];
    return `${version} (${kinds.join(', ')})`;
  });
  return blocked.size > LISTED ? `${listed.join(', ')} and ${blocked.size - LISTED} more` : listed.join(', ');
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

export function hiddenFromVersions(releases: number, packages: number, emptied: number): string | undefined {
  if (releases === 0) return undefined;
  const base = `${plural(releases, 'release')} of ${plural(packages, 'package')}`;
  return emptied === 0 ? base : `${base}; ${plural(emptied, 'package')} ${emptied === 1 ? 'has' : 'have'} none left`;
}

export function hiddenFromNames(emptied: number): string | undefined {
  return emptied === 0 ? undefined : `${plural(emptied, 'package')} ${emptied === 1 ? 'has' : 'have'} no release left`;
}
