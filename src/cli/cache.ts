// `hexproxy cache stats | verify | evict`: look after the cache of a data directory.
import { Command } from 'commander';
import { cacheStats } from '../cache/stats.js';
import { evictPackage } from '../cache/evict.js';
import { verifyCache } from '../cache/verify.js';
import { hostedItemCount, verifyHosted, type HostedVerifyReport } from '../hosted/verify.js';
import { isPackageName, isVersion } from '../registry/resource.js';
import { BadRequestError } from '../errors.js';
import { formatBytes } from '../util/format-bytes.js';
import { withHexproxy } from './open.js';
import { configFrom, withSettings, type CommandOptions } from './options.js';
import { createProgress } from './progress.js';

export function cacheCommand(): Command {
  const cache = new Command('cache').description('Inspect, verify and evict the cache');

  withSettings(cache.command('stats').description('Entries, bytes, hit ratio and the most used packages'))
    .option('--json', 'print the figures as JSON')
    .option('--top <n>', 'how many packages to list', '10')
    .action(async (options: CommandOptions) => {
      await withHexproxy(configFrom(options), async ({ index }) => {
        const stats = cacheStats(index, Number(options['top']) || 10);
        if (options['json']) {
          process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
          return;
        }
        const percent = (ratio: number | null): string => (ratio === null ? 'n/a (no requests yet)' : `${(ratio * 100).toFixed(1)}%`);
        const lines = [
          `tarballs:          ${stats.tarballs.count} (${formatBytes(stats.tarballs.bytes)}, ${stats.tarballs.pinned} pinned)`,
          `registry files:    ${stats.registryFiles.count} (${formatBytes(stats.registryFiles.bytes)})`,
          `docs and installs: ${stats.passthroughFiles.count} (${formatBytes(stats.passthroughFiles.bytes)})`,
          `hit ratio:         tarballs ${percent(stats.hitRatio.tarballs)}, registry ${percent(stats.hitRatio.registry)}`,
          'top packages (tarball hits, releases cached, bytes):',
          ...stats.topPackages.map(
            (p) => `  ${p.name.padEnd(30)} ${String(p.hits).padStart(8)} ${String(p.releases).padStart(5)}  ${formatBytes(p.bytes)}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });

  withSettings(
    cache
      .command('verify')
      .description(
        'Re-hash every cached tarball and re-verify every registry file; quarantine what fails. Hosted repositories are checked too, and what fails there is reported, never moved',
      ),
  ).action(async (options: CommandOptions) => {
    const config = configFrom(options);
    await withHexproxy(config, async ({ index, blobs, repositories, hosted }) => {
      const total = index.tarballTotals().count + index.registryTotals().count + (hosted ? hostedItemCount(hosted) : 0);
      const progress = createProgress('verify', total);
      const onProgress = (_done: number, _total: number, { key, ok }: { key: string; ok: boolean }): void => progress.item(key, ok ? 'ok' : 'bad');
      const report = await verifyCache({
        index,
        blobs,
        registryKey: (repo) => repositories.get(repo)?.registryKey,
        maxRegistryBytes: config.cache.maxRegistryBytes,
        onProgress,
      });
      // Published packages are data: checked against their rows and signatures, and reported, never quarantined.
      const hostedReport: HostedVerifyReport | undefined = hosted && (await verifyHosted(hosted, { onProgress }));
      progress.done();
      const lines = [`checked: ${report.checked}`, `ok:      ${report.ok}`, `bad:     ${report.problems.length}`];
      if (report.skipped.length > 0) {
        lines.push(
          `skipped: ${report.skipped.length} (registry files of repositories not configured, left as they are: ${[...new Set(report.skipped.map((key) => key.split('/')[1]))].join(', ')})`,
        );
      }
      for (const problem of report.problems) {
        lines.push(`  ${problem.key}: ${problem.reason}${problem.quarantinedAs ? `; moved to ${problem.quarantinedAs}` : ''}`);
      }
      if (hostedReport) {
        lines.push(`hosted:  ${hostedReport.checked} checked, ${hostedReport.ok} ok, ${hostedReport.problems.length} bad`);
        if (hostedReport.skipped.length > 0) {
          lines.push(`  skipped: repositories no longer configured under hosted, left as they are: ${hostedReport.skipped.join(', ')}`);
        }
        for (const problem of hostedReport.problems) lines.push(`  ${problem.key}: ${problem.reason}`);
        if (hostedReport.problems.length > 0) lines.push('  (hosted packages are data: nothing was moved; restore DATA_DIR/hosted from a backup)');
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      if (report.problems.length > 0 || (hostedReport?.problems.length ?? 0) > 0) process.exitCode = 1;
    });
  });

  withSettings(cache.command('evict').description('Remove a package (all its cached releases and its registry file) or one release, pinned or not'))
    .argument('<spec>', 'NAME or NAME@VERSION')
    .action(async (spec: string, options: CommandOptions) => {
      const [name = '', version] = spec.split('@');
      if (!isPackageName(name) || (version !== undefined && !isVersion(version))) {
        throw new BadRequestError(`"${spec}" is not NAME or NAME@VERSION`);
      }
      const config = configFrom(options);
      await withHexproxy(config, async ({ index, blobs }) => {
        const report = await evictPackage(index, blobs, config.upstream.repository, name, version);
        const lines = report.tarballs.map((row) => `evicted ${row.name} ${row.version} (${formatBytes(row.size)})`);
        if (report.registryFile) lines.push(`evicted the registry file /packages/${name}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });

  return cache;
}
