// `hexproxy keygen`: make the signing key pair explicitly (serve makes one on first start).
import type { Config } from '../config/schema.js';
import { generateKeyPair } from '../keys/keypair.js';

export function runKeygen(config: Readonly<Config>, force: boolean): void {
  const keys = generateKeyPair(config.keys, force);
  process.stdout.write(
    `Private key: ${keys.privateKeyFile} (mode 0600; keep it secret)\n` +
    `Public key:  ${keys.publicKeyFile}\n` +
    `SHA-256 fingerprint of the public key: ${keys.fingerprint}\n`,
  );
}
