/**
 * The report functions the console pages show, over one exact synthetic timeline (every figure by
 * hand): concurrency steps and peaks, the efficiency curve, heatmaps in two time zones, denials
 * and queue waits, users, and the event-selection presets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  concurrency,
  denialsReport,
  efficiencyCurve,
  heatmaps,
  inactiveUsers,
  parseSelection,
  selectionCodes,
  usersReport,
  type ReportEvent,
} from '../../../src/server/reports/index.js';

const t = (hm: string) => Date.parse(`2024-05-06T${hm}:00Z`); // a Monday
const who = (agentId: string, user: string, pid = 1) => ({ agentId, user, host: `h-${agentId}`, pid, processStart: '2024-05-06T00:00:00.000Z' });
const ev = (hm: string, code: number, w: ReturnType<typeof who>, o: Partial<ReportEvent> = {}): ReportEvent => ({
  time: t(hm),
  code,
  product: 'cad',
  ...w,
  ...o,
});
const ann = who('a1', 'ann');
const ann2 = who('a1', 'ann', 2);
const bob = who('a2', 'bob');
const cy = who('a3', 'cy');
const dan = who('a4', 'dan');
const eve = who('a5', 'eve');

/**
 * 08:00-12:00 UTC. ann 08-10 (and a second window 09:15-09:45 on the same seat), bob 09-11, cy
 * waits 09:30-10:00 and holds 10:00-10:30 (ann's seat, handed over at 10:00), dan denied at 09:45.
 */
const T: ReportEvent[] = [
  ev('08:00', 1, ann, { leaseId: 'L1' }),
  ev('09:00', 1, bob, { leaseId: 'L2' }),
  ev('09:15', 1, ann2, { leaseId: 'L4' }),
  ev('09:30', 5, cy),
  ev('09:45', 2, ann2, { leaseId: 'L4' }),
  ev('09:45', 7, dan, { reason: 'all-seats-in-use' }),
  ev('10:00', 2, ann, { leaseId: 'L1' }),
  ev('10:00', 6, cy, { reason: 'granted', leaseId: 'L3' }),
  ev('10:00', 1, cy, { leaseId: 'L3' }),
  ev('10:30', 2, cy, { leaseId: 'L3' }),
  ev('11:00', 2, bob, { leaseId: 'L2', reason: 'quit' }),
];
const FROM = t('08:00');
const END = t('12:00');

test('concurrency: steps of used and queued, peaks (a denial is a peak of desire), license-hours', () => {
  const [s] = concurrency({ events: T, from: FROM, end: END, seats: { cad: 2 } });
  assert.equal(s.product, 'cad');
  assert.equal(s.seats, 2);
  assert.deepEqual(s.steps, [
    { t: t('08:00'), used: 1, queued: 0 },
    { t: t('09:00'), used: 2, queued: 0 }, // ann's second window shares her seat
    { t: t('09:30'), used: 2, queued: 1 },
    { t: t('10:00'), used: 2, queued: 0 }, // hand-over ann -> cy at one instant: still 2
    { t: t('10:30'), used: 1, queued: 0 },
    { t: t('11:00'), used: 0, queued: 0 },
  ]);
  assert.deepEqual(s.denials, [{ t: t('09:45'), count: 1, desired: 4 }]); // 2 used + 1 waiting + dan
  assert.deepEqual(s.peakUsed, { value: 2, at: t('09:00') });
  assert.deepEqual(s.peakDesired, { value: 4, at: t('09:45') });
  assert.equal(s.usedHours, 4.5); // ann 2 + bob 2 + cy 0.5
  assert.equal(s.desiredHours, 5); // + cy's half hour in the queue
});

test('efficiency curve: the share of time covered by N seats, used and desired', () => {
  const [s] = concurrency({ events: T, from: FROM, end: END });
  // Used: 0 seats 11-12 (1 h), 1 seat 08-09 and 10:30-11 (1.5 h), 2 seats 09-10:30 (1.5 h) of 4 h.
  assert.deepEqual(efficiencyCurve(s.steps, END), {
    curve: [
      { seats: 0, share: 0.25 },
      { seats: 1, share: 0.625 },
      { seats: 2, share: 1 },
    ],
    seats95: 2,
    seats99: 2,
    max: 2,
  });
  // Desired: 3 during 09:30-10:00, 2 during 09:00-09:30 and 10:00-10:30.
  const d = efficiencyCurve(s.steps, END, (x) => x.used + x.queued);
  assert.deepEqual(
    d.curve.map((c) => c.share),
    [0.25, 0.625, 0.875, 1],
  );
  assert.deepEqual([d.seats95, d.seats99, d.max], [3, 3, 3]);
  // 19 h at one seat and 1 h at two: one seat covers exactly 95 %, not 99 %.
  const h = 3_600_000;
  const e = efficiencyCurve(
    [
      { t: 0, used: 1, queued: 0 },
      { t: 19 * h, used: 2, queued: 0 },
    ],
    20 * h,
  );
  assert.deepEqual([e.seats95, e.seats99, e.max], [1, 2, 2]);
});

