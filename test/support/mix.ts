// Mix with the Hex client, driven as a developer would. Debian's elixir package has Mix but
// not Hex, and Hex cannot be fetched where the tests run, so these tests need a Hex archive
// built from its source (README: Development) named by HEXPROXY_TEST_HEX_ARCHIVE; without
// one they are skipped, in CI too.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './proxy.js';

const run = promisify(execFile);

export const hexArchive = process.env['HEXPROXY_TEST_HEX_ARCHIVE'];

export async function mixAvailable(): Promise<boolean> {
  if (hexArchive === undefined || !existsSync(hexArchive)) return false;
  return run('mix', ['--version'], { timeout: 60_000 }).then(() => true, () => false);
}

export interface MixResult {
  code: number;
  output: string;
}

export interface MixHome {
  /** Runs `mix ARGS` in `cwd` with this home's MIX_HOME (Hex installed) and HEX_HOME. */
  mix(args: string[], cwd: string): Promise<MixResult>;
  /** A project depending on `deps` (mix.exs dependency terms), with `lock` as its mix.lock if given. */
  project(deps: string[], lock?: string): string;
}

/** A fresh MIX_HOME with the Hex archive installed and a fresh HEX_HOME (no registry cache). */
export async function mixHome(): Promise<MixHome> {
  const home = tempDir('hexproxy-mix-home-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'], HOME: home, MIX_HOME: join(home, 'mix'), HEX_HOME: join(home, 'hex'), MIX_ENV: 'dev',
    // Plain output to assert on.
    TERM: 'dumb',
  };
  const mix = (args: string[], cwd: string): Promise<MixResult> => new Promise((resolve) => {
    const child = execFile('mix', args, { cwd, env, timeout: 180_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    // Hex asks on a terminal (e.g. whether to authenticate after a 401): answer nothing.
    child.stdin?.end();
  });
  const installed = await mix(['archive.install', hexArchive as string, '--force'], home);
  if (installed.code !== 0) throw new Error(`cannot install the Hex archive ${hexArchive}: ${installed.output}`);
  return {
    mix,
    project(deps, lock) {
      const dir = tempDir('hexproxy-mix-project-');
      mkdirSync(join(dir, 'lib'));
      writeFileSync(join(dir, 'mix.exs'), `defmodule Demo.MixProject do\n  use Mix.Project\n  def project, do: [app: :demo, version: "0.1.0", deps: [${deps.join(', ')}]]\nend\n`);
      if (lock !== undefined) writeFileSync(join(dir, 'mix.lock'), lock);
      return dir;
    },
  };
}
