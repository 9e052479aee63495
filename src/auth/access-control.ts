// Who may read which repository, who may use the admin API and who may scrape /metrics.
// One decision per request, from the `authorization` header and the client's address
// (src/http/client-address.ts). Unknown tokens are counted per address; past
// auth.failuresPerMinute that address's unknown tokens get 429, while its valid tokens
// still work: the count slows guessing down and keeps it loud in the log, but a secret is
// 256 random bits, so no number of guesses a limit would allow could find one, and
// refusing valid tokens would only let one client (or everyone behind a shared address)
// lock the others out.
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

/**
 * What a request wants: read a repository, write to one (publish, revert, retire in a hosted
 * repository), use the admin API, scrape /metrics, or only say whose token it is (`token`:
 * any known token, as GET /api/users/me asks).
 */
export type Access = 'read' | 'write' | 'admin' | 'metrics' | 'token';

export class AccessControl {
  private readonly failures = new LRUCache<string, { count: number; resetAt: number }>({ max: 10_000 });

  constructor(private readonly options: AccessOptions) {}

  /** Whether a request with no credentials may read `repository` (the hot path asks). */
  anonymousMayRead(repository: string): boolean {
    return !this.options.requireToken && repository === this.options.publicRepository;
  }

  /** Whether `token` (undefined: no token) may read `repository`: the rule every route and admin operation follows. */
  mayRead(token: TokenRecord | undefined, repository: string): boolean {
    return this.anonymousMayRead(repository) || (token?.read.includes(repository) ?? false) || this.mayWrite(token, repository);
  }

  /** Whether `token` may publish to `repository` (and revert and retire there): never anonymously. */
  mayWrite(token: TokenRecord | undefined, repository: string): boolean {
    return token?.write?.includes(repository) ?? false;
  }

  /**
   * The token allowed to do `access` on `repository` (undefined for an allowed anonymous
   * read); throws 401 (no or unknown credentials), 403 (not this repository, or no write,
   * admin or metrics right) or 429 (an unknown token from an address past its failures).
   */
  check(authorization: string | undefined, address: string, access: 'write' | 'token', repository?: string): TokenRecord;
  check(authorization: string | undefined, address: string, access: Access, repository?: string): TokenRecord | undefined;
  check(authorization: string | undefined, address: string, access: Access, repository?: string): TokenRecord | undefined {
    const secret = secretFrom(authorization);
    if (secret === undefined) {
      if (access === 'read' && repository !== undefined && this.anonymousMayRead(repository)) return undefined;
      throw new UnauthorizedError(missingTokenMessage(access, repository));
    }
    // Looked up first: a valid token works even from an address being refused for bad ones.
    const token = this.options.tokens.find(secret);
    if (!token) {
      this.refuseIfBlocked(address);
      this.countFailure(address);
      throw new UnauthorizedError('the token presented is not known (revoked, or mistyped); ask for a new one with hexproxy token create');
    }
    if (access === 'admin' && !token.admin) throw new ForbiddenError(`token ${token.name} has no admin rights`);
    if (access === 'metrics' && token.metrics !== true && !token.admin) {
      throw new ForbiddenError(`token ${token.name} may not scrape /metrics; create a token for it with hexproxy token create NAME --metrics`);
    }
    if (access === 'read' && repository !== undefined && !this.mayRead(token, repository)) {
      throw new ForbiddenError(`token ${token.name} may not read repository ${repository}`);
    }
    if (access === 'write' && (repository === undefined || !this.mayWrite(token, repository))) {
      throw new ForbiddenError(
        `token ${token.name} may not publish to repository ${repository ?? '?'}; a token for it is made with hexproxy token create NAME --write ${repository ?? 'REPO'}`,
      );
    }
    return token;
  }

  private refuseIfBlocked(address: string): void {
    const entry = this.failures.get(address);
    const now = Date.now();
    if (entry && entry.resetAt > now && entry.count >= this.options.failuresPerMinute) {
      throw new TooManyFailuresError(
        `too many failed authentication attempts from ${address}; try again later (valid tokens are still accepted)`,
        Math.ceil((entry.resetAt - now) / 1000),
      );
    }
  }

  private countFailure(address: string): void {
    const now = Date.now();
    const entry = this.failures.get(address);
    if (!entry || entry.resetAt <= now) this.failures.set(address, { count: 1, resetAt: now + 60_000 });
    else entry.count += 1;
  }
}

function missingTokenMessage(access: Access, repository: string | undefined): string {
  switch (access) {
    case 'admin':
      return 'the admin API needs a token with admin rights (authorization header)';
    case 'metrics':
      return '/metrics needs a token with the metrics right (hexproxy token create NAME --metrics) or admin rights; Prometheus sends it as a bearer token (authorization: credentials_file in its scrape config)';
    case 'write':
      return `publishing to repository ${repository ?? '?'} needs a token with the write right (hexproxy token create NAME --write ${repository ?? 'REPO'}); Mix sends it from HEX_API_KEY, rebar3 from the repo's api_key`;
    case 'token':
      return 'this needs a hexproxy token; Mix sends it from HEX_API_KEY (hexproxy token create NAME makes one)';
    case 'read':
      return `repository ${repository ?? '?'} needs a token; send it in the authorization header (mix --auth-key, rebar3 repo_key) or as basic auth in the URL`;
  }
}
