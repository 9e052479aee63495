// What a publish hands to a hosted repository: a package tarball that passed validation
// (package-tarball.ts), with the facts the registry files and the API are built from.
// Shared by the validator, the store and the publishing API, so none depends on another's
// internals.

/** One requirement of a release, as metadata.config states it. */
export interface ReleaseRequirement {
  /** The package depended on. */
  name: string;
  requirement: string;
  optional: boolean;
  /** Its OTP application name (the package name when metadata.config does not say). */
  app: string;
  /**
   * The repository it comes from, as metadata.config states it ("hexpm", or the hosted
   * repository's own name); undefined when it is not stated (rebar3_hex writes none).
   */
  repository?: string;
}

/** The parts of metadata.config the registry, the API and the UI show. */
export interface ReleaseMetadata {
  app: string;
  description: string;
  licenses: string[];
  links: Record<string, string>;
  buildTools: string[];
  /** The Elixir requirement, when the package states one. */
  elixir?: string;
  /** How many files metadata.config lists. */
  fileCount: number;
}

/** A package tarball that passed every check, ready to be stored. */
export interface ValidatedRelease {
  name: string;
  version: string;
  /** SHA-256 of VERSION ‖ metadata.config ‖ contents.tar.gz (what CHECKSUM states). */
  innerChecksum: Buffer;
  /** SHA-256 of the whole tarball. */
  outerChecksum: Buffer;
  /** The tarball as uploaded, byte for byte: what clients download. */
  tarball: Buffer;
  requirements: ReleaseRequirement[];
  metadata: ReleaseMetadata;
  /** metadata.config as uploaded (UTF-8): the API's `configs` and the UI show it. */
  metadataConfig: string;
}

/** Why a retired release should not be used: the registry's RetirementReason, by name. */
export const RETIREMENT_REASONS = ['other', 'invalid', 'security', 'deprecated', 'renamed'] as const;
export type RetirementReason = (typeof RETIREMENT_REASONS)[number];

export interface Retirement {
  reason: RetirementReason;
  message: string;
}
