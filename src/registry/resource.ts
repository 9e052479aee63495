// Names of registry resources and the validation of the names and versions in paths.

export type RegistryResource =
  | { kind: 'names' }
  | { kind: 'versions' }
  | { kind: 'package'; name: string };

// Hex package names: a lowercase letter, then lowercase letters, digits and underscores.
const PACKAGE_NAME = /^[a-z][a-z0-9_]{0,127}$/;
// SemVer 2.0 (https://semver.org), anchored; bounded so no path segment grows unbounded.
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const isPackageName = (name: string): boolean => PACKAGE_NAME.test(name);
export const isVersion = (version: string): boolean => version.length <= 128 && VERSION.test(version);

/** The path of a resource relative to a repository root: "names", "packages/NAME". */
export function resourcePath(resource: RegistryResource): string {
  return resource.kind === 'package' ? `packages/${resource.name}` : resource.kind;
}

export function describeResource(resource: RegistryResource): string {
  return `/${resourcePath(resource)}`;
}

/** Splits "NAME-VERSION" at the first "-": package names never contain one. */
export function splitRelease(stem: string): { name: string; version: string } | undefined {
  const dash = stem.indexOf('-');
  if (dash <= 0) return undefined;
  const name = stem.slice(0, dash);
  const version = stem.slice(dash + 1);
  return isPackageName(name) && isVersion(version) ? { name, version } : undefined;
}
