// What must hold of a data directory and of hexproxy's answers after any crash: every index
// row names a file of its size and checksum holding the upstream bytes, no file lies there
// without a row, and whatever is served with 200 is exactly what upstream published (tarballs,
// docs) or verifies with hexproxy's key and carries upstream's payload (registry files).
import { createHash, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { registryKey as registryBlobKey, tarballKey } from '../../../src/cache/layout.js';
import { openRegistryFile } from '../../../src/registry/registry-file.js';
import type { RegistryResource } from '../../../src/registry/resource.js';
import { CacheIndex } from '../../../src/store/cache-index.js';
import { filesUnder, sha256File, sizeOf } from './harness.js';
import type { FakeUpstream } from '../upstreams/fake-upstream.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Every disagreement between the index, the files and upstream, as readable lines (none: []). */
export function cacheProblems(dataDir: string, upstream: FakeUpstream): string[] {
  const problems: string[] = [];
  const index = new CacheIndex(join(dataDir, 'hexproxy.db'));
  try {
    const indexed = new Set<string>();
    const checkFile = (key: string, row: { size: number; sha256: string }, upstreamSha: string | undefined): void => {
      indexed.add(key);
      const file = join(dataDir, key);
      const size = sizeOf(file);
      if (size === undefined) return void problems.push(`${key}: indexed, but there is no file`);
      if (size !== row.size) return void problems.push(`${key}: ${size} bytes on disk, the index says ${row.size}`);
      const actual = sha256File(file);
      if (actual !== row.sha256) problems.push(`${key}: SHA-256 ${actual} on disk, the index says ${row.sha256}`);
      if (upstreamSha !== undefined && actual !== upstreamSha) problems.push(`${key}: SHA-256 ${actual} is not upstream's ${upstreamSha}`);
    };
    for (const row of index.listTarballs()) {
      checkFile(tarballKey(row.repo, row.name, row.version), row, upstream.tarball(row.name, row.version).outerChecksum.toString('hex'));
    }
    for (const row of index.listRegistryFiles()) {
      const body = upstream.body(`/${row.path}`);
      checkFile(registryBlobKey(row.repo, row.path), row, body && sha256(body));
    }
    for (const row of index.listPassthroughFiles()) {
      const body = upstream.body(`/${row.path}`);
      checkFile(`passthrough/${row.path}`, row, body && sha256(body));
    }
    for (const prefix of ['tarballs', 'registry', 'passthrough']) {
      for (const key of filesUnder(dataDir, prefix)) if (!indexed.has(key)) problems.push(`${key}: a file with no index row`);
    }
  } finally {
    index.close();
  }
  return problems;
}

export type Served =
  | { outcome: 'ok'; status: 200; cache: string | undefined }
  | { outcome: 'status'; status: number; message: string }
  | { outcome: 'wrong'; reason: string }
  | { outcome: 'connection'; error: string };

/**
 * GETs a path and checks a 200 against upstream. A connection error or a body cut short
 * (the server was killed mid-response) is reported as such, not as wrong bytes.
 */
export async function fetchAndCheck(
  url: string,
  path: string,
  upstream: FakeUpstream,
  serverKey: KeyObject,
  dispatcher?: Dispatcher,
): Promise<Served> {
  let status: number;
  let headers: Record<string, string | string[] | undefined>;
  let body: Buffer;
  try {
    const response = await request(`${url}${path}`, dispatcher ? { dispatcher } : {});
    status = response.statusCode;
    headers = response.headers;
    body = Buffer.from(await response.body.arrayBuffer());
  } catch (error: unknown) {
    return { outcome: 'connection', error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  if (status !== 200) return { outcome: 'status', status, message: body.toString('utf8').trim() };
  const cache = typeof headers['x-hexproxy-cache'] === 'string' ? headers['x-hexproxy-cache'] : undefined;
  const length = Number(headers['content-length']);
  if (Number.isFinite(length) && length !== body.length)
    return { outcome: 'wrong', reason: `${path}: content-length ${length}, body ${body.length} bytes` };
  const expected = upstream.body(path);
  if (!expected) return { outcome: 'wrong', reason: `${path}: served 200, but upstream has no such file` };
  const resource = registryResource(path);
  if (!resource) {
    return body.equals(expected)
      ? { outcome: 'ok', status, cache }
      : {
          outcome: 'wrong',
          reason: `${path}: ${body.length} bytes served (SHA-256 ${sha256(body)}), not upstream's ${expected.length} (${sha256(expected)})`,
        };
  }
  try {
    const served = await openRegistryFile(body, resource, { publicKey: serverKey, repository: upstream.repository, maxBytes: 1 << 26 });
    const original = await openRegistryFile(expected, resource, {
      publicKey: upstream.publicKey,
      repository: upstream.repository,
      maxBytes: 1 << 26,
    });
    if (!served.payload.equals(original.payload)) return { outcome: 'wrong', reason: `${path}: verifies, but its payload is not upstream's` };
  } catch (error: unknown) {
    return { outcome: 'wrong', reason: `${path}: does not verify with hexproxy's key: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { outcome: 'ok', status, cache };
}

function registryResource(path: string): RegistryResource | undefined {
  if (path === '/names') return { kind: 'names' };
  if (path === '/versions') return { kind: 'versions' };
  if (path.startsWith('/packages/')) return { kind: 'package', name: path.slice('/packages/'.length) };
  return undefined;
}

/**
 * What `check` finds once it finds nothing, or after 5 s the last thing it found. Small
 * tarball misses are answered before they are stored, so a check right after an answer may
 * see the store still landing; nothing signals its end to another process.
 */
export async function settled(check: () => string[]): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  let problems = check();
  while (problems.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    problems = check();
  }
  return problems;
}
