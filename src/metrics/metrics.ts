// Prometheus metrics (prom-client), served at /metrics. One registry per server, so tests
// and several servers in one process do not share counters. Label values are bounded sets
// (routes, statuses, cache results), never package names or paths.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheIndex } from '../store/cache-index.js';
import type { UpstreamHealth } from '../upstream/health.js';

export type Route =
  | 'names'
  | 'versions'
  | 'packages'
  | 'tarballs'
  | 'docs'
  | 'installs'
  | 'policies'
  | 'public_key'
  | 'healthz'
  | 'readyz'
  | 'metrics'
  | 'ui'
  | 'admin'
  | 'other';

export type CacheKind = 'registry' | 'tarball' | 'docs' | 'installs';

export type UpstreamOutcome = 'ok' | 'not_modified' | 'not_found' | 'error';

export interface MetricsSources {
  index: CacheIndex;
  health: UpstreamHealth;
  /** What the in-memory caches hold now, by name. */
  memoryBytes: () => Record<string, number>;
  /** What registry files being fetched and inflated hold now (cache.registryFetchMemoryBytes). */
  registryFetchBytes?: () => number;
  /** The policy's generation and, by repository, what its latest filtered /versions left out. */
  policy?: () => { generation: number; repositories: Record<string, { releases: number; packages: number; unavailable: number }> };
}

