/**
 * usage-server over TLS, with certificates made by openssl (test/helpers/tls.ts): ECDSA and RSA,
 * TLS 1.2+ only, HSTS, config errors naming the key (exit 78), SIGHUP reloading the certificate
 * while 50 enrolled agents (the agent's own UplinkClient) renew over TLS, and client certificates
 * bound to the agent that enrolled with them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { UplinkClient } from '../../src/uplink/client.js';
import { SERVER_CLI, startServer, TEST_ENROLL_SECRET, type TestServer } from '../helpers/server.js';
import { makePki, type Ca, type Issued, type KeyType } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'server-tls-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The certificate the server presents to a new connection (SHA-256 fingerprint, hex) and the protocol agreed. */
function handshake(
  port: number,
  ca: string,
  o: { maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' } = {},
): Promise<{ fingerprint: string; protocol: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const s = connect(
      { host: '127.0.0.1', port, ca, servername: undefined, ...(o.maxVersion ? { maxVersion: o.maxVersion, minVersion: 'TLSv1' } : {}) },
      () => {
        const fp = s.getPeerX509Certificate()!.fingerprint256.replace(/:/g, '').toLowerCase();
        resolve({ fingerprint: fp, protocol: s.getProtocol() });
        s.end();
      },
    );
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

async function tlsServer(
  t: { after(fn: () => unknown): void },
  server: Issued,
  ca: Ca,
  extra: Record<string, unknown> = {},
  client?: Issued,
): Promise<TestServer> {
  const srv = await startServer({
    products: [{ id: 'cad', seats: 100 }],
    config: { tls: { certFile: server.cert, keyFile: server.key, ...extra }, leases: { ttlSeconds: 30 } },
    https: { ca: ca.pem, ...(client ? { cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') } : {}) },
  });
  t.after(() => srv.cleanup());
  return srv;
}

for (const keyType of ['ec', 'rsa'] as KeyType[]) {
  test(`HTTPS with a ${keyType === 'ec' ? 'ECDSA P-256' : 'RSA 2048'} certificate: served, TLS 1.2 and 1.3 only, HSTS on every answer`, async (t) => {
    const pki = makePki(t);
    const ca = pki.ca('ca', keyType);
    const cert = pki.issue(ca, 'server', { ips: ['127.0.0.1'], keyType });
    const srv = await tlsServer(t, cert, ca);
    assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(srv.output(), /"url":"https:\/\/127\.0\.0\.1:/, 'the listening line says https');
    const h = await srv.request('GET', '/v1/health');
    assert.equal(h.status, 200);
    assert.equal(h.headers['strict-transport-security'], 'max-age=31536000');
    const notFound = await srv.request('GET', '/nowhere');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers['strict-transport-security'], 'max-age=31536000', 'HSTS on error answers too');
    const unauthenticated = await srv.request('GET', '/v1/policy');
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.headers['strict-transport-security'], 'max-age=31536000', 'HSTS on answers an auth hook gives');
    const badPath = await srv.request('GET', '/v1/leases/%zz/renew');
    assert.equal(badPath.status, 400);
    assert.equal(badPath.headers['strict-transport-security'], 'max-age=31536000', 'HSTS on framework errors (before any hook)');
    const a = await srv.enroll('ws-1');
    assert.equal((await a.get('/v1/policy')).status, 200);

    const v13 = await handshake(srv.port, ca.pem);
    assert.ok('protocol' in v13 && v13.protocol === 'TLSv1.3', JSON.stringify(v13));
    assert.equal((v13 as { fingerprint: string }).fingerprint, pki.fingerprint(cert.cert));
    const v12 = await handshake(srv.port, ca.pem, { maxVersion: 'TLSv1.2' });
    assert.ok('protocol' in v12 && v12.protocol === 'TLSv1.2', JSON.stringify(v12));
    const v11 = await handshake(srv.port, ca.pem, { maxVersion: 'TLSv1.1' });
    assert.ok('error' in v11, `TLS 1.1 is refused: ${JSON.stringify(v11)}`);
    // Plain HTTP to the TLS port gets no usage-server answer.
    const plain = await request(`http://127.0.0.1:${srv.port}/v1/health`).then(
      (r) => r.statusCode,
      (e: Error) => e.message,
    );
    assert.notEqual(plain, 200);
  });
}

test('config errors name the file and the key and exit 78: unreadable certificate, key of another certificate, plain HTTP off loopback', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('ca');
  const a = pki.issue(ca, 'a', { ips: ['127.0.0.1'] });
  const b = pki.issue(ca, 'b', { ips: ['127.0.0.1'], keyType: 'rsa' });
  const dir = tmp(t);
  const cases: Array<{ config: Record<string, unknown>; key: string; message: RegExp; args?: string[] }> = [
    { config: { tls: { certFile: join(dir, 'missing.pem'), keyFile: a.key } }, key: 'tls.certFile', message: /cannot read .*missing\.pem: ENOENT/ },
    { config: { tls: { certFile: a.cert, keyFile: join(dir, 'nokey.pem') } }, key: 'tls.keyFile', message: /cannot read .*nokey\.pem: ENOENT/ },
    { config: { tls: { certFile: a.cert, keyFile: b.key } }, key: 'tls.keyFile', message: /does not belong to the certificate/ },
    { config: { tls: { certFile: a.key, keyFile: a.key } }, key: 'tls.certFile', message: /holds no PEM certificate/ },
    { config: { tls: { certFile: a.cert, keyFile: a.key, clientCaFile: join(dir, 'noca.pem') } }, key: 'tls.clientCaFile', message: /cannot read .*noca\.pem/ },
    { config: { tls: { certFile: a.cert, keyFile: a.key, requireClientCert: true } }, key: 'tls.clientCaFile', message: /requireClientCert needs/ },
    { config: { listen: { host: '0.0.0.0' } }, key: 'listen.host', message: /plain HTTP on 0\.0\.0\.0/ },
    { config: {}, key: 'listen.host', message: /plain HTTP on 192\.0\.2\.1/, args: ['--listen', '192.0.2.1'] },
  ];
  for (const [i, c] of cases.entries()) {
    const file = join(dir, `server-${i}.json`);
    writeFileSync(file, JSON.stringify({ db: join(dir, `db-${i}.db`), ...c.config }));
    for (const cmd of [['serve', '--port', '0', ...(c.args ?? [])], ['check-config']]) {
      if (c.args && cmd[0] === 'check-config') continue;
      const r = spawnSync(process.execPath, [SERVER_CLI, ...cmd, '--config', file], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 78, `${cmd[0]} case ${i}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`${file}: ${c.key}`), `${cmd[0]} case ${i} names ${file} and ${c.key}: ${r.stderr}`);
      assert.match(r.stderr, c.message);
    }
  }
  // Behind a proxy (trustProxy), plain HTTP off loopback is allowed.
  const ok = join(dir, 'proxied.json');
  writeFileSync(ok, JSON.stringify({ db: join(dir, 'p.db'), listen: { host: '0.0.0.0' }, trustProxy: '10.0.0.5' }));
  const r = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', ok], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('SIGHUP with a new certificate and key while 50 enrolled agents renew over TLS: no renewal fails, new connections get the new certificate', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('ca');
  const first = pki.issue(ca, 'first', { ips: ['127.0.0.1'] });
  const second = pki.issue(ca, 'second', { ips: ['127.0.0.1'], keyType: 'rsa' });
  const dir = tmp(t);
  // The server reads the files at these paths; renewal replaces their contents.
  const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  const caFile = join(dir, 'ca.pem');
  copyFileSync(ca.cert, caFile);
  const srv = await tlsServer(t, live, ca);

  const clients = Array.from(
    { length: 50 },
    (_, i) =>
      new UplinkClient({
        url: srv.url,
        enrollSecret: TEST_ENROLL_SECRET,
        caFile,
        requestTimeoutMs: 10_000,
        dataDir: join(dir, `agent-${i}`),
        hostname: `ws-${i}`,
        nextSeq: () => 1,
      }),
  );
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const leases = await Promise.all(
    clients.map(async (c, i) => {
      const r = await c.acquire({
        product: 'cad',
        user: `u${i}`,
        host: `ws-${i}`,
        pid: 100 + i,
        processStart: '2024-05-01T08:00:00.000Z',
        requestId: `r-${i}`,
      });
      assert.equal(r.kind, 'granted', JSON.stringify(r));
      return (r as { lease: { leaseId: string } }).lease.leaseId;
    }),
  );
  assert.equal(((await handshake(srv.port, ca.pem)) as { fingerprint: string }).fingerprint, pki.fingerprint(first.cert));

  let stop = false;
  let renewed = 0;
  const failures: string[] = [];
  const renewing = clients.map(async (c, i) => {
    while (!stop) {
      const r = await c.renew(leases[i]!);
      if (r.kind === 'renewed') renewed++;
      else failures.push(`${i}: ${JSON.stringify(r)}`);
      await sleep(5);
    }
  });
  // Fresh agents enroll through the reload too (each a new connection, so a handshake with whichever certificate is in use).
  const latecomers: UplinkClient[] = [];
  const enrolling = (async () => {
    for (let i = 0; !stop; i++) {
      const c = new UplinkClient({
        url: srv.url,
        enrollSecret: TEST_ENROLL_SECRET,
        caFile,
        requestTimeoutMs: 10_000,
        dataDir: join(dir, `late-${i}`),
        hostname: `late-${i}`,
        nextSeq: () => 1,
      });
      latecomers.push(c);
      if (!(await c.ensureEnrolled())) failures.push(`late-${i}: ${c.status.lastError}`);
      await c.close();
    }
  })();
  await sleep(1000);
  const before = renewed;
  copyFileSync(second.cert, live.cert);
  copyFileSync(second.key, live.key);
  process.kill(srv.pid(), 'SIGHUP');
  await waitFor(() => srv.output().includes('TLS certificate and key reloaded'), 'the reload', 10_000, { stepMs: 20 });
  assert.match(srv.output(), /SIGHUP: TLS certificate and key reloaded/);
  await sleep(1000);
  const fresh = await handshake(srv.port, ca.pem);
  stop = true;
  await Promise.all([...renewing, enrolling]);
  assert.deepEqual(failures, [], 'no renewal and no enrollment failed');
  assert.ok(renewed > before + 50, `renewals went on after the reload (${before} before, ${renewed} in all)`);
  assert.ok(latecomers.length >= 3, `agents enrolled during the reload (${latecomers.length})`);
  assert.equal((fresh as { fingerprint: string }).fingerprint, pki.fingerprint(second.cert), 'a new connection gets the new certificate');
  const live2 = await srv.sql<{ n: number }>('SELECT count(*) AS n FROM leases WHERE ended_at IS NULL');
  assert.equal(Number(live2[0]!.n), 50, 'every lease is still live');

  // A broken file on SIGHUP keeps the certificate in use.
  writeFileSync(live.key, 'not a key');
  process.kill(srv.pid(), 'SIGHUP');
  await waitFor(() => srv.output().includes('not reloaded'), 'the refused reload', 10_000, { stepMs: 20 });
  assert.match(
    srv.output(),
    /tls\.keyFile.*holds no PEM private key.*TLS certificate or key not reloaded; the one in use stays|TLS certificate or key not reloaded/,
  );
  assert.equal(((await handshake(srv.port, ca.pem)) as { fingerprint: string }).fingerprint, pki.fingerprint(second.cert));
  assert.equal((await srv.request('GET', '/v1/health')).status, 200);
});

test('client certificates required (403 client-cert-required with the reason otherwise), bound to the agent that enrolled with one; a stolen token with another certificate is refused', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('server-ca');
  const clientCa = pki.ca('client-ca');
  const cert = pki.issue(ca, 'server', { ips: ['127.0.0.1'] });
  const alice = pki.issue(clientCa, 'alice', { client: true });
  const mallory = pki.issue(clientCa, 'mallory', { client: true });
  const srv = await tlsServer(t, cert, ca, { clientCaFile: clientCa.cert, requireClientCert: true }, alice);
  const dispatcherWith = (c?: Issued) =>
    new Agent({ connect: { ca: ca.pem, ...(c ? { cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') } : {}) } });

  const a = await srv.enroll('ws-alice');
  assert.equal((await a.get('/v1/policy')).status, 200, 'the agent with its own certificate');
  const rows = await srv.sql<{ client_cert_sha256: string }>('SELECT client_cert_sha256 FROM agents WHERE id = ?', a.agentId);
  assert.equal(rows[0]!.client_cert_sha256, pki.fingerprint(alice.cert), 'the enrollment certificate is recorded');

  // The token, stolen, used with another certificate from the same CA.
  const m = dispatcherWith(mallory);
  t.after(() => m.close());
  const stolen = await request(`${srv.url}/v1/policy`, { dispatcher: m, headers: { authorization: `Bearer ${a.agentToken}` } });
  const body = (await stolen.body.json()) as { code: string; action: string };
  assert.equal(stolen.statusCode, 401);
  assert.equal(body.code, 'client-cert-mismatch');
  assert.equal(body.action, 'enroll');
  // Without a certificate, or with one from another CA, every request is answered 403 with the reason (the token does not help).
  const strangerCa = pki.ca('stranger-ca');
  const stranger = pki.issue(strangerCa, 'stranger', { client: true });
  for (const [who, c, reason] of [
    ['none', undefined, /no client certificate was presented/],
    ['stranger', stranger, /not accepted \(.*\).*tls\.clientCaFile/],
  ] as const) {
    const d = dispatcherWith(c);
    t.after(() => d.close());
    for (const path of ['/v1/health', '/v1/policy', '/v1/enroll']) {
      const r = await request(`${srv.url}${path}`, { dispatcher: d, headers: { authorization: `Bearer ${a.agentToken}` } });
      const p = (await r.body.json()) as { code: string; detail: string };
      assert.equal(r.statusCode, 403, `${who} ${path}`);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      assert.equal(p.code, 'client-cert-required', `${who} ${path}`);
      assert.match(p.detail, reason);
    }
  }
  // Mallory's own enrollment is its own agent, bound to its own certificate.
  const me = await request(`${srv.url}/v1/enroll`, {
    dispatcher: m,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enrollSecret: TEST_ENROLL_SECRET, host: 'ws-m' }),
  });
  const mBody = (await me.body.json()) as { agentId: string };
  assert.equal(me.statusCode, 201);
  const mRow = await srv.sql<{ client_cert_sha256: string }>('SELECT client_cert_sha256 FROM agents WHERE id = ?', mBody.agentId);
  assert.equal(mRow[0]!.client_cert_sha256, pki.fingerprint(mallory.cert));
});

test('client certificates optional (clientCaFile without requireClientCert): agents without one work by token; one enrolled with a certificate needs it', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('server-ca');
  const clientCa = pki.ca('client-ca');
  const cert = pki.issue(ca, 'server', { ips: ['127.0.0.1'] });
  const alice = pki.issue(clientCa, 'alice', { client: true });
  const srv = await tlsServer(t, cert, ca, { clientCaFile: clientCa.cert });
  const plain = await srv.enroll('ws-plain');
  assert.equal((await plain.get('/v1/policy')).status, 200);
  const rows = await srv.sql<{ client_cert_sha256: string | null }>('SELECT client_cert_sha256 FROM agents WHERE id = ?', plain.agentId);
  assert.equal(rows[0]!.client_cert_sha256, null);

  const withCert = new Agent({ connect: { ca: ca.pem, cert: readFileSync(alice.cert, 'utf8'), key: readFileSync(alice.key, 'utf8') } });
  t.after(() => withCert.close());
  const e = await request(`${srv.url}/v1/enroll`, {
    dispatcher: withCert,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enrollSecret: TEST_ENROLL_SECRET, host: 'ws-a' }),
  });
  const token = ((await e.body.json()) as { agentToken: string }).agentToken;
  const ok = await request(`${srv.url}/v1/policy`, { dispatcher: withCert, headers: { authorization: `Bearer ${token}` } });
  await ok.body.text();
  assert.equal(ok.statusCode, 200);
  const noCert = await srv.request('GET', '/v1/policy', { token });
  assert.equal(noCert.status, 401);
  assert.equal((noCert.body as { code: string }).code, 'client-cert-mismatch');
});
