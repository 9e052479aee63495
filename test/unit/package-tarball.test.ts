// Package tarball validation (src/hosted/package-tarball.ts): what Mix, rebar3_hex and the
// official Hex tooling build passes, with the facts the registry is built from; every way a
// tarball can be wrong is refused with the field hex.pm would name and a message saying
// what to do.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { InvalidPackageError, flattenValidationErrors, type ValidationErrors } from '../../src/errors.js';
import { validatePackageTarball, type ExpectedRelease, type PackageLimits } from '../../src/hosted/package-tarball.js';
import { decodeRegistryPayload, openRegistryFile } from '../../src/registry/registry-file.js';
import { parsePublicKey } from '../../src/registry/signature.js';
import type { Package } from '../../src/registry/types.js';
import { OFFICIAL_REGISTRY, readOfficial } from '../support/fixtures.js';
import { buildHexTarball } from '../support/hex-tarball.js';
import {
  assemblePackage,
  gzipBomb,
  gzippedTar,
  metadataConfig,
  mixRequirement,
  packageTarball,
  rawTar,
  simpleContents,
  type MetadataFields,
} from '../support/package-parts.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The errors validation refuses `bytes` with (failing the test if it accepts them). */
async function refusal(bytes: Buffer, expected?: ExpectedRelease, limits?: Partial<PackageLimits>): Promise<ValidationErrors> {
  const outcome = await validatePackageTarball(bytes, expected, limits).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof InvalidPackageError)) throw new Error(`expected an InvalidPackageError, got ${String(outcome)}`);
  return outcome.errors;
}

/** The errors for a package like Mix builds with these metadata.config fields. */
const metadataRefusal = async (fields: MetadataFields, name = 'my_pkg', version = '1.0.0'): Promise<ValidationErrors> =>
  refusal(await packageTarball(name, version, fields));

/** The `tar` message for a package whose contents.tar.gz is `contents`. */
async function contentsRefusal(contents: Buffer, limits?: Partial<PackageLimits>): Promise<string> {
  const errors = await refusal(await packageTarball('my_pkg', '1.0.0', {}, contents), undefined, limits);
  expect(Object.keys(errors)).toEqual(['tar']);
  const message = errors['tar'];
  if (typeof message !== 'string') throw new Error('expected a tar message');
  return message;
}

