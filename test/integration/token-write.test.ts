// `hexproxy token create NAME --write REPO`: the right to publish to a hosted repository,
// made by the CLI (another process) and read by a running server. Writing implies reading;
// hex.pm's public repository and the organizations hexproxy mirrors are refused (only hex.pm
// publishes to them); the tokens file gains `write` only for tokens that have it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../support/upstreams/fake-upstream.js';
import { startProxy, tempDir, type TestProxy } from '../support/proxy.js';

interface StoredToken {
  name: string;
  read: string[];
  write?: string[];
}

const storedTokens = (dataDir: string): StoredToken[] =>
  (JSON.parse(readFileSync(join(dataDir, 'tokens.json'), 'utf8')) as { tokens: StoredToken[] }).tokens;

describe('token create --write', () => {
  it('makes a token that may write the named repositories, and read them; list shows it', async () => {
    const dataDir = tempDir();
    const made = await runCli(['token', 'create', 'ci-publish', '--write', 'acme,tools', '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain('token ci-publish created');
    expect(made.stderr).toContain('reads hexpm, acme, tools, writes acme, tools');
    expect(made.stdout.trim()).toMatch(/^hxp_/);
    expect(storedTokens(dataDir)).toEqual([
      expect.objectContaining({ name: 'ci-publish', read: ['hexpm', 'acme', 'tools'], write: ['acme', 'tools'] }),
    ]);

    const list = await runCli(['token', 'list', '--data-dir', dataDir]);
    expect(list.stdout).toMatch(/^ci-publish +reads hexpm, acme, tools; writes acme, tools; created /m);
    const json = JSON.parse((await runCli(['token', 'list', '--json', '--data-dir', dataDir])).stdout) as StoredToken[];
    expect(json).toEqual([expect.objectContaining({ name: 'ci-publish', write: ['acme', 'tools'] })]);
  });

  it('writes no write key for a token without the right, so files stay as older versions read them', async () => {
    const dataDir = tempDir();
    expect((await runCli(['token', 'create', 'reader', '--data-dir', dataDir])).code).toBe(0);
    const [reader] = storedTokens(dataDir);
    expect(reader).toBeDefined();
    expect(Object.keys(reader ?? {})).not.toContain('write');
    const json = JSON.parse((await runCli(['token', 'list', '--json', '--data-dir', dataDir])).stdout) as StoredToken[];
    expect(json).toEqual([expect.objectContaining({ name: 'reader', write: [] })]);
  });

  it("refuses hex.pm's public repository and the organizations hexproxy mirrors, and bad names, writing no token", async () => {
    const dataDir = tempDir();
    const config = join(tempDir(), 'hexproxy.json');
    writeFileSync(config, JSON.stringify({ organizations: { acme: {} } }));
    const hexpm = await runCli(['token', 'create', 'ci', '--write', 'hexpm', '--data-dir', dataDir]);
    expect(hexpm.code).not.toBe(0);
    expect(hexpm.stderr).toContain("--write hexpm: hexpm is hex.pm's public repository, which hexproxy mirrors and cannot publish to");
    const organization = await runCli(['token', 'create', 'ci', '--write', 'acme', '--config', config, '--data-dir', dataDir]);
    expect(organization.code).not.toBe(0);
    expect(organization.stderr).toContain('--write acme: acme is a hex.pm organization hexproxy mirrors (config key organizations)');
    const badName = await runCli(['token', 'create', 'ci', '--write', 'Acme-Corp', '--data-dir', dataDir]);
    expect(badName.code).not.toBe(0);
    expect(badName.stderr).toContain('"Acme-Corp" is not a repository name');
    expect(existsSync(join(dataDir, 'tokens.json'))).toBe(false);
  });
});

describe('a write token at a running server', () => {
  let upstream: FakeUpstream;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ packages: [{ name: 'alpha', releases: [{ version: '1.0.0' }] }] });
    proxy = await startProxy({ upstreamUrl: upstream.url, upstreamPublicKeyPem: upstream.publicKeyPem, flags: { 'require-token': true } });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('is known at once, reads what it may write, and says what it may write at /api/users/me', async () => {
    const made = await runCli(['token', 'create', 'ci-publish', '--read', '', '--write', 'acme', '--data-dir', proxy.dataDir]);
    expect(made.code, made.stderr).toBe(0);
    const secret = made.stdout.trim();
    const me = await proxy.get('/api/users/me', { authorization: secret });
    expect(JSON.parse(me.body.toString())).toMatchObject({ username: 'ci-publish', organizations: [{ name: 'acme', role: 'write' }] });
    const { access } = proxy.server.hexproxy;
    const token = access.check(secret, '127.0.0.1', 'write', 'acme');
    expect(token.name).toBe('ci-publish');
    expect(access.mayRead(token, 'acme')).toBe(true);
    expect(access.mayWrite(token, 'acme')).toBe(true);
    expect(access.mayWrite(token, 'hexpm')).toBe(false);
    // --read '' and no hexpm: it may not read the public repository behind auth.requireToken.
    expect((await proxy.get('/names', { authorization: secret })).status).toBe(403);
    expect(() => access.check(secret, '127.0.0.1', 'write', 'beta')).toThrow(/token ci-publish may not publish to repository beta/);
    expect(() => access.check(undefined, '127.0.0.1', 'write', 'acme')).toThrow(/needs a token with the write right/);
  });
});
