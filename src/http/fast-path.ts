// The hot path: a GET or HEAD for a registry file or tarball that memory can answer is
// written straight to node:http with headers prepared once per cached entry, without
// Hono, web streams or any I/O; a GET for a larger cached tarball is piped from its file. Everything else (misses, errors, other routes, odd
// requests) goes on to the Hono app, which stays the one place that decides.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { isFileHit, isRegistryHit, type CachedTarballFile, type HotTarball, type RegistryFile, type Repository } from '../repository/repository.js';
import { matchesIfNoneMatch } from './conditional.js';
import {
  ATTACHMENT, NOSNIFF, POLICY_HIDDEN_HEADER, REGISTRY_CACHE_CONTROL, REGISTRY_CONTENT_TYPE, SANDBOX_POLICY, TARBALL_CACHE_CONTROL, TARBALL_CONTENT_TYPE,
} from './headers.js';
import { accessLogged, requestIdOf } from './request-context.js';
import { routeOf, type Metrics } from '../metrics/metrics.js';

export type NodeListener = (request: IncomingMessage, response: ServerResponse) => void;

// Large reads: a cold tarball is sent in a few big chunks (measured: 512 KiB reads serve a
// 1 MB file about 1.6x as fast as the 64 KiB default).
const STREAM_CHUNK_BYTES = 512 * 1024;

// Only targets that cannot hide anything: no dots as segments, no escapes, no query. Other
// spellings of the same resource take the slow path, which judges them.
const HOT_TARGET = /^\/(?:mirror\/)?(?:names|versions|packages\/[a-z][a-z0-9_]*|tarballs\/[a-z][a-z0-9_]*-[0-9A-Za-z.+-]+\.tar)$/;

interface Prepared {
  ok: string[];
  notModified: string[];
}

