// metadata.config, read as the terms it is and checked field by field as hex.pm checks a
// release (hexpm Package, PackageMetadata, Release, ReleaseMetadata, Requirement), with
// hex_core's normalisation first (hex_tarball.erl normalize_metadata): requirements in
// either form clients write, links as a list of pairs, build tools guessed from the files
// when a very old client left them out.
//
// Every problem found is kept, field by field, in the shape hex.pm answers, so one failed
// publish lists all there is to fix.
import type { ValidationErrors } from '../errors.js';
import { describeTerm, type Term } from '../lockfiles/term.js';
import { InvalidRequirementError, InvalidVersionError } from '../resolve/errors.js';
import { parseRequirement } from '../resolve/requirement.js';
import { parseVersionParts } from '../resolve/version.js';
import { hasPackageNameFormat, packageNameProblem } from './package-name.js';
import type { ReleaseMetadata, ReleaseRequirement } from './release.js';

export interface PackageMetadata {
  name: string;
  version: string;
  requirements: ReleaseRequirement[];
  metadata: ReleaseMetadata;
}

export type MetadataResult = { ok: true; value: PackageMetadata } | { ok: false; errors: ValidationErrors };

// hex.pm's limits on a version (hexpm lib/hexpm/ecto/version.ex).
const MAX_PRERELEASE_LENGTH = 64;

// What hex_core guesses build tools from, when metadata.config names none.
const BUILD_TOOL_FILES: Readonly<Record<string, string>> = {
  'mix.exs': 'mix',
  'rebar.config': 'rebar3',
  rebar: 'rebar3',
  Makefile: 'make',
  'Makefile.win': 'make',
};

const REBUILD = 'build the package with `mix hex.build` or `rebar3 hex build`, which write it';

/** Checks the terms of metadata.config (already parsed). */
export function readPackageMetadata(terms: readonly Term[]): MetadataResult {
  const fields = topLevelFields(terms);
  if (typeof fields === 'string') return { ok: false, errors: { tar: fields } };
  const errors: Record<string, string> = {};
  const meta: Record<string, string> = {};
  const field = (key: string): Term | undefined => fields.get(key);

  const name = requiredText(field('name'), 'name', errors, `metadata.config has no name: ${REBUILD}`);
  if (name !== undefined) {
    const problem = packageNameProblem(name);
    if (problem !== undefined) errors['name'] = problem;
  }
  const version = requiredText(field('version'), 'version', errors, `metadata.config has no version: ${REBUILD}`);
  if (version !== undefined) {
    const problem = versionProblem(version);
    if (problem !== undefined) errors['version'] = problem;
  }

  const app = requiredText(field('app'), 'app', meta, `metadata.config has no app (the OTP application's name): ${REBUILD}`);
  if (app === '') meta['app'] = `the app (the OTP application's name) is empty: ${REBUILD}`;
  const files = textList(field('files'), 'files', meta);
  if (files === undefined && meta['files'] === undefined) {
    meta['files'] = `metadata.config has no files: ${REBUILD}`;
  } else if (files?.length === 0) {
    meta['files'] =
      'the package has no files: list them in the package settings (Mix: package: [files: ...]; rebar3: {files, [...]} in the .app.src)';
  }
  const buildToolsTerm = field('build_tools');
  const buildTools = buildToolsTerm === undefined ? guessBuildTools(files ?? []) : textList(buildToolsTerm, 'build_tools', meta);
  if (buildTools?.length === 0) {
    meta['build_tools'] =
      'the package names no build tool (mix, rebar3, make): set build_tools in the package settings, or include mix.exs or rebar.config';
  }
  const description = optionalText(field('description'), 'description', meta) ?? '';
  const licenses = field('licenses') === undefined ? [] : textList(field('licenses'), 'licenses', meta);
  const links = readLinks(field('links'), meta);
  const elixir = optionalText(field('elixir'), 'elixir', meta);
  if (elixir !== undefined) {
    const problem = requirementProblem(elixir);
    if (problem !== undefined) meta['elixir'] = `the Elixir requirement ${problem}`;
  }
  const requirements = readRequirements(field('requirements'));

  const all: Record<string, string | ValidationErrors> = { ...errors };
  if (Object.keys(meta).length > 0) all['meta'] = meta;
  if (typeof requirements === 'string') all['requirements'] = requirements;
  else if (Object.keys(requirements.errors).length > 0) all['requirements'] = requirements.errors;
  if (Object.keys(all).length > 0 || name === undefined || version === undefined || app === undefined || typeof requirements === 'string') {
    return { ok: false, errors: all };
  }
  return {
    ok: true,
    value: {
      name,
      version,
      requirements: requirements.list,
      metadata: {
        app,
        description,
        licenses: licenses ?? [],
        links: links ?? {},
        buildTools: [...new Set(buildTools)],
        ...(elixir !== undefined && { elixir }),
        fileCount: files?.length ?? 0,
      },
    },
  };
}

