/** The per-user session budgets on exact synthetic timelines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newBudget, spend, waitMs, type SessionLimits } from '../../src/ipc/budget.js';

const limits: SessionLimits = { recordsPerSecond: 10, recordsBurst: 100, bytesPerSecond: 1000, bytesBurst: 5000 };

test('a burst is admitted at once, then the user waits for the debt to be paid back', () => {
  const b = newBudget(limits, 0);
  assert.equal(waitMs(b, limits, 0), 0);
  spend(b, { records: 100, bytes: 2000 }); // exactly the burst: tokens 0, not in debt
  assert.equal(waitMs(b, limits, 0), 0);
  spend(b, { records: 50, bytes: 100 }); // one message into debt: 50 records at 10/s
  assert.equal(waitMs(b, limits, 0), 5000);
  assert.equal(waitMs(b, limits, 3000), 2000);
  assert.equal(waitMs(b, limits, 5000), 0);
  // Refilled from 0 at t=5 s; at t=15 s the bucket is full again and no fuller.
  assert.equal(waitMs(b, limits, 15_000), 0);
  assert.equal(b.records.tokens, 100);
  assert.equal(waitMs(b, limits, 60_000), 0);
  assert.equal(b.records.tokens, 100);
});

test('the bytes bucket alone can hold a user back, and the longer of the two waits wins', () => {
  const b = newBudget(limits, 1000);
  spend(b, { records: 1, bytes: 8000 }); // 3000 bytes of debt at 1000/s
  assert.equal(waitMs(b, limits, 1000), 3000);
  spend(b, { records: 199, bytes: 0 }); // and 100 records of debt at 10/s: 10 s
  assert.equal(waitMs(b, limits, 1000), 10_000);
  assert.equal(waitMs(b, limits, 4000), 7000);
});

test('time going backwards refills nothing', () => {
  const b = newBudget(limits, 10_000);
  spend(b, { records: 110, bytes: 0 });
  assert.equal(waitMs(b, limits, 10_000), 1000);
  assert.equal(waitMs(b, limits, 9000), 1000);
});
