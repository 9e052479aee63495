// Whether upstream answered lately. Logged once per transition, never per request.
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';

export type UpstreamState = 'online' | 'offline' | 'unknown';

export class UpstreamHealth {
  private current: UpstreamState = 'unknown';
  private lastContactAt: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly log: Logger, private readonly url: string) {}

  get state(): UpstreamState {
    return this.current;
  }

  get lastContact(): number | undefined {
    return this.lastContactAt;
  }

  get lastFailure(): string | undefined {
    return this.lastError;
  }

  /** Upstream answered (any HTTP answer that is not a server error). */
  succeeded(): void {
    this.lastContactAt = Date.now();
    if (this.current === 'online') return;
    if (this.current === 'offline') this.log.info({ upstream: this.url }, 'upstream is back online');
    this.current = 'online';
  }

  failed(error: unknown): void {
    this.lastError = errorMessage(error);
    if (this.current === 'offline') return;
    this.current = 'offline';
    this.log.warn({ upstream: this.url, err: this.lastError }, 'upstream is offline; serving from cache');
  }
}
