/**
 * The WAL checkpoint worker keeps the WAL file bounded under writes that never pause: PASSIVE
 * checkpoints alone never let SQLite start the file over then (shown beside it), the worker's
 * RESTART checkpoint past its frame limit does, and every row written is in the database after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Checkpointer } from '../../../../src/server/storage/sqlite/checkpoint.js';

const ROW = Buffer.alloc(3000, 7);

/** Writes for `ms` with only an event-loop turn between transactions; returns rows written and the largest WAL seen. */
async function writeSteadily(file: string, restartFrames: number, ms: number) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.pragma('busy_timeout = 250');
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)');
  const cp = new Checkpointer(file, 20, undefined, restartFrames);
  cp.start();
  const insert = db.prepare('INSERT INTO t (b) VALUES (?)');
  const tx = db.transaction(() => {
    for (let i = 0; i < 2; i++) insert.run(ROW);
  });
  let rows = 0;
  let maxWal = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      tx();
      rows += 2;
    } catch (err) {
      // The restarting checkpoint holds writers off a moment: wait and write again, as the store does.
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    }
    maxWal = Math.max(maxWal, statSync(`${file}-wal`).size);
    await new Promise((r) => setImmediate(r));
  }
  await cp.stop();
  const [{ n }] = db.prepare('SELECT count(*) AS n FROM t').all() as Array<{ n: number }>;
  db.close();
  return { rows, stored: n, maxWal, restarts: cp.restarts };
}

test('steady writes: the WAL stays near the restart limit, where PASSIVE checkpoints alone let it grow', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'checkpoint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const limitFrames = 256; // 1 MiB of 4 KiB pages
  const bounded = await writeSteadily(join(dir, 'bounded.db'), limitFrames, 3000);
  const passive = await writeSteadily(join(dir, 'passive.db'), Number.POSITIVE_INFINITY, 3000);
  assert.equal(bounded.stored, bounded.rows);
  assert.equal(passive.stored, passive.rows);
  assert.ok(bounded.restarts > 0, `restarts: ${bounded.restarts}`);
  assert.equal(passive.restarts, 0);
  // The limit plus what arrives while a restart waits for the writer lock, against a WAL that only grows.
  assert.ok(passive.maxWal > 3 * bounded.maxWal, `PASSIVE alone reached ${passive.maxWal} bytes, with restarts ${bounded.maxWal}`);
});
