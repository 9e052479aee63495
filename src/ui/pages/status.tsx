// Status: is upstream up, how full is the cache, how well does it serve, which policy is in
// force, what failed lately.
import type { FC } from 'hono/jsx';
import type { CacheStats } from '../../cache/stats.js';
import type { PolicySummary } from '../../policy/describe.js';
import { durationSeconds } from '../../policy/duration.js';
import type { UpstreamState } from '../../upstream/health.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatAgo, formatCount, formatPercent, formatTime, isoTime } from '../format.js';
import { Badge, Layout, type Chrome } from '../layout.js';
import type { RecentError } from '../recent-errors.js';

export interface StatusPageProps {
  chrome: Chrome;
  upstream: {
    url: string;
    state: UpstreamState;
    lastContact: number | undefined;
    coolingDownUntil: number | undefined;
    /** The last failure's message, when this viewer may see it (it can name any repository's paths). */
    lastFailure: string | undefined;
    offline: boolean;
  };
  stats: Pick<CacheStats, 'tarballs' | 'registryFiles' | 'passthroughFiles' | 'hitRatio' | 'counters'>;
  maxCacheBytes: number;
  errors: RecentError[];
  /** Whether errors of other repositories were held back from this viewer. */
  errorsFiltered: boolean;
  /** Whether the cache figures are of the repositories this viewer may read only (not the whole cache the limit applies to). */
  figuresScoped: boolean;
  now: number;
  /** The policy in force (describePolicy), with only the repositories this viewer may read named. */
  policy: PolicySummary & { generation: number; hiddenRepositories: number };
}

// The hit and miss counters name no repository: said so where the other figures are of some repositories only.
const ALL_REPOSITORIES = ', in all repositories';

const Time: FC<{ at: number; now: number }> = ({ at, now }) => (
  <time datetime={isoTime(at)} title={formatTime(at)}>
    {formatAgo(at, now)}
  </time>
);

