// The one place that wires hexproxy together: config in, a running service out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.js';
import { defaultKeyFiles, orgAuthKeyEnv } from './config/settings.js';
import { ConfigError, errorMessage } from './errors.js';
import { AccessControl } from './auth/access-control.js';
import { Metrics, type UpstreamOutcome } from './metrics/metrics.js';
import { TokenStore } from './auth/token-store.js';
import { createHttpApp, type UiMount } from './http/app.js';
import { withFastPath } from './http/fast-path.js';
import { TrustedProxies } from './http/client-address.js';
import { installSendTimeout } from './http/send-timeout.js';
import { InstallsMirror } from './installs/installs-mirror.js';
import { findKeyPair, settleKeyPair, type KeyPair } from './keys/keypair.js';
import { readPublicKeyFile } from './keys/public-key-file.js';
import type { Logger } from './log.js';
import { CacheEvictor } from './cache/evictor.js';
import { organizationPrefix } from './cache/layout.js';
import { HexRepository } from './mirror/hex-repository.js';
import { PassthroughMirror } from './mirror/passthrough-mirror.js';
import { PolicyView } from './mirror/policy-view.js';
import { ActivePolicy, type Clock } from './policy/active-policy.js';
import { configuredPolicy } from './config/policy.js';
import { boundedRegistryFetcher, checkLocks } from './ops/policy-check.js';
import { rebarLookupOrder, servedRepositories } from './ops/repositories.js';
import { RegistryMirror } from './mirror/registry-mirror.js';
import { TarballMirror } from './mirror/tarball-mirror.js';
import { UsageRecorder } from './mirror/usage-recorder.js';
import { projectRoot } from './paths.js';
import { publicKeyPem } from './registry/signature.js';
import { createLimiter } from './util/concurrency.js';
import { CacheIndex } from './store/cache-index.js';
import { FsBlobStore } from './store/fs-blob-store.js';
import { checkUsableDirectory, octal, securePrivateDirectory, type DataDirectoryState } from './store/private-files.js';
import { reconcileInBackground } from './cache/reconcile.js';
import { upstreamClientFor } from './upstream/network-mode.js';
import type { UpstreamClient } from './upstream/upstream-client.js';
import { MemoryBudget } from './upstream/memory-budget.js';
import { UpstreamHealth } from './upstream/health.js';
import { RecentErrors } from './ui/recent-errors.js';
import { createUiRoutes, type UiDependencies } from './ui/routes.js';

export interface Hexproxy {
  config: Readonly<Config>;
  keys: KeyPair;
  upstreamKey: KeyObject;
  /** The builds server's key (installs.publicKey): build lists must verify with it. */
  installsKey: KeyObject;
  repository: HexRepository;
  registry: RegistryMirror;
  tarballs: TarballMirror;
  installs: InstallsMirror;
  evictor: CacheEvictor;
  http: ReturnType<typeof createHttpApp>;
  access: AccessControl;
  metrics: Metrics;
  health: UpstreamHealth;
  index: CacheIndex;
  blobs: FsBlobStore;
  log: Logger;
  /** The policy in force (config key policy). */
  policy: ActivePolicy;
  /** Every repository served (the public one, then organizations) with its mirrors. */
  repositories: ReadonlyMap<string, { registry: RegistryMirror; tarballs: TarballMirror }>;
  /** Puts a new policy section in force; throws ConfigError, keeping the old one, if it does not compile. */
  replacePolicy(policy: Config['policy']): void;
  /** Reads the configuration again and puts its policy in force (SIGHUP, POST /api/admin/policy/reload). */
  reloadPolicy(): void;
  /** Starts building the policy's filtered /names and /versions in the background. */
  warmPolicyViews(): void;
  close(): Promise<void>;
}

export interface HexproxyOptions {
  /** Milliseconds since the epoch; the policy's minimum release age is measured with it. */
  clock?: Clock;
  /** Reads the configuration again (config file, environment, flags): what SIGHUP and the admin API reload the policy from. */
  reloadConfig?: () => Readonly<Config>;
}

const EVICTION_INTERVAL_MS = 10_000;

