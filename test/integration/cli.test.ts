// The hexproxy command as users run it: the built bin in a child process.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { tempDir } from '../support/proxy.js';

const bin = cliPath;
const hexproxy = runCli;

let upstream: FakeUpstream;
let upstreamKey: string;

beforeAll(async () => {
  expect(existsSync(bin), 'the CLI is built by `npm test` (npm run build)').toBe(true);
  upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
  upstreamKey = join(tempDir(), 'upstream.pem');
  writeFileSync(upstreamKey, upstream.publicKeyPem);
});

afterAll(async () => {
  await upstream?.close();
});

describe('start-up errors name the bad key and stop with exit code 2', () => {
  it.each([
    [['serve', '--port', 'http'], {}, /--port: expected a whole number for port, got "http"/],
    // serve is the default command, options and all.
    [['--port', '-1'], {}, /config key port \(from flag --port\): Too small/],
    [['serve', '--upstream-url', 'repo.hex.pm'], {}, /config key upstream\.url \(from flag --upstream-url\): must be an http/],
    [['serve'], { HEXPROXY_LOG_LEVEL: 'chatty' }, /config key logLevel \(from environment variable HEXPROXY_LOG_LEVEL\)/],
    [['serve', '--upstream-public-key', '/nonexistent.pem', '--data-dir', join(tempDir(), 'data')], {}, /upstream\.publicKey: cannot read \/nonexistent\.pem/],
  ] as const)('%j %j', async (args, env, message) => {
    const result = await hexproxy([...args], { ...env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('writes nothing when the upstream key is missing', async () => {
    const dataDir = join(tempDir(), 'data');
    const result = await hexproxy(['serve', '--upstream-public-key', '/nonexistent.pem', '--data-dir', dataDir]);
    expect(result.code).toBe(2);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('names an unknown key in the config file', async () => {
    const file = join(tempDir(), 'hexproxy.json');
    writeFileSync(file, JSON.stringify({ port: 4000, cache: { ttl: 5 } }));
    const result = await hexproxy(['serve', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`unknown config key cache.ttl in ${file}`);
  });
});

describe('hexproxy keygen', () => {
  it('makes a key pair, refuses to overwrite it, and replaces it with --force', async () => {
    const dataDir = tempDir();
    const first = await hexproxy(['keygen', '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    expect(statSync(privateFile).mode & 0o777).toBe(0o600);
    expect(first.stdout).toContain(join(dataDir, 'keys', 'hexproxy_public.pem'));
    const key = readFileSync(privateFile, 'utf8');
    const again = await hexproxy(['keygen', '--data-dir', dataDir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists .* pass --force/);
    expect(readFileSync(privateFile, 'utf8')).toBe(key);
    const forced = await hexproxy(['keygen', '--data-dir', dataDir, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(privateFile, 'utf8')).not.toBe(key);
  });
});

describe('--public-key naming a private key', () => {
  /** Runs hexproxy until it exits, or until it listens (then stops it): the unfixed server started with such a key. */
  async function runUntilListening(args: string[]): Promise<{ code: number | null; stderr: string; listened: boolean }> {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let listened = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!listened && stderr.includes('Point rebar3')) {
        listened = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stderr, listened };
  }

  const serveArgs = (dataDir: string, publicKey: string): string[] => [
    'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey, '--public-key', publicKey,
  ];

  it('refuses the private key\'s own path (serve and keygen --force), naming both keys, and leaves the private key as it was', async () => {
    const dataDir = tempDir();
    expect((await hexproxy(['keygen', '--data-dir', dataDir])).code).toBe(0);
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    const before = readFileSync(privateFile);
    const message = `keys.publicKey and keys.privateKey are the same file (${privateFile}): writing the public key there would destroy the private key. Give --public-key (keys.publicKey) a path of its own, or leave it out for the default, DATA_DIR/keys/hexproxy_public.pem`;

    const served = await runUntilListening(serveArgs(dataDir, privateFile));
    expect(served.listened, 'serve started').toBe(false);
    expect(served.code).toBe(2);
    expect(served.stderr).toContain(message);
    expect(readFileSync(privateFile).equals(before), 'the private key is unchanged').toBe(true);

    const forced = await hexproxy(['keygen', '--force', '--data-dir', dataDir, '--public-key', privateFile]);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toContain(message);
    expect(readFileSync(privateFile).equals(before), 'the private key is unchanged').toBe(true);
  });

  it('refuses another name of the same file (a hard link), and any file that holds a private key', async () => {
    const dataDir = tempDir();
    expect((await hexproxy(['keygen', '--data-dir', dataDir])).code).toBe(0);
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    const before = readFileSync(privateFile);
    const link = join(dataDir, 'public-link.pem');
    linkSync(privateFile, link);
    const linked = await runUntilListening(serveArgs(dataDir, link));
    expect(linked.listened, 'serve started').toBe(false);
    expect(linked.code).toBe(2);
    expect(linked.stderr).toContain(`keys.publicKey (${link}) and keys.privateKey (${privateFile}) are the same file`);
    expect(readFileSync(privateFile).equals(before)).toBe(true);

    const copy = join(dataDir, 'old-private.pem');
    copyFileSync(privateFile, copy);
    const copied = await runUntilListening(serveArgs(dataDir, copy));
    expect(copied.listened, 'serve started').toBe(false);
    expect(copied.code).toBe(2);
    expect(copied.stderr).toContain(`keys.publicKey: ${copy} holds a private key; hexproxy will not write its public key over it. Give --public-key (keys.publicKey) another path`);
    expect(readFileSync(copy).equals(before)).toBe(true);
  });
});

describe('hexproxy serve', () => {
  it('prints where it listens and how to point Mix at it, serves, and stops on SIGTERM', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey], {
      env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const banner = new Promise<string>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
        if (url && stderr.includes('Point rebar3')) resolve(url);
      });
    });
    const url = await banner;
    expect(stderr).toContain(`mix hex.repo set hexpm --url ${url} --public-key hexproxy.pem`);
    expect(stderr).toContain(`curl -fsSo hexproxy.pem ${url}/public_key`);
    const response = await fetch(`${url}/tarballs/alpha-1.0.0.tar`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
