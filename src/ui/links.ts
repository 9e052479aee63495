// Where UI pages live.

/** A package's page: /ui/packages/NAME for the public repository, /ui/repos/ORG/packages/NAME for an organization. */
export function packageHref(repository: string, name: string, publicRepository: string, version?: string): string {
  const base = repository === publicRepository ? `/ui/packages/${name}` : `/ui/repos/${repository}/packages/${name}`;
  return version === undefined ? base : `${base}?version=${encodeURIComponent(version)}#dependencies`;
}

/** A hosted release's docs pages (/ui/docs/REPO/PKG/VERSION/), opened with the viewer's token. */
export const docsHref = (repository: string, name: string, version: string): string =>
  `/ui/docs/${[repository, name, version].map(encodeURIComponent).join('/')}/`;

/** A page of a package's releases (from 1). */
export function releasesPageHref(repository: string, name: string, publicRepository: string, page: number): string {
  return `${packageHref(repository, name, publicRepository)}?page=${page}#releases`;
}

/** A query string from the parameters that are set, "" when none is. */
export function queryString(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
