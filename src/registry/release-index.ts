// The releases of a /packages/NAME payload without decoding them all. One pass over the
// bytes records each release's version, where it lies, and what a summary needs (retired
// or not, pre-release or not, its advisories), ordered newest first; a page then decodes
// only the releases it shows (releaseAt). Decoded whole, a validly signed package of
// 200,000 releases took the UI's process past 2 GB; indexed, about 20 MB besides its
// payload (versions, typed arrays, a map from version to position).
import { LRUCache } from 'lru-cache';
import protobuf from 'protobufjs';
import semver, { type SemVer } from 'semver';
import { decodeRelease, decodeSecurityAdvisory } from './codec.js';
import type { Release, SecurityAdvisory } from './types.js';

/** One release as the index knows it, at `position` in newest-first order. */
export interface ReleaseEntry {
  readonly position: number;
  readonly version: string;
  readonly retired: boolean;
  /** A SemVer pre-release. */
  readonly prerelease: boolean;
}

export interface AdvisoryReach {
  /** The newest of the releases it affects, at most MAX_AFFECTED_SHOWN. */
  shown: string[];
  /** How many releases it affects in all. */
  count: number;
}

export interface ReleaseIndex {
  readonly payload: Buffer;
  readonly name: string;
  readonly repository: string;
  readonly advisories: readonly SecurityAdvisory[];
  /** Per advisory (same order), the releases it affects. */
  readonly affects: readonly AdvisoryReach[];
  /** How many releases the package lists. */
  readonly count: number;
  readonly retiredCount: number;
  /** The release at `position` of the newest-first order (SemVer precedence; by string where either is not SemVer). */
  entryAt(position: number): ReleaseEntry | undefined;
  /** Where `version` is in that order. */
  positionOf(version: string): number | undefined;
  /** The release at `position`, decoded as decodePackage would give it. */
  releaseAt(position: number): Release;
}

export const MAX_AFFECTED_SHOWN = 20;

// Field numbers of proto/package.proto.
const PACKAGE = { releases: 1, name: 2, repository: 3, advisories: 4 } as const;
const RELEASE = { version: 1, retired: 4, advisoryIndexes: 6 } as const;
const LENGTH_DELIMITED = 2;
const VARINT = 0;
const RETIRED = 1;
const PRERELEASE = 2;

interface Scanned {
  version: string;
  start: number;
  end: number;
  retired: boolean;
  advisories: number[] | undefined;
  /** A SemVer pre-release; set by newestFirst. */
  prerelease: boolean;
}

/** Indexes a verified Package payload; throws (as decodePackage would) when it does not decode. */
export function indexReleases(payload: Buffer): ReleaseIndex {
  const reader = protobuf.Reader.create(payload);
  const scanned: Scanned[] = [];
  const advisories: SecurityAdvisory[] = [];
  let name: string | undefined;
  let repository: string | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== LENGTH_DELIMITED) {
      reader.skipType(wire);
    } else if (field === PACKAGE.releases) {
      const length = reader.uint32();
      scanned.push(scanRelease(reader, reader.pos, reader.pos + length));
    } else if (field === PACKAGE.name) {
      name = reader.string();
    } else if (field === PACKAGE.repository) {
      repository = reader.string();
    } else if (field === PACKAGE.advisories) {
      advisories.push(decodeSecurityAdvisory(reader.bytes()));
    } else {
      reader.skipType(wire);
    }
  }
  if (name === undefined || repository === undefined) throw new Error(`the package payload has no ${name === undefined ? 'name' : 'repository'}`);

  const ordered = newestFirst(scanned);
  const count = ordered.length;
  const versions: string[] = new Array<string>(count);
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const flags = new Uint8Array(count);
  const affects = advisories.map((): AdvisoryReach => ({ shown: [], count: 0 }));
  let retiredCount = 0;
  ordered.forEach((release, position) => {
    versions[position] = release.version;
    starts[position] = release.start;
    ends[position] = release.end;
    flags[position] = (release.retired ? RETIRED : 0) | (release.prerelease ? PRERELEASE : 0);
    if (release.retired) retiredCount += 1;
    if (!release.advisories) return;
    for (const index of new Set(release.advisories)) {
      const reach = affects[index];
      if (!reach) continue;
      reach.count += 1;
      if (reach.shown.length < MAX_AFFECTED_SHOWN) reach.shown.push(release.version);
    }
  });
  const positions = new Map(versions.map((version, position) => [version, position]));

  return {
    payload,
    name,
    repository,
    advisories,
    affects,
    count,
    retiredCount,
    entryAt: (position) => {
      const version = versions[position];
      const flag = flags[position] ?? 0;
      return version === undefined ? undefined : { position, version, retired: (flag & RETIRED) !== 0, prerelease: (flag & PRERELEASE) !== 0 };
    },
    positionOf: (version) => positions.get(version),
    releaseAt: (position) => {
      if (!(position >= 0 && position < count)) throw new RangeError(`no release at position ${position} of ${name}'s ${count}`);
      return decodeRelease(payload.subarray(starts[position], ends[position]));
    },
  };
}

