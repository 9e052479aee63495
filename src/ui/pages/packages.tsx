// Packages: what is cached (tarballs grouped by package), searchable, with sizes, hits and last use.
import type { FC } from 'hono/jsx';
import type { HostedPackageSummary } from '../../hosted/hosted-store.js';
import type { CachedPackageRow, CachedPackageSort } from '../../store/cache-index.js';
import { formatBytes } from '../../util/format-bytes.js';
import { formatAgo, formatCount, formatTime, isoTime } from '../format.js';
import { Badge, Layout, type Chrome } from '../layout.js';
import { packageHref, queryString } from '../links.js';

export interface PackagesPageProps {
  chrome: Chrome;
  search: string;
  sort: CachedPackageSort;
  page: number;
  pageSize: number;
  total: { packages: number; releases: number; bytes: number };
  packages: CachedPackageRow[];
  publicRepository: string;
  /** The repositories listed (those the viewer may read). */
  repositories: string[];
  /** A package name the search could be looked up as upstream, when it is not cached. */
  lookup: string | undefined;
  /** The hosted repositories the viewer may read, and their packages that match the search (a bounded number). */
  hosted: { repositories: string[]; packages: HostedPackageSummary[]; total: number };
  now: number;
}

export const SORTS: Record<CachedPackageSort, string> = { name: 'Name', hits: 'Most hits', size: 'Largest', recent: 'Recently used' };

