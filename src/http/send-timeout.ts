// Cuts off clients that stop reading a response. Node's header, request and keep-alive
// timeouts only cover receiving a request; without this, a client that stops reading
// holds its socket and the open cache file being streamed to it forever.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The socket timeout is set to a tenth of `ms`, and a socket is cut once its timeouts
 * have followed each other for `ms`: it is closed between `ms` and 1.1 × `ms` after its
 * last progress.
 *
 * Why not one timeout of `ms`: Node does not fire a socket's timeout while its queued
 * writes are still draining, and judges that by whether the write queue changed since the
 * last write was dispatched or the last check. A write the kernel took in part counts as
 * a change at the first check, although nothing moved after it, so a stalled client was
 * cut only at the second check, after about twice `ms`. Checking every tenth of `ms`, and
 * counting a run of timeouts as one stall only while they come one interval apart with no
 * bytes written in between, bounds that error by the interval.
 */
const CHECKS_PER_SEND_TIMEOUT = 10;

/**
 * A socket that has seen no progress for `ms` is closed, unless its current response has
 * not started yet: then hexproxy is still waiting on upstream (bounded by its own
 * timeouts), and the client is waiting too. A slow client that keeps reading is not cut.
 */
export function installSendTimeout(server: Server, ms: number): void {
  const interval = Math.max(1, Math.ceil(ms / CHECKS_PER_SEND_TIMEOUT));
  // The socket's latest response; a finished one has its headers sent, so it does not
  // hold the socket open (no listener per response: this runs on every hot request).
  const latest = new WeakMap<Socket, ServerResponse>();
  // A stalled socket's current run of timeouts: when it began, the latest one, and the
  // bytes written then. Only sockets that time out are in it.
  const stalls = new WeakMap<Socket, { since: number; last: number; written: number }>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    latest.set(request.socket, response);
  });
  server.setTimeout(interval, (socket: Socket) => {
    const response = latest.get(socket);
    // Node set the keep-alive timeout when the response finished; it has passed.
    if (response?.writableFinished) {
      socket.destroy();
      return;
    }
    if (response && !response.headersSent && !response.destroyed) {
      stalls.delete(socket);
      socket.setTimeout(interval);
      return;
    }
    // Node fired: nothing moved during the last interval at least.
    const now = performance.now();
    const written = socket.bytesWritten;
    const run = stalls.get(socket);
    const continued = run !== undefined && run.written === written && now - run.last < 1.5 * interval;
    const since = continued ? run.since : now - interval;
    if (now - since >= ms) {
      socket.destroy();
      return;
    }
    stalls.set(socket, { since, last: now, written });
    socket.setTimeout(interval);
  });
}
