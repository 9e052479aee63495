// The one place that wires hexproxy together: config in, a running service out.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { getRequestListener } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.js';
import { defaultKeyFiles, orgAuthKeyEnv, upstreamAuthKeyEnv } from './config/settings.js';
import { ConfigError, errorMessage } from './errors.js';
import { AccessControl } from './auth/access-control.js';
import { Metrics, type UpstreamOutcome } from './metrics/metrics.js';
import { TokenStore } from './auth/token-store.js';
import { createHttpApp, type UiMount } from './http/app.js';
import type { PolicyCheckDependencies } from './http/policy-routes.js';
import { withFastPath, type NodeListener } from './http/fast-path.js';
import { ContinueChecks } from './http/continue-checks.js';
import { ApiRelay } from './hex-api/api-relay.js';
import { HEX_ERLANG_TYPE, type HexFormat } from './hex-api/respond.js';
import { HitLookup } from './http/hit.js';
import { TrustedProxies } from './http/client-address.js';
import { SendTimeout } from './http/send-timeout.js';
import { readTlsCredentials, warnAboutExpiry, type TlsCredentials } from './http/tls.js';
import { InstallsMirror } from './installs/installs-mirror.js';
import { HostedStore } from './hosted/hosted-store.js';
import { PublishService, type NameGuard } from './hosted/publish.js';
import { publicPackagesOf } from './hex-api/public-packages.js';
import { DocsPages } from './hosted/docs-pages.js';
import { findKeyPair, settleKeyPair, type KeyPair } from './keys/keypair.js';
import { readPublicKeyFile } from './keys/public-key-file.js';
import type { Logger } from './log.js';
import { CacheEvictor } from './cache/evictor.js';
import { organizationPrefix } from './cache/layout.js';
import { UsageRecorder } from './mirror/usage-recorder.js';
import { ActivePolicy, type Clock } from './policy/active-policy.js';
import { configuredPolicy } from './config/policy.js';
import { boundedRegistryFetcher, checkLocks } from './ops/policy-check.js';
import { rebarLookupOrder, servedRepositories } from './ops/repositories.js';
import { projectRoot } from './paths.js';
import { ClientUsage } from './repository/client-usage.js';
import { createRepositories, type RepositoryShared, type RepositorySpec } from './repository/create.js';
import { ShadowGuard } from './repository/shadow-guard.js';
import type { Repository } from './repository/repository.js';
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
  /** Every repository served, by hexproxy's name for it: the public one first, then the organizations, then the hosted repositories, in config order. */
  repositories: ReadonlyMap<string, Repository>;
  /**
   * The hosted repositories' store (DATA_DIR/hosted): what publishing writes to. Undefined
   * when none is configured and none was ever (no DATA_DIR/hosted/hosted.db).
   */
  hosted: HostedStore | undefined;
  /**
   * Resolves when package `name` may be published to hosted repository `repo`; throws
   * NameShadowsUpstreamError (422) for a name upstream has (or cannot say it has not) when
   * `repo` is merged into the root view and hosted.REPO.mayShadow does not list it, or a name
   * another merged repository has. The publishing routes call it before HostedStore.publish.
   */
  mayPublishName(repo: string, name: string): Promise<void>;
  installs: InstallsMirror;
  evictor: CacheEvictor;
  http: ReturnType<typeof createHttpApp>;
  /** What node:http serves: the hot path (fast-path.ts) in front of the routes (`http`). */
  listener: NodeListener;
  /** node:http's 'checkContinue' listener: uploads with `expect: 100-continue` judged before their body (continue-checks.ts). */
  continueListener: NodeListener;
  /** Where upload routes register what is checked before their body is read. */
  continueChecks: ContinueChecks;
  access: AccessControl;
  metrics: Metrics;
  health: UpstreamHealth;
  index: CacheIndex;
  blobs: FsBlobStore;
  log: Logger;
  /** The policy in force (config key policy). */
  policy: ActivePolicy;
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
const MiB = 1024 * 1024;

