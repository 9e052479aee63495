// The paths of hosted repositories' entries in a bundle, and the order a manifest must list them in.
import { describe, expect, it } from 'vitest';
import { BundleError } from '../../src/bundle/bundle-error.js';
import { checkEntry, checkManifest, hostedEntryPath, parseEntryPath, type BundleEntry } from '../../src/bundle/manifest.js';

const entry = (path: string, extra: Partial<BundleEntry> = {}): BundleEntry => ({ path, size: 1, sha256: 'a'.repeat(64), kind: 'hosted', ...extra });

const manifest = (paths: string[]): Record<string, unknown> => ({
  format: 'hexproxy-bundle',
  formatVersion: 1,
  createdAt: '2026-12-03T00:00:00.000Z',
  upstream: { url: 'https://repo.hex.pm', repository: 'hexpm' },
  entries: paths.map((path) => entry(path)),
});

describe('hosted entries of a bundle', () => {
  it('name a package file, or a release facts, tarball and docs, and nothing else', () => {
    expect(parseEntryPath('hosted/acme/registry/packages/acme_core')).toEqual({
      kind: 'hosted',
      repository: 'acme',
      what: 'registry',
      name: 'acme_core',
    });
    for (const [path, what] of [
      ['hosted/acme/releases/acme_core-1.0.0-rc.1.json', 'release'],
      ['hosted/acme/tarballs/acme_core-1.0.0-rc.1.tar', 'tarball'],
      ['hosted/acme/docs/acme_core-1.0.0-rc.1.tar.gz', 'docs'],
    ] as const) {
      const target = { kind: 'hosted', repository: 'acme', what, name: 'acme_core', version: '1.0.0-rc.1' } as const;
      expect(parseEntryPath(path)).toEqual(target);
      expect(hostedEntryPath(target)).toBe(path);
    }
    for (const path of [
      'hosted/acme/registry/names',
      'hosted/acme/tarballs/acme_core-1.0.0.json',
      'hosted/acme/docs/acme_core-1.0.0.tar',
      'hosted/ACME/tarballs/acme_core-1.0.0.tar',
      'hosted/acme/tarballs/../acme_core-1.0.0.tar',
      'hosted/acme/tarballs/Acme-1.0.0.tar',
      'hosted/acme/tarballs/acme_core-1.0.tar',
      'hosted//tarballs/acme_core-1.0.0.tar',
    ])
      expect(parseEntryPath(path), path).toBeUndefined();
    expect(checkEntry(entry('hosted/acme/tarballs/acme_core-1.0.0.tar', { kind: 'tarball' }))).toEqual({
      problem: `is listed as kind "tarball" but its path names a hosted repository's file`,
    });
    expect(checkEntry(entry('hosted/acme/tarballs/acme_core-1.0.0.tar', { name: 'acme_core', version: '1.0.1' }))).toEqual({
      problem: 'is listed with version "1.0.1", which its path does not carry',
    });
  });

  it("come in order: a package's registry file before its releases, a release's facts before its tarball and docs", () => {
    const ordered = [
      'hosted/acme/registry/packages/acme_core',
      'hosted/acme/releases/acme_core-1.0.0.json',
      'hosted/acme/tarballs/acme_core-1.0.0.tar',
      'hosted/acme/docs/acme_core-1.0.0.tar.gz',
    ];
    expect(checkManifest(manifest(ordered), 'b.tar').entries).toHaveLength(4);
    // A release without its registry file in the bundle is an entry the import refuses, not a malformed manifest.
    expect(checkManifest(manifest(ordered.slice(1)), 'b.tar').entries).toHaveLength(3);
    expect(() => checkManifest(manifest([ordered[1] ?? '', ordered[0] ?? '']), 'b.tar')).toThrow(
      /lists hosted\/acme\/releases\/acme_core-1\.0\.0\.json before hosted\/acme\/registry\/packages\/acme_core/,
    );
    expect(() => checkManifest(manifest([ordered[0] ?? '', ordered[2] ?? '', ordered[1] ?? '']), 'b.tar')).toThrow(BundleError);
  });
});
