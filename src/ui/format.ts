// Numbers and times as the web UI shows them (sizes: src/util/format-bytes.ts, shared with the CLI).

export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

export function formatPercent(ratio: number | null): string {
  return ratio === null ? 'n/a' : `${(ratio * 100).toFixed(ratio >= 0.9995 || ratio === 0 ? 0 : 1)} %`;
}

/** "3 min ago", "in 20 s", "just now". */
export function formatAgo(at: number, now = Date.now()): string {
  const seconds = Math.round((now - at) / 1000);
  const future = seconds < 0;
  const abs = Math.abs(seconds);
  if (abs < 5) return 'just now';
  const [value, unit] =
    abs < 60
      ? [abs, 's']
      : abs < 3600
        ? [Math.floor(abs / 60), 'min']
        : abs < 86_400
          ? [Math.floor(abs / 3600), 'h']
          : [Math.floor(abs / 86_400), abs < 172_800 ? 'day' : 'days'];
  return future ? `in ${value} ${unit}` : `${value} ${unit} ago`;
}

/** ISO 8601 without milliseconds, in UTC: "2024-01-01 00:00:00 UTC". */
export function formatTime(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatDate(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export const isoTime = (at: number): string => new Date(at).toISOString();

export const hex = (bytes: Uint8Array | undefined): string | undefined =>
  bytes && bytes.length > 0 ? Buffer.from(bytes).toString('hex') : undefined;
