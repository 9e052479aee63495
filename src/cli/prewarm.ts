// `hexproxy prewarm`: fill the cache with what lock files or package specs need.
import { Command } from 'commander';
import { fetchReleases } from '../ops/fetch-releases.js';
import { planPrewarm, targetLabel } from '../ops/prewarm.js';
import { parseRepoOption, servedRepositories } from '../ops/repositories.js';
import { BadRequestError } from '../errors.js';
import { parseInstallsTarget, prewarmInstalls, type InstallsItem } from '../installs/prewarm-installs.js';
import { withHexproxy } from './open.js';
import { collect, configFrom, positiveInteger, withSettings, type CommandOptions } from './options.js';
import { createProgress } from './progress.js';
import { anyFailed, printFetchSummary } from './summary.js';

export function prewarmCommand(): Command {
  return withSettings(
    new Command('prewarm')
      .summary('Fetch what lock files or package specs need into the cache')
      .description(
        'Fetch into the cache every Hex package of the given lock files, and the releases the given specs resolve to with their dependencies.\n' +
          'SPEC is NAME (newest release that is not retired, stable preferred), NAME@VERSION, or NAME@REQUIREMENT in Elixir syntax ("phoenix@~> 1.7").\n' +
          "Every tarball is checked against the signed registry, and against the lock file's checksum where one is recorded.\n" +
          'mix.lock entries are fetched from the repository they name (hexpm, or hexpm:ORG for a configured organization); rebar.lock records none, so each ' +
          'entry is looked up as rebar3 does: in the configured organizations, then hexpm, the first with the locked release and checksum wins.\n' +
          '--repo NAME (repeatable, or NAME,NAME) works on those repositories only, in that order: specs are looked up there (default: hexpm), rebar.lock entries too, and mix.lock entries of other repositories are skipped.\n' +
          "--installs ELIXIR[:OTP] also fetches the Hex and rebar3 builds `mix local.hex` and `mix local.rebar` of that Elixir (and OTP release; required from Elixir 1.18.4) would install, with their lists, each checked against its list's SHA-512.",
      ),
  )
    .argument('[spec...]', 'package specs')
    .option('--mix-lock <file>', 'a mix.lock (repeatable)', collect)
    .option('--rebar-lock <file>', 'a rebar.lock (repeatable)', collect)
    .option('--installs <elixir[:otp]>', 'the Hex and rebar3 builds for this Elixir version and OTP release (repeatable)', collect)
    .option(
      '--repo <name>',
      'the repositories to work on, in lookup order: hexpm or a configured organization (repeatable, or comma-separated)',
      collect,
    )
    .option('--with-optional', 'also fetch optional dependencies of resolved specs')
    .option('--concurrency <n>', 'parallel fetches', positiveInteger('--concurrency'), 8)
    .option('--pin', 'never evict what this run caches')
    .action(async (specs: string[], options: CommandOptions) => {
      const config = configFrom(options);
      const mixLocks = (options['mixLock'] as string[] | undefined) ?? [];
      const rebarLocks = (options['rebarLock'] as string[] | undefined) ?? [];
      const installsTargets = ((options['installs'] as string[] | undefined) ?? []).map(parseInstallsTarget);
      if (specs.length === 0 && mixLocks.length === 0 && rebarLocks.length === 0 && installsTargets.length === 0) {
        throw new BadRequestError(
          'nothing to pre-warm: give --mix-lock FILE, --rebar-lock FILE or package specs, or --installs ELIXIR[:OTP] for the Hex and rebar3 builds (see hexproxy prewarm --help)',
        );
      }
      const concurrency = Number(options['concurrency']);
      await withHexproxy(config, async ({ index, repositories, installs }) => {
        if (installsTargets.length > 0) {
          const items = await prewarmInstalls(installsTargets, installs, (item) => process.stderr.write(`installs: ${item.outcome} ${item.what}\n`));
          printInstallsSummary(items);
          if (items.some((item) => item.outcome === 'failed')) process.exitCode = 1;
          if (specs.length === 0 && mixLocks.length === 0 && rebarLocks.length === 0) return;
        }
        const publicRepository = config.upstream.repository;
        const repos = parseRepoOption(options['repo'] as string[] | undefined, servedRepositories(repositories, publicRepository));
        const plan = await planPrewarm(
          { mixLocks, rebarLocks, specs, withOptional: options['withOptional'] === true, concurrency, ...(repos && { repos }) },
          { repositories, publicRepository },
        );
        const progress = createProgress('prewarm', plan.targets.length);
        const summary = await fetchReleases(plan.targets, {
          index,
          repositories,
          concurrency,
          pin: options['pin'] === true,
          onItem: (target, outcome) => progress.item(targetLabel(target, publicRepository), outcome),
        });
        progress.done();
        printFetchSummary(summary, plan, publicRepository);
        if (anyFailed(summary, plan.failed)) process.exitCode = 1;
      });
    });
}

function printInstallsSummary(items: readonly InstallsItem[]): void {
  const count = (outcome: InstallsItem['outcome']): number => items.filter((item) => item.outcome === outcome).length;
  const lines = [
    `installs fetched:        ${count('fetched')}`,
    `installs already cached: ${count('cached')}`,
    `installs failed:         ${count('failed')}`,
    ...items.filter((item) => item.outcome === 'failed').map((item) => `  FAILED ${item.what}: ${item.reason ?? 'unknown reason'}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
