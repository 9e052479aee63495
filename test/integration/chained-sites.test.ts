// Sites chained to a central one: a fake hex.pm → a central hexproxy that needs a token
// (auth.requireToken) and hosts a repository → an edge hexproxy whose upstream is the
// central one, verifying with the central's key and sending its token (upstream.authKey).
// Real Mix through the edge; the central stopped after warm-up; a tampered central, and a
// central signed with a key the edge does not expect, refused with nothing cached.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/token-store.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { resourceAt } from '../../src/registry/resource.js';
import { publishHosted } from '../support/hosted-publish.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';
import { startFakeHexApi, type FakeHexApi } from '../support/upstreams/fake-hex-api.js';
import { INSTALLS_CSV, INSTALLS_CSV_SIGNED, startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startTamperingRelay, type TamperingRelay } from '../support/upstreams/tampering-relay.js';

const mix = (await mixUnavailable()) === undefined || requireMix;
const MAX_REGISTRY = 1 << 24;

let upstream: FakeUpstream;
let api: FakeHexApi;
let central: TestProxy;
let centralStopped = false;
let edge: TestProxy;
/** The edge's token at the central (--read hexpm), sent as upstream.authKey. */
let edgeToken: string;
/** The central's token that may read its hosted repository acme: the edge's organizations.acme.authKey. */
let acmeToken: string;
/** A developer's token at the edge. */
let clientToken: string;
let edgeKeyFile: string;
/** acme_core 1.0.0 as the central stores it: its SHA-256 is what Mix locks as the outer checksum. */
let acmeTarball: { path: string; sha256: string };
const others: { close(): Promise<void> }[] = [];

const keyOf = (proxy: TestProxy): KeyObject => createPublicKey(proxy.server.hexproxy.keys.publicKeyPem);

/** The payload of a registry file, verified with `key` as a client verifies it. */
async function payloadOf(body: Buffer, path: string, key: KeyObject, repository = 'hexpm'): Promise<Buffer> {
  const resource = resourceAt(path);
  if (!resource) throw new Error(`${path} is not a registry path`);
  return (await openRegistryFile(body, resource, { publicKey: key, repository, maxBytes: MAX_REGISTRY })).payload;
}

