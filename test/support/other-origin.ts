// A second loopback origin for browser tests: a node:http server that serves the pages it
// is given (an attacker's page) and records every request it gets (an attacker's
// listener: beacons, reports), so a test can await a report or assert that none came.
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  body: string;
}

export interface OtherOrigin {
  /** "http://HOST:PORT", no trailing slash; HOST is the one given to startOtherOrigin. */
  readonly url: string;
  /** Every request received so far, in order. */
  readonly received: readonly Received[];
  /** Serves `html` at `path` (text/html) from now on. */
  page(path: string, html: string): void;
  /** Resolves with the first request for `path` (already received or still to come). */
  next(path: string): Promise<Received>;
  /** Forgets what was received. */
  clear(): void;
  close(): Promise<void>;
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

/** `host`: how the browser is to name it ("127.0.0.1" for another port of the same site, "localhost" for another site). */
export async function startOtherOrigin(host = '127.0.0.1'): Promise<OtherOrigin> {
  const pages = new Map<string, string>();
  const received: Received[] = [];
  const events = new EventEmitter();
  const server = createServer((request, response) => {
    void bodyOf(request).then((body) => {
      const path = new URL(request.url ?? '/', 'http://other').pathname;
      const entry = { method: request.method ?? '', path, body };
      received.push(entry);
      events.emit('request', entry);
      const html = request.method === 'GET' ? pages.get(path) : undefined;
      if (html === undefined) {
        // Reports are answered with an empty 204, readable from any origin.
        response.writeHead(204, { 'access-control-allow-origin': '*' }).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    page: (path, html) => {
      pages.set(path, html);
    },
    next: (path) =>
      new Promise((resolve) => {
        const found = received.find((entry) => entry.path === path);
        if (found) return resolve(found);
        const listener = (entry: Received): void => {
          if (entry.path !== path) return;
          events.off('request', listener);
          resolve(entry);
        };
        events.on('request', listener);
      }),
    clear: () => {
      received.length = 0;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
