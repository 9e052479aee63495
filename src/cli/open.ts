// Opens hexproxy's stores and upstream for a command other than serve. Works beside a
// running server on the same data directory: SQLite in WAL mode and atomic file renames
// let both write, and the server sees new entries on its next index lookup.
import { createHexproxy, type Hexproxy } from '../app.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';

export async function withHexproxy<T>(config: Readonly<Config>, work: (hexproxy: Hexproxy) => Promise<T>): Promise<T> {
  // Logs go to stderr; at the default level only warnings, since the command reports progress itself.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const hexproxy = await createHexproxy(config, log);
  try {
    return await work(hexproxy);
  } finally {
    await hexproxy.close();
  }
}
