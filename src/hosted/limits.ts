// How large an upload may be: hex.pm's limits (hex_core's hex_core:default_config/0 and
// hex_tarball.erl), which Mix and rebar3_hex check before they upload, so a package they
// build is never refused here for its size.

const MiB = 1024 * 1024;

export interface PackageLimits {
  /** The package tarball as uploaded. */
  tarballBytes: number;
  /** contents.tar.gz once gunzipped. */
  uncompressedBytes: number;
  /** metadata.config. */
  metadataBytes: number;
}

export interface DocsLimits {
  /** The docs tarball (gzipped) as uploaded. */
  tarballBytes: number;
  /** The docs tar once gunzipped. */
  uncompressedBytes: number;
}

export const DEFAULT_PACKAGE_LIMITS: Readonly<PackageLimits> = { tarballBytes: 16 * MiB, uncompressedBytes: 128 * MiB, metadataBytes: 1 * MiB };

export const DEFAULT_DOCS_LIMITS: Readonly<DocsLimits> = { tarballBytes: 16 * MiB, uncompressedBytes: 128 * MiB };
