import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { UplinkClient } from '../../src/uplink/client.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'uplink-transport-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const client = (url: string, dataDir: string, extra: { caFile?: string; proxy?: string } = {}) =>
  new UplinkClient({ url, enrollSecret: TEST_ENROLL_SECRET, requestTimeoutMs: 3000, dataDir, hostname: 'ws', nextSeq: () => 1, ...extra });

test('TLS: trusts server.caFile; the same server without it is refused', async (t) => {
  const srv = await startServer({ products: [{ id: 'cad', seats: 1 }] });
  t.after(() => srv.cleanup());
  const dir = tmp(t);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const sockets = new Set<Socket>();
  // TLS terminator in front of the real server.
  const tls = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (s) => {
    const up = connect(srv.port, '127.0.0.1');
    sockets.add(s).add(up);
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        tls.close(() => r());
      }),
  );
  const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;

  const untrusted = client(url, join(dir, 'a'));
  t.after(() => untrusted.close());
  assert.equal(await untrusted.fetchPolicy(), undefined);
  assert.equal(untrusted.status.state, 'offline');
  assert.match(untrusted.status.lastError ?? '', /self.signed|certificate/i);

  const trusted = client(url, join(dir, 'b'), { caFile: join(dir, 'cert.pem') });
  t.after(() => trusted.close());
  const p = await trusted.fetchPolicy();
  assert.equal(p?.products[0]?.id, 'cad');
  assert.equal(trusted.status.state, 'online');
});

test('server.proxy: every request goes through the HTTP proxy (CONNECT)', async (t) => {
  const srv = await startServer({ products: [{ id: 'cad', seats: 1 }] });
  t.after(() => srv.cleanup());
  const dir = tmp(t);
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const proxy = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(405).end();
  });
  proxy.on('connect', (req, socket: Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = String(req.url).split(':');
    const up = connect(Number(port), host!, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      socket.pipe(up).pipe(socket);
    });
    sockets.add(socket).add(up);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  );
  const c = client(srv.url, dir, { proxy: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
  t.after(() => c.close());
  const p = await c.fetchPolicy();
  assert.equal(p?.products[0]?.id, 'cad');
  assert.ok(seen.length >= 1, 'the proxy carried the traffic');
  assert.ok(
    seen.every((s) => s === `CONNECT 127.0.0.1:${srv.port}`),
    JSON.stringify(seen),
  );
  // Proxy gone: the agent reports it, nothing reaches the server directly.
  await new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    proxy.close(() => r());
  });
  const c2 = client(srv.url, join(dir, 'x'), { proxy: `http://127.0.0.1:${(proxy.address() as AddressInfo | null)?.port ?? 9}` });
  t.after(() => c2.close());
  assert.equal(await c2.fetchPolicy(), undefined);
  assert.equal(c2.status.state, 'offline');
});
