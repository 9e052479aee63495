// A client that stops reading a response must not hold its connection and an open cache
// file forever (http.sendTimeoutMs): it is cut once the response has made no progress for
// sendTimeoutMs, not later; while a client that keeps reading slowly, or waits on a slow
// upstream miss, must not be cut off by the same timeout.
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { within as waitWithin } from '../support/within.js';

const SEND_TIMEOUT_MS = 1000;
// How late the cut may come: well under another send timeout (before the fix it came after
// about twice SEND_TIMEOUT_MS). A correctness bound, with a generous margin, not a speed figure.
const CUT_TOLERANCE_MS = SEND_TIMEOUT_MS / 2;
// Far more than loopback socket buffers hold, so the response cannot finish unread.
const PAD_BYTES = 24 * 1024 * 1024;
// Generous bounds on waits for things that happen after a timeout: a failure, not a timing.
const BOUND_MS = 15_000;

let upstream: FakeUpstream;
let proxy: TestProxy;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'huge', releases: [{ version: '1.0.0', padBytes: PAD_BYTES }] },
      { name: 'slow', releases: [{ version: '1.0.0' }] },
    ],
  });
  proxy = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'send-timeout-ms': String(SEND_TIMEOUT_MS), 'upstream-timeout-ms': '30000', 'log-level': 'warn' },
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

