/**
 * The WAL checkpoint worker keeps the WAL file bounded under writes that never pause: the store
 * writes through its commit groups, transaction after transaction with only an event-loop turn
 * between them; PASSIVE checkpoints alone never let SQLite start the file over then (shown beside
 * it), the worker's RESTART past its frame limit, run while the store holds its writers off, does;
 * and every row written is in the database after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteStore } from '../../../../src/server/storage/sqlite/store.js';

const ROW = Buffer.alloc(3000, 7);

/** Writes for `ms` through the store; returns rows written, rows stored, the largest WAL seen and the restarts. */
async function writeSteadily(file: string, restartFrames: number, ms: number) {
  const store = await openSqliteStore(file);
  store.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)');
  const checkpointer = store.checkpointInBackground(undefined, { everyMs: 20, restartFrames });
  assert.ok(checkpointer);
  let rows = 0;
  let maxWal = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await store.transaction(async (tx) => {
      for (let i = 0; i < 2; i++) await tx.sql.run('INSERT INTO t (b) VALUES (?)', [ROW]);
    });
    rows += 2;
    maxWal = Math.max(maxWal, statSync(`${file}-wal`).size);
  }
  const restarts = checkpointer.restarts;
  const [{ n }] = store.db.prepare('SELECT count(*) AS n FROM t').all() as Array<{ n: number }>;
  await store.close();
  return { rows, stored: n, maxWal, restarts };
}

test('steady writes: the WAL stays near the restart limit, where PASSIVE checkpoints alone let it grow', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'checkpoint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const limitFrames = 256; // 1 MiB of 4 KiB pages
  const bounded = await writeSteadily(join(dir, 'bounded.db'), limitFrames, 3000);
  const passive = await writeSteadily(join(dir, 'passive.db'), Number.POSITIVE_INFINITY, 3000);
  assert.ok(bounded.rows > 1000, `rows written: ${bounded.rows}`);
  assert.equal(bounded.stored, bounded.rows);
  assert.equal(passive.stored, passive.rows);
  assert.ok(bounded.restarts > 0, `restarts: ${bounded.restarts}`);
  assert.equal(passive.restarts, 0);
  // The limit plus what arrives during one checkpoint pass, against a WAL that only grows.
  assert.ok(passive.maxWal > 5 * bounded.maxWal, `PASSIVE alone reached ${passive.maxWal} bytes, with restarts ${bounded.maxWal}`);
});
