// The last server errors (5xx) hexproxy answered, for the web UI's status page: a small
// ring buffer in memory, fed where errors become responses (src/http/app.ts, the UI's own
// error handler). Each entry remembers which repository it concerns, so a viewer is only
// shown errors of repositories they may read (an upstream error message names the path).
import { HexproxyError } from '../errors.js';

export interface RecentError {
  at: number;
  status: number;
  code: string;
  message: string;
  method: string;
  path: string;
  /**
   * The repository the request was for: the public one's name, an organization's, or
   * undefined when it cannot be told (the admin API): shown only to viewers who may read
   * every repository.
   */
  repository: string | undefined;
}

export class RecentErrors {
  private readonly entries: RecentError[] = [];

  constructor(
    private readonly publicRepository: string,
    private readonly capacity = 20,
  ) {}

  /** Remembers a 5xx answer to `method path`; anything below 500 is ignored. */
  record(error: unknown, status: number, method: string, path: string, now = Date.now()): void {
    if (status < 500) return;
    const code = error instanceof HexproxyError ? error.code : 'internal';
    // Unexpected errors may carry internals (file paths, stack text): the log has them.
    const message = error instanceof HexproxyError ? error.message : 'internal error; see the hexproxy log for details';
    this.entries.push({ at: now, status, code, message, method, path: path.slice(0, 300), repository: this.repositoryOf(path) });
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  /** Newest first, only those about a repository `mayRead` allows (or all when `everything`). */
  list(mayRead: (repository: string) => boolean, everything: boolean): RecentError[] {
    return this.entries.filter((entry) => everything || (entry.repository !== undefined && mayRead(entry.repository))).reverse();
  }

  private repositoryOf(path: string): string | undefined {
    const org = /^\/(?:ui\/)?repos\/([a-z0-9_]+)(?:\/|$)/.exec(path);
    if (org) return org[1];
    if (path.startsWith('/api/')) return undefined;
    return this.publicRepository;
  }
}
