// A hosted package's page: its releases as they were published to hexproxy (who published
// each, when, retirements, docs), the dependencies of one release with links, and how to
// depend on it. Nothing here is cache: every release listed is stored for good.
import type { FC } from 'hono/jsx';
import type { HostedPackage, HostedRelease } from '../../hosted/hosted-store.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatAgo, formatCount, formatTime, isoTime } from '../format.js';
import { Badge, CodeBlock, Layout, type Chrome } from '../layout.js';
import { docsHref, packageHref } from '../links.js';
import { DependencyList, Pager, suggestedRequirement } from './package.js';

export interface HostedPackagePageProps {
  chrome: Chrome;
  pkg: HostedPackage;
  /** The releases on this page, newest first. */
  releases: HostedRelease[];
  /** The release whose dependencies are shown. */
  selected: HostedRelease | undefined;
  pages: { page: number; count: number };
  publicRepository: string;
  /** Repositories hexproxy serves and this viewer may read: dependencies in them are links. */
  readable: string[];
  /** The viewer may publish to this repository (their token's --write names it). */
  mayWrite: boolean;
  now: number;
}

// A hostile publisher can write any number of these: the page shows a bounded part
// (DependencyList bounds the dependencies).
const MAX_LINKS_SHOWN = 20;

/** Only web addresses become links (they come from whoever published). */
const safeUrl = (url: string): string | undefined => (/^https?:\/\/[^\s]+$/i.test(url) ? url : undefined);

const When: FC<{ at: number; now: number }> = ({ at, now }) => (
  <time datetime={isoTime(at)} title={formatTime(at)}>
    {formatAgo(at, now)}
  </time>
);

