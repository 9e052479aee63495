// A ValidatedRelease (what the upload validator hands the hosted store) made from a real
// Hex tarball built by hex-tarball.ts, with the facts its metadata.config states: for
// tests of the store and of serving, without the validator.
import type { ValidatedRelease } from '../../src/hosted/release.js';
import { buildHexTarball, readHexTarball, type TarballSpec } from './hex-tarball.js';

export async function validatedRelease(spec: TarballSpec): Promise<ValidatedRelease> {
  const built = await buildHexTarball(spec);
  const metadataConfig = (await readHexTarball(built.tar)).metadata.toString('utf8');
  const files = /\{<<"files">>,\[(.*)\]\}\./.exec(metadataConfig)?.[1] ?? '';
  return {
    name: spec.name,
    version: spec.version,
    innerChecksum: built.innerChecksum,
    outerChecksum: built.outerChecksum,
    tarball: built.tar,
    requirements: (spec.dependencies ?? []).map((dependency) => ({
      name: dependency.package,
      requirement: dependency.requirement,
      optional: dependency.optional === true,
      app: dependency.app ?? dependency.package,
      // hex-tarball.ts writes "hexpm" into metadata.config when none is given.
      repository: dependency.repository ?? 'hexpm',
    })),
    metadata: {
      app: spec.app ?? spec.name,
      description: spec.description ?? `${spec.name} test package`,
      licenses: ['Apache-2.0'],
      links: {},
      buildTools: ['rebar3'],
      fileCount: files.split('<<"').length - 1,
    },
    metadataConfig,
  };
}
