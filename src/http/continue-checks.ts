// Uploads judged before their body is read. A client sending `expect: 100-continue` (Mix
// does, for every publish; curl does for large or chunked bodies) waits for hexproxy's
// `100 Continue` before it sends a byte. Node answers 100 by itself unless a 'checkContinue'
// listener is installed: this is that listener. For a request a registered rule covers, it
// checks the token (401, 403, 429), that a Content-Length is given (411) and that it is
// within the rule's limit (413), and answers a refusal as the final status without reading
// the body (and closes the connection, which still holds the unsent body); otherwise it
// writes 100 and hands the request to the normal listener. The routes that take uploads
// register their rule; the same rule runs on their requests without `expect` (guard()).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { Env } from './app.js';
import { LengthRequiredError, RequestTooLargeError } from '../errors.js';
import { hexFormat } from '../hex-api/respond.js';
import { accessLog, type AccessLog, type Logger } from '../log.js';
import { routeOf, type Metrics } from '../metrics/metrics.js';
import type { Client, TrustedProxies } from './client-address.js';
import { errorResponse, type ErrorFormat } from './error-response.js';
import type { NodeListener } from './fast-path.js';
import { NOSNIFF, SANDBOX_POLICY } from './headers.js';
import { requestIdOf } from './request-context.js';

/** What a rule's authorize() is told about a request. */
export interface ContinueRequest {
  method: string;
  /** The path, without the query. */
  path: string;
  /** The rule's pattern matched against the path: its groups (e.g. the repository). */
  match: RegExpExecArray;
  authorization: string | undefined;
  client: Client;
}

export interface ContinueRule {
  /** "POST", "PUT"… */
  method: string;
  /** Over the path without the query, e.g. /^\/api\/repos\/([a-z0-9_]+)\/packages\/[a-z][a-z0-9_]*\/releases$/. */
  path: RegExp;
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** What sets maxBytes, named in the 413 message ("the Hex upload limit", "config key hosted.maxTarballBytes"). */
  limitName: string;
  /** Throws the refusal (AccessControl.check: 401, 403, 429) for a request that may not do this. */
  authorize(request: ContinueRequest): void;
  /** Whether a body without Content-Length (chunked) is refused with 411; default true. */
  requireLength?: boolean;
  /** How refusals are written: as Hex API errors (Erlang terms or JSON by Accept) or as text. */
  errors: 'hex' | 'text';
}

export class ContinueChecks {
  private readonly rules: ContinueRule[] = [];

  constructor(
    private readonly proxies: TrustedProxies,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
  ) {
    this.access = accessLog(log);
  }

  private readonly access: AccessLog;

  /**
   * Adds a rule (the first that matches a request wins). Returns the same check as Hono
   * middleware, for the route's requests that came without `expect: 100-continue`.
   */
  register(rule: ContinueRule): MiddlewareHandler<Env> {
    this.rules.push(rule);
    return async (c, next) => {
      const path = c.req.path;
      const match = rule.method === c.req.method ? rule.path.exec(path) : null;
      if (match) {
        judge(rule, {
          request: { method: c.req.method, path, match, authorization: c.req.header('authorization'), client: c.get('client') },
          contentLength: c.req.header('content-length'),
          chunked: c.req.header('transfer-encoding') !== undefined,
        });
      }
      await next();
    };
  }

  /** The 'checkContinue' listener of the node:http server: refuses, or writes 100 and calls `next`. */
  listener(next: NodeListener): NodeListener {
    return (request, response) => {
      const started = performance.now();
      const found = this.ruleFor(request);
      if (found) {
        try {
          judge(found.rule, {
            request: found.request,
            contentLength: request.headers['content-length'],
            chunked: request.headers['transfer-encoding'] !== undefined,
          });
        } catch (error: unknown) {
          const format: ErrorFormat = found.rule.errors === 'hex' ? hexFormat(request.headers.accept) : 'text';
          this.refuse(request, response, error, format, started).catch((failure: unknown) => {
            this.log.error({ err: failure instanceof Error ? failure.message : String(failure) }, 'answering a refused upload failed');
            response.destroy();
          });
          return;
        }
      }
      response.writeContinue();
      next(request, response);
    };
  }

  private ruleFor(request: IncomingMessage): { rule: ContinueRule; request: ContinueRequest } | undefined {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = request.method ?? '';
    for (const rule of this.rules) {
      if (rule.method !== method) continue;
      const match = rule.path.exec(path);
      if (!match) continue;
      const client = this.proxies.clientOf(request.socket.remoteAddress, () => {
        const forwarded = request.headers['x-forwarded-for'];
        return Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
      });
      return { rule, request: { method, path, match, authorization: request.headers.authorization, client } };
    }
    return undefined;
  }

  /** The refusal as the final answer, before any of the body: the connection closes after it, with the body unread and unsent. */
  private async refuse(request: IncomingMessage, response: ServerResponse, error: unknown, format: ErrorFormat, started: number): Promise<void> {
    const requestId = requestIdOf(request.headers['x-request-id']);
    const log = this.log.child({ reqId: requestId });
    const answer = errorResponse(error, log, undefined, format);
    const body = Buffer.from(await answer.arrayBuffer());
    const headers: string[] = [];
    // Its own length is written below (a Hex API answer brings one already).
    answer.headers.forEach((value, name) => {
      if (name !== 'content-length') headers.push(name, value);
    });
    headers.push(
      'content-length',
      String(body.length),
      'connection',
      'close',
      'x-request-id',
      requestId,
      'x-content-type-options',
      NOSNIFF,
      'content-security-policy',
      SANDBOX_POLICY,
    );
    response.writeHead(answer.status, headers);
    response.end(request.method === 'HEAD' ? undefined : body);
    const code = answer.headers.get('x-hexproxy-error');
    if (code) this.metrics?.error(code);
    const path = request.url ?? '/';
    this.metrics?.served(routeOf(path), request.method ?? '', answer.status, (performance.now() - started) / 1000, body.length);
    if (this.access.wanted(undefined)) {
      const query = path.indexOf('?');
      log.info(
        {
          method: request.method,
          path: query < 0 ? path : path.slice(0, query),
          status: answer.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
          expect: '100-continue',
        },
        'request',
      );
    }
  }
}

/** The rule's checks, in the order a client can act on them: who (401/403), then how much (411/413). */
function judge(
  rule: ContinueRule,
  { request, contentLength, chunked }: { request: ContinueRequest; contentLength: string | string[] | undefined; chunked: boolean },
): void {
  rule.authorize(request);
  const declared = typeof contentLength === 'string' && /^\d+$/.test(contentLength.trim()) ? Number(contentLength.trim()) : undefined;
  if (declared === undefined) {
    if (rule.requireLength === false) return;
    throw new LengthRequiredError(
      `${request.method} ${request.path} needs a Content-Length (${chunked ? 'a chunked body' : 'none was given'}): the upload's size is judged before it is read; send the file with its length (curl --data-binary @FILE)`,
    );
  }
  if (declared > rule.maxBytes) {
    throw new RequestTooLargeError(
      `the upload is ${declared} bytes, over the ${rule.maxBytes} bytes ${request.method} ${request.path} takes (${rule.limitName})`,
    );
  }
}
