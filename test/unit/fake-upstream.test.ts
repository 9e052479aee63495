import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamTooLargeError, VerificationError } from '../../src/errors.js';
import { decodePackage, decodeSigned } from '../../src/registry/codec.js';
import { openRegistryFile, type OpenOptions } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import {
  INSTALLS_CSV,
  etagOf,
  startFakeUpstream,
  startStaticUpstream,
  type FakeUpstream,
  type PackageSpec,
  type StaticUpstream,
} from '../support/upstreams/fake-upstream.js';
import { OFFICIAL_REGISTRY, readOfficial } from '../support/fixtures.js';
import { buildHexTarball, innerChecksumOf, readHexTarball } from '../support/hex-tarball.js';
import { GZIP_BOMB_INFLATED_BYTES, HTML_ERROR_PAGE, partialLength } from '../support/upstreams/misbehaviour.js';
import { readTar } from '../support/tar.js';

const sha256 = (bytes: Buffer): Buffer => createHash('sha256').update(bytes).digest();

const PACKAGES: PackageSpec[] = [
  { name: 'acme_json', releases: [{ version: '0.1.0' }, { version: '0.2.0', retired: { reason: 3, message: 'use 0.3' } }] },
  {
    name: 'acme_http',
    releases: [
      {
        version: '1.0.0',
        publishedAt: new Date('2025-03-04T05:06:07.250Z'),
        dependencies: [
          { package: 'acme_json', requirement: '~> 0.1' },
          { package: 'acme_tls', requirement: '~> 1.0', optional: true, app: 'acme_ssl' },
        ],
      },
    ],
  },
  { name: 'acme_tls', releases: [{ version: '1.0.0', omitOuterChecksum: true }] },
];

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream({ packages: PACKAGES });
});
afterAll(async () => {
  await upstream.close();
});
beforeEach(async () => {
  upstream.behave();
  upstream.resetHits();
  await upstream.setPackages(PACKAGES);
});

