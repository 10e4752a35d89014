/**
 * Seeded fuzzer for the HTTP API, every route, against a real usage-server (both stores): mostly
 * valid requests mutated (fields dropped, retyped, hostile strings, huge arrays), random bodies and
 * content types, every auth variant, odd path parameters and query strings; then raw request lines
 * and headers over a socket. Every request must get an answer below 500, every 4xx must be
 * problem+json, the server's memory must stay bounded, and the database intact afterwards.
 * FUZZ_SEED / FUZZ_CASES (test/helpers/fuzz.ts) replay or lengthen the run.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { fuzzCases, fuzzSeed, mutate, randomJson, Rng, rssKiB } from '../helpers/fuzz.js';
import { leaseRequest, replayLeaseEvents, startServer, TEST_ENROLL_SECRET, TEST_STORE, type TestAgent, type TestServer } from '../helpers/server.js';

const ADMIN = 'fuzz-admin-token-0123456789abcdef';
let srv: TestServer;
let a: TestAgent;
let b: TestAgent;
let leaseId: string;
let ticket: string;

const T = '2026-11-30T10:00:00.000Z';
const record = (seq: number) =>
  [
    {
      seq,
      type: 'process',
      time: T,
      host: 'fz',
      user: 'ann',
      pid: 10 + seq,
      command: 'cad',
      start: T,
      end: T,
      elapsedSeconds: 1,
      exitCode: 0,
      source: 'pacct',
    },
    { seq, type: 'work', time: T, host: 'fz', user: 'ann', application: 'cad', start: T, end: T, durationSeconds: 3, keyboard: 1, mouse: 2, switch: 0 },
    {
      seq,
      type: 'usage-event',
      time: T,
      host: 'fz',
      code: 3,
      product: 'cad',
      user: 'ann',
      pid: seq,
      processStart: T,
      leaseId: null,
      reason: null,
      offline: false,
    },
  ][seq % 3];

before(async () => {
  srv = await startServer({
    products: [
      { id: 'cad', seats: 1, queue: true, leaseTtlSeconds: 60 },
      { id: 'site', licenseType: 'site' },
    ],
    config: { reports: { adminTokens: [ADMIN] }, queue: { maxWaitSeconds: 1 }, leases: { ttlSeconds: 60 } },
  });
  a = await srv.enroll('fuzz-a');
  b = await srv.enroll('fuzz-b');
  leaseId = (await a.post('/v1/leases', leaseRequest({ host: a.host }))).body.leaseId;
  const q = await b.post('/v1/leases', leaseRequest({ host: b.host, queue: true }));
  ticket = q.body.ticket ?? q.body.queue?.ticket ?? 'tk_none';
  assert.ok(leaseId, 'a lease to aim at');
});
after(async () => srv?.cleanup());

test('a client that half-closes after its request still gets the answer (a long-poll: the FIN arrives first)', async () => {
  const reply = await new Promise<string>((resolve) => {
    const s = connect(srv.port, '127.0.0.1');
    let got = '';
    s.setTimeout(15_000, () => s.destroy());
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('connect', () => s.end(`GET /v1/queue/${ticket}?wait=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${b.agentToken}\r\n\r\n`));
  });
  assert.match(reply, /^HTTP\/1\.1 200 /, JSON.stringify(reply.slice(0, 200)));
  assert.match(reply, /"status":"waiting"/);
});

interface Route {
  method: string;
  path: string;
  body?: () => unknown;
  query?: Record<string, string>;
}

function routes(): Route[] {
  let seq = 1_000;
  return [
    { method: 'POST', path: '/v1/enroll', body: () => ({ enrollSecret: TEST_ENROLL_SECRET, host: 'fz-new', os: 'linux', agentVersion: '0.1.0' }) },
    { method: 'GET', path: '/v1/policy' },
    { method: 'POST', path: '/v1/leases', body: () => leaseRequest({ host: a.host, queue: true }) },
    { method: 'GET', path: '/v1/leases' },
    { method: 'POST', path: '/v1/leases/{lease}/renew' },
    { method: 'DELETE', path: '/v1/leases/{lease}', query: { reason: 'exit' } },
    { method: 'GET', path: '/v1/queue/{ticket}', query: { wait: '0' } },
    { method: 'DELETE', path: '/v1/queue/{ticket}' },
    { method: 'POST', path: '/v1/events', body: () => ({ records: [record(seq++), record(seq++), record(seq++)] }) },
    { method: 'GET', path: '/v1/events/ack' },
    { method: 'GET', path: '/v1/reports/usage', query: { from: '2026-11-01', to: '2026-11-30', format: 'csv', period: 'day' } },
    { method: 'GET', path: '/v1/reports/usage/log', query: { from: '2026-11-01', to: '2026-11-30', product: 'cad' } },
    { method: 'GET', path: '/v1/reports/software', query: { days: '30', format: 'csv' } },
    { method: 'GET', path: '/v1/reports/software/products', query: { days: '90' } },
    { method: 'GET', path: '/v1/reports/software/reclaim', query: { days: '90', product: 'cad' } },
    { method: 'GET', path: '/v1/reports/software/inventory', query: { host: 'fz' } },
    { method: 'GET', path: '/v1/reports/software/history', query: { from: '2026-11-01', to: '2026-11-30' } },
    { method: 'GET', path: '/v1/health' },
    { method: 'GET', path: '/v1/openapi.json' },
    { method: 'GET', path: '/metrics' },
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/v1/no-such-route' },
  ];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH'];

function pathParam(rng: Rng, valid: string): string {
  if (rng.chance(0.5)) return valid;
  return rng.pick([
    () => [...Buffer.from(rng.string(40))].map((x) => `%${x.toString(16).padStart(2, '0')}`).join(''),
    () => 'x'.repeat(rng.pick([1, 300, 5000])),
    () => '%',
    () => '%zz%00',
    () => '..%2f..%2fetc%2fpasswd',
    () => valid.toUpperCase(),
    () => `${valid}/extra`,
  ])();
}

/** Header-safe (the HTTP client refuses others; the raw fuzz below sends those). */
function token(rng: Rng): string | undefined {
  return rng.pick([a.agentToken, a.agentToken, b.agentToken, ADMIN, undefined, rng.string(40).replace(/[^\x21-\x7e]/g, 'z'), `${a.agentToken}x`, '']);
}

