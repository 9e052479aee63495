// Small file systems for disk-full tests: a tmpfs of a given size, a ballast file that
// leaves an exact number of bytes free, and read-only bind mounts. Needs root (or
// CAP_SYS_ADMIN); mountPermitted() says whether this machine allows it, and why not.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether a tmpfs can be mounted here; the reason when not. */
export function mountPermitted(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `tmpfs mounts need Linux, this is ${process.platform}` };
  const dir = mkdtempSync(join(tmpdir(), 'hexproxy-mount-probe-'));
  try {
    run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    run('umount', [dir]);
    return { ok: true };
  } catch (error: unknown) {
    const stderr = error instanceof Error && 'stderr' in error && Buffer.isBuffer(error.stderr) ? error.stderr.toString().trim() : String(error);
    return { ok: false, reason: `cannot mount a tmpfs (needs root or CAP_SYS_ADMIN; uid ${process.getuid?.() ?? '?'}): ${stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Files under `dir` this process has open (from /proc/self/fd): what keeps an unmount busy. */
export function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      // Closed meanwhile (the fd of readdir itself).
    }
  }
  return open;
}

export interface SmallDisk {
  /** The mount point. */
  readonly dir: string;
  freeBytes(): number;
  /** Writes a ballast file (outside `keep`) so that exactly `leaveBytes` (a multiple of 4096) stay free. */
  fill(leaveBytes: number): void;
  /** Removes every ballast file. */
  empty(): void;
  /** Makes `path` (a directory on this disk) read-only through a bind mount over itself. */
  readOnly(path: string): void;
  /** Undoes every readOnly(). */
  writable(): void;
  unmount(): Promise<void>;
}

export function mountSmallDisk(sizeBytes: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'hexproxy-small-disk-'));
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  const ballasts: string[] = [];
  const readOnlyMounts: string[] = [];
  const writable = (): void => {
    for (const path of readOnlyMounts.splice(0).reverse()) run('umount', [path]);
  };
  const freeBytes = (): number => {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  };
  return {
    dir,
    freeBytes,
    fill(leaveBytes) {
      const size = freeBytes() - leaveBytes;
      if (size < 0) throw new Error(`only ${freeBytes()} bytes are free; cannot leave ${leaveBytes}`);
      const file = join(dir, `ballast-${ballasts.length}`);
      writeFileSync(file, Buffer.alloc(size, 0x55));
      ballasts.push(file);
      const left = freeBytes();
      if (left !== leaveBytes) throw new Error(`the ballast left ${left} bytes free, not ${leaveBytes}`);
    },
    empty() {
      for (const file of ballasts.splice(0)) rmSync(file, { force: true });
    },
    readOnly(path) {
      run('mount', ['--bind', path, path]);
      readOnlyMounts.push(path);
      run('mount', ['-o', 'remount,bind,ro', path]);
    },
    writable,
    async unmount() {
      writable();
      // A file a response was streamed from is closed a moment after the response ends.
      for (let attempt = 0; ; attempt += 1) {
        try {
          run('umount', [dir]);
          break;
        } catch (error: unknown) {
          if (attempt >= 20)
            throw new Error(`cannot unmount ${dir}; this process holds open: ${openFilesUnder(dir).join(', ') || 'nothing'}`, { cause: error });
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
