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
