#!/usr/bin/env node
// The floor under hexproxy's hot path: bare node:http answering every request with one
// prebuilt Buffer and the same headers hexproxy sends, in one process (or --workers N with
// node:cluster). Whatever hexproxy does per request comes on top of this, so it bounds what
// any Node server can reach against nginx on the same machine (docs/performance.md).
// --sizes FILE (a JSON object, path → bytes) answers each listed path with a body of that
// size (a view of one prebuilt Buffer), so bench/perf.mjs can give it the same paths and
// sizes as hexproxy's answers; other paths get --bytes. It prints {"url": …} once it listens.
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
  const sizes = new Map(Object.entries(values.sizes ? JSON.parse(readFileSync(values.sizes, 'utf8')) : {}));
  const fallback = Number(values.bytes);
  const body = Buffer.alloc(Math.max(fallback, ...sizes.values()), 0x61);
  // Headers prepared once per size, as hexproxy prepares them once per cached entry.
  const headersOf = (size) => [
    'etag',
    '"0123456789abcdef0123456789abcdef01234567"',
    'cache-control',
    'public, max-age=0, must-revalidate',
    'x-hexproxy-cache',
    'HIT',
    'content-type',
    'application/octet-stream',
    'content-length',
    String(size),
  ];
  const answers = new Map([...sizes].map(([path, size]) => [path, { body: body.subarray(0, size), headers: headersOf(size) }]));
  const other = { body: body.subarray(0, fallback), headers: headersOf(fallback) };
  createServer((request, response) => {
    const answer = answers.get(request.url) ?? other;
    response.writeHead(200, answer.headers);
    response.end(answer.body);
  }).listen(Number(values.port), '127.0.0.1', () => {
    if (cluster.isPrimary || cluster.worker?.id === 1)
      process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${values.port}`, paths: answers.size, bytes: fallback })}\n`);
  });
}
