// Every relative link in README.md and docs/*.md names a file that exists and, for a link
// into a markdown file with #anchor, a heading that file has (anchors as GitHub makes
// them). Text moves between pages; a link left pointing at the old place fails here.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/paths.js';

const pages = [
  'README.md',
  ...readdirSync(join(projectRoot, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The lines outside fenced code blocks (``` or ~~~). */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker && (fence === undefined || marker === fence)) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence === undefined) lines.push(line);
  }
  return lines;
}

/** GitHub's anchor for a heading: lower case, punctuation and symbols dropped, spaces as "-". */
function slugOf(heading: string): string {
  return heading
    .replaceAll('`', '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '')
    .replaceAll(' ', '-');
}

/** The anchors of a markdown file's headings, the second of a name suffixed -1 and so on. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = slugOf(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Relative link targets of a page (inline code taken out first: `[a-z](…)` there is not a link). */
function linksOf(markdown: string): string[] {
  const prose = proseLines(markdown)
    .join('\n')
    .replace(/`[^`\n]*`/g, 'code');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((match) => match[1] ?? '')
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe('relative links in README.md and docs/', () => {
  it('finds the pages and their links', () => {
    expect(pages).toContain('docs/architecture.md');
    expect(linksOf(readFileSync(join(projectRoot, 'README.md'), 'utf8')).length).toBeGreaterThan(10);
  });

  it.each(pages)('%s: every link resolves to a file and, with #anchor, a heading', (page) => {
    const path = join(projectRoot, page);
    const broken: string[] = [];
    for (const target of linksOf(readFileSync(path, 'utf8'))) {
      const [file = '', anchor] = target.split('#', 2);
      const destination = file === '' ? path : resolve(dirname(path), decodeURIComponent(file));
      if (!existsSync(destination)) {
        broken.push(`${target}: no file ${relative(projectRoot, destination)}`);
        continue;
      }
      if (anchor !== undefined && destination.endsWith('.md') && !anchorsOf(readFileSync(destination, 'utf8')).has(anchor)) {
        broken.push(`${target}: ${relative(projectRoot, destination)} has no heading #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('slugOf', () => {
  it('makes the anchors GitHub makes', () => {
    expect(slugOf('Carry the cache across an air gap: export and import')).toBe('carry-the-cache-across-an-air-gap-export-and-import');
    expect(slugOf('No key to distribute: the pass-through view at `/mirror`')).toBe('no-key-to-distribute-the-pass-through-view-at-mirror');
    expect(slugOf('Why warm `/packages/NAME` stays at about 0.4× nginx')).toBe('why-warm-packagesname-stays-at-about-04-nginx');
    expect(slugOf("An organization's packages")).toBe('an-organizations-packages');
  });
});
