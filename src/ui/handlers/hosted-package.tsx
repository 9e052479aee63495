// /ui/repos/REPO/packages/NAME for a hosted repository: the package as published to
// hexproxy, from the hosted store (no upstream, no cache). The caller has checked that the
// viewer may read REPO.
import type { Context } from 'hono';
import { BadRequestError, NotFoundError } from '../../errors.js';
import { isPackageName, isVersion } from '../../registry/resource.js';
import { HostedPackagePage, offeredOf } from '../pages/hosted-package.js';
import { mayWrite } from '../viewer.js';
import type { UiContext, UiEnv } from './ui-context.js';

const RELEASES_PAGE_SIZE = 100;

export async function hostedPackagePage(ui: UiContext, c: Context<UiEnv>, repository: string, name: string): Promise<Response> {
  const { hosted, publicRepository, repositories, access } = ui.deps;
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
  const version = c.req.query('version');
  if (version !== undefined && !isVersion(version)) throw new BadRequestError(`"${version}" is not a SemVer version`);
  const pageParam = c.req.query('page');
  if (pageParam !== undefined && !/^[1-9]\d{0,8}$/.test(pageParam))
    throw new BadRequestError(`page=${pageParam.slice(0, 20)} is not a page number (1, 2, …)`);
  const pkg = hosted?.packageInfo(repository, name);
  if (!pkg)
    throw new NotFoundError(`hosted repository ${repository} has no package ${name}; publish it with mix hex.publish --organization ${repository}`);
  const newestFirst = [...pkg.releases].reverse();
  let selected = offeredOf(pkg.releases);
  let page = pageParam === undefined ? undefined : Number(pageParam);
  if (version !== undefined) {
    const at = newestFirst.findIndex((release) => release.version === version);
    selected = newestFirst[at];
    if (!selected) throw new NotFoundError(`${name} has no release ${version} in ${repository}`);
    page ??= Math.floor(at / RELEASES_PAGE_SIZE) + 1;
  }
  page ??= 1;
  const count = Math.max(1, Math.ceil(newestFirst.length / RELEASES_PAGE_SIZE));
  if (page > count) throw new NotFoundError(`${name} has ${count} ${count === 1 ? 'page' : 'pages'} of releases; there is no page ${page}`);
  const viewer = c.get('viewer');
  return ui.page(
    <HostedPackagePage
      chrome={ui.chromeOf(viewer)}
      pkg={pkg}
      releases={newestFirst.slice((page - 1) * RELEASES_PAGE_SIZE, page * RELEASES_PAGE_SIZE)}
      selected={selected}
      pages={{ page, count }}
      publicRepository={publicRepository}
      readable={viewer.repositories.filter((repo) => repositories.has(repo))}
      mayWrite={mayWrite(access, viewer, repository)}
      now={Date.now()}
    />,
  );
}
