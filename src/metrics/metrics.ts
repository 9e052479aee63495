// Prometheus metrics (prom-client), served at /metrics. One registry per server, so tests
// and several servers in one process do not share counters. Label values are bounded sets
// (routes, statuses, cache results), never package names or paths.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheIndex } from '../store/cache-index.js';
import type { UpstreamHealth } from '../upstream/health.js';

export type Route =
  | 'names' | 'versions' | 'packages' | 'tarballs' | 'docs' | 'installs' | 'policies' | 'public_key'
  | 'healthz' | 'readyz' | 'metrics' | 'ui' | 'admin' | 'other';

export type CacheKind = 'registry' | 'tarball' | 'docs' | 'installs';

export type UpstreamOutcome = 'ok' | 'not_modified' | 'not_found' | 'error';

export interface MetricsSources {
  index: CacheIndex;
  health: UpstreamHealth;
  /** What the in-memory caches hold now, by name. */
  memoryBytes: () => Record<string, number>;
}

const ROUTE_OF_SEGMENT: Record<string, Route> = {
  names: 'names', versions: 'versions', packages: 'packages', tarballs: 'tarballs', docs: 'docs', installs: 'installs',
  policies: 'policies', public_key: 'public_key', healthz: 'healthz', readyz: 'readyz', metrics: 'metrics', ui: 'ui',
};

/** The route label of a raw request target: /mirror/ and /repos/ORG/ prefixes fold into the resource. */
export function routeOf(target: string): Route {
  let path = target;
  const query = path.indexOf('?');
  if (query >= 0) path = path.slice(0, query);
  const segments = path.split('/');
  let i = 1;
  if (segments[i] === 'mirror') i += 1;
  else if (segments[i] === 'repos') i += 2;
  else if (segments[i] === 'api' && segments[i + 1] === 'admin') return 'admin';
  return ROUTE_OF_SEGMENT[segments[i] ?? ''] ?? 'other';
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly bytesServed: Counter<'route'>;
  private readonly cacheResults: Counter<'kind' | 'result'>;
  private readonly upstreamRequests: Counter<'outcome'>;
  private readonly upstreamDuration: Histogram<'outcome'>;
  private readonly errors: Counter<'code'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'hexproxy_' });
    this.requests = new Counter({ name: 'hexproxy_http_requests_total', help: 'HTTP requests answered, by route, method and status.', labelNames: ['route', 'method', 'status'], registers });
    this.duration = new Histogram({
      name: 'hexproxy_http_request_duration_seconds', help: 'Time from a request to its response headers being written (streamed bodies not included).',
      labelNames: ['route'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers,
    });
    this.bytesServed = new Counter({ name: 'hexproxy_http_response_bytes_total', help: 'Response body bytes sent (by Content-Length), by route.', labelNames: ['route'], registers });
    this.cacheResults = new Counter({ name: 'hexproxy_cache_requests_total', help: 'Client requests answered by the cache: hit, miss (fetched), revalidated, stale (upstream failing).', labelNames: ['kind', 'result'], registers });
    this.upstreamRequests = new Counter({ name: 'hexproxy_upstream_requests_total', help: 'Requests hexproxy made upstream, by outcome (each retry counts).', labelNames: ['outcome'], registers });
    this.upstreamDuration = new Histogram({
      name: 'hexproxy_upstream_request_duration_seconds', help: 'Time to upstream response headers.', labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.errors = new Counter({ name: 'hexproxy_errors_total', help: 'Error responses by x-hexproxy-error code.', labelNames: ['code'], registers });
    new Gauge({
      name: 'hexproxy_cache_entries', help: 'Entries in the cache index, by kind.', labelNames: ['kind'], registers,
      collect() {
        this.set({ kind: 'tarball' }, sources.index.tarballTotals().count);
        this.set({ kind: 'registry' }, sources.index.registryTotals().count);
        this.set({ kind: 'passthrough' }, sources.index.passthroughTotals().count);
      },
    });
    new Gauge({
      name: 'hexproxy_cache_bytes', help: 'Bytes of cached files on disk, by kind.', labelNames: ['kind'], registers,
      collect() {
        this.set({ kind: 'tarball' }, sources.index.tarballTotals().bytes);
        this.set({ kind: 'registry' }, sources.index.registryTotals().bytes);
        this.set({ kind: 'passthrough' }, sources.index.passthroughTotals().bytes);
      },
    });
    new Gauge({
      name: 'hexproxy_memory_cache_bytes', help: 'Bytes held by the in-memory caches, by cache.', labelNames: ['cache'], registers,
      collect() {
        for (const [cache, bytes] of Object.entries(sources.memoryBytes())) this.set({ cache }, bytes);
      },
    });
    new Gauge({
      name: 'hexproxy_upstream_up', help: 'Whether the upstream answered lately: 1 online, 0 offline, -1 not asked yet.', registers,
      collect() {
        const state = sources.health.state;
        this.set(state === 'online' ? 1 : state === 'offline' ? 0 : -1);
      },
    });
  }

  // Labelled children, looked up once: prom-client hashes the labels on every inc() given
  // an object, which measurably slowed the hot path.
  private readonly served_ = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<'route'>; bytes: Counter.Internal }>();
  private readonly cached_ = new Map<string, Counter.Internal>();

  /** One answered request: called by the hot path and by the routes, once each. */
  served(route: Route, method: string, status: number, seconds: number, bytes: number): void {
    const key = `${route} ${method} ${status}`;
    let children = this.served_.get(key);
    if (!children) {
      children = { requests: this.requests.labels(route, method, String(status)), duration: this.duration.labels(route), bytes: this.bytesServed.labels(route) };
      this.served_.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(seconds);
    if (bytes > 0) children.bytes.inc(bytes);
  }

  cache(kind: CacheKind, result: string): void {
    const key = `${kind} ${result}`;
    let child = this.cached_.get(key);
    if (!child) this.cached_.set(key, (child = this.cacheResults.labels(kind, result)));
    child.inc();
  }

  upstream(outcome: UpstreamOutcome, seconds: number): void {
    this.upstreamRequests.inc({ outcome });
    this.upstreamDuration.observe({ outcome }, seconds);
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