// POST /api/policy/check's bounds (README, "Policies"). Large applications lock a few hundred
// packages; 500 leaves room while keeping one request's worst case at 500 package files.
// Each request fetches 4 at a time, all requests together 8, so one large check cannot take
// every slot and leave others waiting behind it.
const POLICY_CHECK = { maxPackages: 500, perRequest: 4, upstreamSlots: 8 } as const;

const userAgent = `hexproxy/${readVersion()} (+https://github.com/hexproxy)`;

export async function createHexproxy(config: Readonly<Config>, log: Logger, options: HexproxyOptions = {}): Promise<Hexproxy> {
  // Everything that can be wrong with the configuration is found before anything is
  // written: every key file, the policy, the data directory, the signing key. A bad value
  // must not leave a data directory, a new key pair or an index behind.
  const upstreamKey = readPublicKeyFile(config.upstream.publicKey, 'upstream.publicKey');
  const installsKey = readPublicKeyFile(config.installs.publicKey, 'installs.publicKey');
  const organizationKeys = new Map(Object.entries(config.organizations).map(([name, org]) => [
    name, org.publicKey ? readPublicKeyFile(org.publicKey, `organizations.${name}.publicKey`) : upstreamKey,
  ]));
  const policy = new ActivePolicy(configuredPolicy(config), options.clock);
  checkUsableDirectory(config.dataDir);
  const foundKeys = findKeyPair(config.keys, defaultKeyFiles(config.dataDir));
  warnAboutOrganizations(config, log);
  // Then the writes: the data directory, the key pair, the stores.
  logDataDirectory(config.dataDir, securePrivateDirectory(config.dataDir), log);
  const { keys, created } = settleKeyPair(config.keys, foundKeys);
  if (created) log.info({ privateKey: keys.privateKeyFile, publicKey: keys.publicKeyFile, fingerprint: keys.fingerprint }, 'generated a new signing key pair');
  const blobs = await FsBlobStore.create(config.dataDir);
  const index = new CacheIndex(join(config.dataDir, 'hexproxy.db'));
  const health = new UpstreamHealth(log, config.upstream.url, config.upstream.cooldownSeconds * 1000);
  // The in-memory caches are created below; the gauge reads them when scraped.
  const memory: { registry?: RegistryMirror; tarballs?: TarballMirror; policy?: ActivePolicy; served?: ReadonlyMap<string, HexRepository> } = {};
  // One budget for every repository's registry files being fetched: a hostile upstream
  // answering many of them at once cannot take more memory than this.
  const fetchBudget = new MemoryBudget(config.cache.registryFetchMemoryBytes, 'cache.registryFetchMemoryBytes');
  const metrics = new Metrics({
    index, health,
    registryFetchBytes: () => fetchBudget.used,
    memoryBytes: () => ({ registry: memory.registry?.memoryBytes() ?? 0, tarballs: memory.tarballs?.memoryBytes() ?? 0 }),
    policy: () => ({
      generation: memory.policy?.generation ?? 0,
      repositories: Object.fromEntries([...(memory.served ?? [])].map(([name, served]) => [name, served.policyFigures()])),
    }),
  });
  const observe = (outcome: UpstreamOutcome, seconds: number): void => metrics.upstream(outcome, seconds);
  const upstream = upstreamClientFor(config.offline, {
    baseUrl: config.upstream.url, timeoutMs: config.upstream.timeoutMs, minBytesPerSecond: config.upstream.minBytesPerSecond,
    retries: config.upstream.retries, userAgent, health, observe,
  });
  const shared = { upstream, index, blobs, log, fetchBudget };
  const registry = new RegistryMirror({
    ...shared,
    repo: config.upstream.repository,
    upstreamKey,
    signingKey: keys.privateKey,
    ttlMs: config.cache.registryTtlSeconds * 1000,
    notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
    memoryMaxBytes: config.cache.memoryMaxBytes,
    maxRegistryBytes: config.cache.maxRegistryBytes,
  });
  const tarballs = new TarballMirror({
    ...shared,
    repo: config.upstream.repository,
    registry,
    maxTarballBytes: config.cache.maxTarballBytes,
    notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
    memoryBytes: config.cache.memoryTarballBytes,
  });
  memory.registry = registry;
  memory.tarballs = tarballs;
  const passthrough = new PassthroughMirror({ ...shared, ttlMs: config.cache.registryTtlSeconds * 1000, maxBytes: config.cache.maxTarballBytes });
  // The builds server is a second upstream, with its own health: one being down says nothing of the other.
  const buildsHealth = new UpstreamHealth(log, config.installs.url, config.upstream.cooldownSeconds * 1000, 'the builds server');
  const builds = upstreamClientFor(config.offline, {
    baseUrl: config.installs.url, timeoutMs: config.installs.timeoutMs, timeoutSetting: 'installs.timeoutMs', minBytesPerSecond: config.upstream.minBytesPerSecond,
    retries: config.upstream.retries, userAgent, health: buildsHealth, name: 'the builds server',
  });
  const installs = new InstallsMirror({
    upstream: builds, index, blobs, log,
    ttlMs: config.cache.registryTtlSeconds * 1000,
    unreachableTtlMs: config.cache.notFoundTtlSeconds * 1000,
    maxBytes: config.cache.maxTarballBytes,
    listKey: installsKey,
    listKeyFile: config.installs.publicKey,
  });
  const usage = new UsageRecorder(index, log);
  const viewOf = (repo: string, mirror: RegistryMirror, memoryMaxBytes: number): PolicyView => new PolicyView({
    repo, registry: mirror, policy, signingKey: keys.privateKey, log, memoryMaxBytes,
    indexMaxAgeMs: Math.max(60_000, config.cache.registryTtlSeconds * 1000),
  });
  const repository = new HexRepository(registry, tarballs, passthrough, installs, keys, usage, config.upstream.repository, publicKeyPem(upstreamKey),
    viewOf(config.upstream.repository, registry, Math.floor(config.cache.memoryMaxBytes / 2)), '', metrics);
  // Each organization: its own upstream path and credentials, key, cache namespace (the
  // repo column and blob keys) and in-memory LRU; private tarballs are not kept in memory.
  const organizations = new Map<string, HexRepository>();
  const mirrors = new Map<string, { registry: RegistryMirror; tarballs: TarballMirror }>([[config.upstream.repository, { registry, tarballs }]]);
  const organizationClients: UpstreamClient[] = [];
  for (const [name, org] of Object.entries(config.organizations)) {
    const orgKey = organizationKeys.get(name) ?? upstreamKey;
    const client = upstreamClientFor(config.offline, {
      baseUrl: `${config.upstream.url.replace(/\/+$/, '')}/repos/${name}`,
      timeoutMs: config.upstream.timeoutMs, minBytesPerSecond: config.upstream.minBytesPerSecond, retries: config.upstream.retries, userAgent, health, observe,
      ...(org.authKey !== undefined && { headers: { authorization: org.authKey } }),
      refusedHint: org.authKey === undefined
        ? `organization ${name} has no auth key; set ${orgAuthKeyEnv(name)} (or organizations.${name}.authKey)`
        : `check organizations.${name}.authKey (${orgAuthKeyEnv(name)}): hex.pm refuses a key that is unknown, revoked or may not read ${name}`,
    });
    organizationClients.push(client);
    const orgShared = { ...shared, upstream: client };
    const orgRegistry = new RegistryMirror({
      ...orgShared,
      repo: name,
      upstreamKey: orgKey,
      signingKey: keys.privateKey,
      ttlMs: config.cache.registryTtlSeconds * 1000,
      notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
      memoryMaxBytes: Math.max(1024 * 1024, Math.floor(config.cache.memoryMaxBytes / 8)),
      maxRegistryBytes: config.cache.maxRegistryBytes,
    });
    const orgTarballs = new TarballMirror({
      ...orgShared,
      repo: name,
      registry: orgRegistry,
      maxTarballBytes: config.cache.maxTarballBytes,
      notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
      memoryBytes: 0,
    });
    // Private docs: cached under passthrough/repos/ORG/, fetched with the organization's client.
    const orgDocs = new PassthroughMirror({ ...orgShared, ttlMs: config.cache.registryTtlSeconds * 1000, maxBytes: config.cache.maxTarballBytes, pathPrefix: organizationPrefix(name) });
    mirrors.set(name, { registry: orgRegistry, tarballs: orgTarballs });
    organizations.set(name, new HexRepository(orgRegistry, orgTarballs, orgDocs, installs, keys, usage, name, publicKeyPem(orgKey),
      viewOf(name, orgRegistry, Math.max(1024 * 1024, Math.floor(config.cache.memoryMaxBytes / 16))), organizationPrefix(name), metrics));
  }
  memory.policy = policy;
  // Every repository served, the public one first: what the policy's metrics and warm-up walk.
  const served = new Map<string, HexRepository>([[config.upstream.repository, repository], ...organizations]);
  memory.served = served;
  const access = new AccessControl({
    tokens: new TokenStore(config.auth.tokensFile),
    publicRepository: config.upstream.repository,
    requireToken: config.auth.requireToken,
    failuresPerMinute: config.auth.failuresPerMinute,
  });
  // The filtered /versions of a large repository takes seconds to build the first time: built ahead of clients.
  const warmPolicyViews = (): void => {
    if (!policy.current.active) return;
    for (const [name, one] of served) {
      one.warmPolicyView().catch((error: unknown) => log.warn({ repo: name, err: errorMessage(error) }, 'policy: could not build the filtered /names and /versions ahead of clients'));
    }
  };
  const replacePolicy = (section: Config['policy']): void => {
    policy.replace(configuredPolicy({ ...config, policy: section }));
    log.info({ generation: policy.generation, active: policy.current.active }, 'policy replaced');
    warmPolicyViews();
  };
  const reloadPolicy = (): void => {
    if (!options.reloadConfig) throw new ConfigError('hexproxy was started without a configuration to reload the policy from');
    replacePolicy(options.reloadConfig().policy);
  };
  // Checks may be anonymous: the package files they fetch wait for slots shared by all of them.
  const policyCheckFetcher = boundedRegistryFetcher(mirrors, createLimiter(POLICY_CHECK.upstreamSlots));
  const http = createHttpApp({
    repository, repositoryName: config.upstream.repository, organizations, access, log,
    trustedProxies: new TrustedProxies(config.http.trustedProxies), metricsRequireToken: config.metrics.requireToken,
    admin: { access, index, blobs, health, repositories: mirrors, publicRepository: config.upstream.repository, policy, reloadPolicy },
    policyCheck: {
      access, publicRepository: config.upstream.repository,
      check: (lock, mayRead) => checkLocks({
        locks: [lock], policy: policy.current, publicRepository: config.upstream.repository, lookupOrder: rebarLookupOrder(servedRepositories(mirrors, config.upstream.repository)),
        fetchPackage: policyCheckFetcher, now: Math.floor(policy.nowMs() / 1000), mayRead,
        concurrency: POLICY_CHECK.perRequest, maxPackages: POLICY_CHECK.maxPackages,
      }),
    },
    metrics,
    readiness: () => ({ database: index.healthy(), signingKey: keys.privateKey.asymmetricKeyType === 'rsa' }),
    ui: uiMount({
      access, index, health, keys, publicRepository: config.upstream.repository, repositories: mirrors,
      upstreamUrl: config.upstream.url, offline: config.offline, maxCacheBytes: config.cache.maxCacheBytes,
      errors: new RecentErrors(config.upstream.repository), log, version: readVersion(), policy,
    }),
  });
  const evictor = new CacheEvictor(index, blobs, config.cache.maxCacheBytes, log, (row) => tarballs.forget(row.name, row.version));
  let closing: Promise<void> | undefined;
  return {
    config, keys, upstreamKey, installsKey, repository, registry, tarballs, installs, evictor, http, health, index, blobs, log, access, metrics, policy, repositories: mirrors,
    replacePolicy, reloadPolicy, warmPolicyViews,
    close() {
      closing ??= (async () => {
        evictor.stop();
        // Tarballs already answered but still being written: let them land before the index closes.
        await tarballs.drain();
        usage.stop();
        await upstream.close();
        for (const client of organizationClients) await client.close();
        await builds.close();
        index.close();
      })();
      return closing;
    },
  };
}

