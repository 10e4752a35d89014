/**
 * TLS for usage-server: the `tls` block of the config read into secure-context options, checked
 * before the server starts (unreadable files, a key that does not belong to the certificate, no
 * certificate at all are config errors naming the key), and read again on SIGHUP: the new context
 * serves new handshakes while established connections (and every lease) go on untouched.
 *
 * Client certificates (`tls.clientCaFile`): the SHA-256 fingerprint of the certificate an agent
 * enrolls with is stored with the agent, and later requests with its token must come over a
 * connection presenting that same certificate (plugins/auth.ts), so a stolen token alone is not
 * enough.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { ConfigError, type ServerConfig } from './config.js';

export type TlsConfig = NonNullable<ServerConfig['tls']>;

/** TLS 1.2 and 1.3 only; Node's default cipher list (forward secrecy, AEAD first). */
export const TLS_MIN_VERSION = 'TLSv1.2' as const;

export interface TlsMaterial {
  /** For https.createServer and server.setSecureContext. */
  options: SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean };
  /** The serving certificate, for the log line. */
  fingerprint256: string;
  validTo: string;
  keyType: string;
}

/** A path from the config file, relative to the file's directory. */
export const resolveConfigPath = (p: string, configFile: string | undefined) => (isAbsolute(p) || !configFile ? p : join(dirname(configFile), p));

function fail(file: string, key: string, message: string): never {
  throw new ConfigError(file, [{ path: key, message }], `${file}: ${key}: ${message}`);
}

function read(file: string, key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(file, key, `cannot read ${path}: ${e.code ?? e.message}`);
  }
}

/**
 * Read and check the certificate, key and client CA named by `tls`. Throws ConfigError naming
 * the config file and the key (tls.certFile, tls.keyFile, tls.clientCaFile).
 */
export function loadTlsMaterial(tls: TlsConfig, configFile: string | undefined): TlsMaterial {
  const file = configFile ?? '(defaults)';
  const certPath = resolveConfigPath(tls.certFile, configFile);
  const keyPath = resolveConfigPath(tls.keyFile, configFile);
  const certPem = read(file, 'tls.certFile', certPath);
  const keyPem = read(file, 'tls.keyFile', keyPath);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch (err) {
    fail(file, 'tls.certFile', `${certPath} holds no PEM certificate (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    fail(file, 'tls.keyFile', `${keyPath} holds no PEM private key (${(err as Error).message})`);
  }
  if (!leaf.checkPrivateKey(key)) fail(file, 'tls.keyFile', `the key in ${keyPath} does not belong to the certificate in ${certPath}`);
  let ca: string | undefined;
  if (tls.clientCaFile) {
    const caPath = resolveConfigPath(tls.clientCaFile, configFile);
    ca = read(file, 'tls.clientCaFile', caPath);
    try {
      new X509Certificate(ca);
    } catch (err) {
      fail(file, 'tls.clientCaFile', `${caPath} holds no PEM certificate (${(err as Error).message})`);
    }
  }
  const options = {
    cert: certPem,
    key: keyPem,
    minVersion: TLS_MIN_VERSION,
    ...(ca ? { ca } : {}),
    // Asked for whenever a client CA is set, never refused at the TLS layer: a connection without a
    // valid one gets an HTTP answer saying why (app.ts), which the agent can show, not a bare close.
    requestCert: ca !== undefined,
    rejectUnauthorized: false,
  };
  try {
    createSecureContext(options);
  } catch (err) {
    fail(file, 'tls.certFile', `OpenSSL refused the certificate or key: ${(err as Error).message}`);
  }
  return { options, fingerprint256: leaf.fingerprint256, validTo: leaf.validTo, keyType: key.asymmetricKeyType ?? 'unknown' };
}

/** Why the connection has no verified client certificate (for the 403), e.g. none sent, or the CA's error. */
export function clientCertProblem(socket: object): string {
  const s = socket as Partial<TLSSocket>;
  const err = s.authorizationError;
  if (typeof s.getPeerX509Certificate === 'function' && s.getPeerX509Certificate() === undefined) return 'no client certificate was presented';
  return `the client certificate was not accepted (${err ? String(err) : 'not verified'}): it must come from the CA in tls.clientCaFile`;
}

const peerFingerprints = new WeakMap<object, string | null>();

/**
 * SHA-256 fingerprint (lower-case hex, no colons) of the client certificate the connection
 * presented and the client CA verified; null without one. Worked out once per connection.
 */
export function verifiedClientCertSha256(socket: object): string | null {
  const known = peerFingerprints.get(socket);
  if (known !== undefined) return known;
  const s = socket as Partial<TLSSocket>;
  let fp: string | null = null;
  if (typeof s.getPeerX509Certificate === 'function' && s.authorized === true) {
    const cert = s.getPeerX509Certificate();
    fp = cert ? cert.fingerprint256.replace(/:/g, '').toLowerCase() : null;
  }
  peerFingerprints.set(socket, fp);
  return fp;
}
