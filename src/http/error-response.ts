// The one place where errors become HTTP responses and log lines.
import type { IncomingMessage } from 'node:http';
import { ClientClosedRequestError, HexproxyError, PolicyBlockedError, type ErrorDetails } from '../errors.js';
import { hexErrorBody, hexResponse, type HexFormat } from '../hex-api/respond.js';
import type { Logger } from '../log.js';

/**
 * How an error is written: plain text (the repository routes, the admin API, the UI's
 * fallbacks), or as hexpm writes Hex API errors, `%{"status", "message", "errors"}`, in
 * Erlang terms or JSON (HexFormat, by the client's Accept). The route group chooses.
 */
export type ErrorFormat = 'text' | HexFormat;

/**
 * `request`: the client's request, when there is one; it tells a client that went away from a server error.
 * `format`: how the route group writes errors (text unless it says otherwise).
 */
export function errorResponse(error: unknown, log: Logger, request?: IncomingMessage, format: ErrorFormat = 'text'): Response {
  const mapped = clientClosed(error, request)
    ? new ClientClosedRequestError('the client closed the connection before its request body was read', { cause: error })
    : error;
  if (mapped instanceof HexproxyError) {
    if (mapped.status >= 500) log.warn({ code: mapped.code, err: mapped.message }, 'request failed');
    // What the policy refuses is what an operator asked for and a client cannot explain (Mix
    // and rebar3 do not show the body): named at info, with the request.
    else if (mapped instanceof PolicyBlockedError) log.info({ code: mapped.code, path: request?.url, err: mapped.message }, 'refused by the policy');
    else log.debug({ code: mapped.code, err: mapped.message }, 'request refused');
    return formatted(format, mapped.status, mapped.message, { ...mapped.headers, 'x-hexproxy-error': mapped.code }, mapped.details);
  }
  log.error({ err: mapped instanceof Error ? { message: mapped.message, stack: mapped.stack } : String(mapped) }, 'unexpected error');
  return formatted(format, 500, 'internal error; see the hexproxy log for details', { 'x-hexproxy-error': 'internal' });
}

function formatted(format: ErrorFormat, status: number, message: string, headers: Record<string, string>, details?: ErrorDetails): Response {
  if (format === 'text') return textResponse(status, message, headers);
  return hexResponse(format, hexErrorBody(status, message, details), status, headers);
}

/**
 * Whether the client went away before its request was read. The request tells best:
 * destroyed before its body was all received (then whatever failed, failed for want of the
 * rest). Without it, node's own error for that: IncomingMessage fails its body with
 * `Error: aborted`, code ECONNRESET, when the socket closes early.
 */
function clientClosed(error: unknown, request: IncomingMessage | undefined): boolean {
  if (error instanceof ClientClosedRequestError) return false;
  if (request !== undefined && request.destroyed && !request.complete) return true;
  return !(error instanceof HexproxyError) && error instanceof Error && error.message === 'aborted' && 'code' in error && error.code === 'ECONNRESET';
}

export function textResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`hexproxy: ${message}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}
