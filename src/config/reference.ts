// The reference table of docs/configuration.md, made from the settings table and the config
// schema, so the documentation says what the loader accepts: every key, its flag, its
// environment variable and its default. `npm run docs:config` writes it between the markers;
// test/unit/config-docs.test.ts fails when the file and this disagree.
import { isAbsolute, relative } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../paths.js';
import { configSchema } from './schema.js';
import { envName, orgAuthKeyEnv, settings, upstreamAuthKeyEnv, type Setting } from './settings.js';

export const REFERENCE_START =
  '<!-- config-reference:start: made by `npm run docs:config` from src/config/settings.ts and src/config/schema.ts; edit those, not this table -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

/** A row for keys only a config file (or, for an organization's key, the environment) sets. */
interface FileOnlyKey {
  key: string;
  env?: string;
  default: string;
  meaning: string;
  /** Covers every schema key below this one (policy.*: documented on its own page). */
  subtree?: true;
}

// Links are relative to docs/configuration.md.
const fileOnlyKeys: readonly FileOnlyKey[] = [
  {
    key: 'upstream.authKey',
    env: upstreamAuthKeyEnv,
    default: '',
    meaning:
      "Sent as `authorization` with every request for the public repository, for an upstream that needs a token: a central hexproxy with `auth.requireToken`, whose token (`--read` naming `upstream.repository`) this is (see [Edge sites chained to a central one](deployment.md#edge-sites-chained-to-a-central-one)). Also sent to `upstream.apiUrl` and `installs.url` when they are on `upstream.url`'s origin (scheme, host and port), never to another server. Config file or environment only, never a flag; never logged.",
  },
  {
    key: 'organizations.NAME.authKey',
    env: orgAuthKeyEnv('NAME'),
    default: '',
    meaning:
      'The hex.pm key sent upstream as `authorization` for organization NAME (see [Private organizations](organizations-and-tokens.md#private-organizations)). Never logged.',
  },
  {
    key: 'organizations.NAME.publicKey',
    default: '`upstream.publicKey`',
    meaning: "PEM file verifying organization NAME's registry files.",
  },
  {
    key: 'hosted.NAME.replaceWindowSeconds',
    default: '`3600`',
    meaning:
      'How long after its first publication a release of hosted repository NAME may be replaced (`--replace`) or reverted (`--revert`); `0`: never. Replacing does not restart the window. Retiring and docs are not bound by it. A name under `hosted` is a repository people publish to, served at `/repos/NAME` and read with a token whose `--read` names it; it may not also be an organization nor `upstream.repository`.',
  },
  {
    key: 'hosted.NAME.merge',
    default: '`false`',
    meaning:
      "Also serve hosted repository NAME's packages in the root (`hexpm`) view, re-signed by hexproxy, for projects that cannot carry an `organization:` option (docs/hosting.md). A hosted package then hides hex.pm's package of the same name completely, every release, cached ones too, and in `/mirror`. Whoever may read the root view reads them (anyone, unless `auth.requireToken`). The policy filters them with the root view: a `policy.repositories` naming NAME must name `upstream.repository` too.",
  },
  {
    key: 'hosted.NAME.mayShadow',
    default: '`[]`',
    meaning:
      'With `merge`: package names that may be published to NAME although hex.pm has a package of that name (the hosted one then hides it in the root view). Any other name hex.pm has, or that hexproxy cannot confirm it lacks (upstream unreachable), is refused at publish with a 422 naming this key, against dependency confusion.',
  },
  {
    key: 'bundles.trustedKeys',
    default: '`[]`',
    meaning:
      "PEM files of the public keys (`keys.publicKey`) of the hexproxy instances whose signed bundles may replace cached registry files and build lists with ones upstream vouched for later (see [Carry the cache across an air gap](operations.md#carry-the-cache-across-an-air-gap-export-and-import)). hexproxy's own key is always trusted. Config file only; `hexproxy import --trust-key FILE` adds one for a run.",
  },
  {
    key: 'policy',
    default: 'no policy',
    meaning: 'Which releases clients may see; config file only. See [Policies](policies.md).',
    subtree: true,
  },
];

