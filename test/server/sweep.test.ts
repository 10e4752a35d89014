/**
 * The expiry sweep ends a lease as lost only while it is past its expiry as the database has it
 * when it writes: a renewal that commits after the sweep read the lease (servers renew without the
 * product's lock) keeps it alive, where ending it by id alone took a seat from a holder that had
 * just been told it still has it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/server/storage/store.js';
import { leaseRequest, startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let store: Store;

before(async () => {
  // No sweep of the server's own during the test: this one plays the sweep's part step by step.
  srv = await startServer({ products: [{ id: 'cad', seats: 5 }], config: { leases: { sweepIntervalSeconds: 3600 } } });
  store = await openStore(srv.db);
});
after(async () => {
  await store.close();
  await srv.cleanup();
});

test('a lease renewed after the sweep read it as expired stays live; one not renewed is ended as lost', async () => {
  const a = await srv.enroll('sweep-host');
  const renewed = await a.post('/v1/leases', leaseRequest({ product: 'cad', user: 'ann', host: a.host, pid: 101 }));
  const lapsed = await a.post('/v1/leases', leaseRequest({ product: 'cad', user: 'bob', host: a.host, pid: 102 }));
  assert.equal(renewed.status, 201);
  assert.equal(lapsed.status, 201);
  const ids = [renewed.body.leaseId as string, lapsed.body.leaseId as string];

  // Both lapse (as if their holders had stopped renewing), and the sweep reads them as expired.
  const now = Date.now();
  await store.transaction(async (tx) => {
    for (const id of ids) await tx.sql.run('UPDATE leases SET expires_at = ? WHERE id = ?', [now - 1000, id]);
  });
  const read = (await store.q.expiredLeases(now)).map((l) => l.id).sort();
  assert.deepEqual(read, [...ids].sort());

  // One holder's renewal commits before the sweep writes.
  const r = await a.post(`/v1/leases/${ids[0]}/renew`);
  assert.equal(r.status, 200);
  assert.ok(Date.parse(r.body.expiresAt) > now);

  const ended = await store.transaction(async (tx) => Promise.all(ids.map((id) => tx.expireLease(id, now))));
  assert.deepEqual(ended, [0, 1]);
  const rows = await srv.sql<{ id: string; ended_at: number | null; end_reason: string | null }>(
    'SELECT id, ended_at, end_reason FROM leases WHERE id IN (?, ?) ORDER BY id',
    ...ids,
  );
  const byId = new Map(rows.map((x) => [x.id, x]));
  assert.equal(byId.get(ids[0])?.ended_at, null, 'the renewed lease is live');
  assert.equal(byId.get(ids[1])?.end_reason, 'lost');
  // And the renewed holder goes on renewing.
  assert.equal((await a.post(`/v1/leases/${ids[0]}/renew`)).status, 200);
});
