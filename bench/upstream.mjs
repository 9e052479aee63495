#!/usr/bin/env node
// A standalone static Hex upstream for load tests: serves a directory laid out like
// repo.hex.pm on 127.0.0.1, with strong ETags, If-None-Match → 304, and an optional
// delay before every response. Files are read once and kept in memory.
//
//   node bench/upstream.mjs --dir DIR [--port 0] [--latency-ms 50]
//
// Prints one JSON line {"url": …} on stdout once listening. GET /__bench/stats answers
// counters (requests by kind and status, most requests at once; `?reset` restarts that
// maximum; `?path=/tarballs/X.tar` adds `pathRequests`, the requests for that one path)
// without the delay; it is not a Hex path. GET /__bench/forget drops the files read so far,
// so a file changed on disk is served changed (bench/perf.mjs scenario 5).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    'latency-ms': { type: 'string', default: '0' },
  },
});
if (!values.dir) {
  process.stderr.write('usage: node bench/upstream.mjs --dir DIR [--port 0] [--latency-ms 50]\n');
  process.exit(2);
}
const root = resolve(values.dir);
const latencyMs = Number(values['latency-ms']);
const files = new Map();
const stats = { requests: 0, byKind: {}, byStatus: {}, inFlight: 0, maxInFlight: 0 };
const byPath = new Map();

const kindOf = (path) => (path.startsWith('/tarballs/') ? 'tarball' : path.startsWith('/packages/') ? 'package' : path.slice(1) || 'root');
const count = (table, key) => {
  table[key] = (table[key] ?? 0) + 1;
};

async function load(path) {
  const cached = files.get(path);
  if (cached !== undefined) return cached;
  const file = resolve(root, `.${path}`);
  if (!file.startsWith(root + sep)) return null;
  let entry = null;
  try {
    const body = await readFile(file);
    entry = { body, etag: `"${createHash('sha256').update(body).digest('hex')}"` };
  } catch (error) {
    if (error.code !== 'ENOENT' && error.code !== 'EISDIR') throw error;
  }
  files.set(path, entry);
  return entry;
}

const delay = (ms) => new Promise((done) => setTimeout(done, ms));

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://upstream').pathname;
  if (path === '/__bench/stats') {
    const query = new URL(req.url ?? '/', 'http://upstream').searchParams;
    const asked = query.get('path');
    const body = asked === null ? stats : { ...stats, pathRequests: byPath.get(asked) ?? 0 };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    // ?reset: the next maxInFlight counts from now (one per measured phase).
    if (query.has('reset')) stats.maxInFlight = stats.inFlight;
    return;
  }
  if (path === '/__bench/forget') {
    files.clear();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"forgotten":true}');
    return;
  }
  stats.requests += 1;
  byPath.set(path, (byPath.get(path) ?? 0) + 1);
  stats.inFlight += 1;
  stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
  count(stats.byKind, kindOf(path));
  try {
    const entry = await load(path);
    if (latencyMs > 0) await delay(latencyMs);
    if (res.destroyed) return;
    let status;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      status = 405;
      res.writeHead(status, { 'content-type': 'text/plain' }).end('method not allowed\n');
    } else if (!entry) {
      status = 404;
      res.writeHead(status, { 'content-type': 'text/plain' }).end('Not Found\n');
    } else if (req.headers['if-none-match']?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === entry.etag)) {
      status = 304;
      res.writeHead(status, { etag: entry.etag }).end();
    } else {
      status = 200;
      res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': entry.body.length, etag: entry.etag });
      res.end(req.method === 'HEAD' ? undefined : entry.body);
    }
    count(stats.byStatus, status);
  } catch (error) {
    count(stats.byStatus, 500);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`bench upstream failed: ${String(error)}\n`);
    else res.destroy();
  } finally {
    stats.inFlight -= 1;
  }
});
// Node's default, announced in Keep-Alive: hexproxy's client (undici) follows the hint, so
// its idle upstream connections close a few seconds after the load stops.
server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}`, latencyMs })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
