import assert from 'node:assert/strict';
import { appendFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeAcctV3 } from '../../../src/collectors/pacct/decode.js';
import { PacctReader, type PacctCursor } from '../../../src/collectors/pacct/reader.js';
import { tempDir } from '../../helpers/cli.js';

const rec = (pid: number) => encodeAcctV3({ pid, btime: 1_700_000_000, comm: `p${pid}` });

function collect(reader: PacctReader): { pids: number[]; last?: PacctCursor } {
  const pids: number[] = [];
  let last: PacctCursor | undefined;
  reader.poll((r, c) => {
    pids.push(r.pid);
    last = c;
  });
  return { pids, last };
}

test('reads incrementally and leaves a partial trailing record for later', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, Buffer.concat([rec(1), rec(2)]));
  const reader = new PacctReader(file);
  t.after(() => reader.close());
  assert.deepEqual(collect(reader).pids, [1, 2]);
  assert.deepEqual(collect(reader).pids, []);
  const r3 = rec(3);
  appendFileSync(file, r3.subarray(0, 30)); // a write in progress
  assert.deepEqual(collect(reader).pids, []);
  assert.equal(reader.cursor.offset, 128);
  appendFileSync(file, Buffer.concat([r3.subarray(30), rec(4)]));
  const got = collect(reader);
  assert.deepEqual(got.pids, [3, 4]);
  assert.equal(got.last!.offset, 256);
  assert.equal(got.last!.ino, statSync(file).ino);
});

test('restart from a stored cursor reads only what came after it', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, Buffer.concat([rec(1), rec(2), rec(3)]));
  const first = new PacctReader(file);
  const pidsFirst: number[] = [];
  let cursorAfter2: PacctCursor | undefined;
  first.poll((r, c) => {
    pidsFirst.push(r.pid);
    if (r.pid === 2) cursorAfter2 = c;
  });
  first.close();
  assert.deepEqual(pidsFirst, [1, 2, 3]);
  // Suppose only records 1-2 and their cursor were committed before a crash:
  appendFileSync(file, rec(4));
  const second = new PacctReader(file, cursorAfter2);
  t.after(() => second.close());
  assert.deepEqual(collect(second).pids, [3, 4]);
});

test('rotation: the old file is finished through the open descriptor, then the new one from 0', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, rec(1));
  const reader = new PacctReader(file);
  t.after(() => reader.close());
  assert.deepEqual(collect(reader).pids, [1]);
  appendFileSync(file, rec(2)); // written to the old inode before the switch
  renameSync(file, `${file}.0`);
  writeFileSync(file, Buffer.concat([rec(10), rec(11)]));
  appendFileSync(`${file}.0`, rec(3)); // the kernel still wrote to the old one for a moment
  assert.deepEqual(collect(reader).pids, [2, 3, 10, 11]);
  assert.equal(reader.stats().rotations, 1);
  assert.equal(reader.cursor.ino, statSync(file).ino);
});

test('rotation while the agent was down: finishes <path>.0 from the cursor, then the new file', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, Buffer.concat([rec(1), rec(2)]));
  const before = new PacctReader(file);
  const seen = collect(before);
  before.close();
  appendFileSync(file, rec(3));
  renameSync(file, `${file}.0`);
  writeFileSync(file, rec(20));
  const after = new PacctReader(file, seen.last);
  t.after(() => after.close());
  assert.deepEqual(collect(after).pids, [3, 20]);
});

test('truncation: size below the offset restarts at 0', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, Buffer.concat([rec(1), rec(2), rec(3)]));
  const reader = new PacctReader(file);
  t.after(() => reader.close());
  assert.deepEqual(collect(reader).pids, [1, 2, 3]);
  truncateSync(file, 0);
  appendFileSync(file, rec(7));
  assert.deepEqual(collect(reader).pids, [7]);
  assert.equal(reader.stats().truncations, 1);
});

test('a missing file is not an error; it is read once it appears', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  const reader = new PacctReader(file);
  t.after(() => reader.close());
  assert.deepEqual(collect(reader).pids, []);
  writeFileSync(file, rec(5));
  assert.deepEqual(collect(reader).pids, [5]);
});

test('an unreadable record (not v3) is skipped and counted', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  const bad = Buffer.from(rec(2));
  bad[1] = 1;
  writeFileSync(file, Buffer.concat([rec(1), bad, rec(3)]));
  const reader = new PacctReader(file);
  t.after(() => reader.close());
  assert.deepEqual(collect(reader).pids, [1, 3]);
  assert.equal(reader.stats().unreadable, 1);
});
