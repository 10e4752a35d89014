import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Journal } from '../../src/journal/journal.js';
import { SCHEMA_VERSION } from '../../src/journal/migrations.js';
import { tempDir } from '../helpers/cli.js';

const now = () => new Date().toISOString();

test('seq is gap-free and increasing across flushes and reopen', (t) => {
  const path = join(tempDir(t), 'j.db');
  let journal = Journal.open(path);
  for (let i = 0; i < 5; i++) journal.append({ type: 'a', time: now(), i });
  assert.equal(journal.flush(), 5);
  journal.append({ type: 'b', time: now(), i: 5 });
  journal.close();
  journal = Journal.open(path);
  journal.append({ type: 'a', time: now(), i: 6 });
  journal.close();
  const reader = Journal.open(path, { readonly: true });
  const records = reader.read();
  reader.close();
  assert.deepEqual(
    records.map((r) => r.seq),
    [1, 2, 3, 4, 5, 6, 7],
  );
  assert.deepEqual(
    records.map((r) => r.i),
    [0, 1, 2, 3, 4, 5, 6],
  );
  assert.equal(records[5]!.type, 'b');
});

test('seq keeps counting after acknowledged records are deleted', (t) => {
  const journal = Journal.open(join(tempDir(t), 'j.db'));
  t.after(() => journal.close());
  for (let i = 0; i < 3; i++) journal.append({ type: 'a', time: now() });
  journal.flush();
  journal.markAcked(3);
  assert.equal(journal.read().length, 0);
  journal.append({ type: 'a', time: now() });
  journal.flush();
  assert.deepEqual(
    journal.read().map((r) => r.seq),
    [4],
  );
  assert.equal(journal.ackedThroughSeq(), 3);
  journal.markAcked(2); // a stale ack never moves backwards
  assert.equal(journal.ackedThroughSeq(), 3);
});

test('read filters by type, time and seq; iterate pages through everything', (t) => {
  const journal = Journal.open(join(tempDir(t), 'j.db'));
  t.after(() => journal.close());
  journal.append({ type: 'process', time: '2026-01-01T00:00:00.000Z' });
  journal.append({ type: 'break', time: '2026-01-02T00:00:00.000Z' });
  journal.append({ type: 'process', time: '2026-01-03T00:00:00.000Z' });
  journal.flush();
  assert.deepEqual(
    journal.read({ types: ['process'] }).map((r) => r.seq),
    [1, 3],
  );
  assert.deepEqual(
    journal.read({ since: '2026-01-02T00:00:00.000Z' }).map((r) => r.seq),
    [2, 3],
  );
  assert.deepEqual(
    journal.read({ afterSeq: 1, limit: 1 }).map((r) => r.seq),
    [2],
  );
  assert.deepEqual(
    [...journal.iterate({}, 2)].map((r) => r.seq),
    [1, 2, 3],
  );
  assert.deepEqual(journal.stats().byType, { process: 2, break: 1 });
});

test('a cursor commits atomically with the records appended before it', (t) => {
  const journal = Journal.open(join(tempDir(t), 'j.db'));
  t.after(() => journal.close());
  journal.append({ type: 'a', time: now() });
  journal.setCursor('reader', { offset: 64 });
  assert.equal(journal.getCursor('reader'), undefined, 'not visible before the flush');
  journal.flush();
  assert.deepEqual(journal.getCursor('reader'), { offset: 64 });
});

test('a buffer-full early flush never separates a record from the cursor set right after it', async (t) => {
  const journal = Journal.open(join(tempDir(t), 'j.db'), { maxBuffered: 3 });
  t.after(() => journal.close());
  for (let n = 1; n <= 3; n++) {
    journal.append({ type: 'a', time: now(), n });
    journal.setCursor('reader', n); // the third append fills the buffer
  }
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(journal.stats().pendingInMemory, 0, 'the early flush ran');
  assert.equal(journal.read().length, 3);
  assert.equal(journal.getCursor('reader'), 3, 'the cursor committed with the record it follows');
});

