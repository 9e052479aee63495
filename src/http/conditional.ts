// If-None-Match (RFC 9110 §13.1.2): weak comparison, a list of entity tags, or "*".
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const value = header.trim();
  if (value === '*') return true;
  const opaque = stripWeak(etag);
  for (const candidate of value.split(',')) {
    if (stripWeak(candidate.trim()) === opaque) return true;
  }
  return false;
}

const stripWeak = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);
