// The build lists of the builds server (builds.hex.pm/installs/…) and the archives they
// name, as Mix reads them (elixir-lang/elixir lib/mix/lib/mix/local.ex, parse_csv and
// find_by_elixir_version): lines split on "\n", fields on ",". Pure functions, no I/O.
//
// Two formats:
// - per Elixir version (hex-1.x.csv, rebar3-1.x.csv, rebar-1.x.csv; Elixir < 1.18.4):
//   `VERSION,SHA512,ELIXIR[,ELIXIR…]`; the build is ELIXIR/NAME-VERSION[.ez] for each ELIXIR.
// - per Elixir version and OTP release (hex.csv, rebar.csv; Elixir ≥ 1.18.4):
//   `VERSION,SHA512,ELIXIR,OTP`; the build is ELIXIR/NAME-VERSION-otp-OTP[.ez].
// SHA512 is the lowercase hex SHA-512 of the file, which Mix checks after downloading.

export type BuildListName = 'hex-1.x.csv' | 'hex.csv' | 'rebar3-1.x.csv' | 'rebar.csv' | 'rebar-1.x.csv';

interface BuildListFormat {
  /** The file name prefix of the builds it lists ("hex" → ELIXIR/hex-VERSION…). */
  artifact: 'hex' | 'rebar3' | 'rebar';
  /** ".ez" for archives, "" for escripts. */
  extension: string;
  perOtp: boolean;
}

const FORMATS: Readonly<Record<BuildListName, BuildListFormat>> = {
  'hex-1.x.csv': { artifact: 'hex', extension: '.ez', perOtp: false },
  'hex.csv': { artifact: 'hex', extension: '.ez', perOtp: true },
  'rebar3-1.x.csv': { artifact: 'rebar3', extension: '', perOtp: false },
  'rebar.csv': { artifact: 'rebar3', extension: '', perOtp: true },
  'rebar-1.x.csv': { artifact: 'rebar', extension: '', perOtp: false },
};

export const buildListNames = Object.keys(FORMATS) as BuildListName[];

/** Whether a list has one line per Elixir version and OTP release. */
export const isPerOtpList = (list: BuildListName): boolean => FORMATS[list].perOtp;

/** Who reads a list, for messages: Hex's update check reads hex-1.x.csv from the repository URL, Mix the others. */
export function listReaders(list: BuildListName): string {
  if (list === 'hex-1.x.csv') return "Hex's update check and mix local.hex read this list";
  return FORMATS[list].artifact === 'hex' ? 'mix local.hex reads this list' : 'mix local.rebar reads this list';
}

/** What a path under /installs/ is, as far as hexproxy serves it. */
export type InstallsPath =
  { kind: 'list'; list: BuildListName } | { kind: 'signature'; list: BuildListName } | { kind: 'build'; list: BuildListName } | { kind: 'unknown' };

const SEGMENT = '[A-Za-z0-9_+-][A-Za-z0-9._+-]*';

// Most specific first: "hex-2.1.1-otp-26.ez" also matches the per-Elixir shape.
const BUILD_SHAPES: readonly { pattern: RegExp; list: BuildListName }[] = [
  { pattern: new RegExp(`^${SEGMENT}/hex-${SEGMENT}-otp-${SEGMENT}\\.ez$`), list: 'hex.csv' },
  { pattern: new RegExp(`^${SEGMENT}/hex-${SEGMENT}\\.ez$`), list: 'hex-1.x.csv' },
  { pattern: new RegExp(`^${SEGMENT}/rebar3-${SEGMENT}-otp-${SEGMENT}$`), list: 'rebar.csv' },
  { pattern: new RegExp(`^${SEGMENT}/rebar3-${SEGMENT}$`), list: 'rebar3-1.x.csv' },
  { pattern: new RegExp(`^${SEGMENT}/rebar-${SEGMENT}$`), list: 'rebar-1.x.csv' },
];

/** A path relative to /installs/ made only of safe segments (no "..", no empty segment, at most 256 characters). */
export function isSafeInstallsPath(path: string): boolean {
  return path.length > 0 && path.length <= 256 && path.split('/').every((segment) => SAFE_SEGMENT.test(segment));
}

const isListName = (name: string): name is BuildListName => Object.hasOwn(FORMATS, name);

/** `path` is relative to /installs/ and already made of safe segments. */
export function classifyInstallsPath(path: string): InstallsPath {
  if (isListName(path)) return { kind: 'list', list: path };
  if (path.endsWith('.signed')) {
    const list = path.slice(0, -'.signed'.length);
    if (isListName(list)) return { kind: 'signature', list };
  }
  const shape = BUILD_SHAPES.find(({ pattern }) => pattern.test(path));
  return shape ? { kind: 'build', list: shape.list } : { kind: 'unknown' };
}

export interface BuildEntry {
  /** Relative to /installs/: "1.18.4/hex-2.2.1-otp-27.ez". */
  path: string;
  artifactVersion: string;
  elixirVersion: string;
  otpRelease?: string;
  /** Lowercase hex. */
  sha512: string;
  /** Index of the line naming it; Mix prefers later lines. */
  line: number;
}

const SAFE_SEGMENT = new RegExp(`^${SEGMENT}$`);
const SHA512_HEX = /^[0-9a-fA-F]{128}$/;

/**
 * Every build a list names, by path. Lines Mix could not use either (too few fields, a
 * digest that is not SHA-512 hex, a field that would not make a safe path) are left out,
 * so a build only they name is a 404. A path named twice takes its last line, the one
 * Mix would pick (it reads the list from the end).
 */
export function parseBuildList(list: BuildListName, body: Buffer | string): Map<string, BuildEntry> {
  const format = FORMATS[list];
  const entries = new Map<string, BuildEntry>();
  const text = typeof body === 'string' ? body : body.toString('utf8');
  for (const [line, content] of text.split('\n').entries()) {
    const fields = content.split(',').map((field) => field.trim());
    const [artifactVersion, digest, ...rest] = fields;
    if (artifactVersion === undefined || digest === undefined || !SAFE_SEGMENT.test(artifactVersion) || !SHA512_HEX.test(digest)) continue;
    const sha512 = digest.toLowerCase();
    const name = `${format.artifact}-${artifactVersion}`;
    if (format.perOtp) {
      const [elixirVersion, otpRelease] = rest;
      if (elixirVersion === undefined || otpRelease === undefined || !SAFE_SEGMENT.test(elixirVersion) || !SAFE_SEGMENT.test(otpRelease)) continue;
      const path = `${elixirVersion}/${name}-otp-${otpRelease}${format.extension}`;
      entries.set(path, { path, artifactVersion, elixirVersion, otpRelease, sha512, line });
    } else {
      for (const elixirVersion of rest) {
        if (!SAFE_SEGMENT.test(elixirVersion)) continue;
        const path = `${elixirVersion}/${name}${format.extension}`;
        entries.set(path, { path, artifactVersion, elixirVersion, sha512, line });
      }
    }
  }
  return entries;
}
