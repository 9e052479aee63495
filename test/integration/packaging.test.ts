// Packaged for servers: the systemd unit (deploy/systemd/) checked by systemd itself, and
// the Dockerfile's run stage installed the way it is written, production dependencies
// only, then serving. Images cannot be built here; what the run stage does can be: its
// `npm ci` and its COPY lines are read from the Dockerfile and carried out in a temporary
// directory, with the build stage's outputs taken from this checkout (`npm test` builds
// dist/, `npm ci` built better-sqlite3's addon). systemd-analyze and systemd-sysusers are
// Debian's systemd package (.ci/run installs it); with CI=true a missing one is a failure.
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { projectRoot } from '../../src/paths.js';
import { openRegistryFile } from '../../src/registry/registry-file.js';
import type { Names } from '../../src/registry/types.js';
import { serveCli, type ServingCli } from '../support/cli.js';
import { tempDir } from '../support/proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';

const required = process.env['CI'] === 'true';
const UNIT = join(projectRoot, 'deploy', 'systemd', 'hexproxy.service');
const SYSUSERS = join(projectRoot, 'deploy', 'systemd', 'hexproxy.sysusers.conf');
const UNIT_CONFIG = join(projectRoot, 'deploy', 'systemd', 'config.json');

function executable(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  return undefined;
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; replaceEnv?: boolean } = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const env = options.replaceEnv ? options.env : { ...process.env, ...options.env };
    const child = spawn(command, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The values of `key=` in a unit file, in order. */
const unitValues = (text: string, key: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));

const systemdAnalyze = executable('systemd-analyze');
const systemdSysusers = executable('systemd-sysusers');

describe('deploy/systemd', () => {
  it.runIf(required)("systemd-analyze and systemd-sysusers are installed (CI=true: .ci/run installs Debian's systemd)", () => {
    expect(systemdAnalyze, 'systemd-analyze').toBeDefined();
    expect(systemdSysusers, 'systemd-sysusers').toBeDefined();
  });

  it('the unit runs `serve --config /etc/hexproxy/config.json`, whose dataDir is the state directory systemd makes writable', () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unitValues(unit, 'ExecStart')).toEqual(['/usr/bin/node /opt/hexproxy/dist/src/cli/main.js serve --config /etc/hexproxy/config.json']);
    expect(unitValues(unit, 'StateDirectory')).toEqual(['hexproxy']);
    expect(loadConfig({ flags: { config: UNIT_CONFIG }, env: {} }).dataDir).toBe('/var/lib/hexproxy');
    expect(unitValues(unit, 'ReadWritePaths')).toEqual([]);
    expect(unitValues(unit, 'ProtectSystem')).toEqual(['strict']);
  });

  describe.skipIf(!systemdAnalyze || !systemdSysusers)('checked by systemd', () => {
    /** A root with the shipped unit, byte for byte, the targets it names, and executables where its commands are. */
    function unitRoot(unitText: Buffer): string {
      const root = tempDir('hexproxy-unit-root-');
      mkdirSync(join(root, 'etc', 'systemd', 'system'), { recursive: true });
      writeFileSync(join(root, 'etc', 'systemd', 'system', 'hexproxy.service'), unitText);
      const units = join(root, 'usr', 'lib', 'systemd', 'system');
      mkdirSync(units, { recursive: true });
      for (const target of ['sysinit', 'basic', 'shutdown', 'network-online', 'multi-user']) {
        writeFileSync(join(units, `${target}.target`), '[Unit]\nDescription=stand-in\n');
      }
      for (const command of ['usr/bin/node', 'bin/kill']) {
        mkdirSync(dirname(join(root, command)), { recursive: true });
        writeFileSync(join(root, command), '#!/bin/sh\n');
        chmodSync(join(root, command), 0o755);
      }
      return root;
    }
    const verify = (root: string): Promise<{ code: number | null; output: string }> =>
      run(systemdAnalyze ?? 'systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', '/etc/systemd/system/hexproxy.service']);

    it('hexproxy.service passes systemd-analyze verify with nothing to say', async () => {
      const result = await verify(unitRoot(readFileSync(UNIT)));
      expect(result).toEqual({ code: 0, output: '' });
    });

    it('the check sees a mistake in it (an unknown value is only a warning to systemd)', async () => {
      const broken = readFileSync(UNIT, 'utf8').replace('SystemCallFilter=@system-service @pkey', 'SystemCallFilter=@system-service @pkeys');
      const result = await verify(unitRoot(Buffer.from(broken)));
      expect(result.output).toContain('Unknown system call group, ignoring: @pkeys');
    });

    it('hexproxy.sysusers.conf makes the system user the unit runs as, at home in the data directory, without a shell', async () => {
      const root = tempDir('hexproxy-sysusers-root-');
      mkdirSync(join(root, 'etc'));
      const result = await run(systemdSysusers ?? 'systemd-sysusers', [`--root=${root}`, SYSUSERS]);
      expect(result.code, result.output).toBe(0);
      expect(readFileSync(join(root, 'etc', 'passwd'), 'utf8')).toMatch(/^hexproxy:x:\d+:\d+:hexproxy:\/var\/lib\/hexproxy:\/usr\/sbin\/nologin$/m);
      expect(unitValues(readFileSync(UNIT, 'utf8'), 'User')).toEqual(['hexproxy']);
    });
  });
});

