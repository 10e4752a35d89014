/**
 * Reference 004 exactly: week numbers and seconds from the era origin, the weighted averages
 * (busiest 8 hours of a day, busiest 5 days of a week) over a crafted week where they differ from
 * the plain time-weighted ones, and the log-file tree with a checkout crossing midnight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildLogFiles,
  buildUsageReport,
  eraSeconds,
  meanOfTop,
  refWeekNumber,
  summaryColumns,
  weightedAverages,
  type ReportEvent,
} from '../../../src/server/reports/index.js';

const t = (s: string) => Date.parse(s);
const ann = { agentId: 'a1', user: 'ann', host: 'ws-a', pid: 10, processStart: '2007-01-01T00:00:00.000Z' };
const bob = { agentId: 'a2', user: 'bob', host: 'ws-b', pid: 20, processStart: '2007-01-01T00:00:00.000Z' };
const ev = (time: string, code: number, w: typeof ann, o: Partial<ReportEvent> = {}): ReportEvent => ({ time: t(time), code, product: 'cad', ...w, ...o });
let n = 0;
const session = (w: typeof ann, start: string, end: string): ReportEvent[] => {
  const leaseId = `L${++n}`;
  return [ev(start, 1, w, { leaseId }), ev(end, 2, w, { leaseId })];
};

test('week numbers from the era origin: the week of 2007-07-01 (Sunday) is W104695; seconds from 0001-01-01', () => {
  assert.equal(refWeekNumber(t('2007-07-01T00:00:00Z')), 104695);
  assert.equal(refWeekNumber(t('2007-07-07T23:59:59Z')), 104695); // Saturday: same week
  assert.equal(refWeekNumber(t('2007-06-30T23:59:59Z')), 104694); // the Saturday before
  assert.equal(refWeekNumber(t('2007-07-08T00:00:00Z')), 104696);
  assert.equal(refWeekNumber(t('0001-01-01T00:00:00Z')), 1); // a Monday, in week 1
  // 719162 days from 0001-01-01 to 1970-01-01 (x 86400 = 62135596800 s), plus 1183248000 s to 2007-07-01.
  assert.equal(eraSeconds(t('2007-07-01T00:00:00Z')), 63318844800);
  assert.equal(eraSeconds(t('0001-01-01T00:00:01Z')), 1);
});

test('meanOfTop and weightedAverages over hand-made hourly levels', () => {
  assert.equal(meanOfTop([3, 1, 2], 2), 2.5);
  assert.equal(meanOfTop([3, 1], 5), 2); // fewer than k: all of them
  assert.equal(meanOfTop([], 5), 0);
  // One Monday with two busy hours: D = (4 + 2 + 6 x 0) / 8 = 0.75.
  const mon = t('2007-07-02T00:00:00Z');
  const levels = Array.from({ length: 24 }, (_, h) => ({ t: mon + h * 3_600_000, level: h === 9 ? 4 : h === 10 ? 2 : 0 }));
  const w = weightedAverages(levels);
  assert.equal(w.average, 0.75);
  assert.equal(w.hourOfDay[9], 4);
  assert.equal(w.hourOfDay[11], 0);
  assert.deepEqual(w.dayOfWeek, [0.75, 0, 0, 0, 0, 0, 0]);
});

/**
 * The week of 2007-07-01 (Sunday) to 07-07 (Saturday): ann works Monday to Thursday 09-17, Friday
 * 09-13 and Saturday 10-11 (37 license-hours); bob waits in the queue on Saturday 11-13 and is
 * denied on Tuesday at noon.
 */
const WEEK: ReportEvent[] = [
  ...['02', '03', '04', '05'].flatMap((d) => session(ann, `2007-07-${d}T09:00:00Z`, `2007-07-${d}T17:00:00Z`)),
  ...session(ann, '2007-07-06T09:00:00Z', '2007-07-06T13:00:00Z'),
  ...session(ann, '2007-07-07T10:00:00Z', '2007-07-07T11:00:00Z'),
  ev('2007-07-07T11:00:00Z', 5, bob),
  ev('2007-07-07T13:00:00Z', 6, bob, { reason: 'expired' }),
  ev('2007-07-03T12:00:00Z', 7, bob, { reason: 'all-seats-in-use' }),
];
const FROM = t('2007-07-01T00:00:00Z');
const TO = t('2007-07-08T00:00:00Z');

