// Public keys named in the configuration (upstream, organizations, the builds server, trusted
// bundle exporters): read and parsed at start, with errors that name the key and the file.
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../errors.js';
import { parsePublicKey } from '../registry/signature.js';

/** `key` names where the file comes from in messages: a config key ("upstream.publicKey") or a flag ("--trust-key"). */
export function readPublicKeyFile(file: string, key: string): KeyObject {
  const source = key.startsWith('--') ? `flag ${key}` : `config key ${key}`;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error: unknown) {
    throw new ConfigError(`${source}: cannot read ${file}: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return parsePublicKey(pem);
  } catch (error: unknown) {
    throw new ConfigError(`${source}: ${file} is not an RSA public key in PEM: ${errorMessage(error)}`, { cause: error });
  }
}
