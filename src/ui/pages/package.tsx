// A package's page: its releases as hexproxy sees them (cached or not, retired, advisories,
// published, blocked by the policy or not), the dependencies of one release with links, and
// checksums.
import type { FC } from 'hono/jsx';
import type { Dependency, SecurityAdvisory } from '../../registry/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatAgo, formatCount, formatDate, formatTime, isoTime } from '../format.js';
import { Badge, CodeBlock, Layout, type Chrome } from '../layout.js';
import { packageHref, releasesPageHref } from '../links.js';
import type { AdvisoryReach } from '../../registry/release-index.js';

export interface CachedTarball {
  size: number;
  hits: number;
  lastUsedAt: number;
  fetchedAt: number;
  pinned: boolean;
  sha256: string;
}

export interface ReleaseView {
  version: string;
  publishedAt: number | undefined;
  retired: { reason: number; message?: string } | undefined;
  /** Indexes into PackageView.advisories. */
  advisories: number[];
  /** Hex SHA-256 of the tarball (outer checksum), or undefined for releases from before it existed. */
  outerChecksum: string | undefined;
  innerChecksum: string | undefined;
  dependencies: Dependency[];
  cached: CachedTarball | undefined;
  /** False for a cached tarball whose release the registry file at hand does not list (or none is at hand). */
  listed: boolean;
  /** What the policy decides for it; undefined when the policy does not apply or the release is not listed. */
  policy?: ReleasePolicy | undefined;
}

/**
 * The policy's decision for one release, in words: blocked, with one line per reason
 * (describeReason), or allowed; `rule` names the allow rule that lifted every restriction.
 */
export type ReleasePolicy =
  | { blocked: true; reasons: string[] }
  | { blocked: false; rule?: { key: string; text: string; comment?: string | undefined; note: string } | undefined };

/** The policy in force for the package's repository. */
export interface PackagePolicy {
  /** False when the registry file is not at hand: the releases could not be decided. */
  decided: boolean;
  tarballs: 'locked-ok' | 'strict';
}

export interface PackageView {
  repository: string;
  name: string;
  /** The releases on the page shown, newest first. */
  releases: ReleaseView[];
  /** The newest stable release the registry file lists, else its newest pre-release (marked so). */
  latest: { version: string; prerelease: boolean } | undefined;
  /** Over every release, not only the page shown. */
  totals: { listed: number; retired: number; cached: number; cachedBytes: number; hits: number };
  /** The page shown (from 1) and how many there are (RELEASES_PAGE_SIZE releases a page). */
  pages: { page: number; count: number };
  advisories: SecurityAdvisory[];
  /** Per advisory, the releases it affects (the newest few, and how many in all). */
  affects: AdvisoryReach[];
  /**
   * How fresh the registry data is: from upstream or a fresh copy, a stale copy, or none at
   * all. checkedAt: when this hexproxy last had upstream's word (0: never, an imported file);
   * upstreamAsOf: when anyone trusted had it (a trusted bundle's attested time; 0: unknown).
   */
  registry: { state: 'fresh' | 'stale'; checkedAt: number; upstreamAsOf: number } | { state: 'unavailable'; reason: string };
  /** Set when hexproxy's policy applies to the repository. */
  policy?: PackagePolicy | undefined;
}

export interface PackagePageProps {
  chrome: Chrome;
  view: PackageView;
  /** The release whose dependencies are shown. */
  selected: ReleaseView | undefined;
  publicRepository: string;
  /** Repositories hexproxy serves and this viewer may read: dependencies in them are links. */
  readable: string[];
  /** hexproxy runs with --offline: a stale copy is not upstream's fault. */
  offline: boolean;
  now: number;
}

// A hostile but validly signed package file can list any number of these: the page shows a bounded part.
const MAX_ADVISORIES_SHOWN = 100;
const MAX_DEPENDENCIES_SHOWN = 500;

const RETIREMENT_REASONS = ['other', 'invalid', 'security', 'deprecated', 'renamed'];
const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'];

export const retirementReason = (reason: number): string => RETIREMENT_REASONS[reason] ?? `reason ${reason}`;

const severityTone = (severity: number | undefined): 'bad' | 'warn' | undefined =>
  severity === undefined ? 'warn' : severity >= 3 ? 'bad' : severity === 2 ? 'warn' : undefined;

