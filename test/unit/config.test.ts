import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { envName, settings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { elixirPublicKeyFile, hexpmPublicKeyFile, projectRoot } from '../../src/paths.js';
import { tempDir } from '../support/proxy.js';

function writeConfig(value: unknown): string {
  const file = join(tempDir(), 'config.json');
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({ cwd: '/srv/hexproxy' });
    expect(config.port).toBe(4000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.dataDir).toBe('/srv/hexproxy/data');
    expect(config.upstream.url).toBe('https://repo.hex.pm');
    expect(config.upstream.repository).toBe('hexpm');
    expect(config.upstream.publicKey).toBe(hexpmPublicKeyFile);
    expect(config.installs.publicKey).toBe(elixirPublicKeyFile);
    expect(config.bundles.trustedKeys).toEqual([]);
    expect(config.keys.privateKey).toBe('/srv/hexproxy/data/keys/hexproxy_private.pem');
    expect(config.offline).toBe(false);
    expect(Object.isFrozen(config.upstream)).toBe(true);
  });

  it('applies flags over environment over file over defaults', () => {
    const file = writeConfig({ port: 5000, host: '127.0.0.1', logLevel: 'warn', upstream: { timeoutMs: 1000 } });
    const config = loadConfig({
      cwd: '/x',
      env: { HEXPROXY_PORT: '6000', HEXPROXY_LOG_LEVEL: 'debug', HEXPROXY_CONFIG: file },
      flags: { port: '7000' },
    });
    expect(config.port).toBe(7000);
    expect(config.logLevel).toBe('debug');
    expect(config.host).toBe('127.0.0.1');
    expect(config.upstream.timeoutMs).toBe(1000);
  });

  it('resolves paths in a config file relative to the file', () => {
    const file = writeConfig({ dataDir: 'cache' });
    const config = loadConfig({ flags: { config: file } });
    expect(config.dataDir).toBe(join(file, '..', 'cache'));
    expect(config.keys.publicKey).toBe(join(file, '..', 'cache', 'keys', 'hexproxy_public.pem'));
  });

  it('resolves the trusted bundle keys in a config file relative to the file, and refuses a list of anything else', () => {
    const file = writeConfig({
      bundles: { trustedKeys: ['keys/site-a.pem', '/etc/hexproxy/site-b.pem'] },
      installs: { publicKey: 'keys/elixir.pem' },
    });
    const config = loadConfig({ flags: { config: file } });
    expect(config.bundles.trustedKeys).toEqual([join(file, '..', 'keys', 'site-a.pem'), '/etc/hexproxy/site-b.pem']);
    expect(config.installs.publicKey).toBe(join(file, '..', 'keys', 'elixir.pem'));
    expect(() => loadConfig({ flags: { config: writeConfig({ bundles: { trustedKeys: 'a.pem' } }) } })).toThrow(
      /config key bundles\.trustedKeys .*expected array/,
    );
    expect(() => loadConfig({ flags: { config: writeConfig({ bundles: { trusted: [] } }) } })).toThrow(/unknown config key bundles\.trusted/);
  });

  it("ships the Elixir key that signs the builds server's lists", () => {
    expect(readFileSync(elixirPublicKeyFile, 'utf8')).toMatch(
      /^-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAslPz1mAfyAvRv8W8xOdv\n/,
    );
  });

  it('names an unknown key in the file', () => {
    const file = writeConfig({ upstream: { urll: 'http://x' } });
    expect(() => loadConfig({ flags: { config: file } })).toThrow(/unknown config key upstream\.urll/);
  });

  it('names a bad value and where it came from', () => {
    expect(() => loadConfig({ env: { HEXPROXY_PORT: 'eighty' } })).toThrow(/HEXPROXY_PORT: expected a whole number for port, got "eighty"/);
    expect(() => loadConfig({ flags: { port: '70000' } })).toThrow(/config key port \(from flag --port\)/);
    expect(() => loadConfig({ flags: { 'upstream-url': 'ftp://example' } })).toThrow(
      /config key upstream\.url \(from flag --upstream-url\): must be an http/,
    );
    expect(() => loadConfig({ env: { HEXPROXY_LOG_LEVEL: 'loud' } })).toThrow(/config key logLevel \(from environment variable HEXPROXY_LOG_LEVEL\)/);
    expect(() => loadConfig({ flags: { 'access-log': 'hits' } })).toThrow(
      /config key accessLog \(from flag --access-log\): .*"all"\|"misses"\|"off"/,
    );
    expect(() => loadConfig({ env: { HEXPROXY_OFFLINE: 'maybe' } })).toThrow(ConfigError);
  });

  it('refuses a config file that is not JSON, or missing', () => {
    expect(() => loadConfig({ flags: { config: writeConfig('{ port: 1') } })).toThrow(/is not valid JSON/);
    expect(() => loadConfig({ flags: { config: '/nonexistent/hexproxy.json' } })).toThrow(/cannot read config file/);
  });

  it('ships a config.example.json with every key, which loads as it is', () => {
    const example = join(projectRoot, 'config.example.json');
    const parsed: unknown = JSON.parse(readFileSync(example, 'utf8'));
    for (const setting of settings) {
      const value = setting.key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], parsed);
      expect(value, setting.key).not.toBeUndefined();
    }
    expect(loadConfig({ flags: { config: example } }).upstream.publicKey).toBe(hexpmPublicKeyFile);
    // Its key paths are null, so they follow the data directory.
    expect(loadConfig({ flags: { config: example, 'data-dir': '/srv/cache' } }).keys.privateKey).toBe('/srv/cache/keys/hexproxy_private.pem');
  });

  it('derives every environment variable from the flag name', () => {
    expect(settings.map(envName)).toContain('HEXPROXY_UPSTREAM_PUBLIC_KEY');
    expect(settings.map(envName)).toContain('HEXPROXY_DATA_DIR');
  });

  it('has no policy by default, and fills in every policy key left out', () => {
    expect(loadConfig({}).policy).toEqual({
      deny: [],
      allow: [],
      minReleaseAge: '0',
      undatedReleases: 'allow',
      blockRetired: false,
      tarballs: 'locked-ok',
    });
    const config = loadConfig({ flags: { config: writeConfig({ policy: { deny: ['left_pad'], minReleaseAge: '2w' } }) } });
    expect(config.policy).toEqual({
      deny: ['left_pad'],
      allow: [],
      minReleaseAge: '2w',
      undatedReleases: 'allow',
      blockRetired: false,
      tarballs: 'locked-ok',
    });
  });

  it.each([
    [{ deny: ['ok', 'plug@~>'] }, /config key policy\.deny\[1\] \(from config file .*\): "plug@~>" has an invalid requirement/],
    [{ allow: [{ match: 'Plug' }] }, /config key policy\.allow\[0\] .*"Plug" is not a package name or a glob/],
    [{ deny: ['@1.0.0'] }, /config key policy\.deny\[0\] .*"@1\.0\.0" has no package name/],
    [{ minReleaseAge: '7 days' }, /config key policy\.minReleaseAge .*must be a duration such as "0", "7d", "2w" or "1mo"/],
    [{ blockAdvisorySeverity: 'severe' }, /config key policy\.blockAdvisorySeverity/],
    [{ blockRetired: ['security', 'obsolete'] }, /config key policy\.blockRetired/],
    [{ tarballs: 'lenient' }, /config key policy\.tarballs/],
    [{ denylist: ['x'] }, /unknown config key policy\.denylist/],
  ])('refuses the policy %j naming the key', (policy, message) => {
    expect(() => loadConfig({ flags: { config: writeConfig({ policy }) } })).toThrow(message);
  });
});

