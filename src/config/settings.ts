// Every configuration key, with its CLI flag, environment variable and default: the one
// table the loader, the CLI and docs/configuration.md (made from it: npm run docs:config)
// are kept in line with.
import { join } from 'node:path';
import { elixirPublicKeyFile, hexpmPublicKeyFile } from '../paths.js';

export type SettingKind = 'string' | 'integer' | 'boolean' | 'path' | 'url' | 'list';

export interface Setting {
  /** Dotted path in the config file, e.g. "upstream.timeoutMs". */
  key: string;
  /** Long CLI flag without dashes; the environment variable is HEXPROXY_ + its upper snake case. */
  flag: string;
  kind: SettingKind;
  /** Undefined where the default is derived from other keys (see load.ts). */
  default: string | number | boolean | readonly string[] | undefined;
  description: string;
  /** Only `serve` offers the flag (the other commands do not listen). */
  serveOnly?: true;
}

const MiB = 1024 * 1024;

export const settings: readonly Setting[] = [
  { key: 'host', flag: 'host', kind: 'string', default: '0.0.0.0', description: 'Address to listen on.', serveOnly: true },
  { key: 'port', flag: 'port', kind: 'integer', default: 4000, description: 'Port to listen on (0 picks a free one).', serveOnly: true },
  {
    key: 'dataDir',
    flag: 'data-dir',
    kind: 'path',
    default: './data',
    description: 'Directory for the SQLite index, cached files and, by default, the key pair.',
  },
  { key: 'offline', flag: 'offline', kind: 'boolean', default: false, description: 'Never contact upstream; serve only what is cached.' },
  { key: 'logLevel', flag: 'log-level', kind: 'string', default: 'info', description: 'fatal, error, warn, info, debug, trace or silent.' },
  {
    key: 'accessLog',
    flag: 'access-log',
    kind: 'string',
    default: 'all',
    description:
      'Which requests get an access line (`msg: "request"`, at info): `all`; `misses`, all but those answered from the cache (`x-hexproxy-cache: HIT`); or `off`. The other info lines stay either way.',
    serveOnly: true,
  },
  { key: 'upstream.url', flag: 'upstream-url', kind: 'url', default: 'https://repo.hex.pm', description: 'Base URL of the upstream Hex repository.' },
  {
    key: 'upstream.apiUrl',
    flag: 'upstream-api-url',
    kind: 'url',
    default: 'https://hex.pm/api',
    description:
      "Base URL of the upstream Hex HTTP API. hexproxy relays the public repository's package information from it (GET /api/packages/NAME, its releases, and searches: what `mix hex.info` and `mix hex.package search` ask), cached like registry files and served stale when it fails; never asked --offline. Its answers are information only: nothing in them reaches the registry hexproxy serves.",
  },
  {
    key: 'upstream.publicKey',
    flag: 'upstream-public-key',
    kind: 'path',
    default: hexpmPublicKeyFile,
    description: "PEM file of the upstream's public key, used to verify every registry file (default: hex.pm's key shipped in keys/).",
  },
  {
    key: 'upstream.repository',
    flag: 'upstream-repository',
    kind: 'string',
    default: 'hexpm',
    description: 'Repository name upstream payloads must carry; clients check the same name.',
  },
  {
    key: 'upstream.timeoutMs',
    flag: 'upstream-timeout-ms',
    kind: 'integer',
    default: 15000,
    description: 'Give up on upstream when connecting, waiting for response headers, or waiting for the next body chunk takes longer than this.',
  },
  {
    key: 'upstream.minBytesPerSecond',
    flag: 'upstream-min-bytes-per-second',
    kind: 'integer',
    default: 32 * 1024,
    description:
      'Once upstream.timeoutMs has passed since a request began, its body must have arrived at an average of at least this many bytes per second, or it is abandoned with 504: with a Content-Length, a body must arrive within upstream.timeoutMs + length / this rate. Against upstreams that drip a byte at a time. Applies to the builds server too.',
  },
  {
    key: 'upstream.retries',
    flag: 'upstream-retries',
    kind: 'integer',
    default: 2,
    description:
      'Retries of a failed upstream request (connection error, 5xx, 429; not a timeout or a DNS failure), with exponential backoff; a Retry-After of up to 10 s is honoured.',
  },
  {
    key: 'upstream.cooldownSeconds',
    flag: 'upstream-cooldown-seconds',
    kind: 'integer',
    default: 30,
    description:
      'After 3 upstream requests in a row fail, treat upstream as offline for this long (serve from cache, ask nothing), then try again. 0: never.',
  },
  {
    key: 'installs.url',
    flag: 'installs-url',
    kind: 'url',
    default: 'https://builds.hex.pm',
    description:
      'Base URL of the builds server that /installs/* (Hex and rebar3 builds for `mix local.hex`, `mix local.rebar` and the Hex update check) is fetched from.',
  },
  {
    key: 'installs.timeoutMs',
    flag: 'installs-timeout-ms',
    kind: 'integer',
    default: 15000,
    description: 'Like upstream.timeoutMs, for the builds server.',
  },
  {
    key: 'installs.publicKey',
    flag: 'installs-public-key',
    kind: 'path',
    default: elixirPublicKeyFile,
    description:
      "PEM file of the key the builds server's lists are signed with, used to verify each list with its .signed file (default: Elixir's key shipped in keys/, which Mix checks them with).",
  },
  {
    key: 'http.headersTimeoutMs',
    flag: 'headers-timeout-ms',
    kind: 'integer',
    default: 10000,
    description: 'Time a client has to send its request headers (against slowloris).',
    serveOnly: true,
  },
  {
    key: 'http.requestTimeoutMs',
    flag: 'request-timeout-ms',
    kind: 'integer',
    default: 30000,
    description: 'Time a client has to send its whole request.',
    serveOnly: true,
  },
  {
    key: 'http.sendTimeoutMs',
    flag: 'send-timeout-ms',
    kind: 'integer',
    default: 60000,
    description:
      'A response that makes no progress for this long because the client stopped reading is abandoned and its connection closed (within a tenth of this after it). Time spent waiting on upstream does not count.',
    serveOnly: true,
  },
  {
    key: 'http.keepAliveTimeoutMs',
    flag: 'keep-alive-timeout-ms',
    kind: 'integer',
    default: 5000,
    description: 'How long an idle keep-alive connection is kept open.',
    serveOnly: true,
  },
  {
    key: 'http.trustedProxies',
    flag: 'trusted-proxies',
    kind: 'list',
    default: [],
    description:
      'Reverse proxies (addresses or CIDR blocks, comma-separated on the command line) whose X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto are believed. From any other peer they are ignored, and the socket address is the client.',
    serveOnly: true,
  },
  {
    key: 'tls.cert',
    flag: 'tls-cert',
    kind: 'path',
    default: undefined,
    description:
      'PEM file of the TLS certificate (then any intermediate certificates): with tls.key, hexproxy serves HTTPS instead of HTTP on its port. Both files are read again on SIGHUP, and a pair that does not match keeps the previous one serving (docs/https.md).',
    serveOnly: true,
  },
  {
    key: 'tls.key',
    flag: 'tls-key',
    kind: 'path',
    default: undefined,
    description: "PEM file of the TLS certificate's private key, without a passphrase; with tls.cert.",
    serveOnly: true,
  },
  {
    key: 'auth.requireToken',
    flag: 'require-token',
    kind: 'boolean',
    default: false,
    description: 'Every client needs a token, for the public repository too (by default anonymous clients may read it).',
    serveOnly: true,
  },
  {
    key: 'auth.tokensFile',
    flag: 'tokens-file',
    kind: 'path',
    default: undefined,
    description: 'JSON file of client tokens (hashes only), written by `hexproxy token`. Default (or null): DATA_DIR/tokens.json.',
  },
  {
    key: 'auth.failuresPerMinute',
    flag: 'auth-failures-per-minute',
    kind: 'integer',
    default: 30,
    description:
      'Failed authentication attempts allowed per client address per minute; past them its unknown tokens get 429 (valid tokens still work).',
    serveOnly: true,
  },
  {
    key: 'metrics.requireToken',
    flag: 'metrics-require-token',
    kind: 'boolean',
    default: undefined,
    description:
      '/metrics needs a token with the metrics right (or admin rights). Default: true when auth.requireToken is on or organizations or hosted repositories are configured, else false.',
    serveOnly: true,
  },
  {
    key: 'keys.privateKey',
    flag: 'private-key',
    kind: 'path',
    default: undefined,
    description:
      "hexproxy's RSA private key (PEM). Default (or null): DATA_DIR/keys/hexproxy_private.pem, where the first start generates one; any other path must hold a key (make one with hexproxy keygen).",
  },
  {
    key: 'keys.publicKey',
    flag: 'public-key',
    kind: 'path',
    default: undefined,
    description: 'Where hexproxy writes its public key for clients. Default (or null): DATA_DIR/keys/hexproxy_public.pem.',
  },
  {
    key: 'cache.registryTtlSeconds',
    flag: 'registry-ttl-seconds',
    kind: 'integer',
    default: 300,
    description: 'How long a registry file (or an /installs CSV list) is served before it is revalidated upstream.',
  },
  {
    key: 'cache.notFoundTtlSeconds',
    flag: 'not-found-ttl-seconds',
    kind: 'integer',
    default: 60,
    description:
      'How long an upstream 404 for a registry file, or a release missing from its package, is remembered (in memory); also how long after the builds server could not be reached for an /installs list it is not asked for that list again.',
  },
  {
    key: 'cache.memoryMaxBytes',
    flag: 'memory-cache-bytes',
    kind: 'integer',
    default: 64 * MiB,
    description: 'Bound of the in-memory cache of hot registry responses.',
  },
  {
    key: 'cache.memoryTarballBytes',
    flag: 'memory-tarball-bytes',
    kind: 'integer',
    default: 128 * MiB,
    description: 'Bound of the in-memory copies of hot tarballs of up to 1 MiB, served with no disk I/O; 0 keeps none.',
  },
  {
    key: 'cache.maxTarballBytes',
    flag: 'max-tarball-bytes',
    kind: 'integer',
    default: 128 * MiB,
    description: 'Largest package tarball (or docs or installs file) hexproxy will fetch.',
  },
  {
    key: 'cache.maxCacheBytes',
    flag: 'max-cache-bytes',
    kind: 'integer',
    default: 0,
    description: 'Bound on the bytes of cached tarballs; the least recently used unpinned ones are evicted in the background. 0: no bound.',
  },
  {
    key: 'cache.maxRegistryBytes',
    flag: 'max-registry-bytes',
    kind: 'integer',
    default: 256 * MiB,
    description: 'Largest registry file accepted, compressed or decompressed (guards against gzip bombs).',
  },
  {
    key: 'cache.registryFetchMemoryBytes',
    flag: 'registry-fetch-memory-bytes',
    kind: 'integer',
    default: 128 * MiB,
    description:
      'Bound on the memory that registry files being fetched from upstream and inflated take at once, shared by all requests and repositories; compressed and inflated bytes both count. When it is full, the file holding the most is stopped with 503; one needing more than this on its own is refused with 502.',
  },
];

export const envName = (setting: Setting): string => `HEXPROXY_${setting.flag.toUpperCase().replaceAll('-', '_')}`;

/** The config file may also be named by HEXPROXY_CONFIG or --config. */
export const configFileEnv = 'HEXPROXY_CONFIG';

/** An organization's upstream key from the environment (load.ts reads it): HEXPROXY_ORG_<NAME>_AUTH_KEY. */
export const orgAuthKeyEnv = (organization: string): string => `HEXPROXY_ORG_${organization.toUpperCase()}_AUTH_KEY`;

/** The public repository's upstream credential from the environment (load.ts reads it): a central hexproxy's token. */
export const upstreamAuthKeyEnv = 'HEXPROXY_UPSTREAM_AUTH_KEY';

/** Where keys.privateKey and keys.publicKey are unless set: the only place hexproxy makes a key pair by itself. */
export const defaultKeyFiles = (dataDir: string): { privateKey: string; publicKey: string } => ({
  privateKey: join(dataDir, 'keys', 'hexproxy_private.pem'),
  publicKey: join(dataDir, 'keys', 'hexproxy_public.pem'),
});
