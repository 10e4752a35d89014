/** Usage reports (log and day/week/month/year summaries) from exact synthetic usage-event lists. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUsageReport, isoWeekKey, logToCsv, periodOf, summariesToCsv, type ReportEvent, type UsageSummaryRow } from '../../src/server/reports/index.js';

const t = (s: string) => Date.parse(s);
const ev = (time: string, code: number, o: Partial<ReportEvent> = {}): ReportEvent => ({ time: t(time), code, product: 'cad', ...o });
const who = (agentId: string, user: string, pid = 1) => ({ agentId, user, host: `h-${agentId}`, pid, processStart: '2024-05-01T00:00:00.000Z' });
const obtain = (time: string, leaseId: string, w: ReturnType<typeof who>) => ev(time, 1, { ...w, leaseId });
const ret = (time: string, leaseId: string, w: ReturnType<typeof who>, reason: string | null = null) => ev(time, 2, { ...w, leaseId, reason });

const ann = who('a1', 'ann');
const ann2 = who('a1', 'ann', 2);
const bob = who('a2', 'bob');
const cy = who('a3', 'cy');
const dan = who('a4', 'dan');
const eve = who('a5', 'eve');

/** Two days: a session across midnight, a second window on the same seat, a hand-over, a queue, a denial, a lease never returned. */
const EVENTS: ReportEvent[] = [
  obtain('2024-05-01T22:00:00Z', 'L1', ann),
  obtain('2024-05-01T22:30:00Z', 'L4', ann2), // same user and workstation: same seat
  ret('2024-05-01T22:45:00Z', 'L4', ann2),
  obtain('2024-05-01T23:00:00Z', 'L2', bob),
  ev('2024-05-01T23:00:00Z', 5, eve),
  ret('2024-05-01T23:30:00Z', 'L2', bob),
  obtain('2024-05-01T23:30:00Z', 'L3', cy), // handed over at the same instant: not a third seat
  ret('2024-05-01T23:45:00Z', 'L3', cy),
  ev('2024-05-01T23:45:00Z', 6, { ...eve, leaseId: 'L5', reason: 'granted' }),
  obtain('2024-05-01T23:45:00Z', 'L5', eve), // never returned: open until the report end
  ret('2024-05-02T01:00:00Z', 'L1', ann, 'lost'),
  ev('2024-05-02T00:10:00Z', 7, { ...dan, reason: 'all-in-use' }),
];
const FROM = t('2024-05-01T00:00:00Z');
const TO = t('2024-05-03T00:00:00Z');

const bucket = (hours: number, totalUsed = 0, totalDesired = 0, maxUsed = 0, maxDesired = 0, weightedAverageUsed = 0, weightedAverageDesired = 0) => ({
  hours,
  totalUsed,
  totalDesired,
  maxUsed,
  maxDesired,
  weightedAverageUsed,
  weightedAverageDesired,
});
const hod = (overrides: Record<number, ReturnType<typeof bucket>>, hoursEach = 1) => Array.from({ length: 24 }, (_, h) => overrides[h] ?? bucket(hoursEach));

test('calendar: ISO weeks across year ends, periods', () => {
  assert.equal(isoWeekKey(t('2024-05-05T23:59:59Z')), '2024-W18'); // Sunday
  assert.equal(isoWeekKey(t('2024-05-06T00:00:00Z')), '2024-W19'); // Monday
  assert.equal(isoWeekKey(t('2024-12-30T12:00:00Z')), '2025-W01');
  assert.equal(isoWeekKey(t('2021-01-03T12:00:00Z')), '2020-W53');
  assert.equal(isoWeekKey(t('2026-01-01T00:00:00Z')), '2026-W01');
  assert.deepEqual(periodOf('week', t('2024-05-01T10:00:00Z')), { key: '2024-W18', start: t('2024-04-29T00:00:00Z'), end: t('2024-05-06T00:00:00Z') });
  assert.deepEqual(periodOf('month', t('2024-02-29T10:00:00Z')), { key: '2024-02', start: t('2024-02-01T00:00:00Z'), end: t('2024-03-01T00:00:00Z') });
  assert.deepEqual(periodOf('year', t('2024-02-29T10:00:00Z')), { key: '2024', start: t('2024-01-01T00:00:00Z'), end: t('2025-01-01T00:00:00Z') });
});