export const PackagesPage: FC<PackagesPageProps> = (props) => {
  const { chrome, search, sort, page, pageSize, total, packages, publicRepository, repositories, lookup, hosted, now } = props;
  const pages = Math.max(1, Math.ceil(total.packages / pageSize));
  const link = (target: number): string =>
    `/ui/packages${queryString({ q: search, sort: sort === 'name' ? undefined : sort, page: target > 1 ? target : undefined })}`;
  const showRepo = repositories.length > 1 || packages.some((row) => row.repo !== publicRepository);
  return (
    <Layout title="Packages" section="packages" chrome={chrome}>
      <h1>Packages</h1>
      <p class="lead">
        What hexproxy has cached: {formatCount(total.packages)} {total.packages === 1 ? 'package' : 'packages'}, {formatCount(total.releases)}{' '}
        {total.releases === 1 ? 'release' : 'releases'}, {formatBytes(total.bytes)}
        {search !== '' ? (
          <>
            {' '}
            matching <strong>“{search}”</strong>
          </>
        ) : null}
        {repositories.length > 1 ? <> in {repositories.join(', ')}</> : null}.
      </p>
      <form class="search" method="get" action="/ui/packages" role="search">
        <label class="sr-only" for="q">
          Search cached packages
        </label>
        <input type="search" id="q" name="q" value={search} placeholder="Search cached packages by name" maxlength={100} autocomplete="off" />
        <label class="sr-only" for="sort">
          Sort by
        </label>
        <select id="sort" name="sort">
          {Object.entries(SORTS).map(([value, label]) => (
            <option value={value} selected={value === sort}>
              {label}
            </option>
          ))}
        </select>
        <button type="submit">Search</button>
      </form>
      {hosted.repositories.length > 0 ? <HostedPackages hosted={hosted} search={search} publicRepository={publicRepository} now={now} /> : null}
      {hosted.repositories.length > 0 ? <h2 id="cached">Cached from upstream</h2> : null}
      {lookup !== undefined ? (
        <p class="muted">
          Not cached yet?{' '}
          <a href={packageHref(publicRepository, lookup, publicRepository)}>
            Look up <strong>{lookup}</strong> upstream
          </a>
          .
        </p>
      ) : null}
      {packages.length === 0 ? (
        <div class="notice">
          {search !== '' ? (
            <>
              No cached package matches <strong>“{search}”</strong>.
            </>
          ) : (
            <>
              Nothing is cached yet. Point Mix or rebar3 at hexproxy (see <a href="/ui/setup">Set me up</a>) and fetch some dependencies, or pre-warm
              with <code>hexproxy prewarm</code>.
            </>
          )}
        </div>
      ) : (
        <div class="table-wrap">
          <table id="packages">
            <thead>
              <tr>
                <th>Package</th>
                {showRepo ? <th>Repository</th> : null}
                <th class="num">Cached releases</th>
                <th class="num">Size</th>
                <th class="num">Hits</th>
                <th>Last used</th>
              </tr>
            </thead>
            <tbody>
              {packages.map((row) => (
                <tr data-package={row.name} data-repo={row.repo}>
                  <td>
                    <a href={packageHref(row.repo, row.name, publicRepository)}>
                      <strong>{row.name}</strong>
                    </a>
                  </td>
                  {showRepo ? (
                    <td>
                      {row.repo === publicRepository ? (
                        <Badge>{row.repo}</Badge>
                      ) : (
                        <Badge tone="org" title="private organization">
                          {row.repo}
                        </Badge>
                      )}
                    </td>
                  ) : null}
                  <td class="num">{formatCount(row.releases)}</td>
                  <td class="num">{formatBytes(row.bytes)}</td>
                  <td class="num">{formatCount(row.hits)}</td>
                  <td class="nowrap">
                    <time datetime={isoTime(row.lastUsedAt)} title={formatTime(row.lastUsedAt)}>
                      {formatAgo(row.lastUsedAt, now)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pages > 1 ? (
        <nav class="pager" aria-label="Pages">
          {page > 1 ? (
            <a href={link(page - 1)} rel="prev">
              ← Previous
            </a>
          ) : null}
          <span class="muted">
            Page {page} of {pages}
          </span>
          {page < pages ? (
            <a href={link(page + 1)} rel="next">
              Next →
            </a>
          ) : null}
        </nav>
      ) : null}
      <p class="muted">Hit counts and last use are written to the index every few seconds.</p>
    </Layout>
  );
};

/** What was published to the hosted repositories the viewer may read: data, never evicted. */
const HostedPackages: FC<{ hosted: PackagesPageProps['hosted']; search: string; publicRepository: string; now: number }> = ({
  hosted,
  search,
  publicRepository,
  now,
}) => (
  <>
    <h2 id="hosted">Hosted packages</h2>
    <p class="muted">
      Published to this hexproxy, in {hosted.repositories.join(', ')}: {formatCount(hosted.total)} {hosted.total === 1 ? 'package' : 'packages'}
      {search !== '' ? (
        <>
          {' '}
          matching <strong>“{search}”</strong>
        </>
      ) : null}
      {hosted.packages.length < hosted.total ? <>, the first {formatCount(hosted.packages.length)} by name</> : null}.
    </p>
    {hosted.packages.length === 0 ? (
      <div class="notice">
        {search !== '' ? (
          <>
            No hosted package matches <strong>“{search}”</strong>.
          </>
        ) : (
          <>
            Nothing is published yet. A token made with <code>--write</code> publishes with <code>mix hex.publish</code> or{' '}
            <code>rebar3 hex publish</code> (see <a href="/ui/setup#publish">Set me up</a>).
          </>
        )}
      </div>
    ) : (
      <div class="table-wrap">
        <table id="hosted-packages">
          <thead>
            <tr>
              <th>Package</th>
              <th>Repository</th>
              <th>Latest</th>
              <th class="num">Releases</th>
              <th>Description</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {hosted.packages.map((row) => (
              <tr data-package={row.name} data-repo={row.repository} data-hosted="yes">
                <td>
                  <a href={packageHref(row.repository, row.name, publicRepository)}>
                    <strong>{row.name}</strong>
                  </a>
                </td>
                <td>
                  <Badge tone="hosted" title="published to this hexproxy">
                    hosted: {row.repository}
                  </Badge>
                </td>
                <td class="nowrap">{row.latestVersion}</td>
                <td class="num">{formatCount(row.versions.length)}</td>
                <td>{row.metadata.description.length > 140 ? `${row.metadata.description.slice(0, 139)}…` : row.metadata.description}</td>
                <td class="nowrap">
                  <time datetime={isoTime(row.updatedAt)} title={formatTime(row.updatedAt)}>
                    {formatAgo(row.updatedAt, now)}
                  </time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
  </>
);
