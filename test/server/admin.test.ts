/** Admin CLI, config errors, policy ETag, OpenAPI, health, metrics and reports of a real server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenApi } from '../../src/protocol/openapi.js';
import { leaseRequest, SERVER_CLI, startServer, type TestServer } from '../helpers/server.js';

const ADMIN = 'admin-token-0123456789abcdef';
let srv: TestServer;
before(async () => {
  srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: ['cad.exe'], paths: ['/opt/cad/**'] }, onDeny: 'terminate', gate: true }],
    config: { reports: { adminTokens: [ADMIN] }, leases: { ttlSeconds: 60 } },
  });
});
after(async () => {
  await srv.cleanup();
});

test('config errors name the file and key path and exit 78', () => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-server-cfg-'));
  try {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ leases: { ttlSeconds: -5 }, products: [{ id: 'cad', licenseType: 'borrowed', seats: 1 }], typo: true }));
    const r = spawnSync(process.execPath, [SERVER_CLI, 'serve', '--config', file], { encoding: 'utf8' });
    assert.equal(r.status, 78);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: leases\\.ttlSeconds:`));
    assert.match(r.stderr, /products\[0\]\.licenseType:/);
    assert.match(r.stderr, /typo: unknown key/);
    writeFileSync(file, '{"products": [');
    const t = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', file], { encoding: 'utf8' });
    assert.equal(t.status, 78);
    assert.match(t.stderr, /invalid JSON/);
    const missing = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', join(dir, 'nope.json')], { encoding: 'utf8' });
    assert.equal(missing.status, 78);
    assert.match(missing.stderr, /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy carries products and enforcement settings with an ETag', async () => {
  const a = await srv.enroll('pol');
  const p = await a.get('/v1/policy');
  assert.equal(p.status, 200);
  const cad = p.body.products.find((x: { id: string }) => x.id === 'cad');
  assert.deepEqual(
    {
      name: cad.name,
      type: cad.licenseType,
      seats: cad.seats,
      ttl: cad.leaseTtlSeconds,
      renew: cad.renewAfterSeconds,
      onDeny: cad.onDeny,
      exes: cad.match.executables,
      gate: cad.gate,
    },
    { name: 'CAD Pro', type: 'floating', seats: 1, ttl: 60, renew: 20, onDeny: 'terminate', exes: ['cad.exe'], gate: true },
  );
  const etag = p.headers.etag as string;
  assert.equal(etag, `"${p.body.version}"`);
  const same = await a.get('/v1/policy', { headers: { 'if-none-match': etag } });
  assert.equal(same.status, 304);
  // An admin change alters the policy and its ETag.
  const add = await srv.cli('products', 'add', 'gis', '--seats', '3', '--exe', 'gis.exe', '--name', 'GIS');
  assert.equal(add.code, 0, add.stderr);
  const gated = await srv.cli('products', 'add', 'cam', '--seats', '1', '--exe', 'cam.exe', '--gate');
  assert.equal(gated.code, 0, gated.stderr);
  const changed = await a.get('/v1/policy', { headers: { 'if-none-match': etag } });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.etag, etag);
  const byId = new Map(changed.body.products.map((x: { id: string }) => [x.id, x]));
  assert.ok(changed.body.products.some((x: { id: string; seats: number }) => x.id === 'gis' && x.seats === 3));
  // `gate` is sent only where set: agents before the field see the policy they always saw.
  assert.equal((byId.get('gis') as { gate?: boolean }).gate, undefined);
  assert.equal((byId.get('cam') as { gate?: boolean }).gate, true);
});

test('products set-seats while running hands new seats to the queue; agents list/revoke', async () => {
  const a = await srv.enroll('adm-a');
  const b = await srv.enroll('adm-b');
  const h = await a.post('/v1/leases', leaseRequest({ product: 'cad', host: a.host }));
  assert.equal(h.status, 201);
  const q = await b.post('/v1/leases', leaseRequest({ product: 'cad', host: b.host, queue: true }));
  assert.equal(q.status, 202);
  const poll = b.get(`/v1/queue/${q.body.ticket}?wait=5`);
  const set = await srv.cli('products', 'set-seats', 'cad', '2');
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stderr, /declared in/);
  const granted = await poll;
  assert.equal(granted.body.status, 'granted');

  const list = await srv.cli('products', 'list', '--json');
  assert.equal(list.code, 0);
  const products = JSON.parse(list.stdout) as Array<{ id: string; seats: number }>;
  assert.equal(products.find((p) => p.id === 'cad')!.seats, 2);
  assert.match((await srv.cli('products', 'list')).stdout, /^id\s+name\s+type\s+seats/m);
  const badAdd = await srv.cli('products', 'add', 'bad id!', '--seats', '1');
  assert.equal(badAdd.code, 2);
  assert.equal((await srv.cli('products', 'set-seats', 'nope', '1')).code, 1);
  assert.equal((await srv.cli('products', 'set-seats', 'cad', 'many')).code, 2);

  const agents = JSON.parse((await srv.cli('agents', 'list', '--json')).stdout) as Array<{ id: string; leases: number; revoked_at: string | null }>;
  assert.equal(agents.find((x) => x.id === a.agentId)!.leases, 1);
  const rv = await srv.cli('agents', 'revoke', a.agentId);
  assert.equal(rv.code, 0, rv.stderr);
  assert.equal((await srv.cli('agents', 'revoke', a.agentId)).stdout.includes('already'), true);
  const after = JSON.parse((await srv.cli('agents', 'list', '--json')).stdout) as Array<{ id: string; leases: number; revoked_at: string | null }>;
  const ra = after.find((x) => x.id === a.agentId)!;
  assert.ok(ra.revoked_at);
  assert.equal(ra.leases, 0, "a revoked agent's leases end");
  assert.equal((await a.get('/v1/leases')).status, 401);
  assert.equal((await b.del(`/v1/leases/${granted.body.lease.leaseId}`)).status, 204);
});

test('usage report over HTTP (admin token) and from the CLI', async () => {
  const today = new Date().toISOString().slice(0, 10);
  const noTok = await srv.request('GET', `/v1/reports/usage?from=${today}&to=${today}`);
  assert.equal(noTok.status, 401);
  const a = await srv.enroll('rep');
  assert.equal((await a.get(`/v1/reports/usage?from=${today}&to=${today}`)).status, 401, 'agent tokens cannot read reports');
  const r = await srv.request('GET', `/v1/reports/usage?from=${today}&to=${today}`, { token: ADMIN });
  assert.equal(r.status, 200);
  const cad = r.body.rows.find((x: { product: string }) => x.product === 'cad');
  assert.equal(cad.key, today);
  assert.equal(cad.period, 'day');
  assert.ok(cad.checkouts >= 2);
  assert.ok(cad.maxUsed >= 1 && cad.maxUsed <= 2);
  assert.equal(cad.hourOfDay.length, 24);
  assert.equal(cad.dayOfWeek.length, 7);
  const csv = await srv.request('GET', `/v1/reports/usage?from=${today}&to=${today}&format=csv`, { token: ADMIN });
  assert.match(String(csv.headers['content-type']), /^text\/csv/);
  assert.match(
    csv.text,
    /^Period,Key,Start,End,ProductId,ProductName,NrHours,Checkouts,Users,Denials,Queued,MaxUsed,MaxDesired,TotalUsed,TotalDesired,AverageUsed,AverageDesired,Hours00,/,
  );
  assert.equal((await srv.request('GET', '/v1/reports/usage?from=yesterday&to=x', { token: ADMIN })).status, 400);
  const cli = await srv.cli('report', 'usage', '--from', today, '--to', today, '--format', 'json');
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(
    JSON.parse(cli.stdout).rows.map((x: { product: string }) => x.product),
    r.body.rows.map((x: { product: string }) => x.product),
  );
  assert.equal((await srv.cli('report', 'usage', '--from', 'May 1', '--to', today)).code, 2);
});

test('OpenAPI document is served and covers every route; health and metrics', async () => {
  const o = await srv.request('GET', '/v1/openapi.json');
  assert.equal(o.status, 200);
  assert.equal(o.body.openapi, '3.1.0');
  assert.deepEqual(o.body, JSON.parse(JSON.stringify(buildOpenApi(o.body.info.version))));
  const paths = Object.keys(o.body.paths);
  for (const p of [
    '/v1/enroll',
    '/v1/policy',
    '/v1/leases',
    '/v1/leases/{id}/renew',
    '/v1/leases/{id}',
    '/v1/queue/{ticket}',
    '/v1/events',
    '/v1/events/ack',
    '/v1/health',
    '/metrics',
    '/v1/reports/usage',
  ]) {
    assert.ok(paths.includes(p), p);
  }
  for (const name of [
    'LeaseRequest',
    'LeaseGranted',
    'LeaseDenied',
    'LeaseQueued',
    'QueueStatus',
    'EventsUploadRequest',
    'UploadRecord',
    'ProcessRecord',
    'UsageEventRecord',
    'Problem',
  ]) {
    assert.ok(o.body.components.schemas[name], name);
  }
  assert.doesNotMatch(JSON.stringify(o.body), /"\$ref":"[A-Za-z]+#"/, 'all refs resolved to components');

  const h = await srv.request('GET', '/v1/health');
  assert.equal(h.body.status, 'ok');
  assert.equal(h.body.protocol, 'v1');

  const m = await srv.request('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  for (const re of [
    /^usage_server_leases_held\{product="cad"\} \d+$/m,
    /^usage_server_queue_length\{product="cad"\} 0$/m,
    /^usage_server_seats\{product="cad"\} 2$/m,
    /^usage_server_lease_grants_total\{product="cad"\} \d+$/m,
    /^usage_server_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/leases",le="0\.005"\} \d+$/m,
    /^# TYPE usage_server_http_request_duration_seconds histogram$/m,
  ]) {
    assert.match(m.text, re);
  }
});