// The Hex API relay's memory (src/hex-api/api-relay.ts): a package's answer is a few KiB to a
// few hundred (hundreds of releases), a search page of 100 packages up to about 1 MiB.
const API_ANSWER_MAX_BYTES = 8 * MiB;
const API_CACHE_MAX_BYTES = 32 * MiB;

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
  const { upstreamKey, installsKey, organizationKeys } = readConfiguredKeys(config);
  const policy = new ActivePolicy(configuredPolicy(config), options.clock);
  checkUsableDirectory(config.dataDir);
  const foundKeys = findKeyPair(config.keys, defaultKeyFiles(config.dataDir));
  warnAboutOrganizations(config, log);
  warnAboutMergedRepositories(config, log);
  // Then the writes: the data directory, the key pair, the stores.
  logDataDirectory(config.dataDir, securePrivateDirectory(config.dataDir), log);
  const { keys, created } = settleKeyPair(config.keys, foundKeys);
  if (created)
    log.info({ privateKey: keys.privateKeyFile, publicKey: keys.publicKeyFile, fingerprint: keys.fingerprint }, 'generated a new signing key pair');
  const blobs = await FsBlobStore.create(config.dataDir);
  const index = new CacheIndex(join(config.dataDir, 'hexproxy.db'));
  const hosted = await openHostedStore(config, keys.privateKey, log, options.clock);
  const health = new UpstreamHealth(log, config.upstream.url, config.upstream.cooldownSeconds * 1000);
  // Filled below; the metrics read it when scraped.
  const repositories = new Map<string, Repository>();
  // One budget for every repository's registry files being fetched: a hostile upstream
  // answering many of them at once cannot take more memory than this.
  const fetchBudget = new MemoryBudget(config.cache.registryFetchMemoryBytes, 'cache.registryFetchMemoryBytes');
  const metrics = createMetrics(config, { index, health, fetchBudget, policy, repositories });
  const clients = createUpstreamClients(config, log, health, metrics);
  const usage = new ClientUsage(new UsageRecorder(index, log), metrics);
  const shared: RepositoryShared = {
    index,
    blobs,
    log,
    fetchBudget,
    policy,
    usage,
    signingKey: keys.privateKey,
    publicKeyPem: keys.publicKeyPem,
    ttlMs: config.cache.registryTtlSeconds * 1000,
    notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
    maxRegistryBytes: config.cache.maxRegistryBytes,
    maxTarballBytes: config.cache.maxTarballBytes,
    policyIndexMaxAgeMs: Math.max(60_000, config.cache.registryTtlSeconds * 1000),
  };
  for (const [name, repository] of createRepositories(repositorySpecs(config, clients, upstreamKey, organizationKeys, hosted), shared))
    repositories.set(name, repository);
  const root = repositories.get(config.upstream.repository);
  if (!root) throw new ConfigError(`hexproxy serves no repository ${config.upstream.repository}`);
  const shadowGuard = new ShadowGuard({
    publicRepository: config.upstream.repository,
    hosted: config.hosted,
    holds: (repo, name) => hosted?.has(repo, name) ?? false,
    upstream: root.registry,
  });
  const installs = new InstallsMirror({
    upstream: clients.builds,
    index,
    blobs,
    log,
    ttlMs: config.cache.registryTtlSeconds * 1000,
    unreachableTtlMs: config.cache.notFoundTtlSeconds * 1000,
    maxBytes: config.cache.maxTarballBytes,
    listKey: installsKey,
    listKeyFile: config.installs.publicKey,
  });
  const access = new AccessControl({
    tokens: new TokenStore(config.auth.tokensFile),
    publicRepository: config.upstream.repository,
    requireToken: config.auth.requireToken,
    failuresPerMinute: config.auth.failuresPerMinute,
  });
  const { warmPolicyViews, replacePolicy, reloadPolicy } = policyControls(config, policy, repositories, log, options.reloadConfig);
  // One lookup of a hit for both HTTP stacks: headers are prepared once per cached entry for both.
  const registryTtlMs = config.cache.registryTtlSeconds * 1000;
  const hits = new HitLookup(access, registryTtlMs);
  const trustedProxies = new TrustedProxies(config.http.trustedProxies);
  const continueChecks = new ContinueChecks(trustedProxies, log, metrics);
  const http = createHttpApp({
    repositories,
    publicRepository: config.upstream.repository,
    installs,
    hits,
    registryTtlMs,
    access,
    log,
    trustedProxies,
    metricsRequireToken: config.metrics.requireToken,
    admin: { access, index, blobs, health, repositories, publicRepository: config.upstream.repository, policy, reloadPolicy },
    policyCheck: policyCheckDependencies(config, policy, repositories, access),
    apiRelay: new ApiRelay({
      clients: clients.api,
      ttlMs: config.cache.registryTtlSeconds * 1000,
      notFoundTtlMs: config.cache.notFoundTtlSeconds * 1000,
      maxAnswerBytes: API_ANSWER_MAX_BYTES,
      maxCacheBytes: API_CACHE_MAX_BYTES,
    }),
    continueChecks,
    ...(hosted && { hostedApi: { store: hosted, publishing: publishingFor(hosted, repositories, config.upstream.repository, shadowGuard) } }),
    metrics,
    readiness: () => ({ database: index.healthy(), signingKey: keys.privateKey.asymmetricKeyType === 'rsa' }),
    ui: uiMount({
      access,
      index,
      health,
      keys,
      publicRepository: config.upstream.repository,
      repositories,
      upstreamUrl: config.upstream.url,
      offline: config.offline,
      maxCacheBytes: config.cache.maxCacheBytes,
      errors: new RecentErrors(config.upstream.repository),
      log,
      version: readVersion(),
      policy,
      // Hosted repositories in the UI: their packages, and their docs as pages (extracted on demand, bounded).
      hosted,
      tokens: new TokenStore(config.auth.tokensFile),
      docsPages: new DocsPages({ dir: join(config.dataDir, 'docs-pages'), log }),
    }),
  });
  const routes = getRequestListener(http.fetch, { hostname: config.host });
  // The Hono listener answers its own errors (the app's onError); nothing waits for its promise.
  const toRoutes: NodeListener = (request, response) => void routes(request, response);
  const listener = withFastPath(repositories.get(config.upstream.repository), hits, log, toRoutes, metrics);
  const continueListener = continueChecks.listener(listener);
  const evictor = new CacheEvictor(index, blobs, config.cache.maxCacheBytes, log, (row) =>
    repositories.get(row.repo)?.tarballs.forget(row.name, row.version),
  );
  let closing: Promise<void> | undefined;
  return {
    config,
    keys,
    upstreamKey,
    installsKey,
    repositories,
    hosted,
    mayPublishName: (repo, name) => shadowGuard.mayPublishName(repo, name),
    installs,
    evictor,
    http,
    listener,
    continueListener,
    continueChecks,
    health,
    index,
    blobs,
    log,
    access,
    metrics,
    policy,
    replacePolicy,
    reloadPolicy,
    warmPolicyViews,
    close() {
      closing ??= (async () => {
        evictor.stop();
        // Tarballs already answered but still being written: let them land before the index closes.
        for (const repository of repositories.values()) await repository.tarballs.drain();
        usage.stop();
        for (const client of clients.all) await client.close();
        index.close();
        hosted?.close();
      })();
      return closing;
    },
  };
}

