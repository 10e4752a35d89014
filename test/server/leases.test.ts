/** Seat accounting against a real usage-server process: races, idempotency, ownership, license types. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRequest, startServer, type TestAgent, type TestServer, replayLeaseEvents } from '../helpers/server.js';

let srv: TestServer;

before(async () => {
  srv = await startServer({
    products: [
      { id: 'race', seats: 10, leaseTtlSeconds: 120 },
      { id: 'cad', seats: 1, leaseTtlSeconds: 120 },
      { id: 'site', licenseType: 'site' },
      { id: 'leased', licenseType: 'leased', seats: 1, leaseTtlSeconds: 120 },
      { id: 'nolicense', seats: 0 },
    ],
  });
});
after(async () => {
  await srv.cleanup();
});

test('200 concurrent clients racing for 10 seats over many rounds never hold more than 10', async () => {
  const agents: TestAgent[] = [];
  for (let i = 0; i < 200; i += 50) agents.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => srv.enroll(`race-host-${i + j}`)))));
  let dbMax = 0;
  let samplerError: Error | undefined;
  let sampling = false;
  const sampleDb = async () => {
    if (sampling) return;
    sampling = true;
    const [{ n }] = await srv
      .sql<{ n: number }>("SELECT count(*) AS n FROM leases WHERE product_id = 'race' AND ended_at IS NULL")
      .finally(() => (sampling = false));
    dbMax = Math.max(dbMax, n);
    assert.ok(n <= 10, `database shows ${n} live leases`);
  };
  try {
    // Burst rounds: everyone at once; exactly 10 win, the rest are denied with the seat count.
    for (let round = 0; round < 8; round++) {
      const rs = await Promise.all(agents.map((a, i) => a.post('/v1/leases', leaseRequest({ product: 'race', user: `u${i}`, host: a.host }))));
      const won = rs.flatMap((r, i) => (r.status === 201 ? [{ agent: agents[i], leaseId: r.body.leaseId as string }] : []));
      const denied = rs.filter((r) => r.status === 409);
      assert.equal(won.length, 10, `round ${round}: granted`);
      assert.equal(denied.length, 190, `round ${round}: denied`);
      for (const d of denied) {
        assert.equal(d.body.code, 'lease-denied');
        assert.equal(d.body.seats, 10);
        assert.equal(d.body.inUse, 10);
        assert.equal(d.headers['content-type'], 'application/problem+json; charset=utf-8');
      }
      assert.equal(new Set(won.map((w) => w.leaseId)).size, 10);
      await sampleDb();
      assert.equal(dbMax, 10);
      const rel = await Promise.all(won.map((w) => w.agent.del(`/v1/leases/${w.leaseId}`)));
      assert.ok(rel.every((r) => r.status === 204));
    }

    // Churn: every client loops acquire -> hold -> release; the count of holders seen from the
    // responses (incremented on grant, decremented before the release is sent) never exceeds 10.
    let holders = 0;
    let maxHolders = 0;
    let grants = 0;
    const sampler = setInterval(() => void sampleDb().catch((err: Error) => (samplerError = err)), 5);
    await Promise.all(
      agents.map(async (a, i) => {
        for (let k = 0; k < 6; k++) {
          const r = await a.post('/v1/leases', leaseRequest({ product: 'race', user: `u${i}`, host: a.host, pid: 50_000 + k }));
          if (r.status !== 201) {
            assert.equal(r.status, 409);
            continue;
          }
          grants++;
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          assert.ok(holders <= 10, `${holders} holders`);
          await new Promise((res) => setTimeout(res, Math.random() * 3));
          holders--;
          const d = await a.del(`/v1/leases/${r.body.leaseId}`);
          assert.equal(d.status, 204);
        }
      }),
    );
    clearInterval(sampler);
    while (sampling) await new Promise((r) => setTimeout(r, 5));
    await sampleDb();
    assert.equal(samplerError, undefined, 'the database sampler');
    assert.ok(grants >= 10, `some grants during churn (${grants})`);
    assert.ok(maxHolders <= 10);
  } finally {
    /* nothing to close: each sample is its own connection */
  }
  // The event log replays the whole history: never more than 10 at any instant, all returned.
  const ev = await replayLeaseEvents(srv, 'race');
  assert.equal(ev.max, 10);
  assert.equal(ev.final, 0);
  const [{ n }] = await srv.sql<{ n: number }>("SELECT count(*) AS n FROM leases WHERE product_id = 'race' AND ended_at IS NULL");
  assert.equal(n, 0);
});

