// Docs page tickets: one release's docs, one token (as it is now), until they expire.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DocsTickets, TICKET_LIFETIME_MS, docsTicketKey, type TicketHolder } from '../../src/ui/docs-tickets.js';

const scope = { repository: 'acme', name: 'acme_core', version: '1.0.0' };
const holder: TicketHolder = { name: 'dev-1', sha256: 'a'.repeat(64) };
const key = docsTicketKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

describe('docs page tickets', () => {
  it('open the docs they were issued for, to the token they name, until they expire', () => {
    let now = 1_700_000_000_000;
    const tickets = new DocsTickets(key, () => now);
    const ticket = tickets.issue(scope, holder);
    expect(ticket).toMatch(/^dev-1~[0-9a-z]+~[A-Za-z0-9_-]{43}$/);
    const named = (name: string) => (name === holder.name ? holder : undefined);
    expect(tickets.check(ticket, scope, named)).toEqual({ ok: true, tokenName: 'dev-1' });
    // Another release, package or repository: the MAC does not match.
    expect(tickets.check(ticket, { ...scope, version: '1.0.1' }, named)).toEqual({ ok: false, reason: 'invalid' });
    expect(tickets.check(ticket, { ...scope, name: 'acme_util' }, named)).toEqual({ ok: false, reason: 'invalid' });
    expect(tickets.check(ticket, { ...scope, repository: 'other' }, named)).toEqual({ ok: false, reason: 'invalid' });
    // The token revoked, or another token under the same name: no longer valid.
    expect(tickets.check(ticket, scope, () => undefined)).toEqual({ ok: false, reason: 'invalid' });
    expect(tickets.check(ticket, scope, () => ({ name: 'dev-1', sha256: 'b'.repeat(64) }))).toEqual({ ok: false, reason: 'invalid' });
    // A changed expiry breaks the MAC.
    const [name, , mac] = ticket.split('~');
    expect(tickets.check(`${name}~zzzzzz~${mac}`, scope, named)).toEqual({ ok: false, reason: 'invalid' });
    expect(tickets.check('not a ticket', scope, named)).toEqual({ ok: false, reason: 'malformed' });
    now += TICKET_LIFETIME_MS + 1000;
    expect(tickets.check(ticket, scope, named)).toEqual({ ok: false, reason: 'expired' });
  });

  it('are keyed by hexproxy private key: the same key on a restart, another key elsewhere', () => {
    const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(docsTicketKey(privateKey).equals(docsTicketKey(privateKey))).toBe(true);
    const ticket = new DocsTickets(docsTicketKey(privateKey)).issue(scope, holder);
    expect(new DocsTickets(docsTicketKey(privateKey)).check(ticket, scope, () => holder).ok).toBe(true);
    expect(new DocsTickets(key).check(ticket, scope, () => holder)).toEqual({ ok: false, reason: 'invalid' });
  });
});