/** Every term must be `{<<"key">>, Value}`, each key once; a message for `tar` otherwise. */
function topLevelFields(terms: readonly Term[]): Map<string, Term> | string {
  if (terms.length === 0) return `metadata.config holds no terms: ${REBUILD}`;
  const fields = new Map<string, Term>();
  for (const term of terms) {
    const [key, value] = term.kind === 'tuple' && term.items.length === 2 ? term.items : [];
    if (key?.kind !== 'binary' || value === undefined) {
      return `${where(term)} every term of metadata.config must be {<<"key">>, Value}, found ${describeTerm(term)}: ${REBUILD}`;
    }
    if (fields.has(key.value)) return `${where(term)} metadata.config sets ${JSON.stringify(key.value)} twice: keep one`;
    fields.set(key.value, value);
  }
  return fields;
}

function versionProblem(version: string): string | undefined {
  let build: string[];
  let pre: (string | number)[];
  try {
    ({ build, pre } = parseVersionParts(version));
  } catch (error: unknown) {
    if (!(error instanceof InvalidVersionError)) throw error;
    return `${JSON.stringify(version)} is not a valid SemVer version (${error.problem}): use MAJOR.MINOR.PATCH, e.g. 1.0.0 or 1.0.0-rc.1`;
  }
  if (build.length > 0)
    return `${JSON.stringify(version)} has build metadata (+${build.join('.')}), which Hex does not allow: publish ${version.replace(/\+.*$/, '')} instead`;
  if (pre.join('.').length > MAX_PRERELEASE_LENGTH)
    return `${JSON.stringify(version)} has a pre-release part longer than ${MAX_PRERELEASE_LENGTH} characters: shorten it`;
  return undefined;
}

/** Why `text` is not a requirement Hex takes ("is not valid: …", completing "the requirement X"), or undefined. */
function requirementProblem(text: string): string | undefined {
  try {
    parseRequirement(text);
  } catch (error: unknown) {
    if (!(error instanceof InvalidRequirementError)) throw error;
    return `${JSON.stringify(text)} is not a valid Elixir version requirement (${error.problem}): write one such as "~> 1.2" or ">= 1.0.0 and < 2.0.0"`;
  }
  if (text.includes('!'))
    return `${JSON.stringify(text)} uses "!=", which Hex does not allow in requirements: use ranges such as ">= 1.0.0 and < 1.2.0 or > 1.2.0"`;
  return undefined;
}

/** A requirement as a client writes it: a list of pairs, or a map, with binary keys. */
function fieldsOf(term: Term): Map<string, Term> | undefined {
  const fields = new Map<string, Term>();
  if (term.kind === 'map') {
    for (const { key, value } of term.entries) {
      if (key.kind !== 'binary') return undefined;
      fields.set(key.value, value);
    }
    return fields;
  }
  if (term.kind !== 'list') return undefined;
  for (const item of term.items) {
    const [key, value] = item.kind === 'tuple' && item.items.length === 2 ? item.items : [];
    if (key?.kind !== 'binary' || value === undefined) return undefined;
    fields.set(key.value, value);
  }
  return fields;
}

interface RequirementList {
  list: ReleaseRequirement[];
  errors: Record<string, string>;
}

interface RequirementEntry {
  /** The name as written (inside the requirement, or its key in the map form). */
  name: Term | undefined;
  /** Its fields; undefined when it is not a list of pairs or a map. */
  fields: Map<string, Term> | undefined;
  /** Where its errors go: its name, as hex.pm does, else its place (`#2`). */
  label: string;
}

/** Each requirement, checked; a message (for `requirements`) when the list itself is malformed. */
function readRequirements(term: Term | undefined): RequirementList | string {
  const result: RequirementList = { list: [], errors: {} };
  if (term === undefined) return result;
  const entries = requirementEntries(term);
  if (entries === undefined) {
    return `${where(term)} requirements must be a list of requirements, each with name, requirement, optional and app, found ${describeTerm(term)}: ${REBUILD}`;
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    const checked = checkRequirement(entry, seen);
    if (Array.isArray(checked)) result.errors[entry.label] = checked.join('; ');
    else result.list.push(checked);
  }
  return result;
}

/**
 * Both forms hex_core reads: Mix's list of requirements, each with its name
 * (`[[{<<"name">>, ...}, {<<"requirement">>, ...}, ...], ...]`), and rebar3_hex's map from
 * name to requirement (`[{<<"jason">>, [{<<"requirement">>, ...}, ...]}, ...]`, a map
 * printed as a list of pairs). Undefined when it is neither.
 */
function requirementEntries(term: Term): RequirementEntry[] | undefined {
  const entries: RequirementEntry[] = [];
  const add = (name: Term | undefined, fields: Map<string, Term> | undefined): void => {
    entries.push({ name, fields, label: name?.kind === 'binary' && name.value !== '' ? name.value : `#${entries.length + 1}` });
  };
  if (term.kind === 'map') {
    for (const { key, value } of term.entries) add(key, fieldsOf(value));
    return entries;
  }
  if (term.kind !== 'list') return undefined;
  for (const item of term.items) {
    const [key, value] = item.kind === 'tuple' && item.items.length === 2 ? item.items : [];
    if (key?.kind === 'binary' && value !== undefined) {
      add(key, fieldsOf(value));
    } else if (item.kind === 'list' || item.kind === 'map') {
      const fields = fieldsOf(item);
      add(fields?.get('name'), fields);
    } else {
      return undefined;
    }
  }
  return entries;
}

