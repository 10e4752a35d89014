/**
 * The SQLite store's group commit: transactions queued behind a running one share its COMMIT, a
 * member that fails is undone alone, no member settles before the COMMIT (another connection sees
 * its rows by then), and a COMMIT that fails fails every member of the group, leaving nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore, type SqliteStore } from '../../../../src/server/storage/sqlite/store.js';

async function scratchStore(t: { after(fn: () => void | Promise<void>): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  const file = join(dir, 'server.db');
  const store = (await openSqliteStore(file)) as SqliteStore;
  store.db.exec('CREATE TABLE scratch (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES scratch_owner (id) DEFERRABLE INITIALLY DEFERRED)');
  store.db.exec('CREATE TABLE scratch_owner (id INTEGER PRIMARY KEY)');
  store.db.exec('INSERT INTO scratch_owner (id) VALUES (1)');
  // Another connection, as another server process or the admin CLI would read the file.
  const reader = new Database(file, { readonly: true });
  t.after(async () => {
    reader.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const seen = (id: number) => reader.prepare('SELECT 1 FROM scratch WHERE id = ?').get(id) !== undefined;
  const stored = () => (reader.prepare('SELECT id FROM scratch ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id);
  return { store, seen, stored };
}

test('an idle store commits a lone transaction by the end of its event-loop turn; queued ones share one COMMIT, a failing one is undone alone', async (t) => {
  const { store, seen, stored } = await scratchStore(t);
  await store.transaction(async (tx) => tx.sql.run('INSERT INTO scratch (id, owner) VALUES (?, 1)', [1000]));
  assert.deepEqual(store.groups, { commits: 1, members: 1 });
  assert.equal(seen(1000), true, 'committed when its promise resolved');

  const visibleAtResolve: boolean[] = [];
  const all = Array.from({ length: 50 }, (_, i) =>
    store
      .transaction(async (tx) => {
        await tx.sql.run('INSERT INTO scratch (id, owner) VALUES (?, 1)', [i]);
        if (i === 7) throw new Error('member 7 fails after its insert');
        return i;
      })
      .then((v) => {
        visibleAtResolve[i] = seen(i);
        return v;
      }),
  );
  const results = await Promise.allSettled(all);
  assert.deepEqual(
    results.map((r) => r.status),
    results.map((_, i) => (i === 7 ? 'rejected' : 'fulfilled')),
  );
  assert.match(String((results[7] as PromiseRejectedResult).reason), /member 7 fails/);
  assert.deepEqual(
    results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== 7),
  );
  assert.equal(
    visibleAtResolve.every((v, i) => i === 7 || v === true),
    true,
    'every member was visible to another connection when it resolved',
  );
  assert.deepEqual(stored(), [...Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== 7), 1000], "member 7's insert was undone, no other");
  assert.equal(store.groups.members, 1 + 49);
  assert.ok(store.groups.commits - 1 < 49 / 2, `49 members in ${store.groups.commits - 1} commits: grouped`);
});

test('a COMMIT that fails fails every member of its group and stores nothing of it; the store goes on', async (t) => {
  const { store, stored } = await scratchStore(t);
  const before = store.groups.commits;
  // Member 3 breaks a deferred foreign key, which SQLite checks at COMMIT only.
  const all = Array.from({ length: 10 }, (_, i) =>
    store.transaction(async (tx) => tx.sql.run('INSERT INTO scratch (id, owner) VALUES (?, ?)', [i, i === 3 ? 99 : 1])),
  );
  const results = await Promise.allSettled(all);
  assert.deepEqual(
    results.map((r) => r.status),
    Array(10).fill('rejected'),
  );
  for (const r of results) assert.match(String((r as PromiseRejectedResult).reason), /FOREIGN KEY/);
  assert.deepEqual(stored(), []);
  assert.equal(store.groups.commits, before);
  assert.equal(store.db.inTransaction, false);
  await store.transaction(async (tx) => tx.sql.run('INSERT INTO scratch (id, owner) VALUES (?, 1)', [42]));
  assert.deepEqual(stored(), [42]);
});

test('close() while a group waits for it commits the group first', async (t) => {
  const { store, seen } = await scratchStore(t);
  let closing: Promise<void> | undefined;
  const first = store.transaction(async (tx) => {
    await tx.sql.run('INSERT INTO scratch (id, owner) VALUES (?, 1)', [1]);
    // close() queues behind this transaction while it runs: the group stays open for it.
    closing = store.close();
    await new Promise((r) => setTimeout(r, 10));
  });
  await first;
  assert.equal(seen(1), true);
  await closing;
  assert.equal(store.db.open, false);
});
