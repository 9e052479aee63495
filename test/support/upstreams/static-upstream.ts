// Serves a directory laid out like a Hex repository (names, versions, packages/NAME,
// tarballs/NAME-VERSION.tar, public_key), e.g. the official fixture, with the same HTTP
// behaviour as the fake upstream.
import { readdir, readFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { decodeSigned } from '../../../src/registry/codec.js';
import { sealRegistryFile } from '../../../src/registry/registry-file.js';
import { wrongKeyPair } from '../keys.js';
import type { SigningMisbehaviour } from './misbehaviour.js';
import { contentTypeOf, startUpstreamServer, type Body, type UpstreamControls } from './upstream-server.js';

export interface StaticUpstream extends UpstreamControls {
  /** Absolute path of the served directory. */
  readonly dir: string;
  /** The directory's public_key, if it has one. */
  readonly publicKeyPem: string | undefined;
  /** The key 'wrong-key' re-signs with. */
  readonly wrongPublicKeyPem: string;
}

const isRegistryPath = (path: string): boolean => path === '/names' || path === '/versions' || /^\/packages\/[^/]+$/.test(path);

async function readIfFile(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error: unknown) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'EISDIR')) return undefined;
    throw error;
  }
}

/**
 * Files are read on each request, so a test may change the directory underneath.
 * Without the repository's private key, 'wrong-repository' cannot be produced;
 * 'wrong-key' re-signs the file's payload with wrongKeyPair(), and 'wrong-package-name'
 * replays another packages/ file of the directory.
 */
export async function startStaticUpstream(directory: string | URL): Promise<StaticUpstream> {
  const dir = resolve(typeof directory === 'string' ? directory : fileURLToPath(directory));
  const fileOf = (path: string): string | undefined => {
    const file = resolve(dir, `.${path}`);
    return file.startsWith(dir + sep) ? file : undefined;
  };
  const read = async (path: string): Promise<Buffer | undefined> => {
    const file = fileOf(path);
    return file === undefined ? undefined : readIfFile(file);
  };

  async function get(path: string): Promise<Body | undefined> {
    const body = await read(path);
    return body && { body, contentType: contentTypeOf(path) };
  }

  async function tamper(path: string, mode: SigningMisbehaviour): Promise<Buffer | undefined> {
    if (!isRegistryPath(path)) return undefined;
    if (mode === 'wrong-key') {
      const body = await read(path);
      return body && sealRegistryFile(decodeSigned(gunzipSync(body)).payload, wrongKeyPair().privateKey);
    }
    if (mode !== 'wrong-package-name' || !path.startsWith('/packages/')) return undefined;
    const other = (await readdir(resolve(dir, 'packages'))).sort().find((name) => `/packages/${name}` !== path);
    return other === undefined ? undefined : read(`/packages/${other}`);
  }

  const server = await startUpstreamServer({ get, tamper, unsupported: new Set(['wrong-repository']) });
  return Object.assign(server, {
    dir,
    publicKeyPem: (await read('/public_key'))?.toString(),
    wrongPublicKeyPem: wrongKeyPair().publicKeyPem,
  });
}