/** Only web addresses become links (an advisory's URL comes from upstream). */
const safeUrl = (url: string): string | undefined => (/^https?:\/\//i.test(url) ? url : undefined);

/** The requirement hex.pm suggests for a release: "~> 1.4" (or "~> 0.5.1" before 1.0). */
export function suggestedRequirement(version: string): string {
  const [major = '0', minor = '0', patch = '0'] = version.split(/[.+-]/);
  return major === '0' ? `~> 0.${minor}.${patch}` : `~> ${major}.${minor}`;
}

const When: FC<{ at: number; now: number }> = ({ at, now }) => (
  <time datetime={isoTime(at)} title={formatTime(at)}>
    {formatAgo(at, now)}
  </time>
);

/** Why a stale copy is shown, and how old upstream's word for it is: true for imported files too (never checked here). */
const StaleNotice: FC<{ checkedAt: number; upstreamAsOf: number; offline: boolean; now: number }> = ({ checkedAt, upstreamAsOf, offline, now }) => {
  const why = offline ? 'hexproxy runs in offline mode (--offline) and does not ask upstream' : 'Upstream could not be reached';
  const age =
    checkedAt > 0 ? (
      <>
        last confirmed <When at={checkedAt} now={now} />
      </>
    ) : upstreamAsOf > 0 ? (
      <>
        imported from a bundle, upstream's word as of {formatTime(upstreamAsOf)} (<When at={upstreamAsOf} now={now} />
        ); never confirmed here
      </>
    ) : (
      <>imported from a bundle that does not say when upstream's word was had (unsigned, or signed by a key not trusted); never confirmed here</>
    );
  return (
    <div class="notice warn" id="registry-notice">
      {why}: this is hexproxy's cached copy of the package's registry file, {age}.
    </div>
  );
};

