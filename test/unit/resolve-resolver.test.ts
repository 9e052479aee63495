import { describe, expect, it } from 'vitest';
import type { Dependency, Package, Release, RetirementStatus } from '../../src/registry/types.js';
import { resolveSpecs, type Resolution, type ResolveOptions } from '../../src/resolve/resolver.js';

// In-memory registry: plain objects of the decoded registry types.

const release = (version: string, dependencies: Dependency[] = [], retired?: RetirementStatus): Release => ({
  version,
  inner_checksum: Buffer.alloc(32),
  outer_checksum: Buffer.alloc(32),
  dependencies,
  advisory_indexes: [],
  ...(retired ? { retired } : {}),
});

const dep = (name: string, requirement: string, extra: Partial<Dependency> = {}): Dependency => ({
  package: name,
  requirement,
  app: name,
  ...extra,
});

const pkg = (name: string, releases: Release[]): Package => ({ name, repository: 'hexpm', releases, advisories: [] });

const SECURITY: RetirementStatus = { reason: 2, message: 'CVE-2099-0001' };

function registry(...packages: Package[]): { fetchPackage: ResolveOptions['fetchPackage']; fetched: string[] } {
  const byName = new Map(packages.map((p) => [p.name, p]));
  const fetched: string[] = [];
  return {
    fetched,
    fetchPackage: async (name) => {
      fetched.push(name);
      await new Promise((resolve) => setImmediate(resolve));
      return byName.get(name);
    },
  };
}

const resolve = (specs: string[], fetchPackage: ResolveOptions['fetchPackage'], withOptional = false): Promise<Resolution> =>
  resolveSpecs(specs, { fetchPackage, withOptional });

const picked = (resolution: Resolution): string[] => resolution.releases.map((r) => `${r.name}@${r.version}`);

// A small Phoenix-shaped world.
const world = [
  pkg('phoenix', [
    release('1.6.16', [dep('plug', '~> 1.10'), dep('telemetry', '~> 0.4 or ~> 1.0')]),
    release('1.7.14', [
      dep('plug', '~> 1.14'),
      dep('phoenix_pubsub', '~> 2.1'),
      dep('telemetry', '~> 0.4 or ~> 1.0'),
      dep('jason', '~> 1.0', { optional: true }),
    ]),
    release('1.8.0-rc.3', [dep('plug', '~> 1.15')]),
  ]),
  pkg('plug', [
    release('1.13.6', [dep('mime', '~> 1.0 or ~> 2.0')]),
    release('1.16.1', [dep('mime', '~> 1.0 or ~> 2.0'), dep('plug_crypto', '~> 1.1.1 or ~> 1.2 or ~> 2.0'), dep('telemetry', '~> 0.4.3 or ~> 1.0')]),
  ]),
  pkg('phoenix_pubsub', [release('2.1.3')]),
  pkg('telemetry', [release('0.4.3'), release('1.2.1'), release('1.3.0-rc.0')]),
  pkg('mime', [release('1.6.0'), release('2.0.6')]),
  pkg('plug_crypto', [release('2.1.0')]),
  pkg('jason', [release('1.4.4', [dep('decimal', '~> 1.0 or ~> 2.0', { optional: true })])]),
  pkg('decimal', [release('2.1.1')]),
];

