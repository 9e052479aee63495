// Uploads sent with `expect: 100-continue` (as Mix publishes) are judged before their body:
// a raw TCP client sends only the request head and waits, as Mix does. A refusal (401, 403,
// 411, 413) must come as the final answer instead of 100, with the connection closed and not
// one body byte received by the server; an allowed upload gets 100, then its body is read by
// the route. Rules are registered as the publishing routes register theirs
// (hexproxy.continueChecks.register); POST /api/policy/check registers its own.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl } from '../../src/auth/access-control.js';
import { TokenStore } from '../../src/auth/token-store.js';
import { decodeTerm } from '../../src/hex-api/etf.js';
import type { Env } from '../../src/http/app.js';
import { clientContext, TrustedProxies } from '../../src/http/client-address.js';
import { ContinueChecks, type ContinueRule } from '../../src/http/continue-checks.js';
import { errorResponse } from '../../src/http/error-response.js';
import { createLogger } from '../../src/log.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const MiB = 1024 * 1024;
let LOCK: string;

let upstream: FakeUpstream;
let proxy: TestProxy;
let port: number;
let reader: string;
let writer: string;
/** Server-side sockets, by the client's port: what the server received on each. */
const serverSockets = new Map<number, Socket>();

interface Exchange {
  /** The status of the first response the client got (100, or the final one). */
  first: number;
  /** The final response (after the body, when 100 came first). */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Whether the server closed the connection after its answer. */
  closed: boolean;
  /** The bytes the server read from this connection, and those of the request head. */
  serverRead: number;
  headBytes: number;
}

/** Sends the head only; sends `body` only if 100 Continue comes first, as Mix does. */
async function upload(method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Exchange> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const head = Buffer.from(
    `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nexpect: 100-continue\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`,
  );
  const received: Buffer[] = [];
  let closed = false;
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('end', () => (closed = true));
  socket.write(head);
  // The first response head.
  const firstHead = await new Promise<string>((resolve) => {
    const onData = (chunk: Buffer): void => {
      received.push(chunk);
      const text = Buffer.concat(received).toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
  const first = Number(/^HTTP\/1\.1 (\d{3})/.exec(firstHead)?.[1]);
  let rest = Buffer.concat(received);
  if (first === 100) {
    rest = rest.subarray(rest.indexOf('\r\n\r\n') + 4);
    socket.write(body);
  }
  const collected: Buffer[] = [rest];
  socket.on('data', (chunk: Buffer) => collected.push(chunk));
  // Final response: read until its Content-Length is there, or the server closes.
  const final = await new Promise<Buffer>((resolve) => {
    const check = (): void => {
      const all = Buffer.concat(collected);
      const end = all.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(all.subarray(0, end).toString('latin1'))?.[1];
      if (end >= 0 && length !== undefined && all.length >= end + 4 + Number(length)) resolve(all);
    };
    socket.on('data', check);
    socket.once('close', () => resolve(Buffer.concat(collected)));
    check();
  });
  const split = final.indexOf('\r\n\r\n');
  const lines = final.subarray(0, split).toString('latin1').split('\r\n');
  const responseHeaders: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    responseHeaders[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const localPort = socket.localPort ?? 0;
  if (first !== 100) await ended;
  socket.destroy();
  await ended;
  const server = serverSockets.get(localPort);
  return {
    first,
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1]),
    headers: responseHeaders,
    body: final.subarray(split + 4),
    closed,
    serverRead: server?.bytesRead ?? -1,
    headBytes: head.length,
  };
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  LOCK = mixLock(upstream, [{ name: 'alpha', version: '1.0.0' }]);
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'require-token': true } });
  port = proxy.server.port;
  proxy.server.httpServer.on('connection', (socket: Socket) => {
    const remotePort = socket.remotePort;
    if (remotePort !== undefined) serverSockets.set(remotePort, socket);
  });
  const tokens = new TokenStore(join(proxy.dataDir, 'tokens.json'));
  reader = tokens.create('reader', ['hexpm'], false).secret;
  writer = tokens.create('publisher', ['hexpm'], false, { write: ['acme'] }).secret;
  // As the publishing routes will: the Hex API's upload and the plain PUT, each with its limit.
  const { access } = proxy.server.hexproxy;
  const writeRule = (method: string, path: RegExp, errors: ContinueRule['errors']): ContinueRule => ({
    method,
    path,
    maxBytes: MiB,
    limitName: 'the test limit',
    errors,
    authorize: ({ authorization, client, match }) => void access.check(authorization, client.address, 'write', match[1]),
  });
  proxy.server.hexproxy.continueChecks.register(writeRule('POST', /^\/api\/repos\/([a-z0-9_]+)\/packages\/[a-z][a-z0-9_]*\/releases$/, 'hex'));
  proxy.server.hexproxy.continueChecks.register(writeRule('PUT', /^\/repos\/([a-z0-9_]+)\/tarballs\/[^/]+\.tar$/, 'text'));
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

