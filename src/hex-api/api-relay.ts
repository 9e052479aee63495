// The public repository's package information, relayed from the upstream Hex API
// (upstream.apiUrl): what `mix hex.info` and `mix hex.package search` ask. Answers are
// information only: they are relayed to the client that asked and kept in memory, and
// nothing in them reaches the registry files hexproxy serves or checks releases against.
//
// Upstream is asked in the one format the client gets (Erlang terms or JSON), with no
// credentials at all: never the client's own (Mix may send a hex.pm OAuth token). Answers are
// kept in a bounded in-memory cache keyed by path, query and format, served for
// cache.registryTtlSeconds, then revalidated with the upstream ETag; when upstream fails
// (down, offline, cooling down) the last answer is served stale. A 404 is remembered for
// cache.notFoundTtlSeconds. Each answer must parse (ETF, safely, or JSON) before it is kept.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { NotFoundError, UpstreamUnavailableError, allowsStale, errorMessage } from '../errors.js';
import { SingleFlight } from '../mirror/single-flight.js';
import { readBody } from '../upstream/client.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { decodeTerm } from './etf.js';
import type { HexFormat } from './respond.js';

export type RelayCacheStatus = 'hit' | 'miss' | 'revalidated' | 'stale';

export interface RelayedAnswer {
  body: Buffer;
  /** hexproxy's ETag of the body (upstream's is kept for revalidation only). */
  etag: string;
  cache: RelayCacheStatus;
}

export interface ApiRelayOptions {
  /** One client per format, each asking with that format's Accept and nothing else of the client's. */
  clients: Readonly<Record<HexFormat, UpstreamClient>>;
  ttlMs: number;
  notFoundTtlMs: number;
  /** Largest answer relayed (and kept). */
  maxAnswerBytes: number;
  /** Bound of all answers kept. */
  maxCacheBytes: number;
  now?: () => number;
}

type Entry = { found: true; body: Buffer; etag: string; upstreamEtag: string | undefined; checkedAt: number } | { found: false; checkedAt: number };

// Deeper than any answer hex.pm gives (a package's releases' requirements: about 6 levels).
const MAX_ANSWER_DEPTH = 64;

export class ApiRelay {
  private readonly entries: LRUCache<string, Entry>;
  private readonly flights = new SingleFlight<RelayedAnswer>();
  private readonly now: () => number;

  constructor(private readonly options: ApiRelayOptions) {
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache<string, Entry>({
      maxSize: options.maxCacheBytes,
      sizeCalculation: (entry, key) => key.length + (entry.found ? entry.body.length : 0) + 64,
    });
  }

  /**
   * The answer to `path` (relative to the API's base URL: "packages/jason",
   * "packages?search=json&sort=downloads", already validated and normalised) in `format`.
   * Throws NotFoundError when upstream has none, or the upstream failure when nothing is kept.
   */
  async get(path: string, format: HexFormat): Promise<RelayedAnswer> {
    const key = `${format} ${path}`;
    const cached = this.entries.get(key);
    if (cached && this.now() - cached.checkedAt < (cached.found ? this.options.ttlMs : this.options.notFoundTtlMs)) {
      if (!cached.found) throw notFound(path);
      return { body: cached.body, etag: cached.etag, cache: 'hit' };
    }
    return this.flights.run(key, async () => {
      const kept = cached?.found ? cached : undefined;
      try {
        return await this.fetch(key, path, format, kept);
      } catch (error: unknown) {
        if (error instanceof NotFoundError) {
          this.entries.set(key, { found: false, checkedAt: this.now() });
          throw notFound(path);
        }
        if (kept && allowsStale(error)) return { body: kept.body, etag: kept.etag, cache: 'stale' };
        throw error;
      }
    });
  }

  private async fetch(key: string, path: string, format: HexFormat, kept: Extract<Entry, { found: true }> | undefined): Promise<RelayedAnswer> {
    const client = this.options.clients[format];
    const result = await client.getIfChanged(path, kept?.upstreamEtag ?? null);
    const checkedAt = this.now();
    if (result.status === 304) {
      if (!kept) throw new UpstreamUnavailableError(`the Hex API answered 304 to an unconditional request for /${path}`);
      this.entries.set(key, { ...kept, checkedAt });
      return { body: kept.body, etag: kept.etag, cache: 'revalidated' };
    }
    const body = await readBody(result, this.options.maxAnswerBytes, `the Hex API's /${path}`);
    checkAnswer(body, format, path, this.options.maxAnswerBytes);
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 40)}"`;
    this.entries.set(key, { found: true, body, etag, upstreamEtag: result.etag, checkedAt });
    return { body, etag, cache: kept ? 'revalidated' : 'miss' };
  }
}

const notFound = (path: string): NotFoundError => new NotFoundError(`the Hex API has no /${path}`);

/** An answer is relayed only in the format asked for, and only if it parses as that (ETF safely: no atoms but nil, true, false). */
function checkAnswer(body: Buffer, format: HexFormat, path: string, maxBytes: number): void {
  try {
    if (format === 'erlang') decodeTerm(body, { maxBytes, maxDepth: MAX_ANSWER_DEPTH });
    else JSON.parse(body.toString('utf8'));
  } catch (error: unknown) {
    throw new UpstreamUnavailableError(
      `the Hex API's answer to /${path} is not ${format === 'erlang' ? 'an Erlang term Mix can read' : 'JSON'}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}
