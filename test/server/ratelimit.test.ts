/** Enrollment rate limiting: the token bucket with an exact clock, and a real server's 429. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets } from '../../src/server/ratelimit.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

test('token bucket: burst, refill rate, retry-after, keys independent, bounded memory', () => {
  const b = new TokenBuckets({ burst: 3, perMinute: 6, maxKeys: 2 }); // one token per 10 s
  assert.deepEqual(b.take('1.1.1.1', 0), { ok: true, remaining: 2 });
  assert.deepEqual(b.take('1.1.1.1', 0), { ok: true, remaining: 1 });
  assert.deepEqual(b.take('1.1.1.1', 0), { ok: true, remaining: 0 });
  assert.deepEqual(b.take('1.1.1.1', 0), { ok: false, retryAfterSeconds: 10 });
  assert.deepEqual(b.take('1.1.1.1', 4_000), { ok: false, retryAfterSeconds: 6 });
  assert.deepEqual(b.take('2.2.2.2', 4_000), { ok: true, remaining: 2 }, 'another address has its own bucket');
  assert.deepEqual(b.take('1.1.1.1', 10_000), { ok: true, remaining: 0 });
  assert.deepEqual(b.take('1.1.1.1', 10_001), { ok: false, retryAfterSeconds: 10 });
  // Full again after 30 s; never more than the burst.
  assert.deepEqual(b.take('1.1.1.1', 1_000_000), { ok: true, remaining: 2 });
  // A third key with maxKeys 2: full buckets are dropped first (2.2.2.2 is full by now).
  assert.equal(b.size, 2);
  assert.deepEqual(b.take('3.3.3.3', 1_000_000), { ok: true, remaining: 2 });
  assert.equal(b.size, 2);
});

test('a real server answers 429 problem+json with Retry-After once an address uses up its enrollments', async (t) => {
  const srv = await startServer({ config: { enrollment: { rateLimit: { enabled: true, burst: 3, perMinute: 6 } } } });
  t.after(() => srv.cleanup());
  const enroll = (secret = TEST_ENROLL_SECRET) => srv.request('POST', '/v1/enroll', { body: { enrollSecret: secret, host: 'rl-host' } });
  assert.equal((await enroll()).status, 201);
  assert.equal((await enroll('wrong-secret-xxxxxxxx')).status, 403, 'a wrong secret also takes a token');
  assert.equal((await enroll()).status, 201);
  const r = await enroll();
  assert.equal(r.status, 429);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.headers['retry-after'], '10');
  assert.equal(r.body.code, 'rate-limited');
  assert.equal(r.body.status, 429);
  assert.equal(r.body.retryAfterSeconds, 10);
  // Only enrollment is limited: the agents enrolled still work, and the server keeps serving.
  assert.equal((await srv.request('GET', '/v1/health')).status, 200);
  const m = await srv.request('GET', '/metrics');
  assert.match(m.text, /^usage_server_enrollments_total\{outcome="rate-limited"\} 1$/m);
  assert.equal((await srv.sql('SELECT count(*) AS n FROM agents'))[0].n, 2);
});

test('trustProxy: off by default (X-Forwarded-For ignored); with the proxy trusted, each real client has its own bucket', async (t) => {
  const enroll = (srv: Awaited<ReturnType<typeof startServer>>, forwardedFor: string) =>
    srv.request('POST', '/v1/enroll', { body: { enrollSecret: TEST_ENROLL_SECRET, host: 'behind-proxy' }, headers: { 'x-forwarded-for': forwardedFor } });
  const limit = { enrollment: { rateLimit: { enabled: true, burst: 2, perMinute: 1 } } };

  const direct = await startServer({ config: limit });
  t.after(() => direct.cleanup());
  assert.equal((await enroll(direct, '203.0.113.1')).status, 201);
  assert.equal((await enroll(direct, '203.0.113.2')).status, 201);
  const spoofed = await enroll(direct, '203.0.113.3');
  assert.equal(spoofed.status, 429, 'a forged X-Forwarded-For does not buy a new bucket');
  assert.match(spoofed.body.detail, /from 127\.0\.0\.1;/);

  const proxied = await startServer({ config: { ...limit, trustProxy: ['127.0.0.1/8', '::1'] } });
  t.after(() => proxied.cleanup());
  assert.equal((await enroll(proxied, '203.0.113.1')).status, 201);
  assert.equal((await enroll(proxied, '203.0.113.1')).status, 201);
  const over = await enroll(proxied, '203.0.113.1');
  assert.equal(over.status, 429);
  assert.match(over.body.detail, /from 203\.0\.113\.1;/);
  assert.equal((await enroll(proxied, '203.0.113.2')).status, 201, 'another client behind the same proxy has its own bucket');
  // The client address is the last one the trusted proxy saw (anything the client itself put before it is not believed).
  assert.equal((await enroll(proxied, '198.51.100.7, 203.0.113.1')).status, 429);
});

test('trustProxy entries are validated (exit 78 naming the key)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { SERVER_CLI } = await import('../helpers/server.js');
  const { isProxyAddress } = await import('../../src/server/config.js');
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', 'loopback', 'uniquelocal']) assert.equal(isProxyAddress(ok), true, ok);
  for (const bad of ['proxy.example', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.256', '']) assert.equal(isProxyAddress(bad), false, bad);
  const dir = mkdtempSync(join(tmpdir(), 'usage-server-proxy-'));
  try {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ trustProxy: ['10.0.0.0/8', 'proxy.example'] }));
    const r = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', file], { encoding: 'utf8' });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /trustProxy/);
    writeFileSync(file, JSON.stringify({ trustProxy: '10.0.0.1, 10.0.0.2' }));
    assert.equal(spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', file], { encoding: 'utf8' }).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
