// `hexproxy policy check | explain | show`: the policy (config key policy) from the command
// line, with the server's config. check is a CI gate over lock files; explain says which
// rule or restriction decides one release; show prints the compiled policy. Each exits 2
// when it cannot answer (bad argument, bad config, unreadable lock, unreachable package).
import { Command, type CommanderError } from 'commander';
import { BadRequestError, errorMessage } from '../errors.js';
import {
  NO_POLICY_NOTE,
  checkExitCode,
  checkLocks,
  configuredPolicy,
  formatCheckReport,
  registryFetcher,
  releaseOf,
  type LockFileSource,
} from '../ops/policy-check.js';
import { explainRelease, formatExplanation, parseReleaseArgument } from '../ops/policy-explain.js';
import { describePolicy } from '../policy/describe.js';
import { rebarLookupOrder, servedRepositories } from '../ops/repositories.js';
import { withHexproxy } from './open.js';
import { collect, configFrom, withSettings, type CommandOptions } from './options.js';

const CHECK_EXIT_CODES = `
Exit codes:
  0  every locked release checked is allowed
  1  some locked release is blocked (each is printed with why)
  2  something could not be checked: a lock file unreadable or malformed, a package or
     release upstream does not have or that cannot be fetched, a bad option or config
     (2 wins over 1: the check is incomplete)`;

const EXPLAIN_EXIT_CODES = `
Exit codes:
  0  the release is allowed
  1  the release is blocked
  2  it could not be decided: NAME@VERSION malformed, unknown upstream, or a bad config`;

export function policyCommand(): Command {
  const policy = new Command('policy')
    .description('Check lock files against the policy (config key policy), explain a decision, show the policy')
    .exitOverride(exitTwoOnUsageError);

  withSettings(
    policy
      .command('check')
      .summary('Report the locked releases the policy blocks (a CI gate)')
      .description(
        'Decide now, as the server would, every Hex release pinned by the given lock files in a repository the policy covers,\n' +
          'and print each blocked one with why, entries of other repositories and non-Hex entries as skipped, then a summary line.\n' +
          'rebar.lock records no repository: each entry is looked up as rebar3 does, in the configured organizations then hexpm, and the report says where each was found.\n' +
          "Package files are read through hexproxy's cache (and fetched from upstream into it when missing or out of date).",
      )
      .option('--mix-lock <file>', 'a mix.lock (repeatable)', collect)
      .option('--rebar-lock <file>', 'a rebar.lock (repeatable)', collect)
      .option('--json', 'print a JSON report {policyActive, checked, blocked, skipped, errors} instead')
      .addHelpText('after', CHECK_EXIT_CODES)
      .exitOverride(exitTwoOnUsageError),
  ).action((options: CommandOptions) =>
    answer(async () => {
      const locks: LockFileSource[] = [
        ...strings(options['mixLock']).map((file) => ({ file, kind: 'mix' as const })),
        ...strings(options['rebarLock']).map((file) => ({ file, kind: 'rebar' as const })),
      ];
      if (locks.length === 0)
        throw new BadRequestError('nothing to check: give --mix-lock FILE and/or --rebar-lock FILE (see hexproxy policy check --help)');
      const config = configFrom(options);
      return withHexproxy(config, async ({ repositories, policy: active }) => {
        const current = active.current;
        if (!current.active) process.stderr.write(`${NO_POLICY_NOTE}\n`);
        const report = await checkLocks({
          locks,
          policy: current,
          publicRepository: config.upstream.repository,
          lookupOrder: rebarLookupOrder(servedRepositories(repositories, config.upstream.repository)),
          fetchPackage: registryFetcher(repositories),
          now: Math.floor(active.nowMs() / 1000),
        });
        process.stdout.write(options['json'] === true ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheckReport(report).join('\n')}\n`);
        return checkExitCode(report);
      });
    }),
  );

  withSettings(
    policy
      .command('explain')
      .summary('Say which rule or restriction allows or blocks one release')
      .description(
        'Decide NAME@VERSION (an exact release of the public repository) now, as the server would, and say why:\n' +
          "the most specific allow/deny rule that matches, with its config key, or else each restriction's verdict\n" +
          '(advisories, retirement, minimum age), then a last line "allowed" or "blocked".',
      )
      .argument('<release>', 'NAME@VERSION, e.g. plug@1.15.0')
      .option('--json', 'print the explanation as JSON')
      .addHelpText('after', EXPLAIN_EXIT_CODES)
      .exitOverride(exitTwoOnUsageError),
  ).action((spec: string, options: CommandOptions) =>
    answer(async () => {
      const { name, version } = parseReleaseArgument(spec);
      const config = configFrom(options);
      return withHexproxy(config, async ({ repositories, policy: active }) => {
        const current = active.current;
        if (!current.active) process.stderr.write(`${NO_POLICY_NOTE}\n`);
        const pkg = await registryFetcher(repositories)(name, [version], config.upstream.repository);
        const release = releaseOf(pkg, version);
        const explanation = explainRelease(current, pkg, release, Math.floor(active.nowMs() / 1000), config.upstream.repository);
        process.stdout.write(
          options['json'] === true ? `${JSON.stringify(explanation, null, 2)}\n` : `${formatExplanation(explanation, current).join('\n')}\n`,
        );
        return explanation.allowed ? 0 : 1;
      });
    }),
  );

  withSettings(
    policy
      .command('show')
      .description('Print the policy in force, compiled, as JSON (rules with their config keys, restrictions, tarball mode)')
      .exitOverride(exitTwoOnUsageError),
  ).action((options: CommandOptions) =>
    answer(async () => {
      process.stdout.write(`${JSON.stringify(describePolicy(configuredPolicy(configFrom(options))), null, 2)}\n`);
      return 0;
    }),
  );

  return policy;
}

/** Runs a subcommand and sets its exit code; any failure is printed and exits 2. */
async function answer(work: () => Promise<0 | 1 | 2>): Promise<void> {
  try {
    process.exitCode = await work();
  } catch (error: unknown) {
    process.stderr.write(`hexproxy: ${errorMessage(error)}\n`);
    process.exitCode = 2;
  }
}

/** commander exits 1 on a usage error (unknown option, missing argument); these commands document 2. Help still exits 0. */
function exitTwoOnUsageError(error: CommanderError): void {
  if (error.exitCode !== 0) process.exit(2);
}

const strings = (value: string | string[] | boolean | undefined): string[] => (Array.isArray(value) ? value : []);
