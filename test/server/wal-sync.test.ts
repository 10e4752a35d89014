/** Group sync before acknowledging uploads (src/server/wal-sync.ts), with a flush the test controls. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsyncFile, GroupSync } from '../../src/server/wal-sync.js';

/** A flush that completes when the test says so; `started` counts flushes begun. */
function controlledFlush() {
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  return {
    pending,
    flush: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a sync waits for a flush that began after it; callers during a flush share the next one', async () => {
  const f = controlledFlush();
  const g = new GroupSync(f.flush);
  const done: string[] = [];
  const a = g.sync().then(() => done.push('a'));
  assert.equal(f.pending.length, 1, 'the first call starts a flush at once');
  const b = g.sync().then(() => done.push('b'));
  const c = g.sync().then(() => done.push('c'));
  assert.equal(f.pending.length, 1, 'calls during a flush do not start another yet');
  f.pending[0].resolve();
  await a;
  await tick();
  assert.deepEqual(done, ['a'], 'b and c committed after the first flush began: they wait for the next');
  assert.equal(f.pending.length, 2, 'one more flush for both of them');
  f.pending[1].resolve();
  await Promise.all([b, c]);
  assert.deepEqual(done, ['a', 'b', 'c']);
  assert.equal(g.syncs, 2);
  // Idle again: the next call starts its own flush.
  const d = g.sync();
  assert.equal(f.pending.length, 3);
  f.pending[2].resolve();
  await d;
  assert.equal(g.syncs, 3);
});

test('a failed flush rejects its own group only; the next group flushes again', async () => {
  const f = controlledFlush();
  const g = new GroupSync(f.flush);
  const a = g.sync();
  const b = g.sync();
  f.pending[0].reject(new Error('EIO'));
  await assert.rejects(a, /EIO/);
  await tick();
  assert.equal(f.pending.length, 2);
  f.pending[1].resolve();
  await b;
});

test('fsyncFile flushes an existing file and treats a missing one as nothing to flush', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'walsync-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'db-wal');
  writeFileSync(file, 'frames');
  await fsyncFile(file);
  await fsyncFile(join(dir, 'missing-wal'));
  await assert.rejects(fsyncFile(dir), /EISDIR/);
});
