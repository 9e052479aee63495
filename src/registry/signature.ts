// Registry signatures: RSA PKCS#1 v1.5 over the SHA-512 digest of the payload, as Hex
// clients verify them. Deterministic, so equal payloads and keys give equal bytes.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export function signPayload(payload: Uint8Array, privateKey: KeyObject): Buffer {
  return sign('sha512', payload, privateKey);
}

export function verifyPayload(payload: Uint8Array, signature: Uint8Array, publicKey: KeyObject): boolean {
  try {
    return verify('sha512', payload, publicKey, signature);
  } catch {
    // A malformed signature is just an invalid one.
    return false;
  }
}

/** Accepts PKCS#1 ("RSA PUBLIC KEY") and SPKI ("PUBLIC KEY") PEM, as Hex repositories ship both. */
export function parsePublicKey(pem: string | Buffer): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA public key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

export function parsePrivateKey(pem: string | Buffer): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA private key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  return key;
}

export function publicKeyPem(key: KeyObject): string {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * A detached signature file, as `openssl dgst -sha512 -sign KEY FILE | openssl base64`
 * writes it: base64 of an RSA PKCS#1 v1.5 SHA-512 signature of `data`, in lines of 64
 * characters, each ended by "\n". What the builds server's `.signed` files and a bundle's
 * manifest.sig hold.
 */
export function signDetached(data: Uint8Array, privateKey: KeyObject): Buffer {
  const base64 = signPayload(data, privateKey).toString('base64');
  return Buffer.from(`${(base64.match(/.{1,64}/g) ?? []).join('\n')}\n`);
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why `file` is not a detached signature of `data` by `key`, or undefined when it is. Read
 * as Mix reads a `.signed` file: every "\n" removed, then strict base64 (standard
 * alphabet, padded), then RSA PKCS#1 v1.5 over the SHA-512 of `data`.
 */
export function detachedSignatureProblem(data: Uint8Array, file: Uint8Array, key: KeyObject): string | undefined {
  const text = Buffer.from(file).toString('latin1').replaceAll('\n', '');
  if (text.length === 0) return 'the signature file is empty';
  if (!STRICT_BASE64.test(text)) return 'the signature file is not base64 (as `openssl base64` writes it)';
  if (!verifyPayload(data, Buffer.from(text, 'base64'), key)) return 'the RSA SHA-512 signature does not match';
  return undefined;
}
