// verifyTarball: the one check of a tarball against its release, for upstream fetches and imports alike.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyTarball } from '../../src/cache/verify-tarball.js';
import { buildHexTarball } from '../support/hex-tarball.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('verifyTarball', () => {
  it('checks the outer checksum against the SHA-256 the bytes were hashed to on their way in', async () => {
    const { tar, outerChecksum } = await buildHexTarball({ name: 'alpha', version: '1.0.0' });
    const expected = { kind: 'outer', hex: outerChecksum.toString('hex') } as const;
    expect(await verifyTarball(expected, { sha256: sha256(tar) })).toBeUndefined();
    const other = sha256(Buffer.from('other'));
    expect(await verifyTarball(expected, { sha256: other })).toBe(`expected outer SHA-256 ${expected.hex}, got ${other}`);
  });

  it('computes the inner checksum from the bytes, for releases without an outer one', async () => {
    const { tar, innerChecksum } = await buildHexTarball({ name: 'alpha', version: '1.0.0' });
    const expected = { kind: 'inner', hex: innerChecksum.toString('hex') } as const;
    expect(await verifyTarball(expected, { sha256: sha256(tar), bytes: tar })).toBeUndefined();
    const { tar: another, innerChecksum: anotherInner } = await buildHexTarball({ name: 'alpha', version: '1.0.1' });
    expect(await verifyTarball(expected, { sha256: sha256(another), bytes: another })).toBe(
      `expected inner SHA-256 ${expected.hex}, got ${anotherInner.toString('hex')}`,
    );
  });

  it('says so when the bytes are not a tarball', async () => {
    const junk = Buffer.from('not a tarball');
    expect(await verifyTarball({ kind: 'inner', hex: 'a'.repeat(64) }, { sha256: sha256(junk), bytes: junk })).toBe(
      `expected inner SHA-256 ${'a'.repeat(64)}, got an unreadable tarball`,
    );
  });

  it('refuses to check an inner checksum without the bytes', async () => {
    await expect(verifyTarball({ kind: 'inner', hex: 'a'.repeat(64) }, { sha256: 'b'.repeat(64) })).rejects.toThrow(/needs its bytes/);
  });
});
