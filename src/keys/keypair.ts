// hexproxy's own RSA key pair, which signs every registry file it serves.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
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

/** Loads the key pair, or generates one if there is no private key yet. */
export function loadOrCreateKeyPair(files: KeyFiles): { keys: KeyPair; created: boolean } {
  let pem: string | undefined;
  try {
    pem = readFileSync(files.privateKey, 'utf8');
  } catch (error: unknown) {
    if (!isMissing(error)) throw new ConfigError(`cannot read private key ${files.privateKey}: ${errorMessage(error)}`, { cause: error });
  }
  if (pem === undefined) return { keys: generateKeyPair(files, false), created: true };
  refuseIfReadableByOthers(files.privateKey);
  let privateKey: KeyObject;
  try {
    privateKey = parsePrivateKey(pem);
  } catch (error: unknown) {
    throw new ConfigError(`private key ${files.privateKey} is not an RSA private key in PEM: ${errorMessage(error)}`, { cause: error });
  }
  const keys = describe(privateKey, files);
  writePublicKeyIfChanged(keys);
  return { keys, created: false };
}

/** `hexproxy keygen`: a new RSA 2048 pair; refuses to replace an existing key unless forced. */
export function generateKeyPair(files: KeyFiles, force: boolean): KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  mkdirSync(dirname(files.privateKey), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(files.privateKey, privatePem, { mode: 0o600, flag: force ? 'w' : 'wx' });
  } catch (error: unknown) {
    if (error instanceof Error && 'code' in error && error.code === 'EEXIST') {
      throw new ConfigError(`a private key already exists at ${files.privateKey}; pass --force to replace it (clients must then fetch the new public key)`, { cause: error });
    }
    throw new ConfigError(`cannot write private key ${files.privateKey}: ${errorMessage(error)}`, { cause: error });
  }
  chmodSync(files.privateKey, 0o600);
  const keys = describe(privateKey, files);
  writePublicKeyIfChanged(keys);
  return keys;
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
  let current: string | undefined;
  try {
    current = readFileSync(keys.publicKeyFile, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === keys.publicKeyPem) return;
  mkdirSync(dirname(keys.publicKeyFile), { recursive: true });
  const temp = `${keys.publicKeyFile}.${process.pid}.tmp`;
  writeFileSync(temp, keys.publicKeyPem, { mode: 0o644 });
  renameSync(temp, keys.publicKeyFile);
}

const isMissing = (error: unknown): boolean => error instanceof Error && 'code' in error && error.code === 'ENOENT';
