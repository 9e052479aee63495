// Cuts off clients that stop reading a response. Node's header, request and keep-alive
// timeouts only cover receiving a request; without this, a client that stops reading
// holds its socket and the open cache file being streamed to it forever.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A socket that has seen no progress for `ms` is closed, unless its current response has
 * not started yet: then hexproxy is still waiting on upstream (bounded by its own
 * timeouts), and the client is waiting too. Node does not fire the timeout while queued
 * writes are still draining, so a slow client that keeps reading is not cut off.
 */
export function installSendTimeout(server: Server, ms: number): void {
  // The socket's latest response; a finished one has its headers sent, so it does not
  // hold the socket open (no listener per response: this runs on every hot request).
  const latest = new WeakMap<Socket, ServerResponse>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    latest.set(request.socket, response);
  });
  server.setTimeout(ms, (socket: Socket) => {
    const response = latest.get(socket);
    if (response && !response.headersSent && !response.destroyed) {
      socket.setTimeout(ms);
      return;
    }
    socket.destroy();
  });
}
