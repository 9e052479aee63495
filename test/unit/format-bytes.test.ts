import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/util/format-bytes.js';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [150 * 1024, '150 KiB'],
    [64 * 1024 * 1024, '64.0 MiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
    [2048 * 1024 ** 4, '2048 TiB'],
    // What a bad figure shows rather than "NaN B".
    [Number.NaN, '0 B'],
    [-5, '0 B'],
    [10.6, '11 B'],
  ])('%d bytes: %s', (bytes, shown) => {
    expect(formatBytes(bytes)).toBe(shown);
  });
});
