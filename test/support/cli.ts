// Runs the built hexproxy CLI (npm test builds it first) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';

export const cliPath = join(projectRoot, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the run was stopped (SIGKILL) because it outlasted `boundMs`. */
  hung?: true;
}

export interface CliOptions {
  cwd?: string;
  /** A command that runs hexproxy (`node CLI ARGS` is appended to it), e.g. setpriv to drop capabilities. */
  via?: string[];
  /** Kill the run (SIGKILL) if it has not exited after this long: a hang fails, it does not stall the suite. */
  boundMs?: number;
}

export function runCli(args: string[], env: Record<string, string> = {}, options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command = process.execPath, ...prefix] = options.via ?? [];
    const child = spawn(command, [...prefix, ...(options.via ? [process.execPath] : []), cliPath, ...args], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd !== undefined && { cwd: options.cwd }),
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const timer =
      options.boundMs === undefined
        ? undefined
        : setTimeout(() => {
            hung = true;
            child.kill('SIGKILL');
          }, options.boundMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ...(hung && { hung: true as const }) });
    });
  });
}

export interface ServingCli {
  url: string;
  /** What it printed so far: the banner on stderr, then the JSON log on stdout. */
  output(): string;
  /** Resolves once the output matches `pattern` (stdout and stderr are two pipes: no order between them). */
  printed(pattern: RegExp): Promise<string>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
  /** What it printed on stdout so far (its JSON log). */
  stdout(): string;
  /** Sends `signal` (SIGKILL unless told: a crash, nothing runs on the way out), then its exit code (null: ended by a signal). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const serving = new Set<ChildProcess>();

/** Called after each test file (test/support/cleanup.ts): a failed or timed-out test's servers are stopped too. */
export function killCliServers(): void {
  for (const child of serving) child.kill('SIGKILL');
  serving.clear();
}

/**
 * `hexproxy ARGS` (a serve), once it has printed where it listens; rejects if it exits first.
 * `cli`: another installation's main.js (a production install in a temporary directory).
 */
export async function serveCli(args: string[], env: Record<string, string> = {}, { cli = cliPath }: { cli?: string } = {}): Promise<ServingCli> {
  const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  serving.add(child);
  child.on('exit', () => serving.delete(child));
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const output = (): string => `${stderr}${stdout}`;
  const printed = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pattern.test(output())) return;
        child.stdout.off('data', check);
        child.stderr.off('data', check);
        resolve(output());
      };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      check();
      void exited.then(() => reject(new Error(`hexproxy exited without printing ${pattern}: ${output()}`)));
    });
  const banner = await printed(/listening on (http:\/\/[^\s]+:\d+) .*[\s\S]*Point rebar3/);
  const url = /listening on (http:\/\/[^\s]+:\d+)/.exec(banner)?.[1] ?? '';
  return {
    url,
    output,
    printed,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
    stdout: () => stdout,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
      return exited;
    },
  };
}
