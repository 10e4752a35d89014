/** Bad-input matrix: every case gets the right 4xx problem+json naming the field; the server keeps serving. */
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRequest, startServer, TEST_ENROLL_SECRET, type HttpResult, type TestAgent, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let a: TestAgent;
let b: TestAgent;
let aLease: string;

before(async () => {
  srv = await startServer({ products: [{ id: 'cad', seats: 5, leaseTtlSeconds: 60 }] });
  a = await srv.enroll('bad-a');
  b = await srv.enroll('bad-b');
  const r = await a.post('/v1/leases', leaseRequest({ host: a.host }));
  aLease = r.body.leaseId;
});
after(async () => {
  await srv.cleanup();
});

function assertProblem(r: HttpResult, status: number, code: string, field?: string) {
  assert.equal(r.status, status, `status for ${code}: ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.body.code, code, r.text);
  assert.equal(r.body.status, status);
  assert.ok(r.body.type.endsWith(code));
  if (field !== undefined) assert.equal(r.body.field, field, r.text);
  assert.ok(!/\bat .*\.js:\d+/.test(r.text), 'no stack trace');
}

test('lease request: each field wrong in turn', async () => {
  const good = leaseRequest({ host: a.host });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['product number', { product: 123 }, '/product'],
    ['product empty', { product: '' }, '/product'],
    ['user missing', { user: undefined }, '/user'],
    ['user too long', { user: 'x'.repeat(300) }, '/user'],
    ['host null', { host: null }, '/host'],
    ['host with U+0000', { host: 'ws\u0000x' }, '/host'],
    ['user with U+0000', { user: '\u0000' }, '/user'],
    ['pid negative', { pid: -1 }, '/pid'],
    ['pid fractional', { pid: 1.5 }, '/pid'],
    ['pid string', { pid: '42' }, '/pid'],
    ['processStart not a time', { processStart: 'yesterday' }, '/processStart'],
    ['requestId missing', { requestId: undefined }, '/requestId'],
    ['queue not boolean', { queue: 'yes' }, '/queue'],
    ['unknown field', { color: 'red' }, '/color'],
  ];
  for (const [name, patch, field] of cases) {
    const body: Record<string, unknown> = { ...good, ...patch };
    for (const k of Object.keys(patch)) if (patch[k] === undefined) delete body[k];
    const r = await a.post('/v1/leases', body);
    assertProblem(r, 400, 'validation-failed', field);
    assert.ok(Array.isArray(r.body.errors) && r.body.errors.length > 0, name);
  }
  for (const body of [[], 'a string', 42, null]) assertProblem(await a.post('/v1/leases', body), 400, 'validation-failed', '/');
});

test('malformed bodies: truncated JSON, empty JSON, 10 MB, wrong content types', async () => {
  assertProblem(
    await srv.request('POST', '/v1/leases', { token: a.agentToken, raw: '{"product":"cad","us', headers: { 'content-type': 'application/json' } }),
    400,
    'invalid-json',
    '/',
  );
  assertProblem(
    await srv.request('POST', '/v1/leases', { token: a.agentToken, raw: '', headers: { 'content-type': 'application/json' } }),
    400,
    'invalid-json',
    '/',
  );
  assertProblem(
    await srv.request('POST', '/v1/leases', { token: a.agentToken, raw: '{"__proto__":{"x":1}}', headers: { 'content-type': 'application/json' } }),
    400,
    'invalid-json',
    '/',
  );
  // A 10 MB body: the server answers 413 from the declared length without reading it, and may close
  // the connection while a client is still writing; so send over a raw socket and read the answer.
  const tooLarge = await rawPostDeclaringLength('/v1/events', 10 * 1024 * 1024, a.agentToken);
  assert.match(tooLarge.statusLine, /^HTTP\/1\.1 413 /);
  assert.match(tooLarge.head, /content-type: application\/problem\+json/i);
  assert.equal((JSON.parse(tooLarge.body) as { code: string }).code, 'body-too-large');
  assertProblem(
    await srv.request('POST', '/v1/leases', { token: a.agentToken, raw: 'product=cad', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    415,
    'unsupported-media-type',
    'header:content-type',
  );
  assertProblem(
    await srv.request('POST', '/v1/leases', { token: a.agentToken, raw: '{}', headers: { 'content-type': 'text/plain' } }),
    415,
    'unsupported-media-type',
  );
  assertProblem(await srv.request('POST', '/v1/enroll', { raw: '{}' }), 415, 'unsupported-media-type');
});

test('tokens: missing, malformed, wrong, revoked; enrollment secret', async () => {
  const body = leaseRequest();
  const noTok = await srv.request('POST', '/v1/leases', { body });
  assertProblem(noTok, 401, 'token-missing', 'header:authorization');
  assert.equal(noTok.body.action, 'enroll');
  assert.match(String(noTok.headers['www-authenticate']), /^Bearer/);
  assertProblem(await srv.request('POST', '/v1/leases', { body, headers: { authorization: 'Basic YTpi' } }), 401, 'token-missing');
  const wrong = await srv.request('POST', '/v1/leases', { body, token: 'uat_' + 'A'.repeat(43) });
  assertProblem(wrong, 401, 'token-unknown');
  assert.equal(wrong.body.action, 'enroll');
  assertProblem(await srv.request('GET', '/v1/policy', { token: a.agentToken.slice(0, -1) }), 401, 'token-unknown');

  assertProblem(
    await srv.request('POST', '/v1/enroll', { body: { enrollSecret: 'not-the-secret', host: 'x' } }),
    403,
    'enroll-secret-invalid',
    '/enrollSecret',
  );
  assertProblem(await srv.request('POST', '/v1/enroll', { body: { enrollSecret: TEST_ENROLL_SECRET } }), 400, 'validation-failed', '/host');
  assertProblem(
    await srv.request('POST', '/v1/enroll', { body: { enrollSecret: TEST_ENROLL_SECRET, host: 'h', nextSeq: 0 } }),
    400,
    'validation-failed',
    '/nextSeq',
  );

  const victim = await srv.enroll('to-revoke');
  const cli = await srv.cli('agents', 'revoke', victim.agentId);
  assert.equal(cli.code, 0, cli.stderr);
  const revoked = await victim.get('/v1/policy');
  assertProblem(revoked, 401, 'token-revoked');
  assert.equal(revoked.body.action, 'enroll');
});

test("another agent's lease and ticket ids, bad path and query parameters, unknown routes", async () => {
  assertProblem(await b.post(`/v1/leases/${aLease}/renew`), 404, 'lease-gone', 'path:id');
  assertProblem(await b.del(`/v1/leases/${aLease}`), 404, 'not-found', 'path:id');
  assertProblem(await b.get(`/v1/queue/${aLease}`), 404, 'not-found', 'path:ticket');
  assert.equal((await a.post(`/v1/leases/${aLease}/renew`)).status, 200, "still the owner's");
  assertProblem(await a.post(`/v1/leases/${'x'.repeat(200)}/renew`), 400, 'validation-failed', 'path:id');
  assertProblem(await a.post(`/v1/leases/${aLease}/renew`, { extend: 10 }), 400, 'validation-failed', '/extend');
  assertProblem(await a.del(`/v1/leases/${aLease}?reason=bored`), 400, 'validation-failed', 'query:reason');
  assertProblem(await a.get('/v1/queue/qt_x?wait=soon'), 400, 'validation-failed', 'query:wait');
  assertProblem(await a.get('/v1/queue/qt_x?wait=1&extra=1'), 400, 'validation-failed', 'query:extra');
  assertProblem(await a.get('/v1/nothing-here'), 404, 'not-found');
  assertProblem(await srv.request('PUT', '/v1/leases'), 404, 'not-found');
});

test('upload envelope: each field wrong in turn', async () => {
  const T = '2024-05-01T00:00:00Z';
  const cases: Array<[unknown, string]> = [
    [{ records: [{ seq: 0, type: 'process', time: T }] }, '/records/0/seq'],
    [{ records: [{ seq: -3, type: 'process', time: T }] }, '/records/0/seq'],
    [{ records: [{ seq: '1', type: 'process', time: T }] }, '/records/0/seq'],
    [{ records: [{ seq: 1.5, type: 'process', time: T }] }, '/records/0/seq'],
    [{ records: [{ seq: 1, time: T }] }, '/records/0/type'],
    [{ records: [{ seq: 1, type: 7, time: T }] }, '/records/0/type'],
    [{ records: [{ seq: 1, type: 'process', time: 'tuesday' }] }, '/records/0/time'],
    [{ records: [{ seq: 1, type: 'process' }] }, '/records/0/time'],
    [{ records: [{ seq: 1, type: 'process', time: T, pid: 'x' }] }, '/records/0/pid'],
    [
      {
        records: [
          { seq: 1, type: 'process', time: T },
          { seq: 2, type: 'process', time: T, start: 'noon' },
        ],
      },
      '/records/1/start',
    ],
    [{ records: [{ seq: 1, type: 'usage-event', time: T, code: 31, product: 'cad' }] }, '/records/0/code'],
    [{ records: [{ seq: 1, type: 'usage-event', time: T, product: 'cad' }] }, '/records/0/code'],
    [{ records: [{ seq: 1, type: 'usage-event', time: T, code: 1 }] }, '/records/0/product'],
    [{ records: [{ seq: 1, type: 'input-events', time: T, keyboard: 2.5 }] }, '/records/0/keyboard'],
    [{ records: [{ seq: 1, type: 'process', time: T, host: 5 }] }, '/records/0/host'],
    [{ records: ['not an object'] }, '/records/0'],
    [{ records: {} }, '/records'],
    [{}, '/records'],
    [{ records: [], more: 1 }, '/more'],
  ];
  for (const [body, field] of cases) assertProblem(await a.post('/v1/events', body), 400, 'validation-failed', field);
  // Nothing was stored by any of them.
  assert.equal((await a.get('/v1/events/ack')).body.ackedThroughSeq, 0);
});

/** Writes `text` on a fresh connection and returns everything the server sent before closing. */
async function rawExchange(text: string): Promise<{ status: number; contentType: string; body: any; raw: string }> {
  const socket = connect(srv.port, '127.0.0.1');
  await once(socket, 'connect');
  let got = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (got += chunk));
  socket.on('error', () => undefined);
  socket.write(text);
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 10_000))]);
  socket.destroy();
  const [head, ...rest] = got.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const contentType = /^content-type: *(.*)$/im.exec(head)?.[1] ?? '';
  let body: any;
  try {
    body = JSON.parse(rest.join('\r\n\r\n'));
  } catch {
    body = undefined;
  }
  return { status, contentType, body, raw: got };
}

test('requests that reach no route are answered too: CONNECT, a garbage request line, oversized headers', async () => {
  const cases: Array<[string, number, string]> = [
    ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'method-not-allowed'],
    ['GARBAGE\r\n\r\n', 400, 'malformed-request'],
    ['GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'malformed-request'],
    ['GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(20_000) + '\r\n\r\n', 431, 'headers-too-large'],
    ['\u0000\u0001\u0002 / HTTP/1.1\r\n\r\n', 400, 'malformed-request'],
  ];
  for (const [text, status, code] of cases) {
    const r = await rawExchange(text);
    assert.equal(r.status, status, `${JSON.stringify(text.slice(0, 40))}: ${r.raw.slice(0, 300)}`);
    assert.match(r.contentType, /^application\/problem\+json/);
    assert.equal(r.body?.code, code);
    assert.equal(r.body?.status, status);
  }
  // A method node knows but no route has: the router's 404 problem.
  const p = await srv.request('PROPFIND', '/v1/health');
  assertProblem(p, 404, 'not-found');
});

test('after all of that the same server process is still serving correctly', async () => {
  const h = await srv.request('GET', '/v1/health');
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'ok');
  const r = await a.post('/v1/leases', leaseRequest({ host: a.host }));
  assert.equal(r.status, 201);
  const up = await a.post('/v1/events', { records: [{ seq: 1, type: 'process', time: '2024-05-01T00:00:00Z' }] });
  assert.equal(up.body.ackedThroughSeq, 1);
  assert.doesNotMatch(srv.output(), /"level":50[^\n]*request failed/, 'no 500s were logged');
});

/** POSTs headers declaring `length` bytes, writes only the first 64 KiB, and returns the answer. */
async function rawPostDeclaringLength(path: string, length: number, token: string): Promise<{ statusLine: string; head: string; body: string }> {
  const socket = connect(srv.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${length}\r\nConnection: close\r\n\r\n`,
  );
  socket.write('{"records":[{"data":"' + 'x'.repeat(64 * 1024));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined); // the server may reset once it has answered
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 10_000))]);
  socket.destroy();
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { statusLine: head.split('\r\n')[0] ?? '', head, body };
}