export const StatusPage: FC<StatusPageProps> = ({ chrome, upstream, stats, maxCacheBytes, errors, errorsFiltered, figuresScoped, now, policy }) => {
  const { state } = upstream;
  const label = upstream.offline ? 'offline mode' : state === 'online' ? 'online' : state === 'offline' ? 'offline' : 'not contacted yet';
  const tone = upstream.offline ? 'warn' : state === 'online' ? 'ok' : state === 'offline' ? 'bad' : undefined;
  const used = stats.tarballs.bytes;
  const count = (name: string): number => stats.counters[name] ?? 0;
  const tarballRequests = count('tarball_hit') + count('tarball_miss');
  const registryServed = count('registry_hit') + count('registry_revalidated') + count('registry_stale');
  return (
    <Layout title="Status" section="status" chrome={chrome}>
      <h1>Status</h1>
      <p class="lead">As of {formatTime(now)}.</p>
      <div class="grid stats">
        <div class="card stat" id="upstream-status" data-state={upstream.offline ? 'offline-mode' : state}>
          <div class="label">Upstream</div>
          <div class="value">
            <span class={tone ? `dot ${tone}` : 'dot'} />
            {label}
          </div>
          <div class="sub">
            {upstream.lastContact !== undefined ? (
              <>
                last answered <Time at={upstream.lastContact} now={now} />
              </>
            ) : (
              'no answer since start'
            )}
          </div>
        </div>
        <div class="card stat" id="cache-size" data-bytes={String(used)} data-limit={String(maxCacheBytes)}>
          <div class="label">Cache size</div>
          <div class="value">{formatBytes(used)}</div>
          <div class="sub">
            {figuresScoped ? (
              <>
                in the repositories you may read;{' '}
                {maxCacheBytes > 0 ? <>the limit of {formatBytes(maxCacheBytes)} is for the whole cache</> : 'no limit (cache.maxCacheBytes is 0)'}
              </>
            ) : maxCacheBytes > 0 ? (
              <>
                of {formatBytes(maxCacheBytes)} ({formatPercent(used / maxCacheBytes)})
              </>
            ) : (
              'no limit (cache.maxCacheBytes is 0)'
            )}
          </div>
          {maxCacheBytes > 0 && !figuresScoped ? (
            <meter
              min={0}
              max={maxCacheBytes}
              value={Math.min(used, maxCacheBytes)}
              high={Math.floor(maxCacheBytes * 0.9)}
              optimum={0}
              title={`${formatBytes(used)} of ${formatBytes(maxCacheBytes)}`}
            />
          ) : null}
        </div>
        <div class="card stat" id="hit-ratio">
          <div class="label">Tarball hit ratio</div>
          <div class="value">{formatPercent(stats.hitRatio.tarballs)}</div>
          <div class="sub">
            {formatCount(count('tarball_hit'))} of {formatCount(tarballRequests)} requests from cache{figuresScoped ? ALL_REPOSITORIES : ''}
          </div>
        </div>
        <div class="card stat">
          <div class="label">Registry hit ratio</div>
          <div class="value">{formatPercent(stats.hitRatio.registry)}</div>
          <div class="sub">
            {formatCount(registryServed)} of {formatCount(registryServed + count('registry_miss'))} from cache{figuresScoped ? ALL_REPOSITORIES : ''}
          </div>
        </div>
      </div>

      <h2>Upstream</h2>
      <div class="card">
        <dl class="facts">
          <dt>URL</dt>
          <dd>
            <code>{upstream.url}</code>
          </dd>
          <dt>State</dt>
          <dd>
            {tone ? <Badge tone={tone}>{label}</Badge> : <Badge>{label}</Badge>}
            {upstream.offline ? <span class="muted"> hexproxy runs with --offline and never contacts upstream</span> : null}
          </dd>
          <dt>Last contact</dt>
          <dd>
            {upstream.lastContact !== undefined ? (
              <>
                <Time at={upstream.lastContact} now={now} /> <span class="muted">({formatTime(upstream.lastContact)})</span>
              </>
            ) : (
              <span class="muted">none since hexproxy started</span>
            )}
          </dd>
          {upstream.coolingDownUntil !== undefined ? (
            <>
              <dt>Cool-down</dt>
              <dd>
                upstream failed repeatedly and is left alone until {formatTime(upstream.coolingDownUntil)}; cached files are served stale meanwhile
              </dd>
            </>
          ) : null}
          {upstream.lastFailure !== undefined ? (
            <>
              <dt>Last failure</dt>
              <dd>{upstream.lastFailure}</dd>
            </>
          ) : null}
        </dl>
      </div>

      <h2 id="policy">Policy</h2>
      <PolicyFacts policy={policy} />

      <h2>Cache</h2>
      <div class="table-wrap">
        <table id="cache-table">
          <thead>
            <tr>
              <th>What</th>
              <th class="num">Files</th>
              <th class="num">Bytes</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>Package tarballs{stats.tarballs.pinned > 0 ? <span class="muted"> ({formatCount(stats.tarballs.pinned)} pinned)</span> : null}</td>
              <td class="num">{formatCount(stats.tarballs.count)}</td>
              <td class="num">{formatBytes(stats.tarballs.bytes)}</td>
            </tr>
            <tr>
              <td>Registry files</td>
              <td class="num">{formatCount(stats.registryFiles.count)}</td>
              <td class="num">{formatBytes(stats.registryFiles.bytes)}</td>
            </tr>
            <tr>
              <td>Docs and installs</td>
              <td class="num">{formatCount(stats.passthroughFiles.count)}</td>
              <td class="num">{formatBytes(stats.passthroughFiles.bytes)}</td>
            </tr>
          </tbody>
        </table>
      </div>
      <p class="muted">
        {figuresScoped ? 'Files of the repositories you may read. ' : ''}The limit applies to package tarballs: past it, the least recently used
        unpinned ones are evicted. Counters are written every few seconds.
      </p>

      <h2>Recent errors</h2>
      {errors.length === 0 ? (
        <p class="muted" id="no-errors">
          No server errors since hexproxy started{errorsFiltered ? ' (in the repositories you may read)' : ''}.
        </p>
      ) : (
        <div class="table-wrap">
          <table id="error-table">
            <thead>
              <tr>
                <th>When</th>
                <th>Status</th>
                <th>Request</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {errors.map((error) => (
                <tr>
                  <td class="nowrap">
                    <Time at={error.at} now={now} />
                  </td>
                  <td>
                    <Badge tone="bad">{error.status}</Badge> <code>{error.code}</code>
                  </td>
                  <td>
                    <code>
                      {error.method} {error.path}
                    </code>
                  </td>
                  <td>{error.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
};

const PolicyFacts: FC<{ policy: StatusPageProps['policy'] }> = ({ policy }) => {
  const deny = policy.rules.filter((rule) => rule.action === 'deny').length;
  const allow = policy.rules.length - deny;
  const repositories = [...policy.repositories, ...(policy.hiddenRepositories > 0 ? [`${policy.hiddenRepositories} more`] : [])];
  return (
    <div class="card" id="policy-status" data-active={policy.active ? 'yes' : 'no'} data-generation={String(policy.generation)}>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          {policy.active ? <Badge tone="warn">active</Badge> : <Badge>not active</Badge>}
          <span class="muted">
            {policy.active
              ? ' blocked releases are left out of the registry files hexproxy serves'
              : ' no rule or restriction is set: the registry is served as it is'}
          </span>
        </dd>
        <dt>Generation</dt>
        <dd>
          {policy.generation} <span class="muted">(counts reloads since start)</span>
        </dd>
        {policy.active ? (
          <>
            <dt>Repositories</dt>
            <dd>{repositories.join(', ')}</dd>
          </>
        ) : null}
        <dt>Rules</dt>
        <dd>
          {formatCount(deny)} deny, {formatCount(allow)} allow
        </dd>
        <dt>Minimum release age</dt>
        <dd>
          <code>{policy.minReleaseAge}</code>
          {(durationSeconds(policy.minReleaseAge) ?? 0) > 0 ? <span class="muted"> (undated releases: {policy.undatedReleases})</span> : null}
        </dd>
        <dt>Advisory severity</dt>
        <dd>
          {policy.blockAdvisorySeverity === null ? (
            <span class="muted">advisories do not block</span>
          ) : (
            <>
              blocks <code>{policy.blockAdvisorySeverity}</code> and above
            </>
          )}
        </dd>
        <dt>Retired releases</dt>
        <dd>
          {policy.blockRetired === true ? (
            'all blocked'
          ) : policy.blockRetired === false ? (
            <span class="muted">not blocked</span>
          ) : (
            <>blocked when retired as {policy.blockRetired.join(', ')}</>
          )}
        </dd>
        <dt>Tarballs</dt>
        <dd>
          <code>{policy.tarballs}</code>{' '}
          <span class="muted">
            {policy.tarballs === 'strict'
              ? 'tarballs of blocked releases are refused'
              : 'tarballs of blocked releases are still served to whoever asks for one by name'}
          </span>
        </dd>
      </dl>
    </div>
  );
};
