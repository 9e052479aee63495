// Client tokens: kept as SHA-256 hashes in a JSON file (auth.tokensFile, 0600) that
// `hexproxy token` writes. The server looks at the file again whenever a token is
// presented, so creating or revoking one takes effect at once, without a restart.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import { PRIVATE_FILE_MODE, makePrivateDirSync } from '../store/private-files.js';

const tokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  read: z.array(z.string().regex(/^[a-z0-9_]+$/)),
  admin: z.boolean(),
  /** May scrape /metrics. Absent in files written before it existed (and written only when true, so older versions still read the file). */
  metrics: z.boolean().optional(),
  /**
   * Hosted repositories it may publish to (and revert and retire in); writing implies
   * reading. Written only when non-empty, so files without such tokens stay as before.
   */
  write: z.array(z.string().regex(/^[a-z0-9_]+$/)).optional(),
  createdAt: z.string(),
});
const fileSchema = z.strictObject({ tokens: z.array(tokenSchema) });

export type TokenRecord = z.infer<typeof tokenSchema>;

export const TOKEN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const REPOSITORY_NAME = /^[a-z0-9_]+$/;

export class TokenStore {
  private loaded: { mtimeMs: number; size: number; tokens: TokenRecord[] } | undefined;

  constructor(readonly file: string) {}

  /** The token `secret` belongs to. Every stored hash is compared, in constant time each. */
  find(secret: string): TokenRecord | undefined {
    const digest = createHash('sha256').update(secret).digest();
    let found: TokenRecord | undefined;
    for (const token of this.tokens()) {
      if (timingSafeEqual(Buffer.from(token.sha256, 'hex'), digest) && !found) found = token;
    }
    return found;
  }

  /** The tokens as the file holds them now (re-read when it has changed). */
  tokens(): TokenRecord[] {
    let stats;
    try {
      stats = statSync(this.file);
    } catch (error: unknown) {
      if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return [];
      throw new ConfigError(`cannot read the tokens file ${this.file}: ${errorMessage(error)}`, { cause: error });
    }
    if (this.loaded && this.loaded.mtimeMs === stats.mtimeMs && this.loaded.size === stats.size) return this.loaded.tokens;
    const tokens = readTokens(this.file);
    this.loaded = { mtimeMs: stats.mtimeMs, size: stats.size, tokens };
    return tokens;
  }

  /** Adds a token; the secret is returned once and stored only as its hash. `write` names are read too. */
  create(
    name: string,
    read: string[],
    admin: boolean,
    { metrics = false, write = [], now = new Date() }: { metrics?: boolean; write?: string[]; now?: Date } = {},
  ): { secret: string; token: TokenRecord } {
    if (!TOKEN_NAME.test(name)) throw new ConfigError(`token name "${name}" must be 1-64 letters, digits, ".", "_" or "-"`);
    const bad = [...read, ...write].find((repo) => !REPOSITORY_NAME.test(repo));
    if (bad !== undefined) throw new ConfigError(`"${bad}" is not a repository name (hexpm, or an organization such as acme)`);
    const tokens = this.tokens();
    if (tokens.some((token) => token.name === name))
      throw new ConfigError(`a token named "${name}" exists already; revoke it first or pick another name`);
    const secret = `hxp_${randomBytes(32).toString('base64url')}`;
    const token: TokenRecord = {
      name,
      sha256: createHash('sha256').update(secret).digest('hex'),
      read: [...new Set([...read, ...write])],
      admin,
      ...(metrics && { metrics: true }),
      ...(write.length > 0 && { write: [...new Set(write)] }),
      createdAt: now.toISOString(),
    };
    this.write([...tokens, token]);
    return { secret, token };
  }

  /** Removes a token; false if there was none of that name. */
  revoke(name: string): boolean {
    const tokens = this.tokens();
    const kept = tokens.filter((token) => token.name !== name);
    if (kept.length === tokens.length) return false;
    this.write(kept);
    return true;
  }

  private write(tokens: TokenRecord[]): void {
    makePrivateDirSync(dirname(this.file));
    const staged = join(dirname(this.file), `.${process.pid}-${randomBytes(4).toString('hex')}.tokens`);
    writeFileSync(staged, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
    renameSync(staged, this.file);
    this.loaded = undefined;
  }
}

function readTokens(file: string): TokenRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error: unknown) {
    throw new ConfigError(`the tokens file ${file} cannot be read as JSON: ${errorMessage(error)}`, { cause: error });
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `the tokens file ${file} is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}; fix it or recreate it with hexproxy token create`,
    );
  }
  return result.data.tokens;
}
