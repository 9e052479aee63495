// The HTTP client for one upstream (undici). It turns every way a fetch can go wrong into
// one of hexproxy's typed errors, so the mirror logic only decides what to serve.
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { UpstreamHealth } from './health.js';
import {
  HexproxyError,
  NotFoundError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
  UpstreamUnavailableError,
  errorMessage,
} from '../errors.js';

export interface UpstreamClientOptions {
  baseUrl: string;
  timeoutMs: number;
  userAgent: string;
  /** Told of every answer and every failure, so the online/offline state lives in one place. */
  health: UpstreamHealth;
}

export type UpstreamBody = AsyncIterable<Uint8Array> & { dump(): Promise<void> };

export interface UpstreamOk {
  status: 200;
  etag: string | undefined;
  contentType: string | undefined;
  contentLength: number | undefined;
  body: UpstreamBody;
}

export type UpstreamResult = UpstreamOk | { status: 304 };

export class UpstreamClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: string;

  constructor(private readonly options: UpstreamClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    const agentOptions = {
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
      connections: 64,
    };
    // Firewalled sites reach the internet through an HTTP proxy named by the usual variables.
    const viaProxy = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => process.env[name]);
    this.dispatcher = viaProxy ? new EnvHttpProxyAgent(agentOptions) : new Agent(agentOptions);
  }

  get baseUrl(): string {
    return this.base;
  }

  /** GETs `path` (relative to the base URL); the body is still to be read. */
  async get(path: string): Promise<UpstreamOk> {
    const result = await this.getIfChanged(path, null);
    if (result.status === 304) throw new UpstreamUnavailableError(`upstream answered 304 to an unconditional request for /${path}`);
    return result;
  }

  /**
   * GETs `path` unless it still has `etag`. Resolves with 200 (body still to be read) or
   * 304; throws NotFoundError for 404/410 and an upstream error for anything else.
   */
  async getIfChanged(path: string, etag: string | null): Promise<UpstreamResult> {
    const url = `${this.base}/${path.replace(/^\/+/, '')}`;
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent, accept: '*/*' };
    if (etag) headers['if-none-match'] = etag;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: 'GET', headers, dispatcher: this.dispatcher });
    } catch (error: unknown) {
      const failure = toUpstreamError(error, `/${path}`);
      this.options.health.failed(failure);
      throw failure;
    }
    const { statusCode } = response;
    // Server errors and throttling count as upstream being down; any other answer as up.
    if (statusCode >= 500 || statusCode === 429) this.options.health.failed(`upstream answered ${statusCode} for /${path}`);
    else this.options.health.succeeded();
    if (statusCode === 200) {
      return {
        status: 200,
        etag: header(response.headers, 'etag'),
        contentType: header(response.headers, 'content-type'),
        contentLength: numberHeader(response.headers, 'content-length'),
        body: response.body,
      };
    }
    await response.body.dump().catch(() => undefined);
    if (statusCode === 304) return { status: 304 };
    if (statusCode === 404 || statusCode === 410) throw new NotFoundError(`upstream has no /${path}`);
    const retryAfter = header(response.headers, 'retry-after');
    throw new UpstreamUnavailableError(`upstream answered ${statusCode} for /${path}${retryAfter ? ` (retry after ${retryAfter})` : ''}`);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** Reads a whole body, refusing more than maxBytes (announced or actual). */
export async function readBody(result: UpstreamOk, maxBytes: number, what: string): Promise<Buffer> {
  if (result.contentLength !== undefined && result.contentLength > maxBytes) {
    await result.body.dump().catch(() => undefined);
    throw new UpstreamTooLargeError(`${what} from upstream is ${result.contentLength} bytes, over the limit of ${maxBytes}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of readChunks(result.body, what)) {
    size += chunk.length;
    if (size > maxBytes) {
      await result.body.dump().catch(() => undefined);
      throw new UpstreamTooLargeError(`${what} from upstream is over the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Iterates a body, mapping mid-body failures (timeouts, resets) to upstream errors. */
export async function* readChunks(body: UpstreamBody, what: string): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (error: unknown) {
    throw toUpstreamError(error, what);
  }
}

export function toUpstreamError(error: unknown, what: string): HexproxyError {
  if (error instanceof HexproxyError) return error;
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new UpstreamTimeoutError(`upstream timed out on ${what}`, { cause: error });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new UpstreamUnavailableError(`upstream host could not be resolved (DNS) for ${what}`, { cause: error });
  }
  if (code === 'ECONNREFUSED') return new UpstreamUnavailableError(`upstream refused the connection for ${what}`, { cause: error });
  const causeCode = error instanceof Error && error.cause instanceof Error && 'code' in error.cause ? String(error.cause.code) : '';
  const detail = [code, causeCode].filter(Boolean).join('/') || errorMessage(error);
  return new UpstreamUnavailableError(`upstream connection failed for ${what} (${detail})`, { cause: error });
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
