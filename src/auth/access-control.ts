// Who may read which repository, and who may use the admin API. One decision per request,
// from the `authorization` header and the client's address; failed attempts are counted
// per address and answered with 429 past auth.failuresPerMinute.
import { LRUCache } from 'lru-cache';
import { ForbiddenError, TooManyFailuresError, UnauthorizedError } from '../errors.js';
import { secretFrom } from './credentials.js';
import type { TokenRecord, TokenStore } from './token-store.js';

export interface AccessOptions {
  tokens: TokenStore;
  /** The public repository's name ("hexpm"); anonymous clients may read it unless requireToken. */
  publicRepository: string;
  requireToken: boolean;
  failuresPerMinute: number;
}

export type Access = 'read' | 'admin';

export class AccessControl {
  private readonly failures = new LRUCache<string, { count: number; resetAt: number }>({ max: 10_000 });

  constructor(private readonly options: AccessOptions) {}

  /** Whether a request with no credentials may read `repository` (the hot path asks). */
  anonymousMayRead(repository: string): boolean {
    return !this.options.requireToken && repository === this.options.publicRepository;
  }

  /**
   * The token allowed to do `access` on `repository` (undefined for an allowed anonymous
   * read); throws 401 (no or unknown credentials), 403 (not this repository) or 429.
   */
  check(authorization: string | undefined, address: string, access: Access, repository?: string): TokenRecord | undefined {
    const secret = secretFrom(authorization);
    if (secret === undefined) {
      if (access === 'read' && repository !== undefined && this.anonymousMayRead(repository)) return undefined;
      throw new UnauthorizedError(access === 'admin'
        ? 'the admin API needs a token with admin rights (authorization header)'
        : `repository ${repository ?? '?'} needs a token; send it in the authorization header (mix --auth-key, rebar3 repo_key) or as basic auth in the URL`);
    }
    this.refuseIfBlocked(address);
    const token = this.options.tokens.find(secret);
    if (!token) {
      this.countFailure(address);
      throw new UnauthorizedError('the token presented is not known (revoked, or mistyped); ask for a new one with hexproxy token create');
    }
    if (access === 'admin' && !token.admin) throw new ForbiddenError(`token ${token.name} has no admin rights`);
    if (access === 'read' && repository !== undefined && !token.read.includes(repository) && !this.anonymousMayRead(repository)) {
      throw new ForbiddenError(`token ${token.name} may not read repository ${repository}`);
    }
    return token;
  }

  private refuseIfBlocked(address: string): void {
    const entry = this.failures.get(address);
    const now = Date.now();
    if (entry && entry.resetAt > now && entry.count >= this.options.failuresPerMinute) {
      throw new TooManyFailuresError(`too many failed authentication attempts from ${address}; try again later`, Math.ceil((entry.resetAt - now) / 1000));
    }
  }

  private countFailure(address: string): void {
    const now = Date.now();
    const entry = this.failures.get(address);
    if (!entry || entry.resetAt <= now) this.failures.set(address, { count: 1, resetAt: now + 60_000 });
    else entry.count += 1;
  }
}
