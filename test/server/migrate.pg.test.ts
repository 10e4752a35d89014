/**
 * `usage-server migrate`: a SQLite database populated through a real server (leases, a queue
 * ticket, an allocation, uploaded records) copied into PostgreSQL; every table's count equal, and
 * the agents go on renewing, uploading and queueing against a PostgreSQL server without enrolling
 * again. Runs in the PostgreSQL pass of `npm test` only (it needs both stores).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createTestDatabase, leaseRequest, queryStore, SERVER_CLI, startServer } from '../helpers/server.js';

const TABLES = ['products', 'agents', 'leases', 'allocations', 'queue', 'usage_events', 'process_records', 'activity_records', 'other_records'];
const products = [
  { id: 'cad', seats: 1 },
  { id: 'lab', licenseType: 'leased', seats: 2 },
];

function migrate(from: string, to: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [SERVER_CLI, 'migrate', '--from', from, '--to', to], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const processRecord = (seq: number) => ({
  seq,
  type: 'process',
  time: '2024-05-01T08:00:00.000Z',
  host: 'ws1',
  user: 'ann',
  uid: 1000,
  pid: 4000 + seq,
  command: 'cad',
  exe: '/opt/cad/bin/cad',
  start: '2024-05-01T07:00:00.000Z',
  end: '2024-05-01T08:00:00.000Z',
  elapsedSeconds: 3600,
  cpuUserSeconds: 12.5,
  exitCode: 0,
  source: 'ps',
});

test('migrate copies a populated SQLite database; agents keep working against PostgreSQL without re-enrolling', async (t) => {
  const src = await startServer({ store: 'sqlite', products, config: { leases: { ttlSeconds: 60 }, queue: { keepaliveSeconds: 60 } } });
  const target = await createTestDatabase();
  t.after(async () => {
    await src.cleanup();
    await target.drop();
  });
  const ann = await src.enroll('ws1');
  const bob = await src.enroll('ws2');
  const held = await ann.post('/v1/leases', leaseRequest({ product: 'cad', user: 'ann', host: 'ws1' }));
  assert.equal(held.status, 201, held.text);
  const queued = await bob.post('/v1/leases', leaseRequest({ product: 'cad', user: 'bob', host: 'ws2', queue: true }));
  assert.equal(queued.status, 202, queued.text);
  const lab = await bob.post('/v1/leases', leaseRequest({ product: 'lab', user: 'bob', host: 'ws2' }));
  assert.equal(lab.status, 201, lab.text);
  const work = {
    seq: 4,
    type: 'work',
    time: '2024-05-01T08:10:00.000Z',
    host: 'ws1',
    user: 'ann',
    start: '2024-05-01T08:00:00.000Z',
    end: '2024-05-01T08:10:00.000Z',
    durationSeconds: 600,
    periodType: 'uninterrupted',
    keyboard: 120,
    mouse: 300,
  };
  const note = {
    seq: 5,
    type: 'notification',
    time: '2024-05-01T08:11:00.000Z',
    host: 'ws1',
    user: 'ann',
    text: 'AutoCAD: all 1 concurrent licenses are in use.',
  };
  const up = await ann.post('/v1/events', { records: [processRecord(1), processRecord(2), processRecord(3), work, note] });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.body.ackedThroughSeq, 5);
  // A lease that ended and an event history: copied as history.
  const old = await ann.post('/v1/leases', leaseRequest({ product: 'lab', user: 'ann', host: 'ws1' }));
  assert.equal((await ann.del(`/v1/leases/${old.body.leaseId}`)).status, 204);
  assert.equal(await src.stop(), 0);

  const m = await migrate(src.dbPath, target.url);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, /every table has the same number of rows/);
  for (const table of TABLES) {
    const [a] = await queryStore<{ n: number }>(src.dbPath, `SELECT count(*) AS n FROM ${table}`);
    const [b] = await queryStore<{ n: number }>(target.url, `SELECT count(*) AS n FROM ${table}`);
    assert.equal(b.n, a.n, table);
    assert.ok(a.n > 0, `${table} was populated`);
  }
  const cols = 'id, agent_id, product_id, seat_key, "user", host, pid, process_start, request_id, granted_at, expires_at, ended_at, end_reason';
  assert.deepEqual(
    await queryStore(target.url, `SELECT ${cols} FROM leases ORDER BY id`),
    await queryStore(src.dbPath, `SELECT ${cols} FROM leases ORDER BY id`),
  );
  assert.deepEqual(
    await queryStore(target.url, 'SELECT id, token_hash, acked_seq FROM agents ORDER BY id'),
    await queryStore(src.dbPath, 'SELECT id, token_hash, acked_seq FROM agents ORDER BY id'),
  );

  // A second migrate into the now non-empty database is refused and changes nothing.
  const again = await migrate(src.dbPath, target.url);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds products/);

  const dst = await startServer({ db: target.url, products, config: { leases: { ttlSeconds: 60 }, queue: { keepaliveSeconds: 60 } } });
  t.after(() => dst.cleanup());
  const ann2 = dst.agent(ann.agentId, ann.agentToken, 'ws1');
  const bob2 = dst.agent(bob.agentId, bob.agentToken, 'ws2');
  const renewed = await ann2.post(`/v1/leases/${held.body.leaseId}/renew`, {});
  assert.equal(renewed.status, 200, renewed.text);
  assert.equal((await ann2.get('/v1/events/ack')).body.ackedThroughSeq, 5);
  const next = await ann2.post('/v1/events', { records: [processRecord(6)] });
  assert.equal(next.status, 200, next.text);
  assert.equal(next.body.ackedThroughSeq, 6);
  const dup = await ann2.post('/v1/events', { records: [processRecord(5)] });
  assert.equal(dup.body.duplicates, 1, 'a record stored before the move is a duplicate after it');
  // The queue moved too: bob is still first in line and gets the seat when ann releases it.
  const wait = await bob2.get(`/v1/queue/${queued.body.ticket}?wait=0`);
  assert.equal(wait.status, 200, wait.text);
  assert.deepEqual([wait.body.status, wait.body.position], ['waiting', 1]);
  assert.equal((await ann2.del(`/v1/leases/${held.body.leaseId}`)).status, 204);
  const granted = await bob2.get(`/v1/queue/${queued.body.ticket}?wait=5`);
  assert.equal(granted.body.status, 'granted', granted.text);
  // New rows continue after the copied ids.
  const ids = await queryStore<{ id: number }>(target.url, 'SELECT id FROM usage_events ORDER BY id');
  assert.equal(new Set(ids.map((r) => r.id)).size, ids.length);
});
