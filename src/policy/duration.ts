// Release-age durations in Hex's cooldown grammar ("0", "<N>d", "<N>w", "<N>mo", where a
// month is 30 days), so a value means the same here as in a Hex client's config.

const UNIT_SECONDS: Readonly<Record<string, number>> = { d: 86_400, w: 7 * 86_400, mo: 30 * 86_400 };

/** Seconds in `text`, or undefined when it is not in the grammar. */
export function durationSeconds(text: string): number | undefined {
  if (text === '0') return 0;
  const match = /^(\d{1,6})(d|w|mo)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number);
}

export const DURATION_HINT = 'a duration such as "0", "7d", "2w" or "1mo" (days, weeks, 30-day months)';
