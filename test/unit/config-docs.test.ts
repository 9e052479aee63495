// docs/configuration.md's reference table is made from src/config/settings.ts and schema.ts
// (npm run docs:config). These fail when the two drift: a key added, renamed or given another
// default, flag or description without the table being made again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  REFERENCE_END,
  REFERENCE_START,
  configReferenceTable,
  schemaKeys,
  undocumentedKeys,
  withConfigReference,
} from '../../src/config/reference.js';
import { envName, settings } from '../../src/config/settings.js';
import { projectRoot } from '../../src/paths.js';

const file = join(projectRoot, 'docs', 'configuration.md');
const document = readFileSync(file, 'utf8');

describe('docs/configuration.md', () => {
  it('holds the reference table the settings and the schema make (else: npm run docs:config)', () => {
    expect(document).toContain(REFERENCE_START);
    expect(document).toContain(REFERENCE_END);
    expect(document, 'docs/configuration.md is out of date: run npm run docs:config').toBe(withConfigReference(document));
  });

  it('has a row for every key the schema accepts', () => {
    expect(undocumentedKeys()).toEqual([]);
  });

  it('names every setting with its flag and environment variable', () => {
    for (const setting of settings) {
      expect(document).toContain(`| \`${setting.key}\` | \`--${setting.flag}\` | \`${envName(setting)}\` |`);
    }
  });

  it('does not depend on where the project is checked out', () => {
    expect(configReferenceTable()).not.toContain(projectRoot);
  });
});

describe('docs/policies.md', () => {
  it('has a row for every policy key the schema accepts (the reference table sends policy.* there)', () => {
    const policies = readFileSync(join(projectRoot, 'docs', 'policies.md'), 'utf8');
    const policyKeys = schemaKeys().filter((key) => key.startsWith('policy.'));
    expect(policyKeys.length).toBeGreaterThan(0);
    for (const key of policyKeys) expect(policies, key).toContain(`| \`${key}\` |`);
  });
});

describe('schemaKeys', () => {
  it('lists nested, optional and per-organization keys as dotted paths', () => {
    const keys = schemaKeys();
    expect(keys).toContain('upstream.timeoutMs');
    expect(keys).toContain('organizations.NAME.authKey');
    expect(keys).toContain('bundles.trustedKeys');
    expect(keys).toContain('policy.blockAdvisorySeverity');
    expect(keys).not.toContain('upstream');
  });
});
