// Hostile input over raw TCP: a seeded fuzz of malformed, malicious and rude requests, and
// a slowloris attack. hexproxy must never crash, answer 5xx, send malformed HTTP, serve a
// path with a traversal in it, leak a file outside its data directory, leave stray files,
// or pass anything odd on to upstream. Replay a run with FUZZ_SEED=<seed> (printed).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { eachLimited, exchange, printable, type ExchangeOutcome } from '../support/fuzz/client.js';
import { dataDirLayout, judge, listTree, type Problem, type ProblemKind } from '../support/fuzz/oracle.js';
import { Random, fuzzSeed } from '../support/fuzz/random.js';
import { FUZZ_KINDS, FuzzCaseGenerator, buildRequest, type FuzzCase, type FuzzTargets } from '../support/fuzz/requests.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/fuzz/upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const CASES = 10_000;
const CONCURRENCY = 32;
const CLIENT_TIMEOUT_MS = 8_000;

const packages: PackageSpec[] = [
  { name: 'alpha', releases: [{ version: '1.0.0' }, { version: '1.1.0', dependencies: [{ package: 'beta', requirement: '~> 2.0' }] }] },
  { name: 'beta', releases: [{ version: '2.0.0' }, { version: '2.1.0-rc.1' }] },
  { name: 'legacy', releases: [{ version: '0.1.0', omitOuterChecksum: true }] },
];
const releases = packages.flatMap((pkg) => pkg.releases.map((release) => ({ name: pkg.name, version: release.version })));
// A list is fetched and cached with its .signed file.
const INSTALLS = ['hex-1.x.csv', 'hex-1.x.csv.signed'];

// The only request targets hexproxy may send upstream (README: the repository protocol).
const UPSTREAM_SHAPE =
  /^\/(names|versions|packages\/[a-z][a-z0-9_]*|tarballs\/[a-z][a-z0-9_]*-[0-9A-Za-z.+-]+\.tar|docs\/[a-z][a-z0-9_]*-[0-9A-Za-z.+-]+\.tar\.gz|installs\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*(\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)*)$/;