describe('http.trustedProxies and metrics.requireToken', () => {
  it('trusts no proxy by default, and takes addresses and CIDR blocks from the file, the environment or the flag', () => {
    expect(loadConfig({}).http.trustedProxies).toEqual([]);
    expect(loadConfig({ env: { HEXPROXY_TRUSTED_PROXIES: '10.0.0.0/8, ::1' } }).http.trustedProxies).toEqual(['10.0.0.0/8', '::1']);
    expect(loadConfig({ flags: { 'trusted-proxies': '192.168.1.10' } }).http.trustedProxies).toEqual(['192.168.1.10']);
    expect(loadConfig({ flags: { config: writeConfig({ http: { trustedProxies: ['fd00::/8', '127.0.0.1'] } }) } }).http.trustedProxies).toEqual([
      'fd00::/8',
      '127.0.0.1',
    ]);
  });

  it.each([['proxy.internal'], ['10.0.0.0/33'], ['10.0.0.1/'], ['::1/129']])('refuses %s, naming the key', (entry) => {
    expect(() => loadConfig({ flags: { 'trusted-proxies': entry } })).toThrow(
      /config key http\.trustedProxies\[0\] \(from flag --trusted-proxies\): must be IP addresses or CIDR blocks/,
    );
  });

  it('closes /metrics by default where reads are closed: auth.requireToken or organizations; an explicit value wins', () => {
    expect(loadConfig({}).metrics.requireToken).toBe(false);
    expect(loadConfig({ flags: { 'require-token': true } }).metrics.requireToken).toBe(true);
    expect(loadConfig({ flags: { config: writeConfig({ organizations: { acme: { authKey: 'k' } } }) } }).metrics.requireToken).toBe(true);
    expect(
      loadConfig({ flags: { config: writeConfig({ organizations: { acme: { authKey: 'k' } }, metrics: { requireToken: false } }) } }).metrics
        .requireToken,
    ).toBe(false);
    expect(loadConfig({ flags: { 'require-token': true }, env: { HEXPROXY_METRICS_REQUIRE_TOKEN: 'false' } }).metrics.requireToken).toBe(false);
    expect(() => loadConfig({ flags: { config: writeConfig({ metrics: { requireToken: 'yes' } }) } })).toThrow(/config key metrics\.requireToken/);
  });

  it('keeps an organization written as an empty object (its authKey may come from HEXPROXY_ORG_NAME_AUTH_KEY)', () => {
    const config = loadConfig({ flags: { config: writeConfig({ organizations: { acme: {} } }) } });
    expect(Object.keys(config.organizations)).toEqual(['acme']);
    expect(config.metrics.requireToken).toBe(true);
    // An empty object where a value belongs is refused, naming the key.
    expect(() => loadConfig({ flags: { config: writeConfig({ port: {} }) } })).toThrow(/config key port/);
  });

  it("takes the public repository's upstream credential (a central hexproxy's token) from the config file or HEXPROXY_UPSTREAM_AUTH_KEY", () => {
    expect(loadConfig({}).upstream.authKey).toBeUndefined();
    expect(loadConfig({ flags: { config: writeConfig({ upstream: { authKey: 'hxp_file' } }) } }).upstream.authKey).toBe('hxp_file');
    const file = writeConfig({ upstream: { authKey: 'hxp_file' } });
    expect(loadConfig({ flags: { config: file }, env: { HEXPROXY_UPSTREAM_AUTH_KEY: 'hxp_env' } }).upstream.authKey).toBe('hxp_env');
    // Sent as a header: a pasted line break is refused at start, naming the key and where it came from, not the value.
    const refused = (): unknown => loadConfig({ env: { HEXPROXY_UPSTREAM_AUTH_KEY: 'hxp_secret\n' } });
    expect(refused).toThrow(/config key upstream\.authKey \(from environment variable HEXPROXY_UPSTREAM_AUTH_KEY\): must be printable ASCII/);
    expect(refused).not.toThrow(/hxp_secret/);
    expect(() => loadConfig({ flags: { config: writeConfig({ organizations: { acme: { authKey: 'k\r\nx-evil: 1' } } }) } })).toThrow(
      /config key organizations\.acme\.authKey/,
    );
  });
});
