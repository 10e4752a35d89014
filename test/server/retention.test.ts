/**
 * Retention per record type: the exact decisions (which monthly partitions go), and on a real
 * server (either store) that only records older than their type's retention go, and nothing else.
 * On PostgreSQL it is whole partitions that go; the default partitions stay empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutoff, monthOf, monthRange, partitionsToDrop, tableOfType } from '../../src/server/storage/retention.js';
import { startServer, TEST_STORE } from '../helpers/server.js';

const DAY = 86_400_000;

test('retention decisions: month ranges, table of a type, partitions entirely past their retention', () => {
  assert.deepEqual(monthRange('2024-05'), { starts: '2024-05-01', ends: '2024-06-01' });
  assert.deepEqual(monthRange('2024-12'), { starts: '2024-12-01', ends: '2025-01-01' });
  assert.equal(monthOf('2024-02-29T23:59:59.999Z'), '2024-02');
  assert.equal(monthOf('2024-13-01T00:00:00Z'), undefined);
  assert.equal(monthOf(42), undefined);
  assert.deepEqual(['process', 'process-interval', 'work', 'usage-event', 'notification'].map(tableOfType), [
    'process',
    'process',
    'activity',
    'event',
    'other',
  ]);
  const now = Date.parse('2024-07-15T12:00:00.000Z');
  assert.equal(cutoff(now, 30), '2024-06-15T12:00:00.000Z');
  const p = (type: string | null, month: string) => ({ name: `${type}_${month}`, parent: 'x', type, ...monthRange(month) });
  const parts = [
    p('process', '2024-04'),
    p('process', '2024-05'),
    p('process', '2024-06'),
    p('process-interval', '2024-04'),
    p(null, '2024-04'),
    p(null, '2024-06'),
  ];
  // 45 days before now is 2024-05-31T12:00Z: April is entirely past, May is not (it ends 06-01).
  assert.deepEqual(
    partitionsToDrop(parts, { process: 45 }, now).map((x) => x.name),
    ['process_2024-04'],
  );
  assert.deepEqual(
    partitionsToDrop(parts, { process: 44.5 }, now).map((x) => x.name),
    ['process_2024-04', 'process_2024-05'],
  );
  // usage_events partitions (type null) follow the usage-event key.
  assert.deepEqual(
    partitionsToDrop(parts, { 'usage-event': 20 }, now).map((x) => x.name),
    ['null_2024-04'],
  );
  assert.deepEqual(partitionsToDrop(parts, {}, now), []);
});

test("a server with retention removes only the records past their type's age", async (t) => {
  const now = Date.now();
  const iso = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
  const rec = (seq: number, type: string, daysAgo: number) =>
    type === 'work'
      ? {
          seq,
          type,
          time: iso(daysAgo),
          host: 'ws1',
          user: 'ann',
          start: iso(daysAgo),
          end: iso(daysAgo),
          durationSeconds: 60,
          periodType: 'uninterrupted',
          keyboard: 1,
          mouse: 1,
        }
      : {
          seq,
          type,
          time: iso(daysAgo),
          host: 'ws1',
          user: 'ann',
          pid: 100 + seq,
          command: 'cad',
          start: iso(daysAgo + 1),
          end: iso(daysAgo),
          elapsedSeconds: 60,
          exitCode: 0,
        };
  const first = await startServer({});
  t.after(() => first.cleanup());
  const a = await first.enroll('ws1');
  const records = [rec(1, 'process', 200), rec(2, 'process', 100), rec(3, 'process', 1), rec(4, 'process-interval', 200), rec(5, 'work', 200)];
  const up = await a.post('/v1/events', { records });
  assert.equal(up.status, 200, up.text);
  assert.equal(await first.stop(), 0);

  // Started again with a retention for process records only: the upkeep at start applies it.
  const second = await startServer({ db: first.db, config: { retention: { process: 150 } } });
  t.after(() => second.cleanup());
  const left = await second.sql<{ seq: number; type: string }>('SELECT seq, type FROM process_records ORDER BY seq');
  assert.deepEqual(left, [
    { seq: 2, type: 'process' },
    { seq: 3, type: 'process' },
    { seq: 4, type: 'process-interval' },
  ]);
  assert.deepEqual(await second.sql('SELECT seq FROM activity_records'), [{ seq: 5 }]);
  assert.match(second.output(), /retention removed old records/);
  if (TEST_STORE === 'postgres') {
    const parts = (await second.sql<{ name: string }>("SELECT name FROM record_partitions WHERE parent = 'process_records' ORDER BY name")).map((r) => r.name);
    const month = (daysAgo: number) => iso(daysAgo).slice(0, 7).replace('-', '');
    assert.ok(!parts.includes(`process_records_process_${month(200)}`), `the old partition was dropped: ${parts}`);
    assert.ok(
      parts.includes(`process_records_process_${month(100)}`) && parts.includes(`process_records_process_interval_${month(200)}`),
      `the others stay: ${parts}`,
    );
    for (const d of ['process_records_default', 'activity_records_default', 'other_records_default', 'usage_events_default']) {
      assert.deepEqual(await second.sql(`SELECT count(*) AS n FROM ${d}`), [{ n: 0 }], `${d} is empty`);
    }
  }
  // The acknowledgement is untouched: the agent goes on from seq 6.
  const next = await second.agent(a.agentId, a.agentToken).post('/v1/events', { records: [rec(6, 'process', 0)] });
  assert.equal(next.status, 200, next.text);
  assert.equal(next.body.ackedThroughSeq, 6);
});
