#!/usr/bin/env node
// The floor under hexproxy's hot path: bare node:http answering every request with one
// prebuilt Buffer and prebuilt headers, in one process (or --workers N with node:cluster).
// Whatever hexproxy does per request comes on top of this, so it bounds what any Node
// server can reach against nginx on the same machine (docs/performance.md).
// --sizes FILE (a JSON object, path → {bytes, headers}, or path → bytes) answers each listed
// path with a body of that size (a view of one prebuilt Buffer) and those headers (flat, as
// writeHead takes them), so bench/perf.mjs gives it the paths, sizes and headers of
// hexproxy's own answers; other paths, and paths without headers, get a typical set of
// hexproxy's, and other paths --bytes. It prints {"url": …} once it listens.
//
//   node bench/node-floor.mjs [--port 4400] [--bytes 455] [--workers 1] [--sizes FILE]
//   wrk -t2 -c64 -d10s --latency http://127.0.0.1:4400/packages/x
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4400' },
    bytes: { type: 'string', default: '455' },
    workers: { type: 'string', default: '1' },
    sizes: { type: 'string' },
  },
});
const workers = Number(values.workers);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
} else {
  const listed = Object.entries(values.sizes ? JSON.parse(readFileSync(values.sizes, 'utf8')) : {}).map(([path, answer]) =>
    typeof answer === 'number' ? [path, { bytes: answer, headers: [] }] : [path, answer],
  );
  const fallback = Number(values.bytes);
  const body = Buffer.alloc(Math.max(fallback, ...listed.map(([, answer]) => answer.bytes)), 0x61);
  // What hexproxy sends with a warm registry file, for paths given no headers of their own.
  const typical = [
    'etag',
    '"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"',
    'cache-control',
    'public, max-age=0, s-maxage=299',
    'x-hexproxy-cache',
    'HIT',
    'content-type',
    'application/octet-stream',
    'content-disposition',
    'attachment',
    'x-content-type-options',
    'nosniff',
    'content-security-policy',
    "default-src 'none'; sandbox",
    'x-request-id',
    '0a1b2c-00000001',
  ];
  // Headers prepared once per path, as hexproxy prepares them once per cached entry.
  const answerOf = (bytes, headers) => ({
    body: body.subarray(0, bytes),
    headers: [...(headers.length ? headers : typical), 'content-length', String(bytes)],
  });
  const answers = new Map(listed.map(([path, { bytes, headers }]) => [path, answerOf(bytes, headers)]));
  const other = answerOf(fallback, []);
  const server = createServer((request, response) => {
    const answer = answers.get(request.url) ?? other;
    response.writeHead(200, answer.headers);
    response.end(answer.body);
  }).listen(Number(values.port), '127.0.0.1', () => {
    const { port } = server.address();
    if (cluster.isPrimary || cluster.worker?.id === 1)
      process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, paths: answers.size, bytes: fallback })}\n`);
  });
}
