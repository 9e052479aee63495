import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../../src/resolve/errors.js';
import { parseSpec } from '../../src/resolve/spec.js';

describe('parseSpec', () => {
  it('reads NAME, NAME@VERSION and NAME@REQUIREMENT', () => {
    expect(parseSpec('phoenix')).toEqual({ kind: 'newest', text: 'phoenix', name: 'phoenix' });

    const exact = parseSpec('plug_crypto@2.1.0-rc.1+build');
    expect(exact.kind).toBe('exact');
    expect(exact.kind === 'exact' && exact.version.raw).toBe('2.1.0-rc.1+build');

    const matching = parseSpec('phoenix@~> 1.7');
    expect(matching.kind === 'matching' && matching.requirement.source).toBe('~> 1.7');
    const range = parseSpec('plug@>= 1.0.0 and < 2.0.0');
    expect(range.kind === 'matching' && range.requirement.anyOf[0]).toHaveLength(2);
    // Something that starts like a version but is a requirement.
    expect(parseSpec('plug@1.0.0-rc.1 or 1.0.0').kind).toBe('matching');
    expect(parseSpec('plug@== 1.0.0').kind).toBe('matching');
  });

  it.each([
    ['Phoenix', /"Phoenix" is not a Hex package name/],
    ['my-pkg', /not a Hex package name/],
    ['', /"" is not a Hex package name/],
    ['@1.0.0', /not a Hex package name/],
    ['phoenix@', /nothing follows '@'/],
    ['phoenix@ ', /nothing follows '@'/],
    ['phoenix@~> 1', /invalid requirement "~> 1": '1' is not a version/],
    ['phoenix@1.7', /'1.7' has no patch number/],
    ['phoenix@1.0.0-01', /leading zero/],
  ])('rejects %j', (text, problem) => {
    let error: unknown;
    try {
      parseSpec(text);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect(error).toMatchObject({ code: 'invalid_spec', input: text });
    expect((error as InvalidSpecError).problem).toMatch(problem);
  });
});