test('reference averages over a crafted week differ from the plain time-weighted ones', () => {
  const r = buildUsageReport({ events: WEEK, from: FROM, to: TO, periods: ['refweek'] });
  assert.equal(r.summaries.length, 1);
  const w = r.summaries[0];
  assert.deepEqual([w.key, w.hours, w.totalUsed, w.totalDesired, w.maxUsed, w.maxDesired], ['W104695', 168, 37, 39, 1, 2]);
  // Plain: 37 / 168 and 39 / 168.
  assert.equal(w.averageUsed, 0.22);
  assert.equal(w.averageDesired, 0.232);
  // Busiest 8 hours of each day (used): Sunday 0, Monday-Thursday 8/8 = 1, Friday 4/8, Saturday 1/8.
  // Busiest 5 days: 1, 1, 1, 1, 0.5 -> 4.5 / 5 = 0.9. Desired: Saturday is 3/8 (10-13), the top 5 are the same.
  assert.equal(w.weightedAverageUsed, 0.9);
  assert.equal(w.weightedAverageDesired, 0.9);
  // Per weekday (Monday first): the day's busiest-8-hours mean.
  assert.deepEqual(
    w.dayOfWeek.map((b) => b.weightedAverageUsed),
    [1, 1, 1, 1, 0.5, 0.125, 0],
  );
  assert.deepEqual(
    w.dayOfWeek.map((b) => b.weightedAverageDesired),
    [1, 1, 1, 1, 0.5, 0.375, 0],
  );
  // Per hour of day: the busiest 5 days of that hour. 13h: Monday-Thursday 1, the rest 0 -> 4/5 (plain: 4 / 7 days).
  const hod = w.hourOfDay;
  assert.deepEqual(
    [hod[9].weightedAverageUsed, hod[10].weightedAverageUsed, hod[13].weightedAverageUsed, hod[17].weightedAverageUsed, hod[3].weightedAverageUsed],
    [1, 1, 0.8, 0, 0],
  );
  assert.deepEqual([hod[13].totalUsed, hod[13].hours, hod[11].totalDesired, hod[11].weightedAverageDesired, hod[12].maxDesired], [4, 7, 6, 1, 2]);

  // The Friday alone: busiest 8 hours 4/8 = 0.5 against the plain 4/24.
  const fri = buildUsageReport({ events: WEEK, from: t('2007-07-06T00:00:00Z'), to: t('2007-07-07T00:00:00Z'), periods: ['day'] }).summaries[0];
  assert.deepEqual([fri.weightedAverageUsed, fri.averageUsed], [0.5, 0.167]);
});

