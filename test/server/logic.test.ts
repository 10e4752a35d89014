/** Pure lease/queue/sweep/ingest/report decisions with exact synthetic inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAcquire, leaseTimes, planQueueGrants, planSweep, seatKey } from '../../src/server/leases/logic.js';
import { planIngest } from '../../src/server/ingest.js';
import { splitAtUtcMidnight } from '../../src/server/reports/index.js';
import { parseServerConfig, ConfigError } from '../../src/server/config.js';

const base = { seats: 2, seatsInUse: 0, holdsSeat: false, waiting: 0, queueRequested: false, queueAllowed: true };

test('decideAcquire: grants while seats are free, denies or queues when full', () => {
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 1 }), { kind: 'grant', newSeat: true });
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 2 }), { kind: 'deny', reason: 'all-seats-in-use', queueAvailable: true });
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 2, queueRequested: true }), { kind: 'queue' });
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 2, queueRequested: true, queueAllowed: false }), {
    kind: 'deny',
    reason: 'all-seats-in-use',
    queueAvailable: false,
  });
});

test('decideAcquire: a free seat with people waiting belongs to the queue', () => {
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 1, waiting: 1 }), { kind: 'deny', reason: 'all-seats-in-use', queueAvailable: true });
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 1, waiting: 1, queueRequested: true }), { kind: 'queue' });
});

test('decideAcquire: a seat already held by the same user+host is shared; unlimited and zero seats', () => {
  assert.deepEqual(decideAcquire({ ...base, seatsInUse: 2, holdsSeat: true, waiting: 3 }), { kind: 'grant', newSeat: false });
  assert.deepEqual(decideAcquire({ ...base, seats: null, seatsInUse: 1000 }), { kind: 'grant', newSeat: true });
  assert.deepEqual(decideAcquire({ ...base, seats: 0, queueRequested: true }), { kind: 'deny', reason: 'no-seats', queueAvailable: false });
});

test('seatKey: per user+host, per host for node-locked', () => {
  assert.equal(seatKey('floating', 'a1', 'bob'), 'a1\u001fbob');
  assert.equal(seatKey('leased', 'a1', 'bob'), 'a1\u001fbob');
  assert.equal(seatKey('node-locked', 'a1', 'bob'), 'a1');
});

test('planQueueGrants: strict FIFO for new seats, shared seats granted anywhere', () => {
  const w = [
    { ticket: 't1', seatKey: 'k1' },
    { ticket: 't2', seatKey: 'k2' },
    { ticket: 't3', seatKey: 'held' },
    { ticket: 't4', seatKey: 'k4' },
  ];
  assert.deepEqual(planQueueGrants(3, 2, new Set(['held', 'x']), w), ['t1', 't3']);
  assert.deepEqual(planQueueGrants(5, 2, new Set(['held', 'x']), w), ['t1', 't2', 't3', 't4']);
  assert.deepEqual(planQueueGrants(2, 2, new Set(['held', 'x']), w), ['t3']);
  assert.deepEqual(planQueueGrants(null, 100, new Set(), w), ['t1', 't2', 't3', 't4']);
  // Two tickets of the same user+host need only one seat.
  assert.deepEqual(
    planQueueGrants(1, 0, new Set(), [
      { ticket: 'a', seatKey: 'k' },
      { ticket: 'b', seatKey: 'k' },
      { ticket: 'c', seatKey: 'z' },
    ]),
    ['a', 'b'],
  );
});

test('planSweep: expires leases at/after expiry and silent tickets, never a ticket with a pending poll', () => {
  const r = planSweep({
    now: 10_000,
    leases: [
      { id: 'l1', expiresAt: 9_999 },
      { id: 'l2', expiresAt: 10_000 },
      { id: 'l3', expiresAt: 10_001 },
    ],
    tickets: [
      { ticket: 'a', lastPollAt: 8_000, polling: false },
      { ticket: 'b', lastPollAt: 8_001, polling: false },
      { ticket: 'c', lastPollAt: 0, polling: true },
    ],
    keepaliveMs: 2_000,
  });
  assert.deepEqual(r, { expireLeases: ['l1', 'l2'], expireTickets: ['a'] });
});

test('leaseTimes: renew after a third of the TTL', () => {
  assert.deepEqual(leaseTimes(1_000, 900), { expiresAt: 901_000, renewAt: 301_000 });
  assert.deepEqual(leaseTimes(0, 3), { expiresAt: 3_000, renewAt: 1_000 });
});

test('planIngest: contiguous run stored, overlap counted as duplicates, gap reported', () => {
  assert.deepEqual(planIngest(0, [1, 2, 3]), { store: [0, 1, 2], duplicates: 0, ackedThroughSeq: 3 });
  assert.deepEqual(planIngest(2, [1, 2, 3, 4]), { store: [2, 3], duplicates: 2, ackedThroughSeq: 4 });
  assert.deepEqual(planIngest(4, [1, 2, 3, 4]), { store: [], duplicates: 4, ackedThroughSeq: 4 });
  // Out of order within the batch is fine; repeated seq in a batch is a duplicate.
  assert.deepEqual(planIngest(0, [2, 1, 2, 3]), { store: [1, 0, 3], duplicates: 1, ackedThroughSeq: 3 });
  // A hole: the prefix is stored, the rest refused with the expected seq.
  assert.deepEqual(planIngest(0, [1, 2, 4, 5]), { store: [0, 1], duplicates: 0, ackedThroughSeq: 2, gap: { expectedSeq: 3, receivedSeq: 4 } });
  assert.deepEqual(planIngest(10, [12, 13]), { store: [], duplicates: 0, ackedThroughSeq: 10, gap: { expectedSeq: 11, receivedSeq: 12 } });
  assert.deepEqual(planIngest(0, []), { store: [], duplicates: 0, ackedThroughSeq: 0 });
});

test('reports: split at UTC midnight (the report itself is tested in reports.test.ts)', () => {
  const t = (s: string) => Date.parse(s);
  assert.deepEqual(splitAtUtcMidnight(t('2024-05-01T23:30:00Z'), t('2024-05-02T00:30:00Z')), [
    { day: '2024-05-01', start: t('2024-05-01T23:30:00Z'), end: t('2024-05-02T00:00:00Z') },
    { day: '2024-05-02', start: t('2024-05-02T00:00:00Z'), end: t('2024-05-02T00:30:00Z') },
  ]);
  assert.deepEqual(splitAtUtcMidnight(t('2024-05-01T10:00:00Z'), t('2024-05-01T10:00:00Z')), []);
});

test('config: errors name the key path; defaults fill in', () => {
  const cfg = parseServerConfig({ products: [{ id: 'cad', seats: 3 }] }, 'x.json');
  assert.equal(cfg.leases.ttlSeconds, 900);
  assert.equal(cfg.products[0].licenseType, 'floating');
  assert.throws(
    () => parseServerConfig({ leases: { ttlSeconds: 'long' }, products: [{ id: 'cad' }], bogus: 1 }, 'x.json'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.issues.map((i) => i.path).sort();
      assert.deepEqual(paths, ['bogus', 'leases.ttlSeconds', 'products[0].seats'].sort());
      assert.match(err.message, /x\.json: leases\.ttlSeconds:/);
      return true;
    },
  );
});
