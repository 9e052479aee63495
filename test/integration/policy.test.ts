// The policy (config key policy) enforced in the re-signed registry: blocked releases are
// taken out of /packages/NAME, /versions and /names, consistently and re-signed; tarballs
// of blocked releases follow policy.tarballs; an edited policy takes effect on reload; the
// minimum release age is measured with an injected clock.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePackage, decodeSigned } from '../../src/registry/codec.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { RegistryResource } from '../../src/registry/resource.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Versions } from '../../src/registry/types.js';
import { cliPath, runCli } from '../support/cli.js';
import { parsePrometheus, sample } from '../support/prometheus.js';
import { mixLock, rebarLock } from '../support/locks.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type HttpResult, type TestProxy } from '../support/proxy.js';

const DAY = 86_400_000;
const START = Date.parse('2026-11-22T12:00:00Z');
const OLD = new Date('2024-01-01T00:00:00Z');
const critical = { id: 'GHSA-crit-0001', summary: 'remote code execution', severity: 4, cvss_score: 9.5, aliases: ['CVE-2026-0001'] };
const high = { id: 'GHSA-high-0002', summary: 'denial of service', severity: 3, aliases: ['CVE-2026-0002'] };
const low = { id: 'GHSA-low-0003', summary: 'log noise', severity: 1, aliases: [] };

const packages: PackageSpec[] = [
  {
    name: 'plug',
    releases: [
      { version: '1.14.0', publishedAt: OLD },
      { version: '1.15.0', publishedAt: OLD, advisories: [critical] },
      { version: '1.15.1', publishedAt: OLD, dependencies: [{ package: 'jason', requirement: '~> 1.4', optional: true, app: 'jason' }] },
      // Two days old at START: too new for a 7-day minimum age until START + 5 days.
      { version: '1.16.0', publishedAt: new Date(START - 2 * DAY) },
    ],
  },
  {
    name: 'jason',
    releases: [
      { version: '1.3.0', publishedAt: OLD, retired: { reason: 2, message: 'CVE fixed in 1.4.1' } },
      { version: '1.4.0', publishedAt: OLD, retired: { reason: 3, message: 'use 1.4.1' } },
      { version: '1.4.1', publishedAt: OLD },
    ],
  },
  {
    name: 'left_pad',
    releases: [
      { version: '1.0.0', publishedAt: OLD },
      { version: '1.1.0', publishedAt: OLD },
    ],
  },
  {
    name: 'ecto',
    releases: [
      { version: '3.10.0', publishedAt: OLD, advisories: [low] },
      { version: '3.11.0', publishedAt: OLD, advisories: [high, low] },
      // One day old, but allowed by name and version: an allow rule lifts every restriction.
      { version: '3.11.1', publishedAt: new Date(START - DAY), advisories: [high] },
    ],
  },
  { name: 'old_lib', releases: [{ version: '0.1.0', publishedAt: null }] },
  { name: 'evil_a', releases: [{ version: '1.0.0', publishedAt: OLD }] },
  { name: 'evil_good', releases: [{ version: '1.0.0', publishedAt: OLD }] },
];

const policy = {
  deny: ['left_pad', 'evil_*', { match: 'plug@< 1.15.0', comment: 'GHSA-old-plug' }],
  allow: ['ecto@3.11.1', 'evil_good'],
  minReleaseAge: '7d',
  blockAdvisorySeverity: 'high',
  blockRetired: ['security'],
};

let upstream: FakeUpstream;
let proxy: TestProxy;
let now = START;

const proxyKey = () => parsePublicKey(proxy.server.hexproxy.keys.publicKeyPem);

async function open<T>(response: HttpResult, resource: RegistryResource): Promise<T> {
  expect(response.status, response.body.toString()).toBe(200);
  const file = await openRegistryFile(response.body, resource, { publicKey: proxyKey(), repository: 'hexpm', maxBytes: 1 << 24 });
  return file.message as T;
}

