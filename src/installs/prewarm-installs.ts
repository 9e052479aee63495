// `hexproxy prewarm --installs ELIXIR[:OTP]`: caches what `mix local.hex` and
// `mix local.rebar` of that Elixir (and OTP) would download, so a site without internet
// can bootstrap Hex and rebar3. The build is picked the way Mix picks it
// (elixir-lang/elixir lib/mix/lib/mix/local.ex): the last line of the list whose Elixir
// version is not newer than ELIXIR (and, per OTP, whose OTP release is not newer than OTP).
import { BadRequestError, HexproxyError, errorMessage } from '../errors.js';
import { compareVersions } from '../resolve/version.js';
import type { BuildListName } from './builds-csv.js';
import type { InstallsMirror, ListedBuild } from './installs-mirror.js';

export interface InstallsTarget {
  elixir: string;
  otp?: string;
}

export type InstallsOutcome = 'fetched' | 'cached' | 'failed';

export interface InstallsItem {
  /** "/installs/1.18.4/hex-2.2.1-otp-27.ez", or what could not be had. */
  what: string;
  outcome: InstallsOutcome;
  reason?: string;
}

/** Elixir 1.18.4 moved `mix local.hex`/`local.rebar` to hex.csv and rebar.csv, per OTP release. */
const PER_OTP_SINCE = '1.18.4';

export function parseInstallsTarget(text: string): InstallsTarget {
  const match = /^(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?::(\d+))?$/.exec(text.trim());
  if (!match?.[1]) throw new BadRequestError(`--installs ${text}: expected ELIXIR_VERSION or ELIXIR_VERSION:OTP_RELEASE, e.g. 1.18.4:27`);
  const elixir = match[1];
  const otp = match[2];
  if (otp === undefined && compareVersions(elixir, PER_OTP_SINCE) >= 0) {
    throw new BadRequestError(
      `--installs ${text}: Elixir ${PER_OTP_SINCE} and later install Hex and rebar3 per OTP release; give ${elixir}:OTP_RELEASE, e.g. ${elixir}:27`,
    );
  }
  return otp === undefined ? { elixir } : { elixir, otp };
}

/** The lists Mix of that Elixir reads, and the update check's list. */
function listsFor(target: InstallsTarget): { lists: BuildListName[]; builds: BuildListName[] } {
  const builds: BuildListName[] =
    target.otp !== undefined && compareVersions(target.elixir, PER_OTP_SINCE) >= 0 ? ['hex.csv', 'rebar.csv'] : ['hex-1.x.csv', 'rebar3-1.x.csv'];
  return { lists: [...new Set<BuildListName>([...builds, 'hex-1.x.csv'])], builds };
}

/** Mix's choice from one list, or undefined if nothing fits. */
export function pickBuild(listed: readonly ListedBuild[], target: InstallsTarget): ListedBuild | undefined {
  const fits = (entry: ListedBuild): boolean => {
    try {
      if (compareVersions(entry.elixirVersion, target.elixir) > 0) return false;
    } catch {
      return false;
    }
    if (entry.otpRelease === undefined) return true;
    return target.otp !== undefined && Number(entry.otpRelease) <= Number(target.otp);
  };
  // Last line first; within a line, its first fitting Elixir version (listed keeps line order).
  let best: ListedBuild | undefined;
  for (const entry of listed) {
    if (!fits(entry)) continue;
    if (!best || entry.line > best.line) best = entry;
  }
  return best;
}

export async function prewarmInstalls(
  targets: readonly InstallsTarget[],
  installs: InstallsMirror,
  onItem: (item: InstallsItem) => void,
): Promise<InstallsItem[]> {
  const items: InstallsItem[] = [];
  const done = new Set<string>();
  const record = (item: InstallsItem): void => {
    items.push(item);
    onItem(item);
  };
  const fetch = async (path: string): Promise<void> => {
    if (done.has(path)) return;
    done.add(path);
    try {
      const result = await installs.get(path);
      record({ what: `/installs/${path}`, outcome: result.cache === 'hit' ? 'cached' : 'fetched' });
    } catch (error: unknown) {
      record({ what: `/installs/${path}`, outcome: 'failed', reason: reasonOf(error) });
    }
  };
  for (const target of targets) {
    const { lists, builds } = listsFor(target);
    for (const list of lists) {
      await fetch(list);
      // Elixir before 1.19 also fetches and checks the .signed file.
      await fetch(`${list}.signed`);
    }
    for (const list of builds) {
      const label = `${list} for Elixir ${target.elixir}${target.otp === undefined ? '' : ` OTP ${target.otp}`}`;
      let listed: ListedBuild[];
      try {
        listed = await installs.listed(list);
      } catch (error: unknown) {
        record({ what: label, outcome: 'failed', reason: reasonOf(error) });
        continue;
      }
      const build = pickBuild(listed, target);
      if (!build) {
        record({ what: label, outcome: 'failed', reason: `/installs/${list} lists no build for it` });
        continue;
      }
      await fetch(build.path);
    }
  }
  return items;
}

const reasonOf = (error: unknown): string => (error instanceof HexproxyError ? error.message : errorMessage(error));