let sharedKeys: Record<string, string> | undefined;
function sharedKeyFlags(): Record<string, string> {
  if (!sharedKeys) {
    const dir = tempDir('hexproxy-chain-extra-keys-');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    sharedKeys = { 'private-key': join(dir, 'private.pem'), 'public-key': join(dir, 'public.pem') };
    writeFileSync(sharedKeys['private-key'] ?? '', privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(sharedKeys['public-key'] ?? '', publicKey.export({ type: 'spki', format: 'pem' }));
  }
  return sharedKeys;
}

/** What an edge holds in its cache: index rows and stored files. */
async function cacheOf(proxy: TestProxy): Promise<{ rows: string[]; files: string[] }> {
  const { index, blobs } = proxy.server.hexproxy;
  const rows = [
    ...index.listRegistryFiles().map((row) => `${row.repo}/${row.path}`),
    ...index.listTarballs().map((row) => `${row.repo}/${row.name}-${row.version}`),
  ];
  const files: string[] = [];
  for (const prefix of ['registry', 'tarballs', 'passthrough']) for await (const key of blobs.list(prefix)) files.push(key);
  return { rows: rows.sort(), files: files.sort() };
}

/** Another edge on the central (or on something in front of it), closed after the file; they share one key pair, made once. */
async function anotherEdge(
  upstreamUrl: string,
  upstreamPublicKeyPem: string,
  authKey: string | undefined,
  flags: Record<string, string> = {},
): Promise<TestProxy> {
  const proxy = await startProxy({
    upstreamUrl,
    upstreamPublicKeyPem,
    flags: { ...sharedKeyFlags(), ...flags },
    ...(authKey !== undefined && { config: { upstream: { authKey } } }),
  });
  others.push(proxy);
  return proxy;
}

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [
      { name: 'chain_a', releases: [{ version: '1.0.0', dependencies: [{ package: 'chain_b', requirement: '~> 1.0' }] }] },
      { name: 'chain_b', releases: [{ version: '1.0.0' }, { version: '1.1.0' }] },
      { name: 'chain_c', releases: [{ version: '0.1.0' }] },
    ],
  });
  api = await startFakeHexApi([{ name: 'chain_a', releases: [{ version: '1.0.0' }] }]);
  central = await startProxy({
    upstreamUrl: upstream.url,
    upstreamPublicKeyPem: upstream.publicKeyPem,
    flags: { 'require-token': true, 'upstream-api-url': api.url },
    config: { hosted: { acme: {} } },
  });
  const centralTokens = new TokenStore(central.server.hexproxy.config.auth.tokensFile);
  edgeToken = centralTokens.create('edge', ['hexpm'], false).secret;
  acmeToken = centralTokens.create('edge-acme', ['acme'], false).secret;
  const hosted = central.server.hexproxy.hosted;
  if (!hosted) throw new Error('the central hexproxy has no hosted store');
  // The company's own package, published to the central, depending on a hex.pm package.
  await publishHosted(hosted, 'acme', { name: 'acme_core', version: '1.0.0', dependencies: [{ package: 'chain_b', requirement: '~> 1.0' }] });
  const stored = hosted.tarballFile('acme', 'acme_core', '1.0.0');
  if (!stored) throw new Error('acme_core 1.0.0 was not stored');
  acmeTarball = stored;

  const keys = tempDir('hexproxy-chain-keys-');
  const centralKeyFile = join(keys, 'central.pem');
  writeFileSync(centralKeyFile, central.server.hexproxy.keys.publicKeyPem);
  edge = await startProxy({
    upstreamUrl: central.url,
    upstreamPublicKeyPem: central.server.hexproxy.keys.publicKeyPem,
    // Every registry file is revalidated at the central: the stopped central shows in every answer.
    flags: { 'registry-ttl-seconds': '0' },
    config: { upstream: { authKey: edgeToken }, organizations: { acme: { authKey: acmeToken, publicKey: centralKeyFile } } },
  });
  clientToken = new TokenStore(edge.server.hexproxy.config.auth.tokensFile).create('dev', ['hexpm', 'acme'], false).secret;
  edgeKeyFile = join(keys, 'edge.pem');
  writeFileSync(edgeKeyFile, edge.server.hexproxy.keys.publicKeyPem);
});

afterAll(async () => {
  for (const proxy of others) await proxy.close();
  await edge?.close();
  if (!centralStopped) await central?.close();
  await api?.close();
  await upstream?.close();
});

/** `mix deps.get` with a fresh Hex cache, through the edge, for a hex.pm package and the central's hosted one. */
async function mixThroughEdge(): Promise<{ code: number; output: string; lock: string }> {
  const home = await mixHome();
  const set = await home.mix(
    ['hex.repo', 'set', 'hexpm', '--url', edge.url, '--public-key', edgeKeyFile, '--auth-key', clientToken, '--no-oauth-exchange'],
    tempDir(),
  );
  expect(set.code, set.output).toBe(0);
  const project = home.project(['{:chain_a, "~> 1.0"}', '{:acme_core, "~> 1.0", organization: "acme"}']);
  const result = await home.mix(['deps.get'], project);
  return { ...result, lock: result.code === 0 ? readFileSync(join(project, 'mix.lock'), 'utf8') : '' };
}

