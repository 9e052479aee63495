// Starts hexproxy in this process on a loopback port, configured through the same flag
// parsing the CLI uses, with its JSON log captured for assertions.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { startServer, type RunningServer } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import type { Repository } from '../../src/repository/repository.js';
import { buildsKeyPair } from './keys.js';

export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface TestProxy {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** The config file the proxy was started with, if `config` was given. */
  configFile: string | undefined;
  logs: LogRecord[];
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  head(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  close(): Promise<void>;
}

export interface ProxyOptions {
  upstreamUrl: string;
  upstreamPublicKeyPem: string;
  dataDir?: string;
  flags?: Record<string, string | boolean>;
  /** Written to a config file the proxy is started with (for sections flags cannot set, such as policy). */
  config?: Record<string, unknown>;
  /** The proxy's clock (milliseconds), for the policy's minimum release age. */
  clock?: () => number;
}

const created: string[] = [];

/** Called after each test file (test/support/cleanup.ts): a failed test's directories go too. */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function tempDir(label = 'hexproxy-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), label));
  created.push(dir);
  return dir;
}

export async function startProxy(options: ProxyOptions): Promise<TestProxy> {
  const dataDir = options.dataDir ?? tempDir();
  const keyDir = tempDir('hexproxy-key-');
  const keyFile = join(keyDir, 'upstream.pem');
  writeFileSync(keyFile, options.upstreamPublicKeyPem);
  // The fake builds server's key stands in for Elixir's, which signs the real build lists.
  const buildsKeyFile = join(keyDir, 'builds.pem');
  writeFileSync(buildsKeyFile, buildsKeyPair().publicKeyPem);
  const configFile = options.config && join(tempDir('hexproxy-config-'), 'hexproxy.json');
  if (configFile) writeFileSync(configFile, JSON.stringify(options.config));
  const flags = {
    host: '127.0.0.1',
    port: '0',
    'data-dir': dataDir,
    'upstream-url': options.upstreamUrl,
    // Never the real builds.hex.pm: tests of /installs pass their fake builds server's URL.
    'installs-url': options.upstreamUrl,
    // Never the real hex.pm API: tests of /api/packages pass their fake API's URL.
    'upstream-api-url': `${options.upstreamUrl.replace(/\/+$/, '')}/api`,
    'installs-public-key': buildsKeyFile,
    'upstream-public-key': keyFile,
    'upstream-timeout-ms': '2000',
    'installs-timeout-ms': '2000',
    // Each failure test counts upstream hits exactly; retries and cool-down have their own tests.
    'upstream-retries': '0',
    'upstream-cooldown-seconds': '0',
    'log-level': 'debug',
    ...(configFile && { config: configFile }),
    ...options.flags,
  };
  const config = loadConfig({ flags, env: {} });
  const logs: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as LogRecord);
      done();
    },
  });
  const server = await startServer(config, createLogger(config.logLevel, sink, config.accessLog), {
    ...(options.clock && { clock: options.clock }),
    // As `hexproxy serve` does: the policy is reloaded from the same flags and config file.
    reloadConfig: () => loadConfig({ flags, env: {} }),
  });
  const call = async (method: 'GET' | 'HEAD', path: string, headers: Record<string, string> = {}): Promise<HttpResult> => {
    const response = await request(`${server.url}${path}`, { method, headers });
    const body = Buffer.from(await response.body.arrayBuffer());
    // A small tarball miss is answered before it is stored; tests look at the cache as an
    // idle server leaves it, so let the store land (tests of the early answer use raw requests).
    await publicRepository(server).tarballs.drain();
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers))
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
    return { status: response.statusCode, headers: flat, body };
  };
  return {
    url: server.url,
    dataDir,
    server,
    configFile,
    logs,
    get: (path, headers) => call('GET', path, headers),
    head: (path, headers) => call('HEAD', path, headers),
    close: () => server.close(),
  };
}

/** The public repository a running hexproxy serves (config upstream.repository). */
export function publicRepository(server: RunningServer): Repository {
  const repository = server.hexproxy.repositories.get(server.hexproxy.config.upstream.repository);
  if (!repository) throw new Error(`hexproxy serves no repository ${server.hexproxy.config.upstream.repository}`);
  return repository;
}
