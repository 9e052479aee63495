// Two `hexproxy serve` processes with one signing key (made once with `hexproxy keygen`), each
// with its own data directory, behind the shipped nginx configuration as a load balancer
// (issue 18): every replica answers a registry file with the same bytes and ETag, directly
// and through the tier; with one replica killed (SIGKILL), plain HTTP clients and rebar3
// keep working through the other.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, serveCli, type ServingCli } from '../support/cli.js';
import { nginxBinary, requireNginx, startTier, type Tier } from '../support/nginx.js';
import { tempDir } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

const hasRebar3 = await rebar3Available();

interface Answer {
  status: number;
  etag: string | null;
  cacheStatus: string | null;
  body: Buffer;
}

async function get(url: string): Promise<Answer> {
  const response = await fetch(url);
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    cacheStatus: response.headers.get('x-cache-status'),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

describe('replicas need nginx', () => {
  it.runIf(requireNginx)("nginx is installed (CI=true: .ci/run installs Debian's nginx)", () => {
    expect(nginxBinary).toBeDefined();
  });
});

describe.skipIf(nginxBinary === undefined)('two replicas with one key behind the tier', () => {
  let upstream: FakeUpstream;
  let replicas: ServingCli[] = [];
  let tier: Tier;
  let publicKeyPem = '';

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      packages: [
        { name: 'rep_a', releases: [{ version: '1.0.0', dependencies: [{ package: 'rep_b', requirement: '~> 1.0' }] }] },
        { name: 'rep_b', releases: [{ version: '1.0.0' }] },
        { name: 'rep_c', releases: [{ version: '2.0.0' }] },
      ],
    });
    const dir = tempDir('hexproxy-replicas-');
    const upstreamKey = join(dir, 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    const configFile = join(dir, 'hexproxy.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        upstream: { url: upstream.url, apiUrl: `${upstream.url}/api`, publicKey: upstreamKey, retries: 0, cooldownSeconds: 0 },
        installs: { url: upstream.url },
        http: { trustedProxies: ['127.0.0.1'] },
      }),
    );
    // The key pair is made once and shared: replicas sign alike only with one key.
    const keys = tempDir('hexproxy-replica-keys-');
    const key = ['--private-key', join(keys, 'hexproxy.pem'), '--public-key', join(keys, 'hexproxy.pub.pem')];
    const made = await runCli(['keygen', '--config', configFile, '--data-dir', tempDir(), ...key]);
    expect(made.code, made.stderr).toBe(0);
    publicKeyPem = readFileSync(join(keys, 'hexproxy.pub.pem'), 'utf8');
    replicas = await Promise.all(
      ['a', 'b'].map(() =>
        serveCli(['serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', tempDir('hexproxy-replica-'), ...key]),
      ),
    );
    tier = await startTier({ upstreams: replicas.map((replica) => new URL(replica.url).host) });
  });

  afterAll(async () => {
    await tier?.stop();
    for (const replica of replicas) await replica.stop();
    await upstream?.close();
  });

  it('answers a registry file with the same bytes and ETag from each replica, directly and through the tier', async () => {
    for (const path of ['/names', '/versions', '/packages/rep_a', '/mirror/packages/rep_a', '/tarballs/rep_a-1.0.0.tar', '/public_key']) {
      const [first, second] = await Promise.all(replicas.map((replica) => get(`${replica.url}${path}`)));
      const tiered = await get(`${tier.url}${path}`);
      for (const answer of [first, second, tiered]) expect(answer?.status, path).toBe(200);
      expect(second?.body.equals(first?.body ?? Buffer.alloc(0)), `${path}: the same bytes from both replicas`).toBe(true);
      expect(tiered.body.equals(first?.body ?? Buffer.alloc(0)), `${path}: the same bytes through the tier`).toBe(true);
      expect([second?.etag, tiered.etag], path).toEqual([first?.etag, first?.etag]);
    }
    expect((await get(`${tier.url}/public_key`)).body.toString()).toBe(publicKeyPem);
  });

  it('keeps serving plain HTTP clients and rebar3 through the other replica when one is killed', async () => {
    const [killed, survivor] = replicas;
    await killed?.kill();
    // Files the tier does not hold yet, so each is asked of a replica: every one answered, whichever was asked first.
    for (const path of ['/packages/rep_c', '/tarballs/rep_c-2.0.0.tar', '/mirror/packages/rep_c', '/mirror/names', '/docs/rep_c-2.0.0.tar.gz']) {
      const answer = await get(`${tier.url}${path}`);
      expect([answer.status, answer.cacheStatus], path).toEqual([200, 'MISS']);
      const direct = await get(`${survivor?.url}${path}`);
      expect([answer.body.equals(direct.body), answer.etag], path).toEqual([true, direct.etag]);
    }
    // The tier did try the killed one, and went on to the other.
    expect(tier.errorLog()).toContain(`upstream: "http://${new URL(killed?.url ?? '').host}`);
    if (!hasRebar3 && !requireRebar3) return;
    expect(hasRebar3, 'rebar3 is installed (CI=true: .ci/run installs it)').toBe(true);
    const project = rebar3Project({ repoUrl: tier.url, publicKeyPem, deps: ['{rep_a, "~> 1.0"}'] });
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    const lock = readFileSync(join(project.dir, 'rebar.lock'), 'utf8');
    for (const name of ['rep_a', 'rep_b']) expect(lock).toContain(`<<"${name}">>`);
  }, 180_000);
});
