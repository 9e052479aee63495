// The HTTP client for one upstream (undici). It turns every way a fetch can go wrong into
// one of hexproxy's typed errors, so the mirror logic only decides what to serve.
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { UpstreamHealth } from './health.js';
import type { MemoryLease } from './memory-budget.js';
import type { UpstreamBody, UpstreamClient, UpstreamOk, UpstreamResult } from './upstream-client.js';
import { withDeadline } from './body-deadline.js';
import { PackageSlots, packageKeyOf } from './package-slots.js';
import { HexproxyError, NotFoundError, UpstreamTimeoutError, UpstreamTooLargeError, UpstreamUnavailableError, errorMessage } from '../errors.js';

export interface HttpUpstreamClientOptions {
  baseUrl: string;
  /** Connecting, response headers, each gap between body chunks; and the grace before minBytesPerSecond applies. */
  timeoutMs: number;
  /** The average rate a body must keep up once timeoutMs has passed (upstream.minBytesPerSecond). */
  minBytesPerSecond: number;
  /** The key that sets timeoutMs, for error messages (default upstream.timeoutMs). */
  timeoutSetting?: string;
  userAgent: string;
  /** Further attempts after a retryable failure. */
  retries: number;
  /** Told of every answer and every failure, so the online/offline state lives in one place. */
  health: UpstreamHealth;
  /** What the server is called in error messages (default "upstream"; "the builds server" for installs.url). */
  name?: string;
  /** Sent with every request (an organization's `authorization`, the Hex API's `accept`); never logged. */
  headers?: Readonly<Record<string, string>>;
  /** What to do when upstream answers 401 or 403 (an organization's missing or refused key): said in the error. */
  refusedHint?: string;
  /** Told of every attempt's outcome and time to headers (metrics). */
  observe?: (outcome: 'ok' | 'not_modified' | 'not_found' | 'error', seconds: number) => void;
}

/** Connections to upstream, per client (the public repository, each organization, the builds server). */
const CONNECTIONS = 64;

/**
 * Requests one package (its registry file, tarballs and docs) may have in flight at once:
 * an eighth of the pool, so a package whose answers crawl leaves the rest to the others.
 * Pre-warming fetches 8 releases at once by default, so it is not slowed down.
 */
export const REQUESTS_PER_PACKAGE = CONNECTIONS / 8;