function bodyFor(rng: Rng, route: Route): { raw?: string | Buffer; contentType?: string } {
  const valid = route.body?.() ?? {};
  const k = rng.int(10);
  if (k < 6) return { raw: JSON.stringify(mutate(rng, valid)), contentType: 'application/json' };
  if (k === 6) return { raw: JSON.stringify(valid).slice(0, rng.int(40)), contentType: 'application/json' };
  if (k === 7)
    return {
      raw: rng.bytes(rng.int(512)),
      contentType: rng.pick([
        'application/json',
        'application/octet-stream',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=latin1',
      ]),
    };
  if (k === 8)
    return { raw: JSON.stringify(randomJson(rng, 4)), contentType: rng.pick(['application/json', 'application/problem+json', 'application/merge-patch+json']) };
  return { raw: JSON.stringify(valid), contentType: 'application/json' };
}

function queryFor(rng: Rng, q: Record<string, string> | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q ?? {})) if (!rng.chance(0.2)) params.set(k, rng.chance(0.3) ? rng.string(20) : v);
  if (rng.chance(0.2)) params.set(rng.string(10), rng.string(10));
  if (rng.chance(0.1)) return `?${'a=1&'.repeat(2000)}`;
  const s = params.toString();
  return s ? `?${s}` : '';
}