const ROUTE_OF_SEGMENT: Record<string, Route> = {
  names: 'names',
  versions: 'versions',
  packages: 'packages',
  tarballs: 'tarballs',
  docs: 'docs',
  installs: 'installs',
  policies: 'policies',
  public_key: 'public_key',
  healthz: 'healthz',
  readyz: 'readyz',
  metrics: 'metrics',
  ui: 'ui',
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
  private readonly hot = new HotCounters();
  private readonly upstreamRequests: Counter<'outcome'>;
  private readonly upstreamDuration: Histogram<'outcome'>;
  private readonly errors: Counter<'code'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'hexproxy_' });
    this.upstreamRequests = new Counter({
      name: 'hexproxy_upstream_requests_total',
      help: 'Requests hexproxy made upstream, by outcome (each retry counts).',
      labelNames: ['outcome'],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: 'hexproxy_upstream_request_duration_seconds',
      help: 'Time to upstream response headers.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.errors = new Counter({ name: 'hexproxy_errors_total', help: 'Error responses by x-hexproxy-error code.', labelNames: ['code'], registers });
    // Both gauges from one read of the index per scrape: entries' collect() runs first
    // (registration order) and sets the bytes too.
    const cacheBytes = new Gauge({
      name: 'hexproxy_cache_bytes',
      help: 'Bytes of cached files on disk, by kind.',
      labelNames: ['kind'],
      registers: [],
    });
    new Gauge({
      name: 'hexproxy_cache_entries',
      help: 'Entries in the cache index, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        const totals = {
          tarball: sources.index.tarballTotals(),
          registry: sources.index.registryTotals(),
          passthrough: sources.index.passthroughTotals(),
        };
        for (const [kind, { count, bytes }] of Object.entries(totals)) {
          this.set({ kind }, count);
          cacheBytes.set({ kind }, bytes);
        }
      },
    });
    this.registry.registerMetric(cacheBytes);
    new Gauge({
      name: 'hexproxy_memory_cache_bytes',
      help: 'Bytes held by the in-memory caches, by cache.',
      labelNames: ['cache'],
      registers,
      collect() {
        for (const [cache, bytes] of Object.entries(sources.memoryBytes())) this.set({ cache }, bytes);
      },
    });
    const fetchBytes = sources.registryFetchBytes;
    if (fetchBytes) {
      new Gauge({
        name: 'hexproxy_registry_fetch_bytes',
        help: 'Bytes held by registry files being fetched from upstream and inflated, against cache.registryFetchMemoryBytes.',
        registers,
        collect() {
          this.set(fetchBytes());
        },
      });
    }
    const policy = sources.policy;
    if (policy) {
      new Gauge({
        name: 'hexproxy_policy_generation',
        help: 'Policy reloads since start (0: the policy hexproxy started with).',
        registers,
        collect() {
          this.set(policy().generation);
        },
      });
      new Gauge({
        name: 'hexproxy_policy_hidden',
        help: "What the policy's latest filtered /versions left out, by repository: blocked releases, packages left with none, packages whose file could not be had.",
        labelNames: ['repository', 'what'],
        registers,
        collect() {
          for (const [repository, figures] of Object.entries(policy().repositories)) {
            for (const what of ['releases', 'packages', 'unavailable'] as const) this.set({ repository, what }, figures[what]);
          }
        },
      });
    }
    new Gauge({
      name: 'hexproxy_upstream_up',
      help: 'Whether the upstream answered lately: 1 online, 0 offline, -1 not asked yet.',
      registers,
      collect() {
        const state = sources.health.state;
        this.set(state === 'online' ? 1 : state === 'offline' ? 0 : -1);
      },
    });
  }

  /** One answered request: called by the hot path and by the routes, once each. */
  served(route: Route, method: string, status: number, seconds: number, bytes: number): void {
    this.hot.served(route, method, status, seconds, bytes);
  }

  cache(kind: CacheKind, result: string): void {
    this.hot.cache(kind, result);
  }

  upstream(outcome: UpstreamOutcome, seconds: number): void {
    this.upstreamRequests.inc({ outcome });
    this.upstreamDuration.observe({ outcome }, seconds);
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  // Publishing to hosted repositories (issue 17). Repository labels are the configured hosted
  // repositories; reasons are error codes, a bad upload split by what was wrong with it.
  private readonly publishes = new Counter({
    name: 'hexproxy_hosted_publishes_total',
    help: 'Releases published to hosted repositories, by repository and result (created, replaced).',
    labelNames: ['repository', 'result'],
    registers: [this.registry],
  });
  private readonly publishRefusals = new Counter({
    name: 'hexproxy_hosted_publish_refusals_total',
    help: 'Publishes to hosted repositories refused, by repository and reason (unauthorized, forbidden, invalid_tarball, invalid_metadata, dependency, dependency_unchecked, release_exists, release_locked, …).',
    labelNames: ['repository', 'reason'],
    registers: [this.registry],
  });

  published(repository: string, result: 'created' | 'replaced'): void {
    this.publishes.inc({ repository, result });
  }

  publishRefused(repository: string, reason: string): void {
    this.publishRefusals.inc({ repository, reason });
  }

  async text(): Promise<string> {
    return `${this.hot.render()}${await this.registry.metrics()}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

interface RouteSeries {
  /** Non-cumulative counts per bucket of DURATION_BUCKETS, then +Inf. */
  buckets: number[];
  sum: number;
  count: number;
  bytes: number;
}

/**
 * The per-request series (requests, durations, bytes, cache results), kept as plain
 * numbers and written out at scrape time. prom-client hashes label sets on every inc()
 * and observe(), even through labels() children: on warm /packages requests that cost
 * 20% of throughput (wrk, 40,000 against 50,000 req/s). Everything else uses prom-client.
 */
class HotCounters {
  private readonly requests = new Map<string, { route: string; method: string; status: number; count: number }>();
  private readonly routes = new Map<string, RouteSeries>();
  private readonly cacheResults = new Map<string, { kind: string; result: string; count: number }>();

  served(route: Route, method: string, status: number, seconds: number, bytes: number): void {
    const key = `${route} ${method} ${status}`;
    const request = this.requests.get(key);
    if (request) request.count += 1;
    else this.requests.set(key, { route, method, status, count: 1 });
    let series = this.routes.get(route);
    if (!series) this.routes.set(route, (series = { buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0, bytes: 0 }));
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket += 1;
    series.buckets[bucket] = (series.buckets[bucket] ?? 0) + 1;
    series.sum += seconds;
    series.count += 1;
    series.bytes += bytes;
  }

  cache(kind: string, result: string): void {
    const key = `${kind} ${result}`;
    const entry = this.cacheResults.get(key);
    if (entry) entry.count += 1;
    else this.cacheResults.set(key, { kind, result, count: 1 });
  }

  render(): string {
    const lines: string[] = [
      '# HELP hexproxy_http_requests_total HTTP requests answered, by route, method and status.',
      '# TYPE hexproxy_http_requests_total counter',
      ...[...this.requests.values()].map(
        (r) => `hexproxy_http_requests_total{route="${r.route}",method="${escapeLabel(r.method)}",status="${r.status}"} ${r.count}`,
      ),
      '# HELP hexproxy_http_request_duration_seconds Time from a request to its response headers being written (streamed bodies not included).',
      '# TYPE hexproxy_http_request_duration_seconds histogram',
    ];
    for (const [route, series] of this.routes) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += series.buckets[i] ?? 0;
        lines.push(`hexproxy_http_request_duration_seconds_bucket{le="${le}",route="${route}"} ${cumulative}`);
      });
      lines.push(`hexproxy_http_request_duration_seconds_bucket{le="+Inf",route="${route}"} ${series.count}`);
      lines.push(`hexproxy_http_request_duration_seconds_sum{route="${route}"} ${series.sum}`);
      lines.push(`hexproxy_http_request_duration_seconds_count{route="${route}"} ${series.count}`);
    }
    lines.push(
      '# HELP hexproxy_http_response_bytes_total Response body bytes sent (by Content-Length), by route.',
      '# TYPE hexproxy_http_response_bytes_total counter',
      ...[...this.routes].map(([route, series]) => `hexproxy_http_response_bytes_total{route="${route}"} ${series.bytes}`),
      '# HELP hexproxy_cache_requests_total Client requests answered by the cache: hit, miss (fetched), revalidated, stale (upstream failing).',
      '# TYPE hexproxy_cache_requests_total counter',
      ...[...this.cacheResults.values()].map((c) => `hexproxy_cache_requests_total{kind="${c.kind}",result="${c.result}"} ${c.count}`),
    );
    return `${lines.join('\n')}\n\n`;
  }
}

/** Methods come from clients: anything odd is escaped as the exposition format says. */
const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
