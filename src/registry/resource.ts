// Names of registry resources and the validation of the names and versions in paths.

export type RegistryResource =
  | { kind: 'names' }
  | { kind: 'versions' }
  | { kind: 'package'; name: string }
  /** Hex 2.5's dependency policies, served by organizations at /repos/ORG/policies/NAME. */
  | { kind: 'policy'; name: string };

// Hex package names: a lowercase letter, then lowercase letters, digits and underscores.
const PACKAGE_NAME = /^[a-z][a-z0-9_]{0,127}$/;
// SemVer 2.0 (https://semver.org), anchored; bounded so no path segment grows unbounded.
const VERSION =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const isPackageName = (name: string): boolean => PACKAGE_NAME.test(name);
// proto/policy.proto: ^[a-z0-9][a-z0-9_\-\.]*[a-z0-9]$, 3 to 64 characters.
const POLICY_NAME = /^[a-z0-9][a-z0-9_.-]{1,62}[a-z0-9]$/;
export const isPolicyName = (name: string): boolean => POLICY_NAME.test(name);
export const isVersion = (version: string): boolean => version.length <= 128 && VERSION.test(version);

/** The path of a resource relative to a repository root: "names", "packages/NAME", "policies/NAME". */
export function resourcePath(resource: RegistryResource): string {
  if (resource.kind === 'package') return `packages/${resource.name}`;
  if (resource.kind === 'policy') return `policies/${resource.name}`;
  return resource.kind;
}

/** The resource at a path relative to a repository root, if it names one. */
export function resourceAt(path: string): RegistryResource | undefined {
  if (path === 'names' || path === 'versions') return { kind: path };
  if (path.startsWith('packages/')) {
    const name = path.slice('packages/'.length);
    return isPackageName(name) ? { kind: 'package', name } : undefined;
  }
  if (path.startsWith('policies/')) {
    const name = path.slice('policies/'.length);
    return isPolicyName(name) ? { kind: 'policy', name } : undefined;
  }
  return undefined;
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