test('daily summaries: midnight split, one seat per user and workstation, hand-over, queue demand, denial, open lease', () => {
  const r = buildUsageReport({ events: EVENTS, from: FROM, to: TO, periods: ['day'], productNames: { cad: 'CAD Pro' } });
  assert.equal(r.summaries.length, 2);
  const [d1, d2] = r.summaries;
  const wed = Array.from({ length: 7 }, (_, i) => (i === 2 ? bucket(24, 3, 3.75, 2, 3, 0.375, 0.469) : bucket(0)));
  assert.deepEqual(d1, {
    period: 'day',
    key: '2024-05-01',
    start: '2024-05-01T00:00:00.000Z',
    end: '2024-05-02T00:00:00.000Z',
    product: 'cad',
    productName: 'CAD Pro',
    hours: 24,
    checkouts: 5,
    users: 4,
    denials: 0,
    queued: 1,
    // 22-23h ann alone; 23:00-23:45 two seats + eve waiting; 23:45-24 ann + eve.
    maxUsed: 2,
    maxDesired: 3,
    totalUsed: 3,
    totalDesired: 3.75,
    averageUsed: 0.125,
    averageDesired: 0.156,
    // Reference averages: the busiest 8 hours of the day are 22h (1 used, 1 desired), 23h (2, 2.75) and six idle ones:
    // 3/8 and 3.75/8. For one day, the hour-of-day values are that hour's levels.
    weightedAverageUsed: 0.375,
    weightedAverageDesired: 0.469,
    hourOfDay: hod({ 22: bucket(1, 1, 1, 1, 1, 1, 1), 23: bucket(1, 2, 2.75, 2, 3, 2, 2.75) }),
    dayOfWeek: wed,
  } satisfies UsageSummaryRow);
  const thu = Array.from({ length: 7 }, (_, i) => (i === 3 ? bucket(24, 25, 25, 2, 3, 1.125, 1.125) : bucket(0)));
  assert.deepEqual(d2, {
    period: 'day',
    key: '2024-05-02',
    start: '2024-05-02T00:00:00.000Z',
    end: '2024-05-03T00:00:00.000Z',
    product: 'cad',
    productName: 'CAD Pro',
    // ann until 01:00 (lost) and eve all day; dan denied at 00:10 while two seats were in use.
    hours: 24,
    checkouts: 0,
    users: 2,
    denials: 1,
    queued: 0,
    maxUsed: 2,
    maxDesired: 3,
    totalUsed: 25,
    totalDesired: 25,
    averageUsed: 1.042,
    averageDesired: 1.042,
    // Busiest 8 hours: 00h at 2 and seven hours at 1: 9/8.
    weightedAverageUsed: 1.125,
    weightedAverageDesired: 1.125,
    hourOfDay: hod({ 0: bucket(1, 2, 2, 2, 3, 2, 2), ...Object.fromEntries(Array.from({ length: 23 }, (_, i) => [i + 1, bucket(1, 1, 1, 1, 1, 1, 1)])) }),
    dayOfWeek: thu,
  } satisfies UsageSummaryRow);
});

test('week, month and year summaries of the same events; a report ending before the open lease is returned', () => {
  const r = buildUsageReport({ events: EVENTS, from: FROM, to: TO, periods: ['week', 'month', 'year'] });
  assert.deepEqual(
    r.summaries.map((s) => [s.period, s.key, s.hours, s.checkouts, s.users, s.denials, s.queued, s.maxUsed, s.maxDesired, s.totalUsed, s.totalDesired]),
    [
      ['week', '2024-W18', 48, 5, 4, 1, 1, 2, 3, 28, 28.75],
      ['month', '2024-05', 48, 5, 4, 1, 1, 2, 3, 28, 28.75],
      ['year', '2024', 48, 5, 4, 1, 1, 2, 3, 28, 28.75],
    ],
  );
  assert.deepEqual(
    r.summaries[0].dayOfWeek.map((b) => b.totalUsed),
    [0, 0, 3, 25, 0, 0, 0],
  );
  assert.deepEqual(
    r.summaries[0].hourOfDay.slice(0, 2).map((b) => [b.hours, b.totalUsed]),
    [
      [2, 2],
      [2, 1],
    ],
  );

  // The report ends at 2024-05-02T12:00 (now): eve's open lease counts until then only.
  const early = buildUsageReport({ events: EVENTS, from: FROM, to: TO, end: t('2024-05-02T12:00:00Z'), periods: ['day'] });
  assert.deepEqual(
    early.summaries.map((s) => [s.key, s.hours, s.totalUsed]),
    [
      ['2024-05-01', 24, 3],
      ['2024-05-02', 12, 13],
    ],
  );
});

