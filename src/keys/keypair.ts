// hexproxy's own RSA key pair, which signs every registry file it serves.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
import { PRIVATE_FILE_MODE, makeDirSync, makePrivateDirSync } from '../store/private-files.js';
import { parsePrivateKey, publicKeyPem } from '../registry/signature.js';

export interface KeyPair {
  privateKey: KeyObject;
  publicKeyPem: string;
  /** SHA-256 of the DER public key, hex: what users compare to trust a download. */
  fingerprint: string;
  privateKeyFile: string;
  publicKeyFile: string;
}

export interface KeyFiles {
  privateKey: string;
  publicKey: string;
}

/**
 * The key pair as found, checked, with nothing written; or `firstStart` when there is no
 * private key yet at the default place in the data directory and nothing says a pair was
 * there before. A configured path with no key, or a default one whose public key is still
 * there, is an error: a new pair would replace the key every client trusts.
 */
export function findKeyPair(files: KeyFiles, defaultFiles: KeyFiles): { keys: KeyPair } | { firstStart: true } {
  refuseOverlappingKeyFiles(files);
  let pem: string | undefined;
  try {
    pem = readFileSync(files.privateKey, 'utf8');
  } catch (error: unknown) {
    if (!isMissing(error)) throw new ConfigError(`cannot read private key ${files.privateKey}: ${errorMessage(error)}`, { cause: error });
  }
  if (pem === undefined) {
    refuseToReplace(files, defaultFiles);
    return { firstStart: true };
  }
  refuseIfReadableByOthers(files.privateKey);
  let privateKey: KeyObject;
  try {
    privateKey = parsePrivateKey(pem);
  } catch (error: unknown) {
    throw new ConfigError(`private key ${files.privateKey} is not an RSA private key in PEM: ${errorMessage(error)}`, { cause: error });
  }
  return { keys: describe(privateKey, files) };
}

/** Writes what `findKeyPair` found missing: the public key file if it does not match, or a new pair on first start. */
export function settleKeyPair(files: KeyFiles, found: { keys: KeyPair } | { firstStart: true }): { keys: KeyPair; created: boolean } {
  if ('firstStart' in found) return { keys: generateKeyPair(files, false), created: true };
  writePublicKeyIfChanged(found.keys);
  return { keys: found.keys, created: false };
}

function refuseToReplace(files: KeyFiles, defaultFiles: KeyFiles): void {
  const privatePath = resolve(files.privateKey);
  const keygen = `hexproxy keygen --private-key ${shellWord(privatePath)} --public-key ${shellWord(resolve(files.publicKey))}`;
  if (privatePath !== resolve(defaultFiles.privateKey)) {
    throw new ConfigError(
      `keys.privateKey: there is no private key at ${privatePath}. hexproxy makes a key pair by itself only on first start, ` +
      `at the default place in the data directory (${defaultFiles.privateKey}), so that a mistyped path cannot replace the key clients trust. ` +
      `Check the path (--private-key, HEXPROXY_PRIVATE_KEY or keys.privateKey); if it is right and a new key pair belongs there, run: ${keygen}`,
    );
  }
  const publicPem = readIfPresent(files.publicKey);
  if (publicPem !== undefined && /-----BEGIN PUBLIC KEY-----/.test(publicPem)) {
    throw new ConfigError(
      `keys.privateKey: there is no private key at ${privatePath}, but its public key is at ${resolve(files.publicKey)} ` +
      `(SHA-256 ${fingerprintOf(publicPem)}): the private key was moved or deleted, or is kept elsewhere. hexproxy will not make a new pair by itself, ` +
      `as clients trust the old one. Put the private key back, or give its path with --private-key; to replace the pair (clients must then fetch the new public key), run: ${keygen}`,
    );
  }
}

