#!/usr/bin/env node
// The floor under hexproxy's hot path: bare node:http answering every request with one
// prebuilt Buffer and the same headers hexproxy sends, in one process (or --workers N with
// node:cluster). Whatever hexproxy does per request comes on top of this, so it bounds what
// any Node server can reach against nginx on the same machine (docs/performance.md).
//
//   node bench/node-floor.mjs [--port 4400] [--bytes 455] [--workers 1]
//   wrk -t2 -c64 -d10s --latency http://127.0.0.1:4400/packages/x
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '4400' }, bytes: { type: 'string', default: '455' }, workers: { type: 'string', default: '1' } },
});
const workers = Number(values.workers);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
} else {
  const body = Buffer.alloc(Number(values.bytes), 0x61);
  const headers = [
    'etag',
    '"0123456789abcdef0123456789abcdef01234567"',
    'cache-control',
    'public, max-age=0, must-revalidate',
    'x-hexproxy-cache',
    'HIT',
    'content-type',
    'application/octet-stream',
    'content-length',
    String(body.length),
  ];
  createServer((request, response) => {
    response.writeHead(200, headers);
    response.end(body);
  }).listen(Number(values.port), '127.0.0.1', () => {
    if (cluster.isPrimary || cluster.worker?.id === 1)
      process.stdout.write(`node:http floor on http://127.0.0.1:${values.port}, ${body.length}-byte body\n`);
  });
}
