// Who is looking at the UI, what they may see, and the address their browser used.
import type { AccessControl } from '../auth/access-control.js';
import { secretFrom } from '../auth/credentials.js';
import type { TokenRecord } from '../auth/token-store.js';

export interface Viewer {
  /** The token the request carried (basic auth from the browser, or any form hexproxy accepts). */
  token: TokenRecord | undefined;
  /** The repositories this viewer may read, in `served` order (the public one first). */
  repositories: string[];
  /** Whether they may read every repository hexproxy serves (then nothing is held back). */
  everything: boolean;
}

/**
 * Judges a UI request with the same rules, counters and answers (401, 429) as the
 * repository routes: a token, if one is sent, must be known; without one, the UI is open
 * only when anonymous clients may read the public repository (auth.requireToken off).
 */
export function viewerOf(
  access: AccessControl,
  authorization: string | undefined,
  address: string,
  publicRepository: string,
  served: readonly string[],
): Viewer {
  let token: TokenRecord | undefined;
  if (secretFrom(authorization) !== undefined) {
    token = access.check(authorization, address, 'read');
  } else {
    // Throws 401 (with WWW-Authenticate: Basic) when anonymous reads are off.
    access.check(undefined, address, 'read', publicRepository);
  }
  const repositories = served.filter((repo) => access.mayRead(token, repo));
  return { token, repositories, everything: repositories.length === served.length };
}

export const mayRead = (viewer: Viewer, repository: string): boolean => viewer.repositories.includes(repository);

// A host as it may appear in Host or X-Forwarded-Host: a name or IPv4 address, or an IPv6
// address in brackets, and an optional port. Anything else is ignored.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

const first = (value: string | undefined): string | undefined => value?.split(',')[0]?.trim() || undefined;

/**
 * The base URL the browser used to reach hexproxy: X-Forwarded-Proto and X-Forwarded-Host
 * when a trusted reverse proxy (http.trustedProxies) set them (and they are sane), else
 * the Host header and the scheme of the connection. Used only to fill in commands on the page.
 */
export function baseUrlOf(header: (name: string) => string | undefined, requestUrl: string, viaTrustedProxy: boolean): string {
  const url = new URL(requestUrl);
  const forwardedProto = viaTrustedProxy ? first(header('x-forwarded-proto'))?.toLowerCase() : undefined;
  const forwardedHost = viaTrustedProxy ? first(header('x-forwarded-host')) : undefined;
  const host = [forwardedHost, header('host')?.trim(), url.host].find((candidate) => candidate !== undefined && HOST.test(candidate)) ?? 'localhost';
  const proto = forwardedProto === 'http' || forwardedProto === 'https' ? forwardedProto : url.protocol === 'https:' ? 'https' : 'http';
  return `${proto}://${host}`;
}

/** Whether the viewer's token may publish to `repository` (hexproxy token create NAME --write REPO). */
export const mayWrite = (access: Pick<AccessControl, 'mayWrite'>, viewer: Viewer, repository: string): boolean =>
  access.mayWrite(viewer.token, repository);