/** Asserts a refusal came instead of 100, closed the connection, and the server read the head and nothing more. */
function expectRefusedBeforeBody(exchange: Exchange, status: number): void {
  expect(exchange.first).toBe(status);
  expect(exchange.status).toBe(status);
  expect(exchange.headers['connection']).toBe('close');
  expect(exchange.closed).toBe(true);
  expect(exchange.serverRead).toBe(exchange.headBytes);
}

describe('POST /api/policy/check with expect: 100-continue', () => {
  it('answers 401 without a token before any of the body, and logs the refusal once', async () => {
    const exchange = await upload(
      'POST',
      '/api/policy/check',
      { 'content-length': String(LOCK.length), 'x-request-id': 'continue-401' },
      Buffer.from(LOCK),
    );
    expectRefusedBeforeBody(exchange, 401);
    expect(exchange.body.toString()).toContain('needs a token');
    expect(exchange.headers['www-authenticate']).toBe('Basic realm="hexproxy", charset="UTF-8"');
    const lines = proxy.logs.filter((record) => record['reqId'] === 'continue-401' && record.msg === 'request');
    expect(lines).toEqual([expect.objectContaining({ status: 401, path: '/api/policy/check', expect: '100-continue' })]);
  });

  it('answers 413 for a lock over the limit, naming the limit, before any of the body', async () => {
    const exchange = await upload('POST', '/api/policy/check', { authorization: reader, 'content-length': String(2 * MiB) }, Buffer.alloc(0));
    expectRefusedBeforeBody(exchange, 413);
    expect(exchange.body.toString()).toContain(`over the ${MiB} bytes POST /api/policy/check takes`);
  });

  it('answers 100 for a valid token and size, then the route reads the body and answers', async () => {
    const exchange = await upload('POST', '/api/policy/check', { authorization: reader, 'content-length': String(LOCK.length) }, Buffer.from(LOCK));
    expect(exchange.first).toBe(100);
    expect(exchange.status, exchange.body.toString()).toBe(200);
    expect(JSON.parse(exchange.body.toString())).toMatchObject({ checked: 1, blocked: [] });
    expect(exchange.serverRead).toBe(exchange.headBytes + LOCK.length);
  });
});

