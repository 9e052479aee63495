// `hexproxy export` and `hexproxy import`: carry a cache across an air gap as one file
// (docs/bundle-format.md).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { exportBundle, type ExportSince } from '../bundle/export.js';
import { importBundle, type ImportSummary } from '../bundle/import.js';
import { readManifest } from '../bundle/manifest.js';
import type { Config } from '../config/schema.js';
import { BadRequestError } from '../errors.js';
import { readPublicKeyFile } from '../keys/public-key-file.js';
import { fetchReleases } from '../ops/fetch-releases.js';
import { planPrewarm, targetLabel } from '../ops/prewarm.js';
import { parseRepoOption, servedRepositories } from '../ops/repositories.js';
import { formatBytes } from '../util/format-bytes.js';
import { withHexproxy } from './open.js';
import { collect, configFrom, positiveInteger, withSettings, type CommandOptions } from './options.js';
import { createProgress, lazyProgress } from './progress.js';
import { anyFailed, printFetchSummary } from './summary.js';

export function exportCommand(): Command {
  return withSettings(
    new Command('export')
      .summary('Write cached packages and signed registry files to one bundle file')
      .description(
        "Write a bundle (one tar file) holding cached tarballs and the upstream's original signed registry files, " +
          'for `hexproxy import` on the other side of an air gap.\n' +
          'With lock files or specs, only what they need (pre-warmed first if not cached, as prewarm does); otherwise everything cached of every ' +
          'repository served: the public one and each configured organization (under repos/ORG/ in the bundle). --repo NAME limits it to those repositories.\n' +
          'Either way, every cached /installs file (build lists, .signed files, Hex and rebar3 builds) is included, so that the ' +
          'other side can bootstrap Hex and rebar3; --no-installs leaves them out.\n' +
          'With --since, only what an earlier bundle does not hold, or what was fetched after a time.\n' +
          'Hosted repositories (config hosted) go too, every release with its registry file, facts, tarball and docs (hosted/REPO/ in the bundle): ' +
          '--hosted-only writes only them, a backup to restore with `hexproxy import`; --no-hosted leaves them out.\n' +
          "The manifest is signed with hexproxy's key and says when upstream last vouched for each registry file: an importer " +
          'that trusts the key (bundles.trustedKeys) lets later files replace earlier ones, and never the other way round.',
      ),
  )
    .argument('[spec...]', 'package specs, as for prewarm')
    .requiredOption('--out <file>', 'the bundle to write (appears only when complete)')
    .option('--mix-lock <file>', 'export what a mix.lock needs (repeatable)', collect)
    .option('--rebar-lock <file>', 'export what a rebar.lock needs (repeatable)', collect)
    .option(
      '--repo <name>',
      'the repositories to export (all served by default; with specs, where they are looked up, default hexpm), as for prewarm (repeatable, or comma-separated)',
      collect,
    )
    .option('--with-optional', 'with specs: also optional dependencies')
    .option('--since <bundle-or-time>', 'leave out what this earlier bundle holds, or what was fetched before this ISO time')
    .option('--no-installs', 'leave out the cached /installs files (build lists and Hex/rebar3 builds)')
    .option('--hosted-only', 'only the hosted repositories (every release published here): a backup, restored with hexproxy import')
    .option('--no-hosted', 'leave the hosted repositories out (for an importer older than hosted repositories)')
    .option('--concurrency <n>', 'parallel fetches when pre-warming', positiveInteger('--concurrency'), 8)
    .action(async (specs: string[], options: CommandOptions) => {
      const config = configFrom(options);
      const mixLocks = (options['mixLock'] as string[] | undefined) ?? [];
      const rebarLocks = (options['rebarLock'] as string[] | undefined) ?? [];
      const since = await parseSince(options['since']);
      const concurrency = Number(options['concurrency']);
      const hostedOnly = options['hostedOnly'] === true;
      const withSpecs = specs.length > 0 || mixLocks.length > 0 || rebarLocks.length > 0;
      if (hostedOnly && (withSpecs || options['hosted'] === false || since))
        throw new BadRequestError(
          '--hosted-only exports every release of the hosted repositories: it takes no specs, lock files, --since or --no-hosted',
        );
      await withHexproxy(config, async ({ index, blobs, repositories, log, keys, installsKey, hosted: hostedStore }) => {
        const publicRepository = config.upstream.repository;
        const repos = parseRepoOption(options['repo'] as string[] | undefined, servedRepositories(repositories, publicRepository));
        // Hosted repositories are data of their own: exported from their store, not the cache.
        const isHosted = (repo: string): boolean => hostedStore?.hosts(repo) === true;
        const chosen = repos ?? [...repositories.keys()];
        const hostedRepos = options['hosted'] === false ? [] : chosen.filter(isHosted);
        if (hostedOnly && hostedRepos.length === 0)
          throw new BadRequestError('--hosted-only: hexproxy hosts no repository to export (config key hosted)');
        let select: Parameters<typeof exportBundle>[0]['select'] = {
          all: true,
          repositories: hostedOnly ? [] : chosen.filter((repo) => !isHosted(repo)),
        };
        let hostedReleases: { repo: string; name: string; version: string }[] | undefined;
        let failedBefore = false;
        if (withSpecs) {
          const plan = await planPrewarm(
            { mixLocks, rebarLocks, specs, withOptional: options['withOptional'] === true, concurrency, ...(repos && { repos }) },
            { repositories, publicRepository },
          );
          const progress = createProgress('prewarm', plan.targets.length);
          const fetched = await fetchReleases(plan.targets, {
            index,
            repositories,
            concurrency,
            pin: false,
            onItem: (target, outcome) => progress.item(targetLabel(target, publicRepository), outcome),
          });
          progress.done();
          if (anyFailed(fetched, plan.failed)) {
            printFetchSummary(fetched, plan, publicRepository, process.stderr);
            failedBefore = true;
          }
          const releases = [...fetched.fetched, ...fetched.cached].map(({ repo, name, version }) => ({ repo, name, version }));
          select = { releases: releases.filter((release) => !isHosted(release.repo)) };
          hostedReleases = releases.filter((release) => isHosted(release.repo));
        }
        const progress = lazyProgress('export');
        const summary = await exportBundle({
          out: String(options['out']),
          index,
          blobs,
          repo: publicRepository,
          upstreamUrl: config.upstream.url,
          select,
          log,
          installs: !hostedOnly && options['installs'] !== false,
          ...(hostedStore &&
            hostedRepos.length > 0 && {
              hosted: { source: hostedStore, repositories: hostedRepos, ...(hostedReleases && { releases: hostedReleases }) },
            }),
          signingKey: keys.privateKey,
          installsKey,
          ...(since && { since }),
          onProgress: ({ path, total }) => progress.item(path, 'written', total),
        });
        progress.done();
        const lines = [
          `wrote ${summary.file} (${formatBytes(summary.bundleBytes)})`,
          `registry files: ${summary.registryFiles}`,
          `tarballs:       ${summary.tarballs}`,
          `installs files: ${summary.installsFiles}`,
          `hosted releases: ${summary.hostedReleases}${hostedRepos.length > 0 ? ` (of ${hostedRepos.join(', ')})` : ''}`,
          `repositories:   ${summary.repositories.join(', ') || 'none'}`,
          `signed by:      ${keys.fingerprint} (the importing side trusts ${keys.publicKeyFile} in bundles.trustedKeys)`,
        ];
        if (since) lines.push(`unchanged since the earlier bundle or time, left out: ${summary.unchanged}`);
        for (const failure of summary.failed) lines.push(`  FAILED ${failure.path}: ${failure.reason}`);
        process.stdout.write(`${lines.join('\n')}\n`);
        if (failedBefore || summary.failed.length > 0) process.exitCode = 1;
      });
    });
}

