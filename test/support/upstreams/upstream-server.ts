// The HTTP side shared by the fake and static upstreams: a node:http server on 127.0.0.1
// with strong ETags, If-None-Match, hit counting, request gates, credential checks and
// misbehaviour.
import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ENDLESS_CHUNK,
  HTML_ERROR_PAGE,
  flipMiddleByte,
  gzipBomb,
  isSigningMisbehaviour,
  partialLength,
  type Misbehaviour,
  type SigningMisbehaviour,
} from './misbehaviour.js';

export interface Body {
  body: Buffer;
  contentType: string;
  /** Sent as Cache-Control when set. */
  cacheControl?: string;
}

/** The answer to a request that lacks the credentials its path needs. */
export interface Refusal {
  status: number;
  body: Body;
}

/** What an upstream serves; the server adds HTTP, counting and misbehaviour around it. */
export interface UpstreamContent {
  /** The body normally served at a path ("/names"), or undefined for a 404. */
  get(path: string): Promise<Body | undefined>;
  /** The body a signing misbehaviour serves at a path, or undefined where it does not apply. */
  tamper(path: string, mode: SigningMisbehaviour): Promise<Buffer | undefined>;
  /** Modes this content cannot produce; misbehave() refuses them. */
  unsupported?: ReadonlySet<Misbehaviour>;
  /**
   * A refusal for a request whose headers do not grant its path, or undefined to serve
   * it. Checked after hits and gates, before misbehaviour: a refused request is counted
   * and can be held, but uses up no misbehaviour rule.
   */
  refuse?(path: string, headers: IncomingHttpHeaders): Refusal | undefined;
}

/** A path ("/packages/acme"), '*' for every path, a RegExp or a predicate over paths. */
export type PathMatcher = string | RegExp | ((path: string) => boolean);

export interface MisbehaveOptions {
  /** Misbehave for this many requests only, then behave again. */
  times?: number;
  /** With a status-* mode: the Retry-After header to send. */
  retryAfter?: string;
  /** With 'drip': milliseconds between bytes (default 100). */
  intervalMs?: number;
  /** With 'endless-body': stop sending after this many bytes, keeping the response open. */
  stopAfterBytes?: number;
}

/** Holds the requests for one path until released. */
export interface Gate {
  /** Resolves once `count` requests (default 1) are being held. */
  arrived(count?: number): Promise<void>;
  /** Lets every held request proceed, and stops holding new ones. */
  release(): void;
  readonly waiting: number;
}

export interface UpstreamControls {
  /** "http://127.0.0.1:PORT", no trailing slash. */
  readonly url: string;
  /** Requests received for a path (any method, counted on arrival, query ignored). */
  hits(path: string): number;
  totalHits(): number;
  resetHits(): void;
  /** Resolves once hits(path) reaches `count`. */
  waitForHits(path: string, count: number): Promise<void>;
  /** Request headers of the last request for a path. */
  lastHeaders(path: string): IncomingHttpHeaders | undefined;
  /** The newest matching rule wins. */
  misbehave(target: PathMatcher, mode: Misbehaviour, options?: MisbehaveOptions): void;
  /** Clears every misbehaviour rule (requests already hung stay hung; see dropHung). */
  behave(): void;
  /**
   * From now on answers `path` with `body` and its content type instead of the content's
   * own (a hostile upstream's choice of bytes and headers); undefined serves the content again.
   */
  serveInstead(path: string, body: Body | undefined): void;
  hold(path: string): Gate;
  /** Destroys the sockets of requests hung by 'hang', 'hang-body', 'drip' and 'endless-body'. */
  dropHung(): void;
  /** Responses of 'drip' and 'endless-body' still open (being sent, or stopped but not closed). */
  streaming(): number;
  /** Resolves once streaming() is `count`. */
  waitForStreaming(count: number): Promise<void>;
  /** Releases gates, destroys every open socket (hung ones too) and closes the server. */
  close(): Promise<void>;
}

/** The strong ETag the upstreams give a body. */
export const etagOf = (body: Buffer): string => `"sha256-${createHash('sha256').update(body).digest('hex')}"`;

function pathMatches(target: PathMatcher, path: string): boolean {
  if (target === '*') return true;
  if (typeof target === 'string') return target === path;
  if (target instanceof RegExp) return target.test(path);
  return target(path);
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

class HoldGate implements Gate {
  private readonly held: (() => void)[] = [];
  private readonly watchers: { count: number; resolve: () => void }[] = [];
  private released = false;

  constructor(private readonly onRelease: () => void) {}

  get waiting(): number {
    return this.held.length;
  }

  wait(): Promise<void> {
    if (this.released) return Promise.resolve();
    const proceed = new Promise<void>((resolve) => this.held.push(resolve));
    for (const watcher of this.watchers.filter((w) => w.count <= this.held.length)) {
      this.watchers.splice(this.watchers.indexOf(watcher), 1);
      watcher.resolve();
    }
    return proceed;
  }

  arrived(count = 1): Promise<void> {
    if (this.held.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ count, resolve }));
  }

  release(): void {
    this.released = true;
    this.onRelease();
    for (const resolve of this.held.splice(0)) resolve();
  }
}