test('HTTP API fuzz: every answer below 500, every 4xx problem+json, memory bounded, database intact', async (t) => {
  const seed = fuzzSeed(`http-${TEST_STORE}`);
  const cases = fuzzCases(2000);
  const rng = new Rng(seed);
  const table = routes();
  const statuses = new Map<number, number>();
  // Warm up (JIT, caches, the pool) before the memory baseline.
  for (let i = 0; i < 50; i++) await srv.request('GET', '/v1/health');
  const rssBefore = rssKiB(srv.pid());
  for (let i = 0; i < cases; i++) {
    const route = rng.pick(table);
    const method = rng.chance(0.9) ? route.method : rng.pick(METHODS);
    const path = route.path.replace('{lease}', pathParam(rng, leaseId)).replace('{ticket}', pathParam(rng, ticket)) + queryFor(rng, route.query);
    const withBody = method !== 'GET' && method !== 'HEAD' && (route.body !== undefined || rng.chance(0.3));
    const { raw, contentType } = withBody ? bodyFor(rng, route) : {};
    const headers: Record<string, string> = {};
    if (contentType) headers['content-type'] = contentType;
    if (rng.chance(0.05)) headers['if-none-match'] = rng.string(30).replace(/[^\x20-\x7e]/g, '');
    if (rng.chance(0.05)) headers['accept-encoding'] = rng.pick(['gzip', 'br', 'identity;q=0', '*']);
    const what = `case ${i} (seed ${seed}): ${method} ${path.slice(0, 200)} ${String(raw ?? '').slice(0, 200)}`;
    const r = await srv.request(method, path, { token: token(rng), raw, headers });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.ok(r.status >= 200 && r.status < 500, `${what} -> ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status >= 400 && method !== 'HEAD') {
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/, `${what} -> ${r.status} ${r.headers['content-type']}`);
      assert.equal(r.body.status, r.status, what);
      assert.ok(!/\bat .*\.js:\d+/.test(r.text), `no stack trace: ${what}`);
    }
  }
  const grown = rssKiB(srv.pid()) - rssBefore;
  t.diagnostic(
    `http fuzz seed ${seed}: ${cases} cases, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}, rss +${grown} KiB`,
  );
  assert.ok(grown < 200 * 1024, `server memory grew by ${grown} KiB over ${cases} requests`);
  assert.ok((statuses.get(200) ?? 0) > 0 && [...statuses.keys()].some((s) => s >= 400), 'the fuzzer reached both accepted and refused paths');
  assert.equal((await srv.request('GET', '/v1/health')).status, 200);
  const { max } = await replayLeaseEvents(srv, 'cad');
  assert.ok(max <= 1, `never more than the one seat of cad in use (${max})`);
  if (srv.store === 'sqlite') assert.deepEqual(srv.query('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
});

test('raw request fuzz: random request lines and headers each get an HTTP 4xx, never a silent close', async () => {
  const seed = fuzzSeed(`raw-${TEST_STORE}`);
  const cases = fuzzCases(1000);
  const rng = new Rng(seed);
  const lines = () =>
    rng.pick([
      () => `${rng.pick(METHODS)} ${rng.string(30).replace(/[\r\n ]/g, '')} HTTP/1.1`,
      () => `GET / HTTP/${rng.pick(['0.9', '2.0', '1.2', 'x', ''])}`,
      () => `${rng.string(12).replace(/[\r\n]/g, '')} / HTTP/1.1`,
      () => `GET /v1/health HTTP/1.1\r\n${rng.string(40).replace(/[\r\n]/g, '')}`,
      () => `POST /v1/events HTTP/1.1\r\nContent-Length: ${rng.pick(['-1', 'abc', '99999999999999999999', '1, 2'])}`,
      () => `GET /v1/health HTTP/1.1\r\nTransfer-Encoding: ${rng.pick(['chunked, identity', 'x', 'chunked\r\nContent-Length: 3'])}`,
      () =>
        rng
          .bytes(1 + rng.int(200))
          .toString('latin1')
          .replace(/\r\n\r\n/g, ''),
      () => `CONNECT ${rng.pick(['127.0.0.1:22', 'example.com:443', '[::1]:1'])} HTTP/1.1`,
    ])();
  let answered = 0;
  for (let i = 0; i < cases; i++) {
    const head = `${lines()}\r\nHost: 127.0.0.1\r\n\r\n`;
    const reply = await new Promise<string>((resolve) => {
      const s = connect(srv.port, '127.0.0.1');
      let got = '';
      s.setTimeout(10_000, () => s.destroy());
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
      s.on('connect', () => s.end(head, 'latin1'));
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
    assert.ok(status >= 200 && status < 500, `case ${i} (seed ${seed}): ${JSON.stringify(head.slice(0, 200))} -> ${JSON.stringify(reply.slice(0, 200))}`);
    if (status >= 400) assert.match(reply, /content-type: application\/problem\+json/i, `case ${i}: ${JSON.stringify(head.slice(0, 200))}`);
    answered++;
  }
  assert.equal(answered, cases);
  assert.equal((await srv.request('GET', '/v1/health')).status, 200);
});
