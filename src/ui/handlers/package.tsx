// /ui/packages/NAME and /ui/repos/ORG/packages/NAME: one package, its releases (paged), what
// is cached of it, and what the policy blocks. Shown from the cache when upstream cannot be
// asked.
import type { Context } from 'hono';
import { BadRequestError, HexproxyError, NotFoundError, OfflineMissError } from '../../errors.js';
import { decideRelease, describeDecision, describeReason, type PackageFacts } from '../../policy/decide.js';
import { isPackageName, isVersion } from '../../registry/resource.js';
import type { ReleaseIndex } from '../../registry/release-index.js';
import type { Release } from '../../registry/types.js';
import { packagePageData } from '../package-view.js';
import { PackagePage, type PackageView, type ReleasePolicy } from '../pages/package.js';
import { mayRead } from '../viewer.js';
import { hostedPackagePage } from './hosted-package.js';
import { addressOf, type UiContext, type UiEnv, type UiHandler } from './ui-context.js';

/** The public repository's package pages follow its read rule (a token that reads only an organization gets 403). */
export function publicPackagePage(ui: UiContext): UiHandler<'/packages/:name'> {
  const { access, publicRepository } = ui.deps;
  return (c) => {
    const viewer = c.get('viewer');
    if (!mayRead(viewer, publicRepository)) access.check(c.req.header('authorization'), addressOf(c), 'read', publicRepository);
    return packagePage(ui, c, publicRepository, c.req.param('name'));
  };
}

export function organizationPackagePage(ui: UiContext): UiHandler<'/repos/:org/packages/:name'> {
  const { access, publicRepository, repositories, hosted } = ui.deps;
  return (c) => {
    const org = c.req.param('org');
    const isHosted = hosted?.hosts(org) === true;
    if (!isHosted && (!repositories.has(org) || org === publicRepository))
      throw new NotFoundError(`organization ${org} is not configured in hexproxy`);
    // No token: 401 (the browser asks for one); a token that may not read it: 403.
    access.check(c.req.header('authorization'), addressOf(c), 'read', org);
    if (isHosted) return hostedPackagePage(ui, c, org, c.req.param('name'));
    return packagePage(ui, c, org, c.req.param('name'));
  };
}

async function packagePage(ui: UiContext, c: Context<UiEnv>, repository: string, name: string): Promise<Response> {
  const { deps } = ui;
  const { index, publicRepository, repositories } = deps;
  if (!isPackageName(name))
    throw new BadRequestError(`"${name}" is not a valid package name (a lowercase letter, then lowercase letters, digits or _)`);
  const version = c.req.query('version');
  if (version !== undefined && !isVersion(version)) throw new BadRequestError(`"${version}" is not a SemVer version`);
  const pageParam = c.req.query('page');
  if (pageParam !== undefined && !/^[1-9]\d{0,8}$/.test(pageParam))
    throw new BadRequestError(`page=${pageParam.slice(0, 20)} is not a page number (1, 2, …)`);
  const mirror = repositories.get(repository);
  if (!mirror) throw new NotFoundError(`organization ${repository} is not configured in hexproxy`);
  const cached = index.listPackageTarballs(repository, name);
  let releases: ReleaseIndex | undefined;
  let registry: PackageView['registry'];
  try {
    const result = await mirror.registry.get({ kind: 'package', name });
    releases = mirror.registry.releaseIndex(result.file);
    const { checkedAt, upstreamAsOf } = result.file.row;
    registry = { state: result.cache === 'stale' ? 'stale' : 'fresh', checkedAt, upstreamAsOf };
  } catch (error: unknown) {
    if (!(error instanceof HexproxyError)) throw error;
    if (cached.length === 0) {
      if (error instanceof NotFoundError)
        throw new NotFoundError(`there is no package ${name} in ${repository}: upstream has none, and hexproxy has none cached`);
      if (error instanceof OfflineMissError)
        return ui.errorPage(
          c,
          error,
          `hexproxy cannot show ${name}: it has nothing of it cached, and it runs in offline mode (--offline), so it does not ask upstream`,
        );
      return ui.errorPage(
        c,
        error,
        `hexproxy cannot show ${name}: it has nothing of it cached, and fetching its registry file failed: ${error.message}`,
      );
    }
    if (error.status >= 500) deps.errors.record(error, error.status, c.req.method, c.req.path);
    registry = { state: 'unavailable', reason: error instanceof NotFoundError ? 'upstream no longer has it' : error.message };
  }
  // Decided on the unfiltered package, as the filtered registry files are (src/policy/filter.ts).
  const applies = deps.policy.appliesTo(repository);
  const policy = deps.policy.current;
  const now = Math.floor(deps.policy.nowMs() / 1000);
  const decide =
    applies && releases
      ? (pkg: PackageFacts, release: Release): ReleasePolicy => {
          const { decision } = decideRelease(policy, pkg, release, now);
          if (!decision.allowed) return { blocked: true, reasons: decision.reasons.map(describeReason) };
          const { rule } = decision;
          return rule
            ? {
                blocked: false,
                rule: {
                  key: rule.key,
                  text: rule.text,
                  comment: rule.comment,
                  note: `${describeDecision(decision)}${rule.comment ? ` (${rule.comment})` : ''}`,
                },
              }
            : { blocked: false };
        }
      : undefined;
  const { view, selected } = packagePageData({
    repository,
    name,
    index: releases,
    cached,
    registry,
    decide,
    version,
    page: pageParam === undefined ? undefined : Number(pageParam),
  });
  if (applies) view.policy = { decided: decide !== undefined, tarballs: policy.tarballs };
  const viewer = c.get('viewer');
  return ui.page(
    <PackagePage
      chrome={ui.chromeOf(viewer)}
      view={view}
      selected={selected}
      publicRepository={publicRepository}
      readable={viewer.repositories.filter((repo) => repositories.has(repo))}
      offline={deps.offline}
      now={Date.now()}
    />,
  );
}
