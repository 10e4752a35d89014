/**
 * The uplink's HTTP edge: one undici dispatcher (keep-alive, TLS against the system CA bundle plus
 * server.caFile, optional server.proxy) and a JSON request helper that turns every failure mode
 * (refused, reset, timeout, truncated or malformed body, 5xx) into one result shape.
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { checkServerIdentity, createSecureContext, rootCertificates, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';

/** CA bundles of the common Linux distributions (enterprise CAs are installed into these). */
const SYSTEM_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // RHEL, Fedora
  '/etc/ssl/ca-bundle.pem', // SUSE
  '/etc/ssl/cert.pem', // macOS, BSD
];

export interface HttpOptions {
  caFile?: string;
  /** server.pinSha256: base64 SHA-256 SPKI pins, one of which the chain must hold. */
  pinSha256?: readonly string[];
  clientCertFile?: string;
  clientKeyFile?: string;
  proxy?: string;
  requestTimeoutMs: number;
}

/** The chain's certificates from the leaf up (getPeerCertificate(true) links them through issuerCertificate). */
function chainOf(cert: DetailedPeerCertificate): DetailedPeerCertificate[] {
  const out: DetailedPeerCertificate[] = [];
  for (let c: DetailedPeerCertificate | undefined = cert; c?.raw && !out.includes(c); c = c.issuerCertificate) out.push(c);
  return out;
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo (what `openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64` prints). */
export function spkiSha256(certDer: Buffer): string {
  const spki = new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/**
 * The host name check, then the pins: the chain (already verified against the trusted CAs) must
 * hold a key from server.pinSha256. Runs once per full handshake.
 */
export function pinnedServerIdentity(pins: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  const wanted = new Set(pins);
  return (host, cert) => {
    const err = checkServerIdentity(host, cert);
    if (err) return err;
    const chain = chainOf(cert as DetailedPeerCertificate);
    const seen = chain.map((c) => spkiSha256(c.raw));
    if (seen.some((p) => wanted.has(p))) return undefined;
    return Object.assign(
      new Error(`certificate pin mismatch: no key of the server's chain is in server.pinSha256 (the server's key is ${seen[0] ?? 'unknown'})`),
      {
        code: 'ERR_TLS_PIN_MISMATCH',
      },
    );
  };
}

/** Node's bundled roots, the system bundle if there is one, and the configured CA file. */
export function trustedCas(caFile?: string): string[] {
  const cas = [...rootCertificates];
  for (const p of SYSTEM_CA_BUNDLES) {
    if (existsSync(p)) {
      try {
        cas.push(readFileSync(p, 'utf8'));
        break;
      } catch {
        /* unreadable: keep Node's roots */
      }
    }
  }
  if (caFile) cas.push(readFileSync(caFile, 'utf8')); // a missing file is a configuration error: let it throw
  return cas;
}

export function createDispatcher(o: HttpOptions): Dispatcher {
  // One secure context for every connection: the CA bundle (hundreds of certificates) is parsed
  // once, not at each reconnect.
  const secureContext = createSecureContext({
    ca: trustedCas(o.caFile),
    minVersion: 'TLSv1.2',
    ...(o.clientCertFile && o.clientKeyFile ? { cert: readFileSync(o.clientCertFile, 'utf8'), key: readFileSync(o.clientKeyFile, 'utf8') } : {}),
  });
  const tls = {
    secureContext,
    minVersion: 'TLSv1.2' as const,
    ...(o.pinSha256 && o.pinSha256.length > 0 ? { checkServerIdentity: pinnedServerIdentity(o.pinSha256) } : {}),
  };
  const timeouts = { headersTimeout: o.requestTimeoutMs, bodyTimeout: o.requestTimeoutMs, connectTimeout: o.requestTimeoutMs };
  if (o.proxy) return new ProxyAgent({ uri: o.proxy, requestTls: tls, proxyTls: tls, ...timeouts, keepAliveTimeout: 30_000 });
  return new Agent({ connect: { ...tls, timeout: o.requestTimeoutMs }, ...timeouts, keepAliveTimeout: 30_000, connections: 8 });
}

export type HttpResult<T> =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; body: T; text: string }
  /** No usable answer: connection refused/reset, DNS, TLS, timeout, truncated or malformed body. */
  | { kind: 'network'; error: string; code?: string };

export interface JsonRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  token?: string;
  body?: unknown;
  /** A body already serialized as JSON (upload batches are built by SQLite as one buffer). */
  rawJson?: string | Buffer;
  headers?: Record<string, string>;
  /** Overall deadline (long-polls pass more than the default). */
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function jsonRequest<T = unknown>(dispatcher: Dispatcher, r: JsonRequest): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...r.headers };
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  let payload: string | Buffer | undefined;
  if (r.rawJson !== undefined) {
    payload = r.rawJson;
    headers['content-type'] = 'application/json';
  } else if (r.body !== undefined) {
    payload = JSON.stringify(r.body);
    headers['content-type'] = 'application/json';
  }
  const timeout = AbortSignal.timeout(r.timeoutMs);
  const signal = r.signal ? AbortSignal.any([r.signal, timeout]) : timeout;
  try {
    const res = await request(r.url, {
      method: r.method,
      headers,
      body: payload,
      dispatcher,
      signal,
      headersTimeout: r.timeoutMs,
      bodyTimeout: r.timeoutMs,
    });
    const text = await res.body.text();
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) !== Buffer.byteLength(text)) {
      return { kind: 'network', error: `truncated body: ${Buffer.byteLength(text)} of ${declared} bytes` };
    }
    let body: unknown;
    if (text.length > 0) {
      const ct = String(res.headers['content-type'] ?? '');
      if (ct.includes('json')) {
        try {
          body = JSON.parse(text);
        } catch {
          return { kind: 'network', error: `malformed JSON in a ${res.statusCode} response`, code: 'EBADJSON' };
        }
      }
    }
    return { kind: 'response', status: res.statusCode, headers: res.headers, body: body as T, text };
  } catch (err) {
    const e = err as { message?: string; code?: string; name?: string; cause?: { code?: string; message?: string } };
    const code = e.code ?? e.cause?.code ?? e.name;
    return { kind: 'network', error: e.cause?.message ?? e.message ?? String(err), code };
  }
}
