// The build lists as Mix reads them (elixir-lang/elixir lib/mix/lib/mix/local.ex).
import { describe, expect, it } from 'vitest';
import { classifyInstallsPath, parseBuildList } from '../../src/installs/builds-csv.js';

const A = 'a'.repeat(128);
const B = 'B'.repeat(128);

describe('parseBuildList', () => {
  it('reads the per-Elixir format: VERSION,SHA512,ELIXIR[,ELIXIR…]', () => {
    const entries = parseBuildList('hex-1.x.csv', `0.20.5,${A},1.0.0,1.1.0\n2.0.6,${B},1.14.0\n`);
    expect([...entries.keys()]).toEqual(['1.0.0/hex-0.20.5.ez', '1.1.0/hex-0.20.5.ez', '1.14.0/hex-2.0.6.ez']);
    expect(entries.get('1.14.0/hex-2.0.6.ez')).toEqual({
      path: '1.14.0/hex-2.0.6.ez',
      artifactVersion: '2.0.6',
      elixirVersion: '1.14.0',
      sha512: 'b'.repeat(128),
      line: 1,
    });
    expect([...parseBuildList('rebar3-1.x.csv', `3.22.0,${A},1.14.0`).keys()]).toEqual(['1.14.0/rebar3-3.22.0']);
    expect([...parseBuildList('rebar-1.x.csv', `2.6.4,${A},1.0.0`).keys()]).toEqual(['1.0.0/rebar-2.6.4']);
  });

  it('reads the per-OTP format: VERSION,SHA512,ELIXIR,OTP', () => {
    expect([...parseBuildList('hex.csv', `2.2.1,${A},1.18.4,26\n2.2.1,${B},1.18.4,27\n`).keys()]).toEqual([
      '1.18.4/hex-2.2.1-otp-26.ez',
      '1.18.4/hex-2.2.1-otp-27.ez',
    ]);
    expect([...parseBuildList('rebar.csv', `3.24.0,${A},1.18.4,27\r\n`).keys()]).toEqual(['1.18.4/rebar3-3.24.0-otp-27']);
  });

  it('leaves out lines Mix could not use, and lets the last of two lines for a path win', () => {
    const entries = parseBuildList(
      'hex.csv',
      `junk\n2.2.1,abc,1.18.4,27\n2.2.1,${A},..,27\n2.2.1,${A},1.18.4\n2.2.1,${A},1.18.4,27\n2.2.1,${B},1.18.4,27\n`,
    );
    expect([...entries.values()]).toEqual([
      { path: '1.18.4/hex-2.2.1-otp-27.ez', artifactVersion: '2.2.1', elixirVersion: '1.18.4', otpRelease: '27', sha512: 'b'.repeat(128), line: 5 },
    ]);
  });
});

describe('classifyInstallsPath', () => {
  it.each([
    ['hex-1.x.csv', { kind: 'list', list: 'hex-1.x.csv' }],
    ['rebar.csv.signed', { kind: 'signature', list: 'rebar.csv' }],
    ['1.18.4/hex-2.2.1-otp-27.ez', { kind: 'build', list: 'hex.csv' }],
    ['1.14.0/hex-2.0.6.ez', { kind: 'build', list: 'hex-1.x.csv' }],
    ['1.18.4/rebar3-3.24.0-otp-27', { kind: 'build', list: 'rebar.csv' }],
    ['1.14.0/rebar3-3.22.0', { kind: 'build', list: 'rebar3-1.x.csv' }],
    ['1.0.0/rebar-2.6.4', { kind: 'build', list: 'rebar-1.x.csv' }],
    ['public_keys.html', { kind: 'unknown' }],
    ['other.csv', { kind: 'unknown' }],
    ['a/b/hex-1.x.csv', { kind: 'unknown' }],
    ['1.14.0/hex-2.0.6.ez.signed', { kind: 'unknown' }],
  ])('%s', (path, expected) => {
    expect(classifyInstallsPath(path)).toEqual(expected);
  });
});
