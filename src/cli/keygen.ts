// `hexproxy keygen`: make the signing key pair explicitly (serve makes one by itself only on
// first start, at the default place in the data directory).
import type { Config } from '../config/schema.js';
import { generateKeyPair } from '../keys/keypair.js';
import { checkDirectoryOf } from '../store/private-files.js';

export function runKeygen(config: Readonly<Config>, force: boolean): void {
  checkDirectoryOf(config.keys.privateKey, config.dataDir, 'keys.privateKey', '--private-key');
  checkDirectoryOf(config.keys.publicKey, config.dataDir, 'keys.publicKey', '--public-key');
  const keys = generateKeyPair(config.keys, force);
  process.stdout.write(
    `Private key: ${keys.privateKeyFile} (mode 0600; keep it secret)\n` +
      `Public key:  ${keys.publicKeyFile}\n` +
      `SHA-256 fingerprint of the public key: ${keys.fingerprint}\n`,
  );
}