/** The public key files the configuration names, read (and checked) before anything is written. */
function readConfiguredKeys(config: Readonly<Config>): {
  upstreamKey: KeyObject;
  installsKey: KeyObject;
  organizationKeys: ReadonlyMap<string, KeyObject>;
} {
  const upstreamKey = readPublicKeyFile(config.upstream.publicKey, 'upstream.publicKey');
  const installsKey = readPublicKeyFile(config.installs.publicKey, 'installs.publicKey');
  const organizationKeys = new Map(
    Object.entries(config.organizations).map(([name, org]) => [
      name,
      org.publicKey ? readPublicKeyFile(org.publicKey, `organizations.${name}.publicKey`) : upstreamKey,
    ]),
  );
  return { upstreamKey, installsKey, organizationKeys };
}

function createMetrics(
  config: Readonly<Config>,
  {
    index,
    health,
    fetchBudget,
    policy,
    repositories,
  }: { index: CacheIndex; health: UpstreamHealth; fetchBudget: MemoryBudget; policy: ActivePolicy; repositories: ReadonlyMap<string, Repository> },
): Metrics {
  return new Metrics({
    index,
    health,
    registryFetchBytes: () => fetchBudget.used,
    // The public repository's in-memory caches, against cache.memoryMaxBytes and cache.memoryTarballBytes.
    memoryBytes: () => {
      const served = repositories.get(config.upstream.repository);
      return { registry: served?.registry.memoryBytes() ?? 0, tarballs: served?.tarballs.memoryBytes() ?? 0 };
    },
    policy: () => ({
      generation: policy.generation,
      repositories: Object.fromEntries([...repositories].map(([name, served]) => [name, served.policyFigures()])),
    }),
  });
}

