/**
 * The console's pure parts with exact inputs: concurrent seats from usage-log rows, session
 * expiry on a clock the test sets, filters parsed and written back, times in a zone, and charts
 * whose SVG carries no inline style.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concurrency } from '../../src/server/console/usage-data.js';
import { ConsoleTokens, SessionStore } from '../../src/server/console/sessions.js';
import { filterQuery, formatInZone, parseFilters, startOfDayInZone, type FieldError } from '../../src/server/console/filters.js';
import { stepChart, styleFreeSvg } from '../../src/server/console/charts.js';
import { tableCsv } from '../../src/server/console/table.js';
import type { UsageLogRow } from '../../src/server/reports/index.js';

const T0 = Date.UTC(2024, 4, 1, 8);
const MIN = 60_000;
const at = (m: number) => new Date(T0 + m * MIN).toISOString();
function row(kind: UsageLogRow['kind'], user: string, host: string, start: number, end: number): UsageLogRow {
  return {
    date: at(start).slice(0, 10),
    kind,
    product: 'cad',
    productName: 'CAD',
    user,
    host,
    pid: 1,
    leaseId: null,
    start: at(start),
    end: at(end),
    startTime: '',
    endTime: '',
    seconds: (end - start) * 60,
    checkout: at(start),
    checkin: at(end),
    desired: 1,
    granted: kind === 'lease' || kind === 'allocation' ? 1 : 0,
    reason: null,
    continuedFromPreviousDay: false,
    continuesNextDay: false,
    open: false,
  };
}

test('concurrent seats: a second window shares the seat, a hand-over is not two seats, queue and denials add to desired', () => {
  const rows = [
    row('lease', 'ann', 'ws-a', 0, 60),
    row('lease', 'ann', 'ws-a', 10, 20), // second window of ann: same seat
    row('lease', 'bob', 'ws-b', 30, 90),
    row('queue', 'cy', 'ws-c', 40, 60),
    row('lease', 'cy', 'ws-c', 60, 120), // handed ann's seat at 60: still 2
    row('deny', 'dan', 'ws-d', 45, 45),
    row('allocation', 'eve', 'ws-e', 0, 120), // not counted for a floating product
  ];
  const c = concurrency(rows, false);
  assert.deepEqual(
    c.used.map(([t, v]) => [(t - T0) / MIN, v]),
    [
      [0, 1],
      [30, 2],
      [90, 1],
      [120, 0],
    ],
  );
  assert.deepEqual(
    c.desired.map(([t, v]) => [(t - T0) / MIN, v]),
    [
      [0, 1],
      [30, 2],
      [40, 3],
      [45, 4],
      [45, 3],
      [60, 2],
      [90, 1],
      [120, 0],
    ],
  );
  // Leased/node-locked products count allocations instead.
  assert.deepEqual(
    concurrency(rows, true).used.map(([t, v]) => [(t - T0) / MIN, v]),
    [
      [0, 1],
      [120, 0],
    ],
  );
  // A checkout split at midnight into two rows stays one seat, without a dip.
  const split = [row('lease', 'ann', 'ws-a', 0, 30), row('lease', 'ann', 'ws-a', 30, 50)];
  assert.deepEqual(
    concurrency(split, false).used.map(([t, v]) => [(t - T0) / MIN, v]),
    [
      [0, 1],
      [50, 0],
    ],
  );
});

test('sessions end after the idle time or the maximum age, whichever comes first, and are kept by hash only', () => {
  let now = 1_000_000;
  const s = new SessionStore(10_000, 25_000, () => now, 3);
  const { id, session } = s.create({ role: 'viewer', name: 'v' });
  assert.match(id, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(session.csrf, id);
  now += 9_999;
  assert.ok('session' in s.use(id));
  now += 9_999;
  assert.ok('session' in s.use(id), 'use restarts the idle time');
  now += 5_001;
  assert.ok('session' in s.use(id), 'at 24.999 s: younger than the maximum age');
  now += 1;
  assert.deepEqual(s.use(id), { expired: true }, 'past the maximum age though used');
  assert.deepEqual(s.use(id), { unknown: true }, 'and forgotten');
  const idle = s.create({ role: 'admin', name: 'a' });
  now += 10_000;
  assert.deepEqual(s.use(idle.id), { expired: true });
  assert.deepEqual(s.use('not an id'), { unknown: true });
  // Bounded: the longest unused goes first.
  const ids = [1, 2, 3, 4].map(() => s.create({ role: 'viewer', name: 'x' }).id);
  assert.equal(s.size, 3);
  assert.deepEqual(s.use(ids[0]), { unknown: true });
  assert.ok('session' in s.use(ids[3]));
});

test('console tokens: roles from console.tokens, reports.adminTokens as admin, anything else nobody', () => {
  const t = new ConsoleTokens({
    console: { tokens: [{ token: 'viewer-token-0123456789', role: 'viewer', name: 'vera' }] },
    reports: { adminTokens: ['admin-token-0123456789'] },
  });
  assert.deepEqual(t.identify('viewer-token-0123456789'), { role: 'viewer', name: 'vera' });
  assert.deepEqual(t.identify('admin-token-0123456789'), { role: 'admin', name: 'admin token 1' });
  assert.equal(t.identify('admin-token-012345678'), undefined);
  assert.equal(t.identify(''), undefined);
});

test('filters: defaults, strict parsing naming the parameter, written back in a fixed order', () => {
  const now = Date.UTC(2024, 4, 10, 12);
  assert.deepEqual(parseFilters({}, now), { from: '2024-05-04', to: '2024-05-10', tz: 'UTC' });
  const f = parseFilters({ tz: 'Europe/Berlin', user: ' ann ', from: '2024-05-01', to: '2024-05-02', host: '' }, now);
  assert.deepEqual(f, { from: '2024-05-01', to: '2024-05-02', tz: 'Europe/Berlin', user: 'ann' });
  assert.equal(filterQuery(f, { at: 'x' }), '?from=2024-05-01&to=2024-05-02&user=ann&tz=Europe%2FBerlin&at=x');
  const field = (q: Record<string, unknown>) => {
    try {
      parseFilters(q, now);
      return 'accepted';
    } catch (e) {
      return (e as FieldError).field;
    }
  };
  assert.equal(field({ from: '2024-02-30' }), 'query:from');
  assert.equal(field({ to: 'yesterday' }), 'query:to');
  assert.equal(field({ tz: 'Nowhere/Else' }), 'query:tz');
  assert.equal(field({ product: ['a', 'b'] }), 'query:product');
  assert.equal(field({ group: 'x'.repeat(129) }), 'query:group');
  assert.equal(field({ colour: 'red' }), 'query:colour');
});

test('times in a zone, and the start of today there across a DST change', () => {
  assert.equal(formatInZone('2024-05-01T23:30:00.000Z', 'Asia/Tokyo'), '2024-05-02 08:30:00');
  assert.equal(formatInZone(Date.UTC(2024, 0, 1, 0, 0, 5), 'America/New_York'), '2023-12-31 19:00:05');
  assert.equal(formatInZone(null, 'UTC'), '');
  // 2024-03-31 in Berlin: midnight is still +01:00 (UTC 23:00 the day before); noon is +02:00.
  assert.equal(new Date(startOfDayInZone(Date.UTC(2024, 2, 31, 10), 'Europe/Berlin')).toISOString(), '2024-03-30T23:00:00.000Z');
  assert.equal(new Date(startOfDayInZone(Date.UTC(2024, 2, 31, 23, 30), 'Europe/Berlin')).toISOString(), '2024-03-31T22:00:00.000Z');
  assert.equal(new Date(startOfDayInZone(Date.UTC(2024, 4, 1, 16), 'Asia/Tokyo')).toISOString(), '2024-05-01T15:00:00.000Z');
});

test('chart SVG has no style element or attribute; its fonts become presentation attributes', async () => {
  assert.equal(
    styleFreeSvg(
      '<svg><style>.a:hover{fill:red}</style><text style="font: normal normal bold 12px sans-serif" x="1">a</text><text style="font-size:12px;font-family:Arial;white-space:pre;">b</text></svg>',
    ),
    '<svg><text font-size="12px" font-family="sans-serif" font-weight="bold" x="1">a</text><text font-size="12px" font-family="Arial">b</text></svg>',
  );
  const c = await stepChart(
    't',
    [
      {
        name: 'used',
        points: [
          [T0, 1],
          [T0 + MIN, 2],
        ],
        peak: true,
      },
    ],
    { from: T0, to: T0 + 2 * MIN },
    'UTC',
  );
  assert.match(c.svg, /^<svg /);
  assert.doesNotMatch(c.svg, /style/i);
  assert.match(c.svg, /<path /);
  assert.equal(c.description, 'used: peak 2');
});

test('CSV: header of keys, UTC times, quoting, formula-looking text cells defused with a leading quote, numbers as they are', () => {
  const csv = tableCsv({
    id: 't',
    title: 't',
    columns: [
      { key: 'user', label: 'u', kind: 'text' },
      { key: 'at', label: 'a', kind: 'time' },
      { key: 'n', label: 'n', kind: 'int' },
    ],
    rows: [
      { user: 'a,"b"', at: Date.UTC(2024, 4, 1), n: -3 },
      { user: '=cmd()', at: null, n: null },
      { user: '-1+1', at: null, n: 0 },
      { user: '@SUM(A1),x', at: null, n: 1 },
    ],
  });
  assert.equal(csv, `user,at,n\n"a,""b""",2024-05-01T00:00:00.000Z,-3\n'=cmd(),,\n'-1+1,,0\n"'@SUM(A1),x",,1\n`);
});