export function importCommand(): Command {
  return withSettings(
    new Command('import')
      .summary('Verify a bundle and add it to the cache')
      .description(
        'Add a bundle written by `hexproxy export` to the cache. Every registry file is verified with the upstream public key ' +
          "(not the exporter's), every tarball against the checksum in its signed registry entry, every /installs list with its .signed " +
          "file and the builds server's key (installs.publicKey), and every build against the SHA-512 in its verified list, before anything " +
          'becomes visible: a bundle with one bad entry imports nothing (or, with --skip-bad, everything else). Importing the same bundle twice is harmless. ' +
          "A registry file or list replaces a cached one only if the bundle is signed by a trusted key (hexproxy's own, bundles.trustedKeys, --trust-key) " +
          'and says upstream vouched for it later; other bundles only fill gaps. ' +
          'Files of an organization (repos/ORG/ in the bundle) need organizations.ORG configured here: they are verified with its key and cached in its namespace; ' +
          'a bundle holding files of an organization not configured imports nothing (or, with --skip-bad, everything else). ' +
          'Imported tarballs are pinned against eviction unless --no-pin. ' +
          "Hosted repositories' releases (hosted/REPO/ in the bundle) need hosted.REPO configured here and a bundle signed by a trusted key: their registry files " +
          "verify with the exporter's key, each tarball against them; they are added to the hosted repository of the same name, and a release that is here " +
          'with other bytes is refused, never overwritten.',
      ),
  )
    .argument('<bundle>', 'the bundle file')
    .option('--trust-key <file>', "also trust bundles signed with this exporter's public key (PEM; repeatable), as bundles.trustedKeys", collect)
    .option('--skip-bad', 'import the entries that check out and list those refused')
    .option('--no-pin', 'do not pin the imported tarballs')
    .action(async (file: string, options: CommandOptions) => {
      const config = configFrom(options);
      const trustedKeys = trustedKeysOf(config, (options['trustKey'] as string[] | undefined) ?? []);
      await withHexproxy(config, async ({ index, blobs, upstreamKey, installsKey, keys, log, repositories, hosted }) => {
        const progress = lazyProgress('import');
        // Each organization's files verify with its own configured key, into its own namespace.
        const organizations = new Map(
          [...repositories]
            .filter(([name]) => name !== config.upstream.repository && hosted?.hosts(name) !== true)
            .map(([name, { registryKey }]) => [name, registryKey]),
        );
        const summary = await importBundle({
          file,
          index,
          blobs,
          repo: config.upstream.repository,
          upstreamKey,
          organizations,
          installsKey,
          log,
          trustedKeys: [createPublicKey(keys.publicKeyPem), ...trustedKeys],
          maxRegistryBytes: config.cache.maxRegistryBytes,
          maxTarballBytes: config.cache.maxTarballBytes,
          skipBad: options['skipBad'] === true,
          pin: options['pin'] !== false,
          ...(hosted && { hosted }),
          stagingDir: config.dataDir,
          onProgress: ({ path, total }) => progress.item(path, 'checked', total),
        });
        progress.done();
        process.stdout.write(importReport(summary));
        if (summary.refused.length > 0) process.exitCode = 1;
      });
    });
}

