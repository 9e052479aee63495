// Whether upstream answered lately. Logged once per transition, never per request.
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';

export type UpstreamState = 'online' | 'offline' | 'unknown';

/** Consecutive failed requests after which upstream is left alone for the cool-down. */
export const FAILURES_BEFORE_COOLDOWN = 3;

export class UpstreamHealth {
  private current: UpstreamState = 'unknown';
  private lastContactAt: number | undefined;
  private lastError: string | undefined;
  private failuresInARow = 0;
  private coolDownUntil: number | undefined;

  /** `name`: what the server is called in log lines ("upstream", "the builds server"). */
  constructor(
    private readonly log: Logger,
    private readonly url: string,
    private readonly cooldownMs = 0,
    private readonly name = 'upstream',
  ) {}

  /** When upstream is being left alone after repeated failures, until when. */
  coolingDownUntil(): number | undefined {
    if (this.coolDownUntil === undefined) return undefined;
    if (Date.now() < this.coolDownUntil) return this.coolDownUntil;
    // Cool-down over: the next request probes upstream.
    this.coolDownUntil = undefined;
    return undefined;
  }

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
    this.failuresInARow = 0;
    this.coolDownUntil = undefined;
    if (this.current === 'online') return;
    if (this.current === 'offline') this.log.info({ upstream: this.url }, `${this.name} is back online`);
    this.current = 'online';
  }

  failed(error: unknown): void {
    this.lastError = errorMessage(error);
    this.failuresInARow += 1;
    if (this.cooldownMs > 0 && this.failuresInARow >= FAILURES_BEFORE_COOLDOWN && this.coolDownUntil === undefined) {
      this.coolDownUntil = Date.now() + this.cooldownMs;
      this.log.debug(
        { upstream: this.url, until: new Date(this.coolDownUntil).toISOString() },
        `${this.name} keeps failing; leaving it alone for the cool-down`,
      );
    }
    if (this.current === 'offline') return;
    this.current = 'offline';
    this.log.warn({ upstream: this.url, err: this.lastError }, `${this.name} is offline; serving from cache`);
  }
}