interface UpstreamClients {
  /** hex.pm's public repository. */
  upstream: UpstreamClient;
  /** Each organization's: under /repos/ORG, with its auth key. */
  organizations: ReadonlyMap<string, UpstreamClient>;
  /** The builds server (installs.url). */
  builds: UpstreamClient;
  /** The upstream Hex API (upstream.apiUrl), one client per answer format; they never send a client's credentials. */
  api: Record<HexFormat, UpstreamClient>;
  /** All of them, to close. */
  all: readonly UpstreamClient[];
}

/** What hexproxy asks upstream with: one client per repository's upstream path and credentials, and one for the builds server. */
function createUpstreamClients(config: Readonly<Config>, log: Logger, health: UpstreamHealth, metrics: Metrics): UpstreamClients {
  const observe = (outcome: UpstreamOutcome, seconds: number): void => metrics.upstream(outcome, seconds);
  const upstream = upstreamClientFor(config.offline, {
    baseUrl: config.upstream.url,
    timeoutMs: config.upstream.timeoutMs,
    minBytesPerSecond: config.upstream.minBytesPerSecond,
    retries: config.upstream.retries,
    userAgent,
    health,
    observe,
    ...upstreamCredentials(config, config.upstream.url),
  });
  const organizations = new Map(
    Object.entries(config.organizations).map(([name, org]) => [
      name,
      upstreamClientFor(config.offline, {
        baseUrl: `${config.upstream.url.replace(/\/+$/, '')}/repos/${name}`,
        timeoutMs: config.upstream.timeoutMs,
        minBytesPerSecond: config.upstream.minBytesPerSecond,
        retries: config.upstream.retries,
        userAgent,
        health,
        observe,
        ...(org.authKey !== undefined && { headers: { authorization: org.authKey } }),
        refusedHint:
          org.authKey === undefined
            ? `organization ${name} has no auth key; set ${orgAuthKeyEnv(name)} (or organizations.${name}.authKey)`
            : `check organizations.${name}.authKey (${orgAuthKeyEnv(name)}): hex.pm refuses a key that is unknown, revoked or may not read ${name}`,
      }),
    ]),
  );
  // The builds server is a second upstream, with its own health: one being down says nothing of the other.
  const buildsHealth = new UpstreamHealth(log, config.installs.url, config.upstream.cooldownSeconds * 1000, 'the builds server');
  const builds = upstreamClientFor(config.offline, {
    baseUrl: config.installs.url,
    timeoutMs: config.installs.timeoutMs,
    timeoutSetting: 'installs.timeoutMs',
    minBytesPerSecond: config.upstream.minBytesPerSecond,
    retries: config.upstream.retries,
    userAgent,
    health: buildsHealth,
    name: 'the builds server',
    ...upstreamCredentials(config, config.installs.url),
  });
  // The API is a third server, with its own health: hex.pm's API being down says nothing of repo.hex.pm.
  const apiHealth = new UpstreamHealth(log, config.upstream.apiUrl, config.upstream.cooldownSeconds * 1000, 'the Hex API');
  const apiCredentials = upstreamCredentials(config, config.upstream.apiUrl);
  const apiClient = (accept: string): UpstreamClient =>
    upstreamClientFor(config.offline, {
      baseUrl: config.upstream.apiUrl,
      timeoutMs: config.upstream.timeoutMs,
      minBytesPerSecond: config.upstream.minBytesPerSecond,
      retries: config.upstream.retries,
      userAgent,
      health: apiHealth,
      name: 'the Hex API',
      refusedHint: apiCredentials.refusedHint,
      headers: { accept, ...apiCredentials.headers },
    });
  const api = { erlang: apiClient(HEX_ERLANG_TYPE), json: apiClient('application/json') };
  return { upstream, organizations, builds, api, all: [upstream, ...organizations.values(), builds, api.erlang, api.json] };
}

