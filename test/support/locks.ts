// Lock files as Mix and rebar3 write them, for releases of a fake upstream.
import type { FakeUpstream } from './upstreams/fake-upstream.js';

export interface Locked {
  name: string;
  version: string;
  deps?: { name: string; requirement: string; optional?: boolean }[];
  /** Replaces the outer checksum the lock records (to make it disagree with the registry). */
  outerChecksum?: string;
  /** The organization the release is in (mix.lock says "hexpm:ORG"; rebar.lock cannot say). */
  org?: string;
}

export function mixLock(upstream: FakeUpstream, locked: readonly Locked[], extra = ''): string {
  const lines = locked.map(({ name, version, deps = [], outerChecksum, org }) => {
    const tarball = upstream.tarball(name, version, org);
    const depTerms = deps
      .map((dep) => `{:${dep.name}, "${dep.requirement}", [hex: :${dep.name}, repo: "hexpm", optional: ${dep.optional ?? false}]}`)
      .join(', ');
    const outer = outerChecksum ?? tarball.outerChecksum.toString('hex');
    return `  "${name}": {:hex, :${name}, "${version}", "${tarball.innerChecksum.toString('hex')}", [:rebar3], [${depTerms}], "${org === undefined ? 'hexpm' : `hexpm:${org}`}", "${outer}"},`;
  });
  return `%{\n${lines.join('\n')}\n${extra}}\n`;
}

export function rebarLock(upstream: FakeUpstream, locked: readonly Locked[]): string {
  const entries = locked.map(({ name, version }, i) => `{<<"${name}">>,{pkg,<<"${name}">>,<<"${version}">>},${i === 0 ? 0 : 1}}`);
  const hashes = (kind: 'inner' | 'outer'): string =>
    locked
      .map(({ name, version, outerChecksum, org }) => {
        const tarball = upstream.tarball(name, version, org);
        const hex = kind === 'inner' ? tarball.innerChecksum.toString('hex') : (outerChecksum ?? tarball.outerChecksum.toString('hex'));
        return ` {<<"${name}">>, <<"${hex.toUpperCase()}">>}`;
      })
      .join(',\n');
  return `{"1.2.0",\n[${entries.join(',\n ')}]}.\n[\n{pkg_hash,[\n${hashes('inner')}]},\n{pkg_hash_ext,[\n${hashes('outer')}]}\n].\n`;
}
