/**
 * The renewal hot path's caches: verified tokens, the store version that invalidates them (real
 * SQLite files, a second connection standing in for the admin CLI), memoised metric label keys,
 * and, against a real server, that no cache ever lets a revoked agent or an ended lease through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { VerifiedTokens } from '../../src/server/auth.js';
import { Metrics } from '../../src/server/metrics.js';
import { openSqliteDatabase, openSqliteStore } from '../../src/server/storage/sqlite/store.js';
import { leaseRequest, startServer } from '../helpers/server.js';

test('verified tokens: hit at the same version, emptied by a new version, bounded (least recently verified goes)', () => {
  const c = new VerifiedTokens<string>(2);
  assert.equal(c.get('t1', 1), undefined);
  c.set('t1', 'agent-1', 1);
  c.set('t2', 'agent-2', 1);
  assert.equal(c.get('t1', 1), 'agent-1');
  assert.equal(c.get('t2', 1), 'agent-2');
  c.set('t3', 'agent-3', 1); // at the bound: t1 (verified first) goes
  assert.equal(c.size, 2);
  assert.equal(c.get('t1', 1), undefined);
  assert.equal(c.get('t3', 1), 'agent-3');
  c.set('t2', 'agent-2', 1); // verified again: now the most recent, so t3 goes next
  c.set('t4', 'agent-4', 1);
  assert.deepEqual([c.get('t2', 1), c.get('t3', 1), c.get('t4', 1)], ['agent-2', undefined, 'agent-4']);
  // Another version (the database changed): nothing cached before it is trusted.
  assert.equal(c.get('t2', 2), undefined);
  assert.equal(c.size, 0);
  c.set('t2', 'agent-2', 2);
  assert.equal(c.get('t2', 2), 'agent-2');
  // A value cached at an older version than the current one is not kept either.
  c.set('t5', 'agent-5', 3);
  assert.equal(c.get('t2', 3), undefined);
  assert.equal(c.get('t5', 3), 'agent-5');
  c.clear();
  assert.equal(c.get('t5', 3), undefined);
  assert.throws(() => new VerifiedTokens(0), RangeError);
});

test("store change version: unchanged by this connection's writes, changed by another connection's commit and by a signalled change", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-server-version-'));
  const file = join(dir, 'v.db');
  const store = await openSqliteStore(file);
  const cli = openSqliteDatabase(file); // another connection, like the admin CLI's or a second server's
  t.after(async () => {
    await store.close();
    cli.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.q.insertAgent({
    id: 'ag_1',
    host: 'h1',
    token_hash: 'ab'.repeat(32),
    agent_version: null,
    os: null,
    enrolled_at: '2024-05-01T00:00:00.000Z',
    last_seen_at: null,
    acked_seq: 0,
  });
  const v0 = store.changeVersion();
  await nextTick();
  await store.q.touchAgent('ag_1', '2024-05-01T00:01:00.000Z');
  await store.transaction(async (tx) => tx.touchAgent('ag_1', '2024-05-01T00:01:30.000Z'));
  await nextTick();
  assert.equal(store.changeVersion(), v0, "the server's own writes do not invalidate its caches");
  cli.prepare('UPDATE agents SET revoked_at = ? WHERE id = ?').run('2024-05-01T00:02:00.000Z', 'ag_1');
  await nextTick();
  const v1 = store.changeVersion();
  assert.notEqual(v1, v0, "another connection's commit changes the version");
  await nextTick();
  assert.equal(store.changeVersion(), v1, 'and only once');
  await store.transaction(async (tx) => tx.signal({ kind: 'changed' }));
  assert.notEqual(store.changeVersion(), v1, 'a signalled change changes it at once');
  // A read-only reader (reports, the test helper) does not change it.
  await nextTick();
  const v2 = store.changeVersion();
  const ro = openSqliteDatabase(file, { readonly: true });
  ro.prepare('SELECT count(*) FROM agents').get();
  ro.close();
  await nextTick();
  assert.equal(store.changeVersion(), v2);
});

test('metrics: memoised label keys render exactly as unmemoised ones, whatever the key order', () => {
  const m = new Metrics();
  m.inc('usage_server_lease_releases_total', { product: 'cad', reason: 'lost' });
  m.inc('usage_server_lease_releases_total', { reason: 'lost', product: 'cad' });
  m.inc('usage_server_lease_releases_total', { product: 'cad', reason: 'released' });
  // Values that would collide if the cache key were a plain concatenation.
  m.inc('usage_server_lease_releases_total', { product: 'a', reason: 'bc' });
  m.inc('usage_server_lease_releases_total', { product: 'ab', reason: 'c' });
  m.inc('usage_server_ingest_records_total', { type: 'x"y\\z\n' });
  for (let i = 0; i < 3; i++) m.observeRequest('/v1/leases/:id/renew', 'POST', 200, 0.002);
  m.observeRequest('/v1/leases/:id/renew', 'POST', 404, 0.02);
  assert.equal(m.get('usage_server_lease_releases_total', { product: 'cad', reason: 'lost' }), 2);
  assert.equal(m.get('usage_server_lease_releases_total', { product: 'cad', reason: 'released' }), 1);
  assert.equal(m.get('usage_server_lease_releases_total', { product: 'a', reason: 'bc' }), 1);
  assert.equal(m.get('usage_server_lease_releases_total', { product: 'ab', reason: 'c' }), 1);
  assert.equal(m.get('usage_server_http_requests_total', { route: '/v1/leases/:id/renew', method: 'POST', code: '200' }), 3);
  const text = m.render([]);
  assert.match(text, /^usage_server_lease_releases_total\{product="cad",reason="lost"\} 2$/m);
  assert.match(text, /^usage_server_ingest_records_total\{type="x\\"y\\\\z\\n"\} 1$/m);
  assert.match(text, /^usage_server_http_requests_total\{code="404",method="POST",route="\/v1\/leases\/:id\/renew"\} 1$/m);
  assert.match(text, /^usage_server_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/leases\/:id\/renew",le="0\.0025"\} 3$/m);
  assert.match(text, /^usage_server_http_request_duration_seconds_bucket\{method="POST",route="\/v1\/leases\/:id\/renew",le="0\.025"\} 4$/m);
  assert.match(text, /^usage_server_http_request_duration_seconds_count\{method="POST",route="\/v1\/leases\/:id\/renew"\} 4$/m);
});

test('a real server: cached tokens and leases never outlive an agent revoke, a lease revoke, a release or an expiry', async (t) => {
  const srv = await startServer({
    products: [
      { id: 'cad', seats: 10, leaseTtlSeconds: 120 },
      { id: 'short', seats: 10, leaseTtlSeconds: 1 },
    ],
  });
  t.after(() => srv.cleanup());
  const agents = await Promise.all(['rv-0', 'rv-1', 'rv-2', 'keep'].map((h) => srv.enroll(h)));
  const keep = agents[3];
  const kept = await keep.post('/v1/leases', leaseRequest({ product: 'cad', host: keep.host }));
  assert.equal(kept.status, 201);
  const renew = (a: (typeof agents)[number], id: string) => a.post(`/v1/leases/${id}/renew`);

  // Agent revoke from the admin CLI (another process): the very next request is refused.
  for (const a of agents.slice(0, 3)) {
    const l = await a.post('/v1/leases', leaseRequest({ product: 'cad', host: a.host }));
    assert.equal(l.status, 201);
    for (let i = 0; i < 3; i++) assert.equal((await renew(a, l.body.leaseId)).status, 200, 'token and lease now cached');
    const cli = await srv.cli('agents', 'revoke', a.agentId);
    assert.equal(cli.code, 0, cli.stderr);
    const r = await renew(a, l.body.leaseId);
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'token-revoked');
    assert.equal((await a.get('/v1/leases')).status, 401);
    assert.equal((await renew(keep, kept.body.leaseId)).status, 200, 'other agents are not affected');
  }

  // One lease revoked from the CLI: 404 lease-gone at the next renewal, the agent's other lease lives on.
  const a1 = await keep.post('/v1/leases', leaseRequest({ product: 'cad', host: keep.host }));
  for (let i = 0; i < 3; i++) assert.equal((await renew(keep, a1.body.leaseId)).status, 200);
  const list = JSON.parse((await srv.cli('leases', 'list', '--agent', keep.agentId, '--json')).stdout) as Array<{ id: string; product: string; host: string }>;
  assert.deepEqual(list.map((l) => l.id).sort(), [kept.body.leaseId, a1.body.leaseId].sort());
  const rv = await srv.cli('leases', 'revoke', a1.body.leaseId);
  assert.equal(rv.code, 0, rv.stderr);
  const gone = await renew(keep, a1.body.leaseId);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.code, 'lease-gone');
  assert.equal((await renew(keep, kept.body.leaseId)).status, 200);
  assert.match((await srv.cli('leases', 'revoke', a1.body.leaseId)).stdout, /already ended/);
  assert.equal((await srv.cli('leases', 'revoke', 'ls_nope')).code, 1);
  assert.deepEqual(
    await srv.sql('SELECT end_reason, code FROM leases JOIN usage_events e ON e.lease_id = leases.id AND e.code = 2 WHERE leases.id = ?', a1.body.leaseId),
    [{ end_reason: 'revoked', code: 2 }],
  );

  // Released by the agent itself: 404 at once.
  const a2 = await keep.post('/v1/leases', leaseRequest({ product: 'cad', host: keep.host }));
  assert.equal((await renew(keep, a2.body.leaseId)).status, 200);
  assert.equal((await keep.del(`/v1/leases/${a2.body.leaseId}`)).status, 204);
  assert.equal((await renew(keep, a2.body.leaseId)).status, 404);

  // Expired and swept (1 s TTL, sweep every 0.1 s) after being renewed (cached): 404.
  const s1 = await keep.post('/v1/leases', leaseRequest({ product: 'short', host: keep.host }));
  assert.equal((await renew(keep, s1.body.leaseId)).status, 200);
  for (let i = 0; i < 100 && (await srv.sql('SELECT ended_at FROM leases WHERE id = ?', s1.body.leaseId))[0].ended_at === null; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal((await srv.sql('SELECT end_reason FROM leases WHERE id = ?', s1.body.leaseId))[0].end_reason, 'lost');
  assert.equal((await renew(keep, s1.body.leaseId)).status, 404);
});

test('a real server: revoking a node-locked allocation ends its leases and hands the seat to the queue', async (t) => {
  const srv = await startServer({ products: [{ id: 'lab', licenseType: 'node-locked', seats: 1, leaseTtlSeconds: 120 }] });
  t.after(() => srv.cleanup());
  const a = await srv.enroll('ws-a');
  const b = await srv.enroll('ws-b');
  const la = await a.post('/v1/leases', leaseRequest({ product: 'lab', host: a.host, user: 'ann' }));
  assert.equal(la.status, 201);
  assert.equal((await a.post(`/v1/leases/${la.body.leaseId}/renew`)).status, 200);
  const q = await b.post('/v1/leases', leaseRequest({ product: 'lab', host: b.host, user: 'bob', queue: true }));
  assert.equal(q.status, 202);
  const poll = b.get(`/v1/queue/${q.body.ticket}?wait=5`);

  const allocs = JSON.parse((await srv.cli('allocations', 'list', '--json')).stdout) as Array<{ id: number; product: string; agentId: string; host: string }>;
  assert.equal(allocs.length, 1);
  assert.deepEqual({ product: allocs[0].product, agentId: allocs[0].agentId, host: allocs[0].host }, { product: 'lab', agentId: a.agentId, host: a.host });
  const rv = await srv.cli('allocations', 'revoke', String(allocs[0].id));
  assert.equal(rv.code, 0, rv.stderr);

  const granted = await poll;
  assert.equal(granted.status, 200);
  assert.equal(granted.body.status, 'granted', 'the freed seat goes to the queue head');
  const gone = await a.post(`/v1/leases/${la.body.leaseId}/renew`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.code, 'lease-gone');
  const events = await srv.sql<{ code: number; reason: string | null; agent_id: string }>(
    "SELECT code, reason, agent_id FROM usage_events WHERE origin = 'server' AND product = 'lab' AND code IN (28, 30) ORDER BY id",
  );
  assert.deepEqual(events.slice(0, 2), [
    { code: 30, reason: 'revoked', agent_id: a.agentId },
    { code: 28, reason: 'admin', agent_id: a.agentId },
  ]);
  assert.equal((await srv.sql('SELECT revoke_reason FROM allocations WHERE id = ?', allocs[0].id))[0].revoke_reason, 'admin');
  assert.match((await srv.cli('allocations', 'revoke', String(allocs[0].id))).stdout, /already revoked/);
  assert.equal((await srv.cli('allocations', 'revoke', '999')).code, 1);
  const live = JSON.parse((await srv.cli('allocations', 'list', '--json')).stdout) as Array<{ agentId: string }>;
  assert.deepEqual(
    live.map((x) => x.agentId),
    [b.agentId],
  );
});
