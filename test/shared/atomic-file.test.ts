import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CoalescedFileWriter, writeFileAtomic, writeFileAtomicAsync } from '../../src/shared/atomic-file.js';
import { tempDir } from '../helpers/cli.js';

test('atomic file: replaced whole with its mode and owner, the directory made on request, no temp file left', (t) => {
  const dir = tempDir(t, 'ua-atomic-');
  const file = join(dir, 'sub', 'state.json');
  assert.throws(() => writeFileAtomic(file, 'x'), /ENOENT/, 'no directory without mkdir');
  assert.deepEqual(readdirSync(dir), []);
  writeFileAtomic(file, '{"a":1}', { mkdir: true });
  assert.equal(readFileSync(file, 'utf8'), '{"a":1}');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'default mode: owner only');
  assert.equal(statSync(join(dir, 'sub')).mode & 0o777, 0o750);
  writeFileAtomic(file, Buffer.from('second'), { mode: 0o644, durable: false });
  assert.equal(readFileSync(file, 'utf8'), 'second');
  // An existing file is replaced (a new inode), so its old mode does not carry over.
  assert.equal(statSync(file).mode & 0o777, 0o644);
  writeFileAtomic(file, 'third', { mode: 0o400, uid: 65534 });
  assert.equal(statSync(file).uid, 65534);
  assert.equal(statSync(file).mode & 0o777, 0o400);
  assert.equal(readFileSync(file, 'utf8'), 'third');
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json'], 'no temp file left');
  // A target that cannot be replaced (a directory): the error is thrown and the temp file removed.
  const target = join(dir, 'a-dir');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), '');
  assert.throws(() => writeFileAtomic(target, 'x'), /EISDIR|ENOTEMPTY|EEXIST/);
  assert.deepEqual(readdirSync(dir).sort(), ['a-dir', 'sub']);
});

test('atomic file, async: the same whole replacement with its mode, off the event loop; a failure removes the temp file', async (t) => {
  const dir = tempDir(t, 'ua-atomic-async-');
  const file = join(dir, 'sub', 'state.json');
  await assert.rejects(writeFileAtomicAsync(file, 'x'), /ENOENT/);
  await writeFileAtomicAsync(file, '{"b":2}', { mkdir: true });
  assert.equal(readFileSync(file, 'utf8'), '{"b":2}');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await writeFileAtomicAsync(file, 'again', { mode: 0o640, uid: 65534 });
  assert.equal(readFileSync(file, 'utf8'), 'again');
  assert.equal(statSync(file).mode & 0o777, 0o640);
  assert.equal(statSync(file).uid, 65534);
  const target = join(dir, 'a-dir');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), '');
  await assert.rejects(writeFileAtomicAsync(target, 'x'), /EISDIR|ENOTEMPTY|EEXIST/);
  assert.deepEqual(readdirSync(dir).sort(), ['a-dir', 'sub'], 'no temp file left');
});

test('coalesced writer: a burst of changes is one write of the latest contents, changes during a write one more, close() writes what is left in line', async (t) => {
  const dir = tempDir(t, 'ua-coalesced-');
  const file = join(dir, 'state.json');
  let value = 0;
  const errors: unknown[] = [];
  const w = new CoalescedFileWriter(
    file,
    () => JSON.stringify({ value }),
    { mode: 0o600 },
    (err) => errors.push(err),
  );
  for (value = 1; value <= 100; value++) w.changed();
  value = 100;
  assert.equal(w.writes, 0, 'nothing written in the turn of the changes');
  const settled = async (n: number) => {
    for (let i = 0; i < 500 && w.writes < n; i++) await new Promise((r) => setTimeout(r, 2));
  };
  await settled(1);
  await new Promise((r) => setTimeout(r, 30)); // and no second write follows on its own
  assert.equal(w.writes, 1, 'a hundred changes in one turn: one write');
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { value: 100 });
  // Changes while a write is under way: one more write afterwards, with the latest contents.
  value = 200;
  w.changed();
  await new Promise((r) => setImmediate(r)); // the write of 200 has started
  value = 300;
  w.changed();
  value = 400;
  w.changed();
  await settled(3);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(w.writes, 3);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { value: 400 });
  // close(): the last change is written before it returns, and later changes are ignored.
  value = 500;
  w.changed();
  await w.close();
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { value: 500 });
  value = 600;
  w.changed();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { value: 500 });
  assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file left');
  assert.deepEqual(errors, []);
});

test('coalesced writer: a failed write is reported and the next change writes again', async (t) => {
  const dir = tempDir(t, 'ua-coalesced-fail-');
  const file = join(dir, 'missing', 'state.json'); // no directory and no mkdir: the write fails
  const errors: unknown[] = [];
  const w = new CoalescedFileWriter(
    file,
    () => 'x',
    {},
    (err) => errors.push(err),
  );
  w.changed();
  for (let i = 0; i < 500 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
  assert.match(String(errors[0]), /ENOENT/);
  mkdirSync(join(dir, 'missing'));
  w.changed();
  for (let i = 0; i < 500 && w.writes === 0; i++) await new Promise((r) => setTimeout(r, 2));
  assert.equal(readFileSync(file, 'utf8'), 'x');
  await w.close();
});
