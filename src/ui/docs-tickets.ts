// Tickets for docs pages. Published docs are served with a sandbox policy, so their pages
// have an opaque origin, and a browser sends nothing of the viewer's (no basic-auth
// credentials, no cookies) with what such a page loads: its scripts, styles and the next
// page. So the UI signs the viewer in once, at /ui/docs/REPO/PKG/VERSION/, and sends the
// browser on to /ui/docs/~TICKET/REPO/PKG/VERSION/…, whose relative links stay below it.
// A ticket opens the docs of one release, for one token, until it expires: an HMAC of
// those facts and of the token's stored hash, with a key derived from hexproxy's private
// key (the same on every restart and every instance sharing the key). Revoking the token,
// or taking its right to read the repository, ends its tickets at once. A page's scripts
// can read its ticket, and so can whoever published those docs: it opens nothing they
// cannot read already.
import { createHmac, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';

/** The docs a ticket opens. */
export interface DocsScope {
  repository: string;
  name: string;
  version: string;
}

/** The token a ticket was issued for, as the token file holds it. */
export interface TicketHolder {
  name: string;
  /** The token's stored SHA-256 (never the secret). */
  sha256: string;
}

export type TicketCheck = { ok: true; tokenName: string } | { ok: false; reason: 'malformed' | 'expired' | 'invalid' };

/** How long a ticket opens its docs: a working day; past it, the next page signs in again. */
export const TICKET_LIFETIME_MS = 12 * 60 * 60 * 1000;

// "NAME~EXPIRES~MAC": a token name (letters, digits, . _ -), seconds since the epoch in base 36, 32 bytes of HMAC in base64url.
const TICKET = /^([A-Za-z0-9._-]{1,64})~([0-9a-z]{1,10})~([A-Za-z0-9_-]{43})$/;

/** The ticket key: derived from hexproxy's private key, for this one use. */
export function docsTicketKey(privateKey: KeyObject): Buffer {
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  return Buffer.from(hkdfSync('sha256', der, 'hexproxy', 'docs page tickets v1', 32));
}

export class DocsTickets {
  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
    private readonly lifetimeMs = TICKET_LIFETIME_MS,
  ) {}

  issue(scope: DocsScope, holder: TicketHolder): string {
    const expires = Math.ceil((this.now() + this.lifetimeMs) / 1000).toString(36);
    return `${holder.name}~${expires}~${this.mac(scope, holder, expires)}`;
  }

  /** Whether `ticket` opens `scope` now; `holderNamed` finds the token it names, as it is now. */
  check(ticket: string, scope: DocsScope, holderNamed: (name: string) => TicketHolder | undefined): TicketCheck {
    const parts = TICKET.exec(ticket);
    if (!parts) return { ok: false, reason: 'malformed' };
    const [, name = '', expires = '', mac = ''] = parts;
    const holder = holderNamed(name);
    const expected = holder && this.mac(scope, holder, expires);
    if (expected === undefined || !timingSafeEqual(Buffer.from(expected), Buffer.from(mac))) return { ok: false, reason: 'invalid' };
    if (parseInt(expires, 36) * 1000 <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, tokenName: name };
  }

  private mac(scope: DocsScope, holder: TicketHolder, expires: string): string {
    return createHmac('sha256', this.key)
      .update(JSON.stringify([scope.repository, scope.name, scope.version, holder.name, holder.sha256, expires]))
      .digest('base64url');
  }
}
