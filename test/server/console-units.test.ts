/**
 * The console's pure parts with exact inputs: concurrent seats from usage-log rows, session
 * expiry on a clock the test sets, filters parsed and written back, times in a zone, and charts
 * whose SVG carries no inline style.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { concurrency, holds, timelines, type TimelineRow } from '../../src/server/console/usage-data.js';
import type { Span } from '../../src/server/reports/pairing.js';
import { ConsoleTokens, SessionStore } from '../../src/server/console/sessions.js';
import { filterQuery, formatInZone, parseFilters, startOfDayInZone, type FieldError } from '../../src/server/console/filters.js';
import { renderSpec } from '../../src/server/console/chart-render.js';
import { CHART_NICENESS } from '../../src/server/console/chart-worker.js';
import { stepChart, stepPoints, styleFreeSvg, type StepSeries } from '../../src/server/console/charts.js';
import { pageOf, tableCsv } from '../../src/server/console/table.js';

const T0 = Date.UTC(2024, 4, 1, 8);
const MIN = 60_000;
function row(kind: TimelineRow['kind'], user: string, host: string, start: number, end: number): TimelineRow {
  return { kind, user, host, start: T0 + start * MIN, end: T0 + end * MIN };
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

const H = 3_600_000;
const D = Date.UTC(2024, 4, 1);
function span(kind: Span['kind'], user: string, product: string, leaseId: string | null, start: number | null, end: number | null): Span {
  return {
    kind,
    product,
    agentId: `a-${user}`,
    user,
    host: `ws-${user}`,
    pid: 1,
    leaseId,
    start,
    end,
    reason: null,
    seatKey: kind === 'queue' ? null : `${product}|${user}`,
  };
}
const SPANS: Span[] = [
  span('lease', 'ann', 'cad', 'L1', D - H, D + H), // began before the range: from D
  span('lease', 'ann', 'cad', 'L2', D + 23 * H, null), // still open: to the end, across midnight
  span('allocation', 'bob', 'cad', null, D + 2 * H, D + 2 * H), // zero length, inside the range
  span('queue', 'ann', 'cad', null, D + 3 * H, D + 4 * H), // a wait holds nothing
  span('lease', 'ann', 'cam', 'L3', D + 50 * H, D + 51 * H), // after the end
  span('lease', 'ann', 'cad', 'L1', D + 5 * H, D + 6 * H), // L1 again: one checkout from the first start to the last end
];
const DENIALS: Span[] = [span('deny', 'cy', 'cad', null, D + 7 * H, D + 7 * H), span('deny', 'cy', 'cad', null, D + 49 * H, D + 49 * H)];

test('timeline rows: each span and denial clipped to the range as the usage log shows it, unsplit at midnight', () => {
  const t = timelines({ spans: SPANS, denials: DENIALS }, D, D + 48 * H);
  assert.deepEqual([...t.keys()], ['cad']);
  assert.deepEqual(
    t.get('cad')!.map((r) => [r.kind, r.user, (r.start - D) / H, (r.end - D) / H]),
    [
      ['lease', 'ann', 0, 1],
      ['lease', 'ann', 23, 48],
      ['allocation', 'bob', 2, 2],
      ['queue', 'ann', 3, 4],
      ['lease', 'ann', 5, 6],
      ['deny', 'cy', 7, 7],
    ],
  );
});

test('holds: license time per user, checkout and user and product in whole ms, a checkout key seen twice one checkout, the last instant held', () => {
  const h = holds(SPANS, D, D + 48 * H);
  const bobKey = ['allocation', 'cad', 'bob', 'ws-bob', new Date(D + 2 * H).toISOString()].join('\u0000');
  assert.deepEqual(
    [...h.users].map(([u, x]) => [u, x.ms / H, [...x.checkouts], [...x.products], (x.lastUsed - D) / H]),
    [
      ['ann', 27, ['L1', 'L2'], ['cad'], 48],
      ['bob', 0, [bobKey], ['cad'], 2],
    ],
  );
  assert.deepEqual(
    [...h.checkouts].map(([k, c]) => [k, c.kind, (c.start - D) / H, (c.end - D) / H, c.ms / H, c.open]),
    [
      ['L1', 'lease', 0, 6, 2, false],
      ['L2', 'lease', 23, 48, 25, true],
      [bobKey, 'allocation', 2, 2, 0, false],
    ],
  );
  assert.deepEqual(
    [...h.last.values()].map((l) => [l.user, l.product, l.ms / H, (l.lastUsed - D) / H]),
    [
      ['ann', 'cad', 27, 48],
      ['bob', 'cad', 0, 2],
    ],
  );
});

/** Points written as `t:v t:v ...`. */
const points = (text: string): Array<[number, number]> => text.split(' ').map((p) => p.split(':').map(Number) as [number, number]);