/** `anonymous`: whether a request without credentials may read the public repository. */
export function withFastPath(served: Repository | undefined, anonymous: boolean, log: Logger, next: NodeListener, metrics?: Metrics): NodeListener {
  if (!served) return next;
  const repository = served;
  const registryHeaders = new WeakMap<RegistryFile, { resigned?: Prepared; original?: Prepared }>();
  const tarballHeaders = new WeakMap<HotTarball, Prepared>();

  const registryPrepared = (file: RegistryFile, original: boolean): Prepared => {
    let views = registryHeaders.get(file);
    if (!views) registryHeaders.set(file, (views = {}));
    const view = original ? 'original' : 'resigned';
    const { body, etag } = original ? file.original : file;
    const hidden = original ? undefined : file.policyHidden;
    return (views[view] ??= prepare(etag, REGISTRY_CACHE_CONTROL, REGISTRY_CONTENT_TYPE, body.length, hidden === undefined ? [] : [POLICY_HIDDEN_HEADER, hidden]));
  };

  const tarballPrepared = (hot: HotTarball): Prepared => {
    let prepared = tarballHeaders.get(hot);
    if (!prepared) tarballHeaders.set(hot, (prepared = prepare(hot.etag, TARBALL_CACHE_CONTROL, TARBALL_CONTENT_TYPE, hot.body.length)));
    return prepared;
  };

  return (request, response) => {
    const started = performance.now();
    const { method, url } = request;
    // Requests with credentials (or needing them) are judged by the routes' guard.
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || !HOT_TARGET.test(url) || !anonymous || request.headers.authorization !== undefined) {
      next(request, response);
      return;
    }
    const original = url.startsWith('/mirror/');
    const path = original ? url.slice('/mirror/'.length) : url.slice(1);
    let body: Buffer;
    let etag: string;
    let prepared: Prepared;
    let policyHidden: string | undefined;
    const hit = repository.lookup(path, original ? 'original' : 'resigned');
    if (!hit) {
      next(request, response);
      return;
    }
    if (isFileHit(hit)) {
      if (method === 'GET') streamCachedFile(hit, request, response, started);
      else next(request, response);
      return;
    }
    if (!isRegistryHit(hit)) {
      repository.countHit(hit);
      ({ body, etag } = hit);
      prepared = tarballPrepared(hit);
    } else {
      const file = hit;
      repository.countHit(file);
      ({ body, etag } = original ? file.original : file);
      prepared = registryPrepared(file, original);
      if (!original) policyHidden = file.policyHidden;
    }
    const requestId = requestIdOf(request.headers['x-request-id']);
    const status = notModified(request, etag) ? 304 : 200;
    const headers = status === 200 ? prepared.ok.slice() : prepared.notModified.slice();
    headers.push('x-request-id', requestId);
    response.writeHead(status, headers);
    response.end(status === 200 && method === 'GET' ? body : undefined);
    metrics?.served(routeOf(url), method, status, (performance.now() - started) / 1000, status === 200 && method === 'GET' ? body.length : 0);
    logRequest(request, status, requestId, started, policyHidden);
  };

  /**
   * A cached tarball too large for memory, streamed from its file with plain Node streams.
   * Anything unexpected (no row, no file, a size that disagrees with the index) goes to the
   * routes, which refetch.
   */
  function streamCachedFile(file: CachedTarballFile, request: IncomingMessage, response: ServerResponse, started: number): void {
    const prepared = prepare(file.etag, TARBALL_CACHE_CONTROL, TARBALL_CONTENT_TYPE, file.row.size);
    const requestId = requestIdOf(request.headers['x-request-id']);
    if (notModified(request, file.etag)) {
      repository.countHit(file);
      response.writeHead(304, [...prepared.notModified, 'x-request-id', requestId]);
      response.end();
      metrics?.served('tarballs', 'GET', 304, (performance.now() - started) / 1000, 0);
      logRequest(request, 304, requestId, started);
      return;
    }
    void (async () => {
      const handle = await open(file.path, 'r').catch(() => undefined);
      if (!handle) return next(request, response);
      const size = await handle.stat().then((stats) => stats.size, () => -1);
      if (size !== file.row.size || response.destroyed) {
        await handle.close().catch(() => undefined);
        return response.destroyed ? undefined : next(request, response);
      }
      repository.countHit(file);
      response.writeHead(200, [...prepared.ok, 'x-request-id', requestId]);
      metrics?.served('tarballs', 'GET', 200, (performance.now() - started) / 1000, file.row.size);
      const stream = createReadStream(file.path, { fd: handle, highWaterMark: STREAM_CHUNK_BYTES });
      // A read error mid-way cannot become an error status any more: cut the response short.
      stream.on('error', (error) => response.destroy(error));
      response.on('close', () => stream.destroy());
      response.on('finish', () => logRequest(request, 200, requestId, started));
      stream.pipe(response);
    })().catch((error: unknown) => {
      log.error({ err: error instanceof Error ? error.message : String(error) }, 'streaming a cached tarball failed');
      response.destroy();
    });
  }

  function logRequest(request: IncomingMessage, status: number, requestId: string, started: number, policyHidden?: string): void {
    if (!accessLogged(log)) return;
    log.info({ reqId: requestId, method: request.method, path: request.url, status, cache: 'HIT', ms: Math.round((performance.now() - started) * 10) / 10, policyHidden }, 'request');
  }
}

function notModified(request: IncomingMessage, etag: string): boolean {
  const ifNoneMatch = request.headers['if-none-match'];
  return ifNoneMatch !== undefined && matchesIfNoneMatch(ifNoneMatch, etag);
}

/** The routes' headers for the same answer (src/http/app.ts and requestContext's), once per cached entry; `extra`: name, value, … */
function prepare(etag: string, cacheControl: string, contentType: string, length: number, extra: string[] = []): Prepared {
  const common = [
    'etag', etag, 'cache-control', cacheControl, 'x-hexproxy-cache', 'HIT', 'content-type', contentType, 'content-disposition', ATTACHMENT,
    'x-content-type-options', NOSNIFF, 'content-security-policy', SANDBOX_POLICY, ...extra,
  ];
  return { ok: [...common, 'content-length', String(length)], notModified: common };
}
