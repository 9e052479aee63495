// The one place where errors become HTTP responses and log lines.
import { HexproxyError } from '../errors.js';
import type { Logger } from '../log.js';

export function errorResponse(error: unknown, log: Logger): Response {
  if (error instanceof HexproxyError) {
    if (error.status >= 500) log.warn({ code: error.code, err: error.message }, 'request failed');
    else log.debug({ code: error.code, err: error.message }, 'request refused');
    return textResponse(error.status, error.message, { ...error.headers, 'x-hexproxy-error': error.code });
  }
  log.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'unexpected error');
  return textResponse(500, 'internal error; see the hexproxy log for details', { 'x-hexproxy-error': 'internal' });
}

export function textResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`hexproxy: ${message}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}
