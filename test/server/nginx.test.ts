/**
 * The reverse-proxy example as shipped (config/nginx-usage-server.conf), run by Debian's nginx in
 * front of a real usage-server on loopback with trustProxy: nginx terminates TLS with an
 * openssl-made certificate, the agent's own client enrolls, leases and uploads through it, HSTS
 * comes from nginx, and the server takes each client's address from X-Forwarded-For (the
 * enrollment rate limit is per agent address, not per proxy).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { UplinkClient } from '../../src/uplink/client.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { makePki } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const NGINX = '/usr/sbin/nginx';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

test('config/nginx-usage-server.conf: nginx terminates TLS in front of usage-server (trustProxy); agents work through it, HSTS, client addresses from X-Forwarded-For', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('ca');
  const cert = pki.issue(ca, 'usage.example.com', { dns: ['usage.example.com'], ips: ['127.0.0.1'] });
  const srv = await startServer({
    products: [{ id: 'cad', seats: 2 }],
    config: { trustProxy: '127.0.0.1', enrollment: { rateLimit: { enabled: true, burst: 1, perMinute: 1 } }, leases: { ttlSeconds: 30 } },
  });
  t.after(() => srv.cleanup());

  const port = await freePort();
  const dir = join(pki.dir, 'nginx');
  mkdirSync(dir);
  const example = readFileSync(join(process.cwd(), 'config', 'nginx-usage-server.conf'), 'utf8');
  const site = example
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
    .replace('server 127.0.0.1:8470;', `server 127.0.0.1:${srv.port};`)
    .replace('/etc/ssl/usage-server/fullchain.pem', cert.cert)
    .replace('/etc/ssl/usage-server/key.pem', cert.key);
  assert.notEqual(site, example);
  assert.ok(site.includes(`127.0.0.1:${port} ssl`) && site.includes(`127.0.0.1:${srv.port}`) && site.includes(cert.cert), 'every substitution found its line');
  writeFileSync(join(dir, 'site.conf'), site);
  // The frame Debian's /etc/nginx/nginx.conf gives a site, with paths of its own.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n${process.getuid?.() === 0 ? 'user root;\n' : ''}` +
      `events { worker_connections 256; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  include ${dir}/site.conf;\n}\n`,
  );
  const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let nginxOut = '';
  nginx.stderr.on('data', (d) => (nginxOut += String(d)));
  const exited = new Promise((r) => nginx.once('exit', r));
  t.after(async () => {
    if (nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await exited;
    }
  });
  const url = `https://127.0.0.1:${port}`;
  const probe = new Agent({ connect: { ca: ca.pem } });
  t.after(() => probe.close());
  await waitFor(
    async () => {
      if (nginx.exitCode !== null) assert.fail(`nginx exited ${nginx.exitCode}\n${nginxOut}\n${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      return request(`${url}/v1/health`, { dispatcher: probe }).then(
        (r) => r.body.text().then(() => r.statusCode === 200),
        () => false,
      );
    },
    'nginx to serve',
    15_000,
    { stepMs: 100, detail: () => `${nginxOut}\n${readFileSync(join(dir, 'error.log'), 'utf8')}` },
  );

  // The agent's client, through nginx: enroll, policy, a lease renewed and released, an upload.
  const client = new UplinkClient({
    url,
    enrollSecret: TEST_ENROLL_SECRET,
    caFile: ca.cert,
    requestTimeoutMs: 5000,
    dataDir: join(pki.dir, 'agent'),
    hostname: 'ws-1',
    nextSeq: () => 1,
  });
  t.after(() => client.close());
  assert.equal((await client.fetchPolicy())?.products[0]?.id, 'cad');
  const got = await client.acquire({ product: 'cad', user: 'alice', host: 'ws-1', pid: 4242, processStart: '2024-05-01T08:00:00.000Z', requestId: 'r-1' });
  assert.equal(got.kind, 'granted', JSON.stringify(got));
  const leaseId = (got as { lease: { leaseId: string } }).lease.leaseId;
  assert.equal((await client.renew(leaseId)).kind, 'renewed');
  const up = await client.upload([
    {
      seq: 1,
      type: 'break',
      time: '2024-05-01T08:01:00.000Z',
      host: 'ws-1',
      start: '2024-05-01T08:00:00.000Z',
      end: '2024-05-01T08:01:00.000Z',
      durationSeconds: 60,
      breakType: 'micro',
    },
  ]);
  assert.equal(up.kind, 'acked', JSON.stringify(up));
  assert.equal(await client.release(leaseId, 'quit'), true);

  // HSTS from nginx, on answers and errors.
  const h = await request(`${url}/v1/health`, { dispatcher: probe });
  await h.body.text();
  assert.equal(h.headers['strict-transport-security'], 'max-age=31536000');

  // Two agents at two addresses: each has its own enrollment bucket (burst 1), so the server sees
  // the addresses nginx saw, not nginx's own.
  const from = (address: string) => new Agent({ localAddress: address, connect: { ca: ca.pem } });
  const enrollFrom = async (d: Agent) => {
    const r = await request(`${url}/v1/enroll`, {
      dispatcher: d,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enrollSecret: TEST_ENROLL_SECRET, host: 'ws-x' }),
    });
    return { status: r.statusCode, body: (await r.body.json()) as { detail?: string } };
  };
  const seven = from('127.0.0.7');
  const eight = from('127.0.0.8');
  t.after(() => Promise.all([seven.close(), eight.close()]));
  assert.equal((await enrollFrom(seven)).status, 201);
  const limited = await enrollFrom(seven);
  assert.equal(limited.status, 429);
  assert.match(limited.body.detail ?? '', /from 127\.0\.0\.7;/);
  assert.equal((await enrollFrom(eight)).status, 201, 'another address has a bucket of its own');
  const rows = await srv.sql<{ n: number }>('SELECT count(*) AS n FROM agents');
  assert.equal(Number(rows[0]!.n), 3);
});
