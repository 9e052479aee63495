// Response headers shared by the fast path and the routes: caching, and what a browser
// may do with what hexproxy serves.

/** Registry files change: clients and shared caches revalidate every time (cheap with ETags). */
export const REGISTRY_CACHE_CONTROL = 'public, max-age=0, must-revalidate';

/**
 * A registry (or pass-through) file as an anonymous client gets it, with `secondsLeft` of
 * hexproxy's own freshness (cache.registryTtlSeconds) left. Clients still revalidate every
 * time (max-age=0: they cannot tell how long a cache in front kept it, nginx sends no Age);
 * a shared cache in front (docs/behind-nginx.md) may answer for it until hexproxy itself
 * would ask upstream again, so what a client gets is never older than the TTL. It may serve
 * it stale when hexproxy cannot be reached (no must-revalidate), as hexproxy does when
 * upstream cannot. With nothing left (a stale copy, an expired one, offline) it is the
 * plain revalidate-always answer, which nginx does not store.
 */
export function sharedCacheControl(secondsLeft: number): string {
  return secondsLeft >= 1 ? `public, max-age=0, s-maxage=${Math.floor(secondsLeft)}` : REGISTRY_CACHE_CONTROL;
}

/** Whole seconds of freshness left to a file upstream confirmed at `checkedAt` (ms), under a TTL of `ttlMs`: rounded down, never more than is left. */
export const secondsLeft = (checkedAt: number, ttlMs: number, now: number): number => Math.floor((checkedAt + ttlMs - now) / 1000);

/**
 * An answer behind a token (an organization, a hosted repository, a public repository under
 * auth.requireToken): `private`, so no shared cache keeps it, whatever lifetime it had.
 */
export function privateCacheControl(cacheControl: string | null): string {
  return (cacheControl ?? 'no-cache').replace(/^public\b/, 'private').replace(/,\s*s-maxage=\d+/, '');
}

/** A release's tarball never changes once published. */
export const TARBALL_CACHE_CONTROL = 'public, max-age=31536000, immutable';

// hexproxy decides the Content-Type of everything it serves from upstream by what the path
// is, whatever upstream sent: an upstream (or anyone on the path of an http:// one) that
// answers text/html or SVG must not get a page run with hexproxy's origin.
export const REGISTRY_CONTENT_TYPE = 'application/octet-stream';
export const TARBALL_CONTENT_TYPE = 'application/x-tar';
export const DOCS_CONTENT_TYPE = 'application/gzip';

/** /installs/…: the build lists are CSV (plain text a browser never runs); their .signed files and the builds are bytes. */
export function installsContentType(path: string): string {
  return path.endsWith('.csv') ? 'text/csv' : 'application/octet-stream';
}

/** On every response: browsers take the Content-Type as given and never guess one that renders. */
export const NOSNIFF = 'nosniff';

/**
 * The Content-Security-Policy of every response but the UI's pages (which have their own):
 * opened as a document anyway, a file, error or JSON body gets an opaque origin, runs no
 * script and loads nothing.
 */
export const SANDBOX_POLICY = "default-src 'none'; sandbox";

/** Files from the repository routes are saved by a browser, never shown. */
export const ATTACHMENT = 'attachment';

/**
 * On a registry file of the re-signed view that the policy took releases out of: which (and
 * why, in a word) for a package file, how many for /names and /versions. Mix and rebar3 only
 * see the releases that are left; this, and the access log line that repeats it, tell why.
 */
export const POLICY_HIDDEN_HEADER = 'x-hexproxy-policy-hidden';