const servedPackage = async (name: string): Promise<Package> => open<Package>(await proxy.get(`/packages/${name}`), { kind: 'package', name });
const servedVersions = async (): Promise<Versions> => open<Versions>(await proxy.get('/versions'), { kind: 'versions' });
const servedNames = async (): Promise<Names> => open<Names>(await proxy.get('/names'), { kind: 'names' });
const upstreamPackage = (name: string): Package => decodePackage(upstreamPayload(`/packages/${name}`));

/** The payload of what upstream serves at `path` (the fake upstream's own bytes). */
function upstreamPayload(path: string): Buffer {
  const body = upstream.body(path);
  if (!body) throw new Error(`upstream has no ${path}`);
  return decodeSigned(gunzipSync(body)).payload;
}

function writePolicy(section: Record<string, unknown>): void {
  if (!proxy.configFile) throw new Error('the proxy was started without a config file');
  writeFileSync(proxy.configFile, JSON.stringify({ policy: section }));
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ packages });
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy }, clock: () => now });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('the filtered registry', () => {
  it('takes blocked releases out of /packages/NAME and keeps every field of the rest', async () => {
    const plug = await servedPackage('plug');
    const original = upstreamPackage('plug');
    // 1.14.0 denied by rule, 1.15.0 has a critical advisory, 1.16.0 is two days old.
    expect(plug.releases.map((r) => r.version)).toEqual(['1.15.1']);
    expect(plug.releases[0]).toEqual(original.releases[2]);
    // The advisory only 1.15.0 had goes with it.
    expect(plug.advisories).toEqual([]);
    expect(plug.name).toBe('plug');
    expect(plug.repository).toBe('hexpm');

    const ecto = await servedPackage('ecto');
    const upstreamEcto = upstreamPackage('ecto');
    // 3.11.0 (high) goes; 3.11.1 (high and new) stays, allowed by "ecto@3.11.1".
    expect(ecto.releases.map((r) => r.version)).toEqual(['3.10.0', '3.11.1']);
    expect(upstreamEcto.advisories.map((a) => a.id)).toEqual([low.id, high.id]);
    expect(ecto.advisories).toEqual(upstreamEcto.advisories);
    expect(ecto.releases).toEqual([upstreamEcto.releases[0], upstreamEcto.releases[2]]);

    const jason = await servedPackage('jason');
    expect(jason.releases.map((r) => r.version)).toEqual(['1.4.0', '1.4.1']);
    expect(jason.releases[0]?.retired).toEqual({ reason: 3, message: 'use 1.4.1' });

    // Exact names outrank globs: evil_good is allowed, evil_a denied.
    expect((await servedPackage('evil_good')).releases.map((r) => r.version)).toEqual(['1.0.0']);
    expect((await servedPackage('evil_a')).releases).toEqual([]);
    // Undated releases count as old enough by default.
    expect((await servedPackage('old_lib')).releases.map((r) => r.version)).toEqual(['0.1.0']);
  });

  it('serves a package whose every release is blocked with none, and leaves it out of /names and /versions', async () => {
    const leftPad = await servedPackage('left_pad');
    expect(leftPad.releases).toEqual([]);
    expect(leftPad.name).toBe('left_pad');
    const names = (await servedNames()).packages.map((p) => p.name);
    expect(names).toEqual(['ecto', 'evil_good', 'jason', 'old_lib', 'plug']);
    const versions = await servedVersions();
    expect(versions.packages.map((p) => p.name)).toEqual(['ecto', 'evil_good', 'jason', 'old_lib', 'plug']);
  });

  it('renumbers Versions.retired and with_advisories to match the releases kept', async () => {
    const versions = await servedVersions();
    const entry = (name: string) => versions.packages.find((p) => p.name === name);
    expect(entry('jason')).toEqual({ name: 'jason', versions: ['1.4.0', '1.4.1'], retired: [0], with_advisories: [] });
    expect(entry('ecto')).toEqual({ name: 'ecto', versions: ['3.10.0', '3.11.1'], retired: [], with_advisories: [0, 1] });
    expect(entry('plug')).toEqual({ name: 'plug', versions: ['1.15.1'], retired: [], with_advisories: [] });
    // /names keeps updated_at of the packages it keeps.
    const names = await servedNames();
    expect(names.packages.find((p) => p.name === 'plug')?.updated_at?.seconds).toBe(Math.floor((START - 2 * DAY) / 1000));
  });

  it('counts in /metrics what the filtered /versions leaves out', async () => {
    await servedVersions();
    const metrics = parsePrometheus((await proxy.get('/metrics')).body.toString());
    // plug 1.14.0, 1.15.0, 1.16.0; jason 1.3.0; left_pad 1.0.0, 1.1.0; ecto 3.11.0; evil_a 1.0.0.
    expect(metrics.get(sample('hexproxy_policy_hidden', { repository: 'hexpm', what: 'releases' }))).toBe(8);
    expect(metrics.get(sample('hexproxy_policy_hidden', { repository: 'hexpm', what: 'packages' }))).toBe(2);
    expect(metrics.get(sample('hexproxy_policy_hidden', { repository: 'hexpm', what: 'unavailable' }))).toBe(0);
    expect(metrics.get('hexproxy_policy_generation')).toBe(proxy.server.hexproxy.policy.generation);
  });

  it('builds /versions from the package files only of packages /versions cannot decide alone', async () => {
    // old_lib was last updated long before the minimum age and has no advisory or
    // retirement: /versions and /names decide it. left_pad and evil_a are decided by rules.
    // Counted from before the start: the view is built in the background from the start on.
    const counts = Object.fromEntries(packages.map((p) => [p.name, upstream.hits(`/packages/${p.name}`)]));
    const fresh = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, config: { policy }, clock: () => now });
    try {
      const response = await fresh.get('/versions');
      expect(response.status).toBe(200);
      const fetched = packages.map((p) => p.name).filter((name) => upstream.hits(`/packages/${name}`) > (counts[name] ?? 0));
      expect(fetched.sort()).toEqual(['ecto', 'jason', 'plug']);
    } finally {
      await fresh.close();
    }
  });

  it('refuses the pass-through view, which cannot take releases out of upstream-signed files', async () => {
    const response = await proxy.get('/mirror/packages/plug');
    expect(response.status).toBe(403);
    expect(response.headers['x-hexproxy-error']).toBe('blocked_by_policy');
    expect(response.body.toString()).toMatch(/cannot apply hexproxy's policy/);
    expect((await proxy.get('/mirror/names')).status).toBe(403);
  });
});