export interface RunningServer {
  hexproxy: Hexproxy;
  httpServer: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startServer(config: Readonly<Config>, log: Logger, options: HexproxyOptions = {}): Promise<RunningServer> {
  const hexproxy = await createHexproxy(config, log, options);
  hexproxy.evictor.start(EVICTION_INTERVAL_MS);
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>((resolve, reject) => {
    const server = createServer(
      // Node checks the header and request timeouts only this often (30 s by default).
      { connectionsCheckingInterval: Math.min(1000, config.http.headersTimeoutMs) },
      withFastPath(hexproxy.repository, hexproxy.access.anonymousMayRead(config.upstream.repository), log, getRequestListener(hexproxy.http.fetch, { hostname: config.host }), hexproxy.metrics),
    );
    server.listen(config.port, config.host, () => resolve({ server, address: server.address() as AddressInfo }));
    // Slow clients (slowloris) are cut off instead of holding connections forever.
    server.headersTimeout = config.http.headersTimeoutMs;
    server.requestTimeout = Math.max(config.http.requestTimeoutMs, config.http.headersTimeoutMs);
    server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
    installSendTimeout(server, config.http.sendTimeoutMs);
    server.once('error', (error) => reject(new ConfigError(`cannot listen on ${config.host}:${config.port}: ${errorMessage(error)}`, { cause: error })));
  }).catch(async (error: unknown) => {
    await hexproxy.close();
    throw error;
  });
  hexproxy.warmPolicyViews();
  // Crash leftovers: the index and the files are made to agree in the background (src/cache/reconcile.ts).
  void reconcileInBackground({
    index: hexproxy.index, blobs: hexproxy.blobs, log,
    registry: { keyOf: (repo) => hexproxy.repositories.get(repo)?.registry.upstreamKey, maxRegistryBytes: config.cache.maxRegistryBytes },
    stopped: () => !server.listening,
  });
  const host = address.address === '0.0.0.0' || address.address === '::' ? 'localhost' : address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  return {
    hexproxy,
    httpServer: server,
    url,
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await hexproxy.close();
    },
  };
}