export class HttpUpstreamClient implements UpstreamClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: string;
  private readonly slots = new PackageSlots(REQUESTS_PER_PACKAGE);

  constructor(private readonly options: HttpUpstreamClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    const agentOptions = {
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
      connections: CONNECTIONS,
    };
    // Firewalled sites reach the internet through an HTTP proxy named by the usual variables.
    const viaProxy = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => process.env[name]);
    this.dispatcher = viaProxy ? new EnvHttpProxyAgent(agentOptions) : new Agent(agentOptions);
  }

  get baseUrl(): string {
    return this.base;
  }

  private get name(): string {
    return this.options.name ?? 'upstream';
  }

  /** Every request is sent (a cool-down is one of the ways a request fails). */
  refusal(): undefined {
    return undefined;
  }

  /** GETs `path` (relative to the base URL); the body is still to be read. */
  async get(path: string): Promise<UpstreamOk> {
    const result = await this.getIfChanged(path, null);
    if (result.status === 304) throw new UpstreamUnavailableError(`${this.name} answered 304 to an unconditional request for /${path}`);
    return result;
  }

  /**
   * GETs `path` unless it still has `etag`. Resolves with 200 (body still to be read) or
   * 304; throws NotFoundError for 404/410 and an upstream error for anything else. Retries
   * connection failures, 5xx and 429 with backoff; not timeouts, which already waited long.
   */
  async getIfChanged(path: string, etag: string | null): Promise<UpstreamResult> {
    const { health } = this.options;
    const coolingDown = health.coolingDownUntil();
    if (coolingDown !== undefined) {
      throw new UpstreamUnavailableError(
        `${this.name} failed repeatedly and is not asked again before ${new Date(coolingDown).toISOString()} (upstream.cooldownSeconds)`,
      );
    }
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.attempt(path, etag);
      if (!('retry' in outcome)) {
        health.succeeded();
        return outcome;
      }
      const delay = attempt < this.options.retries ? retryDelay(attempt, outcome.retryAfter) : undefined;
      if (delay === undefined) {
        // Only a request that failed after its retries counts towards the cool-down.
        health.failed(outcome.error);
        throw outcome.error;
      }
      await sleep(delay);
    }
  }

  private async attempt(path: string, etag: string | null): Promise<UpstreamResult | { retry: true; error: HexproxyError; retryAfter?: string }> {
    const url = `${this.base}/${path.replace(/^\/+/, '')}`;
    // The client's own headers may name what it accepts (the Hex API's clients: one format each).
    const headers: Record<string, string> = { accept: '*/*', ...this.options.headers, 'user-agent': this.options.userAgent };
    if (etag) headers['if-none-match'] = etag;
    // Held until the body is done with: one slow package cannot take every connection.
    const release = await this.slots.acquire(packageKeyOf(path));
    let bodyHandedOver = false;
    try {
      return await this.send(url, path, headers, () => {
        bodyHandedOver = true;
        return release;
      });
    } finally {
      if (!bodyHandedOver) release();
    }
  }

  /** `handOver` is called when a 200's body takes over the package slot (returning its release). */
  private async send(
    url: string,
    path: string,
    headers: Record<string, string>,
    handOver: () => () => void,
  ): Promise<UpstreamResult | { retry: true; error: HexproxyError; retryAfter?: string }> {
    let response: Dispatcher.ResponseData;
    const started = performance.now();
    const observe = this.options.observe;
    try {
      response = await request(url, { method: 'GET', headers, dispatcher: this.dispatcher });
    } catch (error: unknown) {
      observe?.('error', (performance.now() - started) / 1000);
      const failure = toUpstreamError(error, `/${path}`, this.name);
      if (!isTransient(error)) {
        this.options.health.failed(failure);
        throw failure;
      }
      return { retry: true, error: failure };
    }
    const { statusCode } = response;
    observe?.(
      statusCode === 200 ? 'ok' : statusCode === 304 ? 'not_modified' : statusCode === 404 || statusCode === 410 ? 'not_found' : 'error',
      (performance.now() - started) / 1000,
    );
    if (statusCode >= 500 || statusCode === 429) {
      await response.body.dump().catch(() => undefined);
      const retryAfter = header(response.headers, 'retry-after');
      return {
        retry: true,
        error: new UpstreamUnavailableError(`${this.name} answered ${statusCode} for /${path}${retryAfter ? ` (retry after ${retryAfter})` : ''}`),
        ...(retryAfter !== undefined && { retryAfter }),
      };
    }
    if (statusCode === 200) {
      const contentLength = numberHeader(response.headers, 'content-length');
      return {
        status: 200,
        etag: header(response.headers, 'etag'),
        contentType: header(response.headers, 'content-type'),
        contentLength,
        body: withDeadline(response.body, {
          startedAt: started,
          graceMs: this.options.timeoutMs,
          minBytesPerSecond: this.options.minBytesPerSecond,
          graceSetting: this.options.timeoutSetting ?? 'upstream.timeoutMs',
          what: `/${path}`,
          contentLength,
          onClose: handOver(),
        }),
      };
    }
    await response.body.dump().catch(() => undefined);
    if (statusCode === 304) return { status: 304 };
    if (statusCode === 404 || statusCode === 410) throw new NotFoundError(`${this.name} has no /${path}`);
    if (statusCode === 401 || statusCode === 403) {
      // The path as upstream has it (/repos/ORG/…): the organization's client asks below its base URL.
      const hint = this.options.refusedHint ?? `${this.name} asks for credentials hexproxy does not have for it`;
      throw new UpstreamUnavailableError(`${this.name} refused ${new URL(url).pathname} (${statusCode}): ${hint}`);
    }
    throw new UpstreamUnavailableError(`${this.name} answered ${statusCode} for /${path}`);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

// The retries are written here rather than left to undici's RetryAgent, which would change
// what clients see: it waits out any Retry-After up to its maxTimeout (this gives up at once
// on one longer than MAX_RETRY_AFTER_MS), resumes a body cut short with Range requests (here
// a broken body fails its fetch, to be fetched whole and checked again), and retries inside
// one dispatch, out of sight of the per-attempt metrics (observe) and the package slot that
// is given back while waiting to retry.
const MAX_RETRY_AFTER_MS = 10_000;

// Failures worth another attempt: the connection broke. A timeout has already made the
// client wait a full timeout, and a name that does not resolve will not resolve in 100 ms.
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function isTransient(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  const causeCode = error instanceof Error && error.cause instanceof Error && 'code' in error.cause ? String(error.cause.code) : '';
  return TRANSIENT_CODES.has(code) || TRANSIENT_CODES.has(causeCode);
}

/**
 * Exponential backoff with jitter (about 100 ms, 400 ms, 1.6 s), or what Retry-After asks
 * for; undefined when upstream asks for longer than is worth holding a client for.
 */
export function retryDelay(attempt: number, retryAfter: string | undefined): number | undefined {
  if (retryAfter !== undefined) {
    const seconds = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter.trim()) * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(seconds)) return seconds > MAX_RETRY_AFTER_MS ? undefined : Math.max(0, seconds);
  }
  const base = 100 * 4 ** attempt;
  return Math.round(base / 2 + Math.random() * (base / 2));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads a whole body, refusing more than maxBytes (announced or actual). With a lease,
 * every byte kept is taken from its budget first, and the read stops when the budget
 * stops the lease.
 */