/**
 * upstream.authKey as a client of `url` sends it: only to upstream.url's origin (a central
 * hexproxy serves its repository, /installs and /api there), so a central's token never
 * reaches hex.pm or the builds server. The hint says what to set when the server refuses.
 */
function upstreamCredentials(config: Readonly<Config>, url: string): { headers?: Record<string, string>; refusedHint?: string } {
  if (new URL(url).origin !== new URL(config.upstream.url).origin) return {};
  const { authKey, repository } = config.upstream;
  if (authKey === undefined)
    return {
      refusedHint: `it asks for a token: if it is a hexproxy with auth.requireToken, set ${upstreamAuthKeyEnv} (or upstream.authKey) to a token of it that may read ${repository}`,
    };
  return {
    headers: { authorization: authKey },
    refusedHint: `check upstream.authKey (${upstreamAuthKeyEnv}): the upstream refuses a token that is unknown, revoked or may not read ${repository}`,
  };
}

/** Publishing to the hosted repositories: dependencies on public packages are checked through the public repository's mirror. */
function publishingFor(
  store: HostedStore,
  repositories: ReadonlyMap<string, Repository>,
  publicRepository: string,
  names: NameGuard,
): PublishService {
  const mirror = repositories.get(publicRepository);
  if (!mirror) throw new ConfigError(`hexproxy serves no public repository ${publicRepository}: publishing cannot check dependencies`);
  return new PublishService({ store, names, publicRepository, publicPackages: publicPackagesOf(mirror) });
}

/**
 * The hosted repositories' store, when any is configured or one was (its database exists:
 * `cache verify` still checks what it holds). Apart from the cache: DATA_DIR/hosted.
 */
async function openHostedStore(
  config: Readonly<Config>,
  signingKey: KeyObject,
  log: Logger,
  clock: Clock | undefined,
): Promise<HostedStore | undefined> {
  const dir = join(config.dataDir, 'hosted');
  if (Object.keys(config.hosted).length === 0 && !existsSync(join(dir, 'hosted.db'))) return undefined;
  return HostedStore.open({
    dir,
    repositories: config.hosted,
    signingKey,
    publicRepository: config.upstream.repository,
    log,
    ...(clock && { now: clock }),
  });
}

/**
 * The repositories served: the public one, then each organization with its own upstream
 * path and credentials, key, cache namespace (the repo column and blob keys) and smaller
 * in-memory bounds; private tarballs are not kept in memory. Then the hosted repositories,
 * served from the hosted store.
 */
function repositorySpecs(
  config: Readonly<Config>,
  clients: UpstreamClients,
  upstreamKey: KeyObject,
  organizationKeys: ReadonlyMap<string, KeyObject>,
  hosted: HostedStore | undefined,
): RepositorySpec[] {
  const { memoryMaxBytes } = config.cache;
  const organizations = [...clients.organizations].map(([name, client]): RepositorySpec => ({
    kind: 'mirror',
    name,
    upstream: client,
    upstreamKey: organizationKeys.get(name) ?? upstreamKey,
    docsPrefix: organizationPrefix(name),
    registryMemoryBytes: Math.max(MiB, Math.floor(memoryMaxBytes / 8)),
    tarballMemoryBytes: 0,
    policyMemoryBytes: Math.max(MiB, Math.floor(memoryMaxBytes / 16)),
  }));
  return [
    {
      kind: 'mirror',
      name: config.upstream.repository,
      upstream: clients.upstream,
      upstreamKey,
      docsPrefix: '',
      registryMemoryBytes: memoryMaxBytes,
      tarballMemoryBytes: config.cache.memoryTarballBytes,
      policyMemoryBytes: Math.floor(memoryMaxBytes / 2),
      // Its re-signed view serves these hosted repositories' packages as its own (hosted.NAME.merge).
      merge: Object.keys(config.hosted).filter((name) => config.hosted[name]?.merge === true),
    },
    ...organizations,
    ...Object.keys(config.hosted).flatMap((name): RepositorySpec[] =>
      hosted
        ? [
            {
              kind: 'hosted',
              name,
              store: hosted,
              registryMemoryBytes: Math.max(MiB, Math.floor(memoryMaxBytes / 8)),
              policyMemoryBytes: Math.max(MiB, Math.floor(memoryMaxBytes / 16)),
            },
          ]
        : [],
    ),
  ];
}

