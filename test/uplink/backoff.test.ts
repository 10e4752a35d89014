import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffCeiling, backoffDelay, classifyStatus, parseRetryAfter, retryDelay } from '../../src/uplink/backoff.js';

const o = { baseMs: 1000, capMs: 300_000 };

test('backoff ceiling doubles per attempt and stops at the cap', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 8, 9, 10, 1000].map((a) => backoffCeiling(a, o)),
    [0, 1000, 2000, 4000, 8000, 16000, 128000, 256000, 300000, 300000],
  );
});

test('full jitter is uniform over [0, ceiling): the random draw scales the window', () => {
  assert.equal(
    backoffDelay(3, o, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(3, o, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(3, o, () => 0.999999),
    3999,
  );
  assert.equal(
    backoffDelay(50, o, () => 0.5),
    150000,
  );
});

test('Retry-After: delta seconds, HTTP date, garbage', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(['7'], now), 7000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('Retry-After is a floor under the jittered delay, bounded at 24 h', () => {
  assert.equal(
    retryDelay(1, o, 30_000, () => 0.5),
    30_000,
  );
  assert.equal(
    retryDelay(10, o, 30_000, () => 0.5),
    150_000,
  );
  assert.equal(
    retryDelay(1, o, undefined, () => 0.5),
    500,
  );
  assert.equal(
    retryDelay(1, o, 10 * 24 * 3600 * 1000, () => 0),
    24 * 3600 * 1000,
  );
});

test('status classification', () => {
  assert.deepEqual(
    [200, 201, 204, 304, 400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503].map((s) => classifyStatus(s)),
    ['ok', 'ok', 'ok', 'ok', 'fail', 'reenroll', 'fail', 'fail', 'retry', 'fail', 'fail', 'retry', 'retry', 'retry', 'retry'],
  );
  assert.equal(classifyStatus(401, 'enroll'), 'reenroll');
  assert.equal(classifyStatus(401, 'acquire'), 'fail');
});
