// A client that goes away while sending a POST body is not a server error: no error-level
// log line, no hexproxy_errors_total{code="internal"}, nothing on the Status page's recent
// errors. The client is a raw socket that promises more body (Content-Length) than it
// sends, then closes.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { delta, parsePrometheus, sample, type Samples } from '../support/prometheus.js';
import { startProxy, type LogRecord, type TestProxy } from '../support/proxy.js';

let upstream: FakeUpstream;
let proxy: TestProxy;
let admin = '';

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy: { deny: ['alpha'] } } });
  const created = await runCli(['token', 'create', 'ops', '--read', 'hexpm', '--admin', '--data-dir', proxy.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  admin = created.stdout.trim();
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

async function scrape(): Promise<Samples> {
  const response = await proxy.get('/metrics');
  expect(response.status).toBe(200);
  return parsePrometheus(response.body.toString());
}

/** Sends the head of a POST promising `declared` body bytes, `sent` of them, then closes once the server has the head. */
async function abortedPost(path: string, headers: Record<string, string>, declared: number, sent: string): Promise<void> {
  const { port } = new URL(proxy.url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    `content-length: ${declared}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${head.join('\r\n')}\r\n\r\n${sent}`);
  // Once the handler has started reading the body, hexproxy has the request; then go away.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.destroy();
  await closed;
}

/** The access-log line of the request to `path` made after `from` log records, once hexproxy has written it. */
async function accessLine(path: string, from: number): Promise<LogRecord> {
  return vi.waitFor(
    () => {
      const line = proxy.logs.slice(from).find((record) => record.msg === 'request' && record.path === path);
      if (!line) throw new Error(`no access-log line for ${path} yet`);
      return line;
    },
    { timeout: 5000, interval: 10 },
  );
}

describe('a client that aborts a POST body', () => {
  it.each([
    ['/api/policy/check', () => ({ 'content-type': 'text/plain' }), '%{\n  "alpha": {:hex, :alpha, "1.0.0", '],
    ['/api/admin/prewarm', () => ({ 'content-type': 'application/json', authorization: admin }), '{"specs": ["alp'],
    ['/api/admin/evict', () => ({ 'content-type': 'application/json', authorization: admin }), '{"name": '],
  ])('%s: logged as the client going away, not counted or shown as a server error', async (path, headers, sent) => {
    const before = await scrape();
    const from = proxy.logs.length;
    await abortedPost(path, headers(), 100_000, sent);
    const line = await accessLine(path, from);
    const after = await scrape();

    // 499, nginx's "client closed request": what the access log and the metrics record.
    expect(line.status).toBe(499);
    const logged = proxy.logs.slice(from);
    expect(
      logged.filter((record) => record.level >= 40),
      JSON.stringify(logged),
    ).toEqual([]);
    expect(logged.some((record) => record.code === 'client_closed_request' && record.level <= 30)).toBe(true);
    expect(delta(before, after, sample('hexproxy_errors_total', { code: 'internal' }))).toBe(0);
    expect(delta(before, after, sample('hexproxy_errors_total', { code: 'client_closed_request' }))).toBe(1);

    // The Status page, as an admin who may see every repository's errors.
    const status = await proxy.get('/ui/status', { authorization: admin });
    expect(status.status).toBe(200);
    expect(status.body.toString()).toContain('id="no-errors"');
  });
});
