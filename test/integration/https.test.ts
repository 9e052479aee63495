// HTTPS without a front tier (tls.cert, tls.key; docs/https.md): `hexproxy serve` with a
// certificate from a CA made in the test, read by Node, the real Mix and the real rebar3
// trusting that CA, refused by clients that do not, and replaced on SIGHUP without a restart.
// One server for the file; the reload tests come last, as they change what it serves.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { readTlsCredentials } from '../../src/http/tls.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import { projectRoot } from '../../src/paths.js';
import { runCli } from '../support/cli.js';
import { spawnServer, type ServerProcess } from '../support/crash/harness.js';
import { mixHome, mixUnavailable, requireMix } from '../support/mix.js';
import { tempDir } from '../support/proxy.js';
import { rebar3Available, rebar3Project, requireRebar3 } from '../support/rebar3.js';
import { makeTestCa, type ServerCertificate, type TestCa } from '../support/test-ca.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

const mixMissing = await mixUnavailable();
const rebar3Here = await rebar3Available();

describe('HTTPS clients are installed', () => {
  it.runIf(requireMix)('mix and the Hex archive (CI=true: .ci/run installs them)', () => expect(mixMissing).toBeUndefined());
  it.runIf(requireRebar3)('rebar3 (CI=true: .ci/run installs it)', () => expect(rebar3Here).toBe(true));
});

