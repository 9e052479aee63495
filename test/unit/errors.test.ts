import { describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/bundle-error.js';
import { ConfigError, NotFoundError, TooManyFailuresError } from '../../src/errors.js';
import { LockFileError } from '../../src/lockfiles/errors.js';

describe('HexproxyError', () => {
  it('is named for its class, so logs and stack traces say which error it is', () => {
    const cases: [Error, string][] = [
      [new NotFoundError('no such package'), 'NotFoundError'],
      [new ConfigError('bad config'), 'ConfigError'],
      [new TooManyFailuresError('slow down', 30), 'TooManyFailuresError'],
      // Subclasses outside src/errors.ts get their own name too.
      [new BundleError('bad bundle', []), 'BundleError'],
      [new LockFileError('mix.lock', { line: 1, column: 2 }, 'expected a map'), 'LockFileError'],
    ];
    for (const [error, name] of cases) {
      expect(error.name).toBe(name);
      expect(String(error)).toBe(`${name}: ${error.message}`);
      expect(error.stack?.split('\n')[0]).toBe(`${name}: ${error.message}`);
    }
  });

  it('keeps the message and the cause', () => {
    const cause = new Error('ENOENT');
    const error = new ConfigError('cannot read the config file', { cause });
    expect(error.message).toBe('cannot read the config file');
    expect(error.cause).toBe(cause);
  });
});
