// The layering rule: a module imports only from layers below its own, never from one above
// (nor, unless the table says so, from another folder on its own level). Every folder and
// file at the top of src/ has its place in the table, so a new one is placed on purpose.
// Type-only imports count too: they are dependencies all the same.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/paths.js';

interface Layer {
  /** Folders of src/, or files at its top ("app.ts"). */
  members: readonly string[];
  /** What the layer is, in a few words. */
  holds: string;
  /** Members of this layer may import one another (otherwise a level's members are independent). */
  importEachOther?: true;
}

/** Lowest first: a member may import from the members of any layer before its own. */
const LAYERS: readonly Layer[] = [
  { members: ['util'], holds: 'helpers that know nothing of hexproxy: concurrency limits, byte formatting' },
  { members: ['errors.ts', 'paths.ts', 'log.ts'], holds: 'typed errors, where files are, the logger' },
  { members: ['registry', 'lockfiles'], holds: 'the Hex formats: registry files, signatures, tarball checksums; mix.lock and rebar.lock' },
  { members: ['resolve'], holds: 'versions, requirements and the dependency resolver' },
  { members: ['policy'], holds: 'policy rules and decisions over releases' },
  { members: ['config'], holds: 'the configuration schema and its loading (it validates policy rules with policy/)' },
  { members: ['store'], holds: 'the blob store, the SQLite index, private files' },
  { members: ['keys', 'auth'], holds: 'the signing key pair; tokens and access control' },
  { members: ['cache'], holds: 'the cache over the store: key layout, row rules, verifyTarball, reconcile, verify, evict, stats, the evictor' },
  { members: ['upstream'], holds: 'HTTP clients of repo.hex.pm and the builds server' },
  { members: ['metrics'], holds: 'Prometheus metrics' },
  { members: ['mirror'], holds: 'read-through mirrors of registry files, tarballs and pass-through files' },
  { members: ['installs'], holds: 'the /installs mirror of the builds server' },
  { members: ['hosted'], holds: 'hosted repositories as data: published releases, their registry files, durable publishing' },
  { members: ['repository'], holds: 'the Repository interface and its factory' },
  { members: ['ops', 'bundle', 'clients'], holds: 'operations (prewarm, mirror, policy checks), bundles, client snippets' },
  // The HTTP app mounts the Hex API's routes, which write their errors through its one mapping.
  {
    members: ['http', 'hex-api'],
    holds: 'the HTTP app and its routes; the Hex HTTP API (Erlang terms, /api/users/me, the API relay)',
    importEachOther: true,
  },
  { members: ['ui'], holds: 'the web UI' },
  { members: ['app.ts'], holds: 'the wiring of a running hexproxy' },
  { members: ['cli'], holds: 'the command line' },
];

const SRC = join(projectRoot, 'src');

const levelOf = new Map(LAYERS.flatMap((layer, level) => layer.members.map((member) => [member, level] as const)));

/** The member of src/ a file or import target belongs to: its top folder, or itself at the top. */
function memberOf(file: string): string {
  const [top = ''] = relative(SRC, file).split(sep);
  return top.endsWith('.js') ? top.replace(/\.js$/, '.ts') : top;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

interface Import {
  file: string;
  line: number;
  specifier: string;
  from: string;
  to: string;
}

/** Every relative import of every module of src/ that leaves its own member (import, import type, export from, import()). */
function crossImports(): Import[] {
  return sourceFiles(SRC).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return ts.preProcessFile(text, true, true).importedFiles.flatMap(({ fileName: specifier, pos }) => {
      if (!specifier.startsWith('.')) return [];
      const target = resolve(dirname(file), specifier);
      if (relative(SRC, target).startsWith('..')) return [];
      const from = memberOf(file);
      const to = memberOf(target);
      if (from === to) return [];
      return [{ file: relative(projectRoot, file), line: text.slice(0, pos).split('\n').length, specifier, from, to }];
    });
  });
}

describe('layering', () => {
  it('places every folder and file at the top of src/ in the table', () => {
    const unplaced = readdirSync(SRC).filter((name) => !levelOf.has(name));
    expect(unplaced, 'add each to LAYERS in test/unit/layering.test.ts, at the level of what it imports and what imports it').toEqual([]);
  });

  it('names each member once', () => {
    const members = LAYERS.flatMap((layer) => layer.members);
    expect(members.filter((member, i) => members.indexOf(member) !== i)).toEqual([]);
  });

  it('has no module import from a layer above its own, nor from another member of its own level', () => {
    const upward = crossImports().flatMap(({ file, line, specifier, from, to }) => {
      const fromLevel = levelOf.get(from);
      const toLevel = levelOf.get(to);
      if (fromLevel === undefined || toLevel === undefined)
        return [`${file}:${line} imports '${specifier}': ${fromLevel === undefined ? from : to} is not in the table`];
      if (toLevel < fromLevel) return [];
      if (toLevel === fromLevel && LAYERS[fromLevel]?.importEachOther) return [];
      const where = toLevel === fromLevel ? 'on the same level' : 'a layer above it';
      return [`${file}:${line} imports '${specifier}': ${from} may not import ${to}, ${where}`];
    });
    expect(upward).toEqual([]);
  });

  it('finds the imports it judges', () => {
    const imports = crossImports();
    expect(imports.some(({ from, to }) => from === 'cli' && to === 'app.ts')).toBe(true);
    expect(imports.some(({ from, to }) => from === 'mirror' && to === 'store')).toBe(true);
    expect(imports.length).toBeGreaterThan(100);
  });
});
