#!/usr/bin/env node
// The control for phase A: a minimal node:http server streaming the same files from disk
// (createReadStream, as hexproxy does for tarballs), with none of hexproxy's logic. If a
// latency tail shows here too, it comes from Node and the machine, not from hexproxy.
//
//   node bench/control-server.mjs --dir DATASET/upstream [--port 0]
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';
import { resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { dir: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.dir) {
  process.stderr.write('usage: node bench/control-server.mjs --dir DIR [--port 0]\n');
  process.exit(2);
}
const root = resolve(values.dir);

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://control').pathname;
  const file = resolve(root, `.${path}`);
  try {
    if (!file.startsWith(root + sep)) throw new Error('outside');
    const info = await stat(file);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size, 'x-hexproxy-cache': 'CONTROL' });
    // pipeline, not pipe: a client that goes away mid-response must close the file too.
    pipeline(createReadStream(file), res, () => {});
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
  }
});
server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
