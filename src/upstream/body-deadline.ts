// A whole-response deadline for upstream bodies. undici's bodyTimeout only bounds the gap
// between chunks, so a body dripping a byte every few seconds would hold its connection
// (and the client waiting on it) for ever. Here, once the grace period (upstream.timeoutMs)
// has passed since the request began, the bytes received must keep up with
// upstream.minBytesPerSecond on average; a body that falls behind is destroyed with a 504.
// With a Content-Length, this means the whole body must arrive within
// grace + length / rate; without one, within grace + the size limit / rate at the latest.
import { UpstreamTimeoutError } from '../errors.js';
import type { UpstreamBody } from './upstream-client.js';

export interface BodyDeadlineOptions {
  /** performance.now() when the request was sent. */
  startedAt: number;
  graceMs: number;
  /** The key that sets graceMs ("upstream.timeoutMs"). */
  graceSetting: string;
  minBytesPerSecond: number;
  /** Names the body in the error ("/packages/phoenix"). */
  what: string;
  contentLength: number | undefined;
  /** Called once when the body is done with (read, dumped, destroyed or failed). */
  onClose: () => void;
}

/** The body as undici gives it: the parts of a Readable this needs. */
export interface RawBody extends AsyncIterable<Uint8Array> {
  dump(): Promise<unknown>;
  destroy(error?: Error): unknown;
  once(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  readonly closed: boolean;
}

// Checks are at least this far apart: a body exactly on the rate is not checked in a loop.
const MIN_CHECK_INTERVAL_MS = 100;

/** `body`, counting what is read from it and destroyed if it falls behind the rate. */
export function withDeadline(body: RawBody, options: BodyDeadlineOptions): UpstreamBody {
  let received = 0;
  let timer: NodeJS.Timeout | undefined;
  const elapsedMs = (): number => performance.now() - options.startedAt;

  const schedule = (): void => {
    const dueMs = options.graceMs + (received / options.minBytesPerSecond) * 1000;
    timer = setTimeout(check, Math.max(MIN_CHECK_INTERVAL_MS, dueMs - elapsedMs()));
    timer.unref();
  };
  const check = (): void => {
    const elapsed = elapsedMs();
    if (received * 1000 >= options.minBytesPerSecond * (elapsed - options.graceMs)) return schedule();
    const of = options.contentLength === undefined ? '' : ` of ${options.contentLength}`;
    body.destroy(
      new UpstreamTimeoutError(
        `upstream timed out on ${options.what}: it sent ${received}${of} bytes in ${(elapsed / 1000).toFixed(1)} s, slower than upstream.minBytesPerSecond (${options.minBytesPerSecond} bytes/s) once the first ${options.graceMs} ms (${options.graceSetting}) had passed`,
      ),
    );
  };

  // Destroyed while nobody reads it, the body's error has no other listener; a reader still gets it.
  body.on('error', () => undefined);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    options.onClose();
  };
  body.once('close', close);
  if (body.closed) close();
  else schedule();

  return {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of body) {
        received += chunk.length;
        yield chunk;
      }
    },
    async dump() {
      await body.dump();
    },
    destroy(error?: Error) {
      body.destroy(error);
    },
  };
}
