// `hexproxy mirror`: fetch the whole upstream, or a subset, into the cache.
import { Command } from 'commander';
import { fetchReleases, type FetchSummary, type ReleaseTarget } from '../ops/fetch-releases.js';
import { parseVersionSelection, planMirror } from '../ops/mirror.js';
import { targetLabel } from '../ops/prewarm.js';
import { parseRepoOption, servedRepositories } from '../ops/repositories.js';
import { withHexproxy } from './open.js';
import { collect, configFrom, positiveInteger, withSettings, type CommandOptions } from './options.js';
import { createProgress } from './progress.js';
import { anyFailed, printFetchSummary, type Noted } from './summary.js';

export function mirrorCommand(): Command {
  return withSettings(
    new Command('mirror')
      .summary('Fetch all or part of the upstream into the cache')
      .description(
        'Fetch every package of the upstream, or those matching --only and not --exclude, into the cache. ' +
          'What is cached already is skipped, so an interrupted run resumes when run again. ' +
          'The public repository by default; --repo names others (configured organizations), each mirrored with the same selection.',
      ),
  )
    .option('--only <glob>', 'package names to include, e.g. "phoenix*" (repeatable)', collect)
    .option('--exclude <glob>', 'package names to leave out (repeatable)', collect)
    .option('--versions <which>', 'latest (newest release not retired, stable preferred), all (retired too), or N (newest N not retired)', 'latest')
    .option('--repo <name>', 'the repositories to mirror: hexpm (the default) or a configured organization (repeatable, or comma-separated)', collect)
    .option('--concurrency <n>', 'parallel fetches', positiveInteger('--concurrency'), 8)
    .option('--pin', 'never evict what this run caches')
    .action(async (options: CommandOptions) => {
      const config = configFrom(options);
      const versions = parseVersionSelection(String(options['versions']));
      const concurrency = Number(options['concurrency']);
      await withHexproxy(config, async ({ index, repositories }) => {
        const publicRepository = config.upstream.repository;
        const repos = parseRepoOption(options['repo'] as string[] | undefined, servedRepositories(repositories, publicRepository)) ?? [
          publicRepository,
        ];
        const selection = {
          only: (options['only'] as string[] | undefined) ?? [],
          exclude: (options['exclude'] as string[] | undefined) ?? [],
          versions,
        };
        const targets: ReleaseTarget[] = [];
        const planFailures: Noted[] = [];
        for (const repo of repos) {
          const repository = repositories.get(repo);
          if (!repository) continue;
          const plan = await planMirror(repository, selection, concurrency);
          process.stderr.write(`mirror: ${repo}: ${plan.packages} packages, ${plan.targets.length} releases\n`);
          targets.push(...plan.targets);
          const prefix = repo === publicRepository ? '' : `${repo}/`;
          planFailures.push(...plan.failed.map((failure) => ({ what: `package ${prefix}${failure.name}`, reason: failure.reason })));
        }
        const progress = createProgress('mirror', targets.length);
        const summary: FetchSummary = await fetchReleases(targets, {
          index,
          repositories,
          concurrency,
          pin: options['pin'] === true,
          onItem: (target, outcome) => progress.item(targetLabel(target, publicRepository), outcome),
        });
        progress.done();
        printFetchSummary(summary, { failed: planFailures, skipped: [] }, publicRepository);
        if (anyFailed(summary, planFailures)) process.exitCode = 1;
      });
    });
}
