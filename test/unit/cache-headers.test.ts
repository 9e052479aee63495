// The Cache-Control a cache in front of hexproxy is offered (src/http/headers.ts): an
// anonymous registry answer's shared lifetime is what is left of hexproxy's own freshness,
// rounded down, and nothing once none is left; an answer behind a token is private and
// offers no shared lifetime. The answers themselves: test/integration/behind-nginx.test.ts.
import { describe, expect, it } from 'vitest';
import { REGISTRY_CACHE_CONTROL, privateCacheControl, secondsLeft, sharedCacheControl } from '../../src/http/headers.js';

describe('the lifetime offered to a shared cache', () => {
  const checkedAt = 1_000_000;
  const ttlMs = 300_000;

  it('is the whole seconds left of the TTL since upstream confirmed the file, never more', () => {
    expect(secondsLeft(checkedAt, ttlMs, checkedAt)).toBe(300);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + 1)).toBe(299);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + 999)).toBe(299);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + 1000)).toBe(299);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + 1001)).toBe(298);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + ttlMs - 1)).toBe(0);
    expect(secondsLeft(checkedAt, ttlMs, checkedAt + ttlMs + 5000)).toBe(-5);
    // Never confirmed (an imported file): nothing left.
    expect(secondsLeft(0, ttlMs, checkedAt)).toBeLessThan(0);
  });

  it('is offered with max-age=0 for clients, and not at all with less than a second left', () => {
    expect(sharedCacheControl(299)).toBe('public, max-age=0, s-maxage=299');
    expect(sharedCacheControl(1)).toBe('public, max-age=0, s-maxage=1');
    expect(sharedCacheControl(0)).toBe(REGISTRY_CACHE_CONTROL);
    expect(sharedCacheControl(-5)).toBe(REGISTRY_CACHE_CONTROL);
  });

  it('is taken away from an answer behind a token, which becomes private', () => {
    expect(privateCacheControl('public, max-age=0, s-maxage=299')).toBe('private, max-age=0');
    expect(privateCacheControl(REGISTRY_CACHE_CONTROL)).toBe('private, max-age=0, must-revalidate');
    expect(privateCacheControl('public, max-age=31536000, immutable')).toBe('private, max-age=31536000, immutable');
    expect(privateCacheControl('private, no-store')).toBe('private, no-store');
    expect(privateCacheControl(null)).toBe('no-cache');
  });
});
