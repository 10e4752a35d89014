/** Record uploads: idempotent by (agent, seq), gaps reported, typed tables, unknown types kept. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv.cleanup();
});

const T = '2024-05-01T08:00:00.000Z';
function rec(seq: number, type = 'process', extra: Record<string, unknown> = {}) {
  const byType: Record<string, Record<string, unknown>> = {
    process: {
      user: 'ann',
      uid: 1000,
      pid: 100 + seq,
      ppid: 1,
      command: 'cad --big',
      exe: '/opt/cad/bin/cad',
      start: T,
      end: T,
      elapsedSeconds: 5,
      cpuUserSeconds: 1.5,
      exitCode: 0,
      source: 'pacct',
    },
    'process-interval': { user: 'ann', pid: 7, command: 'cad', intervalStart: T, intervalEnd: T, cpuSeconds: 0.25 },
    break: { user: 'ann', start: T, end: T, durationSeconds: 12, breakType: 'short' },
    'input-events': { user: 'ann', application: 'cad', start: T, end: T, keyboard: 10, mouse: 4, switch: 1 },
    'usage-event': { code: 3, product: 'cad', user: 'ann', pid: 7, processStart: T, offline: false },
  };
  return { seq, type, time: T, host: 'ws-1', ...(byType[type] ?? {}), ...extra };
}

const count = async (table: string, agentId: string) => (await srv.sql<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE agent_id = ?`, agentId))[0].n;

test('overlapping re-sends never store a record twice; the ack is the contiguous high-water mark', async () => {
  const a = await srv.enroll('up-1');
  const r1 = await a.post('/v1/events', { records: [rec(1), rec(2), rec(3)] });
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.body, { ackedThroughSeq: 3, stored: 3, duplicates: 0 });

  // The ack was lost; the agent re-sends 2..5.
  const r2 = await a.post('/v1/events', { records: [rec(2), rec(3), rec(4), rec(5)] });
  assert.deepEqual(r2.body, { ackedThroughSeq: 5, stored: 2, duplicates: 2 });
  // Exactly the same batch twice at the same moment.
  const batch = { records: [rec(6), rec(7), rec(8)] };
  const [x, y] = await Promise.all([a.post('/v1/events', batch), a.post('/v1/events', batch)]);
  assert.deepEqual([x.body.ackedThroughSeq, y.body.ackedThroughSeq], [8, 8]);
  assert.equal(x.body.stored + y.body.stored, 3);
  assert.equal(await count('process_records', a.agentId), 8);
  assert.deepEqual((await a.get('/v1/events/ack')).body, { ackedThroughSeq: 8 });
  // An empty batch is a cheap way to ask for the ack too.
  assert.deepEqual((await a.post('/v1/events', { records: [] })).body, { ackedThroughSeq: 8, stored: 0, duplicates: 0 });
});

test('a gap is refused with the expected seq; the prefix before the hole is stored', async () => {
  const a = await srv.enroll('up-gap');
  const r = await a.post('/v1/events', { records: [rec(3), rec(4)] });
  assert.equal(r.status, 409);
  assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
  assert.equal(r.body.code, 'seq-gap');
  assert.equal(r.body.action, 'resend-from');
  assert.equal(r.body.expectedSeq, 1);
  assert.equal(r.body.receivedSeq, 3);
  assert.equal(r.body.ackedThroughSeq, 0);
  assert.equal(await count('process_records', a.agentId), 0);

  const p = await a.post('/v1/events', { records: [rec(1), rec(2), rec(4), rec(5)] });
  assert.equal(p.status, 409);
  assert.equal(p.body.ackedThroughSeq, 2);
  assert.equal(p.body.expectedSeq, 3);
  assert.equal(await count('process_records', a.agentId), 2);

  // The agent resends from 3 (seq 3 is a journal-drop placeholder for compacted records).
  const ok = await a.post('/v1/events', { records: [rec(3, 'journal-drop', { dropped: 120, fromTime: T }), rec(4), rec(5)] });
  assert.deepEqual(ok.body, { ackedThroughSeq: 5, stored: 3, duplicates: 0 });
});

test('records land in their tables with typed columns; unknown types are stored generically', async () => {
  const a = await srv.enroll('up-types');
  const records = [
    rec(1, 'process', { futureField: { nested: true } }),
    rec(2, 'process-interval'),
    rec(3, 'break'),
    rec(4, 'input-events'),
    rec(5, 'usage-event', { leaseId: 'ls_x', reason: 'crashed' }),
    rec(6, 'notification', { message: 'License for CAD will expire' }),
    rec(7, 'work', { time: '2024-05-01T10:00:00+02:00' }),
  ];
  const r = await a.post('/v1/events', { records });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.ackedThroughSeq, 7);

  const p = await srv.sql('SELECT * FROM process_records WHERE agent_id = ? ORDER BY seq', a.agentId);
  assert.equal(p.length, 2);
  assert.equal(p[0].command, 'cad --big');
  assert.equal(p[0].cpu_user_seconds, 1.5);
  assert.equal(p[0].host, 'ws-1');
  assert.deepEqual(JSON.parse(p[0].extra), { futureField: { nested: true } });
  assert.equal(p[1].cpu_seconds, 0.25);
  const act = await srv.sql('SELECT * FROM activity_records WHERE agent_id = ? ORDER BY seq', a.agentId);
  assert.deepEqual(
    act.map((x) => x.type),
    ['break', 'input-events', 'work'],
  );
  assert.equal(act[1].switch_count, 1);
  assert.equal(act[2].time, '2024-05-01T08:00:00.000Z', 'times are normalised to UTC');
  const ev = await srv.sql("SELECT * FROM usage_events_named WHERE agent_id = ? AND origin = 'agent'", a.agentId);
  assert.equal(ev.length, 1);
  assert.equal(ev[0].event_name, 'launch');
  assert.equal(ev[0].reason, 'crashed');
  assert.equal(ev[0].offline, 0);
  const other = await srv.sql('SELECT * FROM other_records WHERE agent_id = ?', a.agentId);
  assert.equal(other.length, 1);
  assert.equal(JSON.parse(other[0].data).message, 'License for CAD will expire');
  // The event-name table follows the KeyServer codes.
  const names = await srv.sql<{ code: number; name: string }>('SELECT code, name FROM event_names ORDER BY code');
  assert.equal(names.length, 30);
  assert.equal(names[9].name, 'launch offline');
});

test("records are per agent: the same seqs from two agents are both stored; enroll can resume a journal's seq", async () => {
  const a = await srv.enroll('up-a');
  const b = await srv.enroll('up-b');
  assert.equal((await a.post('/v1/events', { records: [rec(1), rec(2)] })).body.ackedThroughSeq, 2);
  assert.equal((await b.post('/v1/events', { records: [rec(1), rec(2)] })).body.ackedThroughSeq, 2);
  assert.equal(await count('process_records', a.agentId), 2);
  assert.equal(await count('process_records', b.agentId), 2);

  // A re-enrolled agent whose journal is at seq 501 continues from there.
  const c = await srv.enroll('up-c', { nextSeq: 501 });
  assert.equal((await c.get('/v1/events/ack')).body.ackedThroughSeq, 500);
  assert.equal((await c.post('/v1/events', { records: [rec(501), rec(502)] })).body.ackedThroughSeq, 502);
});