describe('saying why a release is missing', () => {
  /** The access-log line of the request that got `response`. */
  const accessLine = (response: HttpResult) =>
    proxy.logs.find((line) => line.msg === 'request' && line['reqId'] === response.headers['x-request-id']);

  it('names the releases a package file lost, and why in a word, in a header and in the access log, from memory too', async () => {
    const expected = '1.14.0 (deny), 1.15.0 (advisory), 1.16.0 (too-new)';
    // The first answer comes through the routes, the second from memory (the hot path).
    for (const attempt of [1, 2]) {
      const response = await proxy.get('/packages/plug');
      expect(response.status).toBe(200);
      expect(response.headers['x-hexproxy-policy-hidden'], `attempt ${attempt}`).toBe(expected);
      expect(accessLine(response)?.['policyHidden'], `attempt ${attempt}`).toBe(expected);
    }
    const notModified = await proxy.get('/packages/plug', { 'if-none-match': (await proxy.get('/packages/plug')).headers['etag'] ?? '' });
    expect(notModified.status).toBe(304);
    expect(notModified.headers['x-hexproxy-policy-hidden']).toBe(expected);
    expect((await proxy.get('/packages/jason')).headers['x-hexproxy-policy-hidden']).toBe('1.3.0 (retired)');
    expect((await proxy.get('/packages/left_pad')).headers['x-hexproxy-policy-hidden']).toBe('1.0.0 (deny), 1.1.0 (deny)');
    // Nothing hidden, no header: the file is upstream's, re-signed.
    const oldLib = await proxy.get('/packages/old_lib');
    expect(oldLib.headers['x-hexproxy-policy-hidden']).toBeUndefined();
    expect(accessLine(oldLib)).toBeDefined();
    expect(accessLine(oldLib)?.['policyHidden']).toBeUndefined();
    // /versions and /names say how much they lost.
    const versions = await proxy.get('/versions');
    expect(versions.headers['x-hexproxy-policy-hidden']).toBe('8 releases of 5 packages; 2 packages have none left');
    expect(accessLine(versions)?.['policyHidden']).toBe('8 releases of 5 packages; 2 packages have none left');
    expect((await proxy.get('/names')).headers['x-hexproxy-policy-hidden']).toBe('2 packages have no release left');
  });

  it('logs at info each request the policy refuses, naming it and the reason', async () => {
    const mirror = await proxy.get('/mirror/packages/plug');
    expect(mirror.status).toBe(403);
    const refused = proxy.logs.find((line) => line.msg === 'refused by the policy' && line['reqId'] === mirror.headers['x-request-id']);
    expect(refused?.level).toBe(30);
    expect(refused?.['path']).toBe('/mirror/packages/plug');
    expect(String(refused?.['err'])).toMatch(/pass-through view \(\/mirror\) serves upstream's signed registry files unchanged/);
  });
});

describe('the minimum release age', () => {
  it('lets a release in exactly when it comes of age, with a new ETag', async () => {
    const eligibleAt = START - 2 * DAY + 7 * DAY;
    const before = await proxy.get('/packages/plug');
    now = eligibleAt - 1000;
    const justBefore = await proxy.get('/packages/plug', { 'if-none-match': before.headers['etag'] ?? '' });
    expect(justBefore.status).toBe(304);
    expect((await servedVersions()).packages.find((p) => p.name === 'plug')?.versions).toEqual(['1.15.1']);

    now = eligibleAt;
    const after = await proxy.get('/packages/plug', { 'if-none-match': before.headers['etag'] ?? '' });
    expect(after.status).toBe(200);
    expect(after.headers['etag']).not.toBe(before.headers['etag']);
    expect((await open<Package>(after, { kind: 'package', name: 'plug' })).releases.map((r) => r.version)).toEqual(['1.15.1', '1.16.0']);
    expect((await servedVersions()).packages.find((p) => p.name === 'plug')?.versions).toEqual(['1.15.1', '1.16.0']);
    now = START;
  });
});

describe('tarballs of blocked releases', () => {
  it('are served under "locked-ok" (the default), since lock files pin them', async () => {
    const response = await proxy.get('/tarballs/plug-1.15.0.tar');
    expect(response.status).toBe(200);
    expect(response.body.equals(upstream.tarball('plug', '1.15.0').tar)).toBe(true);
    // A second time: from memory, through the hot path.
    expect((await proxy.get('/tarballs/plug-1.15.0.tar')).status).toBe(200);
  });

  it('are refused with 403 naming the rule under "strict", from memory too, and allowed ones still served', async () => {
    writePolicy({ ...policy, tarballs: 'strict' });
    proxy.server.hexproxy.reloadPolicy();
    const blocked = await proxy.get('/tarballs/plug-1.15.0.tar');
    expect(blocked.status).toBe(403);
    expect(blocked.headers['x-hexproxy-error']).toBe('blocked_by_policy');
    expect(blocked.body.toString()).toMatch(
      /plug 1\.15\.0 is blocked: advisory GHSA-crit-0001 \(critical\) at or above policy\.blockAdvisorySeverity "high"/,
    );
    const denied = await proxy.get('/tarballs/left_pad-1.0.0.tar');
    expect(denied.status).toBe(403);
    expect(denied.body.toString()).toMatch(/denied by policy\.deny\[0\] "left_pad"/);
    const hitsBefore = upstream.hits('/tarballs/left_pad-1.0.0.tar');
    expect(hitsBefore).toBe(0);
    const allowed = await proxy.get('/tarballs/plug-1.15.1.tar');
    expect(allowed.status).toBe(200);
    expect(allowed.body.equals(upstream.tarball('plug', '1.15.1').tar)).toBe(true);
    writePolicy(policy);
    proxy.server.hexproxy.reloadPolicy();
  });
});

describe('POST /api/policy/check', () => {
  const post = async (body: string, path = '/api/policy/check') => {
    const response = await fetch(`${proxy.url}${path}`, { method: 'POST', body });
    return { status: response.status, text: await response.text(), headers: response.headers };
  };

  it('answers 409 with what a mix.lock pins that the policy blocks, and 200 when nothing is', async () => {
    const blocked = await post(
      mixLock(upstream, [
        { name: 'plug', version: '1.15.0' },
        { name: 'jason', version: '1.4.1' },
        { name: 'left_pad', version: '1.1.0' },
      ]),
    );
    expect(blocked.status).toBe(409);
    expect(JSON.parse(blocked.text)).toEqual({
      policyActive: true,
      checked: 3,
      skipped: [],
      errors: [],
      blocked: [
        {
          name: 'plug',
          version: '1.15.0',
          source: 'mix.lock',
          reasons: ['advisory GHSA-crit-0001 (critical) at or above policy.blockAdvisorySeverity "high"'],
        },
        { name: 'left_pad', version: '1.1.0', source: 'mix.lock', reasons: ['denied by policy.deny[0] "left_pad"'] },
      ],
    });
    const clean = await post(
      rebarLock(upstream, [
        { name: 'plug', version: '1.15.1' },
        { name: 'ecto', version: '3.11.1' },
      ]),
    );
    expect(clean.status).toBe(200);
    expect(JSON.parse(clean.text)).toMatchObject({ checked: 2, blocked: [], errors: [] });
  });

  it('answers 422 for a release it cannot check, 400 for a body that is not a lock, 405 for GET', async () => {
    const unknown = await post(`%{\n  "plug": {:hex, :plug, "9.9.9", "${'a'.repeat(64)}", [:mix], [], "hexpm", "${'b'.repeat(64)}"},\n}\n`);
    expect(unknown.status).toBe(422);
    expect((JSON.parse(unknown.text) as { errors: { message: string }[] }).errors[0]?.message).toMatch(/upstream has no release 9\.9\.9 of plug/);
    const garbage = await post('%{ "plug": {:hex');
    expect(garbage.status).toBe(400);
    expect(garbage.text).toMatch(/the body is not a mix\.lock/);
    expect((await post('')).status).toBe(400);
    const get = await proxy.get('/api/policy/check');
    expect(get.status).toBe(405);
    expect(get.headers['allow']).toBe('POST');
  });
});

describe('configuring the policy', () => {
  it('refuses to start with a policy for a repository hexproxy does not serve', async () => {
    await expect(
      startProxy({
        upstreamUrl: upstream.url,
        upstreamPublicKeyPem: upstream.publicKeyPem,
        config: { policy: { ...policy, repositories: ['hexmp'] } },
      }),
    ).rejects.toThrow(/config key policy\.repositories: "hexmp" is not a repository hexproxy serves \(hexpm\)/);
  });
});

describe('reloading the policy', () => {
  it('takes effect without a restart and changes the ETags of what it changes', async () => {
    const before = await proxy.get('/packages/jason');
    const versionsBefore = await proxy.get('/versions');
    writePolicy({ ...policy, blockRetired: true });
    proxy.server.hexproxy.reloadPolicy();
    const after = await proxy.get('/packages/jason', { 'if-none-match': before.headers['etag'] ?? '' });
    expect(after.status).toBe(200);
    expect((await open<Package>(after, { kind: 'package', name: 'jason' })).releases.map((r) => r.version)).toEqual(['1.4.1']);
    const versionsAfter = await proxy.get('/versions');
    expect(versionsAfter.headers['etag']).not.toBe(versionsBefore.headers['etag']);
    expect((await open<Versions>(versionsAfter, { kind: 'versions' })).packages.find((p) => p.name === 'jason')).toEqual({
      name: 'jason',
      versions: ['1.4.1'],
      retired: [],
      with_advisories: [],
    });

    // An invalid edit is refused and the policy in force stays.
    writePolicy({ ...policy, minReleaseAge: '7 days' });
    expect(() => proxy.server.hexproxy.reloadPolicy()).toThrow(/policy\.minReleaseAge.*must be a duration such as "0", "7d"/);
    expect((await servedPackage('jason')).releases.map((r) => r.version)).toEqual(['1.4.1']);

    // No policy: the upstream registry as it is, under its unfiltered ETag.
    writePolicy({});
    proxy.server.hexproxy.reloadPolicy();
    expect((await servedPackage('jason')).releases.map((r) => r.version)).toEqual(['1.3.0', '1.4.0', '1.4.1']);
    expect((await servedPackage('left_pad')).releases).toHaveLength(2);
    expect((await proxy.get('/mirror/packages/plug')).status).toBe(200);
    writePolicy(policy);
    proxy.server.hexproxy.reloadPolicy();
  });

  it('reloads on SIGHUP in `hexproxy serve`', async () => {
    const dir = tempDir('hexproxy-sighup-');
    const keyFile = join(dir, 'upstream.pem');
    writeFileSync(keyFile, upstream.publicKeyPem);
    const configFile = join(dir, 'hexproxy.json');
    writeFileSync(configFile, JSON.stringify({ policy: { deny: ['plug'] } }));
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'serve',
        '--config',
        configFile,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'data'),
        '--upstream-url',
        upstream.url,
        '--upstream-public-key',
        keyFile,
      ],
      {
        env: { PATH: process.env['PATH'] },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr') =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = (): boolean => {
          const match = pattern.exec(stream === 'stdout' ? stdout : stderr);
          if (match) resolve(match);
          return match !== null;
        };
        if (check()) return;
        child[stream].on('data', () => check());
        child.once('close', () => reject(new Error(`hexproxy exited before ${pattern}: ${stderr}`)));
      });
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const url = (await waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 'stderr'))[1] as string;
      const first = await fetch(`${url}/packages/plug`);
      expect(decodeServed(Buffer.from(await first.arrayBuffer()), 'plug').releases).toEqual([]);
      writeFileSync(configFile, JSON.stringify({ policy: { deny: ['plug@< 1.15.1'] } }));
      child.kill('SIGHUP');
      await waitFor(/"msg":"policy reloaded"/, 'stdout');
      const second = await fetch(`${url}/packages/plug`, { headers: { 'if-none-match': first.headers.get('etag') ?? '' } });
      expect(second.status).toBe(200);
      expect(decodeServed(Buffer.from(await second.arrayBuffer()), 'plug').releases.map((r) => r.version)).toEqual(['1.15.1', '1.16.0']);
    } finally {
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});

