// What every page handler of the UI shares: its dependencies, the repositories served, and
// how a page (or an error page) is answered.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { HexproxyError } from '../../errors.js';
import { errorResponse } from '../../http/error-response.js';
import type { RequestVariables } from '../../http/request-context.js';
import type { UiDependencies } from '../dependencies.js';
import { DocsTickets, docsTicketKey } from '../docs-tickets.js';
import { CONTENT_SECURITY_POLICY, type Chrome } from '../layout.js';
import { ErrorPage } from '../pages/error.js';
import type { Viewer } from '../viewer.js';

export type UiEnv = { Bindings: { incoming?: IncomingMessage }; Variables: RequestVariables & { viewer: Viewer } };

/** `P`: the route's path, which types its parameters. */
export type UiHandler<P extends string = string> = (c: Context<UiEnv, P>) => Response | Promise<Response>;

export interface UiContext {
  deps: UiDependencies;
  /** The public repository first, then organizations by name. */
  served: readonly string[];
  /** The frame of every page: who is signed in, whether signing in means anything. */
  chromeOf(viewer: Viewer | undefined): Chrome;
  page(element: JSX.Element, status?: number, headers?: Record<string, string>): Promise<Response>;
  /** The HTML twin of errorResponse: same status, headers, log line and error record. */
  errorPage(c: Context<UiEnv>, error: unknown, message?: string): Promise<Response>;
  /** Issues and checks the tickets docs pages are opened with (docs-tickets.ts). */
  docsTickets: DocsTickets;
}

export function createUiContext(deps: UiDependencies): UiContext {
  const { access, publicRepository, repositories } = deps;
  const served = [publicRepository, ...[...repositories.keys()].filter((name) => name !== publicRepository).sort()];

  const chromeOf = (viewer: Viewer | undefined): Chrome => ({
    tokenName: viewer?.token?.name,
    canSignIn: served.length > 1 || !access.anonymousMayRead(publicRepository),
    version: deps.version,
  });

  const page = async (element: JSX.Element, status = 200, headers: Record<string, string> = {}): Promise<Response> =>
    new Response(`<!DOCTYPE html>${await element}`, {
      status,
      headers: {
        ...headers,
        'content-type': 'text/html; charset=utf-8',
        // Pages depend on who asks (tokens): never kept by a shared cache, nor by the browser.
        'cache-control': 'no-store',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin',
      },
    });

  const errorPage = async (c: Context<UiEnv>, error: unknown, message?: string): Promise<Response> => {
    const text = errorResponse(error, c.get('log') ?? deps.log, c.env?.incoming);
    deps.errors.record(error, text.status, c.req.method, c.req.path);
    const headers: Record<string, string> = {};
    text.headers.forEach((value, name) => {
      if (name !== 'content-type' && name !== 'content-length') headers[name] = value;
    });
    const shown = message ?? (error instanceof HexproxyError ? error.message : 'internal error; see the hexproxy log for details');
    const code = text.headers.get('x-hexproxy-error') ?? undefined;
    return page(<ErrorPage chrome={chromeOf(c.get('viewer'))} status={text.status} code={code} message={shown} />, text.status, headers);
  };

  return { deps, served, chromeOf, page, errorPage, docsTickets: new DocsTickets(docsTicketKey(deps.keys.privateKey)) };
}

/** The client's address, as the request context found it (src/http/client-address.ts). */
export const addressOf = (c: Pick<Context<UiEnv>, 'get'>): string => c.get('client').address;
