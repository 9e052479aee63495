// The closing summary of prewarm, mirror and export: what was fetched, what was already
// cached, and every failure with its reason.
import type { FetchSummary } from '../ops/fetch-releases.js';

export interface Skipped {
  what: string;
  reason: string;
}

export function printFetchSummary(summary: FetchSummary, skipped: readonly Skipped[], out: NodeJS.WritableStream = process.stdout): void {
  const lines = [
    `fetched:        ${summary.fetched.length}`,
    `already cached: ${summary.cached.length}`,
    `failed:         ${summary.failed.length}`,
  ];
  if (skipped.length > 0) lines.push(`skipped:        ${skipped.length}`);
  for (const { target, reason } of summary.failed) lines.push(`  FAILED ${target.name} ${target.version} (${target.source}): ${reason}`);
  for (const { what, reason } of skipped) lines.push(`  skipped ${what}: ${reason}`);
  out.write(`${lines.join('\n')}\n`);
}
