// `hexproxy mirror`: fetch the whole upstream, or a subset, into the cache.
import { Command } from 'commander';
import { fetchReleases } from '../ops/fetch-releases.js';
import { parseVersionSelection, planMirror } from '../ops/mirror.js';
import { withHexproxy } from './open.js';
import { collect, configFrom, positiveInteger, withSettings, type CommandOptions } from './options.js';
import { createProgress } from './progress.js';
import { anyFailed, printFetchSummary } from './summary.js';

export function mirrorCommand(): Command {
  return withSettings(new Command('mirror').summary('Fetch all or part of the upstream into the cache').description(
    'Fetch every package of the upstream, or those matching --only and not --exclude, into the cache. ' +
    'What is cached already is skipped, so an interrupted run resumes when run again.',
  ))
    .option('--only <glob>', 'package names to include, e.g. "phoenix*" (repeatable)', collect)
    .option('--exclude <glob>', 'package names to leave out (repeatable)', collect)
    .option('--versions <which>', 'latest (newest release not retired, stable preferred), all (retired too), or N (newest N not retired)', 'latest')
    .option('--concurrency <n>', 'parallel fetches', positiveInteger('--concurrency'), 8)
    .option('--pin', 'never evict what this run caches')
    .action(async (options: CommandOptions) => {
      const config = configFrom(options);
      const versions = parseVersionSelection(String(options['versions']));
      const concurrency = Number(options['concurrency']);
      await withHexproxy(config, async ({ index, registry, tarballs }) => {
        const plan = await planMirror(registry, {
          only: (options['only'] as string[] | undefined) ?? [],
          exclude: (options['exclude'] as string[] | undefined) ?? [],
          versions,
        }, concurrency);
        process.stderr.write(`mirror: ${plan.packages} packages, ${plan.targets.length} releases\n`);
        const progress = createProgress('mirror', plan.targets.length);
        const summary = await fetchReleases(plan.targets, {
          repo: config.upstream.repository, index, registry, tarballs, concurrency, pin: options['pin'] === true,
          onItem: (target, outcome) => progress.item(`${target.name} ${target.version}`, outcome),
        });
        progress.done();
        const planFailures = plan.failed.map((failure) => ({ what: `package ${failure.name}`, reason: failure.reason }));
        printFetchSummary(summary, planFailures, []);
        if (anyFailed(summary, planFailures)) process.exitCode = 1;
      });
    });
}