describe('hexproxy serving HTTPS', () => {
  let upstream: FakeUpstream;
  let ca: TestCa;
  let first: ServerCertificate;
  let server: ServerProcess;
  let dir: string;
  /** The files hexproxy was started with (tls.cert, tls.key); the reload tests write over them. */
  let live: { cert: string; key: string };
  /** Trusts the test CA, and only it. */
  let trusting: Agent;
  let hexproxyKeyFile: string;

  const install = (certificate: ServerCertificate): void => {
    copyFileSync(certificate.certFile, live.cert);
    copyFileSync(certificate.keyFile, live.key);
  };

  /** The certificate a new TLS connection is shown, checked against the test CA. */
  const servedCertificate = (): Promise<PeerCertificate> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(server.url).port), ca: ca.certPem, servername: 'localhost' }, () => {
        resolve(socket.getPeerCertificate());
        socket.end();
      });
      socket.on('error', reject);
    });

  // Erlang's ssl checks an address in the URL against the certificate's names only as a host name, which 127.0.0.1 is not.
  const byName = (): string => server.url.replace('//127.0.0.1:', '//localhost:');

  const get = async (path: string, dispatcher: Agent = trusting): Promise<{ status: number; body: Buffer }> => {
    const response = await fetch(`${server.url}${path}`, { dispatcher });
    return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
  };

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'tls_a', releases: [{ version: '1.0.0' }] }] });
    ca = await makeTestCa();
    // Valid for 10 days: hexproxy warns at start.
    first = await ca.issue({ serial: '1001', days: 10 });
    dir = tempDir('hexproxy-https-');
    live = { cert: join(dir, 'tls.pem'), key: join(dir, 'tls.key') };
    install(first);
    const upstreamKeyFile = join(dir, 'upstream.pem');
    writeFileSync(upstreamKeyFile, upstream.publicKeyPem);
    server = await spawnServer({
      dataDir: join(dir, 'data'),
      upstreamUrl: upstream.url,
      upstreamKeyFile,
      flags: ['--tls-cert', live.cert, '--tls-key', live.key, '--upstream-api-url', `${upstream.url}/api`, '--installs-url', upstream.url],
    });
    trusting = new Agent({ connect: { ca: ca.certPem } });
    hexproxyKeyFile = join(dir, 'hexproxy.pem');
    const key = await get('/public_key');
    expect(key.status).toBe(200);
    writeFileSync(hexproxyKeyFile, key.body);
  });

  afterAll(async () => {
    await server?.stop();
    await trusting?.close();
    await upstream?.close();
  });

  it('listens with HTTPS, says https:// where it prints its address, and warns of a certificate expiring within 14 days', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const warning = await server.waitForLog((line) => line.level === 40 && line.msg.startsWith(`the TLS certificate ${live.cert} expires on`));
    expect(warning['serialNumber']).toBe(first.serial);
    // The web UI's Set me up page fills in the scheme the browser used.
    const setup = await get('/ui/setup');
    expect(setup.status).toBe(200);
    expect(setup.body.toString()).toContain(`mix hex.repo set hexpm --url ${server.url}`);
  });

  it("serves over HTTPS the bytes upstream serves: a re-signed registry file that verifies, upstream's own file, a tarball (cached: the hot path)", async () => {
    const resigned = await get('/packages/tls_a');
    expect(resigned.status).toBe(200);
    const verified = await openRegistryFile(
      resigned.body,
      { kind: 'package', name: 'tls_a' },
      {
        publicKey: parsePublicKey(readFileSync(hexproxyKeyFile)),
        repository: 'hexpm',
        maxBytes: 1 << 20,
      },
    );
    expect(verified.resource).toEqual({ kind: 'package', name: 'tls_a' });
    const original = Buffer.from(await (await fetch(`${upstream.url}/packages/tls_a`)).arrayBuffer());
    expect((await get('/mirror/packages/tls_a')).body.equals(original)).toBe(true);
    const tarball = upstream.tarball('tls_a', '1.0.0').tar;
    for (let round = 0; round < 2; round += 1) {
      const served = await get('/tarballs/tls_a-1.0.0.tar');
      expect(served.status).toBe(200);
      expect(served.body.equals(tarball)).toBe(true);
    }
    // The second answer came from the cache, without Hono: the hot path writes to node:https as to node:http.
    expect(upstream.hits('/tarballs/tls_a-1.0.0.tar')).toBe(1);
  });

  it('is refused by a Node client that does not trust the CA, and by plain HTTP', async () => {
    const untrusting = new Agent();
    try {
      const failure = await fetch(`${server.url}/packages/tls_a`, { dispatcher: untrusting }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error & { cause?: { code?: string } }).cause?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      await untrusting.close();
    }
    const plain = await fetch(server.url.replace('https:', 'http:')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(plain).toBeInstanceOf(Error);
  });

  it.skipIf(mixMissing !== undefined)('Mix fetches a dependency with HEX_CACERTS_PATH naming the CA, and fails without it', async () => {
    const home = await mixHome();
    expect((await home.mix(['hex.repo', 'set', 'hexpm', '--url', byName(), '--public-key', hexproxyKeyFile], tempDir())).code).toBe(0);
    const refused = await home.mix(['deps.get'], home.project(['{:tls_a, "~> 1.0"}']));
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/unknown ca/i);
    const project = home.project(['{:tls_a, "~> 1.0"}']);
    const result = await home.mix(['deps.get'], project, { HEX_CACERTS_PATH: ca.certFile });
    expect(result.code, result.output).toBe(0);
    expect(readFileSync(join(project, 'mix.lock'), 'utf8')).toContain(upstream.tarball('tls_a', '1.0.0').outerChecksum.toString('hex'));
  });

  it.skipIf(!rebar3Here)('rebar3 fetches a dependency with the CA as ssl_cacerts_path in its global rebar.config', async () => {
    const key = readFileSync(hexproxyKeyFile, 'utf8').trim();
    const project = rebar3Project({
      repoUrl: byName(),
      publicKeyPem: key,
      deps: ['tls_a'],
      globalConfig: `{ssl_cacerts_path, "${ca.certFile}"}.\n{hex, [{repos, [#{name => <<"hexpm">>, repo_public_key => <<"${key}">>}]}]}.\n`,
    });
    const result = await project.run(['get-deps']);
    expect(result.code, result.output).toBe(0);
    expect(readFileSync(join(project.dir, 'rebar.lock'), 'utf8')).toContain(
      upstream.tarball('tls_a', '1.0.0').outerChecksum.toString('hex').toUpperCase(),
    );
  });

  it('on SIGHUP serves a new certificate to new connections, on the same listener', async () => {
    expect((await servedCertificate()).serialNumber).toBe(first.serial);
    const second = await ca.issue({ serial: '2002', days: 365 });
    install(second);
    const logged = server.logs.length;
    process.kill(server.pid, 'SIGHUP');
    const reloaded = await server.waitForLog((line) => line.msg.startsWith('TLS certificate reloaded') && server.logs.indexOf(line) >= logged);
    expect(reloaded).toMatchObject({ level: 30, cert: live.cert, subject: 'CN=localhost', serialNumber: second.serial });
    expect((await servedCertificate()).serialNumber).toBe(second.serial);
    expect((await get('/packages/tls_a')).status).toBe(200);
  });

  it('on SIGHUP with a key that does not match, logs an error naming tls.key and its file and keeps the previous certificate', async () => {
    const before = await servedCertificate();
    const other = await ca.issue({ serial: '3003', days: 365 });
    copyFileSync(other.keyFile, live.key);
    const logged = server.logs.length;
    process.kill(server.pid, 'SIGHUP');
    const refused = await server.waitForLog((line) => line.msg.startsWith('TLS certificate not reloaded') && server.logs.indexOf(line) >= logged);
    expect(refused.level).toBe(50);
    expect(refused['err']).toBe(
      `tls.key: ${live.key} is not the private key of the certificate in ${live.cert} (tls.cert, subject CN=localhost): name the key the certificate was issued for`,
    );
    expect((await servedCertificate()).fingerprint256).toBe(before.fingerprint256);
    expect((await get('/packages/tls_a')).status).toBe(200);
  });
});