test('retried acquires (same requestId) and reconnects (same process) never take a second seat', async () => {
  const a = await srv.enroll('idem-host');
  const b = await srv.enroll('idem-other');
  const req = leaseRequest({ product: 'cad', user: 'ann', host: a.host });
  // Ten identical requests at once, as a client retrying over a flaky network would send.
  const rs = await Promise.all(Array.from({ length: 10 }, () => a.post('/v1/leases', req)));
  assert.ok(
    rs.every((r) => r.status === 201),
    rs.map((r) => r.status).join(','),
  );
  const ids = new Set(rs.map((r) => r.body.leaseId));
  assert.equal(ids.size, 1);
  assert.equal(rs.filter((r) => r.body.existing === false).length, 1);
  const leaseId = rs[0].body.leaseId as string;

  // Reconnect after a network drop: new requestId, same process identity.
  const again = await a.post('/v1/leases', { ...req, requestId: 'after-reconnect-1' });
  assert.equal(again.status, 201);
  assert.equal(again.body.leaseId, leaseId);
  assert.equal(again.body.existing, true);

  // The single seat is taken exactly once: another user is denied.
  const other = await b.post('/v1/leases', leaseRequest({ product: 'cad', user: 'bob', host: b.host }));
  assert.equal(other.status, 409);
  assert.equal(other.body.inUse, 1);
  const [{ n }] = await srv.sql<{ n: number }>("SELECT count(*) AS n FROM leases WHERE product_id = 'cad' AND ended_at IS NULL");
  assert.equal(n, 1);

  // Same user on the same host, second process: shares the seat (one license per user+host).
  const second = await a.post('/v1/leases', { ...req, pid: req.pid + 1, requestId: 'second-window' });
  assert.equal(second.status, 201);
  assert.notEqual(second.body.leaseId, leaseId);

  // A requestId reused for a different process is a client bug, reported as such.
  const reused = await a.post('/v1/leases', { ...req, pid: 7, requestId: req.requestId });
  assert.equal(reused.status, 422);
  assert.equal(reused.body.field, '/requestId');

  // Queued requests are idempotent too: a retry returns the same ticket.
  const q1 = leaseRequest({ product: 'cad', user: 'bob', host: b.host, queue: true });
  const t1 = await b.post('/v1/leases', q1);
  const t2 = await b.post('/v1/leases', q1);
  assert.equal(t1.status, 202);
  assert.equal(t2.status, 202);
  assert.equal(t2.body.ticket, t1.body.ticket);
  assert.equal(t2.body.existing, true);
  assert.equal(t2.body.position, 1);

  for (const id of [leaseId, second.body.leaseId]) assert.equal((await a.del(`/v1/leases/${id}`)).status, 204);
  assert.equal((await b.del(`/v1/queue/${t1.body.ticket}`)).status, 204);
});

test('renew, release (idempotent) and ownership: an agent acts only on its own leases', async () => {
  const a = await srv.enroll('own-a');
  const b = await srv.enroll('own-b');
  const g = await a.post('/v1/leases', leaseRequest({ product: 'site', host: a.host }));
  assert.equal(g.status, 201);
  const id = g.body.leaseId as string;
  assert.equal(g.body.ttlSeconds, 2);
  assert.ok(Date.parse(g.body.renewAfter) < Date.parse(g.body.expiresAt));

  await new Promise((r) => setTimeout(r, 20));
  const renewed = await a.post(`/v1/leases/${id}/renew`);
  assert.equal(renewed.status, 200);
  assert.ok(Date.parse(renewed.body.expiresAt) > Date.parse(g.body.expiresAt));
  assert.equal((await a.post(`/v1/leases/${id}/renew`, {})).status, 200);

  const held = await a.get('/v1/leases');
  assert.equal(held.status, 200);
  assert.deepEqual(
    held.body.leases.map((l: { leaseId: string }) => l.leaseId),
    [id],
  );

  // Another agent's token cannot see, renew or release it.
  const r1 = await b.post(`/v1/leases/${id}/renew`);
  assert.equal(r1.status, 404);
  assert.equal(r1.body.code, 'lease-gone');
  assert.equal((await b.del(`/v1/leases/${id}`)).status, 404);
  assert.equal((await b.get('/v1/leases')).body.leases.length, 0);

  assert.equal((await a.del(`/v1/leases/${id}?reason=quit`)).status, 204);
  assert.equal((await a.del(`/v1/leases/${id}`)).status, 204, 'release is idempotent');
  const gone = await a.post(`/v1/leases/${id}/renew`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.action, 'acquire');
  assert.equal((await a.del('/v1/leases/ls_never_existed')).status, 404);
});

test('license types: site is unlimited, leased allocations use codes 27/29/30, zero seats deny without queue', async () => {
  const a = await srv.enroll('types-a');
  const b = await srv.enroll('types-b');
  const site = await Promise.all(Array.from({ length: 30 }, (_, i) => a.post('/v1/leases', leaseRequest({ product: 'site', user: `s${i}` }))));
  assert.ok(site.every((r) => r.status === 201));

  const l1 = await a.post('/v1/leases', leaseRequest({ product: 'leased', user: 'ann', host: a.host }));
  assert.equal(l1.status, 201);
  assert.equal((await a.del(`/v1/leases/${l1.body.leaseId}`)).status, 204);
  // The allocation outlives the program: ann gets it again, bob does not.
  const l2 = await a.post('/v1/leases', leaseRequest({ product: 'leased', user: 'ann', host: a.host }));
  assert.equal(l2.status, 201);
  const lb = await b.post('/v1/leases', leaseRequest({ product: 'leased', user: 'bob', host: b.host }));
  assert.equal(lb.status, 409);
  const codes = (await srv.sql<{ code: number }>("SELECT code FROM usage_events WHERE product = 'leased' AND origin = 'server' ORDER BY id")).map(
    (r) => r.code,
  );
  assert.deepEqual(codes, [27, 29, 30, 29, 7]);

  const none = await a.post('/v1/leases', leaseRequest({ product: 'nolicense', queue: true }));
  assert.equal(none.status, 409);
  assert.equal(none.body.reason, 'no-seats');
  assert.equal(none.body.queueAvailable, false);

  const unknown = await a.post('/v1/leases', leaseRequest({ product: 'no-such-product' }));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.code, 'unknown-product');
  assert.equal(unknown.body.field, '/product');
});