/** `path` as one word of a POSIX shell command. */
const shellWord = (path: string): string => (/^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`);

/** `hexproxy keygen`: a new RSA 2048 pair; refuses to replace an existing key unless forced. */
export function generateKeyPair(files: KeyFiles, force: boolean): KeyPair {
  refuseOverlappingKeyFiles(files);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  makePrivateDirSync(dirname(files.privateKey));
  try {
    writeFileSync(files.privateKey, privatePem, { mode: PRIVATE_FILE_MODE, flag: force ? 'w' : 'wx' });
  } catch (error: unknown) {
    if (error instanceof Error && 'code' in error && error.code === 'EEXIST') {
      throw new ConfigError(`a private key already exists at ${files.privateKey}; pass --force to replace it (clients must then fetch the new public key)`, { cause: error });
    }
    throw new ConfigError(`cannot write private key ${files.privateKey}: ${errorMessage(error)}`, { cause: error });
  }
  chmodSync(files.privateKey, PRIVATE_FILE_MODE);
  const keys = describe(privateKey, files);
  writePublicKeyIfChanged(keys);
  return keys;
}

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const OWN_PATH_HINT = 'Give --public-key (keys.publicKey) a path of its own, or leave it out for the default, DATA_DIR/keys/hexproxy_public.pem';

/**
 * The public key is written at every start: given the private key's path (or another name
 * of that file, or any file holding a private key) it would destroy a private key.
 * Checked before anything is written.
 */
function refuseOverlappingKeyFiles(files: KeyFiles): void {
  const privatePath = resolve(files.privateKey);
  const publicPath = resolve(files.publicKey);
  if (privatePath === publicPath) {
    throw new ConfigError(`keys.publicKey and keys.privateKey are the same file (${privatePath}): writing the public key there would destroy the private key. ${OWN_PATH_HINT}`);
  }
  const privateStats = statIfPresent(privatePath);
  const publicStats = statIfPresent(publicPath);
  if (privateStats && publicStats && privateStats.dev === publicStats.dev && privateStats.ino === publicStats.ino) {
    throw new ConfigError(`keys.publicKey (${publicPath}) and keys.privateKey (${privatePath}) are the same file (one is a link to the other): writing the public key there would destroy the private key. ${OWN_PATH_HINT}`);
  }
  if (publicStats) refuseIfPrivateKey(publicPath, readIfPresent(publicPath));
}

function refuseIfPrivateKey(publicPath: string, current: string | undefined): void {
  if (current !== undefined && PRIVATE_KEY_PEM.test(current)) {
    throw new ConfigError(`keys.publicKey: ${publicPath} holds a private key; hexproxy will not write its public key over it. Give --public-key (keys.publicKey) another path, or leave it out for the default, DATA_DIR/keys/hexproxy_public.pem`);
  }
}

function statIfPresent(file: string): { dev: number; ino: number } | undefined {
  try {
    return statSync(file);
  } catch (error: unknown) {
    if (isMissing(error)) return undefined;
    throw new ConfigError(`cannot read ${file}: ${errorMessage(error)}`, { cause: error });
  }
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A signing key others can read is as good as published: refuse it, and say how to fix it. */
function refuseIfReadableByOthers(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `private key ${file} can be read by other users (mode 0${mode.toString(8)}); hexproxy will not sign with it. ` +
      `Run: chmod 600 ${file} (and check who could have read it; if in doubt, make a new pair with hexproxy keygen --force)`,
    );
  }
}

function describe(privateKey: KeyObject, files: KeyFiles): KeyPair {
  const pem = publicKeyPem(privateKey);
  return {
    privateKey,
    publicKeyPem: pem,
    fingerprint: fingerprintOf(pem),
    privateKeyFile: files.privateKey,
    publicKeyFile: files.publicKey,
  };
}

export function fingerprintOf(publicPem: string): string {
  const body = publicPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
}

function writePublicKeyIfChanged(keys: KeyPair): void {
  const current = readIfPresent(keys.publicKeyFile);
  if (current === keys.publicKeyPem) return;
  // Checked again at the write: never over a private key, however the paths were spelt.
  refuseIfPrivateKey(keys.publicKeyFile, current);
  makeDirSync(dirname(keys.publicKeyFile), 0o755);
  const temp = `${keys.publicKeyFile}.${process.pid}.tmp`;
  // For users to copy and hand to clients: the one file hexproxy writes readable by all.
  writeFileSync(temp, keys.publicKeyPem, { mode: 0o644 });
  renameSync(temp, keys.publicKeyFile);
}

const isMissing = (error: unknown): boolean => error instanceof Error && 'code' in error && error.code === 'ENOENT';
