import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairEvents, type ReportEvent } from '../../../src/server/reports/pairing.js';
import { buildUsageReport, daySummaryCounts, type UsageLogRow } from '../../../src/server/reports/usage.js';

const DAY = 86_400_000;
const FROM = Date.parse('2024-05-06T00:00:00Z');

/** Leases, waits and denials of products and users whose names sort differently by locale and by code unit, many starting at one instant. */
function events(): ReportEvent[] {
  const out: ReportEvent[] = [];
  const products = ['b', 'B', 'a', 'é', 'Z'];
  const users = ['émile', 'Emile', 'zoe', 'Zoe', 'adam'];
  let n = 0;
  for (let i = 0; i < 60; i++) {
    const product = products[i % products.length];
    const user = users[(i * 3) % users.length];
    const host = `ws-${i % 4}`;
    // Every third starts at 09:00 on the first day; the others cross midnight (a second piece at 00:00).
    const start = i % 3 === 0 ? FROM + 9 * 3_600_000 : FROM + (i % 5) * DAY + 20 * 3_600_000 + i * 1000;
    const base = { product, user, host, agentId: `a${i % 4}`, pid: 100 + i, processStart: new Date(start).toISOString() };
    if (i % 7 === 0) out.push({ ...base, time: start, code: 7, reason: 'no-seats' });
    else if (i % 5 === 0) out.push({ ...base, time: start, code: 5 }, { ...base, time: start + 600_000, code: 6, reason: 'granted' });
    else out.push({ ...base, time: start, code: 1, leaseId: `L${n}` }, { ...base, time: start + 6 * 3_600_000, code: 2, leaseId: `L${n++}`, reason: 'quit' });
  }
  return out;
}

test('usage log: in the order of start text, product, kind, user and host (locale order), a stable sort; without periods the same log and no summaries', () => {
  const input = { events: events(), from: FROM, to: FROM + 7 * DAY };
  const r = buildUsageReport({ ...input, periods: ['day'] });
  const kindOrder = { lease: 0, allocation: 1, queue: 2, deny: 3 };
  const before = (x: UsageLogRow, y: UsageLogRow) =>
    x.start.localeCompare(y.start) ||
    x.product.localeCompare(y.product) ||
    kindOrder[x.kind] - kindOrder[y.kind] ||
    x.user.localeCompare(y.user) ||
    x.host.localeCompare(y.host);
  assert.ok(r.log.length > 60, `${r.log.length} rows`);
  assert.ok(
    r.log.some((x, i) => i > 0 && x.start === r.log[i - 1].start),
    'rows share a start',
  );
  for (let i = 1; i < r.log.length; i++) assert.ok(before(r.log[i - 1], r.log[i]) <= 0, `row ${i}: ${JSON.stringify([r.log[i - 1], r.log[i]])}`);
  const none = buildUsageReport({ ...input, periods: [] });
  assert.deepEqual(none.log, r.log);
  assert.deepEqual(none.summaries, []);
  assert.ok(r.summaries.length > 0);
});

test('usage log limited: the first rows of the whole log and the count of all; the summaries as without a limit', () => {
  const input = { events: events(), from: FROM, to: FROM + 7 * DAY, periods: ['day'] as const };
  const full = buildUsageReport(input);
  assert.equal(full.logRows, full.log.length);
  const first = buildUsageReport({ ...input, logLimit: 7 });
  assert.deepEqual(first.log, full.log.slice(0, 7));
  assert.equal(first.logRows, full.log.length);
  assert.deepEqual(first.summaries, full.summaries);
  const none = buildUsageReport({ ...input, logLimit: 0 });
  assert.deepEqual([none.log, none.logRows], [[], full.log.length]);
  assert.deepEqual(buildUsageReport({ ...input, logLimit: 10_000 }).log, full.log);
});

test('day summary counts: per UTC day the rows buildUsageReport makes, counted without making them', () => {
  const at = (iso: string) => Date.parse(iso);
  const w = (user: string, pid: number) => ({ agentId: `a-${user}`, user, host: `h-${user}`, pid, processStart: '2024-05-06T00:00:00.000Z' });
  // A lease across midnight, a wait on another product the next day, a denial the day after.
  const hand: ReportEvent[] = [
    { time: at('2024-05-06T22:00:00Z'), code: 1, product: 'cad', leaseId: 'L1', ...w('ann', 1) },
    { time: at('2024-05-07T02:00:00Z'), code: 2, product: 'cad', leaseId: 'L1', ...w('ann', 1) },
    { time: at('2024-05-07T10:00:00Z'), code: 5, product: 'cam', ...w('bob', 2) },
    { time: at('2024-05-07T10:30:00Z'), code: 6, product: 'cam', ...w('bob', 2) },
    { time: at('2024-05-08T09:00:00Z'), code: 7, product: 'cad', ...w('cy', 3) },
  ];
  const perDay = (r: ReturnType<typeof buildUsageReport>) => {
    const m = new Map<number, number>();
    for (const x of r.summaries) m.set(Date.parse(`${x.key}T00:00:00Z`), (m.get(Date.parse(`${x.key}T00:00:00Z`)) ?? 0) + 1);
    return m;
  };
  const expected = new Map([
    [FROM, 1],
    [FROM + DAY, 2],
    [FROM + 2 * DAY, 1],
  ]);
  assert.deepEqual(perDay(buildUsageReport({ events: hand, from: FROM, to: FROM + 3 * DAY })), expected);
  assert.deepEqual(daySummaryCounts(pairEvents(hand), FROM, FROM + 3 * DAY), expected);
  // The many-product history, to its end and to a cut inside a day.
  for (const end of [FROM + 7 * DAY, FROM + 2.5 * DAY]) {
    const r = buildUsageReport({ events: events(), from: FROM, to: FROM + 7 * DAY, end, periods: ['day'] });
    assert.ok(r.summaries.length > 5, `${r.summaries.length} rows`);
    assert.deepEqual(daySummaryCounts(pairEvents(events()), FROM, end), new Map([...perDay(r)].sort(([a], [b]) => a - b)));
  }
});

test('summaries without hourly figures: every other figure as with them, the buckets empty and the weighted averages 0', () => {
  const input = { events: events(), from: FROM, to: FROM + 7 * DAY, periods: ['day', 'week'] as const };
  const full = buildUsageReport(input);
  const plain = buildUsageReport({ ...input, hourly: false });
  assert.deepEqual(plain.log, full.log);
  assert.equal(plain.summaries.length, full.summaries.length);
  assert.ok(full.summaries.some((s) => s.weightedAverageUsed > 0 && s.hourOfDay.length === 24));
  const strip = ({ hourOfDay, dayOfWeek, weightedAverageUsed, weightedAverageDesired, ...rest }: (typeof full.summaries)[number]) => rest;
  assert.deepEqual(plain.summaries.map(strip), full.summaries.map(strip));
  for (const s of plain.summaries) assert.deepEqual([s.hourOfDay, s.dayOfWeek, s.weightedAverageUsed, s.weightedAverageDesired], [[], [], 0, 0]);
});
