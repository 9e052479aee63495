// Cross-site request forgery: browsers send the basic-auth credentials they hold for
// hexproxy (an admin who signed in to the UI) with requests that pages of any other origin
// make, and a no-cors POST needs no preflight. No other origin has any business changing
// anything here, so every request that may change state (any method but GET and HEAD) is
// refused when the browser says another origin sent it, before its token is looked at (a
// 401 would have the browser send it again with the credentials). Clients that are not
// browsers (curl, Mix, rebar3, CI agents) send neither header and are not affected.
import type { MiddlewareHandler } from 'hono';
import { ForbiddenError } from '../errors.js';

/** Sec-Fetch-Site values of requests that no other origin made: the page's own, or the user's (typed, bookmarked). */
const OWN_SITE = new Set(['same-origin', 'none']);

export function refuseCrossSite(): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const reason = crossSiteReason(c.req.header('sec-fetch-site'), c.req.header('origin'), c.req.header('host') ?? new URL(c.req.url).host);
      if (reason !== undefined)
        throw new ForbiddenError(`cross-site request refused: ${reason}; hexproxy changes nothing for pages of other origins`);
    }
    await next();
  };
}

/**
 * Why a request was sent by a page of another origin, or undefined when nothing says so.
 * `host`: the Host the request was sent to. Same-site is not enough (another port of the
 * same host is the same site), nor is Origin: null (a sandboxed frame, a data: URL, a
 * redirect from another origin). The scheme is not compared: behind a reverse proxy that
 * terminates TLS, the browser's origin is https:// and hexproxy sees plain HTTP.
 */
export function crossSiteReason(fetchSite: string | undefined, origin: string | undefined, host: string): string | undefined {
  if (fetchSite !== undefined && !OWN_SITE.has(fetchSite.trim().toLowerCase())) {
    return `the browser says a page of another origin sent it (Sec-Fetch-Site: ${fetchSite})`;
  }
  if (origin !== undefined && !sameHost(origin, host)) {
    return `Origin ${origin} is not hexproxy's own (the request was sent to Host ${host}; behind a reverse proxy, pass the Host header on unchanged)`;
  }
  return undefined;
}

function sameHost(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    // The Host header read with the origin's scheme, so that default ports compare equal.
    return url.host === new URL(`${url.protocol}//${host}`).host;
  } catch {
    // "null", or anything that is not an origin.
    return false;
  }
}
