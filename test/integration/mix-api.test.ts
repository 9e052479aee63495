// Mix's API tasks with HEX_API_URL pointing at hexproxy, as behind a firewall: `mix hex.info`
// and `mix hex.package search` get the public repository's information relayed from the
// upstream API (a fake one here, test/support/upstreams/fake-hex-api.ts), and `mix hex.user whoami`
// names a hexproxy token (GET /api/users/me). Debian's elixir and the Hex archive
// (test/support/mix.ts); with CI=true their absence fails.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { startFakeHexApi, type FakeHexApi } from '../support/upstreams/fake-hex-api.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { mixHome, mixUnavailable, requireMix, type MixHome } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

const unavailable = await mixUnavailable();

describe('Mix and Hex are installed', () => {
  it.runIf(requireMix)("mix runs and the Hex archive is there (CI=true: .ci/run installs Debian's elixir)", () => {
    expect(unavailable).toBeUndefined();
  });
});

describe.skipIf(unavailable !== undefined)('Mix with HEX_API_URL at hexproxy', () => {
  let upstream: FakeUpstream;
  let api: FakeHexApi;
  let proxy: TestProxy;
  let home: MixHome;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'jason', releases: [{ version: '1.4.1' }] }] });
    api = await startFakeHexApi([
      {
        name: 'jason',
        description: 'A blazing fast JSON parser and generator in pure Elixir.',
        releases: [{ version: '1.4.1' }, { version: '1.4.0' }],
      },
      {
        name: 'jaxon',
        description: 'Streaming JSON parser.',
        releases: [{ version: '2.0.0', retirement: { reason: 'security', message: 'use 2.0.1' } }],
      },
    ]);
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'upstream-api-url': api.url } });
    home = await mixHome();
    // Where Mix asks for everything: the API at hexproxy, and its build lists (the update check) at hexproxy too.
    env = { HEX_API_URL: `${proxy.url}/api`, HEX_MIRROR: proxy.url, HEX_BUILDS_URL: proxy.url };
  });

  afterAll(async () => {
    await proxy?.close();
    await api?.close();
    await upstream?.close();
  });

  it('mix hex.info NAME prints what the upstream API says, through hexproxy, asked for once', async () => {
    const info = await home.mix(['hex.info', 'jason'], tempDir(), env);
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain('A blazing fast JSON parser and generator in pure Elixir.');
    expect(info.output).toContain('Config: {:jason, "~> 1.4.1"}');
    expect(info.output).toMatch(/Recent releases:\s+1\.4\.1 \(2024-01-01\)\s+1\.4\.0/);
    expect(info.output).toContain('All time: 3 000 000 000');
    const again = await home.mix(['hex.info', 'jason'], tempDir(), env);
    expect(again.output).toBe(info.output);
    expect(api.hits('/api/packages/jason')).toBe(1);
    // Mix asked in Erlang terms, and hexproxy asked upstream the same way.
    expect(api.requests.find((r) => r.target === '/api/packages/jason')?.headers.accept).toBe('application/vnd.hex+erlang');
  });

  it('mix hex.info NAME VERSION prints the release and its retirement; an unknown package is named', async () => {
    const release = await home.mix(['hex.info', 'jaxon', '2.0.0'], tempDir(), env);
    expect(release.code, release.output).toBe(0);
    expect(release.output).toContain('This version has been retired: (security) use 2.0.1');
    expect(release.output).toContain('Config: {:jaxon, "~> 2.0.0"}');
    const missing = await home.mix(['hex.info', 'nosuchpackage'], tempDir(), env);
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain('No package with name nosuchpackage');
  });

  it('mix hex.package search TERM lists the packages upstream finds', async () => {
    const search = await home.mix(['hex.package', 'search', 'ja'], tempDir(), env);
    expect(search.code, search.output).toBe(0);
    expect(search.output).toMatch(/jason\s+A blazing fast JSON parser/);
    expect(search.output).toMatch(/jaxon\s+Streaming JSON parser/);
    expect(api.hits('/api/packages?search=ja&sort=downloads')).toBe(1);
  });

  it('mix hex.user whoami names the hexproxy token in HEX_API_KEY, and fails for one hexproxy does not know', async () => {
    const { secret } = new TokenStore(join(proxy.dataDir, 'tokens.json')).create('ci-publish', ['hexpm'], false, { write: ['acme'] });
    const whoami = await home.mix(['hex.user', 'whoami'], tempDir(), { ...env, HEX_API_KEY: secret });
    expect(whoami.code, whoami.output).toBe(0);
    expect(whoami.output.trim().split('\n')).toContain('ci-publish');
    const unknown = await home.mix(['hex.user', 'whoami'], tempDir(), { ...env, HEX_API_KEY: 'not-a-hexproxy-token' });
    expect(unknown.output).toContain('Failed to auth');
    expect(unknown.output).toContain('the token presented is not known');
    // The keys went to hexproxy, never upstream.
    for (const request of api.requests) expect(request.headers.authorization).toBeUndefined();
  });
});
