// The publishing API over real HTTP, as the clients call it: requests with a token as the
// raw authorization header and `accept: application/vnd.hex+erlang`, answers decoded from
// Erlang terms as Mix decodes them; and what a hosted repository holds, to show that a
// refused request changed nothing (its listing, its registry files, its files on disk).
import { readdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { decodeTerm, type DecodedTerm } from '../../src/hex-api/etf.js';
import type { HostedStore } from '../../src/hosted/hosted-store.js';

export const HEX_ERLANG = 'application/vnd.hex+erlang';

export interface HexAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The body as Erlang terms, when it is some. */
  term: DecodedTerm | undefined;
}

export interface HexCall {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  token?: string;
  body?: Buffer;
  contentType?: string;
  accept?: string;
}

/** One request to `url`; the answer with its Erlang terms decoded (safely, as Mix does). */
export async function hexCall(url: string, { method = 'GET', token, body, contentType, accept = HEX_ERLANG }: HexCall = {}): Promise<HexAnswer> {
  const headers: Record<string, string> = { accept };
  if (token !== undefined) headers['authorization'] = token;
  if (body !== undefined) headers['content-type'] = contentType ?? 'application/octet-stream';
  const response = await request(url, { method, headers, ...(body !== undefined && { body }) });
  const bytes = Buffer.from(await response.body.arrayBuffer());
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  const term = (flat['content-type'] ?? '').startsWith(HEX_ERLANG) && bytes.length > 0 ? decodeTerm(bytes) : undefined;
  return { status: response.statusCode, headers: flat, body: bytes, term };
}

/** A map field of a decoded answer (throws when the answer is not a map). */
export function field(term: DecodedTerm | undefined, ...path: string[]): DecodedTerm | undefined {
  let value: DecodedTerm | undefined = term;
  for (const key of path) {
    if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array)
      throw new Error(`no map at ${path.join('.')} in ${JSON.stringify(term)}`);
    value = value[key];
  }
  return value;
}

/** A string field of a decoded answer (throws when it is not one). */
export function text(term: DecodedTerm | undefined, ...path: string[]): string {
  const value = field(term, ...path);
  if (typeof value !== 'string') throw new Error(`${path.join('.')} is not a string in ${JSON.stringify(term)}`);
  return value;
}

export interface ContinueOutcome {
  /** Whether hexproxy answered 100 Continue (asked for the body). */
  continued: boolean;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A request with `expect: 100-continue` whose body is never sent unless hexproxy answers
 * 100 (then `body` is sent): what Mix does for every publish.
 */
export function expectContinue(url: string, method: string, headers: Record<string, string>, body: Buffer): Promise<ContinueOutcome> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = httpRequest(url, { method, headers: { ...headers, expect: '100-continue', 'content-length': String(body.length) } });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ continued, status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** What a hosted repository holds, to compare before and after a request. */
export interface HostedSnapshot {
  packages: string[];
  registry: Record<string, string>;
  files: string[];
}

export function hostedSnapshot(store: HostedStore, dataDir: string, repo: string): HostedSnapshot {
  const registry: Record<string, string> = {};
  for (const { repository, path } of store.registryPaths()) {
    if (repository === repo) registry[path] = store.storedRegistryFile(repo, path)?.sha256 ?? '';
  }
  return {
    packages: store.listPackages(repo).map((pkg) => `${pkg.name} ${pkg.versions.join(',')}`),
    registry,
    files: filesUnder(join(dataDir, 'hosted', 'blobs', repo)),
  };
}

function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