test('step points: per pixel column the lowest, highest and last point in time order; at most three kept as they are; outside the range in the edge columns', () => {
  const pts = points('0:1 2:3 4:0 6:2 8:1 15:5 50:1 51:2 52:1 95:0 99:4 100:2 120:3');
  assert.deepEqual(stepPoints(pts, 0, 100, 10), points('2:3 4:0 8:1 15:5 50:1 51:2 52:1 95:0 99:4 120:3'));
  // The first of equal extremes; a column whose last point is its lowest keeps two.
  assert.deepEqual(stepPoints(points('0:2 1:5 2:5 3:0'), 0, 10, 1), points('1:5 3:0'));
  assert.deepEqual(stepPoints(pts.slice(0, 3), 0, 100, 1), pts.slice(0, 3));
});

test('a page of a table: the first rows made, the total counted; without a page size every row', () => {
  assert.deepEqual(
    pageOf([3, 1, 2], 2, (x) => ({ x })),
    { rows: [{ x: 3 }, { x: 1 }], total: 3 },
  );
  assert.deepEqual(
    pageOf([3, 1, 2], undefined, (x) => ({ x })),
    { rows: [{ x: 3 }, { x: 1 }, { x: 2 }], total: 3 },
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

test('charts drawn on the chart workers: ids unique among them, each the SVG drawn in line', async () => {
  const range = { from: T0, to: T0 + 60 * MIN };
  const series = (k: number): StepSeries[] => [
    {
      name: 'used',
      points: Array.from({ length: 40 }, (_, i): [number, number] => [T0 + i * MIN, (i * k) % 7]),
      peak: true,
    },
    {
      name: 'seats (5 now)',
      points: [
        [T0, 5],
        [T0 + 60 * MIN, 5],
      ],
      dashed: true,
    },
  ];
  // More charts than workers, all handed over before any is awaited, as the usage page does.
  const drawn = await Promise.all([1, 2, 3, 4, 5].map((k) => stepChart(`chart ${k}`, series(k), range, 'UTC')));
  // One page holds them all: an id twice would make one chart clip to another's clip path.
  const ids = drawn.flatMap((c) => [...c.svg.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
  assert.ok(ids.length >= 10, `ids: ${ids.length}`);
  assert.equal(new Set(ids).size, ids.length, 'ids unique across the charts');
  for (const [i, k] of [1, 2, 3, 4, 5].entries()) {
    const prefix = /<clipPath id="([^"]+)-c\d+"/.exec(drawn[i].svg)?.[1];
    assert.ok(prefix, `chart ${k} has clip paths`);
    const inLine = await renderSpec({ kind: 'step', series: series(k), range, tz: 'UTC', ids: prefix });
    assert.equal(drawn[i].svg, inLine, `chart ${k}`);
  }
  assert.notEqual(drawn[0].svg.replaceAll(/chart\w+-/g, ''), drawn[1].svg.replaceAll(/chart\w+-/g, ''));
});

/** Each thread of this process: its id and niceness (/proc/self/task/TID/stat, field 19). */
function threadNiceness(): Array<{ tid: number; nice: number }> {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return { tid: Number(tid), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
  });
}

test('the chart workers draw at their niceness; the event loop thread keeps its own', async () => {
  const series: StepSeries[] = [
    {
      name: 'used',
      points: [
        [Date.parse('2024-05-06T08:00:00Z'), 1],
        [Date.parse('2024-05-06T09:00:00Z'), 2],
      ],
      peak: true,
    },
  ];
  const range = { from: Date.parse('2024-05-06T08:00:00Z'), to: Date.parse('2024-05-06T10:00:00Z') };
  // Two at once: on a machine of two cores or more, two workers.
  await Promise.all([stepChart('a', series, range, 'UTC'), stepChart('b', series, range, 'UTC')]);
  const threads = threadNiceness();
  assert.equal(threads.find((t) => t.tid === process.pid)?.nice, 0, JSON.stringify(threads));
  assert.ok(CHART_NICENESS > 0);
  const niced = threads.filter((t) => t.nice === CHART_NICENESS);
  assert.equal(niced.length, Math.min(2, availableParallelism()), JSON.stringify(threads));
});
