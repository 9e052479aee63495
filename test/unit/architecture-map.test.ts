// docs/architecture.md's folder map names every folder under src/, so a newcomer can find
// where anything lives. The map may name folders that do not exist yet (one being added on
// another branch); every folder that exists must be in it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/paths.js';

const START = '<!-- folder-map:start';
const END = '<!-- folder-map:end -->';

/** The folders the map lists, in its order ("src/NAME/" at the start of a line). */
function mappedFolders(document: string): string[] {
  const start = document.indexOf(START);
  const end = document.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/architecture.md has no folder map between ${START} … and ${END}`);
  return [...document.slice(start, end).matchAll(/^src\/([a-z0-9_-]+)\/\s/gm)].map((match) => match[1] ?? '');
}

const srcFolders = (): string[] =>
  readdirSync(join(projectRoot, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name);

describe('docs/architecture.md', () => {
  const document = readFileSync(join(projectRoot, 'docs', 'architecture.md'), 'utf8');
  const mapped = mappedFolders(document);

  it('maps every folder under src/', () => {
    const missing = srcFolders().filter((folder) => !mapped.includes(folder));
    expect(missing, `add these to the folder map of docs/architecture.md: ${missing.join(', ')}`).toEqual([]);
  });

  it('names each folder once', () => {
    expect(new Set(mapped).size).toBe(mapped.length);
  });
});
