// hex.pm organizations through hexproxy: /repos/ORG/... verified with each organization's
// key and re-signed, cached in their own namespace, readable only with a token for that
// organization, marked private for shared caches, and never leaking their secrets.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Names, Package, Policy } from '../../src/registry/types.js';
import { runCli, serveCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream, type PackageSpec } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type HttpResult, type TestProxy } from '../support/proxy.js';
import { within } from '../support/within.js';

const publicPackages: PackageSpec[] = [{ name: 'jason', releases: [{ version: '1.4.0' }] }];
const ACME_KEY = 'acme-upstream-key-0123456789';
const GLOBEX_KEY = 'globex-upstream-key-9876543210';

let upstream: FakeUpstream;
let proxy: TestProxy;
const secrets: string[] = [ACME_KEY, GLOBEX_KEY];
const responses: HttpResult[] = [];
let acmeToken = '';
/** The config file naming the organizations and their own keys, for CLI runs. */
let orgConfigFile = '';
let globexToken = '';

async function token(name: string, read: string): Promise<string> {
  const result = await runCli(['token', 'create', name, '--read', read, '--data-dir', proxy.dataDir]);
  expect(result.code, result.stderr).toBe(0);
  const secret = result.stdout.trim();
  secrets.push(secret);
  return secret;
}

async function get(path: string, authorization?: string): Promise<HttpResult> {
  const response = await proxy.get(path, authorization === undefined ? {} : { authorization });
  responses.push(response);
  return response;
}

const proxyKey = () => parsePublicKey(proxy.server.hexproxy.keys.publicKeyPem);

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: publicPackages,
    organizations: {
      acme: {
        authKey: ACME_KEY,
        policies: { 'no-rc': { description: 'no release candidates', repositories: [] }, strict: { repositories: [] } },
        packages: [
          { name: 'acme_core', releases: [{ version: '1.0.0', dependencies: [{ package: 'jason', requirement: '~> 1.4', repository: 'hexpm' }] }] },
        ],
      },
      globex: { authKey: GLOBEX_KEY, packages: [{ name: 'globex_api', releases: [{ version: '2.0.0' }] }] },
    },
  });
  const dir = tempDir('hexproxy-orgs-');
  const keyFile = (name: string): string => {
    const file = join(dir, `${name}.pem`);
    writeFileSync(file, upstream.organization(name).publicKeyPem);
    return file;
  };
  const configFile = join(dir, 'config.json');
  orgConfigFile = configFile;
  writeFileSync(
    configFile,
    JSON.stringify({
      organizations: {
        acme: { authKey: ACME_KEY, publicKey: keyFile('acme') },
        globex: { authKey: GLOBEX_KEY, publicKey: keyFile('globex') },
      },
    }),
  );
  proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { config: configFile } });
  acmeToken = await token('acme-dev', 'hexpm,acme');
  globexToken = await token('globex-dev', 'globex');
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