describe('a write rule (as the publishing routes register theirs)', () => {
  const releases = '/api/repos/acme/packages/acme_core/releases?replace=false';
  const erlang = { accept: 'application/vnd.hex+erlang' };

  it('refuses no token (401), a token that may not write acme (403), as Hex API errors in Erlang terms, before any of the body', async () => {
    const none = await upload('POST', releases, { ...erlang, 'content-length': '100' }, Buffer.alloc(100));
    expectRefusedBeforeBody(none, 401);
    expect(decodeTerm(none.body)).toEqual({ status: 401, message: expect.stringContaining('hexproxy token create NAME --write acme') });
    const readOnly = await upload('POST', releases, { ...erlang, authorization: reader, 'content-length': '100' }, Buffer.alloc(100));
    expectRefusedBeforeBody(readOnly, 403);
    expect(decodeTerm(readOnly.body)).toEqual({
      status: 403,
      message: 'token reader may not publish to repository acme; a token for it is made with hexproxy token create NAME --write acme',
    });
    const otherRepo = await upload(
      'POST',
      '/api/repos/beta/packages/x_y/releases',
      { ...erlang, authorization: writer, 'content-length': '100' },
      Buffer.alloc(100),
    );
    expectRefusedBeforeBody(otherRepo, 403);
  });

  it('refuses an upload without a Content-Length (411) or over the limit (413, naming it)', async () => {
    const chunked = await upload('POST', releases, { ...erlang, authorization: writer, 'transfer-encoding': 'chunked' }, Buffer.from('0\r\n\r\n'));
    expectRefusedBeforeBody(chunked, 411);
    expect(decodeTerm(chunked.body)).toEqual({ status: 411, message: expect.stringContaining('needs a Content-Length (a chunked body)') });
    const big = await upload(
      'PUT',
      '/repos/acme/tarballs/acme_core-1.0.0.tar',
      { authorization: writer, 'content-length': String(16 * MiB) },
      Buffer.alloc(0),
    );
    expectRefusedBeforeBody(big, 413);
    expect(big.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(big.body.toString()).toContain(
      `the upload is ${16 * MiB} bytes, over the ${MiB} bytes PUT /repos/acme/tarballs/acme_core-1.0.0.tar takes (the test limit)`,
    );
  });

  it('lets a token that may write acme send its body: 100 first, then the route answers', async () => {
    const body = Buffer.alloc(1000, 1);
    const allowed = await upload('POST', releases, { ...erlang, authorization: writer, 'content-length': String(body.length) }, body);
    expect(allowed.first).toBe(100);
    // No publishing route on this branch yet: the request reached the routes, which answer as the Hex API does.
    expect(allowed.status).toBe(405);
    expect(decodeTerm(allowed.body)).toMatchObject({ status: 405 });
  });
});

describe('the same rule on a request without expect (register() returns it as middleware)', () => {
  it('refuses before the route runs, and lets an allowed request through', async () => {
    const dir = tempDir();
    const tokens = new TokenStore(join(dir, 'tokens.json'));
    const secret = tokens.create('publisher', [], false, { write: ['acme'] }).secret;
    const access = new AccessControl({ tokens, publicRepository: 'hexpm', requireToken: false, failuresPerMinute: 30 });
    const log = createLogger('silent');
    const checks = new ContinueChecks(new TrustedProxies([]), log);
    const guard = checks.register({
      method: 'PUT',
      path: /^\/repos\/([a-z0-9_]+)\/tarballs\/[^/]+$/,
      maxBytes: 10,
      limitName: 'ten bytes',
      errors: 'text',
      authorize: ({ authorization, client, match }) => void access.check(authorization, client.address, 'write', match[1]),
    });
    let reached = 0;
    const app = new Hono<Env>();
    app.use(clientContext(new TrustedProxies([])));
    app.put('/repos/:repo/tarballs/:file', guard, (c) => {
      reached += 1;
      return c.text('stored');
    });
    app.onError((error) => errorResponse(error, log));
    const put = async (headers: Record<string, string>, body: string): Promise<Response> =>
      await app.request('/repos/acme/tarballs/a-1.0.0.tar', { method: 'PUT', headers, body });
    expect((await put({ 'content-length': '5' }, 'hello')).status).toBe(401);
    expect((await put({ authorization: secret, 'content-length': '11' }, 'hello world')).status).toBe(413);
    expect(reached).toBe(0);
    const ok = await put({ authorization: secret, 'content-length': '5' }, 'hello');
    expect(ok.status).toBe(200);
    expect(reached).toBe(1);
  });
});
