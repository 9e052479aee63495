// The closing summary of prewarm, mirror and export: what was fetched, what was already
// cached, and every failure and skip with its reason.
import type { FetchSummary } from '../ops/fetch-releases.js';
import type { FoundEntries } from '../ops/prewarm.js';
import { releaseLabel } from '../ops/repositories.js';

export interface Noted {
  what: string;
  reason: string;
}

export interface PlanNotes {
  /** Failures before any fetch (a spec that resolves to nothing, a registry file that cannot be had). */
  failed: readonly Noted[];
  skipped: readonly Noted[];
  /** Where rebar.lock entries were found; said when hexproxy serves more than one repository. */
  found?: readonly FoundEntries[];
}

export function printFetchSummary(
  summary: FetchSummary,
  notes: PlanNotes,
  publicRepository: string,
  out: NodeJS.WritableStream = process.stdout,
): void {
  const { failed, skipped, found = [] } = notes;
  const lines = [
    `fetched:        ${summary.fetched.length}`,
    `already cached: ${summary.cached.length}`,
    `failed:         ${summary.failed.length + failed.length}`,
  ];
  if (skipped.length > 0) lines.push(`skipped:        ${skipped.length}`);
  for (const { what, reason } of failed) lines.push(`  FAILED ${what}: ${reason}`);
  for (const { target, reason } of summary.failed)
    lines.push(`  FAILED ${releaseLabel(target.repo, target.name, target.version, publicRepository)} (from ${target.source}): ${reason}`);
  for (const { what, reason } of skipped) lines.push(`  skipped ${what}: ${reason}`);
  for (const { file, repository, releases } of found) lines.push(`  found in ${repository} (${file}): ${releases.join(', ')}`);
  out.write(`${lines.join('\n')}\n`);
}

export const anyFailed = (summary: FetchSummary, planFailures: readonly Noted[]): boolean => summary.failed.length + planFailures.length > 0;
