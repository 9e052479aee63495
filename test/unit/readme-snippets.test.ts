// README, docs/clients.md and docs/hosting.md show the client snippets of src/clients/snippets.ts (the Set me
// up page's), filled in with HOST: the real-client tests run those functions' output
// (client-setup.test.ts, mix.test.ts, rebar3.test.ts), so the documentation must print
// exactly that, not a variant of its own. README (the front door) shows the essential ones,
// docs/clients.md all of them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  curlDeploy,
  keyFingerprint,
  mixBackToHexpm,
  mixBuilds,
  mixMirror,
  mixPublish,
  mixRepoSet,
  mixRetire,
  mixRevert,
  mixSetup,
  netrcEntry,
  publishEnvironment,
  rebar3Cdn,
  rebar3Config,
  rebar3ConfigPrintf,
  rebar3Mirror,
  rebar3MirrorConfig,
  rebar3Publish,
} from '../../src/clients/snippets.js';
import { projectRoot } from '../../src/paths.js';

const README = readFileSync(join(projectRoot, 'README.md'), 'utf8');
const CLIENTS = readFileSync(join(projectRoot, 'docs', 'clients.md'), 'utf8');
/** Publishing to hosted repositories (publish-mix.test.ts, publish-rebar3.test.ts and publish-api.test.ts run these). */
const HOSTING = readFileSync(join(projectRoot, 'docs', 'hosting.md'), 'utf8');
/** The client documentation as a whole: the README's pointers and the pages they point to. */
const DOCS = `${README}\n${CLIENTS}\n${HOSTING}`;
const BASE = 'http://HOST:4000';
const PEM = '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA...\n-----END PUBLIC KEY-----';

const snippets: Record<string, string> = {
  'Mix: key and repository': mixSetup(BASE, 'hexpm'),
  'Mix: with a token': mixRepoSet(BASE, 'hexpm', true),
  'Mix: back to hex.pm': mixBackToHexpm('hexpm'),
  "the key's fingerprint": keyFingerprint,
  'Mix: builds, Elixir 1.15 and later': mixBuilds(BASE, false)[0].text,
  'Mix: builds, Elixir 1.14 and earlier': mixBuilds(BASE, false)[1].text,
  'Mix: builds with a token, Elixir 1.15 and later': mixBuilds(BASE, true)[0].text,
  'Mix: builds with a token, Elixir 1.14 and earlier': mixBuilds(BASE, true)[1].text,
  'Mix: /mirror': mixMirror(BASE),
  'Mix: the netrc entry': netrcEntry(BASE),
  'rebar3: HEX_CDN': rebar3Cdn(BASE),
  'rebar3: the config entry': rebar3Config(PEM, 'hexpm', [], false),
  'rebar3: the config entry with a token': rebar3Config(PEM, 'hexpm', [], true),
  'rebar3: the config entry for an organization': rebar3Config(PEM, 'hexpm', ['acme'], false),
  'rebar3: the printf one-liner': rebar3ConfigPrintf(BASE, 'hexpm'),
  'rebar3: /mirror': rebar3Mirror(BASE),
  'rebar3: /mirror with a token': rebar3MirrorConfig('hexpm'),
  'publishing: the API URL and a write token': publishEnvironment(BASE),
  'Mix: publish to a hosted repository': mixPublish('acme'),
  'Mix: revert a release': mixRevert('acme', '1.0.1'),
  'Mix: retire a release': mixRetire('acme', 'acme_core', '1.0.0', 'security', 'use 1.0.1'),
  'rebar3: publish to a hosted repository': rebar3Publish('hexpm', 'acme'),
  'curl: deploy a tarball': curlDeploy(BASE, 'acme', 'acme_core-1.0.0.tar'),
};

/** The ones README itself shows, so a reader who stops at the front door has them exactly too. */
const inReadme = [
  'Mix: key and repository',
  "the key's fingerprint",
  'Mix: /mirror',
  'rebar3: HEX_CDN',
  'rebar3: the printf one-liner',
  'rebar3: /mirror',
  'publishing: the API URL and a write token',
  'Mix: publish to a hosted repository',
];

describe('README and docs/clients.md print the client snippets the tests run', () => {
  it.each(Object.entries(snippets))('%s', (_name, text) => {
    expect(DOCS.includes(text), text).toBe(true);
  });

  it.each(inReadme)('README itself: %s', (name) => {
    const text = snippets[name];
    expect(text, name).toBeDefined();
    expect(README.includes(text ?? ''), text).toBe(true);
  });

  it('prints no rebar3 entry that sets repo_url for hexpm (rebar3 ignores it and goes to repo.hex.pm)', () => {
    expect(README).not.toMatch(/name => <<"hexpm">>,\s*repo_url/);
    expect(CLIENTS).not.toMatch(/name => <<"hexpm">>,\s*repo_url/);
  });

  it('does not say HEX_REPOS_KEY authenticates a HEX_MIRROR (Hex sends no key to an untrusted mirror)', () => {
    expect(README).not.toMatch(/HEX_REPOS_KEY=\$\w+` with `HEX_MIRROR` also authenticates/);
    expect(CLIENTS).not.toMatch(/HEX_REPOS_KEY=\$\w+` with `HEX_MIRROR` also authenticates/);
  });
});
