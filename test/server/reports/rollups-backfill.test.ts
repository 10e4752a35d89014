/**
 * The roll-up migration on a database that already has records (an upgrade): the store is put back
 * to the schema before the roll-ups (tables gone, PostgreSQL's trigger too, the version one lower), records are
 * stored there, and opening it again sums them into the roll-ups. SQLite, and PostgreSQL in the
 * second pass.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesPage } from '../../../src/server/reports/index.js';
import { batchRows } from '../../../src/server/storage/records.js';
import { POSTGRES_ROLLUPS_VERSION } from '../../../src/server/storage/postgres/schema.js';
import { SQLITE_ROLLUPS_VERSION } from '../../../src/server/storage/sqlite/schema.js';
import { recordInsertSql } from '../../../src/server/storage/sqlite/store.js';
import { openStore, type Store } from '../../../src/server/storage/store.js';
import { createTestDatabase, TEST_STORE } from '../../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'rollups-backfill-'));
let drop: (() => Promise<void>) | undefined;
after(async () => {
  await drop?.();
  rmSync(dir, { recursive: true, force: true });
});

async function store(db: string): Promise<Store> {
  return openStore(db, { poolSize: 2 });
}

test('opening a database from before the roll-ups sums the records already stored into them', async () => {
  let db = join(dir, 'server.db');
  if (TEST_STORE === 'postgres') {
    const t = await createTestDatabase();
    db = t.url;
    drop = t.drop;
  }
  let s = await store(db);
  const [{ value }] = await s.q.sql.all<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'");
  for (const st of [
    ...(s.dialect === 'postgres' ? ['DROP TRIGGER process_rollups_insert ON process_records'] : []),
    'DROP TABLE process_hourly',
    'DROP TABLE process_monthly_user',
    'DROP TABLE process_daily',
    'DROP TABLE process_daily_command',
    'DROP TABLE process_daily_user',
    'DROP TABLE process_user_groups',
  ])
    await s.q.sql.run(st);
  // Back to just before the roll-ups (later migrations run again too; they are idempotent).
  const rollupsVersion = s.dialect === 'postgres' ? POSTGRES_ROLLUPS_VERSION : SQLITE_ROLLUPS_VERSION;
  assert.ok(Number(value) >= rollupsVersion);
  await s.q.sql.run("UPDATE meta SET value = ? WHERE key = 'schema_version'", [String(rollupsVersion - 1)]);
  const intervals = [0, 1, 2].map((i) => ({
    seq: 100 + i,
    type: 'process-interval',
    time: `2024-05-06T1${i}:30:00.000Z`,
    host: 'h0',
    user: 'u0',
    command: 'make',
    exe: '/usr/bin/make',
    pid: 7,
    intervalStart: `2024-05-06T1${i}:00:00.000Z`,
    intervalEnd: `2024-05-06T1${i}:30:00.000Z`,
    elapsedSeconds: 1800,
    cpuSeconds: 10 * i,
    avgRssBytes: 1000,
    readBytes: 0,
    writeBytes: 0,
  }));
  const records = Array.from({ length: 30 }, (_, i) => ({
    seq: i + 1,
    type: 'process',
    time: new Date(Date.parse('2024-05-05T00:00:00Z') + i * 3 * 3_600_000).toISOString(),
    host: `h${i % 2}`,
    user: `u${i % 3}`,
    group: 'eng',
    pid: i,
    ppid: 1,
    command: i % 2 ? 'make' : 'cc1',
    exe: i % 2 ? '/usr/bin/make' : '/usr/lib/cc1',
    elapsedSeconds: i,
    cpuUserSeconds: 1,
    cpuSystemSeconds: 0.5,
    exitCode: i % 5 ? 0 : 2,
    source: 'pacct',
  }));
  const all = [...records, ...intervals];
  const rows = batchRows(
    'agent-1',
    all,
    all.map((_, i) => i),
    new Uint8Array(all.length),
  );
  await s.prepareRecords(all);
  await s.transaction(async (tx) => {
    for (const [table, t] of Object.entries(rows.tables)) {
      if (t.rows === 0) continue;
      // As a server before the roll-ups stored them (SQLite's insert now rolls up each batch itself).
      if (s.dialect === 'sqlite') await tx.sql.run(recordInsertSql(table as never, t.rows), t.values);
      else await tx.insertRecords(table as never, t.values, t.rows);
    }
  });
  await s.close();

  s = await store(db);
  try {
    const [{ v }] = await s.q.sql.all<{ v: string }>("SELECT value AS v FROM meta WHERE key = 'schema_version'");
    assert.equal(v, value);
    for (const table of ['process_daily', 'process_daily_command', 'process_daily_user', 'process_monthly_user']) {
      const [{ n }] = await s.q.sql.all<{ n: number }>(`SELECT sum(n) AS n FROM ${table}`);
      assert.equal(Number(n), records.length, table);
    }
    assert.deepEqual(
      await s.q.reports.userGroups(),
      [0, 1, 2].map((u) => ({ user: `u${u}`, grp: 'eng', n: 10 })),
    );
    const f = { from: Date.parse('2024-05-05T00:00:00Z'), to: Date.parse('2024-05-09T00:00:00Z'), now: Date.parse('2024-06-01T00:00:00Z') };
    const rolled = await processesPage(s.q, f, { by: ['command', 'exit'] });
    s.q.reports.useRollups = false;
    const raw = await processesPage(s.q, f, { by: ['command', 'exit'] });
    assert.deepEqual(rolled, raw);
    assert.deepEqual(
      rolled.hourly.map((h) => [h.hour, h.command, h.count, h.cpuSeconds]),
      [
        ['2024-05-06T10', 'make', 1, 0],
        ['2024-05-06T11', 'make', 1, 10],
        ['2024-05-06T12', 'make', 1, 20],
      ],
    );
    const [{ h }] = await s.q.sql.all<{ h: number }>('SELECT sum(n) AS h FROM process_hourly');
    assert.equal(Number(h), intervals.length);
    assert.deepEqual(
      rolled.rows.map((r) => [r.key.command, r.key.exit, r.count]),
      [
        ['cc1', '0', 12],
        ['make', '0', 12],
        ['cc1', '2', 3],
        ['make', '2', 3],
      ],
    );
    // Records stored after the upgrade are counted too (the trigger, or SQLite's batch roll-up).
    const more = [{ ...records[0], seq: 99, time: '2024-05-06T12:00:00.000Z' }];
    const r2 = batchRows('agent-1', more, [0], new Uint8Array(1));
    await s.transaction(async (tx) => {
      for (const [table, t] of Object.entries(r2.tables)) if (t.rows > 0) await tx.insertRecords(table as never, t.values, t.rows);
    });
    const [{ n }] = await s.q.sql.all<{ n: number }>('SELECT sum(n) AS n FROM process_daily');
    assert.equal(Number(n), records.length + 1);
  } finally {
    await s.close();
  }
});