test('log files: the reference tree, columns in order, a checkout open at midnight split at the day boundary, per-user rows', () => {
  const events = [...WEEK, ...session(bob, '2007-06-30T22:00:00Z', '2007-07-01T02:30:00Z')];
  const files = buildLogFiles({ events, from: t('2007-06-30T00:00:00Z'), to: TO, mode: 'UserSummary', productNames: { cad: 'CAD Pro' } });
  const byPath = new Map(files.map((f) => [f.path, f.text]));
  assert.deepEqual([...byPath.keys()].filter((p) => !/\/\d\d\/\d\d\//.test(p)).sort(), [
    '2007/06/Summary.txt',
    '2007/07/Summary.txt',
    '2007/Summary.txt',
    'WeeklySummaries/SummaryW104694.txt/Summary.txt',
    'WeeklySummaries/SummaryW104695.txt/Summary.txt',
  ]);
  assert.equal(files.filter((f) => f.path.endsWith('/Log.txt')).length, 8); // 2007-06-30 .. 07-07

  const rows = (p: string) =>
    byPath
      .get(p)!
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t'));
  const [logHead, ...sat] = rows('2007/06/30/Log.txt');
  assert.deepEqual(logHead, [
    'UserName',
    'HostName',
    'ProcessId',
    'ProductId',
    'ProductName',
    'StartTime(InSeconds)',
    'EndTime(inSeconds)',
    'NumberDesired',
    'NumberGranted',
    'Date',
    'StartTime',
    'EndTime',
  ]);
  const midnight = 63318844800; // 2007-07-01T00:00:00Z
  assert.deepEqual(sat, [['bob', 'ws-b', '20', 'cad', 'CAD Pro', String(midnight - 7200), String(midnight), '1', '1', '2007/06/30', '22:00:00', '24:00:00']]);
  const sun = rows('2007/07/01/Log.txt').slice(1);
  assert.deepEqual(sun, [['bob', 'ws-b', '20', 'cad', 'CAD Pro', String(midnight), String(midnight + 9000), '1', '1', '2007/07/01', '00:00:00', '02:30:00']]);
  // Tuesday: ann's checkout, and bob's denial (desired, not granted) at noon.
  const tue = rows('2007/07/03/Log.txt').slice(1);
  assert.deepEqual(
    tue.map((r) => [r[0], r[7], r[8], r[10], r[11]]),
    [
      ['ann', '1', '1', '09:00:00', '17:00:00'],
      ['bob', '1', '0', '12:00:00', '12:00:00'],
    ],
  );

  // The week's summary: the all-users row, then one row per user; the reference's columns in order, Sunday first.
  const [head, ...week] = rows('WeeklySummaries/SummaryW104695.txt/Summary.txt');
  assert.deepEqual(head.slice(0, 17), [
    'UserName',
    'ProductId',
    'ProductName',
    'NrHours',
    'AverageDesired',
    'AverageUsed',
    'MaxDesired',
    'MaxUsed',
    'TotalDesired',
    'TotalUsed',
    'Hours00',
    'AverageDesired00',
    'AverageUsed00',
    'MaxDesired00',
    'MaxUsed00',
    'TotalDesired00',
    'TotalUsed00',
  ]);
  assert.deepEqual(head.slice(10 + 24 * 7, 10 + 24 * 7 + 8), [
    'HoursSunday',
    'AverageDesiredSunday',
    'AverageUsedSunday',
    'MaxDesiredSunday',
    'MaxUsedSunday',
    'TotalDesiredSunday',
    'TotalUsedSunday',
    'HoursMonday',
  ]);
  assert.equal(head.length, 10 + 7 * 24 + 7 * 7);
  assert.deepEqual(
    week.map((r) => r[0]),
    ['', 'ann', 'bob'],
  );
  const col = (r: string[], name: string) => r[head.indexOf(name)];
  const [allUsers, annRow, bobRow] = week;
  // All users: bob's 2.5 h on Sunday morning add to ann's 37 h; Sunday's busiest 8 hours: 2.5/8.
  assert.deepEqual(
    ['NrHours', 'TotalUsed', 'TotalDesired', 'AverageUsed', 'MaxUsed', 'MaxDesired', 'AverageUsedSunday', 'TotalUsedSunday'].map((c) => col(allUsers, c)),
    ['168', '39.5', '41.5', '0.9', '1', '2', '0.313', '2.5'],
  );
  assert.deepEqual(
    ['TotalUsed', 'TotalDesired', 'AverageUsed', 'AverageUsedSaturday'].map((c) => col(annRow, c)),
    ['37', '37', '0.9', '0.125'],
  );
  // bob: used 2.5 h (Sunday), desired 2.5 + 2 h waiting on Saturday + the denial's instant (peak 1).
  // Used: busiest 5 days 2.5/8, 0, 0, 0, 0 -> 0.0625. Desired: Sunday 2.5/8, Saturday 2/8, 0, 0, 0 -> 0.5625 / 5 = 0.1125.
  assert.deepEqual(
    ['TotalUsed', 'TotalDesired', 'MaxUsed', 'MaxDesired', 'AverageUsed', 'AverageDesired'].map((c) => col(bobRow, c)),
    ['2.5', '4.5', '1', '1', '0.063', '0.113'],
  );

  // A day's summary has no day-of-week columns.
  const [dayHead, dayRow] = rows('2007/06/30/Summary.txt');
  assert.deepEqual(dayHead, summaryColumns(false));
  assert.equal(dayHead.length, 10 + 7 * 24);
  assert.deepEqual([dayRow[0], dayRow[3], dayRow[9], col(dayRow, 'TotalUsed22'), dayRow[5]], ['', '24', '2', '1', '0.25']);
});
