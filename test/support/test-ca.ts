// A certificate authority made for one test run with the openssl command line (Debian's
// openssl package; .ci/run installs it), and server certificates it issues for 127.0.0.1
// and localhost: what an operator does with a private CA, done in a temporary directory.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './proxy.js';

const run = promisify(execFile);

export interface TestCa {
  /** The CA's certificate (PEM file): what clients are told to trust. */
  certFile: string;
  certPem: string;
  /** Issues a server certificate for 127.0.0.1 and localhost with this serial (hex digits). */
  issue(options: { serial: string; days: number }): Promise<ServerCertificate>;
}

export interface ServerCertificate {
  certFile: string;
  keyFile: string;
  /** As node:tls reports it (upper-case hex). */
  serial: string;
}

// P-256 keys: quick to make, and every client here (Node, Erlang's ssl) takes them.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (error: unknown) {
    const failure = error as { stderr?: string; message?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${failure.stderr ?? failure.message ?? String(error)}`, { cause: error });
  }
}

export async function makeTestCa(name = 'hexproxy test CA'): Promise<TestCa> {
  const dir = tempDir('hexproxy-test-ca-');
  await openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  const certFile = join(dir, 'ca.pem');
  return {
    certFile,
    certPem: readFileSync(certFile, 'utf8'),
    async issue({ serial, days }) {
      const base = `server-${serial}`;
      await openssl(['req', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=localhost'], dir);
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-set_serial',
          `0x${serial}`,
          '-days',
          String(days),
          '-extfile',
          'server.ext',
          '-out',
          `${base}.pem`,
        ],
        dir,
      );
      return { certFile: join(dir, `${base}.pem`), keyFile: join(dir, `${base}.key`), serial: serial.toUpperCase() };
    },
  };
}
