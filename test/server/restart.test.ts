/** Restart the server mid-run (SIGTERM, then SIGKILL): leases, queues and records survive. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRequest, startServer, type TestAgent, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startServer({ products: [{ id: 'cad', seats: 2, leaseTtlSeconds: 60 }], config: { queue: { keepaliveSeconds: 10 } } });
});
after(async () => {
  await srv.cleanup();
});

const T = '2024-05-01T08:00:00.000Z';
const batch = (from: number, n: number) => ({
  records: Array.from({ length: n }, (_, i) => ({ seq: from + i, type: 'process', time: T, host: 'h', pid: from + i })),
});

/** An uploader that keeps going through restarts, resuming from the server's ack after errors. */
function uploader(agent: TestAgent) {
  let stop = false;
  let acked = 0;
  let errors = 0;
  const done = (async () => {
    while (!stop) {
      try {
        const r = await agent.post('/v1/events', batch(acked + 1, 50));
        if (r.status === 200) acked = r.body.ackedThroughSeq;
        else if (r.status === 409) acked = r.body.ackedThroughSeq;
        else if (r.status === 503) errors++;
        else throw new Error(`unexpected ${r.status} ${r.text}`);
      } catch (err) {
        if (String(err).includes('unexpected')) throw err;
        errors++;
        await new Promise((res) => setTimeout(res, 50));
        try {
          acked = (await agent.get('/v1/events/ack')).body.ackedThroughSeq;
        } catch {
          /* still down */
        }
      }
    }
  })();
  return {
    async finish() {
      stop = true;
      await done;
      return { acked, errors };
    },
  };
}

test('leases, queue places and records survive a clean restart and a crash', async () => {
  const a = await srv.enroll('rs-a');
  const b = await srv.enroll('rs-b');
  const c = await srv.enroll('rs-c');
  const d = await srv.enroll('rs-d');
  const la = await a.post('/v1/leases', leaseRequest({ product: 'cad', user: 'ann', host: a.host }));
  const lb = await b.post('/v1/leases', leaseRequest({ product: 'cad', user: 'bob', host: b.host }));
  const qc = await c.post('/v1/leases', leaseRequest({ product: 'cad', user: 'cy', host: c.host, queue: true }));
  assert.deepEqual([la.status, lb.status, qc.status], [201, 201, 202]);
  assert.equal((await a.post('/v1/events', batch(1, 100))).body.ackedThroughSeq, 100);

  const up = uploader(d);
  await new Promise((r) => setTimeout(r, 300));

  // Clean restart while c is long-polling: the poll is answered (position), not dropped.
  const pending = c.get(`/v1/queue/${qc.body.ticket}?wait=5`);
  await new Promise((r) => setTimeout(r, 100));
  const oldPid = srv.pid();
  await srv.restart();
  assert.notEqual(srv.pid(), oldPid);
  const answered = await pending;
  assert.equal(answered.status, 200);
  assert.equal(answered.body.status, 'waiting');

  const check = async (expectDuplicates: number) => {
    for (const [agent, lease] of [
      [a, la],
      [b, lb],
    ] as const) {
      const r = await agent.post(`/v1/leases/${lease.body.leaseId}/renew`);
      assert.equal(r.status, 200, r.text);
    }
    const q = await c.get(`/v1/queue/${qc.body.ticket}?wait=0`);
    assert.equal(q.status, 200);
    assert.deepEqual({ status: q.body.status, position: q.body.position }, { status: 'waiting', position: 1 });
    // Still full: a newcomer is denied, the seats are not handed out twice.
    const e = await d.post('/v1/leases', leaseRequest({ product: 'cad', user: 'eve', host: d.host }));
    assert.equal(e.status, 409);
    assert.equal(e.body.inUse, 2);
    // Records already acknowledged stay acknowledged; a re-send is recognised as duplicates.
    const again = await a.post('/v1/events', batch(91, 20));
    assert.equal(again.body.duplicates, expectDuplicates);
    return again.body.ackedThroughSeq as number;
  };
  assert.equal(await check(10), 110);

  // Crash: SIGKILL in the middle of uploads, then start again.
  await new Promise((r) => setTimeout(r, 300));
  await srv.restart({ signal: 'SIGKILL' });
  await new Promise((r) => setTimeout(r, 300));
  const { acked } = await up.finish();
  const a2 = await a.get('/v1/events/ack');
  assert.equal(a2.body.ackedThroughSeq, 110);
  const lease = await a.post(`/v1/leases/${la.body.leaseId}/renew`);
  assert.equal(lease.status, 200);
  await check(20);

  // Every record the uploader was told about is stored exactly once, with no holes.
  const serverAck = (await d.get('/v1/events/ack')).body.ackedThroughSeq;
  assert.ok(serverAck >= acked);
  const [row] = await srv.sql<{ n: number; lo: number; hi: number }>(
    'SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM process_records WHERE agent_id = ?',
    d.agentId,
  );
  assert.equal(row.n, serverAck);
  if (serverAck > 0) assert.deepEqual([row.lo, row.hi], [1, serverAck]);
  assert.ok(serverAck > 50, `the uploader made progress across restarts (${serverAck})`);

  // The server logged its own starts and the clean stop.
  const ups = (await srv.sql<{ code: number }>("SELECT code FROM usage_events WHERE origin = 'server' AND code IN (19, 20) ORDER BY id")).map((r) => r.code);
  assert.deepEqual(ups, [19, 20, 19, 19]);
});

test('SIGTERM exits 0', async () => {
  assert.equal(await srv.stop('SIGTERM'), 0);
  await srv.restart();
  assert.equal((await srv.request('GET', '/v1/health')).status, 200);
});
