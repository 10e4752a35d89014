/**
 * PostgreSQL's roll-up shards (storage/rollups.ts, Shards): two uploads of the same commands from
 * two hosts, in two open transactions on two connections. The second one's roll-up upserts must not
 * wait for the first one's commit (lock_timeout 3 s turns a wait into an error: before the shards,
 * every upload of "bash" today waited on the one before it); after both commit, the roll-ups hold
 * each key in two shards, and the process page read from them equals the page read from the records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { processesPage } from '../../../src/server/reports/index.js';
import { ROLLUP_SHARDS } from '../../../src/server/storage/rollups.js';
import { openStore } from '../../../src/server/storage/store.js';
import { createTestDatabase } from '../../helpers/server.js';

const COMMANDS = ['bash', 'make', 'cc1'];

/** One upload's rows, as ingest stores them: process records and process-interval records of the same commands and day. */
async function insertUpload(c: pg.Client, agent: string): Promise<void> {
  const rows: string[] = [];
  const params: unknown[] = [];
  for (let i = 0; i < 30; i++) {
    const command = COMMANDS[i % 3]!;
    const interval = i % 2 === 1;
    const time = `2024-05-06T${String(10 + (i % 4)).padStart(2, '0')}:00:00.000Z`;
    params.push(
      agent,
      i + 1,
      interval ? 'process-interval' : 'process',
      time,
      command,
      `/usr/bin/${command}`,
      0,
      2,
      1,
      interval ? time : null,
      `ws-${agent}`,
      `user-${agent}`,
    );
    const b = params.length - 12;
    rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, $${b + 9}, $${b + 10}, $${b + 11}, $${b + 12})`);
  }
  await c.query(
    `INSERT INTO process_records (agent_id, seq, type, time, command, exe, exit_code, elapsed_seconds, cpu_user_seconds, interval_start, host, "user") VALUES ${rows.join(', ')}`,
    params,
  );
}

test('concurrent uploads of the same commands do not wait for each other on the roll-ups, and the sums stay exact', async (t) => {
  const db = await createTestDatabase();
  const store = await openStore(db.url, { poolSize: 2 });
  const clients: pg.Client[] = [];
  t.after(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await store.close();
    await db.drop();
  });
  // Two connections in different shards (backend pids differing modulo the shard count).
  const shardOf = new Map<pg.Client, number>();
  for (let i = 0; i < 8 && new Set(shardOf.values()).size < 2; i++) {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    const [{ pid }] = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    if (![...shardOf.values()].includes(pid % ROLLUP_SHARDS)) shardOf.set(c, pid % ROLLUP_SHARDS);
  }
  const [a, b] = [...shardOf.keys()];
  assert.ok(a && b, 'two connections in different shards');

  await a.query('BEGIN');
  await insertUpload(a, 'agent-a');
  await b.query('BEGIN');
  await b.query("SET LOCAL lock_timeout = '3s'");
  // Before the shards: "canceling statement due to lock timeout" (process_daily_command's rows held by a).
  await insertUpload(b, 'agent-b');
  await b.query('COMMIT');
  await a.query('COMMIT');

  for (const table of ['process_daily_command', 'process_hourly']) {
    const rows = (await a.query<{ shards: string; n: string }>(`SELECT count(DISTINCT shard) AS shards, sum(n) AS n FROM ${table}`)).rows[0]!;
    assert.equal(Number(rows.shards), 2, table);
    assert.equal(Number(rows.n), 30, table);
  }
  // The per-command sums over both shards, as the pages read them.
  const perCommand = (await a.query<{ command: string; n: string }>('SELECT command, sum(n) AS n FROM process_daily_command GROUP BY command ORDER BY command'))
    .rows;
  assert.deepEqual(
    perCommand.map((r) => [r.command, Number(r.n)]),
    [
      ['bash', 10],
      ['cc1', 10],
      ['make', 10],
    ],
  );
  const f = { from: Date.parse('2024-05-05T00:00:00Z'), to: Date.parse('2024-05-08T00:00:00Z'), now: Date.parse('2024-06-01T00:00:00Z') };
  const rolled = await processesPage(store.q, f, { by: ['command', 'exit'] });
  store.q.reports.useRollups = false;
  const raw = await processesPage(store.q, f, { by: ['command', 'exit'] });
  store.q.reports.useRollups = true;
  assert.deepEqual(rolled, raw);
  assert.deepEqual(rolled.rows.map((r) => `${r.key.command} ${r.count}`).sort(), ['bash 10', 'cc1 10', 'make 10']);
  assert.equal(
    rolled.hourly.reduce((n, h) => n + h.count, 0),
    30,
  );
});