// Defaults the loader works out from other keys (settings.ts leaves them undefined).
const derivedDefaults: Readonly<Record<string, string>> = {
  'auth.tokensFile': '`DATA_DIR/tokens.json`',
  'metrics.requireToken': '`true` if `auth.requireToken` is on or organizations or hosted repositories are configured, else `false`',
  'keys.privateKey': '`DATA_DIR/keys/hexproxy_private.pem`',
  'keys.publicKey': '`DATA_DIR/keys/hexproxy_public.pem`',
  'tls.cert': 'none: plain HTTP',
  'tls.key': 'none: plain HTTP',
};

const KiB = 1024;
const MiB = 1024 * KiB;

function renderDefault(setting: Setting): string {
  const value = setting.default;
  if (value === undefined) {
    const derived = derivedDefaults[setting.key];
    if (derived === undefined)
      throw new Error(`config key ${setting.key} has no default and no derived default to document (src/config/reference.ts)`);
    return derived;
  }
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((item) => `\`${String(item)}\``).join(', ');
  if (typeof value === 'number') return `\`${value}\`${sizeOf(setting.key, value)}`;
  if (typeof value === 'string' && setting.kind === 'path' && isAbsolute(value)) {
    // A file shipped with hexproxy: where it is depends on the installation, not on this machine.
    return `\`${relative(projectRoot, value)}\` of the installation`;
  }
  return `\`${String(value)}\``;
}

/** "(64 MiB)" for a byte figure, "(32 KiB/s)" for a rate; nothing for other numbers. */
function sizeOf(key: string, value: number): string {
  if (!/Bytes/.test(key) || value < KiB) return '';
  const perSecond = key.endsWith('PerSecond') ? '/s' : '';
  if (value % MiB === 0) return ` (${value / MiB} MiB${perSecond})`;
  if (value % KiB === 0) return ` (${value / KiB} KiB${perSecond})`;
  return '';
}

const escapeCell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const row = (cells: readonly string[]): string => `|${cells.map((text) => (text ? ` ${escapeCell(text)} ` : ' ')).join('|')}|`;
const code = (text: string): string => `\`${text}\``;

/** Every key a config file may hold, as dotted paths (a record's keys as NAME). */
export function schemaKeys(schema: z.ZodType = configSchema, prefix = ''): string[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) {
    return schemaKeys(schema.unwrap() as z.ZodType, prefix);
  }
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([name, child]) =>
      schemaKeys(child, prefix ? `${prefix}.${name}` : name),
    );
  }
  if (schema instanceof z.ZodRecord) return schemaKeys(schema.valueType as z.ZodType, `${prefix}.NAME`);
  return [prefix];
}

/** Schema keys the table does not cover: each must become a setting or a file-only row. */
export function undocumentedKeys(): string[] {
  const covered = new Set([...settings.map((setting) => setting.key), ...fileOnlyKeys.map((row) => row.key)]);
  const subtrees = fileOnlyKeys.filter((row) => row.subtree).map((row) => `${row.key}.`);
  return schemaKeys().filter((key) => !covered.has(key) && !subtrees.some((subtree) => key.startsWith(subtree)));
}

/** The markdown table, one row per setting and then the keys only a config file sets. */
export function configReferenceTable(): string {
  const missing = undocumentedKeys();
  if (missing.length > 0)
    throw new Error(
      `config keys without a row in the reference: ${missing.join(', ')} (add them to src/config/settings.ts or src/config/reference.ts)`,
    );
  const rows = [
    row(['config key', 'flag', 'environment', 'default', 'meaning']),
    '|---|---|---|---|---|',
    ...settings.map((setting) =>
      row([
        code(setting.key),
        code(`--${setting.flag}`),
        code(envName(setting)),
        renderDefault(setting),
        `${setting.serveOnly ? '(serve) ' : ''}${setting.description}`,
      ]),
    ),
    ...fileOnlyKeys.map((key) => row([code(`${key.key}${key.subtree ? '.*' : ''}`), '', key.env ? code(key.env) : '', key.default, key.meaning])),
  ];
  return rows.join('\n');
}

/** `document` with the text between the markers replaced by the table; throws without the markers. */
export function withConfigReference(document: string): string {
  const start = document.indexOf(REFERENCE_START);
  const end = document.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`docs/configuration.md must hold the markers ${REFERENCE_START} and ${REFERENCE_END}`);
  return `${document.slice(0, start + REFERENCE_START.length)}\n\n${configReferenceTable()}\n\n${document.slice(end)}`;
}
