// The upstream client chosen for the network mode, and the one rule of when a failed fetch
// still lets a cached copy be served. Against a real upstream server, not a stand-in.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BadRequestError,
  BuildListUnavailableError,
  ConfigError,
  NotFoundError,
  OfflineMissError,
  RegistryMemoryFullError,
  StorageError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
  UpstreamUnavailableError,
  VerificationError,
  allowsStale,
} from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { UpstreamHealth } from '../../src/upstream/health.js';
import { upstreamClientFor } from '../../src/upstream/network-mode.js';
import type { UpstreamClient } from '../../src/upstream/upstream-client.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(offline: boolean): Promise<{ upstream: FakeUpstream; client: UpstreamClient; health: UpstreamHealth }> {
  const upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  cleanups.push(() => upstream.close());
  const log = createLogger('silent', new Writable({ write: (_chunk, _encoding, done) => done() }));
  const health = new UpstreamHealth(log, upstream.url);
  const client = upstreamClientFor(offline, {
    baseUrl: upstream.url,
    timeoutMs: 500,
    minBytesPerSecond: 1,
    userAgent: 'hexproxy-test',
    retries: 0,
    health,
  });
  cleanups.push(() => client.close());
  return { upstream, client, health };
}

describe('the offline upstream client', () => {
  it('answers every request with OfflineMissError naming the path, asks nobody, and leaves the health alone', async () => {
    const { upstream, client, health } = await world(true);
    const failures = [
      await client.get('packages/alpha').catch((error: unknown) => error),
      await client.getIfChanged('/tarballs/alpha-1.0.0.tar', '"an-etag"').catch((error: unknown) => error),
    ];
    expect(failures.map((error) => error instanceof OfflineMissError)).toEqual([true, true]);
    expect(failures.map((error) => (error as OfflineMissError).message)).toEqual([
      '/packages/alpha is not cached and hexproxy runs offline',
      '/tarballs/alpha-1.0.0.tar is not cached and hexproxy runs offline',
    ]);
    expect(failures.map((error) => [(error as OfflineMissError).status, (error as OfflineMissError).code])).toEqual([
      [504, 'offline_not_cached'],
      [504, 'offline_not_cached'],
    ]);
    const refused = client.refusal('tarball alpha-1.0.0');
    expect(refused).toBeInstanceOf(OfflineMissError);
    expect(refused?.message).toBe('tarball alpha-1.0.0 is not cached and hexproxy runs offline');
    expect(client.baseUrl).toBe(upstream.url);
    expect(upstream.totalHits()).toBe(0);
    expect(health.state).toBe('unknown');
  });
});

describe('the HTTP upstream client', () => {
  it('refuses nothing and asks upstream', async () => {
    const { upstream, client, health } = await world(false);
    expect(client.refusal('tarball alpha-1.0.0')).toBeUndefined();
    const result = await client.getIfChanged('packages/alpha', null);
    expect(result.status).toBe(200);
    if (result.status === 200) await result.body.dump();
    expect(upstream.hits('/packages/alpha')).toBe(1);
    expect(health.state).toBe('online');
  });

  it('fails in ways that allow a stale copy, except when upstream has no such file', async () => {
    const { upstream, client } = await world(false);
    upstream.misbehave('/packages/alpha', 'status-503');
    upstream.misbehave('/names', 'hang');
    const unavailable = await client.getIfChanged('packages/alpha', null).catch((error: unknown) => error);
    const timedOut = await client.getIfChanged('names', null).catch((error: unknown) => error);
    const missing = await client.getIfChanged('packages/nosuch', null).catch((error: unknown) => error);
    expect(unavailable).toBeInstanceOf(UpstreamUnavailableError);
    expect(timedOut).toBeInstanceOf(UpstreamTimeoutError);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect([unavailable, timedOut, missing].map(allowsStale)).toEqual([true, true, false]);
  });
});

describe('allowsStale', () => {
  it('allows a stale copy after an upstream failure, offline, or bytes that do not verify; not after a 404, a storage failure or anything else', () => {
    const allowed = [
      new OfflineMissError('x'),
      new UpstreamUnavailableError('x'),
      new UpstreamTimeoutError('x'),
      new UpstreamTooLargeError('x'),
      new VerificationError('x'),
      new RegistryMemoryFullError('x'),
    ];
    const refused = [
      new NotFoundError('x'),
      new StorageError('x'),
      new BuildListUnavailableError('x'),
      new BadRequestError('x'),
      new ConfigError('x'),
      new Error('x'),
      'x',
      undefined,
    ];
    expect(allowed.map(allowsStale)).toEqual(allowed.map(() => true));
    expect(refused.map(allowsStale)).toEqual(refused.map(() => false));
  });
});