test('heatmap: hour of day x weekday in New York (UTC-4 in May) and Kolkata (UTC+5:30)', () => {
  const [s] = concurrency({ events: T, from: FROM, end: END });
  const [ny] = heatmaps([s], FROM, END, 'America/New_York');
  const mon = ny.cells[0];
  // 08-12 UTC is Monday 04-08 in New York.
  assert.deepEqual(
    mon.slice(4, 8).map((c) => [c.hours, c.averageUsed, c.averageDesired, c.maxUsed]),
    [
      [1, 1, 1, 1],
      [1, 2, 2.5, 2],
      [1, 1.5, 1.5, 2],
      [1, 0, 0, 0],
    ],
  );
  assert.equal(
    ny.cells.flat().reduce((sum, c) => sum + c.hours, 0),
    4,
  );
  assert.equal(ny.cells[6][4].hours, 0); // Sunday: not covered
  const [kol] = heatmaps([s], FROM, END, 'Asia/Kolkata');
  // 08:00 UTC is 13:30 in Kolkata: 13h has half an hour, 14h = 08:30-09:30 UTC (1 and 2 seats), 15h = 09:30-10:30 UTC.
  assert.deepEqual(
    kol.cells[0].slice(13, 18).map((c) => [c.hours, c.averageUsed, c.averageDesired]),
    [
      [0.5, 1, 1],
      [1, 1.5, 1.5],
      [1, 2, 2.5],
      [1, 0.5, 0.5],
      [0.5, 0, 0],
    ],
  );
  assert.throws(() => heatmaps([s], FROM, END, 'Mars/Olympus'), /unknown time zone: Mars\/Olympus/);
});

test('denials and queue waits: reasons, wait lengths, still waiting at the end, by product, user and hour', () => {
  const events = [...T, ev('10:15', 5, eve, { product: 'cam' })];
  const r = denialsReport({ events, from: FROM, end: END });
  assert.deepEqual(r.denials, [{ t: t('09:45'), product: 'cad', user: 'dan', host: 'h-a4', reason: 'all-seats-in-use' }]);
  assert.deepEqual(r.waits, [
    { product: 'cad', user: 'cy', host: 'h-a3', start: t('09:30'), end: t('10:00'), seconds: 1800, outcome: 'granted' },
    { product: 'cam', user: 'eve', host: 'h-a5', start: t('10:15'), end: null, seconds: 6300, outcome: null }, // until 12:00
  ]);
  assert.deepEqual(r.byProduct, [
    { product: 'cad', denials: 1, waits: 1, granted: 1, meanSeconds: 1800, p95Seconds: 1800, maxSeconds: 1800 },
    { product: 'cam', denials: 0, waits: 1, granted: 0, meanSeconds: 6300, p95Seconds: 6300, maxSeconds: 6300 },
  ]);
  assert.deepEqual(
    r.byUser.map((u) => [u.user, u.denials, u.waits]),
    [
      ['cy', 0, 1],
      ['dan', 1, 0],
      ['eve', 0, 1],
    ],
  );
  assert.deepEqual(r.byReason, [{ reason: 'all-seats-in-use', denials: 1 }]);
  assert.equal(r.byHour[9], 1);
  // In Tokyo (UTC+9) the denial is at 18:45.
  assert.equal(denialsReport({ events, from: FROM, end: END, timeZone: 'Asia/Tokyo' }).byHour[18], 1);
});

test('users: seat-hours (a second window adds none), checkouts, longest checkouts; who has not used a product in N days', () => {
  const r = usersReport({ events: T, from: FROM, end: END });
  assert.deepEqual(r.topUsers, [
    { user: 'ann', licenseHours: 2, checkouts: 2, products: ['cad'] },
    { user: 'bob', licenseHours: 2, checkouts: 1, products: ['cad'] },
    { user: 'cy', licenseHours: 0.5, checkouts: 1, products: ['cad'] },
  ]);
  assert.deepEqual(
    r.longestCheckouts.map((c) => [c.leaseId, c.user, c.hours]),
    [
      ['L1', 'ann', 2],
      ['L2', 'bob', 2],
      ['L4', 'ann', 0.5],
      ['L3', 'cy', 0.5],
    ],
  );
  assert.equal(usersReport({ events: T, from: FROM, end: END, limit: 1 }).topUsers.length, 1);

  const now = Date.parse('2024-06-01T00:00:00Z');
  const day = 86_400_000;
  const rows = [
    { user: 'ann', product: 'cad', lastUsed: now - day },
    { user: 'bob', product: 'cad', lastUsed: now - 40 * day },
    { user: 'cy', product: 'cad', lastUsed: null },
    { user: 'dan', product: 'cam', lastUsed: now - 31.5 * day },
    { user: 'eve', product: 'cam', lastUsed: now - 30 * day }, // exactly 30 days: still counts as used in the last 30
  ];
  assert.deepEqual(
    inactiveUsers(rows, now, 30).map((r) => [r.user, r.idleDays]),
    [
      ['cy', null],
      ['bob', 40],
      ['dan', 31],
    ],
  );
});

test('event selections of reference 000 as presets, and end events only', () => {
  assert.deepEqual(selectionCodes({ name: 'license-allocation' }), [1, 2, 27, 28]);
  assert.deepEqual(selectionCodes({ name: 'usage-within-allocation' }), [1, 2, 29, 30]);
  assert.deepEqual(selectionCodes({ name: 'all-license-usage' }), [1, 2, 10, 11, 29, 30]);
  assert.deepEqual(selectionCodes({ name: 'controlled-program-usage' }), [3, 4, 10, 11]);
  assert.deepEqual(selectionCodes({ name: 'all-program-usage' }), [3, 4, 8, 9, 10, 11, 12, 13]);
  assert.deepEqual(selectionCodes(parseSelection('all-program-usage:end')), [4, 9, 11, 13]);
  assert.deepEqual(selectionCodes(parseSelection('license-allocation:end')), [2, 28]);
  assert.throws(() => parseSelection('everything'), /selection must be one of license-allocation, .* \(got everything\)/);
  assert.throws(() => parseSelection('license-allocation:start'), /optionally followed by :end/);
});
