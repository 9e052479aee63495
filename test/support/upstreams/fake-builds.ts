// A fake builds.hex.pm: a real HTTP server (the fake upstreams' node:http server, so hit
// counting, gates and misbehaviour work alike) serving build lists it writes itself with
// the SHA-512 of fake .ez archives and rebar3 escripts, `.signed` files signed with a test key,
// and switches that serve a build with a byte flipped or a list its .signed does not cover.
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { buildsKeyPair } from '../keys.js';
import { flipMiddleByte } from './misbehaviour.js';
import { contentTypeOf, startUpstreamServer, type Body, type UpstreamControls } from './upstream-server.js';

export type FakeListName = 'hex-1.x.csv' | 'hex.csv' | 'rebar3-1.x.csv' | 'rebar.csv' | 'rebar-1.x.csv';

export interface FakeBuildSpec {
  list: FakeListName;
  version: string;
  /** The per-Elixir lists may name several Elixir versions on one line (one digest for all). */
  elixir: string | string[];
  /** Required for hex.csv and rebar.csv. */
  otp?: string;
  /** The build's bytes (a real Hex archive, for Mix to install); by default some fake ones. */
  bytes?: Buffer;
}

export interface FakeBuilds extends UpstreamControls {
  /** Paths relative to /installs/ of every build served, e.g. "1.18.4/hex-2.2.1-otp-27.ez". */
  buildPaths(): string[];
  /** The bytes served at an /installs/… path, or undefined for a 404. */
  body(path: string): Buffer | undefined;
  /** The lowercase hex SHA-512 of a build (path relative to /installs/). */
  sha512(path: string): string;
  /** Adds a build and the line naming it. */
  publish(spec: FakeBuildSpec): void;
  /** Serves a build on the server but names it in no list. */
  addUnlisted(path: string): void;
  /** Serves the build (path relative to /installs/) with a byte flipped; its list is unchanged. */
  corrupt(path: string): void;
  /** Serves the list with a line added (naming a build of other bytes) and the .signed of the list as it was. */
  tamperList(list: FakeListName): void;
  /** Stops corrupting builds and lists (misbehaviour rules stay; see behave()). */
  repair(): void;
}

const PER_OTP: ReadonlySet<FakeListName> = new Set(['hex.csv', 'rebar.csv']);
const ARTIFACT: Readonly<Record<FakeListName, { prefix: string; extension: string }>> = {
  'hex-1.x.csv': { prefix: 'hex', extension: '.ez' },
  'hex.csv': { prefix: 'hex', extension: '.ez' },
  'rebar3-1.x.csv': { prefix: 'rebar3', extension: '' },
  'rebar.csv': { prefix: 'rebar3', extension: '' },
  'rebar-1.x.csv': { prefix: 'rebar', extension: '' },
};

export const DEFAULT_BUILDS: readonly FakeBuildSpec[] = [
  { list: 'hex-1.x.csv', version: '2.0.6', elixir: '1.14.0' },
  { list: 'hex-1.x.csv', version: '2.1.1', elixir: ['1.15.0', '1.16.0'] },
  { list: 'hex.csv', version: '2.2.1', elixir: '1.18.4', otp: '26' },
  { list: 'hex.csv', version: '2.2.1', elixir: '1.18.4', otp: '27' },
  { list: 'rebar3-1.x.csv', version: '3.22.0', elixir: '1.14.0' },
  { list: 'rebar.csv', version: '3.24.0', elixir: '1.18.4', otp: '27' },
];

/** The key the fake builds server signs its lists with (Elixir's key, in real life). */
export const BUILDS_SIGNING_KEY = buildsKeyPair();

const sha512Hex = (body: Buffer): string => createHash('sha512').update(body).digest('hex');