/** Unhandled errors in this process while a block of tests runs. */
function watchUnhandled(): { errors: string[]; stop(): void } {
  const errors: string[] = [];
  const onException = (error: Error): void => {
    errors.push(`uncaughtException: ${error.stack ?? error.message}`);
  };
  const onRejection = (reason: unknown): void => {
    errors.push(`unhandledRejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    errors,
    stop() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** Asks /healthz every `everyMs` over a fresh connection until stopped; records every answer. */
function monitorHealth(port: number, everyMs: number): { stop(): Promise<{ ok: number; failures: string[] }> } {
  let running = true;
  const failures: string[] = [];
  let ok = 0;
  const loop = (async () => {
    while (running) {
      const outcome = await exchange(port, {
        chunks: [
          buildRequest({
            target: '/healthz',
            headers: [
              ['Host', 'localhost'],
              ['Connection', 'close'],
            ],
          }),
        ],
        methods: ['GET'],
        expectedResponses: 1,
        timeoutMs: 5_000,
      });
      const response = outcome.parsed.responses[0];
      if (response?.status === 200 && response.body.toString() === '{"status":"ok"}') ok += 1;
      else failures.push(`${response?.statusLine ?? 'no answer'} after ${Math.round(outcome.ms)} ms${outcome.timedOut ? ' (timed out)' : ''}`);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failures };
    },
  };
}

function summarise(problems: readonly Problem[], seed: number): Record<string, string[]> {
  const byKind: Record<string, string[]> = {};
  for (const problem of problems) {
    const list = (byKind[problem.kind] ??= []);
    if (list.length < 8) list.push(`case ${problem.caseIndex} (${problem.caseKind}, FUZZ_SEED=${seed}): ${problem.detail}; sent ${problem.request}`);
  }
  return byKind;
}

interface FuzzRun {
  seed: number;
  cases: number;
  requests: number;
  elapsedMs: number;
  /** Cases of each kind, and answers by status (or how the exchange ended without one). */
  kinds: Record<string, number>;
  answers: Record<string, number>;
  problems: Problem[];
  health: { ok: number; failures: string[] };
}

describe('hostile input fuzz', () => {
  const seed = fuzzSeed();
  const canary = `hexproxy-fuzz-canary-${randomBytes(16).toString('hex')}`;
  let upstream: FakeUpstream;
  let recorder: RecordingUpstream;
  let proxy: TestProxy;
  let parent: string;
  let dataDir: string;
  let unhandled: ReturnType<typeof watchUnhandled>;
  let run: FuzzRun;
  const okTargets = [
    '/names',
    '/versions',
    '/public_key',
    '/healthz',
    ...packages.map((p) => `/packages/${p.name}`),
    ...releases.map((r) => `/tarballs/${r.name}-${r.version}.tar`),
    ...releases.map((r) => `/docs/${r.name}-${r.version}.tar.gz`),
    ...INSTALLS.map((f) => `/installs/${f}`),
  ];
  const examples = (...kinds: ProblemKind[]): string[] =>
    kinds.flatMap(
      (kind) =>
        summarise(
          run.problems.filter((p) => p.kind === kind),
          run.seed,
        )[kind] ?? [],
    );

  beforeAll(async () => {
    unhandled = watchUnhandled();
    upstream = await startFakeUpstream({ packages });
    recorder = await startRecordingUpstream(upstream.url);
    // Canaries next to the data directory, where a "../" would lead.
    parent = tempDir('hexproxy-fuzz-');
    dataDir = join(parent, 'data');
    writeFileSync(join(parent, 'secret.txt'), `${canary}\n`);
    mkdirSync(join(parent, 'etc'));
    writeFileSync(join(parent, 'etc', 'passwd'), `root:${canary}:0:0::/root:/bin/sh\n`);
    proxy = await startProxy({
      upstreamUrl: recorder.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      dataDir,
      // Warnings and errors only: 10,000 access-log lines would only slow the run down.
      flags: { 'log-level': 'warn' },
    });
    run = await fuzz(proxy.server.port, seed, okTargets, canary);
  });

  afterAll(async () => {
    unhandled?.stop();
    await proxy?.close();
    await recorder?.close();
    await upstream?.close();
  });

  it(`sends at least 10,000 requests, and hexproxy answers /healthz all along and after`, async () => {
    expect(run.requests).toBeGreaterThanOrEqual(10_000);
    // The fuzz reached every corner it means to: each kind of case, and each kind of answer.
    expect(Object.keys(run.kinds).sort()).toEqual([...FUZZ_KINDS, 'traversalSweep'].sort());
    for (const answer of ['200', '304', '400', '404', '405', '431', 'client hung up', 'closed without answer']) {
      expect({ answer, seen: (run.answers[answer] ?? 0) > 0 }).toEqual({ answer, seen: true });
    }
    expect(run.health.failures).toEqual([]);
    expect(run.health.ok).toBeGreaterThan(0);
    expect((await proxy.get('/healthz')).status).toBe(200);
  });

  it('answers no request with a 5xx (the upstream is healthy)', () => {
    expect(examples('server-error')).toEqual([]);
    expect(
      proxy.logs.filter((line) => line.msg === 'unexpected error' || line.msg === 'request failed').map((line) => JSON.stringify(line).slice(0, 400)),
    ).toEqual([]);
  });

  it('answers in well-formed HTTP/1.x or closes the connection, and never stops halfway', () => {
    expect(examples('malformed', 'truncated')).toEqual([]);
  });

  it('answers every request or closes the connection; never leaves a client hanging', () => {
    expect(examples('hang', 'unanswered')).toEqual([]);
  });

  it('answers what each request calls for, with a sane x-request-id', () => {
    expect(examples('unexpected-status', 'request-id')).toEqual([]);
  });

  it('never sends the canary next to the data directory, the SQLite header or a private key', () => {
    expect(examples('leak')).toEqual([]);
  });

  // Found by this fuzz: the node adapter parses targets with a "%" as WHATWG URLs, which
  // resolve ".%2e", "%2e." and "%2e" as dot segments; the 400 check now knows them too.
  it('never serves a path with a traversal token in it, and answers 400 to every unsafe path README lists', () => {
    expect(examples('unsafe-path-served', 'unsafe-path-not-400')).toEqual([]);
  });

  // The same defect, as a fixed reproducer.
  it('refuses dot segments written with %2e (".%2e", "%2e.", "%2e") with 400, before URL normalisation', async () => {
    const targets = [
      '/x/.%2e/names',
      '/x/%2e./names',
      '/x/%2E./names',
      '/%2e/names',
      '/.%2e/healthz',
      '/tarballs/alpha/.%2e/alpha-1.0.0.tar',
      '/installs/a/%2e./hex-1.x.csv',
      '/packages/%2e/alpha',
      '/packages/alpha/%2e',
      'http://evil/x/.%2e/names',
    ];
    const answers: string[] = [];
    for (const target of targets) {
      const outcome = await exchange(proxy.server.port, {
        chunks: [
          buildRequest({
            target,
            headers: [
              ['Host', 'localhost'],
              ['Connection', 'close'],
            ],
          }),
        ],
        methods: ['GET'],
        expectedResponses: 1,
        timeoutMs: 5_000,
      });
      answers.push(`${target} -> ${outcome.parsed.responses[0]?.status ?? 'no answer'}`);
    }
    expect(answers).toEqual(targets.map((target) => `${target} -> 400`));
  });

  it('still serves every resource, byte for byte, after the fuzz', async () => {
    // This also waits for any fill a disconnected client left running (single flight).
    for (const target of okTargets) {
      const response = await proxy.get(target);
      expect({ target, status: response.status }).toEqual({ target, status: 200 });
      const original =
        target.startsWith('/tarballs/') || target.startsWith('/docs/') || target.startsWith('/installs/') ? upstream.body(target) : undefined;
      if (original) expect(response.body.equals(original)).toBe(true);
    }
  });

  it('writes nothing outside the data directory, and only the documented layout inside it', async () => {
    for (const target of okTargets) await proxy.head(target);
    expect(listTree(parent).filter((path) => path === 'data/' || !path.startsWith('data/'))).toEqual(['data/', 'etc/', 'etc/passwd', 'secret.txt']);
    const layout = dataDirLayout('hexpm', releases, INSTALLS);
    const tree = listTree(dataDir);
    expect(tree.filter((path) => !layout.some((pattern) => pattern.test(path)))).toEqual([]);
    // The fuzz did reach the cache: the layout check is not vacuous.
    expect(tree).toEqual(
      expect.arrayContaining(['hexproxy.db', 'registry/hexpm/names', 'tarballs/hexpm/alpha/alpha-1.0.0.tar', 'passthrough/installs/hex-1.x.csv']),
    );
  });

  it('sent upstream only GETs of the repository protocol, with nothing of the client in them', () => {
    const requests = recorder.requests;
    expect(requests.length).toBeGreaterThan(0);
    const odd = requests.filter((r) => r.method !== 'GET' || !UPSTREAM_SHAPE.test(r.target)).map((r) => `${r.method} ${printable(r.target)}`);
    expect([...new Set(odd)]).toEqual([]);
    expect(requests.filter((r) => 'x-fuzz-marker' in r.headers || 'x-request-id' in r.headers || 'cookie' in r.headers).map((r) => r.target)).toEqual(
      [],
    );
    // A tarball is fetched only for a release the signed registry lists (README).
    const known = new Set(releases.map((r) => `/tarballs/${r.name}-${r.version}.tar`));
    expect([...new Set(requests.filter((r) => r.target.startsWith('/tarballs/') && !known.has(r.target)).map((r) => r.target))]).toEqual([]);
  });

  it('raised no unhandled error in the process', () => {
    expect(unhandled.errors).toEqual([]);
  });
});

/** Generates and sends the cases (the sweep, then random ones) and judges every answer. */
async function fuzz(port: number, seed: number, okTargets: string[], canary: string): Promise<FuzzRun> {
  console.log(`hostile-input fuzz: FUZZ_SEED=${seed} (set FUZZ_SEED to replay)`);
  const targets: FuzzTargets = {
    ok: okTargets,
    notFound: [
      '/packages/nosuch',
      '/packages/zz_missing',
      '/tarballs/alpha-9.9.9.tar',
      '/docs/alpha-9.9.9.tar.gz',
      '/installs/hex-9.x.csv',
      '/nothing/here',
      '/',
    ],
    packages: packages.map((p) => p.name),
    releases,
    host: `127.0.0.1:${port}`,
  };
  const generator = new FuzzCaseGenerator(new Random(seed), targets);
  const sweep = generator.sweep();
  const cases: FuzzCase[] = [...sweep, ...Array.from({ length: CASES - sweep.length }, () => generator.next())];
  const problems: Problem[] = [];
  const answers = new Map<string, number>();
  const count = (key: string): void => {
    answers.set(key, (answers.get(key) ?? 0) + 1);
  };
  const markers = { secrets: [canary, 'SQLite format 3', 'PRIVATE KEY'] };
  const health = monitorHealth(port, 100);
  const started = performance.now();
  await eachLimited(cases, CONCURRENCY, async (fuzzCase) => {
    const outcome: ExchangeOutcome = await exchange(port, {
      chunks: fuzzCase.chunks,
      methods: fuzzCase.methods,
      expectedResponses: fuzzCase.expectedResponses,
      timeoutMs: CLIENT_TIMEOUT_MS,
      ...(fuzzCase.disconnect ? { disconnect: fuzzCase.disconnect } : {}),
    });
    problems.push(...judge(fuzzCase, outcome, markers));
    for (const response of outcome.parsed.responses) count(String(response.status));
    if (outcome.parsed.responses.length === 0)
      count(fuzzCase.disconnect ? 'client hung up' : outcome.timedOut ? 'no answer (client timeout)' : 'closed without answer');
  });
  const elapsedMs = Math.round(performance.now() - started);
  const requests = cases.reduce((sum, c) => sum + c.methods.length, 0);
  const kinds = new Map<string, number>();
  for (const c of cases) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
  const problemCounts = new Map<string, number>();
  for (const p of problems) problemCounts.set(p.kind, (problemCounts.get(p.kind) ?? 0) + 1);
  console.log(
    `hostile-input fuzz: ${cases.length} cases, ${requests} requests in ${elapsedMs} ms (FUZZ_SEED=${seed})\n` +
      `  kinds: ${JSON.stringify(Object.fromEntries(kinds))}\n  answers: ${JSON.stringify(Object.fromEntries([...answers].sort()))}\n` +
      `  problems: ${JSON.stringify(Object.fromEntries(problemCounts))}`,
  );
  // FUZZ_REPORT=FILE writes every problem found, not just the first few of each kind.
  const reportFile = process.env['FUZZ_REPORT'];
  if (reportFile) writeFileSync(reportFile, JSON.stringify({ seed, problems }, null, 2));
  return {
    seed,
    cases: cases.length,
    requests,
    elapsedMs,
    kinds: Object.fromEntries(kinds),
    answers: Object.fromEntries(answers),
    problems,
    health: await health.stop(),
  };
}

describe('slowloris', () => {
  const HEADERS_TIMEOUT_MS = 500;
  const REQUEST_TIMEOUT_MS = 1_000;
  // Node closes a connection past headersTimeout / requestTimeout when its connection
  // check runs; allow one check interval of up to 1 s and some slack for a busy machine.
  const BOUND_MS = HEADERS_TIMEOUT_MS + REQUEST_TIMEOUT_MS + 1_000 + 1_500;
  const ATTACKERS = 50;
  let upstream: FakeUpstream;
  let proxy: TestProxy;
  let unhandled: ReturnType<typeof watchUnhandled>;
  let attack: { connections: SlowConnection[]; health: { ok: number; failures: string[] } };

  beforeAll(async () => {
    unhandled = watchUnhandled();
    upstream = await startFakeUpstream({ packages });
    proxy = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      flags: { 'headers-timeout-ms': String(HEADERS_TIMEOUT_MS), 'request-timeout-ms': String(REQUEST_TIMEOUT_MS), 'log-level': 'warn' },
    });
    attack = await slowloris(proxy.server.port, ATTACKERS, BOUND_MS);
    const summary = SLOW_VARIANTS.map(({ variant }) => {
      const mine = attack.connections.filter((c) => c.variant === variant);
      const closed = mine
        .map((c) => c.closedAfterMs)
        .filter((ms): ms is number => ms !== undefined)
        .sort((a, b) => a - b);
      const answers = [...new Set(mine.map((c) => c.answered ?? 'nothing'))].join(', ');
      return `${variant}: ${closed.length}/${mine.length} closed${closed.length ? ` after ${Math.round(closed[0] ?? 0)}-${Math.round(closed[closed.length - 1] ?? 0)} ms` : ''} (answered: ${answers})`;
    });
    console.log(
      `slowloris within ${BOUND_MS + 500} ms: ${summary.join('; ')}; /healthz answered ${attack.health.ok} times meanwhile, failed ${attack.health.failures.length}`,
    );
  });

  afterAll(async () => {
    unhandled?.stop();
    await proxy?.close();
    await upstream?.close();
  });

  it(`keeps answering /healthz while ${ATTACKERS} connections trickle requests a byte at a time`, () => {
    expect(attack.health.failures).toEqual([]);
    expect(attack.health.ok).toBeGreaterThanOrEqual(3);
    expect(unhandled.errors).toEqual([]);
  });

  // Found by this test: Node enforces headersTimeout and requestTimeout only when its
  // connection check runs (connectionsCheckingInterval, 30 s by default); startServer now
  // runs it every second.
  it(`closes every trickling connection within ${BOUND_MS} ms (headersTimeout ${HEADERS_TIMEOUT_MS} ms, requestTimeout ${REQUEST_TIMEOUT_MS} ms)`, () => {
    const late = attack.connections.filter((c) => c.closedAfterMs === undefined || c.closedAfterMs > BOUND_MS);
    expect(late).toEqual([]);
  });
});

interface SlowConnection {
  variant: string;
  /** When the server closed it, from the connect; undefined if it was still open at the deadline. */
  closedAfterMs: number | undefined;
  /** The status line of whatever the server answered before closing. */
  answered: string | undefined;
}

const SLOW_VARIANTS = [
  // Never finishes the request line.
  { variant: 'request line', head: '', drip: `GET /packages/${'a'.repeat(4_000)}` },
  // Never finishes the headers.
  { variant: 'headers', head: '', drip: `GET /names HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${'a'.repeat(4_000)}` },
  // Whole headers at once, then a body that never ends (requestTimeout, not headersTimeout).
  { variant: 'GET body', head: 'GET /names HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n', drip: 'a'.repeat(4_000) },
  { variant: 'POST body', head: 'POST /names HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n', drip: 'a'.repeat(4_000) },
] as const;

/**
 * Opens `count` connections that each trickle a request one byte every 50 ms and never
 * finish it, while a normal client asks /healthz. Waits for the server to close each one,
 * up to `boundMs` (plus a little); then hangs up on whatever is still open.
 */
async function slowloris(
  port: number,
  count: number,
  boundMs: number,
): Promise<{ connections: SlowConnection[]; health: { ok: number; failures: string[] } }> {
  const health = monitorHealth(port, 50);
  const sockets: Socket[] = [];
  const closes = Array.from(
    { length: count },
    (_, i) =>
      new Promise<SlowConnection>((resolve) => {
        const { variant, head, drip } = SLOW_VARIANTS[i % SLOW_VARIANTS.length] ?? SLOW_VARIANTS[0];
        const payload = Buffer.from(drip);
        const started = performance.now();
        const socket = connect({ port, host: '127.0.0.1' });
        sockets.push(socket);
        let sent = 0;
        let closedByServer = false;
        let answered: string | undefined;
        if (head) socket.write(head);
        const timer = setInterval(() => {
          if (sent < payload.length && socket.writable) socket.write(payload.subarray(sent, ++sent));
        }, 50);
        socket.on('data', (chunk: Buffer) => {
          answered ??= chunk.toString('latin1').split('\r\n')[0];
        });
        socket.on('end', () => {
          closedByServer = true;
        });
        socket.on('error', () => {
          closedByServer = true;
        });
        socket.on('close', () => {
          clearInterval(timer);
          resolve({ variant, closedAfterMs: closedByServer ? performance.now() - started : undefined, answered });
        });
      }),
  );
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    deadlineTimer = setTimeout(resolve, boundMs + 500);
  });
  await Promise.race([Promise.all(closes), deadline]);
  clearTimeout(deadlineTimer);
  for (const socket of sockets) socket.destroy();
  return { connections: await Promise.all(closes), health: await health.stop() };
}
