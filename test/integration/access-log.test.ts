// The access log at the default level (issue 18, "Fast by default"). On stdout, src/log.ts
// gathers the lines of one turn of the event loop and writes them together at its end or on
// exit; these tests check that no line is lost that way: not when SIGTERM stops `serve`, not
// when an uncaught exception crashes it, not when the process ends in the very turn that
// wrote them, and that start-up lines are not held back.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/paths.js';
import { serveCli, type ServingCli } from '../support/cli.js';
import { startProxy, tempDir } from '../support/proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

let upstream: FakeUpstream;
let upstreamKey: string;

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  upstreamKey = join(tempDir(), 'upstream.pem');
  writeFileSync(upstreamKey, upstream.publicKeyPem);
});

afterAll(async () => {
  await upstream?.close();
});

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  cache?: string;
  path?: string;
}

const logLines = (stdout: string): LogLine[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LogLine);
const requestIds = (lines: LogLine[]): string[] => lines.filter((line) => line.msg === 'request').map((line) => line.reqId ?? '');

/** `hexproxy serve` as a user starts it (no --log-level: info, one access line per request), once its JSON log says it listens. */
async function serve(env: Record<string, string> = {}): Promise<ServingCli> {
  const served = await serveCli(
    ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', tempDir(), '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey],
    env,
  );
  // The start-up line must not wait in a buffer for more lines to come: the server is idle now.
  await served.printed(/"msg":"hexproxy listening on http/);
  return served;
}

const PATHS = ['/packages/alpha', '/names'];

/**
 * Two misses (one of each path, through the routes), then `hits` hits from memory (the hot
 * path), 16 at a time so that several answers share a turn of the event loop. Resolves with
 * every request id, in the order the answers came.
 */
async function requests(url: string, hits: number): Promise<string[]> {
  const get = async (path: string, cache?: string): Promise<string> => {
    const response = await fetch(`${url}${path}`);
    await response.arrayBuffer();
    expect(response.status, path).toBe(200);
    if (cache) expect(response.headers.get('x-hexproxy-cache'), path).toBe(cache);
    return response.headers.get('x-request-id') ?? '';
  };
  const ids = [];
  for (const path of PATHS) ids.push(await get(path, 'MISS'));
  for (let sent = 0; sent < hits; sent += 16)
    ids.push(
      ...(await Promise.all(Array.from({ length: Math.min(16, hits - sent) }, (_, i) => get(PATHS[(sent + i) % PATHS.length] ?? '/names', 'HIT')))),
    );
  return ids;
}

describe('hexproxy serve at the default level', () => {
  it('says it listens on stdout straight away, and has written exactly one line per request once SIGTERM has stopped it', async () => {
    const served = await serve();
    const ids = await requests(served.url, 96);
    expect(new Set(ids).size).toBe(98);
    expect(await served.stop()).toBe(0);

    const lines = logLines(served.stdout());
    expect(requestIds(lines).sort()).toEqual([...ids].sort());
    expect(lines.filter((line) => line.msg === 'request' && line.cache === 'HIT')).toHaveLength(96);
    expect(lines.some((line) => line.msg === 'shutting down')).toBe(true);
  });

  it('keeps every line written before an uncaught exception crashes it', async () => {
    const preload = pathToFileURL(join(projectRoot, 'test', 'support', 'crash-on-signal.mjs')).href;
    const served = await serve({ NODE_OPTIONS: `--import=${preload}` });
    const ids = await requests(served.url, 48);
    // Node's exit code for an uncaught exception.
    expect(await served.kill('SIGUSR2')).toBe(1);
    expect(served.output()).toContain('crash-on-signal: an uncaught exception, as the test asked');
    expect(requestIds(logLines(served.stdout())).sort()).toEqual([...ids].sort());
  });
});

describe('config accessLog', () => {
  it.each([
    ['misses', ['MISS', 'MISS', undefined]],
    ['off', []],
  ] as const)('%s: the routes and the hot path write the access lines it names, and answer as before', async (mode, logged) => {
    const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'access-log': mode } });
    try {
      // A miss and a hit of each path (the hit from the hot path), then a request the cache has no part in.
      const answers = [];
      for (const path of [...PATHS, ...PATHS, '/healthz']) answers.push(await proxy.get(path));
      expect(answers.map((answer) => [answer.status, answer.headers['x-hexproxy-cache']])).toEqual([
        [200, 'MISS'],
        [200, 'MISS'],
        [200, 'HIT'],
        [200, 'HIT'],
        [200, undefined],
      ]);
      const lines = proxy.logs.filter((line) => line.msg === 'request');
      expect(lines.map((line) => line['cache'])).toEqual(logged);
    } finally {
      await proxy.close();
    }
  });
});

describe('lines still waiting for the end of their turn when the process ends', () => {
  it.each([
    ['process.exit (a normal shutdown)', 'exit', 0, ''],
    ['an uncaught exception (a crash)', 'throw', 1, ''],
    // 2,000 lines are more than a pipe holds: the first write comes back partial.
    ['process.exit, to a non-blocking pipe', 'exit', 0, 'nonblocking'],
  ])('are written on %s', async (_, how, code, stdoutMode) => {
    const fixture = join(projectRoot, 'test', 'support', 'log-then-end.mjs');
    const child = spawn(process.execPath, [fixture, join(projectRoot, 'dist'), how, '2000', stdoutMode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(exitCode, stderr).toBe(code);

    const lines = logLines(stdout);
    expect(lines.map((line) => line.msg)).toEqual(['before the requests', ...Array<string>(2000).fill('request'), 'the last line']);
    expect(requestIds(lines)).toEqual(Array.from({ length: 2000 }, (_, i) => `r-${i + 1}`));
    expect(new Set(lines.filter((line) => line.msg === 'request').map((line) => line.path))).toEqual(new Set(['/ui/search/café']));
  });
});