/** Putting a policy in force, from the config file again or a given section, and building its views ahead of clients. */
function policyControls(
  config: Readonly<Config>,
  policy: ActivePolicy,
  repositories: ReadonlyMap<string, Repository>,
  log: Logger,
  reloadConfig: (() => Readonly<Config>) | undefined,
): Pick<Hexproxy, 'warmPolicyViews' | 'replacePolicy' | 'reloadPolicy'> {
  // The filtered /versions of a large repository takes seconds to build the first time: built ahead of clients.
  const warmPolicyViews = (): void => {
    if (!policy.current.active) return;
    for (const [name, one] of repositories) {
      one
        .warmPolicyView()
        .catch((error: unknown) =>
          log.warn({ repo: name, err: errorMessage(error) }, 'policy: could not build the filtered /names and /versions ahead of clients'),
        );
    }
  };
  const replacePolicy = (section: Config['policy']): void => {
    policy.replace(configuredPolicy({ ...config, policy: section }));
    log.info({ generation: policy.generation, active: policy.current.active }, 'policy replaced');
    warmPolicyViews();
  };
  const reloadPolicy = (): void => {
    if (!reloadConfig) throw new ConfigError('hexproxy was started without a configuration to reload the policy from');
    replacePolicy(reloadConfig().policy);
  };
  return { warmPolicyViews, replacePolicy, reloadPolicy };
}

/** POST /api/policy/check: checks may be anonymous, so the package files they fetch wait for slots shared by all of them. */
function policyCheckDependencies(
  config: Readonly<Config>,
  policy: ActivePolicy,
  repositories: ReadonlyMap<string, Repository>,
  access: AccessControl,
): PolicyCheckDependencies {
  const fetchPackage = boundedRegistryFetcher(repositories, createLimiter(POLICY_CHECK.upstreamSlots));
  const publicRepository = config.upstream.repository;
  return {
    access,
    publicRepository,
    check: (lock, mayRead) =>
      checkLocks({
        locks: [lock],
        policy: policy.current,
        publicRepository,
        lookupOrder: rebarLookupOrder(servedRepositories(repositories, publicRepository)),
        fetchPackage,
        now: Math.floor(policy.nowMs() / 1000),
        mayRead,
        concurrency: POLICY_CHECK.perRequest,
        maxPackages: POLICY_CHECK.maxPackages,
      }),
  };
}

export interface RunningServer {
  hexproxy: Hexproxy;
  httpServer: Server;
  /** https://… with tls.cert and tls.key, else http://… */
  url: string;
  port: number;
  /**
   * Reads tls.cert and tls.key again and serves them to new connections (SIGHUP); throws
   * ConfigError, the previous pair still serving, if they cannot serve. Undefined without TLS.
   */
  reloadTls(): TlsCredentials | undefined;
  /** What cuts off clients that stop reading (http.sendTimeoutMs). */
  sendTimeout: SendTimeout;
  close(): Promise<void>;
}