/**
 * A list's .signed file as the builds server makes it (hexpm/hex scripts/release_hex.sh:
 * `openssl dgst -sha512 -sign elixir.pem LIST | openssl base64`): base64 of an RSA
 * PKCS#1 v1.5 SHA-512 signature, in lines of 64 characters.
 */
export function signedFileFor(csv: Buffer, privateKey: KeyObject): Buffer {
  const base64 = sign('sha512', csv, privateKey).toString('base64');
  return Buffer.from(`${(base64.match(/.{1,64}/g) ?? []).join('\n')}\n`);
}

export async function startFakeBuilds(specs: readonly FakeBuildSpec[] = DEFAULT_BUILDS): Promise<FakeBuilds> {
  const builds = new Map<string, Buffer>();
  const lines = new Map<FakeListName, string[]>();
  const corrupted = new Set<string>();
  const tamperedLists = new Set<FakeListName>();

  function publish(spec: FakeBuildSpec): void {
    const { prefix, extension } = ARTIFACT[spec.list];
    const elixirs = typeof spec.elixir === 'string' ? [spec.elixir] : spec.elixir;
    if (PER_OTP.has(spec.list) !== (spec.otp !== undefined))
      throw new Error(`${spec.list} lines ${PER_OTP.has(spec.list) ? 'need' : 'take no'} OTP release`);
    const otp = spec.otp === undefined ? '' : `-otp-${spec.otp}`;
    // A fake archive: some bytes that say what they are, and enough random ones to be unique.
    const bytes = spec.bytes ?? Buffer.concat([Buffer.from(`PK fake ${prefix} ${spec.version}${otp}\n`), randomBytes(2048)]);
    for (const elixir of elixirs) builds.set(`${elixir}/${prefix}-${spec.version}${otp}${extension}`, bytes);
    const fields =
      spec.otp === undefined ? [spec.version, sha512Hex(bytes), ...elixirs] : [spec.version, sha512Hex(bytes), elixirs[0] ?? '', spec.otp];
    lines.set(spec.list, [...(lines.get(spec.list) ?? []), fields.join(',')]);
  }

  function body(path: string): Buffer | undefined {
    const relative = path.replace(/^\/installs\//, '');
    if (relative === path) return undefined;
    for (const [list, listLines] of lines) {
      const csv = Buffer.from(`${listLines.join('\n')}\n`);
      if (relative === list) return tamperedLists.has(list) ? Buffer.concat([csv, Buffer.from(`9.9.9,${'ef'.repeat(64)},1.18.4,27\n`)]) : csv;
      // As the builds server signs its lists (Mix checks them with Elixir's key), here with
      // a test key standing in for Elixir's.
      if (relative === `${list}.signed`) return signedFileFor(csv, BUILDS_SIGNING_KEY.privateKey);
    }
    const build = builds.get(relative);
    if (build && corrupted.has(relative)) return flipMiddleByte(build);
    return build;
  }

  for (const spec of specs) publish(spec);
  const server = await startUpstreamServer({
    async get(path: string): Promise<Body | undefined> {
      const found = body(path);
      return found && { body: found, contentType: contentTypeOf(path) };
    },
    async tamper(): Promise<Buffer | undefined> {
      return undefined;
    },
  });
  return Object.assign(server, {
    buildPaths: (): string[] => [...builds.keys()],
    body,
    sha512(path: string): string {
      const build = builds.get(path);
      if (!build) throw new Error(`the fake builds server has no build ${path}`);
      return sha512Hex(build);
    },
    publish,
    addUnlisted(path: string): void {
      builds.set(path, Buffer.concat([Buffer.from(`PK unlisted ${path}\n`), randomBytes(512)]));
    },
    corrupt(path: string): void {
      if (!builds.has(path)) throw new Error(`the fake builds server has no build ${path}`);
      corrupted.add(path);
    },
    tamperList(list: FakeListName): void {
      tamperedLists.add(list);
    },
    repair(): void {
      corrupted.clear();
      tamperedLists.clear();
    },
  });
}
