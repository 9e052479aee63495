// Structured JSON logs (pino) on stdout; one logger per process, children per request.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { service: 'hexproxy' }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? process.stdout);
}
