/**
 * Test helper: a private PKI made by the `openssl` CLI in a temp directory: CAs, server and client
 * certificates (ECDSA P-256 or RSA 2048), expired ones, and SPKI pins computed by openssl itself.
 *
 *   const pki = makePki(t);
 *   const ca = pki.ca('ca');
 *   const srv = pki.issue(ca, 'server', { ips: ['127.0.0.1'] });   // { cert, key } file paths
 *   const old = pki.issue(ca, 'old', { ips: ['127.0.0.1'], days: -1 }); // expired yesterday
 *   const cli = pki.issue(ca, 'agent-1', { client: true });
 *   pki.pin(srv.cert)   // base64 SHA-256 of its SubjectPublicKeyInfo
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KeyType = 'ec' | 'rsa';

export interface Ca {
  name: string;
  cert: string;
  key: string;
  pem: string;
}

export interface Issued {
  cert: string;
  key: string;
}

export interface IssueOptions {
  dns?: string[];
  ips?: string[];
  /** Validity from now; -1 makes a certificate that expired a day ago. Default 2. */
  days?: number;
  keyType?: KeyType;
  /** A client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  client?: boolean;
}

export interface Pki {
  dir: string;
  ca(name: string, keyType?: KeyType): Ca;
  issue(ca: Ca, name: string, o?: IssueOptions): Issued;
  /** base64 SHA-256 of the certificate's public key (SubjectPublicKeyInfo), by openssl. */
  pin(certFile: string): string;
  /** SHA-256 fingerprint of the certificate as the server stores it (hex, lower case), by openssl. */
  fingerprint(certFile: string): string;
}

const openssl = (args: string[], input?: Buffer): Buffer => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

const newKey = (keyType: KeyType) => (keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048']);

export function makePki(t: { after(fn: () => void): void }): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'usage-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let serial = 1;
  return {
    dir,
    ca(name, keyType = 'ec') {
      const cert = join(dir, `${name}.pem`);
      const key = join(dir, `${name}.key`);
      // openssl.cnf's v3_ca: basicConstraints critical CA:TRUE, key identifiers.
      openssl(['req', '-x509', ...newKey(keyType), '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert]);
      return { name, cert, key, pem: readFileSync(cert, 'utf8') };
    },
    issue(ca, name, o = {}) {
      const cert = join(dir, `${name}.pem`);
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      openssl(['req', '-new', ...newKey(o.keyType ?? 'ec'), '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
      const sans = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.ips ?? []).map((i) => `IP:${i}`)];
      writeFileSync(
        ext,
        [
          'basicConstraints=CA:FALSE',
          `keyUsage=critical,digitalSignature${o.keyType === 'rsa' ? ',keyEncipherment' : ''}`,
          `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`,
          ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
        ].join('\n') + '\n',
      );
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-set_serial',
        String(serial++ * 1000 + Math.floor(Math.random() * 1000)),
        '-days',
        String(o.days ?? 2),
        '-sha256',
        '-extfile',
        ext,
        '-out',
        cert,
      ]);
      return { cert, key };
    },
    pin(certFile) {
      const pub = openssl(['x509', '-in', certFile, '-noout', '-pubkey']);
      const der = openssl(['pkey', '-pubin', '-outform', 'der'], pub);
      return openssl(['dgst', '-sha256', '-binary'], der).toString('base64');
    },
    fingerprint(certFile) {
      const out = openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256']).toString();
      return out.trim().split('=')[1]!.replace(/:/g, '').toLowerCase();
    },
  };
}
