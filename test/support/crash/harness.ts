// For crash tests: the built hexproxy server run as a child process (so it can be SIGKILLed),
// its JSON log read line by line, a seeded PRNG, and what a data directory holds on disk.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { cliPath } from '../cli.js';

export interface ServerLogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface ServerProcess {
  readonly pid: number;
  readonly url: string;
  readonly logs: readonly ServerLogLine[];
  /** Resolves with the first log line (already logged or to come) that matches. */
  waitForLog(match: (line: ServerLogLine) => boolean, timeoutMs?: number): Promise<ServerLogLine>;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM, the clean shutdown; resolves with the exit code. */
  stop(): Promise<number | null>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ServerOptions {
  dataDir: string;
  upstreamUrl: string;
  upstreamKeyFile: string;
  flags?: string[];
  /** How long to wait for "hexproxy listening on" (default 15 s). */
  startTimeoutMs?: number;
  /**
   * RLIMIT_DATA for the process (`ulimit -d`): a real memory limit. It bounds private
   * writable memory, Buffers included (which --max-old-space-size does not), and Node
   * aborts when an allocation fails beyond it, as an OOM-killed process would die.
   */
  dataLimitBytes?: number;
}

/** `node dist/src/cli/main.js serve` on 127.0.0.1, port 0; resolves once it listens. */
export async function spawnServer(options: ServerOptions): Promise<ServerProcess> {
  const args = [
    cliPath,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    options.dataDir,
    '--upstream-url',
    options.upstreamUrl,
    '--upstream-public-key',
    options.upstreamKeyFile,
    '--log-level',
    'info',
    ...(options.flags ?? []),
  ];
  // With a limit, a shell sets it and execs node, which keeps the shell's pid.
  const [command, commandArgs] =
    options.dataLimitBytes === undefined
      ? [process.execPath, args]
      : [
          '/bin/sh',
          [
            '-c',
            'limit="$1"; shift; ulimit -d "$limit" && exec "$@"',
            'sh',
            String(Math.ceil(options.dataLimitBytes / 1024)),
            process.execPath,
            ...args,
          ],
        ];
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(command, commandArgs, {
    env: { PATH: process.env['PATH'] },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: ServerLogLine[] = [];
  const watchers = new Set<(line: ServerLogLine) => void>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: ServerLogLine;
    try {
      line = JSON.parse(text) as ServerLogLine;
    } catch {
      return;
    }
    logs.push(line);
    for (const watcher of [...watchers]) watcher(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });

  const waitForLog = (match: (line: ServerLogLine) => boolean, timeoutMs = 15_000): Promise<ServerLogLine> => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        watchers.delete(watcher);
        clearTimeout(timer);
      };
      const watcher = (line: ServerLogLine): void => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `no matching log line from hexproxy (pid ${child.pid}) within ${timeoutMs} ms; stderr:\n${stderr}\nlog:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`,
          ),
        );
      }, timeoutMs);
      watchers.add(watcher);
      void exited.then(({ code, signal }) => {
        if (!watchers.has(watcher)) return;
        done();
        reject(new Error(`hexproxy exited (code ${code}, signal ${signal}) before logging what was expected; stderr:\n${stderr}`));
      });
    });
  };

  const listening = await waitForLog((line) => line.msg.startsWith('hexproxy listening on'), options.startTimeoutMs ?? 15_000);
  if (typeof listening['url'] !== 'string' || child.pid === undefined) throw new Error('hexproxy logged no URL');
  const pid = child.pid;
  return {
    pid,
    url: listening['url'],
    logs,
    waitForLog,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return (await exited).code;
    },
  };
}

/** mulberry32: a small seeded PRNG, so a failing round can be replayed with its seed. */
export function seededRandom(seed: number): {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from nothing');
      return items[int(0, items.length - 1)] as T;
    },
    chance: (p: number): boolean => next() < p,
  };
}

/** Keys (slash-separated, relative to the data directory) of every file under `prefix`. */
export function filesUnder(dataDir: string, prefix: string): string[] {
  const root = join(dataDir, prefix);
  if (!existsSync(root)) return [];
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.push(relative(dataDir, path).split('\\').join('/'));
    }
  };
  walk(root);
  return found.sort();
}

/** Names in DATA_DIR/.tmp (staged writes). */
export function stagedFiles(dataDir: string): string[] {
  const dir = join(dataDir, '.tmp');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
