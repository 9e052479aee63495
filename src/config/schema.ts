// The shape of hexproxy's configuration, validated once at start. Unknown keys are errors,
// so a misspelt key stops start-up instead of being silently ignored.
import { z } from 'zod';
import { parseTrustedProxy } from './trusted-proxy.js';
import { DURATION_HINT, durationSeconds } from '../policy/duration.js';
import { PolicyRuleError, RETIREMENT_REASONS, SEVERITIES, parseRule, type RetirementReasonName } from '../policy/rules.js';

const positiveInt = z.number().int().positive();

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const accessLogModes = ['all', 'misses', 'off'] as const;

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL without query or fragment');

/** A missing tls.cert or tls.key: the message says the other one was set. */
const bothOrNeither =
  (other: string) =>
  (issue: { input: unknown }): string | undefined =>
    issue.input === undefined ? `is needed with ${other}: set both (PEM files) for HTTPS, or neither for plain HTTP` : undefined;
/**
 * A credential hexproxy sends upstream as the `authorization` header: printable ASCII and
 * spaces only, so a pasted line break is refused at start, not by every request.
 */
const credential = z
  .string()
  .min(1)
  .regex(/^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/, 'must be printable ASCII without line breaks or surrounding spaces (it is sent as an HTTP header)');

const repositoryName = z.string().regex(/^[a-z0-9_]+$/, 'must be a repository name such as "hexpm"');

/** What a hosted repository's packages may be named (Hex package names). */
const packageName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a package name (a lowercase letter, then lowercase letters, digits or _)');

/** A deny/allow entry: "NAME", "NAME@REQUIREMENT" (globs on the name), or { match, comment }. */
const ruleEntry = z.union([z.string(), z.strictObject({ match: z.string(), comment: z.string().max(500).optional() })]).superRefine((entry, ctx) => {
  try {
    parseRule(entry, 'deny', '');
  } catch (error: unknown) {
    if (!(error instanceof PolicyRuleError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message });
  }
});

const retirementReasons = Object.keys(RETIREMENT_REASONS) as [RetirementReasonName, ...RetirementReasonName[]];

/** Which releases clients may see (src/policy/); every key optional, the default allows everything. */
export const policySchema = z.strictObject({
  repositories: z.array(repositoryName).min(1).optional(),
  deny: z.array(ruleEntry).default([]),
  allow: z.array(ruleEntry).default([]),
  minReleaseAge: z
    .string()
    .refine((value) => durationSeconds(value) !== undefined, `must be ${DURATION_HINT}`)
    .default('0'),
  undatedReleases: z.enum(['allow', 'block']).default('allow'),
  blockAdvisorySeverity: z.enum(SEVERITIES).optional(),
  blockRetired: z.union([z.boolean(), z.array(z.enum(retirementReasons))]).default(false),
  tarballs: z.enum(['locked-ok', 'strict']).default('locked-ok'),
});

export const configSchema = z
  .strictObject({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    dataDir: z.string().min(1),
    offline: z.boolean(),
    logLevel: z.enum(logLevels),
    accessLog: z.enum(accessLogModes),
    upstream: z.strictObject({
      url: httpUrl,
      /** The upstream's Hex HTTP API, whose public package information /api/packages relays. */
      apiUrl: httpUrl,
      publicKey: z.string().min(1),
      /**
       * Sent as `authorization` to upstream (and to apiUrl and installs.url when they are on
       * upstream.url's origin): a token of a central hexproxy with auth.requireToken.
       */
      authKey: credential.optional(),
      repository: repositoryName,
      timeoutMs: positiveInt,
      minBytesPerSecond: positiveInt,
      retries: z.number().int().min(0).max(10),
      cooldownSeconds: z.number().int().min(0),
    }),
    installs: z.strictObject({
      url: httpUrl,
      timeoutMs: positiveInt,
      publicKey: z.string().min(1),
    }),
    http: z.strictObject({
      headersTimeoutMs: positiveInt,
      requestTimeoutMs: positiveInt,
      keepAliveTimeoutMs: positiveInt,
      sendTimeoutMs: positiveInt,
      trustedProxies: z.array(
        z.string().refine((entry) => parseTrustedProxy(entry) !== undefined, 'must be IP addresses or CIDR blocks such as "10.0.0.0/8" or "::1"'),
      ),
    }),
    /** HTTPS on the port (src/http/tls.ts): PEM files of the certificate and its key, both or neither; read again on SIGHUP. */
    tls: z
      .strictObject({
        cert: z.string({ error: bothOrNeither('tls.key') }).min(1),
        key: z.string({ error: bothOrNeither('tls.cert') }).min(1),
      })
      .optional(),
    auth: z.strictObject({
      requireToken: z.boolean(),
      tokensFile: z.string().min(1),
      failuresPerMinute: positiveInt,
    }),
    metrics: z.strictObject({
      requireToken: z.boolean(),
    }),
    keys: z.strictObject({
      privateKey: z.string().min(1),
      publicKey: z.string().min(1),
    }),
    /**
     * hex.pm organizations proxied at /repos/NAME. authKey is sent upstream as the
     * `authorization` header (a hex.pm key with access to the organization's repository);
     * publicKey verifies its registry files (default: upstream.publicKey, as hex.pm signs
     * organization repositories with its own key).
     */
    organizations: z.record(
      z.string().regex(/^[a-z0-9_]+$/, 'organization names are lowercase letters, digits and _'),
      z.strictObject({
        authKey: credential.optional(),
        publicKey: z.string().min(1).optional(),
      }),
    ),
    /**
     * Hosted repositories (issue 17): packages published to hexproxy, served at /repos/NAME.
     * replaceWindowSeconds: how long after its first publication a release may be replaced
     * or reverted (0: never). merge and mayShadow are read by the merged root view.
     */
    hosted: z
      .record(
        z.string().regex(/^[a-z0-9_]+$/, 'hosted repository names are lowercase letters, digits and _'),
        z.strictObject({
          replaceWindowSeconds: z.number().int().min(0).default(3600),
          merge: z.boolean().default(false),
          mayShadow: z.array(packageName).default([]),
        }),
      )
      .default({}),
    cache: z.strictObject({
      registryTtlSeconds: z.number().int().min(0),
      notFoundTtlSeconds: z.number().int().min(0),
      memoryMaxBytes: positiveInt,
      memoryTarballBytes: z.number().int().min(0),
      maxTarballBytes: positiveInt,
      maxCacheBytes: z.number().int().min(0),
      maxRegistryBytes: positiveInt,
      registryFetchMemoryBytes: positiveInt,
    }),
    /**
     * Air-gap bundles. trustedKeys: PEM files of the public keys of the hexproxy instances
     * whose signed bundles may replace cached registry files with later ones (hexproxy's own
     * key is always trusted); see docs/bundle-format.md.
     */
    bundles: z
      .strictObject({
        trustedKeys: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    policy: policySchema.prefault({}),
  })
  // A name is served once: a proxied organization or a hosted repository, never both, and never the public repository.
  .superRefine((config, ctx) => {
    for (const name of Object.keys(config.hosted)) {
      const clash =
        name === config.upstream.repository
          ? `"${name}" is the public repository (upstream.repository)`
          : Object.hasOwn(config.organizations, name)
            ? `"${name}" is also configured under organizations`
            : undefined;
      if (clash)
        ctx.addIssue({
          code: 'custom',
          path: ['hosted', name],
          message: `${clash}; a name is either a proxied hex.pm organization or a hosted repository: rename one of them`,
        });
    }
  });

export type Config = z.infer<typeof configSchema>;
