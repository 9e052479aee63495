// `hexproxy cache stats`: what the cache holds and how well it serves.
import type { CacheIndex, PackageFigures } from '../store/cache-index.js';

export interface CacheStats {
  tarballs: { count: number; bytes: number; pinned: number };
  registryFiles: { count: number; bytes: number };
  passthroughFiles: { count: number; bytes: number };
  /** Requests served from cache over all requests, since the index was created; null before any. */
  hitRatio: { tarballs: number | null; registry: number | null };
  counters: Record<string, number>;
  topPackages: PackageFigures[];
}

/** Figures of some repositories only (those a token may read), and which one is public (docs and installs count for it). */
export interface StatsScope {
  repositories: readonly string[];
  publicRepository: string;
}

/**
 * Without `scope`, of everything cached. With it, the totals and top packages are of those
 * repositories only; the hit and miss counters are process-wide and name no repository.
 */
export function cacheStats(index: CacheIndex, top = 10, scope?: StatsScope): CacheStats {
  const counters = index.counters();
  const count = (name: string): number => counters[name] ?? 0;
  const ratio = (hits: number, total: number): number | null => (total === 0 ? null : hits / total);
  const registryServed = count('registry_hit') + count('registry_revalidated') + count('registry_stale');
  const totals =
    scope === undefined
      ? { tarballs: index.tarballTotals(), registryFiles: index.registryTotals(), passthroughFiles: index.passthroughTotals() }
      : index.totalsIn(scope.repositories, scope.publicRepository);
  return {
    ...totals,
    hitRatio: {
      tarballs: ratio(count('tarball_hit'), count('tarball_hit') + count('tarball_miss')),
      // A revalidated or stale answer was still served from the cache's bytes.
      registry: ratio(registryServed, registryServed + count('registry_miss')),
    },
    counters,
    topPackages: index.topPackages(top, scope?.repositories),
  };
}