export const HostedPackagePage: FC<HostedPackagePageProps> = ({
  chrome,
  pkg,
  releases,
  selected,
  pages,
  publicRepository,
  readable,
  mayWrite,
  now,
}) => {
  const all = pkg.releases;
  const latest = latestOf(all);
  const retired = all.filter((release) => release.retirement !== undefined).length;
  const withDocs = all.filter((release) => release.docs !== undefined).length;
  const meta = (selected ?? latest)?.metadata;
  const mix = selected && `{:${pkg.name}, "${suggestedRequirement(selected.version)}", organization: "${pkg.repository}"}`;
  const rebar = selected && `{${pkg.name}, "${selected.version}"}`;
  const pageHref = (page: number): string => `${packageHref(pkg.repository, pkg.name, publicRepository)}?page=${page}#releases`;
  const links = Object.entries(meta?.links ?? {}).slice(0, MAX_LINKS_SHOWN);
  return (
    <Layout title={pkg.name} section="packages" chrome={chrome}>
      <p class="muted">
        <a href="/ui/packages">Packages</a> / {pkg.repository} / {pkg.name}
      </p>
      <div class="title-row">
        <h1 id="package-name">{pkg.name}</h1>
        <Badge tone="hosted" title="published to this hexproxy">
          hosted: {pkg.repository}
        </Badge>
        {latest ? <Badge id="latest">latest {latest.version}</Badge> : null}
      </div>
      {meta?.description ? (
        <p class="lead" id="description">
          {meta.description}
        </p>
      ) : null}
      <div class="grid stats">
        <div class="card stat">
          <div class="label">Releases</div>
          <div class="value">{formatCount(all.length)}</div>
          <div class="sub">{formatCount(retired)} retired</div>
        </div>
        <div class="card stat">
          <div class="label">Last change</div>
          <div class="value">
            <When at={pkg.updatedAt} now={now} />
          </div>
          <div class="sub">first published {formatTime(pkg.createdAt)}</div>
        </div>
        <div class="card stat">
          <div class="label">Docs</div>
          <div class="value">{formatCount(withDocs)}</div>
          <div class="sub">{withDocs === 1 ? 'release has' : 'releases have'} docs</div>
        </div>
      </div>
      {meta && (meta.licenses.length > 0 || links.length > 0 || meta.buildTools.length > 0) ? (
        <dl class="facts" id="package-facts">
          {meta.licenses.length > 0 ? (
            <>
              <dt>Licenses</dt>
              <dd>{meta.licenses.join(', ')}</dd>
            </>
          ) : null}
          {meta.buildTools.length > 0 ? (
            <>
              <dt>Build tools</dt>
              <dd>{meta.buildTools.join(', ')}</dd>
            </>
          ) : null}
          {links.length > 0 ? (
            <>
              <dt>Links</dt>
              <dd>
                {links.map(([label, url], index) => {
                  const href = safeUrl(url);
                  return (
                    <>
                      {index > 0 ? ' · ' : null}
                      {href ? (
                        <a href={href} rel="noreferrer noopener">
                          {label}
                        </a>
                      ) : (
                        label
                      )}
                    </>
                  );
                })}
              </dd>
            </>
          ) : null}
        </dl>
      ) : null}

      {selected && mix && rebar ? (
        <>
          <h2>Use {selected.version}</h2>
          {selected.retirement ? (
            <div class="notice warn" id="selected-retired">
              {pkg.name} {selected.version} is retired ({selected.retirement.reason})
              {selected.retirement.message ? `: ${selected.retirement.message}` : ''}.
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
          <p class="muted">
            Clients find it as an organization of <code>{publicRepository}</code>: see <a href="/ui/setup">Set me up</a>
            {mayWrite ? ', which also shows how to publish here' : ''}.
          </p>
        </>
      ) : null}

      <h2 id="releases">Releases</h2>
      {pages.count > 1 ? <Pager page={pages.page} count={pages.count} href={pageHref} /> : null}
      <div class="table-wrap">
        <table id="release-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Published</th>
              <th>Publisher</th>
              <th>Status</th>
              <th>Docs</th>
              <th class="num">Size</th>
              <th>SHA-256 (tarball)</th>
            </tr>
          </thead>
          <tbody>
            {releases.map((release) => (
              <tr
                class={[release.retirement ? 'retired' : '', selected?.version === release.version ? 'selected' : ''].join(' ').trim() || undefined}
                data-version={release.version}
                data-retired={release.retirement ? 'yes' : 'no'}
                data-docs={release.docs ? 'yes' : 'no'}
              >
                <td class="nowrap">
                  <a href={packageHref(pkg.repository, pkg.name, publicRepository, release.version)}>
                    <strong>{release.version}</strong>
                  </a>
                  {selected?.version === release.version ? <span class="sr-only"> (dependencies shown)</span> : null}
                </td>
                <td class="nowrap" data-published={isoTime(release.publishedAt)}>
                  <time datetime={isoTime(release.publishedAt)}>{formatTime(release.publishedAt)}</time>
                  {release.updatedAt !== release.publishedAt ? (
                    <div class="muted">
                      replaced <When at={release.updatedAt} now={now} />
                    </div>
                  ) : null}
                </td>
                <td class="publisher nowrap">
                  <code>{release.publisher}</code>
                </td>
                <td>
                  {release.retirement ? (
                    <>
                      <Badge tone="warn" title={release.retirement.message || undefined}>
                        retired: {release.retirement.reason}
                      </Badge>
                      {release.retirement.message ? <div class="muted retirement-message">{release.retirement.message}</div> : null}
                    </>
                  ) : (
                    <Badge tone="ok">published</Badge>
                  )}
                </td>
                <td>
                  {release.docs ? (
                    <a class="docs-link" href={docsHref(pkg.repository, pkg.name, release.version)}>
                      docs
                    </a>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td class="num">{formatBytes(release.size)}</td>
                <td>
                  <code class="sum">{release.outerChecksum.toString('hex')}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pages.count > 1 ? <Pager page={pages.page} count={pages.count} href={pageHref} /> : null}

      <h2 id="dependencies">Dependencies{selected ? <> of {selected.version}</> : null}</h2>
      {!selected ? null : selected.requirements.length === 0 ? (
        <p class="muted">
          {pkg.name} {selected.version} has no dependencies.
        </p>
      ) : (
        <DependencyList
          dependencies={selected.requirements.map((requirement) => ({ ...requirement, repository: requirement.repository ?? pkg.repository }))}
          ownRepository={pkg.repository}
          readable={readable}
          publicRepository={publicRepository}
        />
      )}
      <p class="muted">Pick a version in the table to see its dependencies.</p>
    </Layout>
  );
};

/** The newest release that is not a pre-release, else the newest; `releases` oldest first. */
export function latestOf(releases: readonly HostedRelease[]): HostedRelease | undefined {
  return [...releases].reverse().find((release) => !release.version.includes('-')) ?? releases.at(-1);
}

/** The release offered by default: the newest stable one not retired, else the newest not retired, else the latest. */
export function offeredOf(releases: readonly HostedRelease[]): HostedRelease | undefined {
  const newestFirst = [...releases].reverse();
  return (
    newestFirst.find((release) => !release.retirement && !release.version.includes('-')) ??
    newestFirst.find((release) => !release.retirement) ??
    latestOf(releases)
  );
}