describe('valid package tarballs', () => {
  it('accepts a tarball of the test builder and returns what the registry is built from', async () => {
    const built = await buildHexTarball({
      name: 'app_x',
      version: '2.1.0-rc.1',
      description: 'the X app',
      dependencies: [
        { package: 'app_y', requirement: '~> 1.0' },
        { package: 'app_z', requirement: '>= 0.1.0 and < 0.3.0', optional: true, app: 'zed', repository: 'acme' },
      ],
    });
    const release = await validatePackageTarball(built.tar, { name: 'app_x', version: '2.1.0-rc.1' });
    expect(release.name).toBe('app_x');
    expect(release.version).toBe('2.1.0-rc.1');
    expect(release.innerChecksum.equals(built.innerChecksum)).toBe(true);
    expect(release.outerChecksum.equals(built.outerChecksum)).toBe(true);
    expect(release.tarball).toBe(built.tar);
    expect(release.requirements).toEqual([
      { name: 'app_y', requirement: '~> 1.0', optional: false, app: 'app_y', repository: 'hexpm' },
      { name: 'app_z', requirement: '>= 0.1.0 and < 0.3.0', optional: true, app: 'zed', repository: 'acme' },
    ]);
    expect(release.metadata).toEqual({
      app: 'app_x',
      description: 'the X app',
      licenses: ['Apache-2.0'],
      links: {},
      buildTools: ['rebar3'],
      fileCount: 3,
    });
    expect(release.metadataConfig).toContain('{<<"name">>,<<"app_x">>}.');
  });

  it('accepts every tarball of the official fixture registry, with the checksums and dependencies its signed registry states', async () => {
    const publicKey = parsePublicKey(await readOfficial('public_key'));
    const files = (await readdir(new URL('tarballs/', OFFICIAL_REGISTRY))).sort();
    const checked: string[] = [];
    for (const name of ['acme_http', 'acme_json', 'acme_tls']) {
      const opened = await openRegistryFile(
        await readOfficial(`packages/${name}`),
        { kind: 'package', name },
        { publicKey, repository: 'hexpm', maxBytes: 1 << 20 },
      );
      const registry = decodeRegistryPayload({ kind: 'package', name }, opened.payload) as Package;
      for (const entry of registry.releases) {
        const file = `${name}-${entry.version}.tar`;
        const tarball = await readOfficial(`tarballs/${file}`);
        const release = await validatePackageTarball(tarball, { name, version: entry.version });
        expect(release.innerChecksum.toString('hex'), file).toBe(entry.inner_checksum.toString('hex'));
        expect(release.outerChecksum.toString('hex'), file).toBe(entry.outer_checksum?.toString('hex'));
        expect(release.outerChecksum.toString('hex')).toBe(sha256(tarball));
        expect(
          release.requirements.map((req) => ({
            package: req.name,
            requirement: req.requirement,
            optional: req.optional,
            app: req.app,
            repository: req.repository,
          })),
          file,
        ).toEqual(
          entry.dependencies.map((dep) => ({
            package: dep.package,
            requirement: dep.requirement,
            optional: dep.optional ?? false,
            app: dep.app,
            repository: dep.repository ?? 'hexpm',
          })),
        );
        expect(release.metadata, file).toEqual({
          app: name,
          description: `${name} fixture package`,
          licenses: ['Apache-2.0'],
          links: { Source: `https://example.invalid/${name}` },
          buildTools: ['mix'],
          elixir: '~> 1.12',
          fileCount: 3,
        });
        checked.push(file);
      }
    }
    expect(checked.sort()).toEqual(files);
  });

  it("reads rebar3_hex's requirements, a map from name to requirement printed as pairs, with no repository", async () => {
    const requirements =
      '[{<<"cowboy">>,[{<<"app">>,<<"cowboy">>},{<<"optional">>,false},{<<"requirement">>,<<"~>2.10.0">>}]},' +
      '{<<"ranch">>,[{<<"app">>,<<"ranch">>},{<<"optional">>,true},{<<"requirement">>,<<"1.8.0">>}]}]';
    const release = await validatePackageTarball(await packageTarball('erl_pkg', '0.3.0', { requirements, build_tools: '[<<"rebar3">>]' }));
    expect(release.requirements).toEqual([
      { name: 'cowboy', requirement: '~>2.10.0', optional: false, app: 'cowboy' },
      { name: 'ranch', requirement: '1.8.0', optional: true, app: 'ranch' },
    ]);
    expect(release.metadata.buildTools).toEqual(['rebar3']);
  });

  it('takes a requirement without app or optional as hex.pm does: the app is the package name, optional is false', async () => {
    const release = await validatePackageTarball(
      await packageTarball('my_pkg', '1.0.0', { requirements: '[[{<<"name">>,<<"jason">>},{<<"requirement">>,<<"~> 1.4">>}]]' }),
    );
    expect(release.requirements).toEqual([{ name: 'jason', requirement: '~> 1.4', optional: false, app: 'jason' }]);
  });

  it('guesses build tools from the files when metadata.config names none, as hex_core does for old clients', async () => {
    const release = await validatePackageTarball(
      await packageTarball('my_pkg', '1.0.0', {
        build_tools: undefined,
        files: '[<<"mix.exs">>,<<"rebar.config">>,<<"Makefile">>,<<"lib/mix.exs">>]',
      }),
    );
    expect(release.metadata.buildTools).toEqual(['make', 'mix', 'rebar3']);
    expect(release.metadata.fileCount).toBe(4);
  });

  it('needs no description, licenses, links, elixir or requirements (a private package need not say them)', async () => {
    const release = await validatePackageTarball(
      await packageTarball('my_pkg', '1.0.0', { description: undefined, licenses: undefined, links: undefined, requirements: undefined }),
    );
    expect(release.metadata).toEqual({ app: 'my_pkg', description: '', licenses: [], links: {}, buildTools: ['mix'], fileCount: 3 });
    expect(release.requirements).toEqual([]);
  });

  it('accepts a lowercase CHECKSUM (hex_core compares the decoded bytes)', async () => {
    const metadata = metadataConfig('my_pkg', '1.0.0');
    const contents = await simpleContents('my_pkg');
    const inner = createHash('sha256').update('3').update(metadata).update(contents).digest('hex');
    const release = await validatePackageTarball(await assemblePackage({ metadata, contents, checksum: inner }));
    expect(release.innerChecksum.toString('hex')).toBe(inner);
  });

  it('accepts directories and links that stay inside the package, and UTF-8 text', async () => {
    const contents = await gzippedTar([
      { name: 'priv/', type: 'directory' },
      { name: 'priv/data.txt', data: 'data' },
      { name: 'priv/alias.txt', type: 'symlink', linkname: 'data.txt' },
      { name: 'priv/up.txt', type: 'symlink', linkname: '../priv/./data.txt' },
      { name: './priv/hard.txt', type: 'link', linkname: 'priv/data.txt' },
    ]);
    const release = await validatePackageTarball(await packageTarball('my_pkg', '1.0.0', { description: '<<"Zürich, 東京"/utf8>>' }, contents));
    expect(release.metadata.description).toBe('Zürich, 東京');
  });
});

