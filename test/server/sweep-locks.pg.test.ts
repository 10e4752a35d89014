/**
 * The expiry sweep locks only the products it has something to do for. A product row held locked
 * elsewhere (here by an open transaction on another connection; in a fleet, the acquires and
 * releases of a busy product) does not hold up the expiry of another product's lease. The sweep
 * used to lock every product row first, so one busy product stalled it and, behind it, every
 * acquire and release of every product.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { leaseRequest, startServer, TEST_STORE, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

let srv: TestServer;

before(async () => {
  assert.equal(TEST_STORE, 'postgres', 'runs in the PostgreSQL pass');
  // TTL 2 s, sweep every 0.1 s.
  srv = await startServer({
    products: [
      { id: 'cad', seats: 5 },
      { id: 'busy', seats: 5 },
    ],
  });
});
after(async () => {
  await srv.cleanup();
});

test('a lease of one product expires while another product row is held locked', async () => {
  const a = await srv.enroll('sweep-locks');
  const g = await a.post('/v1/leases', leaseRequest({ product: 'cad', user: 'ann', host: a.host }));
  assert.equal(g.status, 201);
  const held = new pg.Client({ connectionString: srv.db });
  await held.connect();
  try {
    await held.query('BEGIN');
    await held.query("SELECT id FROM products WHERE id = 'busy' FOR UPDATE");
    // Not renewed: past its 2 s TTL the sweep ends it, the lock on 'busy' notwithstanding.
    const ended = await waitFor(
      async () => (await srv.sql<{ end_reason: string | null }>('SELECT end_reason FROM leases WHERE id = ?', g.body.leaseId))[0]?.end_reason,
      'the sweep to end the lapsed lease',
      15_000,
    );
    assert.equal(ended, 'lost');
    // The lock is still ours: the sweep never needed it.
    const locks = await held.query("SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'transactionid'");
    assert.equal(locks.rows[0].n, 1);
  } finally {
    await held.query('ROLLBACK').catch(() => {});
    await held.end();
  }
});
