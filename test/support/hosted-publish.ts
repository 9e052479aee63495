// Publishing to a running hexproxy's hosted store in-process, as the publishing routes do:
// a real package tarball (hex-tarball.ts) through the real validator, then the store.
import type { HostedStore, PublishResult } from '../../src/hosted/hosted-store.js';
import { validatePackageTarball } from '../../src/hosted/package-tarball.js';
import { buildHexTarball, type TarballSpec } from './hex-tarball.js';
import { gzippedTar } from './package-parts.js';

export async function publishHosted(store: HostedStore, repo: string, spec: TarballSpec, publisher = 'ci-publish'): Promise<PublishResult> {
  const release = await validatePackageTarball((await buildHexTarball(spec)).tar, { name: spec.name, version: spec.version });
  return store.publish(repo, release, { replace: false, publisher });
}

/** A docs tarball (gzipped tar) of these files, as `mix hex.publish` sends one. */
export const docsTarball = (files: Record<string, string | Buffer>): Promise<Buffer> =>
  gzippedTar(Object.entries(files).map(([name, data]) => ({ name, data })));
