// The hexproxy command as users run it: the built bin in a child process.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/paths.js';
import { cliPath, runCli, serveCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { tempDir } from '../support/proxy.js';
import { within } from '../support/within.js';

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
    [
      ['serve', '--upstream-public-key', '/nonexistent.pem', '--data-dir', join(tempDir(), 'data')],
      {},
      /upstream\.publicKey: cannot read \/nonexistent\.pem/,
    ],
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
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--upstream-url',
    upstream.url,
    '--upstream-public-key',
    upstreamKey,
    '--public-key',
    publicKey,
  ];

  it("refuses the private key's own path (serve and keygen --force), naming both keys, and leaves the private key as it was", async () => {
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
    expect(copied.stderr).toContain(
      `keys.publicKey: ${copy} holds a private key; hexproxy will not write its public key over it. Give --public-key (keys.publicKey) another path`,
    );
    expect(readFileSync(copy).equals(before)).toBe(true);
  });
});

describe('hexproxy serve', () => {
  it('prints where it listens and how to point Mix at it, serves, and stops on SIGTERM', async () => {
    const dataDir = tempDir();
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--data-dir',
        dataDir,
        '--upstream-url',
        upstream.url,
        '--upstream-public-key',
        upstreamKey,
      ],
      {
        env: { PATH: process.env['PATH'] },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
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

/** Every path under `root`, relative, sorted: what a command left behind. */
function tree(root: string): string[] {
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true }) as string[]).sort();
}

/** The arguments of the `hexproxy keygen …` command a message tells the user to run. */
function suggestedKeygen(message: string): string[] {
  const command = /run: hexproxy (keygen [^\n]*)/.exec(message)?.[1];
  expect(command, `no "run: hexproxy keygen …" in: ${message}`).toBeDefined();
  // The paths in these tests have no spaces or quotes: a plain split is the shell's.
  return (command ?? '').trim().split(/\s+/);
}

describe('the signing key is made only on first start, at its default place, or by keygen', () => {
  const serveArgs = (dataDir: string, ...extra: string[]): string[] => [
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--upstream-url',
    upstream.url,
    '--upstream-public-key',
    upstreamKey,
    ...extra,
  ];

  it('refuses a --private-key path with no key, naming it and the keygen command; writes nothing; that command then makes the key serve uses', async () => {
    const dataDir = tempDir();
    expect((await hexproxy(['keygen', '--data-dir', dataDir])).code).toBe(0);
    const publicFile = join(dataDir, 'keys', 'hexproxy_public.pem');
    const publicBefore = readFileSync(publicFile, 'utf8');
    const before = tree(dataDir);
    const typoRoot = join(tempDir(), 'typo');
    const typo = join(typoRoot, 'dir', 'priv.pem');

    const refused = await runCli(serveArgs(dataDir, '--private-key', typo), {}, { boundMs: 30_000 });
    expect(refused.hung, 'serve started with a key it made itself').toBeUndefined();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`keys.privateKey: there is no private key at ${typo}`);
    expect(refused.stderr).toContain(`run: hexproxy keygen --private-key ${typo} --public-key ${publicFile}`);
    expect(existsSync(typoRoot), 'no directory was made for the mistyped path').toBe(false);
    expect(readFileSync(publicFile, 'utf8'), 'the public key clients hold is unchanged').toBe(publicBefore);
    expect(tree(dataDir)).toEqual(before);

    // The command it names works, and serve then signs with that key.
    const made = await hexproxy(suggestedKeygen(refused.stderr));
    expect(made.code, made.stderr).toBe(0);
    expect(statSync(typo).mode & 0o777).toBe(0o600);
    const served = await serveCli(serveArgs(dataDir, '--private-key', typo));
    try {
      const publicKey = await fetch(`${served.url}/public_key`);
      expect(await publicKey.text()).toBe(readFileSync(publicFile, 'utf8'));
      expect(readFileSync(publicFile, 'utf8')).not.toBe(publicBefore);
    } finally {
      expect(await served.stop()).toBe(0);
    }
  });

  it('refuses a missing private key at the default place when its public key is still there (not a first start)', async () => {
    const dataDir = tempDir();
    expect((await hexproxy(['keygen', '--data-dir', dataDir])).code).toBe(0);
    const privateFile = join(dataDir, 'keys', 'hexproxy_private.pem');
    const publicFile = join(dataDir, 'keys', 'hexproxy_public.pem');
    const publicBefore = readFileSync(publicFile, 'utf8');
    unlinkSync(privateFile);
    const refused = await runCli(serveArgs(dataDir), {}, { boundMs: 30_000 });
    expect(refused.hung, 'serve started with a new key').toBeUndefined();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`keys.privateKey: there is no private key at ${privateFile}, but its public key is at ${publicFile}`);
    expect(refused.stderr).toContain('run: hexproxy keygen');
    expect(existsSync(privateFile)).toBe(false);
    expect(readFileSync(publicFile, 'utf8')).toBe(publicBefore);
  });

  it.each([
    [
      'a policy naming a repository that is not served',
      { policy: { repositories: ['acme'] } },
      /config key policy\.repositories: "acme" is not a repository hexproxy serves/,
    ],
    [
      'an organization whose public key file is missing',
      { organizations: { acme: { authKey: 'k', publicKey: '/nonexistent/acme.pem' } } },
      /organizations\.acme\.publicKey: cannot read \/nonexistent\/acme\.pem/,
    ],
  ])('writes nothing, no key pair either, before the whole config is known to be good: %s', async (_, config, message) => {
    const dataDir = join(tempDir(), 'data');
    const file = join(tempDir(), 'hexproxy.json');
    writeFileSync(file, JSON.stringify(config));
    for (const command of [
      serveArgs(dataDir, '--config', file),
      ['prewarm', 'alpha@1.0.0', '--data-dir', dataDir, '--upstream-url', upstream.url, '--upstream-public-key', upstreamKey, '--config', file],
    ]) {
      const result = await runCli(command, {}, { boundMs: 30_000 });
      expect(result.hung, `${command[0]} ran`).toBeUndefined();
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout + result.stderr).not.toContain('generated a new signing key pair');
      expect(existsSync(dataDir), `${command[0]} created ${dataDir}: ${tree(dataDir).join(', ')}`).toBe(false);
    }
  });
});