/** The requirement, or what is wrong with it (each with what to do). */
function checkRequirement({ name, fields }: RequirementEntry, seen: Set<string>): ReleaseRequirement | string[] {
  if (fields === undefined) return [`the requirement must be a list of {<<"key">>, Value} pairs: ${REBUILD}`];
  const problems: string[] = [];
  const depName = name?.kind === 'binary' ? name.value : undefined;
  if (depName === undefined) problems.push('it has no name: name the package depended on');
  else if (!hasPackageNameFormat(depName)) problems.push(`${JSON.stringify(depName)} is not a valid package name: fix the dependency's name`);
  else if (seen.has(depName)) problems.push('the package is required twice: keep one requirement for it');
  if (depName !== undefined) seen.add(depName);

  const requirementTerm = fields.get('requirement');
  const requirement = requirementTerm?.kind === 'binary' ? requirementTerm.value : undefined;
  const requirementError =
    requirement === undefined
      ? `it has no version requirement (found ${requirementTerm === undefined ? 'none' : describeTerm(requirementTerm)}): use ">= 0.0.0" to accept any version`
      : requirementProblem(requirement);
  if (requirementError !== undefined) problems.push(requirement === undefined ? requirementError : `the requirement ${requirementError}`);

  const optionalTerm = fields.get('optional');
  const optional = optionalTerm === undefined ? false : booleanOf(optionalTerm);
  if (optionalTerm !== undefined && optional === undefined) problems.push(`optional must be true or false, found ${describeTerm(optionalTerm)}`);
  const app = fields.get('app');
  if (app !== undefined && (app.kind !== 'binary' || app.value === '')) {
    problems.push(`app must be the dependency's OTP application name, found ${describeTerm(app)}`);
  }
  const repository = fields.get('repository');
  if (repository !== undefined && (repository.kind !== 'binary' || repository.value === '')) {
    problems.push(`repository must name a repository ("hexpm" or this one), found ${describeTerm(repository)}`);
  }

  if (problems.length > 0 || depName === undefined || requirement === undefined) return problems;
  return {
    name: depName,
    requirement,
    optional: optional ?? false,
    app: app?.kind === 'binary' ? app.value : depName,
    ...(repository?.kind === 'binary' && { repository: repository.value }),
  };
}

const booleanOf = (term: Term): boolean | undefined =>
  term.kind === 'atom' && (term.value === 'true' || term.value === 'false') ? term.value === 'true' : undefined;

function readLinks(term: Term | undefined, meta: Record<string, string>): Record<string, string> | undefined {
  if (term === undefined) return {};
  const fields = fieldsOf(term);
  if (fields === undefined) {
    meta['links'] = `${where(term)} links must be a list of {<<"Name">>, <<"URL">>} pairs, found ${describeTerm(term)}`;
    return undefined;
  }
  const links: Record<string, string> = {};
  for (const [name, value] of fields) {
    if (value.kind !== 'binary' || !isWebUrl(value.value)) {
      meta['links'] =
        `the link ${JSON.stringify(name)} is ${value.kind === 'binary' ? JSON.stringify(value.value) : describeTerm(value)}, not an http or https URL: fix it in the package's links`;
      return undefined;
    }
    links[name] = value.value;
  }
  return links;
}

function isWebUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function guessBuildTools(files: readonly string[]): string[] {
  return [...new Set(files.flatMap((file) => BUILD_TOOL_FILES[file] ?? []))].sort();
}

/** A binary, required: undefined (and a message under `key`) when missing or not a binary. */
function requiredText(term: Term | undefined, key: string, errors: Record<string, string>, missing: string): string | undefined {
  if (term === undefined) {
    errors[key] = missing;
    return undefined;
  }
  return optionalText(term, key, errors);
}

function optionalText(term: Term | undefined, key: string, errors: Record<string, string>): string | undefined {
  if (term === undefined) return undefined;
  if (term.kind === 'binary') return term.value;
  errors[key] = `${where(term)} ${key} must be a binary (<<"...">>), found ${describeTerm(term)}: ${REBUILD}`;
  return undefined;
}

function textList(term: Term | undefined, key: string, errors: Record<string, string>): string[] | undefined {
  if (term === undefined) return undefined;
  const items = term.kind === 'list' ? term.items : undefined;
  if (items === undefined || items.some((item) => item.kind !== 'binary')) {
    errors[key] = `${where(term)} ${key} must be a list of binaries (<<"...">>), found ${describeTerm(term)}: ${REBUILD}`;
    return undefined;
  }
  return items.flatMap((item) => (item.kind === 'binary' ? [item.value] : []));
}

const where = (term: Term): string => `metadata.config:${term.at.line}:${term.at.column}:`;
