// The access line is built by hand in src/log.ts (pino's serialiser costs several times as
// much per request); it must be the line pino writes for the same fields: same keys in the
// same order, same escaping, nothing at warn; and config accessLog says which requests get one.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { accessLog, createLogger, type AccessEntry } from '../../src/log.js';

function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

/** The line without its time (the two loggers write in different milliseconds). */
const timeless = (line: string): string => line.replace(/"time":"[^"]+"/, '"time":"T"');

const ENTRIES: AccessEntry[] = [
  { reqId: 'a1b2c3-1f', method: 'GET', path: '/packages/plug', status: 200, cache: 'HIT', ms: 0.1 },
  { reqId: 'client.id:7', method: 'HEAD', path: '/mirror/tarballs/plug-1.16.0-rc.1+build.tar', status: 304, cache: 'HIT', ms: 12 },
  { reqId: 'x', method: 'GET', path: '/packages/plug', status: 200, cache: 'HIT', ms: 0, policyHidden: '1.14.0 (deny), 1.15.0 (advisory)' },
  { reqId: 'x', method: 'POST', path: '/api/publish', status: 201, ms: 1234.5 },
  { reqId: 'x', method: 'GET', path: '/ui/search"q\\é\u2028', status: 404, cache: undefined, ms: 3, policyHidden: undefined },
];

describe('the access line', () => {
  it.each(ENTRIES.map((entry) => [entry.path, entry] as const))('of %s is the one pino writes', (_, entry) => {
    const byHand = sink();
    const byPino = sink();
    accessLog(createLogger('info', byHand.stream)).write(entry);
    createLogger('info', byPino.stream).info(entry, 'request');
    expect(byHand.lines).toHaveLength(1);
    expect(timeless(byHand.lines[0] ?? '')).toBe(timeless(byPino.lines[0] ?? ''));
    expect(JSON.parse(byHand.lines[0] ?? '')).toMatchObject({ level: 30, service: 'hexproxy', msg: 'request', path: entry.path });
  });

  it('is not wanted at warn and above', () => {
    const access = accessLog(createLogger('warn', sink().stream));
    expect([access.wanted('HIT'), access.wanted('MISS'), access.wanted(undefined)]).toEqual([false, false, false]);
  });

  it.each([
    ['all', [true, true, true]],
    ['misses', [false, true, true]],
    ['off', [false, false, false]],
  ] as const)('is wanted with accessLog %s for a HIT, a MISS, an answer not from the cache: %j', (mode, wanted) => {
    const access = accessLog(createLogger('info', sink().stream, mode));
    expect([access.wanted('HIT'), access.wanted('MISS'), access.wanted(undefined)]).toEqual(wanted);
  });
});