/** The keys of bundles.trustedKeys and --trust-key, read now so that a bad file stops the import before it reads the bundle. */
function trustedKeysOf(config: Readonly<Config>, flags: readonly string[]): KeyObject[] {
  return [
    ...config.bundles.trustedKeys.map((file, i) => readPublicKeyFile(file, `bundles.trustedKeys[${i}]`)),
    ...flags.map((file) => readPublicKeyFile(resolve(file), '--trust-key')),
  ];
}

/** How many kept entries the report spells out. */
const KEPT_LISTED = 20;

function importReport(summary: ImportSummary): string {
  const { signature } = summary;
  const replaced = summary.imported.filter((entry) => entry.replaced).length;
  const lines = [
    signature.trusted ? `signed by:       ${signature.fingerprint} (trusted)` : `not trusted:     the bundle ${signature.reason}`,
    `imported:        ${summary.imported.length}${replaced > 0 ? ` (${replaced} replacing older copies)` : ''}`,
    `already present: ${summary.alreadyPresent.length}`,
    `kept cached:     ${summary.keptCached.length}`,
    `refused:         ${summary.refused.length}`,
  ];
  if (summary.hosted.imported.length > 0 || summary.hosted.present.length > 0) {
    lines.push(`hosted releases: ${summary.hosted.imported.length} imported, ${summary.hosted.present.length} already here`);
  }
  for (const kept of summary.keptCached.slice(0, KEPT_LISTED)) lines.push(`  KEPT ${kept.path}: ${kept.reason}`);
  if (summary.keptCached.length > KEPT_LISTED) lines.push(`  … and ${summary.keptCached.length - KEPT_LISTED} more kept`);
  for (const refused of summary.refused) lines.push(`  REFUSED ${refused.path}: ${refused.reason}`);
  return `${lines.join('\n')}\n`;
}

async function parseSince(value: unknown): Promise<ExportSince | undefined> {
  if (typeof value !== 'string') return undefined;
  // An ISO date or time, else the path of an earlier bundle.
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const timeMs = Date.parse(value);
    if (Number.isNaN(timeMs)) throw new BadRequestError(`--since "${value}" is neither a bundle file nor an ISO time (2026-11-01T00:00:00Z)`);
    return { timeMs };
  }
  return { manifest: await readManifest(value) };
}
