/** Usage report of a real server: events produced by real lease calls, read back over HTTP and the CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoWeekKey } from '../../src/server/reports/index.js';
import { leaseRequest, startServer } from '../helpers/server.js';

const ADMIN = 'admin-token-report-0123456789';

test('checkouts, a queue wait and a denial show up in the log and summaries with the times the database holds', async (t) => {
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 1 }],
    config: { reports: { adminTokens: [ADMIN] }, leases: { ttlSeconds: 30 } },
  });
  t.after(() => srv.cleanup());
  const a = await srv.enroll('ws-a');
  const b = await srv.enroll('ws-b');
  const c = await srv.enroll('ws-c');

  const ga = await a.post('/v1/leases', leaseRequest({ user: 'ann', host: 'ws-a' }));
  assert.equal(ga.status, 201, ga.text);
  const qb = await b.post('/v1/leases', leaseRequest({ user: 'bob', host: 'ws-b', queue: true }));
  assert.equal(qb.status, 202, qb.text);
  const dc = await c.post('/v1/leases', leaseRequest({ user: 'cy', host: 'ws-c' }));
  assert.equal(dc.status, 409, dc.text);
  assert.equal((await a.del(`/v1/leases/${ga.body.leaseId}?reason=quit`)).status, 204);
  const pb = await b.get(`/v1/queue/${qb.body.ticket}?wait=5`);
  assert.equal(pb.body.status, 'granted', pb.text);
  assert.equal((await b.del(`/v1/leases/${pb.body.lease.leaseId}`)).status, 204);

  const now = Date.now();
  const day = (d: number) => new Date(now + d * 86_400_000).toISOString().slice(0, 10);
  const qs = `from=${day(-1)}&to=${day(1)}&product=cad`;

  // Ground truth from the database.
  const leases = await srv.sql<{ id: string; user: string; host: string; pid: number; granted_at: number; ended_at: number }>(
    `SELECT id, "user", host, pid, granted_at, ended_at FROM leases WHERE product_id = 'cad' ORDER BY granted_at`,
  );
  assert.deepEqual(
    leases.map((l) => l.user),
    ['ann', 'bob'],
  );

  const log = await srv.request('GET', `/v1/reports/usage/log?${qs}`, { token: ADMIN });
  assert.equal(log.status, 200, log.text);
  const rows = log.body.rows as Array<Record<string, any>>;
  const leaseRows = rows.filter((r) => r.kind === 'lease');
  assert.deepEqual(
    leaseRows.map((r) => [r.user, r.host, r.pid, r.leaseId, r.checkout, r.checkin, r.productName, r.open]),
    leases.map((l) => [l.user, l.host, l.pid, l.id, new Date(l.granted_at).toISOString(), new Date(l.ended_at).toISOString(), 'CAD Pro', false]),
  );
  // Unless the test straddles midnight, each lease is one row whose seconds are the database's.
  if (leaseRows.length === 2)
    assert.deepEqual(
      leaseRows.map((r) => r.seconds),
      leases.map((l) => (l.ended_at - l.granted_at) / 1000),
    );
  const queueRow = rows.find((r) => r.kind === 'queue')!;
  assert.deepEqual([queueRow.user, queueRow.reason, queueRow.granted, queueRow.open], ['bob', 'granted', 0, false]);
  const denyRow = rows.find((r) => r.kind === 'deny')!;
  assert.deepEqual([denyRow.user, denyRow.host, denyRow.granted, denyRow.seconds], ['cy', 'ws-c', 0, 0]);
  assert.equal(rows.length, 4);

  const sum = await srv.request('GET', `/v1/reports/usage?${qs}&period=week`, { token: ADMIN });
  assert.equal(sum.status, 200, sum.text);
  assert.equal(sum.body.period, 'week');
  const weeks = sum.body.rows as Array<Record<string, any>>;
  const total = (k: string) => weeks.reduce((n, r) => n + r[k], 0);
  assert.ok(weeks.every((w) => w.product === 'cad'));
  assert.ok(weeks.some((w) => w.key === isoWeekKey(now)));
  assert.equal(total('checkouts'), 2);
  assert.equal(total('denials'), 1);
  assert.equal(total('queued'), 1);
  assert.equal(Math.max(...weeks.map((w) => w.maxUsed)), 1, 'one seat: never more than one in use');
  // When cy was denied, ann held the seat and bob was waiting: three wanted it.
  assert.equal(Math.max(...weeks.map((w) => w.maxDesired)), 3);
  const usedMs = leases.reduce((n, l) => n + (l.ended_at - l.granted_at), 0);
  assert.ok(Math.abs(total('totalUsed') - usedMs / 3_600_000) < 0.002, `${total('totalUsed')} vs ${usedMs} ms`);

  // The same report from the admin CLI, as CSV and JSON.
  const cliLog = await srv.cli('report', 'log', '--from', day(-1), '--to', day(1), '--format', 'csv');
  assert.equal(cliLog.code, 0, cliLog.stderr);
  const lines = cliLog.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^Date,Kind,UserName,HostName,ProcessId,ProductId,/);
  assert.deepEqual(
    lines
      .slice(1)
      .map((l) => l.split(',')[1])
      .sort(),
    ['deny', 'lease', 'lease', 'queue'],
  );
  const cliSum = await srv.cli('report', 'usage', '--from', day(-1), '--to', day(1), '--period', 'day', 'month', '--format', 'json');
  assert.equal(cliSum.code, 0, cliSum.stderr);
  const j = JSON.parse(cliSum.stdout) as { periods: string[]; rows: Array<{ period: string; checkouts: number }> };
  assert.deepEqual(j.periods, ['day', 'month']);
  for (const p of ['day', 'month'])
    assert.equal(
      j.rows.filter((r) => r.period === p).reduce((n, r) => n + r.checkouts, 0),
      2,
      p,
    );
  assert.equal((await srv.cli('report', 'usage', '--from', day(-1), '--to', day(1), '--period', 'fortnight')).code, 2);
  assert.equal((await srv.request('GET', `/v1/reports/usage?from=${day(1)}&to=${day(-1)}`, { token: ADMIN })).status, 400);
  assert.equal((await srv.request('GET', `/v1/reports/usage?${qs}&period=fortnight`, { token: ADMIN })).status, 400);
});
