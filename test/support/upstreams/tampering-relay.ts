// An HTTP relay in front of a real server (a central hexproxy) that can change what it relays:
// a man in the middle, or a central whose disk went bad. Requests go through with their
// `authorization` and `if-none-match`; with a mode set, the 200 answers it covers are altered
// so that only a verifying client can tell.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { decodeSigned, encodeSigned } from '../../../src/registry/codec.js';
import { flipMiddleByte } from './misbehaviour.js';

/**
 * 'registry': one byte of each registry file's signed payload flipped, the file still valid
 * gzip and protobuf (so only the signature shows it). 'tarballs': one byte of each tarball.
 */
export type Tampering = 'registry' | 'tarballs';

export interface TamperingRelay {
  /** "http://127.0.0.1:PORT". */
  readonly url: string;
  /** What to alter from now on; undefined relays faithfully. */
  tamper(mode: Tampering | undefined): void;
  /** Answers it altered so far. */
  readonly altered: number;
  close(): Promise<void>;
}

const REGISTRY_PATH = /^(?:\/repos\/[^/]+)?\/(?:names|versions|packages\/[^/]+)$/;
const TARBALL_PATH = /^(?:\/repos\/[^/]+)?\/tarballs\/[^/]+\.tar$/;

/** A signed registry file with one byte of its payload flipped, its signature kept. */
function flipPayloadByte(file: Buffer): Buffer {
  const signed = decodeSigned(gunzipSync(file));
  return gzipSync(encodeSigned({ ...signed, payload: flipMiddleByte(Buffer.from(signed.payload)) }));
}

export async function startTamperingRelay(targetUrl: string): Promise<TamperingRelay> {
  const target = targetUrl.replace(/\/+$/, '');
  let mode: Tampering | undefined;
  let altered = 0;
  const sockets = new Set<Socket>();

  const alter = (path: string, body: Buffer): Buffer => {
    if (mode === 'registry' && REGISTRY_PATH.test(path)) return flipPayloadByte(body);
    if (mode === 'tarballs' && TARBALL_PATH.test(path)) return flipMiddleByte(body);
    return body;
  };

  const relay = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'if-none-match', 'accept', 'user-agent']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const answer = await request(`${target}${req.url ?? '/'}`, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers });
    const original = Buffer.from(await answer.body.arrayBuffer());
    const path = new URL(req.url ?? '/', 'http://relay').pathname;
    const body = answer.statusCode === 200 ? alter(path, original) : original;
    if (body !== original) altered += 1;
    const out: Record<string, string> = { 'content-length': String(body.length) };
    for (const name of ['content-type', 'etag', 'cache-control']) {
      const value = answer.headers[name];
      if (typeof value === 'string') out[name] = value;
    }
    res.writeHead(answer.statusCode, out).end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    relay(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tamper: (next) => {
      mode = next;
    },
    get altered() {
      return altered;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
