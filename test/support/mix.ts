// Mix with the Hex client, driven as a developer would. Debian's elixir package has Mix but
// not Hex, and Hex cannot be fetched where the tests run, so the tests install the Hex
// archive kept in test/tools/ (see its README), or the one HEXPROXY_TEST_HEX_ARCHIVE names.
// With CI=true a missing Mix or archive is a failure, not a reason to skip.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/paths.js';
import { tempDir } from './proxy.js';

const run = promisify(execFile);

/** Hex 2.5.1 as test/tools/README.md describes it: a different file there is not what the tests were written against. */
const VENDORED_ARCHIVE = join(projectRoot, 'test', 'tools', 'hex-2.5.1.ez');
const VENDORED_SHA256 = '6bce0c95ab11dbe6b72e4105c8552879099a21772bf32a40b8c76e9e0557119c';

export const hexArchive = process.env['HEXPROXY_TEST_HEX_ARCHIVE'] ?? VENDORED_ARCHIVE;

/** With CI=true the Mix tests must run. */
export const requireMix = process.env['CI'] === 'true';

/** Why Mix with Hex cannot run here, or undefined when it can. */
export async function mixUnavailable(): Promise<string | undefined> {
  if (!existsSync(hexArchive)) return `no Hex archive at ${hexArchive} (HEXPROXY_TEST_HEX_ARCHIVE)`;
  if (hexArchive === VENDORED_ARCHIVE) {
    const digest = createHash('sha256').update(readFileSync(hexArchive)).digest('hex');
    if (digest !== VENDORED_SHA256) return `${hexArchive} has SHA-256 ${digest}, not Hex 2.5.1's ${VENDORED_SHA256} (test/tools/README.md)`;
  }
  return run('mix', ['--version'], { timeout: 60_000 }).then(
    () => undefined,
    (error: unknown) => `mix cannot run (apt-get install -y elixir): ${error instanceof Error ? error.message : String(error)}`,
  );
}

export interface MixResult {
  code: number;
  output: string;
}

export interface MixHome {
  /** This home's environment: HOME, MIX_HOME (Hex installed), HEX_HOME, PATH. */
  env: NodeJS.ProcessEnv;
  /** Runs `mix ARGS` in `cwd` with this home's environment, plus `extraEnv`. */
  mix(args: string[], cwd: string, extraEnv?: NodeJS.ProcessEnv): Promise<MixResult>;
  /** Runs a command line as printed (README, Set me up page) with `sh -c` in `cwd`, with this home's environment plus `extraEnv`. */
  shell(commandLine: string, cwd: string, extraEnv?: NodeJS.ProcessEnv): Promise<MixResult>;
  /** A project depending on `deps` (mix.exs dependency terms), with `lock` as its mix.lock if given. */
  project(deps: string[], lock?: string): string;
}

/** A fresh MIX_HOME with the Hex archive installed and a fresh HEX_HOME (no registry cache). */
export async function mixHome(): Promise<MixHome> {
  const home = tempDir('hexproxy-mix-home-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: home,
    MIX_HOME: join(home, 'mix'),
    HEX_HOME: join(home, 'hex'),
    MIX_ENV: 'dev',
    // Plain output to assert on.
    TERM: 'dumb',
  };
  const exec = (file: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<MixResult> =>
    new Promise((resolve) => {
      const child = execFile(file, args, { cwd, env: { ...env, ...extraEnv }, timeout: 180_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      });
      // Hex asks on a terminal (e.g. whether to authenticate after a 401): answer nothing.
      child.stdin?.end();
    });
  const mix = (args: string[], cwd: string, extraEnv?: NodeJS.ProcessEnv): Promise<MixResult> => exec('mix', args, cwd, extraEnv);
  const installed = await mix(['archive.install', hexArchive, '--force'], home);
  if (installed.code !== 0) throw new Error(`cannot install the Hex archive ${hexArchive}: ${installed.output}`);
  return {
    env,
    mix,
    shell: (commandLine, cwd, extraEnv) => exec('sh', ['-c', commandLine], cwd, extraEnv),
    project(deps, lock) {
      const dir = tempDir('hexproxy-mix-project-');
      mkdirSync(join(dir, 'lib'));
      writeFileSync(
        join(dir, 'mix.exs'),
        `defmodule Demo.MixProject do\n  use Mix.Project\n  def project, do: [app: :demo, version: "0.1.0", deps: [${deps.join(', ')}]]\nend\n`,
      );
      if (lock !== undefined) writeFileSync(join(dir, 'mix.lock'), lock);
      return dir;
    },
  };
}