describe('the data directory is checked before anything is written', () => {
  it('refuses a file as the data directory, and a path below a file, and leaves the file as it was', async () => {
    const file = join(tempDir(), 'not-a-directory');
    writeFileSync(file, 'mine\n');
    chmodSync(file, 0o644);
    for (const command of [['serve', '--port', '0', '--offline'], ['token', 'create', 'ci'], ['keygen'], ['cache', 'stats']]) {
      const result = await runCli([...command, '--data-dir', file], {}, { boundMs: 30_000 });
      expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`data directory ${file} is not a directory (it is a file)`);
      expect(statSync(file).mode & 0o777, `${command.join(' ')} changed the file's mode`).toBe(0o644);
      expect(readFileSync(file, 'utf8')).toBe('mine\n');
    }
    const below = join(file, 'data');
    const result = await runCli(['serve', '--port', '0', '--offline', '--data-dir', below], {}, { boundMs: 30_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`data directory ${below} cannot be created: ${file} is a file, not a directory`);
  });

  it('refuses a data directory under /proc at once instead of looping in mkdir', async () => {
    const dataDir = `/proc/hexproxy-test-${process.pid}/data`;
    for (const command of [['serve', '--port', '0', '--offline'], ['token', 'create', 'ci'], ['keygen']]) {
      const result = await runCli([...command, '--data-dir', dataDir], {}, { boundMs: 20_000 });
      expect(result.hung, `${command.join(' ')} hung`).toBeUndefined();
      expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`data directory ${dataDir} cannot be created: /proc is on a proc filesystem, which holds no files`);
    }
  });

  it('says which directory this user may not write to, and how to fix it, instead of a bare EACCES', async () => {
    // Root may write anywhere: as root the commands run without the capabilities that let
    // it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; util-linux's setpriv), so a directory's mode
    // binds them as it binds a service user. They still read the checkout, which root owns.
    const asRoot = process.getuid?.() === 0;
    const via = asRoot
      ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search', '--']
      : undefined;
    const uid = process.getuid?.();
    const parent = tempDir();
    const locked = join(parent, 'srv');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const dataDir = join(locked, 'hexproxy');
    try {
      for (const command of [['serve', '--port', '0', '--offline'], ['token', 'create', 'ci'], ['keygen'], ['prewarm', 'alpha@1.0.0', '--offline']]) {
        const result = await runCli([...command, '--data-dir', dataDir], {}, { ...(via && { via }), cwd: parent, boundMs: 30_000 });
        expect(result.code, `${command.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(
          new RegExp(
            `data directory ${dataDir} cannot be created: user (\\S+ \\(uid ${uid}\\)|${uid}) may not write to ${locked} \\(EACCES\\); create it as a user who may and hand it over \\(mkdir -p -m 700 ${dataDir} && chown \\S+ ${dataDir}\\), or give --data-dir`,
          ),
        );
        expect(readdirSync(locked)).toEqual([]);
      }
      // An existing data directory this user may not write to: named as such.
      chmodSync(locked, 0o755);
      mkdirSync(dataDir);
      chmodSync(dataDir, 0o555);
      const existing = await runCli(['token', 'create', 'ci', '--data-dir', dataDir], {}, { ...(via && { via }), cwd: parent, boundMs: 30_000 });
      expect(existing.code, existing.stderr).toBe(2);
      expect(existing.stderr).toMatch(new RegExp(`data directory ${dataDir} is not writable by user (\\S+ \\(uid ${uid}\\)|${uid}) \\(EACCES\\)`));
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      chmodSync(locked, 0o755);
      if (existsSync(dataDir)) chmodSync(dataDir, 0o755);
    }
  });
});

describe('token create --read', () => {
  it('refuses a repository the configuration does not serve, naming those it does, and writes no token', async () => {
    const dataDir = tempDir();
    const file = join(tempDir(), 'hexproxy.json');
    writeFileSync(file, JSON.stringify({ organizations: { acme: {} } }));
    const refused = await hexproxy(['token', 'create', 'ci', '--read', 'hexpm,nosuchorg', '--config', file, '--data-dir', dataDir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      '--read: "nosuchorg" is not a repository hexproxy serves (hexpm, acme); an organization must be configured under organizations',
    );
    expect(refused.stdout).toBe('');
    expect(existsSync(join(dataDir, 'tokens.json'))).toBe(false);
    // An organization configured through its auth key's variable alone counts as configured, and as a configuration that names organizations.
    const viaEnv = await hexproxy(['token', 'create', 'ci', '--read', 'hexpm,acme,nosuchorg', '--data-dir', dataDir], {
      HEXPROXY_ORG_ACME_AUTH_KEY: 'k',
    });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toContain('--read: "nosuchorg" is not a repository hexproxy serves (hexpm, acme)');
    const accepted = await hexproxy(['token', 'create', 'ci', '--read', 'hexpm,acme', '--config', file, '--data-dir', dataDir]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toContain('reads hexpm, acme');
    expect(accepted.stderr).not.toContain('warning');
  });

  it('without a config file (organizations unknown), makes the token but warns about a name it cannot check', async () => {
    const dataDir = tempDir();
    const made = await hexproxy(['token', 'create', 'ci', '--read', 'hexpm,nosuchorg', '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain(
      'warning: --read: "nosuchorg" is not a repository hexproxy serves (hexpm) with this configuration (no config file given). If the server\'s config file configures it, pass it with --config',
    );
    expect(made.stderr).toContain('hexproxy token revoke ci');
  });
});

describe('npm start', () => {
  /** Stops every hexproxy serving `dataDir` (unfixed, one outlives npm): found by its command line. */
  function killServersOf(dataDir: string): number {
    let killed = 0;
    for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes('dist/src/cli/main.js') && cmdline.split('\0').includes(dataDir)) {
        process.kill(Number(pid), 'SIGKILL');
        killed += 1;
      }
    }
    return killed;
  }

  it('hands the process over to hexproxy: SIGTERM to npm stops the server and frees its port', async () => {
    const dataDir = tempDir();
    // --ignore-scripts skips prestart (the build): the test runs on the built dist/ and must
    // not rewrite it under the other tests.
    const npm = spawn(
      'npm',
      [
        'start',
        '--ignore-scripts',
        '--',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--offline',
        '--data-dir',
        dataDir,
        '--upstream-public-key',
        upstreamKey,
      ],
      {
        cwd: projectRoot,
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'] ?? tempDir() },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let output = '';
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // 'exit', not 'close': a server left running would hold npm's pipes open.
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        npm.on('exit', (code, signal) => resolve({ code, signal })),
      );
      const url = await within(
        new Promise<string>((resolve, reject) => {
          npm.stderr.on('data', () => {
            const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
            if (found && output.includes('Point rebar3')) resolve(found);
          });
          void exited.then(() => reject(new Error(`npm start exited: ${output}`)));
        }),
        'npm start listening',
        30_000,
      );
      expect((await fetch(`${url}/public_key`)).status).toBe(200);
      npm.kill('SIGTERM');
      const { code, signal } = await within(exited, 'npm exiting', 30_000);
      await expect(fetch(`${url}/public_key`), 'the server still answers after npm exited').rejects.toThrow();
      expect(output).toContain('"signal":"SIGTERM","msg":"shutting down"');
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      npm.kill('SIGKILL');
      expect(killServersOf(dataDir), 'a server outlived npm').toBe(0);
    }
  });
});
