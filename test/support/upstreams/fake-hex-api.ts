// A fake upstream Hex HTTP API (hex.pm/api): package and release information and package
// search, answered in Erlang terms or JSON by the request's Accept as hexpm answers them,
// with strong ETags and If-None-Match. It records every request (target and headers) and can
// be made to fail or stopped, to test hexproxy's relay of it.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { encodeTerm, type Term } from '../../../src/hex-api/etf.js';

export interface ApiRelease {
  version: string;
  /** ISO-8601; default 2024-01-01. */
  insertedAt?: string;
  retirement?: { reason: string; message: string };
  requirements?: Record<string, { requirement: string; optional?: boolean; app?: string }>;
}

export interface ApiPackage {
  name: string;
  description?: string;
  /** Newest first, as hexpm lists them. */
  releases: ApiRelease[];
}

export interface ApiRequest {
  method: string;
  /** Path and query as received ("/api/packages?search=ja&sort=downloads"). */
  target: string;
  headers: IncomingHttpHeaders;
}

export interface FakeHexApi {
  /** The API's base URL, as upstream.apiUrl takes it ("http://127.0.0.1:PORT/api"). */
  readonly url: string;
  /** Requests received for a target (path and query, as received). */
  hits(target: string): number;
  readonly requests: readonly ApiRequest[];
  /** The bytes it answers a target with in a format, or undefined where it answers 404. */
  body(target: string, format: 'erlang' | 'json'): Buffer | undefined;
  /** From now on answers every request with this status (undefined: answers again). */
  failWith(status: number | undefined): void;
  /** Stops listening and drops every connection: upstream is down. */
  close(): Promise<void>;
}

const ERLANG = 'application/vnd.hex+erlang';

export async function startFakeHexApi(packages: ApiPackage[]): Promise<FakeHexApi> {
  const requests: ApiRequest[] = [];
  const sockets = new Set<Socket>();
  let failing: number | undefined;
  let base = '';

  const answer = (target: string): Term | undefined => {
    const url = new URL(target, 'http://api');
    const path = url.pathname.replace(/^\/api/, '').replace(/^\/repos\/hexpm/, '');
    if (path === '/packages') {
      const search = url.searchParams.get('search') ?? '';
      return packages.filter((pkg) => pkg.name.includes(search)).map((pkg) => packageMap(base, pkg));
    }
    const release = /^\/packages\/([a-z0-9_]+)\/releases\/([^/]+)$/.exec(path);
    if (release) {
      const pkg = packages.find((p) => p.name === release[1]);
      const found = pkg?.releases.find((r) => r.version === release[2]);
      return pkg && found ? releaseMap(base, pkg, found) : undefined;
    }
    const one = /^\/packages\/([a-z0-9_]+)$/.exec(path);
    const pkg = one ? packages.find((p) => p.name === one[1]) : undefined;
    return pkg && packageMap(base, pkg);
  };
  const body = (target: string, format: 'erlang' | 'json'): Buffer | undefined => {
    const term = answer(target);
    if (term === undefined) return undefined;
    return format === 'erlang' ? encodeTerm(term) : Buffer.from(JSON.stringify(term));
  };

  const server: Server = createServer((req, res) => {
    const target = req.url ?? '/';
    requests.push({ method: req.method ?? '', target, headers: req.headers });
    if (failing !== undefined) {
      res.writeHead(failing, { 'content-type': 'text/plain' }).end(`fake Hex API says ${failing}\n`);
      return;
    }
    const format = (req.headers.accept ?? '').includes(ERLANG) ? 'erlang' : 'json';
    const bytes = body(target, format);
    if (!bytes) {
      const notFound =
        format === 'erlang' ? encodeTerm({ status: 404, message: 'Page not found' }) : Buffer.from('{"status":404,"message":"Page not found"}');
      res.writeHead(404, { 'content-type': format === 'erlang' ? ERLANG : 'application/json' }).end(notFound);
      return;
    }
    const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res.writeHead(200, { 'content-type': format === 'erlang' ? ERLANG : 'application/json; charset=utf-8', etag, 'content-length': bytes.length });
    res.end(bytes);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;

  return {
    url: base,
    hits: (target) => requests.filter((request) => request.target === target).length,
    requests,
    body,
    failWith(status) {
      failing = status;
    },
    async close() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A package as hexpm's API shows it (the fields `mix hex.info` and `mix hex.package search` read, and a few more). */
function packageMap(base: string, pkg: ApiPackage): Term {
  const latest = pkg.releases[0]?.version ?? null;
  return {
    name: pkg.name,
    repository: 'hexpm',
    url: `${base}/packages/${pkg.name}`,
    html_url: `https://hex.pm/packages/${pkg.name}`,
    docs_html_url: `https://hexdocs.pm/${pkg.name}/`,
    meta: {
      description: pkg.description ?? null,
      licenses: ['Apache-2.0'],
      links: { GitHub: `https://github.com/example/${pkg.name}` },
      maintainers: [],
    },
    downloads: { all: 3_000_000_000, week: 12_345, day: 1_234 },
    releases: pkg.releases.map((release) => ({
      version: release.version,
      url: `${base}/packages/${pkg.name}/releases/${release.version}`,
      has_docs: true,
      inserted_at: release.insertedAt ?? '2024-01-01T00:00:00.000000Z',
    })),
    retirements: Object.fromEntries(pkg.releases.flatMap((release) => (release.retirement ? [[release.version, release.retirement] as const] : []))),
    configs: {
      'mix.exs': `{:${pkg.name}, "~> ${latest ?? '0.0.0'}"}`,
      'rebar.config': `{${pkg.name}, "${latest ?? '0.0.0'}"}`,
      'erlang.mk': `dep_${pkg.name} = hex ${latest ?? '0.0.0'}`,
    },
    latest_version: latest,
    latest_stable_version: latest,
    inserted_at: '2020-01-01T00:00:00.000000Z',
    updated_at: '2024-01-01T00:00:00.000000Z',
    owners: [],
  };
}

function releaseMap(base: string, pkg: ApiPackage, release: ApiRelease): Term {
  return {
    version: release.version,
    url: `${base}/packages/${pkg.name}/releases/${release.version}`,
    package_url: `${base}/packages/${pkg.name}`,
    html_url: `https://hex.pm/packages/${pkg.name}/${release.version}`,
    docs_html_url: `https://hexdocs.pm/${pkg.name}/${release.version}/`,
    has_docs: true,
    inserted_at: release.insertedAt ?? '2024-01-01T00:00:00.000000Z',
    updated_at: release.insertedAt ?? '2024-01-01T00:00:00.000000Z',
    retirement: release.retirement ?? null,
    requirements: Object.fromEntries(
      Object.entries(release.requirements ?? {}).map(([name, req]) => [
        name,
        { requirement: req.requirement, optional: req.optional ?? false, app: req.app ?? name },
      ]),
    ),
    meta: { app: pkg.name, build_tools: ['mix'], elixir: '~> 1.11' },
    configs: { 'mix.exs': `{:${pkg.name}, "~> ${release.version}"}` },
    downloads: 42,
  };
}