describe('an edge hexproxy chained to a central one', () => {
  it.runIf(mix)("Mix gets a tree through the edge, hex.pm's packages and the central's hosted one, verified with the edge's key", async () => {
    const result = await mixThroughEdge();
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toMatch(/verif|error/i);
    // Upstream's checksums: the tarballs crossed both hexproxies unchanged.
    for (const [name, version] of [
      ['chain_a', '1.0.0'],
      ['chain_b', '1.1.0'],
    ] as const) {
      const tarball = upstream.tarball(name, version);
      expect(result.lock).toContain(`"${name}": {:hex, :${name}, "${version}", "${tarball.innerChecksum.toString('hex')}"`);
      expect(result.lock).toContain(tarball.outerChecksum.toString('hex'));
    }
    expect(result.lock).toMatch(
      new RegExp(`"acme_core": \\{:hex, :acme_core, "1\\.0\\.0", "[0-9a-f]{64}", .*"hexpm:acme", "${acmeTarball.sha256}"\\}`),
    );
  });

  it("serves every file of the public repository as the central has it, re-signed with the edge's key", async () => {
    const edgeKey = keyOf(edge);
    for (const path of ['names', 'versions', 'packages/chain_a', 'packages/chain_b']) {
      const answer = await edge.get(`/${path}`);
      expect(answer.status, path).toBe(200);
      // The payload is hex.pm's, unchanged through both hexproxies; only the signature is new.
      const original = upstream.body(`/${path}`);
      if (!original) throw new Error(`the fake upstream has no /${path}`);
      expect((await payloadOf(answer.body, path, edgeKey)).equals(await payloadOf(original, path, upstream.publicKey)), path).toBe(true);
    }
    for (const [name, version] of [
      ['chain_a', '1.0.0'],
      ['chain_b', '1.1.0'],
    ] as const) {
      const tarball = await edge.get(`/tarballs/${name}-${version}.tar`);
      expect(tarball.status).toBe(200);
      expect(tarball.body.equals(upstream.tarball(name, version).tar)).toBe(true);
    }
    const docs = await edge.get('/docs/chain_a-1.0.0.tar.gz');
    expect(docs.status).toBe(200);
    expect(docs.body.equals(upstream.body('/docs/chain_a-1.0.0.tar.gz') ?? Buffer.alloc(0))).toBe(true);
    // The builds lists cross verified with Elixir's key (the fake builds key here), with the edge's token at the central.
    const csv = await edge.get('/installs/hex-1.x.csv');
    expect(csv.status, csv.body.toString()).toBe(200);
    expect(csv.body.equals(INSTALLS_CSV)).toBe(true);
    expect((await edge.get('/installs/hex-1.x.csv.signed')).body.equals(INSTALLS_CSV_SIGNED)).toBe(true);
    // The Hex API relay, edge → central's /api → hex.pm's API.
    const info = await edge.get('/api/packages/chain_a', { accept: 'application/json' });
    expect(info.status, info.body.toString()).toBe(200);
    expect(JSON.parse(info.body.toString())).toMatchObject({ name: 'chain_a' });
    // /mirror passes the central's files on unchanged: they verify with the central's key, which the edge's /mirror/public_key is.
    const original = await edge.get('/mirror/packages/chain_a');
    expect(original.status).toBe(200);
    await payloadOf(original.body, 'packages/chain_a', keyOf(central));
    expect((await edge.get('/mirror/public_key')).body.toString()).toBe(central.server.hexproxy.keys.publicKeyPem);
  });

  it("can keep hex.pm's key instead: chained to the central's /mirror, it verifies hex.pm's own signatures end to end", async () => {
    const throughMirror = await anotherEdge(`${central.url}/mirror`, upstream.publicKeyPem, edgeToken);
    const listing = await throughMirror.get('/packages/chain_a');
    expect(listing.status, listing.body.toString()).toBe(200);
    const original = upstream.body('/packages/chain_a') ?? Buffer.alloc(0);
    expect(
      (await payloadOf(listing.body, 'packages/chain_a', keyOf(throughMirror))).equals(
        await payloadOf(original, 'packages/chain_a', upstream.publicKey),
      ),
    ).toBe(true);
    // Its own /mirror passes hex.pm's file on, byte for byte.
    expect((await throughMirror.get('/mirror/packages/chain_a')).body.equals(original)).toBe(true);
    const tarball = await throughMirror.get('/tarballs/chain_a-1.0.0.tar');
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(upstream.tarball('chain_a', '1.0.0').tar)).toBe(true);
  });

  it("proxies the central's hosted repository as an organization (authKey: a central token with --read acme, publicKey: the central's)", async () => {
    const auth = { authorization: clientToken };
    const listing = await edge.get('/repos/acme/packages/acme_core', auth);
    expect(listing.status, listing.body.toString()).toBe(200);
    const payload = await payloadOf(listing.body, 'packages/acme_core', keyOf(edge), 'acme');
    expect(
      payload.equals(
        await payloadOf(
          (await central.get('/repos/acme/packages/acme_core', { authorization: acmeToken })).body,
          'packages/acme_core',
          keyOf(central),
          'acme',
        ),
      ),
    ).toBe(true);
    const tarball = await edge.get('/repos/acme/tarballs/acme_core-1.0.0.tar', auth);
    expect(tarball.status).toBe(200);
    expect(tarball.headers['cache-control']).toMatch(/^private\b/);
    expect(tarball.body.equals(readFileSync(acmeTarball.path))).toBe(true);
    const names = await edge.get('/repos/acme/names', auth);
    expect(names.status).toBe(200);
    await payloadOf(names.body, 'names', keyOf(edge), 'acme');
    // Still the edge's rule: no token, no organization.
    expect((await edge.get('/repos/acme/packages/acme_core')).status).toBe(401);
  });

  it('without upstream.authKey, the central refuses the edge: 502 naming the key to set, and nothing cached', async () => {
    const keyless = await anotherEdge(central.url, central.server.hexproxy.keys.publicKeyPem, undefined);
    // A tarball needs its verified package file first: that is what the central refuses.
    for (const [path, refused] of [
      ['/packages/chain_a', '/packages/chain_a'],
      ['/names', '/names'],
      ['/tarballs/chain_c-0.1.0.tar', '/packages/chain_c'],
    ] as const) {
      const answer = await keyless.get(path);
      expect(answer.status, path).toBe(502);
      expect(answer.body.toString(), path).toBe(
        `hexproxy: upstream refused ${refused} (401): it asks for a token: if it is a hexproxy with auth.requireToken, set HEXPROXY_UPSTREAM_AUTH_KEY (or upstream.authKey) to a token of it that may read hexpm\n`,
      );
    }
    expect(await cacheOf(keyless)).toEqual({ rows: [], files: [] });
    // A token the central does not know: the message says to check the key.
    const unknown = await anotherEdge(central.url, central.server.hexproxy.keys.publicKeyPem, 'hxp_not-a-token');
    const refused = await unknown.get('/packages/chain_a');
    expect(refused.status).toBe(502);
    expect(refused.body.toString()).toContain(
      'upstream refused /packages/chain_a (401): check upstream.authKey (HEXPROXY_UPSTREAM_AUTH_KEY): the upstream refuses a token that is unknown, revoked or may not read hexpm',
    );
    // The token itself is never logged.
    expect(JSON.stringify(unknown.logs)).not.toContain('hxp_not-a-token');
    expect(JSON.stringify(edge.logs)).not.toContain(edgeToken);
  });

  it("sends the central's token to the central only: an API elsewhere gets no authorization", async () => {
    const elsewhere = await anotherEdge(central.url, central.server.hexproxy.keys.publicKeyPem, edgeToken, { 'upstream-api-url': api.url });
    const before = api.requests.length;
    const info = await elsewhere.get('/api/packages/chain_a', { accept: 'application/json' });
    expect(info.status, info.body.toString()).toBe(200);
    const asked = api.requests.slice(before);
    expect(asked.map((request) => request.target)).toEqual(['/api/packages/chain_a']);
    expect(asked[0]?.headers.authorization).toBeUndefined();
  });

  describe('a central that does not serve what it was given', () => {
    let relay: TamperingRelay;
    let victim: TestProxy;

    beforeAll(async () => {
      relay = await startTamperingRelay(central.url);
      others.push(relay);
      victim = await anotherEdge(relay.url, central.server.hexproxy.keys.publicKeyPem, edgeToken);
    });

    it("registry files changed on the way: refused at the central's signature, 502 naming it, nothing cached", async () => {
      relay.tamper('registry');
      for (const path of ['names', 'versions', 'packages/chain_a']) {
        const answer = await victim.get(`/${path}`);
        expect(answer.status, path).toBe(502);
        expect(answer.body.toString(), path).toContain(`/${path} from upstream has a bad signature for the configured upstream public key`);
      }
      expect(relay.altered).toBe(3);
      // Without a verified /packages/chain_a, no tarball of it is even asked for.
      expect((await victim.get('/tarballs/chain_a-1.0.0.tar')).status).toBe(502);
      expect(await cacheOf(victim)).toEqual({ rows: [], files: [] });
    });

    it('a tarball changed on the way: refused at its signed checksum, 502 naming it, not cached', async () => {
      relay.tamper('tarballs');
      expect((await victim.get('/packages/chain_c')).status).toBe(200);
      const answer = await victim.get('/tarballs/chain_c-0.1.0.tar');
      expect(answer.status).toBe(502);
      expect(answer.body.toString()).toContain(
        `tarball chain_c 0.1.0 from upstream does not match the registry: expected outer SHA-256 ${upstream.tarball('chain_c', '0.1.0').outerChecksum.toString('hex')}`,
      );
      expect(victim.server.hexproxy.index.findTarball('hexpm', 'chain_c', '0.1.0')).toBeUndefined();
      expect((await cacheOf(victim)).files.filter((file) => file.startsWith('tarballs/'))).toEqual([]);
      // The central's genuine bytes, once the relay stops tampering.
      relay.tamper(undefined);
      const genuine = await victim.get('/tarballs/chain_c-0.1.0.tar');
      expect(genuine.status).toBe(200);
      expect(genuine.body.equals(upstream.tarball('chain_c', '0.1.0').tar)).toBe(true);
    });

    it("an edge that expects another key (hex.pm's, left in place) refuses the central's files and caches nothing", async () => {
      const misconfigured = await anotherEdge(central.url, upstream.publicKeyPem, edgeToken);
      for (const path of ['names', 'packages/chain_a']) {
        const answer = await misconfigured.get(`/${path}`);
        expect(answer.status, path).toBe(502);
        expect(answer.body.toString(), path).toContain(`/${path} from upstream has a bad signature for the configured upstream public key`);
      }
      expect(await cacheOf(misconfigured)).toEqual({ rows: [], files: [] });
    });
  });

  // Last: it stops the central.
  it('keeps serving what it has once the central is stopped, to Mix with a fresh cache too', async () => {
    // Warm-up as Mix leaves it (the first test), whether or not Mix runs here.
    for (const path of ['/packages/chain_a', '/packages/chain_b', '/tarballs/chain_a-1.0.0.tar', '/tarballs/chain_b-1.1.0.tar']) {
      expect((await edge.get(path)).status, path).toBe(200);
    }
    expect((await edge.get('/repos/acme/tarballs/acme_core-1.0.0.tar', { authorization: clientToken })).status).toBe(200);
    const before = await edge.get('/packages/chain_a');
    await central.close();
    centralStopped = true;

    const stale = await edge.get('/packages/chain_a');
    expect(stale.status).toBe(200);
    expect(stale.headers['x-hexproxy-cache']).toBe('STALE');
    expect(stale.body.equals(before.body)).toBe(true);
    expect(stale.headers['etag']).toBe(before.headers['etag']);
    const listing = await payloadOf(stale.body, 'packages/chain_a', keyOf(edge));
    expect(listing.length).toBeGreaterThan(0);
    const tarball = await edge.get('/tarballs/chain_b-1.1.0.tar');
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(upstream.tarball('chain_b', '1.1.0').tar)).toBe(true);
    const org = await edge.get('/repos/acme/packages/acme_core', { authorization: clientToken });
    expect(org.status).toBe(200);
    expect(org.headers['x-hexproxy-cache']).toBe('STALE');
    // What it never had: a clear 502 naming the central's absence.
    const missing = await edge.get('/tarballs/chain_b-1.0.0.tar');
    expect(missing.status).toBe(502);
    expect(missing.body.toString()).toContain('refused the connection');

    if (!mix) return;
    const again = await mixThroughEdge();
    expect(again.code, again.output).toBe(0);
    expect(again.lock).toContain(upstream.tarball('chain_b', '1.1.0').outerChecksum.toString('hex'));
    expect(again.lock).toContain(`"hexpm:acme", "${acmeTarball.sha256}"`);
  });
});