/** The package of a served file, signature unchecked (the child process has its own key). */
function decodeServed(body: Buffer, name: string): Package {
  const pkg = decodePackage(decodeSigned(gunzipSync(body)).payload);
  expect(pkg.name).toBe(name);
  return pkg;
}

describe('a policy over an organization', () => {
  it("filters the organization's registry when policy.repositories names it, and leaves it alone otherwise", async () => {
    const ACME_KEY = 'acme-upstream-key-for-policy';
    const orgUpstream = await startFakeUpstream({
      packages: [{ name: 'jason', releases: [{ version: '1.4.1', publishedAt: OLD }] }],
      organizations: {
        acme: {
          authKey: ACME_KEY,
          packages: [
            {
              name: 'private_lib',
              releases: [
                { version: '1.0.0', publishedAt: OLD },
                { version: '1.1.0', publishedAt: OLD },
              ],
            },
          ],
        },
      },
    });
    const dir = tempDir('hexproxy-org-policy-');
    const orgKeyFile = join(dir, 'acme.pem');
    writeFileSync(orgKeyFile, orgUpstream.organization('acme').publicKeyPem);
    const organizations = { acme: { authKey: ACME_KEY, publicKey: orgKeyFile } };
    const orgProxy = await startProxy({
      upstreamUrl: orgUpstream.url,
      upstreamPublicKeyPem: orgUpstream.publicKeyPem,
      config: { organizations, policy: { repositories: ['hexpm', 'acme'], deny: ['private_lib@1.1.0', 'jason'] } },
    });
    try {
      const created = await runCli(['token', 'create', 'dev', '--read', 'hexpm,acme', '--data-dir', orgProxy.dataDir]);
      expect(created.code, created.stderr).toBe(0);
      const authorization = created.stdout.trim();
      const orgKey = parsePublicKey(orgProxy.server.hexproxy.keys.publicKeyPem);
      const openAcme = async <T>(path: string, resource: RegistryResource): Promise<T> => {
        const response = await orgProxy.get(path, { authorization });
        expect(response.status, response.body.toString()).toBe(200);
        return (await openRegistryFile(response.body, resource, { publicKey: orgKey, repository: 'acme', maxBytes: 1 << 20 })).message as T;
      };
      expect(
        (await openAcme<Package>('/repos/acme/packages/private_lib', { kind: 'package', name: 'private_lib' })).releases.map((r) => r.version),
      ).toEqual(['1.0.0']);
      expect((await openAcme<Versions>('/repos/acme/versions', { kind: 'versions' })).packages).toEqual([
        { name: 'private_lib', versions: ['1.0.0'], retired: [], with_advisories: [] },
      ]);
      // The rule "jason" matches by name in every repository the policy covers: hexpm's jason is gone.
      const jason = await orgProxy.get('/packages/jason');
      expect(
        (await openRegistryFile(jason.body, { kind: 'package', name: 'jason' }, { publicKey: orgKey, repository: 'hexpm', maxBytes: 1 << 20 }))
          .message,
      ).toMatchObject({ releases: [] });

      // The lock-file check reads the organization only for a token that may read it.
      const lock = `%{\n  "private_lib": {:hex, :private_lib, "1.1.0", "${'a'.repeat(64)}", [:mix], [], "hexpm:acme", "${'b'.repeat(64)}"},\n}\n`;
      const asAnonymous = await fetch(`${orgProxy.url}/api/policy/check`, { method: 'POST', body: lock });
      expect(asAnonymous.status).toBe(200);
      expect(await asAnonymous.json()).toMatchObject({
        checked: 0,
        skipped: [{ name: 'private_lib', reason: 'it is in repository "hexpm:acme", which your token may not read' }],
      });
      const withToken = await fetch(`${orgProxy.url}/api/policy/check`, { method: 'POST', body: lock, headers: { authorization } });
      expect(withToken.status).toBe(409);
      expect(await withToken.json()).toMatchObject({
        checked: 1,
        blocked: [{ name: 'private_lib', version: '1.1.0', reasons: ['denied by policy.deny[0] "private_lib@1.1.0"'] }],
      });

      // A rebar.lock records no repository: it is looked up in acme, then hexpm, among those the caller may read.
      const rebar = rebarLock(orgUpstream, [{ name: 'private_lib', version: '1.1.0', org: 'acme' }]);
      const rebarWithToken = await fetch(`${orgProxy.url}/api/policy/check`, { method: 'POST', body: rebar, headers: { authorization } });
      expect(rebarWithToken.status).toBe(409);
      expect(await rebarWithToken.json()).toMatchObject({
        checked: 1,
        blocked: [{ name: 'private_lib', version: '1.1.0' }],
        found: [{ name: 'private_lib', version: '1.1.0', source: 'rebar.lock', repository: 'acme' }],
      });
      const rebarAnonymous = await fetch(`${orgProxy.url}/api/policy/check`, { method: 'POST', body: rebar });
      expect(rebarAnonymous.status).toBe(422);
      expect(await rebarAnonymous.json()).toMatchObject({
        checked: 0,
        errors: [{ name: 'private_lib', message: expect.stringMatching(/^found in no repository hexproxy serves: looked in hexpm/) }],
      });

      // Only hexpm covered: the organization is served as upstream has it.
      writeFileSync(orgProxy.configFile as string, JSON.stringify({ organizations, policy: { deny: ['private_lib@1.1.0', 'jason'] } }));
      orgProxy.server.hexproxy.reloadPolicy();
      expect(
        (await openAcme<Package>('/repos/acme/packages/private_lib', { kind: 'package', name: 'private_lib' })).releases.map((r) => r.version),
      ).toEqual(['1.0.0', '1.1.0']);
    } finally {
      await orgProxy.close();
      await orgUpstream.close();
    }
  });
});
