// Builds the configuration from defaults < config file < environment < flags, then
// validates it once. Every error names the key and where its value came from.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
import { type Config, configSchema } from './schema.js';
import { configFileEnv, defaultKeyFiles, envName, type Setting, settings, upstreamAuthKeyEnv } from './settings.js';

export interface ConfigSources {
  /** Parsed CLI flags by setting flag name ("data-dir"), plus "config". */
  flags?: Readonly<Record<string, string | boolean | undefined>>;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

type Tree = Record<string, unknown>;

export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const flags = sources.flags ?? {};
  const env = sources.env ?? {};
  const cwd = sources.cwd ?? process.cwd();
  const tree: Tree = {};
  const origin = new Map<string, string>();

  for (const setting of settings) {
    if (setting.default === undefined) continue;
    setPath(tree, setting.key, setting.kind === 'path' && typeof setting.default === 'string' ? resolve(cwd, setting.default) : setting.default);
  }

  const configFlag = flags['config'];
  const configFile = typeof configFlag === 'string' ? resolve(cwd, configFlag) : env[configFileEnv] ? resolve(cwd, env[configFileEnv]) : undefined;
  if (configFile) mergeFile(tree, origin, configFile);

  for (const setting of settings) {
    const name = envName(setting);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(tree, setting.key, parseValue(setting, raw, name, cwd));
    origin.set(setting.key, `environment variable ${name}`);
  }

  // An organization's upstream key from the environment, kept out of config files:
  // HEXPROXY_ORG_<NAME>_AUTH_KEY (the name upper-cased).
  for (const [name, raw] of Object.entries(env)) {
    const match = /^HEXPROXY_ORG_([A-Z0-9_]+)_AUTH_KEY$/.exec(name);
    if (!match || raw === undefined || raw === '') continue;
    const key = `organizations.${(match[1] as string).toLowerCase()}.authKey`;
    setPath(tree, key, raw);
    origin.set(key, `environment variable ${name}`);
  }

  // The public repository's upstream credential, as an organization's: environment or config file, never a flag (ps shows flags).
  const upstreamAuthKey = env[upstreamAuthKeyEnv];
  if (upstreamAuthKey !== undefined && upstreamAuthKey !== '') {
    setPath(tree, 'upstream.authKey', upstreamAuthKey);
    origin.set('upstream.authKey', `environment variable ${upstreamAuthKeyEnv}`);
  }

  for (const setting of settings) {
    const raw = flags[setting.flag];
    if (raw === undefined) continue;
    const flag = `--${setting.flag}`;
    setPath(tree, setting.key, typeof raw === 'boolean' ? raw : parseValue(setting, raw, flag, cwd));
    origin.set(setting.key, `flag ${flag}`);
  }

  const dataDir = getPath(tree, 'dataDir');
  if (typeof dataDir === 'string') {
    const keys = defaultKeyFiles(dataDir);
    if (getPath(tree, 'keys.privateKey') === undefined) setPath(tree, 'keys.privateKey', keys.privateKey);
    if (getPath(tree, 'keys.publicKey') === undefined) setPath(tree, 'keys.publicKey', keys.publicKey);
    if (getPath(tree, 'auth.tokensFile') === undefined) setPath(tree, 'auth.tokensFile', join(dataDir, 'tokens.json'));
  }

  if (!isTree(getPath(tree, 'organizations'))) setPath(tree, 'organizations', {});

  // "tls": {"cert": null, "key": null} (config.example.json) is no TLS, as leaving it out is.
  const tls = getPath(tree, 'tls');
  if (isTree(tls) && Object.keys(tls).length === 0) delete tree['tls'];

  // /metrics names the configured organizations and hosted repositories and tells traffic: closed wherever reads are.
  if (getPath(tree, 'metrics.requireToken') === undefined) {
    const named = (key: string): boolean => {
      const section = getPath(tree, key);
      return isTree(section) && Object.keys(section).length > 0;
    };
    setPath(tree, 'metrics.requireToken', getPath(tree, 'auth.requireToken') === true || named('organizations') || named('hosted'));
  }

  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      // Array elements as the policy's messages name them: policy.deny[1].
      const key = issue.path.map((part, at) => (typeof part === 'number' ? `[${part}]` : at === 0 ? String(part) : `.${String(part)}`)).join('');
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ') : key;
      // An array's elements came from where the array did.
      const from =
        origin.get(key) ??
        [...origin.keys()]
          .filter((set) => key.startsWith(`${set}[`) || key.startsWith(`${set}.`))
          .map((set) => origin.get(set))
          .at(-1);
      return issue.code === 'unrecognized_keys'
        ? `unknown config key ${keys}${configFile ? ` in ${configFile}` : ''} (see config.example.json for the valid keys)`
        : `config key ${key || '(root)'}${from ? ` (from ${from})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(problems.join('; '));
  }
  return deepFreeze(result.data);
}

function mergeFile(tree: Tree, origin: Map<string, string>, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error: unknown) {
    throw new ConfigError(`cannot read config file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error: unknown) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${errorMessage(error)}`, { cause: error });
  }
  if (!isTree(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  const pathKeys = new Set(settings.filter((s) => s.kind === 'path').map((s) => s.key));
  const walk = (node: Tree, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (isTree(value)) {
        // An empty object is a value too ("organizations": {"acme": {}}): it must not vanish.
        if (!isTree(getPath(tree, key))) {
          setPath(tree, key, {});
          origin.set(key, `config file ${file}`);
        }
        walk(value, key);
        continue;
      }
      // null means "the default", which for the key files follows dataDir.
      if (value === null) continue;
      // Paths in a config file are relative to the file, so the file can move with its data.
      const isPath = pathKeys.has(key) || /^organizations\.[^.]+\.publicKey$/.test(key);
      const relativeTo = (path: unknown): unknown => (typeof path === 'string' ? resolve(dirname(file), path) : path);
      setPath(tree, key, isPath ? relativeTo(value) : key === 'bundles.trustedKeys' && Array.isArray(value) ? value.map(relativeTo) : value);
      origin.set(key, `config file ${file}`);
    }
  };
  walk(parsed, '');
}

function parseValue(setting: Setting, raw: string, source: string, cwd: string): string | number | boolean | string[] {
  switch (setting.kind) {
    case 'integer': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source}: expected a whole number for ${setting.key}, got "${raw}"`);
      return Number(raw.trim());
    }
    case 'boolean': {
      const value = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(value)) return true;
      if (['0', 'false', 'no', 'off'].includes(value)) return false;
      throw new ConfigError(`${source}: expected true or false for ${setting.key}, got "${raw}"`);
    }
    case 'path':
      return resolve(cwd, raw);
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'string':
    case 'url':
      return raw;
  }
}

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

function setPath(tree: Tree, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isTree(next)) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts[parts.length - 1] as string] = value;
}

function getPath(tree: Tree, key: string): unknown {
  let node: unknown = tree;
  for (const part of key.split('.')) {
    if (!isTree(node)) return undefined;
    node = node[part];
  }
  return node;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (isTree(value)) for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