/** Descriptors of this process (the proxy runs in it) open on files in the data directory. */
const openCacheFiles = (): string[] =>
  readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${proxy.dataDir}/`) && !target.includes('hexproxy.db') ? [target] : [];
    } catch {
      return [];
    }
  });

const within = <T>(promise: Promise<T>, what: string): Promise<T> => waitWithin(promise, what, BOUND_MS);

/** File streams are closed after the socket is done with them; there is no event for close(2). */
const noCacheFileOpen = (what: string): Promise<void> =>
  within(
    (async () => {
      while (openCacheFiles().length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    what,
  );

async function getOnNewConnection(path: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get(`${proxy.url}${path}`, { agent: false }, resolve).on('error', reject);
  });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) };
}

/** Resolves with the proxy's side of the next connection accepted. */
const nextServerSocket = (): Promise<Socket> => once(proxy.server.httpServer, 'connection').then(([socket]) => socket as Socket);

/** A raw connection to the proxy, with the proxy's side of it. */
async function rawConnection(): Promise<{ client: Socket; serverSide: Socket }> {
  const accepted = nextServerSocket();
  const client = connect(proxy.server.port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  return { client, serverSide: await accepted };
}

// The hot path streams a large cached tarball from its file; with a query the same request
// takes the routes (Hono), which stream it from the blob store.
const HUGE = '/tarballs/huge-1.0.0.tar';
const paths = [
  ['the hot path', HUGE],
  ['the routes', `${HUGE}?via=routes`],
] as const;

it('closes the connection of a client that stops reading, and the tarball it was sent', async () => {
  const path = '/tarballs/huge-1.0.0.tar';
  const warm = await proxy.get(path);
  expect(warm.status).toBe(200);
  expect(warm.body.equals(upstream.tarball('huge', '1.0.0').tar)).toBe(true);
  // The warm-up's file is closed just after its last byte is sent.
  await noCacheFileOpen('closing the tarball file after the warm-up');

  const accepted = nextServerSocket();
  const client = connect(proxy.server.port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  const serverSide = await accepted;
  const serverClosed = once(serverSide, 'close');
  client.write(`GET ${path} HTTP/1.1\r\nhost: proxy\r\n\r\n`);
  // Read the first MiB, then never read again.
  const head = await within(
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let received = 0;
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        received += chunk.length;
        if (received < 1024 * 1024) return;
        client.pause();
        client.off('data', onData);
        resolve(Buffer.concat(chunks));
      };
      client.on('data', onData);
    }),
    'receiving the first MiB',
  );
  expect(head.subarray(0, 12).toString('latin1')).toBe('HTTP/1.1 200');
  // The tarball is streamed from its file, far from done.
  expect(openCacheFiles()).toHaveLength(1);

  await within(serverClosed, 'closing the stalled connection');
  await noCacheFileOpen('closing the tarball file');
  client.destroy();

  // The server is fine, and still serves the same tarball.
  const again = await proxy.get(path);
  expect(again.status).toBe(200);
  expect(again.headers['x-hexproxy-cache']).toBe('HIT');
  expect(again.body.length).toBe(warm.body.length);
});

describe.each(paths)('through %s', (_route, path) => {
  it('cuts a client that stops reading after sendTimeoutMs without progress, not later', async () => {
    expect((await proxy.get(HUGE)).status).toBe(200);
    await noCacheFileOpen('closing the tarball file after the warm-up');
    const { client, serverSide } = await rawConnection();
    const serverClosed = once(serverSide, 'close').then(() => performance.now());
    client.write(`GET ${path} HTTP/1.1\r\nhost: proxy\r\n\r\n`);
    const stoppedAt = await within(
      new Promise<number>((resolve) => {
        let received = 0;
        const onData = (chunk: Buffer): void => {
          received += chunk.length;
          if (received < 1024 * 1024) return;
          client.pause();
          client.off('data', onData);
          resolve(performance.now());
        };
        client.on('data', onData);
      }),
      'receiving the first MiB',
    );
    const closedAt = await within(serverClosed, 'closing the stalled connection');
    client.destroy();
    await noCacheFileOpen('closing the tarball file');
    // The proxy wrote on for a moment after the client stopped (socket buffers), so the
    // stall it measured began at or after stoppedAt.
    const stalled = closedAt - stoppedAt;
    expect(stalled, `cut ${Math.round(stalled)} ms after the client stopped reading`).toBeGreaterThanOrEqual(SEND_TIMEOUT_MS * 0.95);
    expect(stalled, `cut ${Math.round(stalled)} ms after the client stopped reading`).toBeLessThan(SEND_TIMEOUT_MS + CUT_TOLERANCE_MS);
  });

  it('does not cut a client that keeps reading, slowly, with pauses shorter than sendTimeoutMs', async () => {
    expect((await proxy.get(HUGE)).status).toBe(200);
    const { client } = await rawConnection();
    client.write(`GET ${path} HTTP/1.1\r\nhost: proxy\r\nconnection: close\r\n\r\n`);
    // Cut, it would get less than the whole tarball. About 2 MiB at a time, then a pause of half the send timeout: 12 pauses for the tarball.
    const chunks: Buffer[] = [];
    let sincePause = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      sincePause += chunk.length;
      if (sincePause < 2 * 1024 * 1024) return;
      sincePause = 0;
      client.pause();
      setTimeout(() => client.resume(), SEND_TIMEOUT_MS / 2);
    });
    await within(once(client, 'end'), 'receiving the whole tarball slowly');
    const response = Buffer.concat(chunks);
    const bodyStart = response.indexOf('\r\n\r\n') + 4;
    expect(response.subarray(0, 12).toString('latin1')).toBe('HTTP/1.1 200');
    expect(response.subarray(bodyStart).equals(upstream.tarball('huge', '1.0.0').tar)).toBe(true);
    client.destroy();
  });
});

it('does not cut off a client whose response waits on upstream for longer than the send timeout', async () => {
  const path = '/tarballs/slow-1.0.0.tar';
  const gate = upstream.hold(path);
  const accepted = nextServerSocket();
  // A connection of its own (not one kept alive from the first test), so it is the one accepted next.
  const response = getOnNewConnection(path);
  const serverSide = await accepted;
  await gate.arrived();
  // More than a whole send timeout's looks at the socket, idle while hexproxy waits on upstream.
  await within(
    (async () => {
      for (let look = 0; look <= 11; look += 1) await once(proxy.server.sendTimeout, 'look');
    })(),
    'twelve looks of the send timeout',
  );
  expect(serverSide.destroyed).toBe(false);
  gate.release();
  const result = await response;
  expect(result.status).toBe(200);
  expect(result.headers['x-hexproxy-cache']).toBe('MISS');
  expect(result.body.equals(upstream.tarball('slow', '1.0.0').tar)).toBe(true);
  expect(upstream.hits(path)).toBe(1);
});
