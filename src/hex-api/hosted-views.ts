// What the Hex API says of a hosted repository's packages and releases: hexpm's package and
// release views (lib/hexpm_web/views/api/package_view.ex, release_view.ex), with the fields
// the clients read. `mix hex.info` prints configs["mix.exs"], the releases (newest first,
// marking the retired ones from `retirements`), meta's description, licenses and links; for a
// release its "retirement" (the key must be there, nil when not retired), requirements,
// has_docs and publisher; `mix hex.package search` each package's latest stable release;
// `mix hex.publish` a new release's html_url. Pure: what the store holds in, terms out.
import type { HostedPackage, HostedRelease } from '../hosted/hosted-store.js';
import type { ReleaseRequirement } from '../hosted/release.js';
import { compareVersions } from '../resolve/version.js';
import type { Term } from './etf.js';

/** Where the links point: hexproxy's base URL as the client reached it (http://proxy:4000). */
export interface ViewUrls {
  base: string;
}

/** A release, as hexpm's ReleaseView "show" writes it (plus its package's name and repository). */
export function releaseView(urls: ViewUrls, release: HostedRelease): Term {
  const { repository, name, version } = release;
  return {
    name,
    repository,
    version,
    checksum: release.outerChecksum.toString('hex'),
    inner_checksum: release.innerChecksum.toString('hex'),
    has_docs: release.docs !== undefined,
    inserted_at: iso(release.publishedAt),
    updated_at: iso(release.updatedAt),
    retirement: release.retirement ? { reason: release.retirement.reason, message: release.retirement.message } : null,
    package_url: packageUrl(urls, repository, name),
    url: releaseUrl(urls, repository, name, version),
    html_url: releaseHtmlUrl(urls, repository, name, version),
    docs_html_url: release.docs ? docsHtmlUrl(urls, repository, name, version) : null,
    docs_url: release.docs ? docsTarballUrl(urls, repository, name, version) : null,
    requirements: requirementsView(release.requirements, repository),
    configs: configsView(repository, name, release.metadata.app, version),
    meta: {
      app: release.metadata.app,
      build_tools: [...new Set(release.metadata.buildTools)],
      elixir: release.metadata.elixir ?? null,
    },
    downloads: 0,
    publisher: { username: release.publisher, email: null },
  };
}

/** A package with its releases (newest first) and retirements, as hexpm's PackageView "show" writes it. */
export function packageView(urls: ViewUrls, pkg: HostedPackage): Term {
  const { repository, name } = pkg;
  const newestFirst = [...pkg.releases].sort((a, b) => compareVersions(b.version, a.version));
  const latest = newestFirst[0];
  const latestStable = newestFirst.find((release) => !release.version.includes('-'));
  // hexpm's snippets and metadata come from the latest stable release, or the latest.
  const shown = latestStable ?? latest;
  // hexpm's package docs link is the latest docs: here, the newest release that has some.
  const withDocs = newestFirst.find((release) => release.docs !== undefined);
  const retirements: Record<string, Term> = {};
  for (const release of newestFirst) {
    if (release.retirement) retirements[release.version] = { reason: release.retirement.reason, message: release.retirement.message };
  }
  return {
    repository,
    name,
    inserted_at: iso(pkg.createdAt),
    updated_at: iso(pkg.updatedAt),
    url: packageUrl(urls, repository, name),
    html_url: packageHtmlUrl(urls, repository, name),
    docs_html_url: withDocs ? docsHtmlUrl(urls, repository, name, withDocs.version) : null,
    latest_version: latest?.version ?? null,
    latest_stable_version: latestStable?.version ?? null,
    configs: shown ? configsView(repository, name, shown.metadata.app, shown.version) : {},
    meta: {
      description: shown?.metadata.description ?? null,
      licenses: shown?.metadata.licenses ?? [],
      links: shown?.metadata.links ?? {},
      maintainers: [],
    },
    releases: newestFirst.map((release) => ({
      version: release.version,
      url: releaseUrl(urls, repository, name, release.version),
      has_docs: release.docs !== undefined,
      inserted_at: iso(release.publishedAt),
    })),
    retirements,
    downloads: {},
    owners: [],
  };
}

/** hexpm's requirements map: name => {app, requirement, optional} (and the repository, which hexpm leaves out). */
function requirementsView(requirements: readonly ReleaseRequirement[], repository: string): Term {
  const view: Record<string, Term> = {};
  for (const requirement of requirements) {
    view[requirement.name] = {
      app: requirement.app,
      requirement: requirement.requirement,
      optional: requirement.optional,
      repository: requirement.repository ?? repository,
    };
  }
  return view;
}

/**
 * The dependency lines for mix.exs, rebar.config and erlang.mk, as hexpm's PackageView
 * dep_snippet writes them: `{:acme_core, "~> 1.0", organization: "acme"}`.
 */
export function configsView(repository: string, name: string, app: string, version: string): Record<string, string> {
  const parts = versionParts(version);
  const mixVersion =
    parts.pre !== '' ? `~> ${version}` : parts.major === '0' ? `~> 0.${parts.minor}.${parts.patch}` : `~> ${parts.major}.${parts.minor}`;
  const organization = `, organization: ${JSON.stringify(repository)}`;
  const mix = app === name ? `{:${name}, "${mixVersion}"${organization}}` : `{${mixAtom(app)}, "${mixVersion}", hex: :${name}${organization}}`;
  const rebar = app === name ? `{${name}, "${version}"}` : `{${erlangAtom(app)}, "${version}", {pkg, ${name}}}`;
  return { 'mix.exs': mix, 'rebar.config': rebar, 'erlang.mk': `dep_${name} = hex ${version}` };
}

function versionParts(version: string): { major: string; minor: string; patch: string; pre: string } {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?/.exec(version);
  return { major: match?.[1] ?? '0', minor: match?.[2] ?? '0', patch: match?.[3] ?? '0', pre: match?.[4] ?? '' };
}

const mixAtom = (app: string): string => (/^[a-zA-Z_][a-zA-Z_0-9]*$/.test(app) ? `:${app}` : `:${JSON.stringify(app)}`);
const erlangAtom = (app: string): string => (/^[a-z][a-zA-Z_0-9]*$/.test(app) ? app : `'${app}'`);

const iso = (ms: number): string => new Date(ms).toISOString();

const packageUrl = (urls: ViewUrls, repository: string, name: string): string => `${urls.base}/api/repos/${repository}/packages/${name}`;

export const releaseUrl = (urls: ViewUrls, repository: string, name: string, version: string): string =>
  `${packageUrl(urls, repository, name)}/releases/${encodeURIComponent(version)}`;

const packageHtmlUrl = (urls: ViewUrls, repository: string, name: string): string => `${urls.base}/ui/repos/${repository}/packages/${name}`;

const releaseHtmlUrl = (urls: ViewUrls, repository: string, name: string, version: string): string =>
  `${packageHtmlUrl(urls, repository, name)}?version=${encodeURIComponent(version)}`;

/** The web UI's docs pages of a hosted release (the UI serves them sandboxed: docs/security.md). */
const docsHtmlUrl = (urls: ViewUrls, repository: string, name: string, version: string): string =>
  `${urls.base}/ui/docs/${repository}/${name}/${encodeURIComponent(version)}/`;

/** The docs tarball, as `mix hex.docs fetch` downloads it. */
export const docsTarballUrl = (urls: ViewUrls, repository: string, name: string, version: string): string =>
  `${urls.base}/repos/${repository}/docs/${name}-${version}.tar.gz`;