export async function startServer(config: Readonly<Config>, log: Logger, options: HexproxyOptions = {}): Promise<RunningServer> {
  // The certificate is checked with the rest of the configuration, before anything is written.
  const tlsFiles = config.tls;
  const credentials = tlsFiles && readTlsCredentials(tlsFiles);
  const hexproxy = await createHexproxy(config, log, options);
  hexproxy.evictor.start(EVICTION_INTERVAL_MS);
  if (tlsFiles && credentials) warnAboutExpiry(credentials, tlsFiles, log);
  // Node checks the header and request timeouts only this often (30 s by default).
  const serverOptions = { connectionsCheckingInterval: Math.min(1000, config.http.headersTimeoutMs) };
  // Clients that stop reading are cut off; watched inside the one listener, not by a second one.
  const sendTimeout = new SendTimeout(config.http.sendTimeoutMs);
  const listener = sendTimeout.watching(hexproxy.listener);
  // HTTPS: the same listener (fast path included) on node:https, whose server is an http.Server
  // for everything below; a client gets as long for its TLS handshake as for its headers.
  const secure =
    credentials &&
    createHttpsServer({ ...serverOptions, cert: credentials.cert, key: credentials.key, handshakeTimeout: config.http.headersTimeoutMs }, listener);
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>((resolve, reject) => {
    const server = secure ?? createServer(serverOptions, listener);
    // Uploads sent with `expect: 100-continue` are judged before node answers 100.
    server.on('checkContinue', sendTimeout.watching(hexproxy.continueListener));
    server.listen(config.port, config.host, () => resolve({ server, address: server.address() as AddressInfo }));
    // Slow clients (slowloris) are cut off instead of holding connections forever.
    server.headersTimeout = config.http.headersTimeoutMs;
    server.requestTimeout = Math.max(config.http.requestTimeoutMs, config.http.headersTimeoutMs);
    server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
    sendTimeout.start(server);
    server.once('error', (error) =>
      reject(new ConfigError(`cannot listen on ${config.host}:${config.port}: ${errorMessage(error)}`, { cause: error })),
    );
  }).catch(async (error: unknown) => {
    await hexproxy.close();
    throw error;
  });
  hexproxy.warmPolicyViews();
  // Crash leftovers: the index and the files are made to agree in the background (src/cache/reconcile.ts).
  void reconcileInBackground({
    index: hexproxy.index,
    blobs: hexproxy.blobs,
    log,
    registry: { keyOf: (repo) => hexproxy.repositories.get(repo)?.registryKey, maxRegistryBytes: config.cache.maxRegistryBytes },
    stopped: () => !server.listening,
  });
  // What a kill left in the hosted store: staged tarballs no release names.
  void hexproxy.hosted?.reconcile().then(
    (report) => log.info(report, 'hosted repositories reconciled'),
    (error: unknown) => log.error({ err: errorMessage(error) }, 'cannot reconcile the hosted repositories'),
  );
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? 'localhost'
      : address.address.includes(':')
        ? `[${address.address}]`
        : address.address;
  const url = `${secure ? 'https' : 'http'}://${host}:${address.port}`;
  return {
    hexproxy,
    httpServer: server,
    url,
    port: address.port,
    sendTimeout,
    reloadTls() {
      if (!tlsFiles || !secure) return undefined;
      const next = readTlsCredentials(tlsFiles);
      // Connections already open keep the pair they were made with; new ones get this one.
      secure.setSecureContext({ cert: next.cert, key: next.key });
      warnAboutExpiry(next, tlsFiles, log);
      return next;
    },
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
    log.warn(
      { organization: name, env },
      `organization ${name} has no auth key, and hex.pm refuses its files without one: set ${env} (or organizations.${name}.authKey in the config file) to a hex.pm key that may read ${name}`,
    );
  }
}

/** A merged hosted repository's packages are read wherever the root view is: said once at start when that is without a token. */
function warnAboutMergedRepositories(config: Readonly<Config>, log: Logger): void {
  if (config.auth.requireToken) return;
  for (const [name, settings] of Object.entries(config.hosted)) {
    if (!settings.merge) continue;
    log.warn(
      { repository: name },
      `hosted repository ${name} is merged into the root view (hosted.${name}.merge), which anyone may read while auth.requireToken is off: its packages can be read without a token; turn auth.requireToken on, or merge only repositories meant to be read by everyone who can reach hexproxy`,
    );
  }
}

function logDataDirectory(dataDir: string, found: DataDirectoryState, log: Logger): void {
  if (found.state === 'tightened') {
    log.warn(
      { dataDir, was: octal(found.was), now: octal(found.was & 0o700) },
      `data directory ${dataDir} could be read by other users (mode ${octal(found.was)}); it is now ${octal(found.was & 0o700)}, as it holds private organizations' packages, the cache index and token hashes`,
    );
  } else if (found.state === 'open') {
    log.warn(
      { dataDir, mode: octal(found.mode), err: found.reason },
      `data directory ${dataDir} can be read by other users (mode ${octal(found.mode)}) and hexproxy cannot change that (${found.reason}); run chmod 700 ${dataDir} as its owner`,
    );
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
