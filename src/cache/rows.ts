// The rules of the index rows (src/store/cache-index.ts) every writer follows: what a new
// tarball row holds, when a registry or pass-through row is fresh, what upstream's
// confirmation (a 304) changes, and what a row for bytes upstream has not confirmed holds.
import type { PassthroughRow, RegistryRow, TarballRow } from '../store/cache-index.js';

/** A tarball just verified and stored: no hits yet, used now; pinned only when asked (prewarm --pin, import). */
export function newTarballRow(tarball: Pick<TarballRow, 'repo' | 'name' | 'version' | 'size' | 'sha256'>, now: number, pinned = false): TarballRow {
  return { ...tarball, fetchedAt: now, lastUsedAt: now, hits: 0, pinned };
}

/** Served without asking upstream while upstream confirmed it less than `ttlMs` ago. A row never checked (checkedAt 0) is never fresh. */
export const isFreshRow = (row: Pick<RegistryRow | PassthroughRow, 'checkedAt'>, ttlMs: number, now = Date.now()): boolean =>
  now - row.checkedAt < ttlMs;

/**
 * Upstream confirmed the row's bytes (a 304) at `now`: checked then, and upstream's word as
 * of then, unless a trusted bundle attested a later time. The index's touch* statements
 * write the same.
 */
export function confirmedAt<T extends RegistryRow | PassthroughRow>(row: T, now: number): T {
  return { ...row, checkedAt: now, upstreamAsOf: Math.max(row.upstreamAsOf, now) };
}

type Unconfirmed<T> = Omit<T, 'upstreamEtag' | 'checkedAt'>;

/**
 * The row of bytes upstream has not confirmed to this hexproxy: a bundle's, or a file a
 * crash left newer than its row. No ETag and never checked, so it is served as it is
 * offline and, once upstream can be asked, fetched again in full rather than revalidated
 * with the ETag of other bytes.
 */
export function revalidateInFull(row: Unconfirmed<RegistryRow>): RegistryRow;
export function revalidateInFull(row: Unconfirmed<PassthroughRow>): PassthroughRow;
export function revalidateInFull(row: Unconfirmed<RegistryRow> | Unconfirmed<PassthroughRow>): RegistryRow | PassthroughRow {
  return { ...row, upstreamEtag: null, checkedAt: 0 };
}
