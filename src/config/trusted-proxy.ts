// The entries of http.trustedProxies: parsed here, where the config schema checks them, and
// used by the HTTP layer to tell who a client is (src/http/client-address.ts).
import { isIP } from 'node:net';

/** An entry of http.trustedProxies: an address ("10.1.2.3", "::1") or a CIDR block ("10.0.0.0/8", "fd00::/8"). */
export function parseTrustedProxy(entry: string): { network: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
  if (!match) return undefined;
  const network = normalizeAddress(match[1] as string);
  const version = isIP(network);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  const prefix = match[2] === undefined ? max : Number(match[2]);
  return prefix <= max ? { network, prefix, family } : undefined;
}

/** IPv4-mapped IPv6 ("::ffff:10.0.0.1", as a dual-stack socket reports IPv4 peers) as plain IPv4. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}
