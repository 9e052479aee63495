// Per-request logger with a request id (taken from x-request-id when sane, else made up),
// echoed to the client, and one access-log line per request.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { accessLog, type Logger } from '../log.js';
import type { Client } from './client-address.js';
import { BadRequestError } from '../errors.js';
import { errorResponse, type ErrorFormat } from './error-response.js';
import { NOSNIFF, POLICY_HIDDEN_HEADER, SANDBOX_POLICY } from './headers.js';
import { routeOf, type Metrics } from '../metrics/metrics.js';

export interface RequestVariables {
  log: Logger;
  requestId: string;
  /** Who sent the request (client-address.ts): set for every route, before any guard. */
  client: Client;
  /** How this request's errors are written (error-response.ts): set by a route group (the Hex API's); text when unset. */
  errorFormat?: ErrorFormat;
}

const prefix = randomBytes(3).toString('hex');
let counter = 0;

// Raw request targets that no valid route contains; refused before routing so that URL
// normalisation can never turn them into something else.
// URL parsing also resolves "%2e", ".%2e" and "%2e." as dot segments.
const UNSAFE_TARGET = /(^|\/)(?:\.|%2e){1,2}(\/|$)|%2e%2e|%00|%2f|%5c|\\|\/\/|[\u0000-\u001f\u007f]/i;

export function requestContext(
  log: Logger,
  metrics?: Metrics,
): MiddlewareHandler<{ Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables }> {
  const access = accessLog(log);
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdOf(c.req.header('x-request-id'));
    const requestLog = log.child({ reqId: requestId });
    c.set('log', requestLog);
    c.set('requestId', requestId);
    // The node adapter parses the URL (resolving dot segments); judge what the client sent.
    const target = rawTarget(c.env?.incoming?.url ?? c.req.raw.url);
    if (UNSAFE_TARGET.test(target)) {
      c.res = errorResponse(
        new BadRequestError(
          'the request path has ".", "..", an encoded "/" or "\\", an empty segment or a control character; no Hex resource has one',
        ),
        requestLog,
      );
    } else {
      await next();
    }
    c.res.headers.set('x-request-id', requestId);
    // Whatever a response is, a browser must not guess a type for it nor run anything in
    // it; UI pages bring their own policy (their inline style and script).
    c.res.headers.set('x-content-type-options', NOSNIFF);
    if (!c.res.headers.has('content-security-policy')) c.res.headers.set('content-security-policy', SANDBOX_POLICY);
    if (metrics) {
      const code = c.res.headers.get('x-hexproxy-error');
      if (code) metrics.error(code);
      metrics.served(
        routeOf(target),
        c.req.method,
        c.res.status,
        (performance.now() - started) / 1000,
        Number(c.res.headers.get('content-length') ?? 0) || 0,
      );
    }
    const cache = c.res.headers.get('x-hexproxy-cache') ?? undefined;
    if (access.wanted(cache))
      access.write({
        reqId: requestId,
        method: c.req.method,
        path: target,
        status: c.res.status,
        cache,
        ms: Math.round((performance.now() - started) * 10) / 10,
        policyHidden: c.res.headers.get(POLICY_HIDDEN_HEADER) ?? undefined,
      });
  };
}

/** The client's x-request-id when it is sane, else a new one. */
export function requestIdOf(supplied: string | string[] | undefined): string {
  return typeof supplied === 'string' && /^[\w.:-]{1,64}$/.test(supplied) ? supplied : `${prefix}-${(counter += 1).toString(36)}`;
}

function rawTarget(url: string): string {
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2);
  const query = url.indexOf('?', start);
  return start < 0 ? '/' : url.slice(start, query < 0 ? undefined : query);
}
