// Response headers shared by the fast path and the routes: caching, and what a browser
// may do with what hexproxy serves.

/** Registry files change: clients and shared caches revalidate every time (cheap with ETags). */
export const REGISTRY_CACHE_CONTROL = 'public, max-age=0, must-revalidate';

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