/**
 * Indexes kept for the payloads asked about lately, charged their payload (kept alive by
 * the entry) and about what their entries take: paging through a large package indexes it
 * once.
 */
export class ReleaseIndexCache {
  private readonly cache: LRUCache<Buffer, ReleaseIndex>;

  constructor(maxBytes: number) {
    this.cache = new LRUCache<Buffer, ReleaseIndex>({
      maxSize: maxBytes,
      sizeCalculation: (index) => index.payload.length + index.count * ENTRY_BYTES + 1024,
    });
  }

  of(payload: Buffer): ReleaseIndex {
    const known = this.cache.get(payload);
    if (known) return known;
    const index = indexReleases(payload);
    this.cache.set(payload, index);
    return index;
  }
}

// A version string, its map slot and its typed-array slots: measured about 85 bytes for
// 200,000 releases, rounded up.
const ENTRY_BYTES = 128;

function scanRelease(reader: protobuf.Reader, start: number, end: number): Scanned {
  const outer = reader.len;
  reader.len = end;
  let version: string | undefined;
  let retired = false;
  let advisories: number[] | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === RELEASE.version && wire === LENGTH_DELIMITED) {
      version = reader.string();
    } else if (field === RELEASE.retired && wire === LENGTH_DELIMITED) {
      retired = true;
      reader.skipType(wire);
    } else if (field === RELEASE.advisoryIndexes && wire === LENGTH_DELIMITED) {
      const packedEnd = reader.uint32() + reader.pos;
      advisories ??= [];
      while (reader.pos < packedEnd) advisories.push(reader.uint32());
    } else if (field === RELEASE.advisoryIndexes && wire === VARINT) {
      (advisories ??= []).push(reader.uint32());
    } else {
      reader.skipType(wire);
    }
  }
  reader.len = outer;
  if (version === undefined) throw new Error('a release of the package payload has no version');
  return { version, start, end, retired, advisories: advisories?.length ? advisories : undefined, prerelease: false };
}

/**
 * Newest first: SemVer precedence (semver.rcompare), by string where either is not SemVer,
 * as the UI has always ordered them. hex.pm lists releases oldest first, so one pass that
 * finds them in order (each version parsed once, one at a time) and a reversal is the
 * usual case; otherwise they are sorted, every version's parse kept meanwhile.
 */
function newestFirst(scanned: Scanned[]): Scanned[] {
  let previous: { release: Scanned; parsed: SemVer | null } | undefined;
  let ascending = true;
  for (const release of scanned) {
    const parsed = semver.parse(release.version);
    release.prerelease = parsed !== null && parsed.prerelease.length > 0;
    if (ascending && previous) ascending = compareNewestFirst(release, parsed, previous.release, previous.parsed) <= 0;
    previous = { release, parsed };
  }
  if (ascending) return scanned.reverse();
  const keyed = scanned.map((release) => ({ release, parsed: semver.parse(release.version) }));
  keyed.sort((a, b) => compareNewestFirst(a.release, a.parsed, b.release, b.parsed));
  return keyed.map(({ release }) => release);
}

function compareNewestFirst(a: Scanned, aParsed: SemVer | null, b: Scanned, bParsed: SemVer | null): number {
  return aParsed && bParsed ? bParsed.compare(aParsed) : b.version.localeCompare(a.version);
}
