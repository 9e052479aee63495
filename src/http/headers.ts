// Cache-Control of each kind of response, shared by the fast path and the routes.

/** Registry files change: clients and shared caches revalidate every time (cheap with ETags). */
export const REGISTRY_CACHE_CONTROL = 'public, max-age=0, must-revalidate';

/** A release's tarball never changes once published. */
export const TARBALL_CACHE_CONTROL = 'public, max-age=31536000, immutable';
