// A real Erlang (Debian's erlang-base, which the elixir package brings) to check hexproxy's
// Erlang terms against: what Mix and rebar3 decode with binary_to_term(_, [safe]).
// With CI=true a missing erl is a failure, not a reason to skip.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** With CI=true the erl tests must run. */
export const requireErl = process.env['CI'] === 'true';

/** Why erl cannot run here, or undefined when it can. */
export async function erlUnavailable(): Promise<string | undefined> {
  return run('erl', ['-noshell', '-eval', 'halt().'], { timeout: 60_000 }).then(
    () => undefined,
    (error: unknown) => `erl cannot run (apt-get install -y elixir brings it): ${error instanceof Error ? error.message : String(error)}`,
  );
}

/** Evaluates Erlang `expressions` (ending with halt()) in `erl -noshell`, with `args` as init:get_plain_arguments(); its stdout. */
export async function runErl(expressions: string, args: string[] = []): Promise<string> {
  const { stdout } = await run('erl', ['-noshell', '-eval', expressions, '-extra', ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
