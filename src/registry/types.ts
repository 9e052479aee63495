// Decoded shapes of the registry messages (proto/*.proto), with proto field names.
// int64 values decode to numbers; bytes to Buffers; enums stay numeric so values newer
// than our schema survive a round trip.

export interface Signed {
  payload: Buffer;
  signature?: Buffer;
}

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export interface Names {
  packages: NamesPackage[];
  repository: string;
}

export interface NamesPackage {
  name: string;
  updated_at?: Timestamp;
}

export interface Versions {
  packages: VersionsPackage[];
  repository: string;
}

export interface VersionsPackage {
  name: string;
  versions: string[];
  retired: number[];
  with_advisories: number[];
}

export interface Package {
  releases: Release[];
  name: string;
  repository: string;
  advisories: SecurityAdvisory[];
}

export interface Release {
  version: string;
  inner_checksum: Buffer;
  dependencies: Dependency[];
  retired?: RetirementStatus;
  outer_checksum?: Buffer;
  advisory_indexes: number[];
  published_at?: Timestamp;
}

export interface RetirementStatus {
  reason: number;
  message?: string;
}

export interface SecurityAdvisory {
  id: string;
  summary: string;
  html_url: string;
  severity?: number;
  cvss_score?: number;
  api_url: string;
  aliases: string[];
}

export interface Dependency {
  package: string;
  requirement: string;
  optional?: boolean;
  app?: string;
  repository?: string;
}

export interface Policy {
  repository: string;
  name: string;
  description?: string;
  visibility: number;
  repositories: RepositoryPolicy[];
}

export interface RepositoryPolicy {
  repository: string;
  restriction?: {
    advisory_min_severity?: number;
    retirement_reasons: number[];
    cooldown?: string;
  };
  overrides: { action: number; ref: { package: string; requirement?: string } }[];
}
