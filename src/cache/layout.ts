// Where everything hexproxy caches lives in the blob store: the one module that builds (and
// reads back) blob keys. Three kinds, each with its index table (src/store/cache-index.ts):
//
//   registry/REPO/PATH                      a verified registry file ("names", "packages/NAME")
//   tarballs/REPO/NAME/NAME-VERSION.tar     a package tarball
//   passthrough/PATH                        a pass-through file: docs, and the /installs files
//
// REPO is the repository as hexproxy names it ("hexpm", an organization). Pass-through
// paths are those of the pass-through table: the public repository's docs at docs/…, an
// organization's under repos/ORG/ (organizationPrefix), the builds server's files under
// installs/. `cache verify` moves what fails under quarantine/; nothing else writes there.
import { isPackageName, isVersion, resourceAt } from '../registry/resource.js';

export const registryKey = (repo: string, path: string): string => `registry/${repo}/${path}`;

export const tarballKey = (repo: string, name: string, version: string): string => `tarballs/${repo}/${name}/${name}-${version}.tar`;

/** `path` is the row's path in the pass-through table. */
export const passthroughKey = (path: string): string => `passthrough/${path}`;

/** Where an organization's pass-through files (its docs) are, in the pass-through table and under passthrough/. */
export const organizationPrefix = (organization: string): string => `repos/${organization}/`;

/** A docs tarball's path in the pass-through table, below its repository's prefix ("" or organizationPrefix). */
export const docsPath = (prefix: string, name: string, version: string): string => `${prefix}docs/${name}-${version}.tar.gz`;

/** An /installs file's path in the pass-through table; `path` is relative to /installs/. */
export const installsPath = (path: string): string => `installs/${path}`;

/** Where `cache verify` moves a blob that failed, by the time it did. */
export const quarantineKey = (key: string, at: Date): string => `quarantine/${at.toISOString().replace(/[:.]/g, '-')}/${key}`;

/** The top-level folders the index describes; nothing else (quarantine/, keys/, a store's own files) is the cache's. */
export const INDEXED_KINDS = ['tarballs', 'registry', 'passthrough'] as const;

export type IndexedKind = (typeof INDEXED_KINDS)[number];

/** What a key built here names: the row it belongs to. */
export type CacheKey =
  | { kind: 'tarballs'; repo: string; name: string; version: string }
  | { kind: 'registry'; repo: string; path: string }
  | { kind: 'passthrough'; path: string };

/** The row a key belongs to, for keys hexproxy writes; undefined for anything else. */
export function parseCacheKey(key: string): CacheKey | undefined {
  const segments = key.split('/');
  const [top] = segments;
  if (top === 'tarballs' && segments.length === 4) {
    const [, repo = '', name = '', file = ''] = segments;
    const version = file.startsWith(`${name}-`) && file.endsWith('.tar') ? file.slice(name.length + 1, -'.tar'.length) : '';
    if (!isPackageName(name) || !isVersion(version)) return undefined;
    return { kind: 'tarballs', repo, name, version };
  }
  if (top === 'registry' && segments.length >= 3) {
    const repo = segments[1] ?? '';
    const path = segments.slice(2).join('/');
    if (!resourceAt(path)) return undefined;
    return { kind: 'registry', repo, path };
  }
  if (top === 'passthrough' && segments.length >= 2) {
    return { kind: 'passthrough', path: segments.slice(1).join('/') };
  }
  return undefined;
}
