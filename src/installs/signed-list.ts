// A build list and its .signed file, checked as Mix checks them. The builds server signs each
// list with Elixir's key (hexpm/hex scripts/release_hex.sh: `openssl dgst -sha512 -sign
// elixir.pem LIST | openssl base64 > LIST.signed`), and Mix up to Elixir 1.18
// (elixir-lang/elixir lib/mix/lib/mix/local.ex, find_matching_versions_from_signed_csv!)
// removes every "\n" from LIST.signed, decodes it with Base.decode64! (strict: standard
// alphabet, padded) and verifies it with :public_key.verify(LIST, :sha512, SIGNATURE, KEY):
// RSA PKCS#1 v1.5 over the SHA-512 of the list's bytes. Elixir 1.19 dropped the check and
// trusts the transport, so hexproxy checking it is what keeps a list honest for them.
import type { KeyObject } from 'node:crypto';
import { detachedSignatureProblem } from '../registry/signature.js';

/** Why `signed` is not a valid signature of `list` by `key`, or undefined when it is. */
export function listSignatureProblem(list: Uint8Array, signed: Uint8Array, key: KeyObject): string | undefined {
  const problem = detachedSignatureProblem(list, signed, key);
  return problem && problem.replace('the signature file', 'the .signed file').replace(/does not match$/, 'does not match the list');
}