test('week and month boundaries split usage; a lease open before the report starts counts from the start', () => {
  const events = [
    obtain('2024-05-05T23:00:00Z', 'W1', ann), // Sunday 23:00 -> Monday 01:00
    ret('2024-05-06T01:00:00Z', 'W1', ann),
    obtain('2024-04-30T23:30:00Z', 'M1', bob), // April -> May
    ret('2024-05-01T00:30:00Z', 'M1', bob),
    obtain('2024-04-20T08:00:00Z', 'OLD', cy), // before the report: counted from 2024-04-30
    ret('2024-04-30T02:00:00Z', 'OLD', cy),
    ret('2024-04-30T03:00:00Z', 'NOOPEN', dan), // its obtain was not given: counted from the report start
  ];
  const r = buildUsageReport({ events, from: t('2024-04-30T00:00:00Z'), to: t('2024-05-07T00:00:00Z'), periods: ['week', 'month'] });
  assert.deepEqual(
    r.summaries.map((s) => [s.period, s.key, s.start, s.end, s.hours, s.checkouts, s.users, s.maxUsed, s.totalUsed]),
    [
      ['week', '2024-W18', '2024-04-30T00:00:00.000Z', '2024-05-06T00:00:00.000Z', 144, 2, 4, 2, 7],
      ['week', '2024-W19', '2024-05-06T00:00:00.000Z', '2024-05-07T00:00:00.000Z', 24, 0, 1, 1, 1],
      ['month', '2024-04', '2024-04-30T00:00:00.000Z', '2024-05-01T00:00:00.000Z', 24, 1, 3, 2, 5.5],
      ['month', '2024-05', '2024-05-01T00:00:00.000Z', '2024-05-07T00:00:00.000Z', 144, 1, 2, 1, 2.5],
    ],
  );
  // W18: cy 2 h + dan 3 h (both from the start, overlapping: peak 2) + bob 1 h + ann 1 h.
  const cyRow = r.log.find((l) => l.leaseId === 'OLD')!;
  assert.deepEqual(
    [cyRow.date, cyRow.startTime, cyRow.endTime, cyRow.checkout, cyRow.checkin, cyRow.continuedFromPreviousDay],
    ['2024-04-30', '00:00:00', '02:00:00', '2024-04-20T08:00:00.000Z', '2024-04-30T02:00:00.000Z', true],
  );
  const danRow = r.log.find((l) => l.leaseId === 'NOOPEN')!;
  assert.deepEqual([danRow.startTime, danRow.endTime, danRow.checkout], ['00:00:00', '03:00:00', null]);
});

test('usage log: one row per UTC day, waits and denials, open leases, CSV', () => {
  const r = buildUsageReport({ events: EVENTS, from: FROM, to: TO, periods: [], productNames: { cad: 'CAD Pro' } });
  assert.deepEqual(r.summaries, []);
  const brief = r.log.map((l) => [
    l.date,
    l.kind,
    l.user,
    l.leaseId,
    l.startTime,
    l.endTime,
    l.seconds,
    l.granted,
    l.reason,
    l.continuedFromPreviousDay,
    l.continuesNextDay,
    l.open,
  ]);
  assert.deepEqual(brief, [
    ['2024-05-01', 'lease', 'ann', 'L1', '22:00:00', '24:00:00', 7200, 1, 'lost', false, true, false],
    ['2024-05-01', 'lease', 'ann', 'L4', '22:30:00', '22:45:00', 900, 1, null, false, false, false],
    ['2024-05-01', 'lease', 'bob', 'L2', '23:00:00', '23:30:00', 1800, 1, null, false, false, false],
    ['2024-05-01', 'queue', 'eve', null, '23:00:00', '23:45:00', 2700, 0, 'granted', false, false, false],
    ['2024-05-01', 'lease', 'cy', 'L3', '23:30:00', '23:45:00', 900, 1, null, false, false, false],
    ['2024-05-01', 'lease', 'eve', 'L5', '23:45:00', '24:00:00', 900, 1, null, false, true, true],
    ['2024-05-02', 'lease', 'ann', 'L1', '00:00:00', '01:00:00', 3600, 1, 'lost', true, false, false],
    ['2024-05-02', 'lease', 'eve', 'L5', '00:00:00', '24:00:00', 86400, 1, null, true, true, true],
    ['2024-05-02', 'deny', 'dan', null, '00:10:00', '00:10:00', 0, 0, 'all-in-use', false, false, false],
  ]);
  const l1 = r.log[0];
  assert.deepEqual(
    [l1.host, l1.pid, l1.productName, l1.start, l1.end, l1.checkout, l1.checkin],
    ['h-a1', 1, 'CAD Pro', '2024-05-01T22:00:00.000Z', '2024-05-02T00:00:00.000Z', '2024-05-01T22:00:00.000Z', '2024-05-02T01:00:00.000Z'],
  );
  assert.equal(r.log[5].checkin, null);

  const csv = logToCsv(r.log).trimEnd().split('\n');
  assert.equal(csv.length, 10);
  assert.equal(
    csv[0],
    'Date,Kind,UserName,HostName,ProcessId,ProductId,ProductName,StartTime,EndTime,Seconds,NumberDesired,NumberGranted,Start,End,Checkout,Checkin,Reason,LeaseId,ContinuedFromPreviousDay,ContinuesNextDay,Open',
  );
  assert.equal(
    csv[1],
    '2024-05-01,lease,ann,h-a1,1,cad,CAD Pro,22:00:00,24:00:00,7200,1,1,2024-05-01T22:00:00.000Z,2024-05-02T00:00:00.000Z,2024-05-01T22:00:00.000Z,2024-05-02T01:00:00.000Z,lost,L1,false,true,false',
  );
});

