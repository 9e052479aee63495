// The payloads of the merged root view (src/registry/merge.ts): /names and /versions spliced
// on the wire agree with decoding, replacing and sorting the whole message; unknown fields
// survive; a hosted package file re-encoded as the root's.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeNames, decodePackage, decodeVersions, encodeNames, encodePackage, encodeVersions } from '../../src/registry/codec.js';
import { rehomePackagePayload, spliceIndexPayload } from '../../src/registry/merge.js';
import type { Names, Versions } from '../../src/registry/types.js';

const at = (seconds: number) => ({ seconds, nanos: 0 });

function names(repository: string, entries: [string, number][]): Buffer {
  return encodeNames({ repository, packages: entries.map(([name, seconds]) => ({ name, updated_at: at(seconds) })) });
}

function versions(repository: string, entries: [string, string[], number[]?][]): Buffer {
  return encodeVersions({
    repository,
    packages: entries.map(([name, list, retired]) => ({ name, versions: list, retired: retired ?? [], with_advisories: [] })),
  });
}

/** What the splice must equal: decoded, root's entries of merged names dropped, merged added (first list first), sorted by name. */
function oracle<T extends Names | Versions>(root: T, merged: T[], repository: string): T {
  const taken = new Map<string, T['packages'][number]>();
  for (const list of merged) for (const entry of list.packages) if (!taken.has(entry.name)) taken.set(entry.name, entry);
  const packages = [...root.packages.filter((entry) => !taken.has(entry.name)), ...taken.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  return { ...root, repository, packages };
}

describe('spliceIndexPayload', () => {
  it('puts each merged /names entry in place of the root entry of that name, in name order, the first merged list winning', () => {
    const root = names('hexpm', [
      ['alpha', 1],
      ['charlie', 2],
      ['echo', 3],
    ]);
    const acme = names('acme', [
      ['bravo', 10],
      ['charlie', 11],
    ]);
    const beta = names('beta', [
      ['charlie', 20],
      ['foxtrot', 21],
      ['aardvark', 22],
    ]);
    const spliced = decodeNames(spliceIndexPayload(root, [acme, beta], 'hexpm'));
    expect(spliced).toEqual(oracle(decodeNames(root), [decodeNames(acme), decodeNames(beta)], 'hexpm'));
    expect(spliced.packages.map((entry) => [entry.name, entry.updated_at?.seconds])).toEqual([
      ['aardvark', 22],
      ['alpha', 1],
      ['bravo', 10],
      ['charlie', 11],
      ['echo', 3],
      ['foxtrot', 21],
    ]);
  });

  it('replaces every version of a /versions entry, retirements with it', () => {
    const root = versions('hexpm', [
      ['clash', ['1.0.0', '9.0.0'], [0]],
      ['plain', ['0.1.0']],
    ]);
    const acme = versions('acme', [['clash', ['0.1.0', '0.2.0'], [1]]]);
    const spliced = decodeVersions(spliceIndexPayload(root, [acme], 'hexpm'));
    expect(spliced).toEqual(oracle(decodeVersions(root), [decodeVersions(acme)], 'hexpm'));
    expect(spliced.packages).toEqual([
      { name: 'clash', versions: ['0.1.0', '0.2.0'], retired: [1], with_advisories: [] },
      { name: 'plain', versions: ['0.1.0'], retired: [], with_advisories: [] },
    ]);
  });

  it('agrees with the whole decode on many entries, names the repository given, and keeps unknown fields byte for byte', () => {
    const entries: [string, number][] = Array.from({ length: 500 }, (_, i) => [`pkg_${String(i).padStart(4, '0')}`, i]);
    const root = names('hexpm', entries);
    const merged = names('acme', [
      ['pkg_0003', 1000],
      ['pkg_0499', 1001],
      ['zulu', 1002],
      ['a_first', 1003],
    ]);
    expect(decodeNames(spliceIndexPayload(root, [merged], 'hexpm'))).toEqual(oracle(decodeNames(root), [decodeNames(merged)], 'hexpm'));
    // A field this schema does not know (15, varint 7) stays where it was.
    const unknown = Buffer.from(
      protobuf.Writer.create()
        .uint32((15 << 3) | 0)
        .uint32(7)
        .finish(),
    );
    const spliced = spliceIndexPayload(Buffer.concat([unknown, root]), [merged], 'hexpm');
    expect(spliced.subarray(0, unknown.length).equals(unknown)).toBe(true);
  });

  it("gives root's entries unchanged when nothing is merged, and the merged ones alone over an empty root", () => {
    const root = names('hexpm', [
      ['alpha', 1],
      ['bravo', 2],
    ]);
    expect(decodeNames(spliceIndexPayload(root, [], 'hexpm'))).toEqual(decodeNames(root));
    expect(decodeNames(spliceIndexPayload(root, [names('acme', [])], 'hexpm'))).toEqual(decodeNames(root));
    const merged = names('acme', [['only', 5]]);
    expect(decodeNames(spliceIndexPayload(names('hexpm', []), [merged], 'hexpm'))).toEqual({
      repository: 'hexpm',
      packages: [{ name: 'only', updated_at: at(5) }],
    });
  });
});

describe('rehomePackagePayload', () => {
  it('names the root repository and drops the repository of dependencies on its own or on the root', () => {
    const hosted = encodePackage({
      name: 'acme_core',
      repository: 'acme',
      advisories: [],
      releases: [
        {
          version: '1.0.0',
          inner_checksum: Buffer.alloc(32, 1),
          outer_checksum: Buffer.alloc(32, 2),
          advisory_indexes: [],
          retired: { reason: 3, message: 'use 1.0.1' },
          published_at: at(1_700_000_000),
          dependencies: [
            { package: 'acme_util', requirement: '~> 0.1' },
            { package: 'jason', requirement: '~> 1.4', optional: true, repository: 'hexpm' },
            { package: 'other_org', requirement: '~> 2.0', repository: 'someorg' },
          ],
        },
      ],
    });
    const rehomed = decodePackage(rehomePackagePayload(hosted, 'hexpm'));
    const original = decodePackage(hosted);
    expect(rehomed).toEqual({
      ...original,
      repository: 'hexpm',
      releases: [
        {
          ...original.releases[0],
          dependencies: [
            { package: 'acme_util', requirement: '~> 0.1' },
            { package: 'jason', requirement: '~> 1.4', optional: true },
            { package: 'other_org', requirement: '~> 2.0', repository: 'someorg' },
          ],
        },
      ],
    });
  });
});
