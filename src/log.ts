// Structured JSON logs (pino) on stdout; one logger per process, children per request.
// The access log (one line per request) is most of what a warm hit costs beyond Node's own
// work, so it is kept cheap (docs/performance.md, "Fast by default"):
// - on stdout, the lines of one turn of the event loop go out in one write at its end, and
//   on exit: no line waits longer than that turn, and neither a normal shutdown
//   (process.exit) nor an uncaught exception loses one;
// - the access line is built here, not by pino's serialiser, with the same fields in the same
//   order, and the timestamp is formatted once per millisecond;
// - config accessLog can leave out hits from the cache, or every request.
import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** One request as the access log tells it. */
export interface AccessEntry {
  reqId: string;
  method: string;
  path: string;
  status: number;
  /** x-hexproxy-cache: HIT, MISS, … */
  cache?: string | undefined;
  ms: number;
  /** The releases a policy hid from the answer (x-hexproxy-policy-hidden). */
  policyHidden?: string | undefined;
}

/** Which requests get an access line (config accessLog): every one, all but hits from the cache, none. */
export type AccessLogMode = 'all' | 'misses' | 'off';

export interface AccessLog {
  /** Whether a request answered with this x-hexproxy-cache gets a line: callers skip building the entry when not. */
  wanted(cache: string | undefined): boolean;
  write(entry: AccessEntry): void;
}

const BASE = { service: 'hexproxy' };

/** Where each logger made here writes its access lines, and which. */
const accessOf = new WeakMap<Logger, { destination: DestinationStream; mode: AccessLogMode }>();
/** stdout, made once per process: every logger on it shares one buffer, so lines keep their order. */
let stdout: DestinationStream | undefined;

export function createLogger(level: string, destination?: NodeJS.WritableStream, access: AccessLogMode = 'all'): Logger {
  const stream = destination ?? (stdout ??= stdoutByTurn());
  const log = pino({ level, base: BASE, timestamp: isoTime }, stream);
  accessOf.set(log, { destination: stream, mode: access });
  return log;
}

/**
 * The access log of `log` (a logger from createLogger): one line per request at info, the
 * line pino would write for `log.info(entry, 'request')`; nothing at warn and above, and
 * only the requests its accessLog mode names.
 */
export function accessLog(log: Logger): AccessLog {
  const known = accessOf.get(log);
  const mode = known?.mode ?? 'all';
  const wanted = (cache: string | undefined): boolean => mode !== 'off' && (mode === 'all' || cache !== 'HIT') && log.isLevelEnabled('info');
  // Not one of ours (none are made elsewhere): pino writes the same line.
  if (!known) return { wanted, write: (entry) => log.info(entry, 'request') };
  const { destination } = known;
  const bindings = Object.entries(log.bindings())
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
  const write = (entry: AccessEntry): void => {
    destination.write(
      `{"level":30,"time":"${isoNow()}"${bindings},"reqId":${quoted(entry.reqId)},"method":${quoted(entry.method)},"path":${quoted(entry.path)},` +
        `"status":${entry.status}${entry.cache === undefined ? '' : `,"cache":${quoted(entry.cache)}`},"ms":${entry.ms}` +
        `${entry.policyHidden === undefined ? '' : `,"policyHidden":${quoted(entry.policyHidden)}`},"msg":"request"}\n`,
    );
  };
  return { wanted, write };
}

// What needs no escaping in JSON: request ids, methods and the paths of the hot path.
const PLAIN = /^[\w.:/+-]*$/;
const quoted = (text: string): string => (PLAIN.test(text) ? `"${text}"` : JSON.stringify(text));

let isoMs = -1;
let iso = '';
/** pino.stdTimeFunctions.isoTime's text, formatted once per millisecond. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}
const isoTime = (): string => `,"time":"${isoNow()}"`;

/** pino.destination({ contentMode: 'buffer' }) writes Buffers; its type declares strings only. */
interface ByteDestination {
  write(bytes: Buffer): boolean;
}

/**
 * stdout, one write per turn of the event loop: lines are gathered, then written at the end
 * of the turn (setImmediate) or on exit, in one writeSync. What that leaves (a partial
 * write, a full pipe, a closed one) goes to pino's synchronous destination, which retries
 * or gives up as pino does.
 */
function stdoutByTurn(): DestinationStream {
  const fd1 = pino.destination({ dest: 1, sync: true, contentMode: 'buffer' }) as unknown as ByteDestination;
  let lines: string[] = [];
  let scheduled = false;
  let direct = true;
  const flush = (): void => {
    scheduled = false;
    if (lines.length === 0) return;
    const text = lines.join('');
    lines = [];
    let written = 0;
    if (direct) {
      try {
        written = writeSync(1, text);
      } catch {
        // From now on through pino's destination: it tells a full pipe from a closed one.
        direct = false;
      }
    }
    if (written < Buffer.byteLength(text)) fd1.write(Buffer.from(text).subarray(written));
  };
  // 'exit' follows process.exit() and an uncaught exception alike; no turn is left after it.
  process.on('exit', flush);
  return {
    write(line: string): void {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
