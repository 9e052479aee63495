// Who a client is: the address failed authentications are counted against, and whether
// its X-Forwarded-Host and X-Forwarded-Proto may be believed. It is the socket's peer,
// unless that peer is a trusted proxy (http.trustedProxies): then it is the right-most
// X-Forwarded-For address that is not itself a trusted proxy, the one the nearest
// trusted proxy saw. Anything a client writes into X-Forwarded-For sits left of that and
// is never reached. With no trusted proxies (the default) the headers are not read at all.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { normalizeAddress as normalize, parseTrustedProxy } from '../config/trusted-proxy.js';

export interface Client {
  address: string;
  /** Whether the socket's peer is a trusted proxy, whose X-Forwarded-* headers are believed. */
  viaTrustedProxy: boolean;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly any: boolean;

  /** `entries` are validated by the config schema (parseTrustedProxy). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseTrustedProxy(entry);
      if (parsed) this.list.addSubnet(parsed.network, parsed.prefix, parsed.family);
    }
    this.any = entries.length > 0;
  }

  private trusted(address: string): boolean {
    const version = isIP(address);
    return version !== 0 && this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }

  /** The client behind a request from `peer`; `forwardedFor` gives its X-Forwarded-For (all of them, joined by ","), read only from a trusted peer. */
  clientOf(peer: string | undefined, forwardedFor: () => string | undefined): Client {
    const address = peer === undefined ? 'unknown' : normalize(peer);
    if (!this.any || !this.trusted(address)) return { address, viaTrustedProxy: false };
    let client = address;
    const hops = forwardedFor()?.split(',') ?? [];
    for (let i = hops.length - 1; i >= 0; i -= 1) {
      const hop = hopAddress(hops[i] as string);
      // Not an address: a trusted proxy would not have written it; believe nothing left of it.
      if (hop === undefined) break;
      client = hop;
      if (!this.trusted(hop)) break;
    }
    return { address: client, viaTrustedProxy: true };
  }
}

/** Sets the request's Client (c.get('client')) for the routes: one place decides who a client is. */
export function clientContext(
  proxies: TrustedProxies,
): MiddlewareHandler<{ Bindings: { incoming?: IncomingMessage }; Variables: { client: Client } }> {
  return async (c, next) => {
    c.set(
      'client',
      proxies.clientOf(c.env?.incoming?.socket.remoteAddress, () => c.req.header('x-forwarded-for')),
    );
    await next();
  };
}

/** An X-Forwarded-For element: an address, possibly with a port ("10.0.0.1:5000", "[::1]:5000"). */
function hopAddress(raw: string): string | undefined {
  const hop = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  const address = normalize(bracketed?.[1] ?? withPort?.[1] ?? hop);
  return isIP(address) === 0 ? undefined : address;
}