/** One instruction of a Dockerfile, continuation lines joined. */
interface Instruction {
  op: string;
  args: string;
}

function runStage(dockerfile: string): Instruction[] {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
  const from = instructions.map((instruction) => instruction.op).lastIndexOf('FROM');
  return instructions.slice(from + 1);
}

describe('Dockerfile: the run stage, installed as written', () => {
  let upstream: FakeUpstream;
  let app: string;
  let server: ServingCli;
  let stage: Instruction[];
  let npmCommand: string[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
    stage = runStage(readFileSync(join(projectRoot, 'Dockerfile'), 'utf8'));
    app = join(tempDir('hexproxy-image-'), 'app');
    mkdirSync(app);
    for (const { op, args } of stage) {
      if (op === 'COPY') {
        // COPY [--from=build] SRC... DEST: from the build stage (/src) or the build context, both this checkout.
        const words = args.split(' ');
        const fromBuild = words[0] === '--from=build';
        const paths = fromBuild ? words.slice(1) : words;
        const dest = paths.at(-1) ?? '';
        for (const src of paths.slice(0, -1)) {
          const from = fromBuild ? join(projectRoot, src.replace(/^\/src\//, '')) : join(projectRoot, src);
          const to = dest.endsWith('/') || paths.length > 2 ? join(app, dest, src.split('/').at(-1) ?? '') : join(app, dest);
          mkdirSync(dirname(to), { recursive: true });
          cpSync(from, to, { recursive: true });
        }
      } else if (op === 'RUN' && args.includes(' npm ')) {
        // The dependency install; the other RUN (mkdir /data) is about the image's file system.
        npmCommand = args
          .replace(/^--mount=\S+\s+/, '')
          .split(' ')
          .filter(Boolean);
        const [npm = 'npm', ...npmArgs] = npmCommand;
        // As in a fresh shell: under `npm test`, npm's npm_config_* variables (local_prefix
        // among them: this checkout) and this checkout's node_modules/.bin would reach it.
        const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_|^INIT_CWD$/i.test(name)));
        env['PATH'] = (process.env['PATH'] ?? '')
          .split(delimiter)
          .filter((dir) => !dir.includes('node_modules'))
          .join(delimiter);
        const result = await run(npm, npmArgs, { cwd: app, env, replaceEnv: true });
        expect(result.code, result.output).toBe(0);
      }
    }
    const upstreamKey = join(tempDir(), 'upstream.pem');
    writeFileSync(upstreamKey, upstream.publicKeyPem);
    const entrypoint = JSON.parse(stage.find((instruction) => instruction.op === 'ENTRYPOINT')?.args ?? '[]') as string[];
    const cmd = JSON.parse(stage.find((instruction) => instruction.op === 'CMD')?.args ?? '[]') as string[];
    expect(entrypoint).toEqual(['node', '/app/dist/src/cli/main.js']);
    server = await serveCli(
      [...cmd, '--host', '127.0.0.1', '--port', '0', '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey],
      { HEXPROXY_DATA_DIR: join(tempDir(), 'data'), NODE_ENV: 'production' },
      { cli: join(app, 'dist', 'src', 'cli', 'main.js') },
    );
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('installs the production dependencies without running the package build, and no dev dependency', () => {
    expect(npmCommand.slice(0, 4)).toEqual(['npm', 'ci', '--omit=dev', '--ignore-scripts']);
    const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    for (const name of Object.keys(manifest.devDependencies)) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
  });

  it('serves /healthz, a registry file that verifies with the key it serves, and the tarball byte for byte', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const key = createPublicKey(await (await fetch(`${server.url}/public_key`)).text());
    const names = await fetch(`${server.url}/names`);
    expect(names.status).toBe(200);
    const file = await openRegistryFile(
      Buffer.from(await names.arrayBuffer()),
      { kind: 'names' },
      { publicKey: key, repository: 'hexpm', maxBytes: 1 << 20 },
    );
    expect((file.message as Names).packages.map((entry) => entry.name)).toEqual(['alpha']);
    const tarball = await fetch(`${server.url}/tarballs/alpha-1.0.0.tar`);
    expect(tarball.status).toBe(200);
    expect(Buffer.from(await tarball.arrayBuffer()).equals(upstream.tarball('alpha', '1.0.0').tar)).toBe(true);
  });

  it('its HEALTHCHECK command passes against it, and fails where nothing listens', async () => {
    const healthcheck = stage.find((instruction) => instruction.op === 'HEALTHCHECK')?.args ?? '';
    const [node, ...args] = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
    expect(node).toBe('node');
    const port = new URL(server.url).port;
    expect((await run(process.execPath, args, { env: { HEXPROXY_PORT: port } })).code).toBe(0);
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const address = free.address();
    const freePort = typeof address === 'object' && address ? String(address.port) : '';
    await new Promise((resolve) => free.close(resolve));
    expect((await run(process.execPath, args, { env: { HEXPROXY_PORT: freePort } })).code).toBe(1);
  });

  it('stops cleanly on SIGTERM (what docker stop sends)', async () => {
    expect(await server.stop()).toBe(0);
  });
});
