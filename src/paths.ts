// Files shipped with hexproxy, located relative to this module whether it runs compiled
// (dist/src/paths.js) or as source under the test runner (src/paths.ts).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i += 1) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`hexproxy: cannot find its installation directory above ${fileURLToPath(import.meta.url)}`);
}

export const projectRoot = findProjectRoot();
export const protoDir = join(projectRoot, 'proto');
export const hexpmPublicKeyFile = join(projectRoot, 'keys', 'hexpm_public_key.pem');
/** Elixir's key, which signs the builds server's lists (Mix's in-memory key, elixir-lang/elixir lib/mix/lib/mix/local.ex). */
export const elixirPublicKeyFile = join(projectRoot, 'keys', 'elixir_public_key.pem');