const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${upstream.url}${path}`, { headers });
const bytesOf = async (response: Response): Promise<Buffer> => Buffer.from(await response.arrayBuffer());
const fetchBytes = async (path: string): Promise<Buffer> => bytesOf(await get(path));

function resourceOf(path: string): RegistryResource {
  if (path === '/names') return { kind: 'names' };
  if (path === '/versions') return { kind: 'versions' };
  return { kind: 'package', name: path.slice('/packages/'.length) };
}

const openOptions = (overrides: Partial<OpenOptions> = {}): OpenOptions => ({
  publicKey: upstream.publicKey,
  repository: 'hexpm',
  maxBytes: 10 * 1024 * 1024,
  ...overrides,
});

const open = async (path: string, overrides: Partial<OpenOptions> = {}) =>
  openRegistryFile(await fetchBytes(path), resourceOf(path), openOptions(overrides));

const openPackage = async (name: string): Promise<Package> => (await open(`/packages/${name}`)).message as Package;

/** True when `promise` has not settled after the server answered a whole other request. */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  expect((await get('/public_key')).status).toBe(200);
  return !settled;
}

async function inflatedLength(body: Buffer): Promise<number> {
  let length = 0;
  const gunzip = createGunzip();
  gunzip.on('data', (chunk: Buffer) => {
    length += chunk.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    gunzip.on('end', resolve);
    gunzip.on('error', reject);
  });
  gunzip.end(body);
  await done;
  return length;
}

describe('buildHexTarball', () => {
  const spec = {
    name: 'acme',
    version: '1.2.3',
    dependencies: [
      { package: 'dep', requirement: '~> 1.0' },
      { package: 'opt', requirement: '>= 0.0.0', optional: true },
    ],
  };

  it('builds the same bytes from the same spec, with consistent checksums', async () => {
    const [a, b] = await Promise.all([buildHexTarball(spec), buildHexTarball(spec)]);
    expect(a.tar.equals(b.tar)).toBe(true);
    expect(a.outerChecksum.equals(sha256(a.tar))).toBe(true);
    const parts = await readHexTarball(a.tar);
    expect([...(await readTar(a.tar)).keys()]).toEqual(['VERSION', 'CHECKSUM', 'metadata.config', 'contents.tar.gz']);
    expect(parts.version.toString()).toBe('3');
    expect(innerChecksumOf(parts).equals(a.innerChecksum)).toBe(true);
    expect(parts.checksum).toBe(a.innerChecksum.toString('hex').toUpperCase());
    expect(parts.metadata.toString()).toContain(
      '{<<"requirements">>,[[{<<"app">>,<<"dep">>},{<<"name">>,<<"dep">>},{<<"optional">>,false},{<<"repository">>,<<"hexpm">>},{<<"requirement">>,<<"~> 1.0">>}],' +
        '[{<<"app">>,<<"opt">>},{<<"name">>,<<"opt">>},{<<"optional">>,true},{<<"repository">>,<<"hexpm">>},{<<"requirement">>,<<">= 0.0.0">>}]]}.',
    );
    const contents = await readTar(gunzipSync(parts.contents));
    expect([...contents.keys()]).toEqual(['src/acme.app.src', 'src/acme.erl']);
    expect(contents.get('src/acme.app.src')?.toString()).toContain("{applications, [kernel, stdlib, 'dep']}");
  });

  it('pads with seeded incompressible bytes', async () => {
    const padded = await buildHexTarball({ ...spec, padBytes: 1024 * 1024 });
    expect(padded.tar.length).toBeGreaterThan(1024 * 1024);
    expect((await buildHexTarball({ ...spec, padBytes: 1024 * 1024 })).tar.equals(padded.tar)).toBe(true);
    expect((await buildHexTarball({ ...spec, padBytes: 1024 * 1024, padSeed: 'other' })).tar.equals(padded.tar)).toBe(false);
  });

  const erlang = spawnSync('erl', ['-version']).status === 0;
  it.skipIf(!erlang)('builds sources and metadata that Erlang compiles and reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hex-tarball-'));
    try {
      const parts = await readHexTarball((await buildHexTarball({ ...spec, description: 'say "hi" \\ there' })).tar);
      const files = new Map([...(await readTar(gunzipSync(parts.contents))), ['metadata.config', parts.metadata]]);
      for (const [name, data] of files) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        await writeFile(join(dir, name), data);
      }
      const script = [
        '{ok, acme} = compile:file("src/acme.erl", [return_errors]),',
        '{ok, [{application, acme, App}]} = file:consult("src/acme.app.src"),',
        '[kernel, stdlib, dep] = proplists:get_value(applications, App),',
        '{ok, Meta} = file:consult("metadata.config"),',
        '<<"say \\"hi\\" \\\\ there">> = proplists:get_value(<<"description">>, Meta),',
        '"1.2.3" = acme:version(),',
        'halt(0).',
      ].join(' ');
      const run = spawnSync('erl', ['-noshell', '-eval', script], { cwd: dir, encoding: 'utf8' });
      expect(run.stdout + run.stderr).toBe('');
      expect(run.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the fake upstream', () => {
  it('serves names, versions and packages that verify with its key', async () => {
    const names = (await open('/names')).message as Names;
    expect(names.packages.map((pkg) => pkg.name)).toEqual(['acme_http', 'acme_json', 'acme_tls']);
    expect(names.packages[0]?.updated_at).toEqual({ seconds: 1741064767, nanos: 250_000_000 });

    const versions = (await open('/versions')).message as Versions;
    expect(versions.repository).toBe('hexpm');
    expect(versions.packages.map(({ name, versions: list, retired }) => ({ name, versions: list, retired }))).toEqual([
      { name: 'acme_http', versions: ['1.0.0'], retired: [] },
      { name: 'acme_json', versions: ['0.1.0', '0.2.0'], retired: [1] },
      { name: 'acme_tls', versions: ['1.0.0'], retired: [] },
    ]);

    const http = await openPackage('acme_http');
    expect(http.releases).toHaveLength(1);
    expect(http.releases[0]).toMatchObject({
      version: '1.0.0',
      published_at: { seconds: 1741064767, nanos: 250_000_000 },
      dependencies: [
        { package: 'acme_json', requirement: '~> 0.1' },
        { package: 'acme_tls', requirement: '~> 1.0', optional: true, app: 'acme_ssl' },
      ],
    });
    const json = await openPackage('acme_json');
    expect(json.releases.map((r) => r.retired)).toEqual([undefined, { reason: 3, message: 'use 0.3' }]);
    expect(json.releases[0]?.published_at).toEqual({ seconds: 1704067200, nanos: 0 });
    const tls = await openPackage('acme_tls');
    expect(tls.releases[0]?.outer_checksum).toBeUndefined();
    expect(tls.releases[0]?.inner_checksum).toHaveLength(32);
  });

  it('serves tarballs whose checksums match the signed releases', async () => {
    for (const { name, releases } of PACKAGES) {
      const signed = await openPackage(name);
      for (const { version, omitOuterChecksum } of releases) {
        const tar = await fetchBytes(`/tarballs/${name}-${version}.tar`);
        const built = upstream.tarball(name, version);
        const release = signed.releases.find((r) => r.version === version);
        expect(tar.equals(built.tar)).toBe(true);
        expect(sha256(tar).equals(built.outerChecksum)).toBe(true);
        if (!omitOuterChecksum) expect(release?.outer_checksum?.equals(built.outerChecksum)).toBe(true);
        expect(release?.inner_checksum.equals(innerChecksumOf(await readHexTarball(tar)))).toBe(true);
      }
    }
  });

  it('serves the public key, the installs CSV and docs, and 404 for anything else', async () => {
    const key = await get('/public_key');
    expect(await key.text()).toBe(upstream.publicKeyPem);
    expect(parsePublicKey(upstream.publicKeyPem).equals(upstream.publicKey)).toBe(true);
    const csv = await get('/installs/hex-1.x.csv');
    expect(csv.headers.get('content-type')).toBe('text/csv');
    expect((await bytesOf(csv)).equals(INSTALLS_CSV)).toBe(true);
    const docs = await readTar(gunzipSync(await fetchBytes('/docs/acme_json-0.1.0.tar.gz')));
    expect([...docs.keys()]).toEqual(['index.html']);
    for (const path of ['/packages/nope', '/tarballs/acme_json-9.9.9.tar', '/docs/nope-1.0.0.tar.gz', '/repos/acme/names', '/']) {
      expect((await get(path)).status, path).toBe(404);
    }
  });

  it('sends strong ETags and answers a matching If-None-Match with 304', async () => {
    const first = await get('/versions');
    const etag = first.headers.get('etag');
    expect(etag).toBe(etagOf(await bytesOf(first)));
    expect(etag).toMatch(/^"sha256-[0-9a-f]{64}"$/);
    expect(first.headers.get('content-length')).toBe(String(upstream.body('/versions')?.length));

    const again = await get('/versions', { 'if-none-match': etag ?? '' });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(upstream.lastHeaders('/versions')?.['if-none-match']).toBe(etag);
    expect((await get('/versions', { 'if-none-match': `"other", W/${etag ?? ''}` })).status).toBe(304);
    expect((await get('/versions', { 'if-none-match': '"other"' })).status).toBe(200);
    expect(upstream.hits('/versions')).toBe(4);

    await upstream.publish('acme_tls', { version: '1.1.0' });
    const changed = await get('/versions', { 'if-none-match': etag ?? '' });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('counts hits per path, ignoring the query', async () => {
    await get('/names');
    await get('/names?x=1');
    await get('/packages/acme_json');
    await get('/missing');
    expect(upstream.hits('/names')).toBe(2);
    expect(upstream.hits('/packages/acme_json')).toBe(1);
    expect(upstream.hits('/missing')).toBe(1);
    expect(upstream.totalHits()).toBe(4);
    const waited = upstream.waitForHits('/versions', 2);
    await get('/versions');
    expect(await stillPending(waited)).toBe(true);
    await get('/versions');
    await waited;
    upstream.resetHits();
    expect(upstream.totalHits()).toBe(0);
  });

  it('publishes new releases and re-signs, and replaces everything with setPackages', async () => {
    await upstream.publish('acme_json', { version: '0.3.0', dependencies: [{ package: 'acme_tls', requirement: '~> 1.0' }] });
    await upstream.publish('acme_new', { version: '0.0.1' });
    const versions = (await open('/versions')).message as Versions;
    expect(versions.packages.map((pkg) => [pkg.name, pkg.versions])).toEqual([
      ['acme_http', ['1.0.0']],
      ['acme_json', ['0.1.0', '0.2.0', '0.3.0']],
      ['acme_new', ['0.0.1']],
      ['acme_tls', ['1.0.0']],
    ]);
    const json = await openPackage('acme_json');
    expect(json.releases.map((r) => r.version)).toEqual(['0.1.0', '0.2.0', '0.3.0']);
    expect(sha256(await fetchBytes('/tarballs/acme_json-0.3.0.tar')).equals(json.releases[2]?.outer_checksum ?? Buffer.alloc(0))).toBe(true);

    await upstream.setPackages([{ name: 'solo', releases: [{ version: '1.0.0' }] }]);
    expect(((await open('/names')).message as Names).packages.map((pkg) => pkg.name)).toEqual(['solo']);
    expect((await get('/packages/acme_json')).status).toBe(404);
  });

  it('holds requests for a path until released', async () => {
    const gate = upstream.hold('/packages/acme_json');
    const requests = Array.from({ length: 20 }, () => get('/packages/acme_json'));
    await gate.arrived(20);
    expect(gate.waiting).toBe(20);
    expect(upstream.hits('/packages/acme_json')).toBe(20);
    expect(await stillPending(Promise.race(requests))).toBe(true);
    gate.release();
    const responses = await Promise.all(requests);
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect((await get('/packages/acme_json')).status).toBe(200);
  });
});

describe('misbehaviour', () => {
  it('wrong-key: signs registry files with the other key, leaves tarballs alone', async () => {
    upstream.misbehave('*', 'wrong-key');
    await expect(open('/names')).rejects.toThrow(VerificationError);
    await expect(open('/packages/acme_json')).rejects.toThrow(VerificationError);
    const wrongKey = parsePublicKey(upstream.wrongPublicKeyPem);
    expect(((await open('/packages/acme_json', { publicKey: wrongKey })).message as Package).name).toBe('acme_json');
    expect((await fetchBytes('/tarballs/acme_json-0.1.0.tar')).equals(upstream.tarball('acme_json', '0.1.0').tar)).toBe(true);
    upstream.behave();
    await expect(open('/names')).resolves.toBeDefined();
  });

  it('wrong-repository: a validly signed payload naming repository "evil"', async () => {
    upstream.misbehave('/versions', 'wrong-repository');
    await expect(open('/versions')).rejects.toThrow(VerificationError);
    expect(((await open('/versions', { repository: 'evil' })).message as Versions).packages).toHaveLength(3);
    await expect(open('/names')).resolves.toBeDefined();
  });

  it("wrong-package-name: /packages/a answers with another package's validly signed file", async () => {
    upstream.misbehave('/packages/acme_json', 'wrong-package-name');
    await expect(open('/packages/acme_json')).rejects.toThrow(VerificationError);
    const { payload, signature } = decodeSigned(gunzipSync(await fetchBytes('/packages/acme_json')));
    expect(decodePackage(payload).name).toBe('acme_http');
    expect(signature).toBeDefined();

    await upstream.setPackages([{ name: 'solo', releases: [{ version: '1.0.0' }] }]);
    upstream.misbehave('/packages/solo', 'wrong-package-name');
    await expect(open('/packages/solo')).rejects.toThrow(VerificationError);
    expect(decodePackage(decodeSigned(gunzipSync(await fetchBytes('/packages/solo'))).payload).name).toBe('solo_impostor');
  });

  it('flip-tarball-byte: changes one byte of tarballs only', async () => {
    upstream.misbehave('*', 'flip-tarball-byte');
    const good = upstream.tarball('acme_json', '0.1.0');
    const served = await fetchBytes('/tarballs/acme_json-0.1.0.tar');
    expect(served.length).toBe(good.tar.length);
    expect([...served].filter((byte, i) => byte !== good.tar[i])).toHaveLength(1);
    expect(sha256(served).equals(good.outerChecksum)).toBe(false);
    await expect(open('/packages/acme_json')).resolves.toBeDefined();
  });

  it('status-500 and status-503, for a number of requests', async () => {
    upstream.misbehave('/names', 'status-500');
    upstream.misbehave('/versions', 'status-503', { times: 2 });
    expect((await get('/names')).status).toBe(500);
    expect((await get('/versions')).status).toBe(503);
    expect((await get('/versions')).status).toBe(503);
    expect((await get('/versions')).status).toBe(200);
    expect((await get('/names')).status).toBe(500);
  });

  it('matches paths by RegExp and predicate; the newest rule wins', async () => {
    upstream.misbehave(/^\/packages\//, 'status-500');
    upstream.misbehave((path) => path.endsWith('acme_tls'), 'status-503');
    expect((await get('/packages/acme_json')).status).toBe(500);
    expect((await get('/packages/acme_tls')).status).toBe(503);
    expect((await get('/names')).status).toBe(200);
  });

  it('hang: never answers until the hung requests are dropped', async () => {
    upstream.misbehave('/names', 'hang');
    const hung = get('/names');
    await upstream.waitForHits('/names', 1);
    expect(await stillPending(hung)).toBe(true);
    upstream.dropHung();
    await expect(hung).rejects.toThrow();
  });

  it('hang-body: sends headers and half the body, then stalls', async () => {
    upstream.misbehave('/versions', 'hang-body');
    const full = upstream.body('/versions') ?? Buffer.alloc(0);
    const response = await get('/versions');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(full.length));
    if (!response.body) throw new Error('no body');
    const reader = response.body.getReader();
    let received = 0;
    while (received < partialLength(full.length)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('body ended early');
      received += value.length;
    }
    expect(received).toBe(partialLength(full.length));
    const rest = reader.read();
    expect(await stillPending(rest)).toBe(true);
    upstream.dropHung();
    await expect(rest).rejects.toThrow();
  });

  it('reset-mid-body: sends headers and half the body, then resets the connection', async () => {
    upstream.misbehave('/tarballs/acme_json-0.1.0.tar', 'reset-mid-body');
    const response = await get('/tarballs/acme_json-0.1.0.tar');
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
  });

  it('html-200: an HTML error page with status 200', async () => {
    upstream.misbehave('*', 'html-200');
    const response = await get('/names');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await bytesOf(response)).equals(HTML_ERROR_PAGE)).toBe(true);
    await expect(open('/names')).rejects.toThrow(VerificationError);
  });

  it('gzip-bomb: a small body inflating to 300 MiB of zeros', async () => {
    upstream.misbehave('/versions', 'gzip-bomb');
    const body = await fetchBytes('/versions');
    expect(body.length).toBeLessThan(1024 * 1024);
    expect(await inflatedLength(body)).toBe(GZIP_BOMB_INFLATED_BYTES);
    await expect(openRegistryFile(body, { kind: 'versions' }, openOptions())).rejects.toThrow(UpstreamTooLargeError);
  });

  it('truncated-gzip: the first half of the body, with a matching Content-Length', async () => {
    upstream.misbehave('/names', 'truncated-gzip');
    const full = upstream.body('/names') ?? Buffer.alloc(0);
    const response = await get('/names');
    const body = await bytesOf(response);
    expect(response.headers.get('content-length')).toBe(String(body.length));
    expect(body.equals(full.subarray(0, partialLength(full.length)))).toBe(true);
    expect(() => gunzipSync(body)).toThrow();
    await expect(open('/names')).rejects.toThrow(VerificationError);
  });

  it('close() ends hung and held requests', async () => {
    const doomed = await startFakeUpstream({ packages: [{ name: 'solo', releases: [{ version: '1.0.0' }] }] });
    doomed.misbehave('/names', 'hang');
    const gate = doomed.hold('/versions');
    const outcomes = Promise.allSettled([fetch(`${doomed.url}/names`), fetch(`${doomed.url}/versions`)]);
    await doomed.waitForHits('/names', 1);
    await gate.arrived(1);
    await doomed.close();
    expect((await outcomes).map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('the static upstream', () => {
  let fixture: StaticUpstream;
  beforeAll(async () => {
    fixture = await startStaticUpstream(OFFICIAL_REGISTRY);
  });
  afterAll(async () => {
    await fixture.close();
  });

  const fixtureKey = async () => parsePublicKey(await readOfficial('public_key'));
  const getFixture = (path: string): Promise<Response> => fetch(`${fixture.url}${path}`);

  it('serves the directory byte for byte, with ETags and hit counts', async () => {
    for (const path of ['names', 'versions', 'packages/acme_http', 'tarballs/acme_json-0.2.0.tar', 'public_key']) {
      const response = await getFixture(`/${path}`);
      const body = await bytesOf(response);
      expect(body.equals(await readOfficial(path)), path).toBe(true);
      expect(response.headers.get('etag')).toBe(etagOf(body));
      expect(fixture.hits(`/${path}`)).toBe(1);
    }
    expect(fixture.publicKeyPem).toBe((await readOfficial('public_key')).toString());
    expect((await getFixture('/packages/nope')).status).toBe(404);
    expect((await getFixture('/packages')).status).toBe(404);
  });

  it('does not serve files outside the directory', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${fixture.url}/../../../../etc/hostname`, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(404);
  });

  it('misbehaves with wrong-key (re-signed) and wrong-package-name (replayed), not wrong-repository', async () => {
    const publicKey = await fixtureKey();
    fixture.misbehave('/packages/acme_json', 'wrong-key');
    const resigned = await bytesOf(await getFixture('/packages/acme_json'));
    const resource: RegistryResource = { kind: 'package', name: 'acme_json' };
    await expect(openRegistryFile(resigned, resource, { publicKey, repository: 'hexpm', maxBytes: 1 << 20 })).rejects.toThrow(VerificationError);
    const wrongKey = parsePublicKey(fixture.wrongPublicKeyPem);
    await expect(openRegistryFile(resigned, resource, { publicKey: wrongKey, repository: 'hexpm', maxBytes: 1 << 20 })).resolves.toBeDefined();

    fixture.misbehave('/packages/acme_json', 'wrong-package-name');
    const replayed = await bytesOf(await getFixture('/packages/acme_json'));
    expect(replayed.equals(await readOfficial('packages/acme_http'))).toBe(true);

    expect(() => fixture.misbehave('*', 'wrong-repository')).toThrow(/wrong-repository/);
    fixture.behave();
  });
});
