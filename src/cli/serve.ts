// `hexproxy serve`: start, say where to point clients, and shut down cleanly on a signal.
import { startServer, type RunningServer } from '../app.js';
import { mixSetup, rebar3Cdn } from '../clients/snippets.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { certificateFields } from '../http/tls.js';
import { createLogger, type Logger } from '../log.js';

/** `reloadConfig` reads the configuration again the way it was read at start (SIGHUP reloads the policy from it). */
export async function runServe(config: Readonly<Config>, reloadConfig: () => Readonly<Config>): Promise<void> {
  const log = createLogger(config.logLevel, undefined, config.accessLog);
  const server = await startServer(config, log, { reloadConfig });
  const { keys } = server.hexproxy;
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
  // SIGHUP: the policy section is read again, and the TLS certificate and key; other keys need a restart.
  process.on('SIGHUP', () => {
    try {
      server.hexproxy.reloadPolicy();
      log.info({ signal: 'SIGHUP', generation: server.hexproxy.policy.generation }, 'policy reloaded');
    } catch (error: unknown) {
      log.error({ signal: 'SIGHUP', err: errorMessage(error) }, 'policy not reloaded; the previous policy stays in force');
    }
    reloadTls(server, config, log);
  });
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Announced only once the signals are handled: a supervisor that stops hexproxy as soon as
  // it says it listens must get a clean shutdown, not the default action of SIGTERM.
  log.info(
    {
      url: server.url,
      upstream: config.upstream.url,
      offline: config.offline,
      dataDir: config.dataDir,
      publicKey: keys.publicKeyFile,
      fingerprint: keys.fingerprint,
    },
    `hexproxy listening on ${server.url}`,
  );
  process.stderr.write(banner(server.url, config, keys.publicKeyFile, keys.fingerprint));
}

/** The certificate files named at start, read again: a bad pair is logged, and the previous one keeps serving. */
function reloadTls(server: RunningServer, config: Readonly<Config>, log: Logger): void {
  const files = config.tls;
  try {
    const reloaded = server.reloadTls();
    if (!files || !reloaded) {
      log.info({ signal: 'SIGHUP' }, 'no TLS certificate to reload: tls.cert and tls.key are not set (hexproxy serves plain HTTP)');
      return;
    }
    const fields = certificateFields(reloaded, files);
    log.info({ signal: 'SIGHUP', ...fields }, `TLS certificate reloaded: ${fields['subject']}, valid to ${fields['validTo']}`);
  } catch (error: unknown) {
    log.error({ signal: 'SIGHUP', err: errorMessage(error) }, 'TLS certificate not reloaded; the previous certificate keeps serving');
  }
}

function banner(url: string, config: Readonly<Config>, publicKeyFile: string, fingerprint: string): string {
  return [
    '',
    `hexproxy is listening on ${url} (upstream ${config.offline ? 'disabled: --offline' : config.upstream.url})`,
    `Public key: ${publicKeyFile} (SHA-256 ${fingerprint}); also served at ${url}/public_key`,
    ...(config.tls
      ? [`HTTPS with ${config.tls.cert}: clients must trust its issuer (HEX_CACERTS_PATH for Mix, ssl_cacerts_path for rebar3: docs/https.md)`]
      : []),
    '',
    'Point Mix at it:',
    ...mixSetup(url, 'hexpm')
      .split('\n')
      .map((line) => `  ${line}`),
    'Point rebar3 at it:',
    `  ${rebar3Cdn(url)}   # plus repo_public_key in ~/.config/rebar3/rebar.config (see README)`,
    '',
  ].join('\n');
}