describe('tls.cert and tls.key checked at start', () => {
  it('wants both or neither, naming the one missing', () => {
    expect(() => loadConfig({ flags: { 'tls-cert': '/tmp/cert.pem' }, env: {} })).toThrow(
      'config key tls.key: is needed with tls.cert: set both (PEM files) for HTTPS, or neither for plain HTTP',
    );
  });

  it('refuses a file it cannot read, and a file that is not a certificate, naming the key', () => {
    const dir = tempDir('hexproxy-tls-files-');
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    expect(() => readTlsCredentials({ cert: join(dir, 'missing.pem'), key: garbage })).toThrow(`tls.cert: cannot read ${join(dir, 'missing.pem')}`);
    expect(() => readTlsCredentials({ cert: garbage, key: garbage })).toThrow(`tls.cert: ${garbage} does not hold a PEM certificate`);
  });

  it('`hexproxy serve` with a key that does not match the certificate exits 2 before writing anything, naming tls.key', async () => {
    const ca = await makeTestCa();
    const [one, two] = [await ca.issue({ serial: '4004', days: 30 }), await ca.issue({ serial: '5005', days: 30 })];
    const dataDir = join(tempDir('hexproxy-tls-start-'), 'data');
    const result = await runCli(
      ['serve', '--host', '127.0.0.1', '--port', '0', '--offline', '--data-dir', dataDir, '--tls-cert', one.certFile, '--tls-key', two.keyFile],
      {},
      { boundMs: 30_000 },
    );
    expect(result.code).toBe(2);
    expect(existsSync(dataDir)).toBe(false);
    expect(result.stderr).toContain(`hexproxy: tls.key: ${two.keyFile} is not the private key of the certificate in ${one.certFile}`);
  });
});

describe('SIGHUP without TLS', () => {
  it('says there is no certificate to reload, and keeps serving', async () => {
    const plain = await spawnServer({
      dataDir: join(tempDir('hexproxy-plain-sighup-'), 'data'),
      upstreamUrl: 'http://127.0.0.1:9',
      upstreamKeyFile: join(projectRoot, 'keys', 'hexpm_public_key.pem'),
      flags: ['--offline'],
    });
    try {
      process.kill(plain.pid, 'SIGHUP');
      await plain.waitForLog((line) => line.msg.startsWith('no TLS certificate to reload'));
      expect((await fetch(`${plain.url}/healthz`)).status).toBe(200);
    } finally {
      await plain.stop();
    }
  });
});
