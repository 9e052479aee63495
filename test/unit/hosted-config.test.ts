// The config section `hosted`: defaults, names, and that a name is served once (an
// organization, the public repository or a hosted repository, never two of them).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configuredPolicy, servedRepositories } from '../../src/config/policy.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../support/proxy.js';

function configFile(value: unknown): string {
  const file = join(tempDir('hexproxy-hosted-config-'), 'hexproxy.json');
  writeFileSync(file, JSON.stringify(value));
  return file;
}

const load = (value: unknown, env: Record<string, string> = {}) => loadConfig({ flags: { config: configFile(value) }, env });

describe('config section hosted', () => {
  it('is empty by default, and fills in each repository’s defaults', () => {
    expect(loadConfig({}).hosted).toEqual({});
    const config = load({ hosted: { acme: {}, labs: { replaceWindowSeconds: 0, merge: true, mayShadow: ['jason'] } } });
    expect(config.hosted).toEqual({
      acme: { replaceWindowSeconds: 3600, merge: false, mayShadow: [] },
      labs: { replaceWindowSeconds: 0, merge: true, mayShadow: ['jason'] },
    });
  });

  it('lists hosted repositories among those served, after the organizations: tokens and policies may name them', () => {
    const config = load({ organizations: { globex: {} }, hosted: { acme: {} }, policy: { repositories: ['acme'] } });
    expect(servedRepositories(config)).toEqual(['hexpm', 'globex', 'acme']);
    expect([...configuredPolicy(config).repositories]).toEqual(['acme']);
  });

  it('closes /metrics by default when a hosted repository is configured', () => {
    expect(load({ hosted: { acme: {} } }).metrics.requireToken).toBe(true);
  });

  it.each([
    [
      { hosted: { acme: {} }, organizations: { acme: {} } },
      {},
      /config key hosted\.acme \(from config file .*\): "acme" is also configured under organizations; a name is either a proxied hex\.pm organization or a hosted repository/,
    ],
    // An organization configured by its key's variable alone is configured all the same.
    [{ hosted: { acme: {} } }, { HEXPROXY_ORG_ACME_AUTH_KEY: 'k' }, /config key hosted\.acme .*"acme" is also configured under organizations/],
    [{ hosted: { hexpm: {} } }, {}, /config key hosted\.hexpm .*"hexpm" is the public repository \(upstream\.repository\)/],
    [{ hosted: { 'Acme-Corp': {} } }, {}, /config key hosted\.Acme-Corp .*Invalid key in record/],
    [{ hosted: { acme: { replaceWindowSeconds: -1 } } }, {}, /config key hosted\.acme\.replaceWindowSeconds/],
    [{ hosted: { acme: { mayShadow: ['Jason'] } } }, {}, /config key hosted\.acme\.mayShadow\[0\].*must be a package name/],
    [{ hosted: { acme: { publish: true } } }, {}, /unknown config key hosted\.acme\.publish/],
  ])('refuses %j', (value, env, message) => {
    expect(() => load(value, env)).toThrow(ConfigError);
    expect(() => load(value, env)).toThrow(message);
  });
});
