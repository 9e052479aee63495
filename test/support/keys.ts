// RSA key pairs for fake repositories. Generating one takes a noticeable moment, so each
// is made once per process.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { publicKeyPem } from '../../src/registry/signature.js';

export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM ("-----BEGIN PUBLIC KEY-----"), as Hex clients accept it. */
  publicKeyPem: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
}

const pairs = new Map<string, TestKeyPair>();

function keyPair(label: string): TestKeyPair {
  let pair = pairs.get(label);
  if (!pair) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    pair = {
      privateKey,
      publicKey,
      publicKeyPem: publicKeyPem(publicKey),
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    pairs.set(label, pair);
  }
  return pair;
}

/** The key that fake upstreams sign with. */
export const testKeyPair = (): TestKeyPair => keyPair('upstream');

/** The key the fake builds server signs its build lists with (Elixir's key, in real life). */
export const buildsKeyPair = (): TestKeyPair => keyPair('builds');

/** Another key: what a forger or a misconfigured mirror signs with. */
export const wrongKeyPair = (): TestKeyPair => keyPair('wrong');

/**
 * The key a fake organization repository (/repos/NAME/) signs with, one per name. (hex.pm
 * itself signs its organizations' registries with the same key as hexpm's: a key per
 * organization here makes a proxy show that it picks the key by repository.)
 */
export const orgKeyPair = (name: string): TestKeyPair => keyPair(`org:${name}`);
