// A real browser for the UI tests: Debian's chromium (apt-get install chromium; .ci/run
// installs it) driven by playwright-core (a devDependency that downloads no browser).
// With CI=true a missing chromium or playwright-core is a failure, not a reason to skip.
import { accessSync, constants } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env['HEXPROXY_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

/** With CI=true the browser tests must run. */
export const requireBrowser = process.env['CI'] === 'true';

export type BrowserAvailability = { available: true; launch: () => Promise<Browser> } | { available: false; reason: string };

export async function findBrowser(): Promise<BrowserAvailability> {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    return { available: false, reason: `no chromium at ${CHROMIUM} (apt-get install -y chromium)` };
  }
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch (error: unknown) {
    return {
      available: false,
      reason: `playwright-core cannot be loaded (npm ci installs it): ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  return {
    available: true,
    launch: () =>
      playwright.chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
        timeout: 20_000,
      }),
  };
}
