// `hexproxy serve`: start, say where to point clients, and shut down cleanly on a signal.
import { startServer } from '../app.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';

export async function runServe(config: Readonly<Config>): Promise<void> {
  const log = createLogger(config.logLevel);
  const server = await startServer(config, log);
  const { keys } = server.hexproxy;
  log.info({
    url: server.url, upstream: config.upstream.url, offline: config.offline, dataDir: config.dataDir,
    publicKey: keys.publicKeyFile, fingerprint: keys.fingerprint,
  }, `hexproxy listening on ${server.url}`);
  process.stderr.write(banner(server.url, config, keys.publicKeyFile, keys.fingerprint));

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: String(error) }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

function banner(url: string, config: Readonly<Config>, publicKeyFile: string, fingerprint: string): string {
  return [
    '',
    `hexproxy is listening on ${url} (upstream ${config.offline ? 'disabled: --offline' : config.upstream.url})`,
    `Public key: ${publicKeyFile} (SHA-256 ${fingerprint}); also served at ${url}/public_key`,
    '',
    'Point Mix at it:',
    `  curl -fsSo hexproxy.pem ${url}/public_key`,
    `  mix hex.repo set hexpm --url ${url} --public-key hexproxy.pem`,
    'Point rebar3 at it:',
    `  export HEX_CDN=${url}   # plus repo_public_key in ~/.config/rebar3/rebar.config (see README)`,
    '',
  ].join('\n');
}
