// Runs the real rebar3 (Debian's package) against a Hex repository URL, in a throwaway
// HOME whose global rebar.config trusts the given public key for the hexpm repository.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './proxy.js';

const run = promisify(execFile);

export async function rebar3Available(): Promise<boolean> {
  try {
    await run('rebar3', ['version'], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** With CI=true a missing rebar3 is a failure, not a reason to skip. */
export const requireRebar3 = process.env['CI'] === 'true';

export interface Rebar3Project {
  dir: string;
  home: string;
  run(args: string[]): Promise<{ code: number; output: string }>;
  /** Runs a command line as printed (README, Set me up page) with `sh -c` in the project, with rebar3's environment. */
  shell(commandLine: string): Promise<{ code: number; output: string }>;
}

export interface Rebar3Options {
  /** HEX_CDN; undefined leaves it unset (rebar3 then uses repo.hex.pm for hexpm). */
  repoUrl: string | undefined;
  publicKeyPem: string;
  deps: string[];
  /** The global ~/.config/rebar3/rebar.config as printed (README, Set me up page), instead of one made from the options. */
  globalConfig?: string;
  /** More environment variables for rebar3 (DEBUG=1 prints what the repository answered). */
  env?: Record<string, string>;
  /**
   * Organization repositories (`hexpm:NAME`), listed before hexpm as rebar3 wants them:
   * they inherit hexpm's URL (HEX_CDN) and get `/repos/NAME` appended; `repoKey` is sent
   * as the raw `authorization` header.
   */
  organizations?: { name: string; repoKey: string }[];
}

export function rebar3Project(options: Rebar3Options): Rebar3Project {
  const home = tempDir('hexproxy-rebar3-home-');
  mkdirSync(join(home, '.config', 'rebar3'), { recursive: true });
  const key = options.publicKeyPem.trim();
  const repos = [
    ...(options.organizations ?? []).map(
      (org) => `#{name => <<"hexpm:${org.name}">>, repo_public_key => <<"${key}">>, repo_key => <<"${org.repoKey}">>}`,
    ),
    `#{name => <<"hexpm">>, repo_public_key => <<"${key}">>}`,
  ];
  writeFileSync(join(home, '.config', 'rebar3', 'rebar.config'), options.globalConfig ?? `{hex, [{repos, [${repos.join(',\n  ')}]}]}.\n`);
  const dir = tempDir('hexproxy-rebar3-project-');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'rebar.config'), `{deps, [${options.deps.join(', ')}]}.\n`);
  writeFileSync(join(dir, 'src', 'demo.app.src'), '{application, demo, [{vsn, "0.1.0"}, {applications, [kernel, stdlib]}]}.\n');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: home,
    ...(options.repoUrl !== undefined && { HEX_CDN: options.repoUrl }),
    // No colours, no update checks: plain output to assert on.
    TERM: 'dumb',
    REBAR_COLOR: 'none',
    ...options.env,
  };
  const exec = async (file: string, args: string[]): Promise<{ code: number; output: string }> => {
    try {
      const { stdout, stderr } = await run(file, args, { cwd: dir, env, timeout: 180_000 });
      return { code: 0, output: stdout + stderr };
    } catch (error: unknown) {
      const failure = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof failure.code === 'number' ? failure.code : 1, output: `${failure.stdout ?? ''}${failure.stderr ?? ''}` };
    }
  };
  return {
    dir,
    home,
    run: (args) => exec('rebar3', args),
    shell: (commandLine) => exec('sh', ['-c', commandLine]),
  };
}
