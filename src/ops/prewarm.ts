// What `hexproxy prewarm` (and `export` with locks or specs) should fetch: every Hex entry
// of the lock files, and the releases package specs resolve to, transitively.
import { readFile } from 'node:fs/promises';
import { BadRequestError, NotFoundError, errorMessage } from '../errors.js';
import { parseMixLock } from '../lockfiles/mix-lock.js';
import { parseRebarLock } from '../lockfiles/rebar-lock.js';
import { packageOf, type RegistryMirror } from '../mirror/registry-mirror.js';
import { resolveSpecs } from '../resolve/resolver.js';
import type { ReleaseTarget } from './fetch-releases.js';

export interface PrewarmRequest {
  mixLocks: readonly string[];
  rebarLocks: readonly string[];
  specs: readonly string[];
  withOptional: boolean;
  concurrency: number;
}

export interface PrewarmPlan {
  targets: ReleaseTarget[];
  skipped: { what: string; reason: string }[];
  failed: { what: string; reason: string }[];
}

export async function planPrewarm(request: PrewarmRequest, registry: RegistryMirror, repo: string): Promise<PrewarmPlan> {
  const plan: PrewarmPlan = { targets: [], skipped: [], failed: [] };
  const locks = [
    ...request.mixLocks.map((file) => ({ file, parse: parseMixLock })),
    ...request.rebarLocks.map((file) => ({ file, parse: parseRebarLock })),
  ];
  for (const { file, parse } of locks) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error: unknown) {
      throw new BadRequestError(`cannot read lock file ${file}: ${errorMessage(error)}`, { cause: error });
    }
    const lock = parse(text, file);
    for (const entry of lock.entries) {
      if (entry.repository !== repo) {
        plan.skipped.push({ what: `${entry.name} ${entry.version} (${file})`, reason: `it is in repository "${entry.repository}", and hexproxy proxies "${repo}"` });
        continue;
      }
      plan.targets.push({
        name: entry.name,
        version: entry.version,
        source: file,
        ...(entry.outerChecksum !== undefined && { lockOuterChecksum: entry.outerChecksum }),
        ...(entry.innerChecksum !== undefined && { lockInnerChecksum: entry.innerChecksum }),
      });
    }
    for (const skipped of lock.skipped) plan.skipped.push({ what: `${skipped.key} (${file})`, reason: skipped.reason });
  }

  if (request.specs.length > 0) {
    const resolution = await resolveSpecs(request.specs, {
      withOptional: request.withOptional,
      concurrency: request.concurrency,
      fetchPackage: async (name) => {
        try {
          // Asked upstream once per run, whatever the TTL: a pre-warm wants what is current.
          return packageOf((await registry.get({ kind: 'package', name }, true)).file);
        } catch (error: unknown) {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        }
      },
    });
    for (const release of resolution.releases) {
      plan.targets.push({ name: release.name, version: release.version, source: release.via.join(' → ') });
    }
    for (const failure of resolution.failures) {
      plan.failed.push(failure.kind === 'spec'
        ? { what: failure.spec, reason: failure.reason }
        : { what: `${failure.package} ${failure.requirement} (via ${failure.via.join(' → ')})`, reason: failure.reason });
    }
    for (const skipped of resolution.skipped) {
      plan.skipped.push({
        what: `${skipped.package} ${skipped.requirement} (via ${skipped.via.join(' → ')})`,
        reason: skipped.reason === 'optional' ? 'optional dependency (--with-optional includes it)' : `in repository "${skipped.repository ?? '?'}"`,
      });
    }
  }
  return plan;
}
