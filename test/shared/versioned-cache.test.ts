import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VersionedCache } from '../../src/shared/versioned-cache.js';

test('versioned cache: a newer version empties it, a value read at an older one is dropped, bounded', () => {
  const c = new VersionedCache<string, number>(2);
  c.set('a', 1, 5);
  assert.equal(c.has('a', 5), true);
  assert.equal(c.get('a', 5), 1);
  // Read before a change (version 4), stored after: not kept, and what version 5 holds stays.
  c.set('b', 2, 4);
  assert.equal(c.get('b', 5), undefined);
  assert.equal(c.get('a', 5), 1);
  c.set('b', 2, 5);
  c.set('c', 3, 5); // at the bound: the least recently set goes
  assert.deepEqual([c.get('a', 5), c.get('b', 5), c.get('c', 5)], [undefined, 2, 3]);
  // The version moved on: nothing from before is served, and the cache is empty.
  assert.equal(c.get('b', 6), undefined);
  assert.equal(c.size, 0);
  assert.equal(c.has('c', 6), false);
  assert.throws(() => new VersionedCache(0), RangeError);
});