interface Rule {
  target: PathMatcher;
  mode: Misbehaviour;
  remaining: number;
  retryAfter?: string;
  intervalMs?: number;
  stopAfterBytes?: number;
}

class UpstreamServer implements UpstreamControls {
  url = '';
  private readonly server = createServer((req, res) => {
    this.handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(`fake upstream failed: ${String(error)}\n`);
    });
  });
  private readonly hitCounts = new Map<string, number>();
  private readonly headers = new Map<string, IncomingHttpHeaders>();
  private readonly hitEvents = new EventEmitter();
  private readonly gates = new Map<string, HoldGate>();
  private readonly hung = new Set<ServerResponse>();
  private readonly streams = new Set<ServerResponse>();
  private rules: Rule[] = [];
  private readonly replaced = new Map<string, Body>();

  constructor(private readonly content: UpstreamContent) {
    this.hitEvents.setMaxListeners(0);
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  hits(path: string): number {
    return this.hitCounts.get(path) ?? 0;
  }

  totalHits(): number {
    let total = 0;
    for (const count of this.hitCounts.values()) total += count;
    return total;
  }

  resetHits(): void {
    this.hitCounts.clear();
  }

  waitForHits(path: string, count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.hits(path) < count) return;
        this.hitEvents.off('hit', check);
        resolve();
      };
      this.hitEvents.on('hit', check);
      check();
    });
  }

  lastHeaders(path: string): IncomingHttpHeaders | undefined {
    return this.headers.get(path);
  }

  misbehave(target: PathMatcher, mode: Misbehaviour, options: MisbehaveOptions = {}): void {
    if (this.content.unsupported?.has(mode)) throw new Error(`this upstream cannot misbehave with '${mode}'`);
    this.rules.push({
      target,
      mode,
      remaining: options.times ?? Infinity,
      ...(options.retryAfter !== undefined && { retryAfter: options.retryAfter }),
      ...(options.intervalMs !== undefined && { intervalMs: options.intervalMs }),
      ...(options.stopAfterBytes !== undefined && { stopAfterBytes: options.stopAfterBytes }),
    });
  }

  behave(): void {
    this.rules = [];
  }

  serveInstead(path: string, body: Body | undefined): void {
    if (body) this.replaced.set(path, body);
    else this.replaced.delete(path);
  }

  hold(path: string): Gate {
    const gate: HoldGate = new HoldGate(() => {
      if (this.gates.get(path) === gate) this.gates.delete(path);
    });
    this.gates.set(path, gate);
    return gate;
  }

  dropHung(): void {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  streaming(): number {
    return this.streams.size;
  }

  waitForStreaming(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.streams.size !== count) return;
        this.hitEvents.off('streaming', check);
        resolve();
      };
      this.hitEvents.on('streaming', check);
      check();
    });
  }

  async close(): Promise<void> {
    for (const gate of [...this.gates.values()]) gate.release();
    this.dropHung();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private takeRule(path: string): Rule | undefined {
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i];
      if (!rule || !pathMatches(rule.target, path)) continue;
      if (--rule.remaining <= 0) this.rules.splice(i, 1);
      return rule;
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://upstream').pathname;
    this.hitCounts.set(path, this.hits(path) + 1);
    this.headers.set(path, req.headers);
    this.hitEvents.emit('hit');
    await this.gates.get(path)?.wait();
    if (res.destroyed) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(req, res, 405, { body: Buffer.from('method not allowed\n'), contentType: 'text/plain' });
      return;
    }
    const refusal = this.content.refuse?.(path, req.headers);
    if (refusal) return this.send(req, res, refusal.status, refusal.body);
    const rule = this.takeRule(path);
    const mode = rule?.mode;
    switch (mode) {
      case 'hang':
        this.hung.add(res);
        return;
      case 'status-500':
      case 'status-502':
      case 'status-503':
      case 'status-429': {
        const status = Number(mode.slice('status-'.length));
        if (rule?.retryAfter !== undefined) res.setHeader('retry-after', rule.retryAfter);
        return this.send(req, res, status, { body: Buffer.from(`upstream says ${status}\n`), contentType: 'text/plain' });
      }
      case 'html-200':
        return this.send(req, res, 200, { body: HTML_ERROR_PAGE, contentType: 'text/html; charset=utf-8' });
      case 'gzip-bomb':
        return this.send(req, res, 200, { body: await gzipBomb(), contentType: 'application/octet-stream' });
      case 'endless-body':
        return this.sendEndless(res, rule?.stopAfterBytes ?? Infinity);
    }
    const normal = this.replaced.get(path) ?? (await this.content.get(path));
    if (!normal) return this.send(req, res, 404, { body: Buffer.from('Not Found\n'), contentType: 'text/plain' });
    if (mode === undefined) return this.send(req, res, 200, normal);
    if (isSigningMisbehaviour(mode)) {
      return this.send(req, res, 200, { ...normal, body: (await this.content.tamper(path, mode)) ?? normal.body });
    }
    switch (mode) {
      case 'flip-tarball-byte':
        return this.send(req, res, 200, isTarballPath(path) ? { ...normal, body: flipMiddleByte(normal.body) } : normal);
      case 'truncated-gzip':
        return this.send(req, res, 200, { ...normal, body: normal.body.subarray(0, partialLength(normal.body.length)) });
      case 'hang-body':
      case 'reset-mid-body':
        return this.sendPart(res, normal, mode);
      case 'drip':
        return this.drip(res, normal, rule?.intervalMs ?? 100);
    }
  }

  /** Keeps `res` counted by streaming() and droppable by dropHung() until it closes. */
  private track(res: ServerResponse): void {
    this.hung.add(res);
    this.streams.add(res);
    this.hitEvents.emit('streaming');
    res.once('close', () => {
      this.hung.delete(res);
      this.streams.delete(res);
      this.hitEvents.emit('streaming');
    });
  }

  /** 200 without a Content-Length, then bytes for ever (as fast as the client reads), or up to `limit`. */
  private sendEndless(res: ServerResponse, limit: number): void {
    if (res.destroyed) return;
    this.track(res);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let sent = 0;
    const pump = (): void => {
      while (!res.destroyed && sent < limit) {
        const chunk = ENDLESS_CHUNK.subarray(0, Math.min(ENDLESS_CHUNK.length, limit - sent));
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }

  /** Headers announcing the whole body, then one byte every `intervalMs`. */
  private drip(res: ServerResponse, { body, contentType, cacheControl }: Body, intervalMs: number): void {
    if (res.destroyed) return;
    this.track(res);
    const caching = cacheControl === undefined ? {} : { 'cache-control': cacheControl };
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, etag: etagOf(body), ...caching });
    res.flushHeaders();
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return;
      res.write(body.subarray(sent, sent + 1));
      sent += 1;
      if (sent >= body.length) {
        clearInterval(timer);
        res.end();
      }
    }, intervalMs);
    res.once('close', () => clearInterval(timer));
  }

  private send(req: IncomingMessage, res: ServerResponse, status: number, { body, contentType, cacheControl }: Body): void {
    if (res.destroyed) return;
    const etag = etagOf(body);
    const caching = cacheControl === undefined ? {} : { 'cache-control': cacheControl };
    if (status === 200 && noneMatch(req.headers['if-none-match'], etag)) {
      res.writeHead(304, { etag, ...caching }).end();
      return;
    }
    res.writeHead(status, { 'content-type': contentType, 'content-length': body.length, etag, ...caching });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** Headers announcing the whole body, then half of it; then a stall or a reset. */
  private sendPart(res: ServerResponse, { body, contentType, cacheControl }: Body, mode: 'hang-body' | 'reset-mid-body'): void {
    if (res.destroyed) return;
    const caching = cacheControl === undefined ? {} : { 'cache-control': cacheControl };
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, etag: etagOf(body), ...caching });
    if (mode === 'hang-body') {
      this.hung.add(res);
      res.write(body.subarray(0, partialLength(body.length)));
    } else {
      res.write(body.subarray(0, partialLength(body.length)), () => res.destroy());
    }
  }
}

export async function startUpstreamServer(content: UpstreamContent): Promise<UpstreamControls> {
  const server = new UpstreamServer(content);
  await server.listen();
  return server;
}

/** A tarball path of the public repository or of an organization's (/repos/ORG/tarballs/…). */
export const isTarballPath = (path: string): boolean => /^(?:\/repos\/[^/]+)?\/tarballs\//.test(path);

/** The content type an upstream gives a repository path. */
export function contentTypeOf(path: string): string {
  if (path === '/public_key') return 'text/plain; charset=utf-8';
  if (path.endsWith('.csv')) return 'text/csv';
  if (path.endsWith('.tar.gz')) return 'application/gzip';
  return 'application/octet-stream';
}
