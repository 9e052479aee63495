// POST /api/policy/check is open to whoever may read the public repository (anonymous by
// default), so the work one request can make hexproxy do is bounded: a lock of more
// distinct packages than the limit is refused before anything is fetched; names upstream's
// /names does not list are answered without asking for their files; with no policy in
// force nothing can be blocked, so nothing is fetched; and the package files that checks
// do fetch wait for one limit shared by every request. Counted at the fake upstream.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type Gate, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { mixLock } from '../support/locks.js';
import { CRITICAL } from '../support/policy.js';
import { publicRepository, startProxy, type TestProxy } from '../support/proxy.js';

const LIBS = Array.from({ length: 18 }, (_, i) => `lib_${String(i).padStart(2, '0')}`);
const packages: PackageSpec[] = [
  { name: 'plug', releases: [{ version: '1.15.0', advisories: [CRITICAL] }, { version: '1.15.1' }] },
  ...LIBS.map((name) => ({ name, releases: [{ version: '1.0.0' }] })),
];
const policy = { blockAdvisorySeverity: 'high' };

let upstream: FakeUpstream;
const proxies: TestProxy[] = [];

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
});

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await upstream?.close();
});

async function proxyWith(config: Record<string, unknown>): Promise<TestProxy> {
  const proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config });
  proxies.push(proxy);
  // A policy's filtered /names and /versions are built at start (fetching /names, /versions
  // and plug's file, which has an advisory): counted before the checks are.
  await publicRepository(proxy.server).warmPolicyView();
  return proxy;
}

/** A mix.lock entry for a package nobody publishes. */
const madeUp = (i: number): string =>
  `  "made_up_${i}": {:hex, :made_up_${i}, "1.0.${i}", "${'a'.repeat(64)}", [:mix], [], "hexpm", "${'b'.repeat(64)}"},\n`;
const madeUpEntries = (count: number): string => Array.from({ length: count }, (_, i) => madeUp(i)).join('');

async function check(proxy: TestProxy, body: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${proxy.url}/api/policy/check`, { method: 'POST', body });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('the work one POST /api/policy/check can cause', () => {
  it.each([
    ['with a policy', policy],
    ['without a policy', {}],
  ])('refuses a lock of more distinct packages than the limit, naming it, before asking upstream (%s)', async (_, section) => {
    const proxy = await proxyWith({ policy: section });
    const before = upstream.totalHits();
    // 3,000 entries: about 600 KB, under the 1 MiB body limit.
    const lock = `%{\n${madeUpEntries(3000)}}\n`;
    expect(Buffer.byteLength(lock)).toBeLessThan(1024 * 1024);
    const refused = await check(proxy, lock);
    expect(refused.status).toBe(413);
    expect(refused.headers.get('x-hexproxy-error')).toBe('request_too_large');
    expect(refused.text).toBe(
      "hexproxy: the lock file pins 3000 distinct packages; POST /api/policy/check checks at most 500 per request (split the lock, or run `hexproxy policy check` where the server's configuration is)\n",
    );
    expect(upstream.totalHits()).toBe(before);
  });

  it("reports names upstream's /names does not list without asking upstream for their files", async () => {
    const proxy = await proxyWith({ policy });
    publicRepository(proxy.server).registry.dropMemory();
    const before = upstream.totalHits();
    const madeUpBefore = upstream.hits('/packages/made_up_0');
    const lock = mixLock(upstream, [{ name: 'plug', version: '1.15.0' }], madeUpEntries(499));
    const answer = await check(proxy, lock);
    expect(answer.status).toBe(409);
    const report = JSON.parse(answer.text) as { checked: number; blocked: { name: string }[]; errors: { name: string; message: string }[] };
    expect(report.checked).toBe(1);
    expect(report.blocked.map((entry) => entry.name)).toEqual(['plug']);
    expect(report.errors).toHaveLength(499);
    expect(report.errors[0]).toEqual({ name: 'made_up_0', version: '1.0.0', source: 'mix.lock', message: 'upstream has no /packages/made_up_0' });
    // /names and plug's file come from the cache (on disk, then in memory): nothing is asked
    // of upstream, and nothing for the 499 made-up names.
    expect(upstream.hits('/packages/made_up_0')).toBe(madeUpBefore);
    expect(upstream.totalHits()).toBe(before);
    expect((await check(proxy, lock)).status).toBe(409);
    expect(upstream.totalHits()).toBe(before);
  });

  it('without a policy in force, answers from the lock alone: nothing can be blocked, so nothing is fetched', async () => {
    const proxy = await proxyWith({});
    const before = upstream.totalHits();
    const answer = await check(proxy, mixLock(upstream, [{ name: 'plug', version: '1.15.0' }], madeUpEntries(400)));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({
      policyActive: false,
      note: 'no policy configured: nothing is blocked',
      checked: 401,
      blocked: [],
      skipped: [],
      errors: [],
    });
    expect(upstream.totalHits()).toBe(before);
  });

  it('makes the package files of all checks at once wait for one shared limit of 8 upstream fetches', async () => {
    const proxy = await proxyWith({ policy });
    const gates = new Map<string, Gate>(LIBS.map((name) => [name, upstream.hold(`/packages/${name}`)]));
    const waiting = (): number => [...gates.values()].reduce((sum, gate) => sum + gate.waiting, 0);
    // Three checks of six packages each: each may fetch 4 at a time, all of them together 8.
    const answers = [0, 1, 2].map((n) =>
      check(
        proxy,
        mixLock(
          upstream,
          LIBS.slice(n * 6, n * 6 + 6).map((name) => ({ name, version: '1.0.0' })),
        ),
      ),
    );
    try {
      await vi.waitFor(() => expect(waiting()).toBeGreaterThanOrEqual(8), { timeout: 5000, interval: 5 });
      // Round trips through hexproxy, so that whatever it was about to send has been sent.
      for (let i = 0; i < 3; i += 1) expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
      expect(await fetchUpstreamRoundTrip()).toBe(404);
      expect(waiting()).toBe(8);
      for (const gate of gates.values()) gate.release();
      const results = await Promise.all(answers);
      expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
      expect(results.map((result) => (JSON.parse(result.text) as { checked: number }).checked)).toEqual([6, 6, 6]);
      for (const name of LIBS) expect(upstream.hits(`/packages/${name}`)).toBe(1);
    } finally {
      for (const gate of gates.values()) gate.release();
      await Promise.allSettled(answers);
    }
  });
});

/** A request to the fake upstream itself: it answers in order, after the requests hexproxy sent before. */
async function fetchUpstreamRoundTrip(): Promise<number> {
  const response = await fetch(`${upstream.url}/nothing-here`);
  await response.arrayBuffer();
  return response.status;
}
