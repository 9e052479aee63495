// A validly signed package of 200,000 releases, shown by the web UI of a hexproxy child
// process: the package page lists releases a page at a time (newest first, with links to
// the next and previous pages; a release linked by ?version= opens the page holding it),
// the page stays small, and the process's peak RSS (/proc/PID/status VmHWM) stays bounded
// however often the page is asked for.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/crash/harness.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { tempDir } from '../support/proxy.js';
import { generatedVersion } from '../support/registry-builder.js';

const RELEASES = 200_000;
const PAGE = 100;
const PAGES = RELEASES / PAGE;
// A page of 100 rows is about 60 KB; the whole package as one page was 91 MB.
const MAX_PAGE_BYTES = 256 * 1024;
// The unpaginated page took this process to 2.8 GB peak; paginated, 280 MB was measured.
const MAX_PEAK_RSS_BYTES = 400 * 1024 * 1024;

let upstream: FakeUpstream;
let server: ServerProcess;

beforeAll(async () => {
  upstream = await startFakeUpstream({
    packages: [{ name: 'tiny', releases: [{ version: '1.0.0' }] }],
    generated: [{ name: 'huge', releases: RELEASES }],
  });
  const keyFile = join(tempDir(), 'upstream.pem');
  writeFileSync(keyFile, upstream.publicKeyPem);
  server = await spawnServer({ dataDir: tempDir(), upstreamUrl: upstream.url, upstreamKeyFile: keyFile });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.close();
});

/** Newest first: the version of the n-th newest release (from 0). */
const newest = (n: number): string => generatedVersion(RELEASES - 1 - n);

async function page(query: string): Promise<{ status: number; text: string; bytes: number; rows: string[] }> {
  const response = await fetch(`${server.url}/ui/packages/huge${query}`);
  const body = Buffer.from(await response.arrayBuffer());
  const text = body.toString('utf8');
  const rows = [...text.matchAll(/<tr[^>]* data-version="([^"]+)"/g)].map((match) => match[1] ?? '');
  return { status: response.status, text, bytes: body.length, rows };
}

/** The peak resident set size of the hexproxy process so far. */
function peakRss(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmHWM in /proc/${server.pid}/status`);
  return Number(match[1]) * 1024;
}

describe('the package page of a package with 200,000 releases', () => {
  it('shows the newest 100 releases, with a link to the next page, in a page of bounded size', async () => {
    const first = await page('');
    expect(first.status, first.text.slice(0, 500)).toBe(200);
    expect(first.bytes).toBeLessThan(MAX_PAGE_BYTES);
    expect(first.rows).toEqual(Array.from({ length: PAGE }, (_, n) => newest(n)));
    expect(first.text).toContain('href="/ui/packages/huge?page=2#releases"');
    expect(first.text).not.toContain('?page=0');
    expect(first.text).toContain(`Page 1 of ${PAGES.toLocaleString('en-US')}`);
    // The latest release is the one offered, whatever page is shown.
    expect(first.text).toContain(`latest ${newest(0)}`);
  });

  it('pages through the releases: the next page shows the next 100, the last the oldest', async () => {
    const second = await page('?page=2');
    expect(second.status).toBe(200);
    expect(second.rows).toEqual(Array.from({ length: PAGE }, (_, n) => newest(PAGE + n)));
    expect(second.text).toContain('href="/ui/packages/huge?page=1#releases"');
    expect(second.text).toContain('href="/ui/packages/huge?page=3#releases"');
    expect(second.text).toContain(`latest ${newest(0)}`);

    const last = await page(`?page=${PAGES}`);
    expect(last.status).toBe(200);
    expect(last.rows).toEqual(Array.from({ length: PAGE }, (_, n) => newest(RELEASES - PAGE + n)));
    expect(last.rows.at(-1)).toBe('1.0.0');
    expect(last.text).toContain(`href="/ui/packages/huge?page=${PAGES - 1}#releases"`);
    expect(last.text).not.toContain(`?page=${PAGES + 1}`);

    const beyond = await page(`?page=${PAGES + 1}`);
    expect(beyond.status).toBe(404);
    expect(beyond.text).toContain(`huge has ${PAGES.toLocaleString('en-US')} pages of releases`);
  });

  it('opens the page holding a release linked directly', async () => {
    const linked = await page('?version=1.0.5');
    expect(linked.status).toBe(200);
    expect(linked.rows).toHaveLength(PAGE);
    expect(linked.rows).toContain('1.0.5');
    expect(linked.text).toMatch(/<tr class="selected" data-version="1\.0\.5"/);
    expect(linked.text).toContain('Dependencies of 1.0.5');
    expect(linked.text).toContain(`Page ${PAGES.toLocaleString('en-US')} of ${PAGES.toLocaleString('en-US')}`);
  });

  it("keeps the process's peak RSS bounded when the page is asked for again and again", async () => {
    for (const query of ['', '?page=2', '?page=1000', '?version=1.100.0', '']) {
      expect((await page(query)).status).toBe(200);
    }
    const peak = peakRss();
    expect(peak, `peak RSS ${Math.round(peak / 1024 / 1024)} MB`).toBeLessThan(MAX_PEAK_RSS_BYTES);
  });
});
