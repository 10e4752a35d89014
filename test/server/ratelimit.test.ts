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
  assert.equal(srv.query("SELECT count(*) AS n FROM agents")[0].n, 2);
});
