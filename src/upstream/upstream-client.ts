// What the mirrors ask of an upstream server, and what it answers. Two implementations:
// the HTTP client (client.ts, undici) and, when hexproxy runs --offline, one that asks
// nobody (offline-client.ts). Which one a mirror gets is decided in one place
// (network-mode.ts), so the mirrors never look at the network mode themselves.
import type { HexproxyError } from '../errors.js';

export type UpstreamBody = AsyncIterable<Uint8Array> & {
  dump(): Promise<void>;
  /** Stops reading at once; iterating then throws `error`. */
  destroy(error?: Error): void;
};

export interface UpstreamOk {
  status: 200;
  etag: string | undefined;
  contentType: string | undefined;
  contentLength: number | undefined;
  body: UpstreamBody;
}

export type UpstreamResult = UpstreamOk | { status: 304 };

export interface UpstreamClient {
  /** The server's base URL, for messages. */
  readonly baseUrl: string;

  /** GETs `path` (relative to the base URL); the body is still to be read. */
  get(path: string): Promise<UpstreamOk>;

  /**
   * GETs `path` unless it still has `etag`. Resolves with 200 (body still to be read) or
   * 304; throws NotFoundError for 404/410 and another HexproxyError for any other failure
   * (allowsStale in errors.ts says which of them still let a cached copy be served).
   */
  getIfChanged(path: string, etag: string | null): Promise<UpstreamResult>;

  /**
   * The error every request fails with before anyone is asked, naming `what` as the mirror
   * calls it ("tarball phoenix-1.7.0"); undefined when requests are sent. Only the offline
   * client has one. A mirror that must look something up before it asks (the release a
   * tarball is checked against, the list a build is checked against) asks this first, so
   * the miss is answered at once and says what was asked for.
   */
  refusal(what: string): HexproxyError | undefined;

  close(): Promise<void>;
}