export const PackagePage: FC<PackagePageProps> = ({ chrome, view, selected, publicRepository, readable, offline, now }) => {
  const isPublic = view.repository === publicRepository;
  const { totals, pages } = view;
  const paged = pages.count > 1;
  const mix = selected && `{:${view.name}, "${suggestedRequirement(selected.version)}"${isPublic ? '' : `, organization: "${view.repository}"`}}`;
  const rebar = selected && `{${view.name}, "${selected.version}"}`;
  // Decided for the page shown only: on a package of one page, that is every release.
  const listedOnPage = view.releases.filter((release) => release.listed).length;
  const blockedOnPage = view.releases.filter((release) => release.policy?.blocked === true).length;
  const pageHref = (page: number): string => releasesPageHref(view.repository, view.name, publicRepository, page);
  return (
    <Layout title={view.name} section="packages" chrome={chrome}>
      <p class="muted">
        <a href="/ui/packages">Packages</a> / {isPublic ? null : <>{view.repository} / </>}
        {view.name}
      </p>
      <div class="title-row">
        <h1 id="package-name">{view.name}</h1>
        {isPublic ? (
          <Badge>{view.repository}</Badge>
        ) : (
          <Badge tone="org" title="private organization">
            {view.repository}
          </Badge>
        )}
        {view.latest !== undefined ? (
          <Badge id="latest">
            {view.latest.prerelease ? 'latest pre-release' : 'latest'} {view.latest.version}
          </Badge>
        ) : null}
      </div>
      {view.registry.state === 'stale' ? (
        <StaleNotice checkedAt={view.registry.checkedAt} upstreamAsOf={view.registry.upstreamAsOf} offline={offline} now={now} />
      ) : null}
      {view.registry.state === 'unavailable' ? (
        <div class="notice warn" id="registry-notice">
          The package's registry file is not available ({view.registry.reason}), so only the cached tarballs are listed, without release details.
        </div>
      ) : null}
      <div class="grid stats">
        <div class="card stat">
          <div class="label">Releases</div>
          <div class="value">{formatCount(totals.listed)}</div>
          <div class="sub">
            {formatCount(totals.retired)} retired
            {view.policy?.decided ? (
              <>
                , {formatCount(blockedOnPage)} blocked by policy{paged ? ' on this page' : ''}
              </>
            ) : null}
          </div>
        </div>
        <div class="card stat">
          <div class="label">Cached</div>
          <div class="value">{formatCount(totals.cached)}</div>
          <div class="sub">{formatBytes(totals.cachedBytes)}</div>
        </div>
        <div class="card stat">
          <div class="label">Tarball hits</div>
          <div class="value">{formatCount(totals.hits)}</div>
          <div class="sub">served from cache</div>
        </div>
        <div class="card stat">
          <div class="label">Advisories</div>
          <div class="value">{formatCount(view.advisories.length)}</div>
          <div class="sub">{view.advisories.length === 0 ? 'none known' : 'see below'}</div>
        </div>
      </div>

      {selected && mix && rebar ? (
        <>
          <h2>Use {selected.version}</h2>
          {selected.policy?.blocked ? (
            <div class="notice bad" id="selected-blocked">
              hexproxy's policy blocks {view.name} {selected.version}: clients of hexproxy do not see it, so a requirement that needs it will not
              resolve. See its reasons under <a href="#releases">Releases</a>.
            </div>
          ) : null}
          <div class="grid">
            <div>
              <h3>Mix (mix.exs)</h3>
              <CodeBlock id="dep-mix" text={mix} />
            </div>
            <div>
              <h3>rebar3 (rebar.config)</h3>
              <CodeBlock id="dep-rebar" text={rebar} />
            </div>
          </div>
        </>
      ) : null}

      {view.advisories.length > 0 ? (
        <>
          <h2 id="advisories">Security advisories</h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Advisory</th>
                  <th>Severity</th>
                  <th>Summary</th>
                  <th>Affects</th>
                </tr>
              </thead>
              <tbody>
                {view.advisories.slice(0, MAX_ADVISORIES_SHOWN).map((advisory, index) => {
                  const url = safeUrl(advisory.html_url);
                  const reach = view.affects[index];
                  const more = reach ? reach.count - reach.shown.length : 0;
                  const affected = `${reach?.shown.join(', ') ?? ''}${more > 0 ? ` and ${formatCount(more)} more` : ''}`;
                  return (
                    <tr>
                      <td class="nowrap">
                        {url ? (
                          <a href={url} rel="noreferrer noopener">
                            {advisory.id}
                          </a>
                        ) : (
                          advisory.id
                        )}
                        {advisory.aliases.length > 0 ? <div class="muted">{advisory.aliases.join(', ')}</div> : null}
                      </td>
                      <td>
                        <Badge tone={severityTone(advisory.severity)}>
                          {advisory.severity === undefined ? 'unknown' : (SEVERITIES[advisory.severity] ?? String(advisory.severity))}
                          {advisory.cvss_score !== undefined ? ` ${advisory.cvss_score.toFixed(1)}` : ''}
                        </Badge>
                      </td>
                      <td>{advisory.summary}</td>
                      <td>{affected}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {view.advisories.length > MAX_ADVISORIES_SHOWN ? (
            <p class="muted">
              The first {MAX_ADVISORIES_SHOWN} of {formatCount(view.advisories.length)} advisories.
            </p>
          ) : null}
        </>
      ) : null}

      <h2 id="releases">Releases</h2>
      {view.policy ? <PolicyNotice view={view} policy={view.policy} listed={listedOnPage} blocked={blockedOnPage} paged={paged} /> : null}
      {paged ? <Pager page={pages.page} count={pages.count} href={pageHref} /> : null}
      <div class="table-wrap">
        <table id="release-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Published</th>
              <th>Status</th>
              <th class="num">Cached</th>
              <th class="num">Hits</th>
              <th>Last used</th>
              <th>SHA-256 (tarball)</th>
            </tr>
          </thead>
          <tbody>
            {view.releases.map((release) => (
              <tr
                class={[release.retired ? 'retired' : '', selected?.version === release.version ? 'selected' : ''].join(' ').trim() || undefined}
                data-version={release.version}
                data-cached={release.cached ? 'yes' : 'no'}
                data-retired={release.retired ? 'yes' : 'no'}
                data-policy={policyState(release.policy)}
              >
                <td class="nowrap">
                  {release.listed ? (
                    <a href={packageHref(view.repository, view.name, publicRepository, release.version)}>
                      <strong>{release.version}</strong>
                    </a>
                  ) : (
                    <strong>{release.version}</strong>
                  )}
                  {selected?.version === release.version ? <span class="sr-only"> (dependencies shown)</span> : null}
                </td>
                <td class="nowrap">
                  {release.publishedAt !== undefined ? (
                    <time datetime={isoTime(release.publishedAt)} title={formatTime(release.publishedAt)}>
                      {formatDate(release.publishedAt)}
                    </time>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td>
                  {release.cached ? <Badge tone="ok">cached</Badge> : <Badge>not cached</Badge>}{' '}
                  {release.cached?.pinned ? (
                    <>
                      <Badge title="never evicted automatically">pinned</Badge>{' '}
                    </>
                  ) : null}
                  {release.retired ? (
                    <>
                      <Badge tone="warn" title={release.retired.message}>
                        retired: {retirementReason(release.retired.reason)}
                      </Badge>{' '}
                    </>
                  ) : null}
                  {release.advisories.map((index) => {
                    const advisory = view.advisories[index];
                    return advisory ? (
                      <>
                        <Badge tone={severityTone(advisory.severity)} title={advisory.summary}>
                          {advisory.id}
                        </Badge>{' '}
                      </>
                    ) : null;
                  })}
                  {release.retired?.message ? <div class="muted">{release.retired.message}</div> : null}
                  {!release.listed && view.registry.state !== 'unavailable' ? <div class="muted">not listed by the registry file</div> : null}
                  {release.policy ? <PolicyMark policy={release.policy} /> : null}
                </td>
                <td class="num">{release.cached ? formatBytes(release.cached.size) : '—'}</td>
                <td class="num">{release.cached ? formatCount(release.cached.hits) : '—'}</td>
                <td class="nowrap">
                  {release.cached ? (
                    <time datetime={isoTime(release.cached.lastUsedAt)} title={formatTime(release.cached.lastUsedAt)}>
                      {formatAgo(release.cached.lastUsedAt, now)}
                    </time>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  {(release.outerChecksum ?? release.cached?.sha256) ? (
                    <code class="sum">{release.outerChecksum ?? release.cached?.sha256}</code>
                  ) : (
                    <span class="muted" title={release.innerChecksum ? `inner checksum ${release.innerChecksum}` : undefined}>
                      no outer checksum (old release)
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {paged ? <Pager page={pages.page} count={pages.count} href={pageHref} /> : null}

      <h2 id="dependencies">Dependencies{selected ? <> of {selected.version}</> : null}</h2>
      {!selected ? (
        <p class="muted">Not known: the registry file is not available.</p>
      ) : selected.dependencies.length === 0 ? (
        <p class="muted">
          {view.name} {selected.version} has no dependencies.
        </p>
      ) : (
        <DependencyList
          dependencies={selected.dependencies.map((dependency) => ({
            name: dependency.package,
            requirement: dependency.requirement,
            optional: dependency.optional === true,
            app: dependency.app,
            repository: dependency.repository ?? view.repository,
          }))}
          ownRepository={view.repository}
          readable={readable}
          publicRepository={publicRepository}
        />
      )}
      <p class="muted">Pick a version in the table to see its dependencies.</p>
    </Layout>
  );
};

const policyState = (policy: ReleasePolicy | undefined): string | undefined =>
  policy === undefined ? undefined : policy.blocked ? 'blocked' : policy.rule ? 'allowed-by-rule' : 'allowed';

/** A release's decision in its Status cell: a badge, then the reasons (or the allow rule) in words. */
const PolicyMark: FC<{ policy: ReleasePolicy }> = ({ policy }) => {
  if (policy.blocked) {
    return (
      <div class="policy-decision">
        <Badge tone="bad">blocked by policy</Badge>
        {policy.reasons.map((reason) => (
          <div class="policy-reason">{reason}</div>
        ))}
      </div>
    );
  }
  if (!policy.rule) return null;
  return (
    <div class="policy-decision">
      <Badge tone="ok" title={policy.rule.comment}>
        allowed by policy rule
      </Badge>
      <div class="muted policy-rule">{policy.rule.note}</div>
    </div>
  );
};

/** Newer and older pages of releases (a mirrored and a hosted package's page alike). */
export const Pager: FC<{ page: number; count: number; href: (page: number) => string }> = ({ page, count, href }) => (
  <nav class="pager" aria-label="Pages of releases">
    {page > 1 ? (
      <a href={href(page - 1)} rel="prev">
        ← Newer
      </a>
    ) : null}
    <span class="muted">
      Page {formatCount(page)} of {formatCount(count)}
    </span>
    {page < count ? (
      <a href={href(page + 1)} rel="next">
        Older →
      </a>
    ) : null}
  </nav>
);

/**
 * Above the releases: that the policy applies, how many releases clients see, what happens
 * to blocked tarballs. `listed` and `blocked` count the page shown (`paged`: one of several).
 */
const PolicyNotice: FC<{ view: PackageView; policy: PackagePolicy; listed: number; blocked: number; paged: boolean }> = ({
  view,
  policy,
  listed,
  blocked,
  paged,
}) => {
  if (!policy.decided) {
    return (
      <div class="notice warn" id="policy-notice">
        hexproxy's policy applies to {view.repository}, but without the package's registry file it cannot say which releases it blocks.
      </div>
    );
  }
  const tarballs =
    policy.tarballs === 'strict' ? (
      <>
        Tarballs of blocked releases are refused too (<code>policy.tarballs</code> is "strict").
      </>
    ) : (
      <>
        Their tarballs are still served to whoever asks for one by name (<code>policy.tarballs</code> is "locked-ok"), but Mix and rebar3 look
        releases up in the registry, so a lock file pinning one must move to an allowed release.
      </>
    );
  return (
    <div class={blocked > 0 ? 'notice warn' : 'notice'} id="policy-notice" data-blocked={String(blocked)}>
      hexproxy's policy applies to {view.repository}: {paged ? "of this page's releases, " : ''}clients see {formatCount(listed - blocked)} of{' '}
      {formatCount(listed)} {listed === 1 ? 'release' : 'releases'}.
      {blocked > 0 ? (
        <>
          {' '}
          {blocked === 1 ? 'The one blocked is' : `The ${formatCount(blocked)} blocked are`} marked "blocked by policy" below, with the reasons, and
          left out of the registry files hexproxy serves. {tarballs}
        </>
      ) : null}
    </div>
  );
};

/** A dependency of a release, as the page lists it. */
export interface DependencyEntry {
  name: string;
  requirement: string;
  optional: boolean;
  /** Its OTP application, when the registry says (shown when it is not the package's name). */
  app: string | undefined;
  /** The repository it comes from; a badge names it when it is not the package's own. */
  repository: string;
}

interface DependencyListProps {
  dependencies: readonly DependencyEntry[];
  ownRepository: string;
  /** Repositories the viewer may read: a dependency there links to its page. */
  readable: readonly string[];
  publicRepository: string;
}

/** A release's dependencies (the first MAX_DEPENDENCIES_SHOWN), as both a mirrored and a hosted package's page list them. */
export const DependencyList: FC<DependencyListProps> = ({ dependencies, ownRepository, readable, publicRepository }) => (
  <div class="card">
    <ul class="deps" id="dependency-list">
      {dependencies.slice(0, MAX_DEPENDENCIES_SHOWN).map(({ name, requirement, optional, app, repository }) => (
        <li data-dependency={name}>
          {readable.includes(repository) ? (
            <a href={packageHref(repository, name, publicRepository)}>
              <strong>{name}</strong>
            </a>
          ) : (
            <strong>{name}</strong>
          )}{' '}
          <code>{requirement}</code>
          {optional ? (
            <>
              {' '}
              <Badge>optional</Badge>
            </>
          ) : null}
          {repository !== ownRepository ? (
            <>
              {' '}
              <Badge tone={repository === publicRepository ? undefined : 'org'}>{repository}</Badge>
            </>
          ) : null}
          {app !== undefined && app !== name ? <span class="muted"> (app {app})</span> : null}
        </li>
      ))}
    </ul>
    {dependencies.length > MAX_DEPENDENCIES_SHOWN ? (
      <p class="muted">
        The first {MAX_DEPENDENCIES_SHOWN} of {formatCount(dependencies.length)} dependencies.
      </p>
    ) : null}
  </div>
);
