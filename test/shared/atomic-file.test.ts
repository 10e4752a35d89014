import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/shared/atomic-file.js';
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
