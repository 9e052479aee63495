// Opening an upstream registry file (gunzip, Signed, signature, repository and name
// checks) and sealing a payload with hexproxy's key. Pure apart from zlib's thread pool.
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
import type { KeyObject } from 'node:crypto';
import { HexproxyError, VerificationError, UpstreamTooLargeError } from '../errors.js';
import {
  checkPackagePayload,
  decodeNames,
  decodePackage,
  decodePolicy,
  decodeSigned,
  decodeVersions,
  encodeSigned,
  topLevelString,
} from './codec.js';
import { signPayload, verifyPayload } from './signature.js';
import type { Names, Package, Policy, Versions } from './types.js';
import { type RegistryResource, describeResource } from './resource.js';

const gzipAsync = promisify(gzip);

export interface OpenOptions {
  publicKey: KeyObject;
  /** The repository name the payload must carry ("hexpm" for hex.pm). */
  repository: string;
  /** Bound on the decompressed size, against gzip bombs. */
  maxBytes: number;
  /** Takes what inflating keeps from a shared budget (see gunzipBounded). */
  lease?: InflateLease;
  /** Where the bytes come from, for messages: fetched from upstream (the default), read back from the cache on disk, or from a bundle. */
  source?: RegistryFileSource;
}

export type RegistryFileSource = 'upstream' | 'cache' | 'bundle';

/**
 * Where inflating takes its memory from: a lease of the budget the upstream reads share
 * (src/upstream/memory-budget.ts's MemoryLease is one). Aborting `signal` stops inflating.
 */
export interface InflateLease {
  readonly signal: AbortSignal;
  grow(bytes: number): void;
  shrink(bytes: number): void;
  settle(): void;
}

/** How messages name the file: a damaged copy on disk must not read as upstream's fault. */
export function describeFile(what: string, source: RegistryFileSource = 'upstream'): string {
  return source === 'cache' ? `the cached copy of ${what}` : source === 'bundle' ? `${what} in the bundle` : `${what} from upstream`;
}

export type DecodedMessage = Names | Versions | Package | Policy;

export interface VerifiedRegistryFile {
  resource: RegistryResource;
  /** The upstream payload bytes, exactly as signed upstream. */
  payload: Buffer;
  /** Decoded on first use for /names and /versions (see openRegistryFile). */
  readonly message: DecodedMessage;
}

// Inflated in chunks this large: few callbacks, and little left over past a limit.
const INFLATE_CHUNK_BYTES = 64 * 1024;

/**
 * Inflates `body` a chunk at a time, stopping as soon as the output passes `maxBytes`.
 * With a lease, each chunk is taken from its budget before it is kept, and inflating
 * stops when the budget stops the lease; the lease is settled once the output is whole.
 */
export async function gunzipBounded(
  body: Uint8Array,
  maxBytes: number,
  what: string,
  lease?: InflateLease,
  source: RegistryFileSource = 'upstream',
): Promise<Buffer> {
  const file = describeFile(what, source);
  const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
  const stop = (): void => {
    gunzip.destroy(lease?.signal.reason instanceof Error ? lease.signal.reason : undefined);
  };
  lease?.signal.addEventListener('abort', stop, { once: true });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    if (lease?.signal.aborted) stop();
    gunzip.end(body);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new UpstreamTooLargeError(`${file} inflates past ${maxBytes} bytes; refusing it`);
      lease?.grow(chunk.length);
      chunks.push(chunk);
    }
  } catch (error: unknown) {
    gunzip.destroy();
    if (error instanceof HexproxyError) throw error;
    throw new VerificationError(`${file} is not valid gzip`, { cause: error });
  } finally {
    lease?.signal.removeEventListener('abort', stop);
  }
  // One buffer of the whole output, then the chunks are dropped: both are held for a moment.
  lease?.grow(size);
  const raw = Buffer.concat(chunks, size);
  lease?.shrink(size);
  lease?.settle();
  return raw;
}

export async function openRegistryFile(body: Uint8Array, resource: RegistryResource, options: OpenOptions): Promise<VerifiedRegistryFile> {
  const what = describeResource(resource);
  const file = describeFile(what, options.source);
  const raw = await gunzipBounded(body, options.maxBytes, what, options.lease, options.source);
  let payload: Buffer;
  let signature: Buffer | undefined;
  try {
    ({ payload, signature } = decodeSigned(raw));
  } catch (error: unknown) {
    throw new VerificationError(`${file} is not a Signed registry message`, { cause: error });
  }
  if (!signature || !verifyPayload(payload, signature, options.publicKey)) {
    throw new VerificationError(`${file} has a ${signature ? 'bad' : 'missing'} signature for the configured upstream public key`);
  }
  const decode = (): DecodedMessage => {
    try {
      return decodeRegistryPayload(resource, payload);
    } catch (error: unknown) {
      throw new VerificationError(`${file} has a payload that does not decode`, { cause: error });
    }
  };
  // A policy is small: decoded whole. A package file is checked to decode, one release at
  // a time, but not kept decoded: a validly signed package can list 200,000 releases. The
  // index files of a full-size repository are large, and serving them needs only their
  // repository checked: read from the wire. The rest is decoded only if someone asks for it.
  let message: DecodedMessage | undefined = resource.kind === 'policy' ? decode() : undefined;
  let repository: string | undefined;
  let packageName: string | undefined;
  try {
    if (resource.kind === 'package') ({ name: packageName, repository } = checkPackagePayload(payload));
    else repository = message ? message.repository : topLevelString(payload, REPOSITORY_FIELD);
  } catch (error: unknown) {
    throw new VerificationError(`${file} has a payload that does not decode`, { cause: error });
  }
  if (repository !== options.repository) {
    throw new VerificationError(`${file} names repository "${repository ?? '(none)'}", expected "${options.repository}"`);
  }
  if (resource.kind === 'package' && packageName !== resource.name) {
    throw new VerificationError(`${file} describes package "${packageName ?? '(none)'}"`);
  }
  if (resource.kind === 'policy' && (message as Policy).name !== resource.name) {
    throw new VerificationError(`${file} is policy "${(message as Policy).name}"`);
  }
  return {
    resource,
    payload,
    get message(): DecodedMessage {
      message ??= decode();
      return message;
    },
  };
}

/** Field number of `repository` in Names and Versions (proto/names.proto, versions.proto). */
const REPOSITORY_FIELD = 2;

/** The decoded message of a payload already verified for `resource`. */
export function decodeRegistryPayload(resource: RegistryResource, payload: Uint8Array): DecodedMessage {
  return resource.kind === 'names'
    ? decodeNames(payload)
    : resource.kind === 'versions'
      ? decodeVersions(payload)
      : resource.kind === 'policy'
        ? decodePolicy(payload)
        : decodePackage(payload);
}

/** gzip(Signed{payload, signature}) with hexproxy's key: the bytes clients receive. */
export async function sealRegistryFile(payload: Buffer, privateKey: KeyObject): Promise<Buffer> {
  return gzipAsync(encodeSigned({ payload, signature: signPayload(payload, privateKey) }));
}
