// The closing summary of prewarm, mirror and export: what was fetched, what was already
// cached, and every failure and skip with its reason.
import type { FetchSummary } from '../ops/fetch-releases.js';

export interface Noted {
  what: string;
  reason: string;
}

/** `planFailures` are failures before any fetch (a spec that resolves to nothing, a registry file that cannot be had). */
export function printFetchSummary(summary: FetchSummary, planFailures: readonly Noted[], skipped: readonly Noted[], out: NodeJS.WritableStream = process.stdout): void {
  const lines = [
    `fetched:        ${summary.fetched.length}`,
    `already cached: ${summary.cached.length}`,
    `failed:         ${summary.failed.length + planFailures.length}`,
  ];
  if (skipped.length > 0) lines.push(`skipped:        ${skipped.length}`);
  for (const { what, reason } of planFailures) lines.push(`  FAILED ${what}: ${reason}`);
  for (const { target, reason } of summary.failed) lines.push(`  FAILED ${target.name} ${target.version} (from ${target.source}): ${reason}`);
  for (const { what, reason } of skipped) lines.push(`  skipped ${what}: ${reason}`);
  out.write(`${lines.join('\n')}\n`);
}

export const anyFailed = (summary: FetchSummary, planFailures: readonly Noted[]): boolean => summary.failed.length + planFailures.length > 0;
