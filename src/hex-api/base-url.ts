// hexproxy's base URL as a client reached it, for the absolute links of Hex API answers
// (html_url, location): X-Forwarded-Proto and X-Forwarded-Host when a trusted reverse proxy
// (http.trustedProxies) set them and they are sane, else the Host header and the scheme of
// the connection. The web UI works it out the same way for its Set me up page
// (src/ui/viewer.ts baseUrlOf), a layer above this one.
import type { Context } from 'hono';
import type { Env } from '../http/app.js';

// A name or IPv4 address, or an IPv6 address in brackets, and an optional port.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

const first = (value: string | undefined): string | undefined => value?.split(',')[0]?.trim() || undefined;

export function baseUrlOf(c: Context<Env>): string {
  const trusted = c.get('client').viaTrustedProxy;
  const url = new URL(c.req.url);
  const forwardedProto = trusted ? first(c.req.header('x-forwarded-proto'))?.toLowerCase() : undefined;
  const forwardedHost = trusted ? first(c.req.header('x-forwarded-host')) : undefined;
  const host =
    [forwardedHost, c.req.header('host')?.trim(), url.host].find((candidate) => candidate !== undefined && HOST.test(candidate)) ?? 'localhost';
  const proto = forwardedProto === 'http' || forwardedProto === 'https' ? forwardedProto : url.protocol === 'https:' ? 'https' : 'http';
  return `${proto}://${host}`;
}
