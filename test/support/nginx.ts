// Debian's nginx in front of hexproxy, configured with the shipped deploy/nginx/hexproxy.conf:
// the lines it marks "# site: NAME" are replaced (every one of them, by name), nothing else.
// nginx runs as a child (`nginx -p PREFIX -c PREFIX/nginx.conf -g 'daemon off;'`) in a
// temporary prefix with the http-level include inside a minimal nginx.conf, as Debian's
// /etc/nginx/nginx.conf includes conf.d/*.conf. With CI=true a missing nginx is a failure.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { tempDir } from './proxy.js';

/** The shipped configuration. */
export const TIER_CONF = join(projectRoot, 'deploy', 'nginx', 'hexproxy.conf');

/** Where Debian and source builds put nginx (Debian's /usr/sbin is not on every PATH). */
export const nginxBinary = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((file) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

/** With CI=true the tier tests must run (.ci/run installs Debian's nginx). */
export const requireNginx = process.env['CI'] === 'true';

/** The names of the shipped file's "# site: NAME" lines, each replaced by the lines given (none: removed). */
export type SiteLines = Record<'cache' | 'upstream' | 'listen' | 'listen-tls' | 'server-name' | 'certificate' | 'certificate-key', string[]>;

const SITE_LINE = /^([ \t]*).*# site: ([a-z-]+)[ \t]*$/;

/** The shipped file with its site lines replaced; throws if it has a site line not given, or lacks one that is. */
export function tierConfig(site: SiteLines): string {
  const seen = new Set<string>();
  const lines = readFileSync(TIER_CONF, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const match = SITE_LINE.exec(line);
      if (!match) return [line];
      const [, indent = '', name = ''] = match;
      const replacement = (site as Partial<Record<string, string[]>>)[name];
      if (replacement === undefined) throw new Error(`${TIER_CONF} has a site line "${name}" the tests do not fill in`);
      if (seen.has(name)) throw new Error(`${TIER_CONF} has two site lines "${name}"`);
      seen.add(name);
      return replacement.map((directive) => `${indent}${directive}`);
    });
  const missing = Object.keys(site).filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`${TIER_CONF} has no site line ${missing.join(', ')}`);
  return lines.join('\n');
}

/** A port nothing listens on now (nginx takes no port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl: what the TLS listener serves and a client trusts. */
export function selfSignedCertificate(): { certificate: string; key: string; pem: string } {
  const dir = tempDir('hexproxy-tier-tls-');
  const certificate = join(dir, 'tier.pem');
  const key = join(dir, 'tier.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      certificate,
    ]),
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { certificate, key, pem: readFileSync(certificate, 'utf8') };
}

export interface Tier {
  /** http://127.0.0.1:PORT */
  url: string;
  /** https://127.0.0.1:PORT, when started with a certificate. */
  tlsUrl: string | undefined;
  prefix: string;
  /** The configuration nginx runs: the shipped file with its site lines filled in. */
  conf: string;
  /** nginx's error log so far. */
  errorLog(): string;
  /** Fast shutdown (SIGTERM); SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export interface TierOptions {
  /** hexproxy processes, "127.0.0.1:PORT": the upstream block's server lines. */
  upstreams: string[];
  /** Served on a second port with TLS too. */
  tls?: { certificate: string; key: string };
}

const running = new Set<ChildProcess>();

/** Called after each test file (test/support/cleanup.ts): a failed test's nginx stops too. */
export function killNginx(): void {
  for (const child of running) child.kill('SIGTERM');
  running.clear();
}

/** nginx with the shipped configuration in front of `upstreams`, answering on a free port. */
export async function startTier(options: TierOptions): Promise<Tier> {
  if (!nginxBinary) throw new Error('nginx is not installed (apt-get install -y nginx)');
  const prefix = tempDir('hexproxy-tier-');
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const cacheDir = join(prefix, 'cache');
  const tls = options.tls;
  const conf = tierConfig({
    cache: [`proxy_cache_path ${cacheDir} levels=1:2 keys_zone=hexproxy:8m max_size=1g inactive=1d use_temp_path=off;`],
    upstream: options.upstreams.map((address) => `server ${address} max_fails=1 fail_timeout=10s;`),
    listen: [`listen 127.0.0.1:${port};`],
    'listen-tls': tlsPort === undefined ? [] : [`listen 127.0.0.1:${tlsPort} ssl;`],
    'server-name': ['server_name localhost;'],
    certificate: tls ? [`ssl_certificate ${tls.certificate};`] : [],
    'certificate-key': tls ? [`ssl_certificate_key ${tls.key};`] : [],
  });
  writeFileSync(join(prefix, 'hexproxy.conf'), conf);
  mkdirSync(join(prefix, 'tmp'));
  // As root, the workers run as root too: nobody (the default) cannot enter a 0700 temporary directory.
  const asRoot = process.getuid?.() === 0;
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(prefix, 'tmp', kind)};`);
  writeFileSync(
    join(prefix, 'nginx.conf'),
    [
      ...(asRoot ? ['user root root;'] : []),
      'worker_processes 1;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${join(prefix, 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  access_log ${join(prefix, 'access.log')};`,
      ...temp,
      `  include ${join(prefix, 'hexproxy.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log'), '-g', 'daemon off;'];
  const child = spawn(nginxBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const errorLog = (): string => (existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '');
  await listening(port, exited, () => `nginx did not start: ${stderr.trim()} ${errorLog().trim()}`);
  return {
    url: `http://127.0.0.1:${port}`,
    tlsUrl: tlsPort === undefined ? undefined : `https://127.0.0.1:${tlsPort}`,
    prefix,
    conf,
    errorLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves once `port` accepts a connection; rejects if nginx exits first or 15 s pass. */
async function listening(port: number, exited: Promise<void>, why: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (gone) throw new Error(why());
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 15 s: ${why()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    // nginx binds its ports within milliseconds of starting; a refused connection is retried at once, a few ms apart.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
