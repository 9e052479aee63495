// When a published release may still be replaced or reverted (config
// hosted.NAME.replaceWindowSeconds, from its first publication; 0: never), and what a
// refusal says: what was refused, until when it was allowed, and what to do instead.
import { ReleaseExistsError, ReleaseLockedError } from '../errors.js';
import type { ReleaseRecord } from './hosted-db.js';

/** How messages name a release: "acme/acme_core 1.0.0". */
export const label = (repo: string, name: string, version: string): string => `${repo}/${name} ${version}`;

type Published = Pick<ReleaseRecord, 'name' | 'version' | 'published_at'>;

/** Throws why `existing` may not be published over at `now`; nothing when it does not exist. */
export function checkPublishable(
  repo: string,
  { replaceWindowSeconds: window }: { replaceWindowSeconds: number },
  existing: Published | undefined,
  replace: boolean,
  now: number,
): void {
  if (!existing) return;
  const what = label(repo, existing.name, existing.version);
  const until = existing.published_at + window * 1000;
  if (!replace) {
    throw new ReleaseExistsError(
      window > 0 && now <= until
        ? `${what} has already been published; to replace it, publish it again with --replace (allowed until ${iso(until)}, ${describeSeconds(window)} after its publication: hosted.${repo}.replaceWindowSeconds)`
        : `${what} has already been published (${iso(existing.published_at)}) and can no longer be replaced (${windowRule(repo, window)}); publish a new version`,
    );
  }
  checkEditable(repo, { replaceWindowSeconds: window }, existing, now, 'replaced');
}

/** Throws ReleaseLockedError when `existing` is past its repository's replace window at `now`. */
export function checkEditable(
  repo: string,
  { replaceWindowSeconds: window }: { replaceWindowSeconds: number },
  existing: Published,
  now: number,
  action: 'replaced' | 'reverted',
): void {
  const until = existing.published_at + window * 1000;
  if (window > 0 && now <= until) return;
  const what = label(repo, existing.name, existing.version);
  const instead = action === 'replaced' ? 'publish a new version' : 'retire it instead (mix hex.retire)';
  throw new ReleaseLockedError(
    window === 0
      ? `${what} cannot be ${action}: ${windowRule(repo, window)}; ${instead}`
      : `${what} can no longer be ${action}: it was published at ${iso(existing.published_at)}, and the window to replace or revert it (${windowRule(repo, window)}) closed at ${iso(until)}; ${instead}`,
  );
}

const iso = (ms: number): string => new Date(ms).toISOString();

const windowRule = (repo: string, window: number): string =>
  window === 0
    ? `hosted.${repo}.replaceWindowSeconds is 0: releases of ${repo} are never replaced or reverted`
    : `hosted.${repo}.replaceWindowSeconds allows ${describeSeconds(window)} after publication`;

/** "1 hour", "90 minutes", "45 seconds". */
export function describeSeconds(seconds: number): string {
  const unit = (value: number, name: string): string => `${value} ${name}${value === 1 ? '' : 's'}`;
  if (seconds % 86_400 === 0) return unit(seconds / 86_400, 'day');
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}