test('summary CSV: reference column names, one line per row, formula-looking cells defused', () => {
  const r = buildUsageReport({ events: EVENTS, from: FROM, to: TO, periods: ['day'], productNames: { cad: '=cmd' } });
  const lines = summariesToCsv(r.summaries).trimEnd().split('\n');
  assert.equal(lines.length, 3);
  const head = lines[0].split(',');
  assert.equal(head.length, 17 + 5 * 24 + 5 * 7 + 2 + 2 * 24 + 2 * 7);
  const row = Object.fromEntries(head.map((h, i) => [h, lines[1].split(',')[i]]));
  assert.equal(row.Key, '2024-05-01');
  assert.equal(row.ProductName, "'=cmd");
  assert.equal(row.NrHours, '24');
  assert.equal(row.TotalUsed23, '2');
  assert.equal(row.TotalDesired23, '2.75');
  assert.equal(row.MaxDesired23, '3');
  assert.equal(row.Hours23, '1');
  assert.equal(row.TotalUsedWednesday, '3');
  assert.equal(row.HoursSunday, '0');
  assert.equal(row.WeightedAverageUsed, '0.375');
  assert.equal(row.WeightedAverageDesired23, '2.75');
  assert.equal(row.WeightedAverageUsedWednesday, '0.375');
});

test('leased licenses: the allocation is the seat (27..28); starts and stops inside it are checkouts', () => {
  const w = who('a1', 'ann');
  const events = [
    ev('2024-05-01T10:00:00Z', 27, { ...w, product: 'gis', leaseId: 'G1' }),
    ev('2024-05-01T10:00:00Z', 29, { ...w, product: 'gis', leaseId: 'G1' }),
    ev('2024-05-01T11:00:00Z', 30, { ...w, product: 'gis', leaseId: 'G1' }),
    ev('2024-05-01T12:00:00Z', 29, { ...w, pid: 2, product: 'gis', leaseId: 'G2' }),
    ev('2024-05-01T13:00:00Z', 30, { ...w, pid: 2, product: 'gis', leaseId: 'G2' }),
    ev('2024-05-01T15:00:00Z', 28, { ...w, product: 'gis', reason: 'idle' }),
  ];
  const r = buildUsageReport({ events, from: FROM, to: t('2024-05-02T00:00:00Z'), periods: ['day'] });
  assert.deepEqual(
    r.summaries.map((s) => [s.key, s.product, s.checkouts, s.users, s.maxUsed, s.totalUsed]),
    [['2024-05-01', 'gis', 2, 1, 1, 5]],
  );
  assert.deepEqual(
    r.log.map((l) => [l.kind, l.startTime, l.endTime, l.reason]),
    [
      ['lease', '10:00:00', '11:00:00', null],
      ['allocation', '10:00:00', '15:00:00', 'idle'],
      ['lease', '12:00:00', '13:00:00', null],
    ],
  );
});

test('peak of many overlapping sessions, and input order does not matter', () => {
  const events: ReportEvent[] = [];
  // Ten users; user i holds [10:00 + 5i min, 11:00 + 5i min): all ten overlap 10:45-11:00.
  for (let i = 0; i < 10; i++) {
    const w = who(`a${i}`, `u${i}`);
    const s = t('2024-05-01T10:00:00Z') + i * 300_000;
    events.push({ time: s, code: 1, product: 'cad', ...w, leaseId: `P${i}` }, { time: s + 3_600_000, code: 2, product: 'cad', ...w, leaseId: `P${i}` });
  }
  const a = buildUsageReport({ events, from: FROM, to: t('2024-05-02T00:00:00Z') });
  const b = buildUsageReport({ events: [...events].reverse(), from: FROM, to: t('2024-05-02T00:00:00Z') });
  assert.deepEqual(a, b);
  assert.equal(a.summaries[0].maxUsed, 10);
  assert.equal(a.summaries[0].totalUsed, 10);
  assert.equal(a.summaries[0].hourOfDay[10].maxUsed, 10);
  assert.equal(a.summaries[0].hourOfDay[11].maxUsed, 9);
  assert.equal(a.summaries[0].hourOfDay[10].totalUsed, 6.25); // sum over i of (60 - 5i) min = 375 min
});
