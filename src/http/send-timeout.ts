// Cuts off clients that stop reading a response. Node's header, request and keep-alive
// timeouts only cover receiving a request and idle connections; without this, a client
// that stops reading holds its socket and the open cache file being streamed to it forever.
import { EventEmitter } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { NodeListener } from './fast-path.js';

/**
 * Responses are looked at every tenth of `ms`: a response is cut once ten looks in a row
 * saw no byte move on its socket, between `ms` and 1.1 × `ms` after its last progress.
 *
 * Why a sweep and not socket timeouts: Node re-arms a socket timeout on every request and
 * refreshes it on every write, on the hot path, and a second 'request' listener made Node
 * copy its listener list per request; the sweep costs one Map set per request and a walk
 * over open connections ten times per `ms`. (No speed difference could be measured on a
 * 2-core VM either way: docs/performance.md.) Progress is the socket's bytes written, which
 * count what Node still queues, plus bytes read: a stalled client's queued bytes do not move.
 */
const LOOKS_PER_SEND_TIMEOUT = 10;

interface Stall {
  readonly response: ServerResponse;
  moved: number;
  /** Looks in a row that saw nothing move. */
  still: number;
}

/**
 * Closes a socket whose response has started and made no progress for `ms`. A response
 * not started yet is left alone: hexproxy is still waiting on upstream (bounded by its own
 * timeouts), and the client is waiting too. A slow client that keeps reading is not cut.
 * Idle keep-alive connections are Node's (keepAliveTimeout). Emits 'look' after each look.
 */
export class SendTimeout extends EventEmitter {
  /** Each open connection's latest response, from its request on. */
  private readonly latest = new Map<Socket, ServerResponse>();
  private readonly stalls = new Map<Socket, Stall>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    super();
  }

  /** `listener`, with each response it is given watched from then on. */
  watching(listener: NodeListener): NodeListener {
    return (request, response) => {
      this.watch(request.socket, response);
      listener(request, response);
    };
  }

  /** Starts looking, until `server` closes. */
  start(server: Server): void {
    const interval = Math.max(1, Math.ceil(this.ms / LOOKS_PER_SEND_TIMEOUT));
    this.timer = setInterval(() => this.look(), interval);
    // Open connections keep the process alive, not this.
    this.timer.unref();
    server.once('close', () => clearInterval(this.timer));
  }

  private watch(socket: Socket, response: ServerResponse): void {
    const known = this.latest.size;
    this.latest.set(socket, response);
    // A new connection: forgotten when it closes (once per connection, not per request).
    if (this.latest.size !== known)
      socket.once('close', () => {
        this.latest.delete(socket);
        this.stalls.delete(socket);
      });
  }

  private look(): void {
    for (const [socket, response] of this.latest) {
      if (!response.headersSent || response.writableFinished || socket.destroyed) {
        this.stalls.delete(socket);
        continue;
      }
      const moved = socket.bytesWritten + socket.bytesRead;
      const stall = this.stalls.get(socket);
      if (stall === undefined || stall.response !== response || stall.moved !== moved) {
        this.stalls.set(socket, { response, moved, still: 0 });
        continue;
      }
      stall.still += 1;
      if (stall.still >= LOOKS_PER_SEND_TIMEOUT) socket.destroy();
    }
    this.emit('look');
  }
}
