// The public repository's packages as publishing checks dependencies against them
// (src/hosted/publish.ts): the versions its package file lists, read through the mirror's
// verified registry (cached, revalidated after the TTL, stale when upstream fails). The
// policy does not apply: a dependency exists whether or not the policy lets clients have it.
import { NotFoundError } from '../errors.js';
import type { PublicPackages } from '../hosted/publish.js';
import { packageOf, type Repository } from '../repository/repository.js';

export function publicPackagesOf(repository: Pick<Repository, 'registry'>): PublicPackages {
  return {
    async versions(name, revalidate) {
      try {
        const { file } = await repository.registry.get({ kind: 'package', name }, revalidate);
        return packageOf(file).releases.map((release) => release.version);
      } catch (error: unknown) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },
  };
}
