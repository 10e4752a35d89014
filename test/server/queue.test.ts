/** Waiting queue against a real server: expiry sweep hands the seat to the head's pending long-poll. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRequest, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

let srv: TestServer;

before(async () => {
  // TTL 2 s, sweep every 0.1 s, keepalive 2 s, long-poll cap 5 s (helper defaults).
  srv = await startServer({
    products: [
      { id: 'cad', seats: 1 },
      { id: 'gis', seats: 1 },
      { id: 'viz', seats: 1 },
      { id: 'cam', seats: 1 },
    ],
  });
});
after(async () => {
  await srv.cleanup();
});

test('a holder that stops renewing loses its seat; the queued client is granted through its pending long-poll', async () => {
  const holder = await srv.enroll('holder');
  const waiter = await srv.enroll('waiter');
  const third = await srv.enroll('third');
  const h = await holder.post('/v1/leases', leaseRequest({ product: 'cad', user: 'hal', host: holder.host }));
  assert.equal(h.status, 201);

  const q = await waiter.post('/v1/leases', leaseRequest({ product: 'cad', user: 'wen', host: waiter.host, queue: true }));
  assert.equal(q.status, 202);
  assert.equal(q.body.position, 1);
  const q3 = await third.post('/v1/leases', leaseRequest({ product: 'cad', user: 'tia', host: third.host, queue: true }));
  assert.equal(q3.body.position, 2);

  // The holder never renews. Both waiters keep long-polling; the head is answered with a lease.
  const thirdPolls = (async () => {
    for (;;) {
      const r = await third.get(`/v1/queue/${q3.body.ticket}?wait=1`);
      if (r.status !== 200 || r.body.status !== 'waiting' || r.body.position === 1) return r;
    }
  })();
  let granted;
  for (;;) {
    const r = await waiter.get(`/v1/queue/${q.body.ticket}?wait=5`);
    assert.equal(r.status, 200);
    if (r.body.status === 'granted') {
      granted = r.body;
      break;
    }
    assert.equal(r.body.position, 1);
  }
  assert.equal(granted.product, 'cad');
  assert.ok(granted.lease.leaseId);

  // The sweep wrote the story: holder lost, waiter dequeued and granted.
  const lost = await srv.sql<{ end_reason: string }>('SELECT end_reason FROM leases WHERE id = ?', h.body.leaseId);
  assert.equal(lost[0].end_reason, 'lost');
  const story = (
    await srv.sql<{ code: number; user: string; reason: string | null }>(
      `SELECT code, "user", reason FROM usage_events WHERE product = 'cad' AND origin = 'server' ORDER BY id`,
    )
  ).map((e) => `${e.code}:${e.user}:${e.reason ?? ''}`);
  assert.deepEqual(story, ['1:hal:', '5:wen:', '5:tia:', '2:hal:lost', '6:wen:granted', '1:wen:']);

  // The new holder renews normally; the third client moved up to the head.
  assert.equal((await waiter.post(`/v1/leases/${granted.lease.leaseId}/renew`)).status, 200);
  const t = await thirdPolls;
  assert.equal(t.body.status, 'waiting');
  assert.equal(t.body.position, 1);

  // Releasing hands the seat to the next one at once, answering its pending long-poll.
  const pending = third.get(`/v1/queue/${q3.body.ticket}?wait=5`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await waiter.del(`/v1/leases/${granted.lease.leaseId}`)).status, 204);
  const next = await pending;
  assert.equal(next.body.status, 'granted');
  assert.equal((await third.del(`/v1/leases/${next.body.lease.leaseId}`)).status, 204);
});

test('a ticket that stops polling loses its place; cancelled tickets are gone', async () => {
  const holder = await srv.enroll('gis-holder');
  const quiet = await srv.enroll('gis-quiet');
  const polite = await srv.enroll('gis-polite');
  const h = await holder.post('/v1/leases', leaseRequest({ product: 'gis', host: holder.host }));
  assert.equal(h.status, 201);
  const q1 = await quiet.post('/v1/leases', leaseRequest({ product: 'gis', host: quiet.host, queue: true }));
  const q2 = await polite.post('/v1/leases', leaseRequest({ product: 'gis', host: polite.host, queue: true }));
  assert.deepEqual([q1.body.position, q2.body.position], [1, 2]);

  // polite keeps polling (and the holder keeps renewing); quiet never polls again.
  let done = false;
  const keepAlive = (async () => {
    while (!done) {
      await holder.post(`/v1/leases/${h.body.leaseId}/renew`);
      const r = await polite.get(`/v1/queue/${q2.body.ticket}?wait=0`);
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  await waitFor(
    async () => (await srv.sql<{ state: string }>('SELECT state FROM queue WHERE ticket = ?', q1.body.ticket))[0].state === 'expired',
    'quiet ticket to expire',
  );
  const gone = await quiet.get(`/v1/queue/${q1.body.ticket}?wait=0`);
  assert.equal(gone.status, 410);
  assert.equal(gone.body.code, 'ticket-gone');
  assert.equal(gone.body.action, 'acquire');
  const moved = await polite.get(`/v1/queue/${q2.body.ticket}?wait=0`);
  assert.equal(moved.body.position, 1);
  done = true;
  await keepAlive;

  // Cancel: the ticket is gone, and the dequeue is logged with the reason.
  assert.equal((await polite.del(`/v1/queue/${q2.body.ticket}`)).status, 204);
  assert.equal((await polite.get(`/v1/queue/${q2.body.ticket}`)).status, 410);
  assert.equal((await quiet.get(`/v1/queue/${q2.body.ticket}`)).status, 404, "another agent's ticket is not found");
  const reasons = (await srv.sql<{ reason: string }>("SELECT reason FROM usage_events WHERE product = 'gis' AND code = 6 ORDER BY id")).map((r) => r.reason);
  assert.deepEqual(reasons, ['expired', 'cancelled']);
  assert.equal((await holder.del(`/v1/leases/${h.body.leaseId}`)).status, 204);
});

test('a grant nobody collects expires after a keepalive instead of stranding the seat', async () => {
  const holder = await srv.enroll('viz-holder');
  const ghost = await srv.enroll('viz-ghost');
  const h = await holder.post('/v1/leases', leaseRequest({ product: 'viz', host: holder.host }));
  const q = await ghost.post('/v1/leases', leaseRequest({ product: 'viz', host: ghost.host, queue: true }));
  // A short-lived poll keeps the ticket alive, then the ghost goes silent just as the seat frees.
  assert.equal((await ghost.get(`/v1/queue/${q.body.ticket}?wait=0`)).status, 200);
  assert.equal((await holder.del(`/v1/leases/${h.body.leaseId}`)).status, 204);
  const ticket = (await srv.sql<{ state: string; lease_id: string }>('SELECT state, lease_id FROM queue WHERE ticket = ?', q.body.ticket))[0];
  assert.equal(ticket.state, 'granted');
  await waitFor(
    async () => (await srv.sql<{ ended_at: number | null }>('SELECT ended_at FROM leases WHERE id = ?', ticket.lease_id))[0].ended_at !== null,
    'uncollected lease to end',
  );
  const late = await ghost.get(`/v1/queue/${q.body.ticket}`);
  assert.equal(late.status, 410);
  // The seat is free again.
  const again = await holder.post('/v1/leases', leaseRequest({ product: 'viz', host: holder.host }));
  assert.equal(again.status, 201);
});

test('long-poll without a grant answers with the position after the wait', async () => {
  const holder = await srv.enroll('cam-holder');
  const w = await srv.enroll('cam-waiter');
  const h = await holder.post('/v1/leases', leaseRequest({ product: 'cam', host: holder.host }));
  const q = await w.post('/v1/leases', leaseRequest({ product: 'cam', host: w.host, queue: true }));
  const renewing = holder.post(`/v1/leases/${h.body.leaseId}/renew`);
  const r = await w.get(`/v1/queue/${q.body.ticket}?wait=1`);
  await renewing;
  assert.equal(r.status, 200);
  assert.deepEqual({ status: r.body.status, position: r.body.position }, { status: 'waiting', position: 1 });
  const held = await w.get('/v1/leases');
  assert.deepEqual(
    held.body.tickets.map((t: { ticket: string }) => t.ticket),
    [q.body.ticket],
  );
  assert.equal((await w.del(`/v1/queue/${q.body.ticket}`)).status, 204);
  assert.equal((await holder.del(`/v1/leases/${h.body.leaseId}`)).status, 204);
});
