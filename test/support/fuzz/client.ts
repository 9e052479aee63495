// A raw HTTP/1.x client for hostile-input tests: bytes go out exactly as given over a plain
// TCP socket, and what comes back is parsed strictly, so a malformed response is caught
// instead of being smoothed over by an HTTP library.
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  statusLine: string;
  /** Names lower-cased, in order, repeats kept. */
  headers: [string, string][];
  body: Buffer;
}

export interface ParsedResponses {
  /** Final responses, in order (1xx interim responses are counted in `interim`). */
  responses: RawResponse[];
  interim: number;
  /** Bytes after the last complete response: a response still arriving, or cut off. */
  incomplete: Buffer;
  /** Set when the bytes are not HTTP/1.x: what was wrong, and where. */
  malformed?: string;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [\t !-~\x80-\xff]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t !-~\x80-\xff]*?)[ \t]*$/;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export function header(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key === name)?.[1];
}

/**
 * Parses the responses to requests whose methods are `methods` (a HEAD response has no
 * body). `closed`: the server closed the connection, which ends a body without a length.
 */
export function parseResponses(raw: Buffer, methods: readonly string[], closed: boolean): ParsedResponses {
  const responses: RawResponse[] = [];
  let interim = 0;
  let offset = 0;
  const result = (malformed?: string): ParsedResponses => ({
    responses,
    interim,
    incomplete: raw.subarray(offset),
    ...(malformed === undefined ? {} : { malformed: `${malformed} at byte ${offset}` }),
  });
  while (offset < raw.length) {
    const headEnd = raw.indexOf(HEAD_END, offset);
    if (headEnd < 0) {
      // Not even a whole status line yet, or a head being cut off: only bad if it cannot be HTTP.
      const partial = raw.subarray(offset, Math.min(raw.length, offset + 9)).toString('latin1');
      return 'HTTP/1.1 '.startsWith(partial) || partial.startsWith('HTTP/1.') ? result() : result(`not a status line: ${JSON.stringify(partial)}`);
    }
    const lines = raw.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = STATUS_LINE.exec(statusLine);
    if (!status) return result(`not a status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const match = HEADER_LINE.exec(line);
      if (!match) return result(`not a header line: ${JSON.stringify(line.slice(0, 80))}`);
      headers.push([(match[1] ?? '').toLowerCase(), match[2] ?? '']);
    }
    const code = Number(status[1]);
    const bodyStart = headEnd + HEAD_END.length;
    if (code >= 100 && code < 200 && code !== 101) {
      interim += 1;
      offset = bodyStart;
      continue;
    }
    const method = methods[responses.length] ?? 'GET';
    const response: RawResponse = { status: code, statusLine, headers, body: Buffer.alloc(0) };
    const lengths = headers.filter(([name]) => name === 'content-length').map(([, value]) => value);
    const chunked = headers.some(([name, value]) => name === 'transfer-encoding' && /(^|,)\s*chunked\s*$/i.test(value));
    if (chunked && lengths.length > 0) return result('both Transfer-Encoding: chunked and Content-Length');
    if (new Set(lengths).size > 1) return result(`conflicting Content-Length: ${lengths.join(', ')}`);
    let end: number;
    if (method === 'HEAD' || code === 204 || code === 304) {
      end = bodyStart;
    } else if (chunked) {
      const body = readChunked(raw, bodyStart);
      if (body === 'malformed') return result('malformed chunked body');
      if (body === undefined) return result();
      response.body = body.body;
      end = body.end;
    } else if (lengths.length > 0) {
      const length = lengths[0] ?? '';
      if (!/^\d{1,15}$/.test(length)) return result(`bad Content-Length ${JSON.stringify(length)}`);
      end = bodyStart + Number(length);
      if (end > raw.length) return result();
      response.body = raw.subarray(bodyStart, end);
    } else {
      // Delimited by the end of the connection (HTTP/1.0 style).
      if (!closed) return result();
      end = raw.length;
      response.body = raw.subarray(bodyStart, end);
    }
    responses.push(response);
    offset = end;
  }
  return result();
}

function readChunked(raw: Buffer, start: number): { body: Buffer; end: number } | 'malformed' | undefined {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = raw.indexOf(CRLF, offset);
    if (lineEnd < 0) return raw.length - offset > 1024 ? 'malformed' : undefined;
    const sizeText = raw.subarray(offset, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return 'malformed';
    const size = parseInt(sizeText, 16);
    offset = lineEnd + 2;
    if (size === 0) {
      // Trailers (none expected), then the empty line.
      for (;;) {
        const trailerEnd = raw.indexOf(CRLF, offset);
        if (trailerEnd < 0) return undefined;
        const empty = trailerEnd === offset;
        offset = trailerEnd + 2;
        if (empty) return { body: Buffer.concat(parts), end: offset };
      }
    }
    if (offset + size + 2 > raw.length) return undefined;
    parts.push(raw.subarray(offset, offset + size));
    if (!raw.subarray(offset + size, offset + size + 2).equals(CRLF)) return 'malformed';
    offset += size + 2;
  }
}

export interface ExchangePlan {
  /** Written one after another as soon as the socket connects. */
  chunks: readonly Buffer[];
  /** The methods of the requests sent, in order (HEAD responses have no body). */
  methods: readonly string[];
  /** Stop reading (and close) once this many final responses have arrived. */
  expectedResponses: number;
  /**
   * Close from the client side: after writing everything ('after-send'), or after the
   * first byte of the answer ('after-first-byte').
   */
  disconnect?: 'after-send' | 'after-first-byte';
  timeoutMs: number;
}

export interface ExchangeOutcome {
  raw: Buffer;
  parsed: ParsedResponses;
  /** The server ended or reset the connection. */
  closedByServer: boolean;
  /** The connection was reset (ECONNRESET, EPIPE): a response may have been cut short. */
  reset: boolean;
  /** Nothing more arrived for timeoutMs before the expected responses were complete. */
  timedOut: boolean;
  ms: number;
}

/** One connection: send the plan's bytes, read until the expected answers, a close or the timeout. */
export function exchange(port: number, plan: ExchangePlan): Promise<ExchangeOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let closedByServer = false;
    let reset = false;
    let timedOut = false;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const armTimer = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        socket.destroy();
      }, plan.timeoutMs);
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      resolve({ raw, parsed: parseResponses(raw, plan.methods, closedByServer), closedByServer, reset, timedOut, ms: performance.now() - started });
    };
    socket.on('connect', () => {
      for (const chunk of plan.chunks) socket.write(chunk);
      if (plan.disconnect === 'after-send') socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      armTimer();
      if (plan.disconnect === 'after-first-byte') {
        socket.destroy();
        return;
      }
      const parsed = parseResponses(Buffer.concat(chunks), plan.methods, false);
      if (parsed.malformed !== undefined || parsed.responses.length >= plan.expectedResponses) socket.destroy();
    });
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answers and closes while the request is still being written resets it.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') {
        reset = true;
        closedByServer = true;
      }
    });
    socket.on('close', finish);
    armTimer();
  });
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A short printable form of raw request bytes, for failure reports. */
export function printable(bytes: Buffer | string, max = 160): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  const escaped = JSON.stringify(text.length > max ? `${text.slice(0, max)}` : text);
  return text.length > max ? `${escaped}…(${text.length} bytes)` : escaped;
}
