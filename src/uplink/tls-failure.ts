/**
 * Why a TLS connection to the usage-server failed, in words IT can act on, from the error code
 * Node/OpenSSL (or the pin check in http.ts) gave. Pure: tested with the exact codes.
 */

export type TlsFailureReason =
  | 'unknown-ca'
  | 'name-mismatch'
  | 'expired'
  | 'not-yet-valid'
  | 'revoked'
  | 'pin-mismatch'
  | 'client-cert-refused'
  | 'not-tls'
  | 'tls-error';

const BY_CODE: Record<string, TlsFailureReason> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown-ca',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown-ca',
  CERT_SIGNATURE_FAILURE: 'unknown-ca',
  CERT_UNTRUSTED: 'unknown-ca',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name-mismatch',
  HOSTNAME_MISMATCH: 'name-mismatch',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  CERT_REVOKED: 'revoked',
  ERR_TLS_PIN_MISMATCH: 'pin-mismatch',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-cert-refused',
  /** usage-server's 403 problem `client-cert-required` (it answers instead of closing the connection). */
  'client-cert-required': 'client-cert-refused',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-cert-refused',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-cert-refused',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'client-cert-refused',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'client-cert-refused',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
};

const HINT: Record<TlsFailureReason, string> = {
  'unknown-ca': 'the server certificate is not signed by a trusted CA (system CAs or server.caFile)',
  'name-mismatch': 'the server certificate does not name the host in server.url',
  expired: 'the server certificate has expired',
  'not-yet-valid': 'the server certificate is not valid yet (check the clock)',
  revoked: 'the server certificate was revoked',
  'pin-mismatch': 'the server key is none of server.pinSha256',
  'client-cert-refused': 'the server refused the client certificate (missing, or not from its tls.clientCaFile)',
  'not-tls': 'the server did not answer in TLS (an http:// server on an https:// URL?)',
  'tls-error': 'the TLS handshake failed',
};

export interface TlsFailure {
  reason: TlsFailureReason;
  /** One line: the reason in words and what the TLS layer said. */
  detail: string;
}

/** undefined when the failure is not a TLS one (refused, reset, timeout, DNS, ...). */
export function classifyTlsFailure(code: unknown, message: string): TlsFailure | undefined {
  // Errors carry codes of every kind (libuv's are strings, some native ones numbers).
  if (typeof code !== 'string' || (!Object.hasOwn(BY_CODE, code) && !/^ERR_(SSL|TLS)_/.test(code))) return undefined;
  const reason = Object.hasOwn(BY_CODE, code) ? BY_CODE[code]! : 'tls-error';
  return { reason, detail: `${HINT[reason]}: ${message}` };
}