describe('organization repositories', () => {
  it("serves an organization's registry re-signed, checked against its own key and name", async () => {
    const names = await get('/repos/acme/names', acmeToken);
    expect(names.status).toBe(200);
    const opened = await openRegistryFile(names.body, { kind: 'names' }, { publicKey: proxyKey(), repository: 'acme', maxBytes: 1 << 20 });
    expect((opened.message as Names).packages.map((p) => p.name)).toEqual(['acme_core']);
    const pkg = await get('/repos/acme/packages/acme_core', acmeToken);
    expect(pkg.status).toBe(200);
    const release = (
      (await openRegistryFile(pkg.body, { kind: 'package', name: 'acme_core' }, { publicKey: proxyKey(), repository: 'acme', maxBytes: 1 << 20 }))
        .message as Package
    ).releases[0];
    // The cross-repository dependency is kept as upstream wrote it.
    expect(release?.dependencies).toEqual([expect.objectContaining({ package: 'jason', requirement: '~> 1.4', repository: 'hexpm' })]);
    // hexproxy sent the organization's key upstream.
    expect(upstream.lastHeaders('/repos/acme/packages/acme_core')?.authorization).toBe(ACME_KEY);
  });

  it('serves its tarballs, checked against its registry, and the public dependency through the same proxy', async () => {
    const tarball = await get('/repos/acme/tarballs/acme_core-1.0.0.tar', acmeToken);
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(upstream.tarball('acme_core', '1.0.0', 'acme').tar)).toBe(true);
    const dependency = await get('/tarballs/jason-1.4.0.tar', acmeToken);
    expect(dependency.status).toBe(200);
    expect(dependency.body.equals(upstream.tarball('jason', '1.4.0').tar)).toBe(true);
  });

  it('marks private answers private for shared caches, and leaves the public ones alone', async () => {
    for (const path of ['/repos/acme/names', '/repos/acme/packages/acme_core', '/repos/acme/tarballs/acme_core-1.0.0.tar']) {
      expect((await get(path, acmeToken)).headers['cache-control'], path).toMatch(/^private\b/);
    }
    expect((await get('/packages/jason', acmeToken)).headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    expect((await get('/tarballs/jason-1.4.0.tar')).headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('lets no one without access read an organization, even a cached file by its URL', async () => {
    const hitsBefore = upstream.totalHits();
    for (const path of ['/repos/acme/names', '/repos/acme/packages/acme_core', '/repos/acme/tarballs/acme_core-1.0.0.tar']) {
      const anonymous = await get(path);
      expect(anonymous.status, `${path} anonymous`).toBe(401);
      const other = await get(path, globexToken);
      expect(other.status, `${path} with globex's token`).toBe(403);
      expect(other.body.toString()).toMatch(/token globex-dev may not read repository acme/);
    }
    // The cached acme tarball is not reachable through another namespace either.
    const viaGlobex = await get('/repos/globex/tarballs/acme_core-1.0.0.tar', globexToken);
    expect(viaGlobex.status).toBe(404);
    const viaPublic = await get('/tarballs/acme_core-1.0.0.tar');
    expect(viaPublic.status).toBe(404);
    expect(viaGlobex.body.includes(upstream.tarball('acme_core', '1.0.0', 'acme').tar.subarray(0, 64))).toBe(false);
    // Refused requests never reached upstream; the two 404s asked it for their own namespaces' package files.
    expect(upstream.totalHits() - hitsBefore).toBe(2);
    expect(upstream.hits('/repos/globex/packages/acme_core')).toBe(1);
  });

  it('serves each organization to its own token, and anonymous clients the public repository only', async () => {
    const globex = await get('/repos/globex/tarballs/globex_api-2.0.0.tar', globexToken);
    expect(globex.status).toBe(200);
    expect(globex.body.equals(upstream.tarball('globex_api', '2.0.0', 'globex').tar)).toBe(true);
    expect((await get('/repos/globex/names', acmeToken)).status).toBe(403);
    expect((await get('/packages/jason')).status).toBe(200);
    expect((await get('/repos/initech/names', acmeToken)).status).toBe(404);
  });

  it("refuses an organization file signed with another organization's key", async () => {
    // globex's genuine names file, served under acme's path, and not cached before.
    upstream.misbehave('/repos/acme/versions', 'wrong-key');
    const refused = await get('/repos/acme/versions', acmeToken);
    expect(refused.status).toBe(502);
    expect(refused.headers['x-hexproxy-error']).toBe('verification_failed');
    upstream.behave();
    expect((await get('/repos/acme/versions', acmeToken)).status).toBe(200);
  });

  it('serves its docs from a private namespace', async () => {
    const docs = await get('/repos/acme/docs/acme_core-1.0.0.tar.gz', acmeToken);
    expect(docs.status).toBe(200);
    expect(docs.headers['cache-control']).toMatch(/^private\b/);
    expect(docs.body.equals(upstream.body('/repos/acme/docs/acme_core-1.0.0.tar.gz') ?? Buffer.alloc(0))).toBe(true);
    expect(upstream.lastHeaders('/repos/acme/docs/acme_core-1.0.0.tar.gz')?.authorization).toBe(ACME_KEY);
    expect((await get('/repos/acme/docs/acme_core-1.0.0.tar.gz')).status).toBe(401);
    // The public path asks the public repository, which has no such docs.
    expect((await get('/docs/acme_core-1.0.0.tar.gz')).status).toBe(404);
  });

  it('serves its dependency policies (Hex 2.5) verified and re-signed, to its readers only', async () => {
    const served = await get('/repos/acme/policies/no-rc', acmeToken);
    expect(served.status).toBe(200);
    expect(served.headers['cache-control']).toMatch(/^private\b/);
    const policy = (
      await openRegistryFile(served.body, { kind: 'policy', name: 'no-rc' }, { publicKey: proxyKey(), repository: 'acme', maxBytes: 1 << 20 })
    ).message as Policy;
    expect(policy).toMatchObject({ repository: 'acme', name: 'no-rc', description: 'no release candidates' });
    expect((await get('/repos/acme/policies/no-rc')).status).toBe(401);
    expect((await get('/repos/acme/policies/no-rc', globexToken)).status).toBe(403);
    expect((await get('/repos/acme/policies/missing', acmeToken)).status).toBe(404);
    const bad = await get('/repos/acme/policies/-x', acmeToken);
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toMatch(/not a valid policy name/);
    // A policy file for another repository, signed with acme's key, is refused.
    upstream.misbehave('/repos/acme/policies/strict', 'wrong-repository');
    const refused = await get('/repos/acme/policies/strict', acmeToken);
    expect(refused.status).toBe(502);
    expect(refused.body.toString()).toMatch(/names repository "evil", expected "acme"/);
    upstream.behave();
    expect((await get('/repos/acme/policies/strict', acmeToken)).status).toBe(200);
  });

  it('never writes a secret (organization keys, tokens) in a log line or a response', async () => {
    const logText = proxy.logs.map((line) => JSON.stringify(line)).join('\n');
    expect(secrets.length).toBe(4);
    for (const secret of secrets) {
      expect(logText.includes(secret), 'a log line holds a secret').toBe(false);
      for (const response of responses) expect(response.body.includes(secret), 'a response holds a secret').toBe(false);
    }
  });
});

describe('an organization configured without its auth key', () => {
  it('is named at start with the environment variable to set, and again in every refused answer', async () => {
    const dir = tempDir('hexproxy-orgs-nokey-');
    const upstreamKey = join(dir, 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    const acmeKey = join(dir, 'acme.pem');
    writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
    const configFile = join(dir, 'hexproxy.json');
    // As the README's example: the organization in the file, its key meant to come from the environment.
    writeFileSync(
      configFile,
      JSON.stringify({
        upstream: { url: upstream.url, publicKey: upstreamKey, retries: 0, cooldownSeconds: 0 },
        organizations: { acme: { publicKey: acmeKey } },
      }),
    );
    const dataDir = join(dir, 'data');
    const created = await runCli(['token', 'create', 'acme-dev', '--read', 'hexpm,acme', '--config', configFile, '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const served = await serveCli(['serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
    try {
      const warning =
        'organization acme has no auth key, and hex.pm refuses its files without one: set HEXPROXY_ORG_ACME_AUTH_KEY (or organizations.acme.authKey in the config file) to a hex.pm key that may read acme';
      await within(served.printed(/organization acme has no auth key/), 'the warning', 10_000);
      const line = served
        .output()
        .split('\n')
        .find((text) => text.includes('organization acme has no auth key'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 40, msg: warning, organization: 'acme', env: 'HEXPROXY_ORG_ACME_AUTH_KEY' });
      const response = await fetch(`${served.url}/repos/acme/packages/acme_core`, { headers: { authorization: token } });
      expect(response.status).toBe(502);
      expect(await response.text()).toBe(
        'hexproxy: upstream refused /repos/acme/packages/acme_core (401): organization acme has no auth key; set HEXPROXY_ORG_ACME_AUTH_KEY (or organizations.acme.authKey)\n',
      );
      // The public repository is served as usual.
      expect((await fetch(`${served.url}/tarballs/jason-1.4.0.tar`)).status).toBe(200);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    // Offline (the air-gapped side, serving imported files) hex.pm is never asked: no key is needed, so no warning.
    const offline = await serveCli(['serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--offline']);
    try {
      expect((await fetch(`${offline.url}/tarballs/jason-1.4.0.tar`)).status).toBe(200);
    } finally {
      expect(await offline.stop()).toBe(0);
    }
    expect(offline.output()).toContain('shutting down');
    expect(offline.output()).not.toContain('has no auth key');
  });

  it("names the organization and its key's variable when upstream refuses the key it has", async () => {
    upstream.behave();
    const other = await startProxy({
      upstreamUrl: upstream.url,
      upstreamPublicKeyPem: upstream.publicKeyPem,
      config: { organizations: { acme: { authKey: 'not-the-key', publicKey: null } } },
    });
    try {
      const created = await runCli([
        'token',
        'create',
        'acme-dev',
        '--read',
        'acme',
        '--data-dir',
        other.dataDir,
        ...(other.configFile ? ['--config', other.configFile] : []),
      ]);
      expect(created.code, created.stderr).toBe(0);
      const response = await other.get('/repos/acme/names', { authorization: created.stdout.trim() });
      expect(response.status).toBe(502);
      expect(response.body.toString()).toBe(
        'hexproxy: upstream refused /repos/acme/names (401): check organizations.acme.authKey (HEXPROXY_ORG_ACME_AUTH_KEY): hex.pm refuses a key that is unknown, revoked or may not read acme\n',
      );
      expect(JSON.stringify(other.logs)).not.toContain('not-the-key');
    } finally {
      await other.close();
    }
  });
});

describe('hexproxy cache verify with organizations signed by keys of their own', () => {
  it("checks each repository's registry files with that repository's key, quarantining nothing good", async () => {
    expect((await get('/repos/acme/packages/acme_core', acmeToken)).status).toBe(200);
    expect((await get('/packages/jason')).status).toBe(200);
    const upstreamKeyFile = join(tempDir(), 'upstream.pem');
    writeFileSync(upstreamKeyFile, upstream.publicKeyPem);
    const result = await runCli([
      'cache',
      'verify',
      '--config',
      orgConfigFile,
      '--data-dir',
      proxy.dataDir,
      '--upstream-public-key',
      upstreamKeyFile,
    ]);
    expect(result.stdout).toMatch(/bad:\s+0/);
    expect(result.code, result.stdout).toBe(0);
    expect(proxy.server.hexproxy.index.findRegistryFile('acme', 'packages/acme_core')).toBeDefined();
  });
});
