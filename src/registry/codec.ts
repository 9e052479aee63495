// Protobuf codec for the Hex registry resources, from the vendored schemas in proto/.
// Pure functions over bytes: no I/O after the schemas are loaded at import time.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { protoDir } from '../paths.js';
import type { Names, NamesPackage, Package, Policy, Release, SecurityAdvisory, Signed, Versions, VersionsPackage } from './types.js';

// Each schema file declares top-level `Package`/`Timestamp`, so every file gets its own root.
function loadType(file: string, typeName: string): protobuf.Type {
  const root = new protobuf.Root();
  root.loadSync(join(protoDir, file), { keepCase: true });
  return root.lookupType(typeName);
}

const SignedType = loadType('signed.proto', 'Signed');
const NamesType = loadType('names.proto', 'Names');
const VersionsType = loadType('versions.proto', 'Versions');
const PackageType = loadType('package.proto', 'Package');
const PolicyType = loadType('policy.proto', 'Policy');
// A Package's parts, for reading one release or advisory of a large package (release-index.ts).
const ReleaseType = PackageType.root.lookupType('Release');
const SecurityAdvisoryType = PackageType.root.lookupType('SecurityAdvisory');

const LENGTH_DELIMITED = 2;

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: false,
  arrays: true,
};

function decodeWith<T>(type: protobuf.Type, bytes: Uint8Array): T {
  const message = type.decode(bytes);
  return type.toObject(message, toObjectOptions) as T;
}

function encodeWith(type: protobuf.Type, value: object): Buffer {
  const invalid = type.verify(value);
  if (invalid) throw new Error(`cannot encode ${type.name}: ${invalid}`);
  return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
}

/**
 * The first top-level string field `field` of a message, without decoding the rest: the
 * `repository` of a full-size /versions is checked this way in a few milliseconds, where a
 * whole decode takes ~70 ms and tens of MB of objects.
 */
export function topLevelString(bytes: Uint8Array, field: number): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) return reader.string();
    reader.skipType(tag & 7);
  }
  return undefined;
}

export function decodeSigned(bytes: Uint8Array): Signed {
  const decoded = decodeWith<{ payload: Buffer; signature?: Buffer }>(SignedType, bytes);
  return decoded.signature === undefined ? { payload: decoded.payload } : { payload: decoded.payload, signature: decoded.signature };
}

export function encodeSigned(signed: Signed): Buffer {
  return encodeWith(SignedType, signed);
}

export const decodeNames = (payload: Uint8Array): Names => decodeWith<Names>(NamesType, payload);
export const encodeNames = (names: Names): Buffer => encodeWith(NamesType, names);

export const decodeVersions = (payload: Uint8Array): Versions => decodeWith<Versions>(VersionsType, payload);
export const encodeVersions = (versions: Versions): Buffer => encodeWith(VersionsType, versions);

export const decodePackage = (payload: Uint8Array): Package => decodeWith<Package>(PackageType, payload);
export const encodePackage = (pkg: Package): Buffer => encodeWith(PackageType, pkg);

/**
 * The name and repository of a Package payload, having checked that all of it decodes as
 * decodePackage would, one release at a time: nothing is kept, so a package of 200,000
 * releases is checked in a few MB instead of the ~140 MB its decoded form takes.
 */
export function checkPackagePayload(payload: Uint8Array): { name: string; repository: string } {
  const reader = protobuf.Reader.create(payload);
  let name: string | undefined;
  let repository: string | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    // Fields 1-4 (releases, name, repository, advisories) are all length-delimited.
    if (field >= 1 && field <= 4 && wire !== LENGTH_DELIMITED) throw new Error(`field ${field} of the Package has wire type ${wire}`);
    if (field === 1) ReleaseType.decode(reader.bytes());
    else if (field === 2) name = reader.string();
    else if (field === 3) repository = reader.string();
    else if (field === 4) SecurityAdvisoryType.decode(reader.bytes());
    else reader.skipType(wire);
  }
  if (name === undefined || repository === undefined) throw new Error(`missing required '${name === undefined ? 'name' : 'repository'}'`);
  return { name, repository };
}

/** One encoded Release, as decodePackage gives it within a Package. */
export const decodeRelease = (bytes: Uint8Array): Release => decodeWith<Release>(ReleaseType, bytes);
/** One encoded SecurityAdvisory, as decodePackage gives it within a Package. */
export const decodeSecurityAdvisory = (bytes: Uint8Array): SecurityAdvisory => decodeWith<SecurityAdvisory>(SecurityAdvisoryType, bytes);

// /names and /versions a package at a time (a hosted repository rebuilds them on every
// publish): each package's entry is encoded once, as it lies in the whole message (field 1,
// length-delimited), and the message is its entries in order, then the repository (field 2):
// byte for byte what encodeNames and encodeVersions give for the same packages.
const NamesPackageType = NamesType.root.lookupType('Package');
const VersionsPackageType = VersionsType.root.lookupType('Package');
const PACKAGES_FIELD = 1;
const REPOSITORY_FIELD = 2;

const lengthDelimited = (field: number, bytes: Uint8Array): Buffer =>
  Buffer.from(
    protobuf.Writer.create()
      .uint32((field << 3) | LENGTH_DELIMITED)
      .bytes(bytes)
      .finish(),
  );

export const encodeNamesEntry = (pkg: NamesPackage): Buffer => lengthDelimited(PACKAGES_FIELD, encodeWith(NamesPackageType, pkg));
export const encodeVersionsEntry = (pkg: VersionsPackage): Buffer => lengthDelimited(PACKAGES_FIELD, encodeWith(VersionsPackageType, pkg));

/** A Names or Versions payload from its packages' entries (encodeNamesEntry, encodeVersionsEntry), in order. */
export const joinIndexEntries = (entries: readonly Uint8Array[], repository: string): Buffer =>
  Buffer.concat([...entries, lengthDelimited(REPOSITORY_FIELD, Buffer.from(repository))]);

export const decodePolicy = (payload: Uint8Array): Policy => decodeWith<Policy>(PolicyType, payload);
export const encodePolicy = (policy: Policy): Buffer => encodeWith(PolicyType, policy);