export async function readBody(result: UpstreamOk, maxBytes: number, what: string, lease?: MemoryLease): Promise<Buffer> {
  if (result.contentLength !== undefined && result.contentLength > maxBytes) {
    await result.body.dump().catch(() => undefined);
    throw new UpstreamTooLargeError(`${what} from upstream is ${result.contentLength} bytes, over the limit of ${maxBytes} bytes`);
  }
  const stop = (): void => result.body.destroy(lease?.signal.reason instanceof Error ? lease.signal.reason : undefined);
  lease?.signal.addEventListener('abort', stop, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    if (lease?.signal.aborted) stop();
    for await (const chunk of readChunks(result.body, what)) {
      size += chunk.length;
      if (size > maxBytes) throw new UpstreamTooLargeError(`${what} from upstream is over the limit of ${maxBytes} bytes`);
      lease?.grow(chunk.length);
      chunks.push(chunk);
    }
  } catch (error: unknown) {
    // An unread body holds its upstream connection: let it go.
    result.body.destroy();
    throw error;
  } finally {
    lease?.signal.removeEventListener('abort', stop);
  }
  // One buffer of the whole body, then the chunks are dropped: both are held for a moment.
  lease?.grow(size);
  const body = Buffer.concat(chunks, size);
  lease?.shrink(size);
  return body;
}

/** Iterates a body, mapping mid-body failures (timeouts, resets) to upstream errors. */
export async function* readChunks(body: UpstreamBody, what: string): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (error: unknown) {
    throw toUpstreamError(error, what);
  }
}

/** `name`: what the server is called in the message ("upstream", "the builds server"). */
export function toUpstreamError(error: unknown, what: string, name = 'upstream'): HexproxyError {
  if (error instanceof HexproxyError) return error;
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new UpstreamTimeoutError(`${name} timed out on ${what}`, { cause: error });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UpstreamUnavailableError(`${name}'s host name could not be resolved (DNS) for ${what}`, { cause: error });
  }
  if (code === 'ECONNREFUSED') return new UpstreamUnavailableError(`${name} refused the connection for ${what}`, { cause: error });
  const causeCode = error instanceof Error && error.cause instanceof Error && 'code' in error.cause ? String(error.cause.code) : '';
  const detail = [code, causeCode].filter(Boolean).join('/') || errorMessage(error);
  return new UpstreamUnavailableError(`${name} connection failed for ${what} (${detail})`, { cause: error });
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function numberHeader(headers: Dispatcher.ResponseData['headers'], name: string): number | undefined {
  const value = header(headers, name);
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
