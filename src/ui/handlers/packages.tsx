// /ui and /ui/packages: what is cached, in the repositories the viewer may read; a search,
// a sort and pages.
import { BadRequestError } from '../../errors.js';
import { isPackageName } from '../../registry/resource.js';
import type { CachedPackageSort } from '../../store/cache-index.js';
import { PackagesPage, SORTS } from '../pages/packages.js';
import { mayRead } from '../viewer.js';
import type { UiContext, UiHandler } from './ui-context.js';

const PAGE_SIZE = 100;
const MAX_SEARCH = 100;
// Hosted packages are listed above the cached ones, by name; more are found by searching.
const HOSTED_SHOWN = 100;

export function packagesPage(ui: UiContext): UiHandler {
  const { index, publicRepository, hosted } = ui.deps;
  return (c) => {
    const viewer = c.get('viewer');
    const search = c.req.query('q')?.trim() ?? '';
    if (search.length > MAX_SEARCH) throw new BadRequestError(`the search is longer than ${MAX_SEARCH} characters`);
    const sortParam = c.req.query('sort');
    const sort: CachedPackageSort = sortParam !== undefined && Object.hasOwn(SORTS, sortParam) ? (sortParam as CachedPackageSort) : 'name';
    const pageNumber = Math.min(100_000, Math.max(1, Math.floor(Number(c.req.query('page') ?? 1)) || 1));
    const result = index.cachedPackages({ repos: viewer.repositories, search, sort, limit: PAGE_SIZE, offset: (pageNumber - 1) * PAGE_SIZE });
    const lowered = search.toLowerCase();
    const lookup =
      isPackageName(lowered) &&
      mayRead(viewer, publicRepository) &&
      !result.packages.some((row) => row.name === lowered && row.repo === publicRepository)
        ? lowered
        : undefined;
    const hostedRepositories = viewer.repositories.filter((repo) => hosted?.hosts(repo) === true);
    const hostedPackages = hostedRepositories
      .flatMap((repo) => hosted?.listPackages(repo, { search }) ?? [])
      .sort((a, b) => compare(a.name, b.name) || compare(a.repository, b.repository));
    return ui.page(
      <PackagesPage
        chrome={ui.chromeOf(viewer)}
        search={search}
        sort={sort}
        page={pageNumber}
        pageSize={PAGE_SIZE}
        total={result.total}
        packages={result.packages}
        publicRepository={publicRepository}
        repositories={viewer.repositories}
        lookup={lookup}
        hosted={{ repositories: hostedRepositories, packages: hostedPackages.slice(0, HOSTED_SHOWN), total: hostedPackages.length }}
        now={Date.now()}
      />,
    );
  };
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