describe('resolveSpecs', () => {
  it('resolves a spec and its dependencies transitively, breadth-first, each release once', async () => {
    const { fetchPackage, fetched } = registry(...world);
    const resolution = await resolve(['phoenix@~> 1.7'], fetchPackage);

    expect(picked(resolution)).toEqual([
      'phoenix@1.7.14',
      'plug@1.16.1',
      'phoenix_pubsub@2.1.3',
      'telemetry@1.2.1',
      'mime@2.0.6',
      'plug_crypto@2.1.0',
    ]);
    expect(resolution.failures).toEqual([]);
    expect(resolution.skipped).toEqual([{ package: 'jason', requirement: '~> 1.0', via: ['phoenix@~> 1.7', 'phoenix@1.7.14'], reason: 'optional' }]);
    const byName = new Map(resolution.releases.map((r) => [r.name, r]));
    expect(byName.get('phoenix')).toMatchObject({
      via: ['phoenix@~> 1.7'],
      chosen: 'newest stable release matching ~> 1.7',
    });
    expect(byName.get('mime')?.via).toEqual(['phoenix@~> 1.7', 'phoenix@1.7.14', 'plug@1.16.1']);
    expect(byName.get('mime')?.chosen).toBe('newest stable release matching ~> 1.0 or ~> 2.0');
    expect(byName.get('plug')?.release).toBe(world[1]?.releases[1]);
    // Every package was fetched once, though telemetry was asked for under two requirements.
    expect([...fetched].sort()).toEqual(['mime', 'phoenix', 'phoenix_pubsub', 'plug', 'plug_crypto', 'telemetry']);
  });

  it('resolves a package at several versions when dependents ask for different ranges', async () => {
    const { fetchPackage } = registry(
      pkg('a', [release('1.0.0', [dep('c', '~> 1.0')])]),
      pkg('b', [release('1.0.0', [dep('c', '~> 2.0'), dep('d', '>= 0.0.0')])]),
      pkg('c', [release('1.0.0'), release('1.1.0'), release('2.0.0'), release('2.3.0')]),
      pkg('d', [release('0.1.0', [dep('c', '>= 1.0.0 and < 2.0.0')])]),
    );
    const resolution = await resolve(['a', 'b'], fetchPackage);
    expect(picked(resolution)).toEqual(['a@1.0.0', 'b@1.0.0', 'c@1.1.0', 'c@2.3.0', 'd@0.1.0']);
    // d's `>= 1.0.0 and < 2.0.0` is a new requirement, but it picks c 1.1.0 again: deduped.
    expect(resolution.releases.filter((r) => r.name === 'c').map((r) => r.via)).toEqual([
      ['a', 'a@1.0.0'],
      ['b', 'b@1.0.0'],
    ]);
  });

  it('follows optional dependencies only with withOptional', async () => {
    const { fetchPackage } = registry(...world);
    const without = await resolve(['jason'], fetchPackage);
    expect(picked(without)).toEqual(['jason@1.4.4']);
    expect(without.skipped).toEqual([{ package: 'decimal', requirement: '~> 1.0 or ~> 2.0', via: ['jason', 'jason@1.4.4'], reason: 'optional' }]);

    const withOptional = await resolve(['jason'], fetchPackage, true);
    expect(picked(withOptional)).toEqual(['jason@1.4.4', 'decimal@2.1.1']);
    expect(withOptional.skipped).toEqual([]);

    const phoenix = await resolve(['phoenix'], fetchPackage, true);
    expect(picked(phoenix)).toContain('jason@1.4.4');
    expect(picked(phoenix)).toContain('decimal@2.1.1');
  });

  it('NAME takes the newest stable release, then says so', async () => {
    const { fetchPackage } = registry(...world);
    const resolution = await resolve(['phoenix'], fetchPackage);
    expect(resolution.releases[0]).toMatchObject({ name: 'phoenix', version: '1.7.14', chosen: 'newest stable release' });
  });

  it('NAME takes the newest pre-release when there is no stable release, and says so', async () => {
    const { fetchPackage } = registry(
      pkg('fresh', [release('0.1.0-rc.1'), release('0.1.0-rc.2'), release('0.1.0-rc.10')]),
      pkg('half', [release('1.0.0', [], SECURITY), release('1.1.0-rc.0')]),
    );
    const resolution = await resolve(['fresh', 'half'], fetchPackage);
    expect(resolution.releases.map((r) => [r.version, r.chosen])).toEqual([
      ['0.1.0-rc.10', 'newest release, a pre-release: there is no stable release that is not retired'],
      ['1.1.0-rc.0', 'newest release, a pre-release: there is no stable release that is not retired'],
    ]);
  });

  describe('retired releases', () => {
    const retiredWorld = [
      pkg('app', [release('1.0.0', [dep('lib', '~> 1.0'), dep('old', '~> 0.1')])]),
      pkg('lib', [release('1.0.0'), release('1.1.0'), release('1.2.0', [], SECURITY)]),
      pkg('old', [release('0.1.0', [], { reason: 3 }), release('0.1.1', [], { reason: 4, message: 'use new' })]),
    ];

    it('are skipped when a dependency is resolved; all-retired is a failure and the rest goes on', async () => {
      const { fetchPackage } = registry(...retiredWorld);
      const resolution = await resolve(['app'], fetchPackage);
      expect(picked(resolution)).toEqual(['app@1.0.0', 'lib@1.1.0']);
      expect(resolution.failures).toEqual([
        {
          kind: 'dependency',
          package: 'old',
          requirement: '~> 0.1',
          via: ['app', 'app@1.0.0'],
          reason: 'every release of old matching ~> 0.1 is retired (0.1.1, 0.1.0)',
        },
      ]);
    });

    it('are skipped for NAME and NAME@REQUIREMENT, with a hint to ask for the exact version', async () => {
      const { fetchPackage } = registry(...retiredWorld);
      const resolution = await resolve(['lib', 'lib@~> 1.2.0', 'old'], fetchPackage);
      expect(picked(resolution)).toEqual(['lib@1.1.0']);
      expect(resolution.failures).toEqual([
        {
          kind: 'spec',
          spec: 'lib@~> 1.2.0',
          reason: 'every release of lib matching ~> 1.2.0 is retired (1.2.0); ask for lib@1.2.0 to take it anyway',
        },
        { kind: 'spec', spec: 'old', reason: 'every release of old is retired (0.1.1, 0.1.0)' },
      ]);
    });

    it('are taken when the exact version is asked for, saying they are retired', async () => {
      const { fetchPackage } = registry(...retiredWorld);
      const resolution = await resolve(['lib@1.2.0', 'old@0.1.1'], fetchPackage);
      expect(resolution.releases.map((r) => [`${r.name}@${r.version}`, r.chosen])).toEqual([
        ['lib@1.2.0', 'the version asked for, although it is retired (security: CVE-2099-0001)'],
        ['old@0.1.1', 'the version asked for, although it is retired (renamed: use new)'],
      ]);
      expect(resolution.releases[0]?.release.retired).toEqual(SECURITY);
    });
  });

  describe('pre-releases (as Hex 2 picks them)', () => {
    // hexpm/hex test/hex/solver_test.exs, "pre-release", with beta 1.0.0 and 1.1.0-beta.
    const beta = pkg('beta', [release('1.0.0'), release('1.1.0-beta')]);

    it.each([
      ['~> 1.0', '1.0.0'],
      ['~> 1.0 and >= 1.0.0', '1.0.0'],
      ['~> 1.0-beta and >= 1.0.0-beta', '1.0.0'],
      ['~> 1.1-beta and >= 1.1.0-beta', '1.1.0-beta'],
      ['>= 0.0.0', '1.0.0'],
      ['== 1.1.0-beta', '1.1.0-beta'],
    ])('beta@%s is %s', async (requirement, version) => {
      const { fetchPackage } = registry(beta);
      const resolution = await resolve([`beta@${requirement}`], fetchPackage);
      expect(picked(resolution)).toEqual([`beta@${version}`]);
    });

    it('prefer any stable release to a newer pre-release, for dependencies too', async () => {
      const { fetchPackage } = registry(
        pkg('root', [release('1.0.0', [dep('beta', '~> 1.0-beta'), dep('only_pre', '~> 2.0')])]),
        beta,
        pkg('only_pre', [release('1.9.0'), release('2.0.0-rc.1'), release('2.1.0-rc.1'), release('2.1.0-rc.2'), release('3.0.0-rc.0')]),
      );
      const resolution = await resolve(['root'], fetchPackage);
      // `~> 2.0` is `>= 2.0.0 and < 3.0.0-0` by precedence: 2.1.0-rc.2 is the newest it
      // allows (2.0.0-rc.1 is below 2.0.0), and no stable release matches, so Hex picks it.
      expect(picked(resolution)).toEqual(['root@1.0.0', 'beta@1.0.0', 'only_pre@2.1.0-rc.2']);
      expect(resolution.releases[2]?.chosen).toBe('newest pre-release matching ~> 2.0: no stable release that is not retired matches');
    });

    it('never reach a pre-release of the ~> upper bound', async () => {
      const { fetchPackage } = registry(pkg('p', [release('1.0.0-rc.1'), release('2.0.0-rc.1')]));
      const resolution = await resolve(['p@~> 1.0'], fetchPackage);
      expect(picked(resolution)).toEqual([]);
      expect(resolution.failures).toEqual([{ kind: 'spec', spec: 'p@~> 1.0', reason: 'no release of p matches ~> 1.0 (the newest is 2.0.0-rc.1)' }]);
    });
  });

  it('survives dependency cycles, self-dependencies included', async () => {
    const { fetchPackage, fetched } = registry(
      pkg('a', [release('1.0.0', [dep('b', '~> 1.0'), dep('a', '~> 1.0')])]),
      pkg('b', [release('1.0.0', [dep('c', '~> 1.0')])]),
      pkg('c', [release('1.0.0', [dep('a', '>= 1.0.0'), dep('b', '== 1.0.0')])]),
    );
    const resolution = await resolve(['a'], fetchPackage);
    expect(picked(resolution)).toEqual(['a@1.0.0', 'b@1.0.0', 'c@1.0.0']);
    expect(resolution.failures).toEqual([]);
    expect([...fetched].sort()).toEqual(['a', 'b', 'c']);
  });

  it('reports missing packages and unmatched requirements, and carries on', async () => {
    const { fetchPackage } = registry(
      pkg('app', [release('1.0.0', [dep('ghost', '~> 1.0'), dep('lib', '~> 9.0'), dep('ok', '~> 1.0')])]),
      pkg('lib', [release('1.0.0'), release('2.0.0')]),
      pkg('ok', [release('1.0.0')]),
      pkg('empty', []),
    );
    const resolution = await resolve(['nope', 'app', 'lib@3.0.0', 'lib@> 5.0.0', 'empty'], fetchPackage);
    expect(picked(resolution)).toEqual(['app@1.0.0', 'ok@1.0.0']);
    expect(resolution.failures).toEqual([
      { kind: 'spec', spec: 'nope', reason: 'there is no package named nope' },
      { kind: 'spec', spec: 'lib@3.0.0', reason: 'lib has no release 3.0.0 (the newest is 2.0.0)' },
      { kind: 'spec', spec: 'lib@> 5.0.0', reason: 'no release of lib matches > 5.0.0 (the newest is 2.0.0)' },
      { kind: 'spec', spec: 'empty', reason: 'empty has no releases' },
      { kind: 'dependency', package: 'ghost', requirement: '~> 1.0', via: ['app', 'app@1.0.0'], reason: 'there is no package named ghost' },
      {
        kind: 'dependency',
        package: 'lib',
        requirement: '~> 9.0',
        via: ['app', 'app@1.0.0'],
        reason: 'no release of lib matches ~> 9.0 (the newest is 2.0.0)',
      },
    ]);
  });

  it('reports a package whose fetch throws, and carries on', async () => {
    const { fetchPackage: inner } = registry(pkg('ok', [release('1.0.0')]));
    const fetchPackage: ResolveOptions['fetchPackage'] = async (name, repository) => {
      if (name === 'broken') throw new Error('upstream answered 503');
      return inner(name, repository);
    };
    const resolution = await resolve(['broken', 'ok'], fetchPackage);
    expect(picked(resolution)).toEqual(['ok@1.0.0']);
    expect(resolution.failures).toEqual([{ kind: 'spec', spec: 'broken', reason: 'fetching package broken failed: upstream answered 503' }]);
  });

  it('skips dependencies from another repository, and resolves those that name hexpm', async () => {
    const { fetchPackage, fetched } = registry(
      pkg('app', [
        release('1.0.0', [
          dep('secret', '~> 1.0', { repository: 'acme' }),
          dep('lib', '~> 1.0', { repository: 'hexpm' }),
          dep('other', '~> 1.0', { repository: 'acme', optional: true }),
        ]),
      ]),
      pkg('lib', [release('1.0.0')]),
    );
    const resolution = await resolve(['app'], fetchPackage, true);
    expect(picked(resolution)).toEqual(['app@1.0.0', 'lib@1.0.0']);
    expect(resolution.skipped).toEqual([
      { package: 'secret', requirement: '~> 1.0', via: ['app', 'app@1.0.0'], reason: 'other-repository', repository: 'acme' },
      { package: 'other', requirement: '~> 1.0', via: ['app', 'app@1.0.0'], reason: 'other-repository', repository: 'acme' },
    ]);
    expect(fetched).not.toContain('secret');
  });

  it('looks specs up in the repositories given, in order, and follows each dependency to its own repository', async () => {
    const inRepo = (repository: string, name: string, releases: Release[]): Package => ({ name, repository, releases, advisories: [] });
    const repos = new Map<string, Package[]>([
      [
        'acme',
        [
          inRepo('acme', 'acme_core', [
            release('1.0.0', [
              dep('pub', '~> 1.0', { repository: 'hexpm' }),
              dep('acme_util', '~> 0.1'),
              dep('secret', '~> 1.0', { repository: 'globex' }),
            ]),
          ]),
          inRepo('acme', 'acme_util', [release('0.1.0')]),
          inRepo('acme', 'shared', [release('2.0.0')]),
        ],
      ],
      ['hexpm', [pkg('pub', [release('1.0.0')]), pkg('shared', [release('1.0.0')]), pkg('acme_util', [release('0.1.0')])]],
    ]);
    const asked: string[] = [];
    const resolution = await resolveSpecs(['acme_core', 'shared', 'pub'], {
      withOptional: false,
      specRepositories: ['acme', 'hexpm'],
      defaultRepository: 'hexpm',
      refuses: (repository) => (repos.has(repository) ? undefined : `not served: ${repository}`),
      fetchPackage: async (name, repository) => {
        asked.push(`${repository}/${name}`);
        return repos.get(repository)?.find((candidate) => candidate.name === name);
      },
    });
    expect(resolution.releases.map((r) => `${r.repository}/${r.name}@${r.version}`)).toEqual([
      'acme/acme_core@1.0.0',
      'acme/shared@2.0.0',
      'hexpm/pub@1.0.0',
      'acme/acme_util@0.1.0',
    ]);
    expect(resolution.releases[3]?.via).toEqual(['acme_core', 'acme/acme_core@1.0.0']);
    expect(resolution.failures).toEqual([]);
    expect(resolution.skipped).toEqual([
      {
        package: 'secret',
        requirement: '~> 1.0',
        via: ['acme_core', 'acme/acme_core@1.0.0'],
        reason: 'other-repository',
        repository: 'globex',
        detail: 'not served: globex',
      },
    ]);
    // pub was looked for in acme first (the spec), then found in hexpm; the dependency on it went straight to hexpm.
    expect(asked.filter((key) => key.endsWith('/pub'))).toEqual(['acme/pub', 'hexpm/pub']);
    expect(asked).not.toContain('hexpm/acme_util');

    const missing = await resolveSpecs(['nope'], { withOptional: false, specRepositories: ['acme'], fetchPackage: async () => undefined });
    expect(missing.failures).toEqual([{ kind: 'spec', spec: 'nope', reason: 'there is no package named nope in repository acme' }]);
  });

  it('reports invalid specs and dependency requirements; a missing requirement means any version', async () => {
    const { fetchPackage } = registry(
      pkg('app', [release('1.0.0', [dep('lib', '~> 1'), dep('any', ''), dep('Bad-Name', '~> 1.0')])]),
      pkg('any', [release('0.1.0'), release('0.2.0')]),
    );
    const resolution = await resolve(['app', 'App', 'app@~>', 'app@1.0'], fetchPackage);
    expect(picked(resolution)).toEqual(['app@1.0.0', 'any@0.2.0']);
    expect(resolution.releases[1]?.chosen).toBe('newest stable release matching >= 0.0.0');
    expect(resolution.failures).toEqual([
      { kind: 'spec', spec: 'App', reason: expect.stringMatching(/"App" is not a Hex package name/) },
      { kind: 'spec', spec: 'app@~>', reason: expect.stringMatching(/'~>' must be followed by a version/) },
      { kind: 'spec', spec: 'app@1.0', reason: expect.stringMatching(/'1.0' has no patch number/) },
      {
        kind: 'dependency',
        package: 'lib',
        requirement: '~> 1',
        via: ['app', 'app@1.0.0'],
        reason: expect.stringMatching(/invalid requirement "~> 1": '1' is not a version/),
      },
      {
        kind: 'dependency',
        package: 'Bad-Name',
        requirement: '~> 1.0',
        via: ['app', 'app@1.0.0'],
        reason: '"Bad-Name" is not a Hex package name',
      },
    ]);
  });

  it('matches an exact version ignoring build metadata, and ignores releases with invalid versions', async () => {
    const { fetchPackage } = registry(
      pkg('built', [release('1.0.0+linux'), release('1.1.0')]),
      pkg('damaged', [release('1.0'), release('bogus')]),
      pkg('mixed', [release('2.0'), release('1.0.0')]),
    );
    const resolution = await resolve(['built@1.0.0', 'damaged', 'mixed', 'mixed@~> 1.0'], fetchPackage);
    expect(picked(resolution)).toEqual(['built@1.0.0+linux', 'mixed@1.0.0']);
    expect(resolution.failures).toEqual([
      { kind: 'spec', spec: 'damaged', reason: 'damaged has no releases with a valid version (2 with invalid ones)' },
    ]);
  });

  it('dedupes repeated specs and identical releases reached by different specs', async () => {
    const { fetchPackage } = registry(...world);
    const resolution = await resolve(['mime', 'mime', 'mime@2.0.6', 'mime@~> 2.0'], fetchPackage);
    expect(resolution.releases).toEqual([
      expect.objectContaining({ name: 'mime', version: '2.0.6', via: ['mime'], chosen: 'newest stable release' }),
    ]);
  });

  it('fetches with bounded concurrency, each package once', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `leaf${i}`);
    const packages = [
      pkg('root', [
        release(
          '1.0.0',
          names.map((name) => dep(name, '~> 1.0')),
        ),
      ]),
      ...names.map((name) => pkg(name, [release('1.0.0', [dep('shared', '~> 1.0')])])),
      pkg('shared', [release('1.0.0')]),
    ];
    const byName = new Map(packages.map((p) => [p.name, p]));
    let inFlight = 0;
    let maxInFlight = 0;
    const calls: string[] = [];
    const fetchPackage = async (name: string): Promise<Package | undefined> => {
      calls.push(name);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return byName.get(name);
    };
    const resolution = await resolveSpecs(['root'], { fetchPackage, withOptional: false, concurrency: 3 });
    expect(resolution.releases).toHaveLength(14);
    expect(maxInFlight).toBe(3);
    expect(calls).toHaveLength(14);
    expect(new Set(calls).size).toBe(14);
  });

  it('rejects a bad concurrency up front', async () => {
    const { fetchPackage } = registry();
    await expect(resolveSpecs(['a'], { fetchPackage, withOptional: false, concurrency: 0 })).rejects.toThrow(RangeError);
  });
});