describe('the outer tarball', () => {
  it('is refused over the size limit before anything is read', async () => {
    const tarball = await packageTarball('my_pkg', '1.0.0');
    const errors = await refusal(tarball, undefined, { tarballBytes: tarball.length - 1 });
    expect(errors).toEqual({ tar: expect.stringMatching(/^the package tarball is .* more than the .* hexproxy takes: leave large files out/) });
  });

  it('is refused when it is not a tar', async () => {
    const errors = await refusal(Buffer.from('this is not a tar file, just some text that goes on and on'.repeat(20)));
    expect(errors).toEqual({
      tar: expect.stringMatching(/^the package is not a valid tar file \(.+\): build the package again with `mix hex.build`/),
    });
  });

  it('is refused without one of its four entries', async () => {
    const tarball = await assemblePackage({
      metadata: metadataConfig('my_pkg', '1.0.0'),
      contents: await simpleContents('my_pkg'),
      entries: (p) => [
        { name: 'VERSION', data: p.version },
        { name: 'metadata.config', data: p.metadata },
        { name: 'contents.tar.gz', data: p.contents },
      ],
    });
    expect(await refusal(tarball)).toEqual({
      tar: expect.stringMatching(/^the package tarball has no CHECKSUM: a package tarball holds VERSION, CHECKSUM, metadata.config, contents.tar.gz/),
    });
  });

  it('is refused with an entry besides the four', async () => {
    const tarball = await assemblePackage({
      metadata: metadataConfig('my_pkg', '1.0.0'),
      contents: await simpleContents('my_pkg'),
      entries: (p) => [
        { name: 'VERSION', data: p.version },
        { name: 'CHECKSUM', data: p.checksum },
        { name: 'metadata.config', data: p.metadata },
        { name: 'contents.tar.gz', data: p.contents },
        { name: 'evil.sh', data: 'rm -rf /' },
      ],
    });
    expect(await refusal(tarball)).toEqual({
      tar: expect.stringMatching(/^it holds "evil.sh", which a package tarball does not \(only VERSION, CHECKSUM/),
    });
  });

  it('is refused with an entry twice (which copy would count?)', async () => {
    const tarball = await assemblePackage({
      metadata: metadataConfig('my_pkg', '1.0.0'),
      contents: await simpleContents('my_pkg'),
      entries: (p) => [
        { name: 'VERSION', data: p.version },
        { name: 'CHECKSUM', data: p.checksum },
        { name: 'metadata.config', data: p.metadata },
        { name: 'metadata.config', data: metadataConfig('other', '9.9.9') },
        { name: 'contents.tar.gz', data: p.contents },
      ],
    });
    expect(await refusal(tarball)).toEqual({ tar: expect.stringMatching(/^it holds metadata.config twice: build the package again/) });
  });

  it('is refused when an entry is not a regular file', async () => {
    const tarball = await assemblePackage({
      metadata: metadataConfig('my_pkg', '1.0.0'),
      contents: await simpleContents('my_pkg'),
      entries: (p) => [
        { name: 'VERSION', data: p.version },
        { name: 'CHECKSUM', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'metadata.config', data: p.metadata },
        { name: 'contents.tar.gz', data: p.contents },
      ],
    });
    expect(await refusal(tarball)).toEqual({ tar: expect.stringMatching(/^CHECKSUM is a symlink, not a regular file: build the package again/) });
  });

  it('is refused unless VERSION is 3', async () => {
    const tarball = await assemblePackage({ version: '2', metadata: metadataConfig('my_pkg', '1.0.0'), contents: await simpleContents('my_pkg') });
    expect(await refusal(tarball)).toEqual({
      tar: expect.stringMatching(/^unsupported package tarball version "2" in VERSION: hexproxy takes version 3/),
    });
  });

  it('is refused when CHECKSUM is not 64 hexadecimal digits', async () => {
    const tarball = await assemblePackage({
      checksum: 'not-a-checksum',
      metadata: metadataConfig('my_pkg', '1.0.0'),
      contents: await simpleContents('my_pkg'),
    });
    expect(await refusal(tarball)).toEqual({ tar: expect.stringMatching(/^CHECKSUM must be 64 hexadecimal digits .*, found "not-a-checksum"/) });
  });

  it('is refused when CHECKSUM does not match (a tarball changed after it was built)', async () => {
    const metadata = metadataConfig('my_pkg', '1.0.0');
    const built = await assemblePackage({ metadata, contents: await simpleContents('my_pkg') });
    const honest = createHash('sha256')
      .update('3')
      .update(metadata)
      .update(await simpleContents('my_pkg'))
      .digest('hex')
      .toUpperCase();
    // The same CHECKSUM over other contents, as a tampering proxy or a bad hand would make it.
    const tampered = await assemblePackage({
      checksum: honest,
      metadata,
      contents: await gzippedTar([{ name: 'lib/evil.ex', data: 'System.cmd("sh", [])' }]),
    });
    await expect(validatePackageTarball(built)).resolves.toBeDefined();
    const errors = await refusal(tampered);
    expect(errors).toEqual({
      tar: expect.stringContaining(`tarball checksum mismatch: CHECKSUM says ${honest}, but VERSION, metadata.config and contents.tar.gz hash to `),
    });
    expect(errors['tar']).toMatch(/the tarball was changed after it was built: build the package again/);
  });

  it('is refused when metadata.config is over its limit (hex_core: 1 MiB)', async () => {
    const errors = await refusal(await packageTarball('my_pkg', '1.0.0'), undefined, { metadataBytes: 100 });
    expect(errors).toEqual({ tar: expect.stringMatching(/^metadata.config is .* B, more than the 100 B allowed: build the package again/) });
  });
});

describe('metadata.config', () => {
  it('is refused when it is not UTF-8', async () => {
    const metadata = Buffer.concat([Buffer.from(metadataConfig('my_pkg', '1.0.0')), Buffer.from('{<<"description">>,<<"\xff\xfe">>}.\n', 'latin1')]);
    const errors = await refusal(await assemblePackage({ metadata, contents: await simpleContents('my_pkg') }));
    expect(errors).toEqual({ tar: expect.stringMatching(/^metadata.config is not valid UTF-8: build the package again/) });
  });

  it('is refused when it does not parse, naming the place', async () => {
    const errors = await refusal(
      await assemblePackage({ metadata: '{<<"name">>,<<"my_pkg">>}.\n{<<"version">>, <<"1.0.0">>\n', contents: await simpleContents('my_pkg') }),
    );
    expect(errors).toEqual({
      tar: expect.stringMatching(
        /^metadata.config:3:1: expected "," or "}" in the tuple, found the end of the file: metadata.config must be Erlang terms/,
      ),
    });
  });

  it('is refused when a term is not a {<<"key">>, Value} pair', async () => {
    const errors = await refusal(
      await assemblePackage({ metadata: `${metadataConfig('my_pkg', '1.0.0')}{name, <<"x">>}.\n`, contents: await simpleContents('my_pkg') }),
    );
    expect(errors).toEqual({
      tar: expect.stringMatching(/^metadata.config:10:1: every term of metadata.config must be \{<<"key">>, Value\}, found a tuple of 2 elements/),
    });
  });

  it('is refused when it sets a key twice', async () => {
    const errors = await refusal(
      await assemblePackage({
        metadata: `${metadataConfig('my_pkg', '1.0.0')}{<<"name">>,<<"other">>}.\n`,
        contents: await simpleContents('my_pkg'),
      }),
    );
    expect(errors).toEqual({ tar: expect.stringMatching(/^metadata.config:10:1: metadata.config sets "name" twice: keep one/) });
  });
});

describe('names', () => {
  it('is refused without a name', async () => {
    expect(await metadataRefusal({ name: undefined })).toEqual({
      name: expect.stringMatching(/^metadata.config has no name: build the package with `mix hex.build`/),
    });
  });

  it('is refused when the name is not a binary', async () => {
    expect(await metadataRefusal({ name: '"my_pkg"' })).toEqual({
      name: expect.stringMatching(/name must be a binary \(<<"...">>\), found the charlist "my_pkg"/),
    });
  });

  it('is refused when the name is not ^[a-z][a-z0-9_]*$', async () => {
    for (const name of ['My_pkg', '1pkg', 'my-pkg', 'my.pkg', '_pkg', 'ma\u00f1ana']) {
      expect(await metadataRefusal({}, name), name).toEqual({
        name: `${JSON.stringify(name)} is not a valid package name: use lowercase letters, digits and underscores, starting with a letter`,
      });
    }
  });

  it('is refused when the name has fewer than 2 characters', async () => {
    expect(await metadataRefusal({}, 'x')).toEqual({ name: '"x" is too short: a package name has at least 2 characters' });
  });

  it('is refused when the name is one hex.pm reserves', async () => {
    for (const name of ['elixir', 'kernel', 'rebar3', 'hex', 'con', 'docs']) {
      expect(await metadataRefusal({}, name), name).toEqual({
        name: expect.stringMatching(new RegExp(`^"${name}" is reserved .*: choose another name$`)),
      });
    }
  });

  it('is refused when it is not the package it was sent for', async () => {
    const errors = await refusal(await packageTarball('my_pkg', '1.0.0'), { name: 'other_pkg', version: '1.0.0' });
    expect(errors).toEqual({
      name: 'metadata does not match package name: the tarball is the package "my_pkg", but it was sent for "other_pkg": publish it under its own name, or fix the name in the package settings',
    });
  });
});

describe('versions', () => {
  it('is refused without a version', async () => {
    expect(await metadataRefusal({ version: undefined })).toEqual({ version: expect.stringMatching(/^metadata.config has no version/) });
  });

  it('is refused when the version is not SemVer', async () => {
    for (const version of ['1.0', 'v1.0.0', '1.0.0.0', '01.0.0', '1.0.0-', '1.x.0']) {
      expect(await metadataRefusal({}, 'my_pkg', version), version).toEqual({
        version: expect.stringMatching(
          new RegExp(`^${JSON.stringify(version).replace(/\./g, '\\.')} is not a valid SemVer version \\(.+\\): use MAJOR.MINOR.PATCH`),
        ),
      });
    }
  });

  it('is refused with build metadata, which Hex does not allow', async () => {
    expect(await metadataRefusal({}, 'my_pkg', '1.0.0+build.5')).toEqual({
      version: '"1.0.0+build.5" has build metadata (+build.5), which Hex does not allow: publish 1.0.0 instead',
    });
  });

  it('is refused with a pre-release part over 64 characters (hex.pm)', async () => {
    expect(await metadataRefusal({}, 'my_pkg', `1.0.0-${'a'.repeat(65)}`)).toEqual({
      version: expect.stringMatching(/has a pre-release part longer than 64 characters: shorten it/),
    });
  });

  it('is refused when it is not the version it was sent as', async () => {
    const errors = await refusal(await packageTarball('my_pkg', '1.0.0'), { name: 'my_pkg', version: '1.0.1' });
    expect(errors).toEqual({
      version: expect.stringMatching(
        /^metadata does not match the version: the tarball is version "1.0.0", but it was sent as "1.0.1": send it as my_pkg-1.0.0.tar/,
      ),
    });
  });
});

describe('release metadata (meta)', () => {
  it('is refused without app', async () => {
    expect(await metadataRefusal({ app: undefined })).toEqual({
      meta: { app: expect.stringMatching(/^metadata.config has no app \(the OTP application's name\): build the package/) },
    });
  });

  it('is refused without build tools', async () => {
    expect(await metadataRefusal({ build_tools: '[]' })).toEqual({
      meta: { build_tools: expect.stringMatching(/^the package names no build tool \(mix, rebar3, make\): set build_tools/) },
    });
    // Nothing to guess them from either.
    expect(await metadataRefusal({ build_tools: undefined, files: '[<<"lib/x.ex">>]' })).toEqual({
      meta: { build_tools: expect.stringMatching(/^the package names no build tool/) },
    });
  });

  it('is refused without files', async () => {
    expect(await metadataRefusal({ files: '[]' })).toEqual({
      meta: { files: expect.stringMatching(/^the package has no files: list them in the package settings/) },
    });
    expect(await metadataRefusal({ files: undefined })).toEqual({ meta: { files: expect.stringMatching(/^metadata.config has no files/) } });
  });

  it('is refused when a field has the wrong type', async () => {
    expect(await metadataRefusal({ licenses: '<<"MIT">>' })).toEqual({
      meta: { licenses: expect.stringMatching(/licenses must be a list of binaries \(<<"...">>\), found the string "MIT"/) },
    });
    expect(await metadataRefusal({ description: '42' })).toEqual({
      meta: { description: expect.stringMatching(/description must be a binary \(<<"...">>\), found the integer 42/) },
    });
  });

  it('is refused with a link that is not an http(s) URL', async () => {
    expect(await metadataRefusal({ links: '[{<<"Docs">>,<<"javascript:alert(1)">>}]' })).toEqual({
      meta: { links: 'the link "Docs" is "javascript:alert(1)", not an http or https URL: fix it in the package\'s links' },
    });
    expect(await metadataRefusal({ links: '<<"https://example.invalid">>' })).toEqual({
      meta: { links: expect.stringMatching(/links must be a list of \{<<"Name">>, <<"URL">>\} pairs/) },
    });
  });

  it('is refused with an Elixir requirement that does not parse', async () => {
    expect(await metadataRefusal({ elixir: '<<"~> one">>' })).toEqual({
      meta: {
        elixir: expect.stringMatching(
          /^the Elixir requirement "~> one" is not a valid Elixir version requirement \(.+\): write one such as "~> 1.2"/,
        ),
      },
    });
  });
});

describe('requirements', () => {
  it('is refused with a requirement that is not an Elixir version requirement', async () => {
    const errors = await metadataRefusal({ requirements: `[${mixRequirement({ name: 'jason', requirement: '~> 1.x' })}]` });
    expect(errors).toEqual({
      requirements: {
        jason: expect.stringMatching(/^the requirement "~> 1.x" is not a valid Elixir version requirement \(.+\): write one such as "~> 1.2"/),
      },
    });
  });

  it('is refused with != (hex.pm does not allow it)', async () => {
    const errors = await metadataRefusal({ requirements: `[${mixRequirement({ name: 'jason', requirement: '!= 1.2.0' })}]` });
    expect(errors).toEqual({ requirements: { jason: expect.stringMatching(/uses "!=", which Hex does not allow in requirements/) } });
  });

  it('is refused without a requirement, saying to use ">= 0.0.0"', async () => {
    const errors = await metadataRefusal({ requirements: '[[{<<"name">>,<<"jason">>},{<<"requirement">>,nil}]]' });
    expect(errors).toEqual({ requirements: { jason: 'it has no version requirement (found the atom nil): use ">= 0.0.0" to accept any version' } });
  });

  it('is refused when optional is not a boolean, or app or repository not a name', async () => {
    const errors = await metadataRefusal({
      requirements:
        '[[{<<"name">>,<<"jason">>},{<<"requirement">>,<<"~> 1.0">>},{<<"optional">>,<<"yes">>},{<<"app">>,<<"">>},{<<"repository">>,[]}]]',
    });
    expect(errors).toEqual({
      requirements: {
        jason:
          'optional must be true or false, found the string "yes"; ' +
          'app must be the dependency\'s OTP application name, found the string ""; ' +
          'repository must name a repository ("hexpm" or this one), found an empty list',
      },
    });
  });

  it('is refused with a dependency name that is not a package name, or none, keyed by place', async () => {
    const errors = await metadataRefusal({
      requirements: '[[{<<"name">>,<<"../x">>},{<<"requirement">>,<<"~> 1.0">>}],[{<<"requirement">>,<<"~> 1.0">>}]]',
    });
    expect(errors).toEqual({
      requirements: {
        '../x': '"../x" is not a valid package name: fix the dependency\'s name',
        '#2': 'it has no name: name the package depended on',
      },
    });
  });

  it('is refused with a package required twice', async () => {
    const errors = await metadataRefusal({
      requirements: `[${mixRequirement({ name: 'jason', requirement: '~> 1.0' })},${mixRequirement({ name: 'jason', requirement: '~> 2.0' })}]`,
    });
    expect(errors).toEqual({ requirements: { jason: 'the package is required twice: keep one requirement for it' } });
  });

  it('is refused when requirements is neither form', async () => {
    expect(await metadataRefusal({ requirements: '<<"jason">>' })).toEqual({
      requirements: expect.stringMatching(/requirements must be a list of requirements, each with name, requirement, optional and app/),
    });
    expect(await metadataRefusal({ requirements: '[jason]' })).toEqual({
      requirements: expect.stringMatching(/requirements must be a list of requirements/),
    });
    expect(await metadataRefusal({ requirements: '[{<<"jason">>,<<"~> 1.0">>}]' })).toEqual({
      requirements: { jason: expect.stringMatching(/^the requirement must be a list of \{<<"key">>, Value\} pairs/) },
    });
  });
});

describe('contents.tar.gz', () => {
  it('is refused when it is not gzip', async () => {
    expect(await contentsRefusal(Buffer.from('plain text, not gzip'))).toMatch(
      /^contents.tar.gz is refused: it is not valid gzip data \(.+\): build the package again/,
    );
  });

  it('is refused when it is gzip but not a tar', async () => {
    const { gzipSync } = await import('node:zlib');
    expect(await contentsRefusal(gzipSync(Buffer.from('not a tar '.repeat(100))))).toMatch(
      /^contents.tar.gz is refused: it is not a valid tar archive once gunzipped/,
    );
  });

  it('is refused with an absolute path', async () => {
    expect(await contentsRefusal(await gzippedTar([{ name: '/etc/cron.d/evil', data: 'x' }]))).toBe(
      'contents.tar.gz is refused: the entry "/etc/cron.d/evil" is refused: its path is absolute: remove it from the package files',
    );
    expect(await contentsRefusal(await gzippedTar([{ name: 'C:/evil.bat', data: 'x' }]))).toMatch(
      /the entry "C:\/evil.bat" is refused: its path is absolute/,
    );
  });

  it('is refused with a .. segment, even one that would stay inside', async () => {
    expect(await contentsRefusal(await gzippedTar([{ name: 'lib/../../evil', data: 'x' }]))).toMatch(
      /the entry "lib\/..\/..\/evil" is refused: its path has a "\.\." segment/,
    );
    expect(await contentsRefusal(await gzippedTar([{ name: 'lib/../lib/x.ex', data: 'x' }]))).toMatch(/its path has a "\.\." segment/);
    expect(await contentsRefusal(await gzippedTar([{ name: 'lib\\..\\..\\evil', data: 'x' }]))).toMatch(/its path has a "\.\." segment/);
  });

  it('is refused with a symbolic link pointing at an absolute path or outside the package', async () => {
    expect(await contentsRefusal(await gzippedTar([{ name: 'priv/key', type: 'symlink', linkname: '/root/.ssh/id_rsa' }]))).toBe(
      'contents.tar.gz is refused: the entry "priv/key" is a symbolic link that is refused: it points at the absolute path "/root/.ssh/id_rsa": remove it from the package files',
    );
    expect(await contentsRefusal(await gzippedTar([{ name: 'priv/up', type: 'symlink', linkname: '../../outside' }]))).toMatch(
      /the entry "priv\/up" is a symbolic link that is refused: it points outside the archive \("..\/..\/outside"\)/,
    );
  });

  it('is refused with a hard link pointing outside the package', async () => {
    expect(await contentsRefusal(await gzippedTar([{ name: 'priv/x', type: 'link', linkname: '../etc/passwd' }]))).toMatch(
      /the entry "priv\/x" is a hard link that is refused: it points outside the archive/,
    );
  });

  it('is refused with a device or a fifo', async () => {
    expect(await contentsRefusal(await gzippedTar([{ name: 'dev/pipe', type: 'fifo' }]))).toBe(
      'contents.tar.gz is refused: the entry "dev/pipe" is of type fifo: only regular files, directories and links are allowed: remove it from the package files',
    );
  });

  it('is refused over the uncompressed limit', async () => {
    const contents = await gzippedTar([{ name: 'priv/big.bin', data: Buffer.alloc(64 * 1024) }]);
    expect(await contentsRefusal(contents, { uncompressedBytes: 32 * 1024 })).toBe(
      'contents.tar.gz is refused: it is larger than 32.0 KiB uncompressed, the most hexproxy takes: leave large files out of the package',
    );
  });

  it('refuses a gzip bomb (a few hundred KiB inflating past 128 MiB) at the default limit, reading no further', async () => {
    const bomb = gzipBomb(1024 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(16 * 1024 * 1024);
    expect(await contentsRefusal(bomb)).toBe(
      'contents.tar.gz is refused: it is larger than 128 MiB uncompressed, the most hexproxy takes: leave large files out of the package',
    );
  });
});

describe('InvalidPackageError', () => {
  it('lists every problem found at once, as hex.pm answers 422 "Validation error(s)"', async () => {
    const outcome = await validatePackageTarball(
      await packageTarball(
        'my_pkg',
        '1.0.0+b',
        { app: undefined, requirements: `[${mixRequirement({ name: 'jason', requirement: 'one' })}]` },
        await gzippedTar([{ name: '/abs', data: 'x' }]),
      ),
    ).catch((error: unknown) => error);
    if (!(outcome instanceof InvalidPackageError)) throw new Error('expected an InvalidPackageError');
    expect(outcome.status).toBe(422);
    expect(outcome.code).toBe('invalid_package');
    expect(outcome.title).toBe('Validation error(s)');
    expect(Object.keys(outcome.errors).sort()).toEqual(['meta', 'requirements', 'tar', 'version']);
    expect(flattenValidationErrors(outcome.errors).map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      'version',
      'meta.app',
      'requirements.jason',
      'tar',
    ]);
    expect(outcome.message).toMatch(
      /^Validation error\(s\): version: "1.0.0\+b" has build metadata .*; meta.app: metadata.config has no app .*; requirements.jason: .*; tar: contents.tar.gz is refused/,
    );
  });

  it('is what validation throws for anything that is not a package at all', async () => {
    const cut = (await packageTarball('my_pkg', '1.0.0')).subarray(0, 1536);
    for (const bytes of [Buffer.alloc(0), Buffer.alloc(512), await rawTar([]), cut]) {
      expect(Object.keys(await refusal(bytes))).toEqual(['tar']);
    }
  });
});
