// Test fixtures kept in this repository, so a fresh clone tests on its own.
import { readFile } from 'node:fs/promises';

/**
 * A registry built by the official Hex tooling (see its README.md): a copy of the
 * project's shared/fixtures/official-registry, the interop evidence for the codec.
 */
export const OFFICIAL_REGISTRY = new URL('../fixtures/official-registry/', import.meta.url);

export const readOfficial = (path: string): Promise<Buffer> => readFile(new URL(path, OFFICIAL_REGISTRY));