test('the group-commit timer flushes without an explicit flush', async (t) => {
  const path = join(tempDir(t), 'j.db');
  const journal = Journal.open(path, { flushIntervalMs: 20 });
  t.after(() => journal.close());
  const commits: number[] = [];
  let committed: () => void = () => undefined;
  journal.onCommit((seq) => {
    commits.push(seq);
    committed();
  });
  const nextCommit = () => new Promise<void>((resolve) => (committed = resolve));
  // The journal's timer is unref'd (it must not keep a stopping daemon alive); this one holds the test open.
  const keepAlive = setTimeout(() => undefined, 10_000);
  assert.equal(journal.flushScheduled, false, 'nothing buffered: no timer wakes an idle daemon');
  let next = nextCommit();
  journal.append({ type: 'a', time: now() });
  journal.append({ type: 'b', time: now() });
  assert.equal(journal.flushScheduled, true);
  await next;
  assert.deepEqual(commits, [2], 'both appends in one commit');
  assert.equal(journal.flushScheduled, false, 'disarmed once the buffer is empty');
  // A cursor update alone arms it too (it must not wait for the next record).
  next = nextCommit();
  journal.setCursor('reader', 7);
  assert.equal(journal.flushScheduled, true);
  await next;
  assert.equal(journal.getCursor('reader'), 7);
  assert.equal(journal.flushScheduled, false);
  clearTimeout(keepAlive);
  const reader = Journal.open(path, { readonly: true });
  assert.equal(reader.read().length, 2);
  reader.close();
});

test('migrations set user_version; a newer journal is refused, not damaged', (t) => {
  const path = join(tempDir(t), 'j.db');
  Journal.open(path).close();
  const db = new Database(path);
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(() => Journal.open(path), /newer than this agent understands/);
});

test('kill -9 during heavy writing, repeated: contiguous seq, no duplicates, cursor matches records', async (t) => {
  const path = join(tempDir(t), 'j.db');
  const child = join(dirname(fileURLToPath(import.meta.url)), 'writer-child.js');
  for (let round = 0; round < 6; round++) {
    const proc = spawn(process.execPath, [child, path, '10'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(proc.stdout!, 'data');
    // Let it write for a varying while so the kill lands at different points of the flush cycle.
    await new Promise((r) => setTimeout(r, 150 + round * 37));
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  }
  const journal = Journal.open(path);
  t.after(() => journal.close());
  const records = journal.read();
  assert.ok(records.length > 0, 'the writer committed something');
  records.forEach((r, i) => assert.equal(r.seq, i + 1, 'seq is contiguous from 1'));
  // Each record carries the writer's counter; resuming from the committed cursor means the
  // counters are exactly 1..N: nothing duplicated, nothing skipped.
  records.forEach((r, i) => assert.equal(r.n, i + 1, 'no duplicate or lost counter'));
  assert.equal(journal.getCursor('writer'), records.length);
  const check = new Database(path, { readonly: true });
  assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
  check.close();
});

// Runs as root (as the whole suite does) to mount a real, small tmpfs that fills up.
test('a full disk keeps records in memory and writes them once space returns', async (t) => {
  const dir = tempDir(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir]);
  const journal = Journal.open(join(dir, 'j.db'), { flushIntervalMs: 0 });
  try {
    const filler = join(dir, 'filler');
    try {
      // Fill the file system to the last block; dd exits non-zero when it is full, which is the point.
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      /* full */
    }
    const payload = 'y'.repeat(2000);
    for (let i = 1; i <= 300; i++) journal.append({ type: 'a', time: now(), i, payload });
    assert.throws(() => journal.flush(), /SQLITE_FULL|database or disk is full|disk I\/O/i);
    assert.equal(journal.stats().pendingInMemory, 300, 'nothing dropped from memory');
    execFileSync('rm', ['-f', filler]);
    assert.equal(journal.flush(), 300);
    const records = journal.read();
    assert.deepEqual(
      records.map((r) => r.i),
      Array.from({ length: 300 }, (_, k) => k + 1),
    );
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 300 }, (_, k) => k + 1),
    );
  } finally {
    journal.close();
    execFileSync('umount', [dir]);
  }
});
