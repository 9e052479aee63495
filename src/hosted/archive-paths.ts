// Which paths and links inside an uploaded tar may stay: whatever a client unpacks must land
// inside the package's (or the docs') own directory. hex_core refuses the same things when
// it unpacks (hex_erl_tar make_safe_path/safe_link_name); the rules here are a little
// stricter, so that no tool's idea of normalisation matters:
// - a name is relative (no leading `/` or `\`, no drive letter) and has no `..` segment at all;
// - a symbolic link's target, taken from the link's own directory, stays inside;
// - a hard link's target, a path inside the archive, is relative and stays inside.

/** Why `name` may not be an entry of the archive, or undefined when it may. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '' || name === '.' || name === './') return 'it has an empty name';
  if (name.includes('\0')) return 'its name holds a NUL character';
  if (isAbsolute(name)) return 'its path is absolute';
  if (segments(name).includes('..')) return 'its path has a ".." segment';
  return undefined;
}

/**
 * Why a link named `name` pointing at `target` may not stay, or undefined when it may.
 * `symbolic`: a symbolic link (its target is relative to its own directory), else a hard
 * link (its target is a path in the archive).
 */
export function unsafeLinkReason(name: string, target: string, symbolic: boolean): string | undefined {
  if (target === '') return 'it points nowhere (an empty target)';
  if (isAbsolute(target)) return `it points at the absolute path ${JSON.stringify(target)}`;
  const from = symbolic ? segments(name).slice(0, -1) : [];
  if (escapes([...from, ...segments(target)])) return `it points outside the archive (${JSON.stringify(target)})`;
  return undefined;
}

/** The path without a leading `./` and trailing `/`, as clients unpack it. */
export function normalName(name: string): string {
  return segments(name).join('/');
}

// `\` separates too: hex_core splits on both, and Windows clients unpack that way.
const segments = (path: string): string[] => path.split(/[/\\]/).filter((part) => part !== '' && part !== '.');

const isAbsolute = (path: string): boolean => path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path);

/** Whether walking `parts` from the top ever climbs above it. */
function escapes(parts: readonly string[]): boolean {
  let depth = 0;
  for (const part of parts) {
    depth += part === '..' ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}
