// HTTPS without a front tier (tls.cert, tls.key): the certificate and its key read and
// checked together, at start and again on SIGHUP, so a pair that cannot serve is refused
// with a message naming the file before any client sees it (docs/https.md).
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** A certificate and the private key that matches it, as node:https takes them. */
export interface TlsCredentials {
  /** The PEM file's bytes: the certificate, then any intermediate certificates. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The first certificate of `cert`: the one clients check. */
  readonly certificate: X509Certificate;
}

/** Said at start and on reload when the certificate expires within this many days. */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Reads and checks both files; throws ConfigError naming the key (tls.cert or tls.key) and its file. */
export function readTlsCredentials(files: TlsFiles): TlsCredentials {
  const cert = readFile(files.cert, 'tls.cert');
  const key = readFile(files.key, 'tls.key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error: unknown) {
    throw new ConfigError(`tls.cert: ${files.cert} does not hold a PEM certificate (${errorMessage(error)})`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error: unknown) {
    throw new ConfigError(`tls.key: ${files.key} does not hold a PEM private key without a passphrase (${errorMessage(error)})`, {
      cause: error,
    });
  }
  if (!certificate.checkPrivateKey(privateKey))
    throw new ConfigError(
      `tls.key: ${files.key} is not the private key of the certificate in ${files.cert} (tls.cert, subject ${subjectOf(certificate)}): name the key the certificate was issued for`,
    );
  // What node:tls itself refuses (a key it cannot use, a certificate too weak for OpenSSL's level).
  try {
    createSecureContext({ cert, key });
  } catch (error: unknown) {
    throw new ConfigError(`tls.cert: node cannot serve ${files.cert} with the key ${files.key}: ${errorMessage(error)}`, { cause: error });
  }
  return { cert, key, certificate };
}

/** What the log says of a certificate: enough to tell which one is served. */
export function certificateFields(credentials: TlsCredentials, files: TlsFiles): Record<string, string> {
  const { certificate } = credentials;
  return {
    cert: files.cert,
    subject: subjectOf(certificate),
    issuer: certificate.issuer.split('\n').join(', '),
    serialNumber: certificate.serialNumber,
    validTo: new Date(certificate.validTo).toISOString(),
    fingerprint256: certificate.fingerprint256,
  };
}

/** An expired certificate is an error in the log, one expiring within EXPIRY_WARNING_DAYS a warning; hexproxy serves it all the same. */
export function warnAboutExpiry(credentials: TlsCredentials, files: TlsFiles, log: Logger, now = Date.now()): void {
  const expires = new Date(credentials.certificate.validTo).getTime();
  const fields = certificateFields(credentials, files);
  if (expires <= now) {
    log.error(
      fields,
      `the TLS certificate ${files.cert} expired on ${fields['validTo']}: clients refuse it; install a renewed one and send SIGHUP (docs/https.md)`,
    );
  } else if (expires - now < EXPIRY_WARNING_DAYS * DAY_MS) {
    const days = Math.floor((expires - now) / DAY_MS);
    log.warn(
      fields,
      `the TLS certificate ${files.cert} expires on ${fields['validTo']} (in ${days} day${days === 1 ? '' : 's'}): install a renewed one and send SIGHUP (docs/https.md)`,
    );
  }
}

function readFile(path: string, key: 'tls.cert' | 'tls.key'): Buffer {
  try {
    return readFileSync(path);
  } catch (error: unknown) {
    throw new ConfigError(`${key}: cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

const subjectOf = (certificate: X509Certificate): string => certificate.subject.split('\n').join(', ');
