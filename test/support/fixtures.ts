// Where the shared fixtures live, relative to this checkout.
import { readFile } from 'node:fs/promises';

/** A registry built by the official Hex tooling (see its README.md). */
export const OFFICIAL_REGISTRY = new URL('../../../shared/fixtures/official-registry/', import.meta.url);

export const readOfficial = (path: string): Promise<Buffer> => readFile(new URL(path, OFFICIAL_REGISTRY));
