// Other local users must not read what hexproxy keeps: a private organization's tarballs,
// the index, the token hashes, the signing key. Whichever command creates the data
// directory first (the README starts with `token create`), it is 0700 and every file in
// it 0600, but the public key (0644, in a 0700 directory). A data directory others could
// enter is tightened, with a log line.
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { tempDir } from '../support/proxy.js';

const ACME_KEY = 'acme-upstream-key-0123456789';

let upstream: FakeUpstream;
let configFile: string;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [{ name: 'jason', releases: [{ version: '1.4.0' }] }],
    organizations: { acme: { authKey: ACME_KEY, packages: [{ name: 'acme_core', releases: [{ version: '1.0.0' }] }] } },
  });
  const dir = tempDir('hexproxy-modes-config-');
  const upstreamKey = join(dir, 'upstream.pem');
  const acmeKey = join(dir, 'acme.pem');
  writeFileSync(upstreamKey, upstream.publicKeyPem);
  writeFileSync(acmeKey, upstream.organization('acme').publicKeyPem);
  configFile = join(dir, 'hexproxy.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      upstream: { url: upstream.url, publicKey: upstreamKey, retries: 0, cooldownSeconds: 0 },
      installs: { url: upstream.url },
      organizations: { acme: { authKey: ACME_KEY, publicKey: acmeKey } },
    }),
  );
});

afterAll(async () => {
  await upstream?.close();
});

/** Every directory and file under `root` (itself included) with its permission bits, as "path 0NNN". */
function modes(root: string): string[] {
  const found: string[] = [];
  const visit = (path: string): void => {
    const stats = lstatSync(path);
    found.push(`${relative(root, path) || '.'}${stats.isDirectory() ? '/' : ''} 0${(stats.mode & 0o777).toString(8)}`);
    if (stats.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return found.sort();
}

/** What the modes should be: directories 0700, files 0600, the public key 0644. */
const expected = (found: string[]): string[] =>
  found.map((entry) => {
    const path = entry.slice(0, entry.lastIndexOf(' '));
    return `${path} ${path.endsWith('/') ? '0700' : path === 'keys/hexproxy_public.pem' ? '0644' : '0600'}`;
  });

interface Served {
  url: string;
  /** What it printed: the banner on stderr, the JSON log on stdout. */
  output: () => string;
  /** Resolves once the output matches `pattern` (the log on stdout and the banner on stderr are two pipes: no order between them). */
  printed: (pattern: RegExp) => Promise<string>;
  stop: () => Promise<number | null>;
}

async function serve(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, [cliPath, 'serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    env: { PATH: process.env['PATH'] },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
      if (found) resolve(found);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
  const output = (): string => `${stderr}${stdout}`;
  const printed = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!pattern.test(output())) return false;
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        resolve(output());
        return true;
      };
      if (check()) return;
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      void exited.then(() => reject(new Error(`serve exited without printing ${pattern}: ${output()}`)));
    });
  return {
    url,
    output,
    printed,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function fetchOk(url: string, authorization?: string): Promise<Buffer> {
  const response = await fetch(url, authorization === undefined ? {} : { headers: { authorization } });
  expect(response.status, url).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe("the data directory and its files are for hexproxy's user only", () => {
  it('token create first, then serve with a private organization: directories 0700, files 0600, the public key 0644', async () => {
    const dataDir = join(tempDir('hexproxy-modes-'), 'data');
    const created = await runCli(['token', 'create', 'dev', '--read', 'hexpm,acme', '--config', configFile, '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    expect(modes(dataDir)).toEqual(['./ 0700', 'tokens.json 0600']);
    const token = created.stdout.trim();

    const server = await serve(dataDir);
    try {
      const tarball = await fetchOk(`${server.url}/repos/acme/tarballs/acme_core-1.0.0.tar`, token);
      expect(tarball.equals(upstream.tarball('acme_core', '1.0.0', 'acme').tar)).toBe(true);
      await fetchOk(`${server.url}/repos/acme/docs/acme_core-1.0.0.tar.gz`, token);
      await fetchOk(`${server.url}/tarballs/jason-1.4.0.tar`);
      // While it runs: the SQLite -wal and -shm files are there too.
      const running = modes(dataDir);
      expect(running).toEqual(
        expect.arrayContaining(['hexproxy.db 0600', 'hexproxy.db-wal 0600', 'hexproxy.db-shm 0600', 'keys/hexproxy_private.pem 0600']),
      );
      expect(running).toEqual(expected(running));
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // Stopped: every tarball has landed (a small miss is answered before it is stored).
    const stopped = modes(dataDir);
    expect(stopped.filter((entry) => entry.endsWith('.tar 0600') || entry.endsWith('.tar 0644')).length, stopped.join('\n')).toBe(2);
    expect(stopped).toEqual(expected(stopped));
  });

  it('prewarm first: the same', async () => {
    const dataDir = join(tempDir('hexproxy-modes-'), 'data');
    const result = await runCli(['prewarm', 'jason@1.4.0', '--config', configFile, '--data-dir', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    const found = modes(dataDir);
    expect(found).toEqual(expect.arrayContaining(['hexproxy.db 0600', 'keys/hexproxy_public.pem 0644']));
    expect(found).toEqual(expected(found));
  });

  it('keygen first: the same', async () => {
    const dataDir = join(tempDir('hexproxy-modes-'), 'nested', 'data');
    const result = await runCli(['keygen', '--config', configFile, '--data-dir', dataDir]);
    expect(result.code, result.stderr).toBe(0);
    expect(modes(dataDir)).toEqual(['./ 0700', 'keys/ 0700', 'keys/hexproxy_private.pem 0600', 'keys/hexproxy_public.pem 0644']);
  });

  it('tightens a data directory that others may enter, and says so', async () => {
    const dataDir = join(tempDir('hexproxy-modes-'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const server = await serve(dataDir);
    try {
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(await server.printed(/data directory .* could be read by other users \(mode 0755\); it is now 0700/)).toContain('"level":40');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
