// Child processes and /proc readings for the load bench: start the upstream and hexproxy,
// run wrk, sample a process's memory, descriptors and CPU. Every wait is bounded.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, openSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism, cpus, release, totalmem } from 'node:os';

const children = new Set();

/** Kills every child still running (by its own pid); for exits and signals. */
export function killChildren(signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a bench server script (upstream.mjs, control-server.mjs) and resolves with the URL
 * it prints once it listens (at most 15 s).
 */
export function startScript({ script, args, logFile }) {
  const child = track(spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const log = createWriteStream(logFile);
  child.stderr.pipe(log);
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within 15 s`));
    }, 15_000);
    const onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before listening (see ${logFile})`));
    };
    const onData = (chunk) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout.off('data', onData);
      child.stdout.pipe(log);
      resolve({ child, url: JSON.parse(buffered.slice(0, newline)).url });
    };
    child.once('exit', onExit);
    child.stdout.on('data', onData);
  });
}

/**
 * Starts `node dist/src/cli/main.js serve …` as its own process, logs to logFile, and
 * resolves once /healthz answers (at most 30 s), polling every pollMs. logLevel: hexproxy's
 * --log-level; extraArgs: more flags of `serve`, after the others. readyMs: from spawn to
 * the first 200 of /healthz.
 */
export async function startHexproxy({ root, port, dataDir, upstreamUrl, upstreamKey, extraArgs = [], logFile, logLevel = 'warn', pollMs = 100 }) {
  const args = [
    'dist/src/cli/main.js',
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--upstream-url',
    upstreamUrl,
    '--upstream-public-key',
    upstreamKey,
    '--log-level',
    logLevel,
    ...extraArgs,
  ];
  // The log file is the child's own stdout and stderr: piping its access log through this
  // process would spend the bench's CPU on the 2 cores the servers measured share.
  const log = openSync(logFile, 'a');
  const started = performance.now();
  const child = track(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', log, log] }));
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`hexproxy exited with ${child.exitCode} at start (see ${logFile})`);
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return { child, url, command: `node ${args.join(' ')}`, readyMs: performance.now() - started };
    } catch {
      // not listening yet
    }
    await sleep(pollMs);
  }
  child.kill('SIGKILL');
  throw new Error(`hexproxy did not answer /healthz within 30 s (see ${logFile})`);
}

/** SIGTERM, then SIGKILL after 10 s; resolves with how it ended. */
export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, alreadyExited: true };
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const result = await exited;
  clearTimeout(timer);
  return { ...result, alreadyExited: false };
}

/**
 * Runs wrk with a hard limit; resolves with its text output and the BENCH_JSON the
 * script's done() printed.
 */
export function runWrk(args, limitMs, onStart = () => {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    onStart(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (!line) {
        reject(new Error(`wrk ended (${code ?? signal}) without results:\n${stdout}\n${stderr}`));
        return;
      }
      resolve({
        text: stdout
          .split('\n')
          .filter((l) => !l.startsWith('BENCH_JSON '))
          .join('\n')
          .trim(),
        stderr: stderr.trim(),
        result: JSON.parse(line.slice('BENCH_JSON '.length)),
      });
    });
  });
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS and VmHWM (bytes), open descriptors and CPU seconds of a live process. */
export async function readProcess(pid) {
  const [status, stat, mainStat, fds] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/task/${pid}/stat`, 'utf8'),
    readdir(`/proc/${pid}/fd`),
  ]);
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const cpu = (text) => {
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  };
  return {
    rss: kib('VmRSS'),
    hwm: kib('VmHWM'),
    fds: fds.length,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
    cpuSeconds: cpu(stat),
    // The main thread, which runs Node's event loop (the rest: libuv's pool, V8, zlib).
    mainThreadCpuSeconds: cpu(mainStat),
  };
}

/**
 * CPU seconds the whole machine spent (all cores) in processes (user, nice, system), in
 * interrupts (irq, softirq: loopback TCP mostly), and stolen by the hypervisor; and the
 * load average.
 */
export async function readSystem() {
  const [stat, loadavg] = await Promise.all([readFile('/proc/stat', 'utf8'), readFile('/proc/loadavg', 'utf8')]);
  const [user, nice, system, , , irq, softirq, steal] = stat.split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return {
    processSeconds: (user + nice + system) / CLOCK_TICKS,
    interruptSeconds: (irq + softirq) / CLOCK_TICKS,
    stealSeconds: steal / CLOCK_TICKS,
    loadavg: loadavg.split(' ').slice(0, 3).map(Number),
  };
}

/** A process and its descendants (workers of a cluster, nginx's workers), from /proc. */
export async function processTree(pid) {
  const parents = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** VmRSS and VmHWM (bytes) summed over the given processes (those still alive). */
export async function readMemory(pids) {
  let rss = 0;
  let hwm = 0;
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      hwm += Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // gone
    }
  }
  return { rss, hwm };
}

/** Resets VmHWM to the current VmRSS (Linux ≥ 4.0); false where the kernel refuses. */
export async function resetPeakRss(pids) {
  let ok = true;
  for (const pid of pids) {
    try {
      await writeFile(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/**
 * Samples the summed VmRSS of a set of processes every intervalMs until stopped; stop()
 * resolves with {first, max, last, samples}.
 */
export function sampleMemory(pids, intervalMs) {
  const readings = [];
  let stopped = false;
  let pending = Promise.resolve();
  const take = async () => {
    const { rss } = await readMemory(pids);
    readings.push(rss);
  };
  const timer = setInterval(() => {
    if (!stopped) pending = pending.then(take);
  }, intervalMs);
  pending = take();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await pending;
      await take();
      return { first: readings[0], max: Math.max(...readings), last: readings.at(-1), samples: readings.length };
    },
  };
}

/** Samples a process every intervalMs until stopped; onSample sees each reading. */
export function sampleProcess(pid, intervalMs, onSample = () => {}) {
  const started = Date.now();
  const samples = [];
  let stopped = false;
  let pending = Promise.resolve();
  const take = async () => {
    try {
      const sample = { t: (Date.now() - started) / 1000, ...(await readProcess(pid)) };
      samples.push(sample);
      onSample(sample);
    } catch {
      // the process is gone; the caller notices
    }
  };
  const timer = setInterval(() => {
    if (!stopped) pending = take();
  }, intervalMs);
  pending = take();
  return {
    samples,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await pending;
      await take();
      return samples;
    },
  };
}

function run(file, args) {
  try {
    return execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })
      .toString()
      .trim();
  } catch (error) {
    return (error.stdout?.toString() || error.stderr?.toString() || String(error)).trim();
  }
}

export function machine(root) {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memTotalBytes: totalmem(),
    free: run('free', ['-h']),
    node: process.version,
    wrk: run('wrk', ['-v']).split('\n')[0],
    kernel: release(),
    commit: run('git', ['-C', root, 'rev-parse', 'HEAD']),
    srcDirty: run('git', ['-C', root, 'status', '--porcelain', '--', 'src']) !== '',
  };
}
