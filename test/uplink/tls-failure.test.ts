import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyTlsFailure } from '../../src/uplink/tls-failure.js';

test('TLS failures by error code: the reason, and the words IT acts on; other failures are not TLS ones', () => {
  const cases: Array<[string, string]> = [
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown-ca'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown-ca'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown-ca'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-ca'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'name-mismatch'],
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'not-yet-valid'],
    ['CERT_REVOKED', 'revoked'],
    ['ERR_TLS_PIN_MISMATCH', 'pin-mismatch'],
    ['client-cert-required', 'client-cert-refused'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client-cert-refused'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'not-tls'],
    ['ERR_SSL_NO_CIPHERS_AVAILABLE', 'tls-error'],
  ];
  for (const [code, reason] of cases) assert.equal(classifyTlsFailure(code, 'x')?.reason, reason, code);
  assert.deepEqual(classifyTlsFailure('CERT_HAS_EXPIRED', 'certificate has expired'), {
    reason: 'expired',
    detail: 'the server certificate has expired: certificate has expired',
  });
  for (const code of [undefined, -104, 'toString', 'ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'ETIMEDOUT', 'ENOTFOUND', 'EBADJSON'])
    assert.equal(classifyTlsFailure(code, 'x'), undefined, String(code));
});