/** hex.pm refuses every file of an organization asked for without a key: said once at start, naming the variable to set. */
function warnAboutOrganizations(config: Readonly<Config>, log: Logger): void {
  // Offline (an air-gapped site serving imported files) nothing is asked of hex.pm: no key is needed.
  if (config.offline) return;
  for (const [name, org] of Object.entries(config.organizations)) {
    if (org.authKey !== undefined) continue;
    const env = orgAuthKeyEnv(name);
    log.warn({ organization: name, env },
      `organization ${name} has no auth key, and hex.pm refuses its files without one: set ${env} (or organizations.${name}.authKey in the config file) to a hex.pm key that may read ${name}`);
  }
}

function logDataDirectory(dataDir: string, found: DataDirectoryState, log: Logger): void {
  if (found.state === 'tightened') {
    log.warn({ dataDir, was: octal(found.was), now: octal(found.was & 0o700) },
      `data directory ${dataDir} could be read by other users (mode ${octal(found.was)}); it is now ${octal(found.was & 0o700)}, as it holds private organizations' packages, the cache index and token hashes`);
  } else if (found.state === 'open') {
    log.warn({ dataDir, mode: octal(found.mode), err: found.reason },
      `data directory ${dataDir} can be read by other users (mode ${octal(found.mode)}) and hexproxy cannot change that (${found.reason}); run chmod 700 ${dataDir} as its owner`);
  }
}

function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'dev';
  } catch {
    return 'dev';
  }
}

/** The web UI as the HTTP app mounts it: its routes, and the recent errors it is told of. */
function uiMount(dependencies: UiDependencies): UiMount {
  return { mount: (app, path) => app.route(path, createUiRoutes(dependencies)), errors: dependencies.errors };
}
