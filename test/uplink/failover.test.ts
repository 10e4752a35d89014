/**
 * An agent with several servers (`server.urls`) on one database: when the server in use dies
 * (SIGKILL, in the middle of uploads), the client goes on through the next one and sticks there;
 * the lease taken through the first is renewed through the second, a reconnecting acquire gets the
 * same lease (never a second seat), and the server ends with every journal seq exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal } from '../../src/journal/journal.js';
import { UplinkClient } from '../../src/uplink/client.js';
import { Uploader } from '../../src/uplink/uploader.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

test('failover between two servers on one database: no second seat, every record once', async (t) => {
  const products = [{ id: 'cad', seats: 1 }];
  const a = await startServer({ products, config: { leases: { ttlSeconds: 30 } } });
  const b = await startServer({ products, db: a.db, config: { leases: { ttlSeconds: 30 } } });
  const dir = mkdtempSync(join(tmpdir(), 'uplink-failover-'));
  const journal = Journal.open(join(dir, 'journal.db'));
  const client = new UplinkClient({
    url: [a.url, b.url],
    enrollSecret: TEST_ENROLL_SECRET,
    requestTimeoutMs: 2000,
    dataDir: dir,
    hostname: 'ws-fail',
    nextSeq: () => journal.ackedThroughSeq() + 1,
  });
  t.after(async () => {
    await client.close();
    journal.close();
    await b.cleanup();
    await a.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const up = new Uploader(journal, client, { batchSize: 7, intervalMs: 20, maxBackoffMs: 100, baseBackoffMs: 10, hostname: 'ws-fail' });
  const req = { product: 'cad', user: 'ann', host: 'ws-fail', pid: 4242, processStart: '2024-05-01T08:00:00.000Z', requestId: 'req-1' };
  const g = await client.acquire(req);
  assert.equal(g.kind, 'granted');
  assert.equal(client.url, a.url, 'the first server is used while it answers');
  const leaseId = g.kind === 'granted' ? g.lease.leaseId : '';

  const append = (from: number, to: number) => {
    for (let n = from; n <= to; n++) journal.append({ type: 'test-rec', time: new Date().toISOString(), n });
    journal.flush();
  };
  append(1, 50);
  while ((await up.uploadOnce()) === 'more');
  assert.equal(journal.ackedThroughSeq(), 50);

  // Kill the server in use while batches are in flight; uploading goes on through the other.
  append(51, 400);
  const uploading = (async () => {
    for (let i = 0; i < 2000 && journal.ackedThroughSeq() < 400; i++) {
      const r = await up.uploadOnce();
      if (r === 'retry') await new Promise((res) => setTimeout(res, 20));
    }
  })();
  await new Promise((res) => setTimeout(res, 30));
  await a.stop('SIGKILL');
  await uploading;
  assert.equal(journal.ackedThroughSeq(), 400);
  assert.equal(client.url, b.url, 'the client moved to the live server');

  const stored = await b.sql<{ seq: number }>("SELECT seq FROM other_records WHERE type = 'test-rec' AND agent_id = ? ORDER BY seq", client.agentId);
  assert.deepEqual(
    stored.map((r) => r.seq),
    Array.from({ length: 400 }, (_, i) => i + 1),
    'every seq exactly once',
  );

  // The lease taken through the dead server: renewed through the other, and a reconnecting acquire gets it back.
  const r = await client.renew(leaseId);
  assert.equal(r.kind, 'renewed');
  const again = await client.acquire({ ...req, requestId: 'req-2' });
  assert.equal(again.kind, 'granted');
  assert.equal(again.kind === 'granted' && again.lease.leaseId, leaseId);
  assert.equal(again.kind === 'granted' && again.lease.existing, true);
  const live = await b.sql<{ n: number }>("SELECT count(*) AS n FROM leases WHERE product_id = 'cad' AND ended_at IS NULL");
  assert.equal(live[0].n, 1, 'one seat');
  assert.equal((await b.sql<{ n: number }>('SELECT count(*) AS n FROM agents'))[0].n, 1, 'one enrollment');

  // The first server comes back: the client stays where it is (no flapping), and both still agree.
  await a.restart();
  assert.equal((await client.renew(leaseId)).kind, 'renewed');
  assert.equal(client.url, b.url);
  assert.ok(await client.release(leaseId, 'quit'));
  assert.equal((await a.sql<{ n: number }>('SELECT count(*) AS n FROM leases WHERE ended_at IS NULL'))[0].n, 0);
});
