/**
 * Loaders of the license-usage pages (product usage over time, denials and queue waits, users),
 * from the report functions of src/server/reports.ts (usage log and summaries). One loader per
 * page, so the report engine's analytics can replace what is computed here.
 */
import { isAllocatingType } from '../leases/logic.js';
import { DAY_MS, iso } from '../reports/calendar.js';
import { usageReport, type UsageLogRow, type UsageReport } from '../reports/index.js';
import { loadReportPaired } from '../reports/load.js';
import type { LogKind, Paired, Span } from '../reports/pairing.js';
import { buildUsageReport, daySummaryCounts, logBounds, type UsageSummaryRow } from '../reports/usage.js';
import type { ProductRow } from '../storage/types.js';
import { barChart, stepChart, type Chart, type StepSeries } from './charts.js';
import { rangeEnd, rangeStart, type Filters } from './filters.js';
import type { LoadContext, PageData } from './model.js';
import { col, named, pageOf, type Row, type Table } from './table.js';

/** Products a page draws a chart each for, at most. */
const MAX_CHARTS = 12;

async function report(
  ctx: LoadContext,
  periods: Array<'day'>,
  queueAndDenialsOnly = false,
): Promise<{ r: UsageReport; log: UsageLogRow[]; products: ProductRow[] }> {
  const f = ctx.filters;
  // The daily table shows neither the hour-of-day and weekday figures nor the weighted averages.
  const r = await usageReport(ctx.q, { from: f.from, to: f.to, product: f.product, periods, now: ctx.now, queueAndDenialsOnly, hourly: false });
  return { r, log: r.log.filter((row) => matchesPerson(row, f)), products: await ctx.q.products() };
}

const matchesPerson = (row: { user: string; host: string }, f: Filters) => (!f.user || row.user === f.user) && (!f.host || row.host === f.host);

/** The spans and denials of the user and host filters (all of them without either). */
export function personal(p: Paired, f: Filters): Paired {
  if (!f.user && !f.host) return p;
  return { spans: p.spans.filter((s) => matchesPerson(s, f)), denials: p.denials.filter((d) => matchesPerson(d, f)) };
}

/** A checkout, wait or denial on a product's timeline: its part inside the range, in ms. */
export interface TimelineRow {
  kind: LogKind;
  user: string;
  host: string;
  start: number;
  end: number;
}

/**
 * Per product (of `only`, if given), the parts of the spans and denials the usage log shows for
 * [from, end) (logBounds), unsplit at midnight.
 */
export function timelines(p: Paired, from: number, end: number, only?: ReadonlySet<string>): Map<string, TimelineRow[]> {
  const out = new Map<string, TimelineRow[]>();
  for (const s of [...p.spans, ...p.denials]) {
    if (only && !only.has(s.product)) continue;
    const b = logBounds(s, from, end);
    if (!b) continue;
    let rows = out.get(s.product);
    if (!rows) out.set(s.product, (rows = []));
    rows.push({ kind: s.kind, user: s.user, host: s.host, start: b[0], end: b[1] });
  }
  return out;
}

/**
 * Concurrent seats over time from timeline rows: `used` counts seats (distinct workstation and
 * user holding a lease; allocations for leased and node-locked products), `desired` adds waiting
 * queue entries and, at the instant of a denial, one per denial. Rows of one checkout split at
 * midnight join up, and a lease ending as another begins is a hand-over, not two seats.
 */
export function concurrency(rows: readonly TimelineRow[], allocating: boolean): { used: Array<[number, number]>; desired: Array<[number, number]> } {
  type Delta = { t: number; seat?: string; queue?: number; deny?: number; d: number };
  const deltas: Delta[] = [];
  for (const r of rows) {
    if (r.kind === 'deny') deltas.push({ t: r.start, deny: 1, d: 0 });
    else if (r.kind === 'queue') deltas.push({ t: r.start, queue: 1, d: 1 }, { t: r.end, queue: 1, d: -1 });
    else if ((r.kind === 'allocation') === allocating) {
      const seat = `${r.host}\u0000${r.user}`;
      deltas.push({ t: r.start, seat, d: 1 }, { t: r.end, seat, d: -1 });
    }
  }
  deltas.sort((a, b) => a.t - b.t);
  const held = new Map<string, number>();
  let queued = 0;
  const used: Array<[number, number]> = [];
  const desired: Array<[number, number]> = [];
  for (let i = 0; i < deltas.length; ) {
    const t = deltas[i].t;
    let denials = 0;
    for (; i < deltas.length && deltas[i].t === t; i++) {
      const x = deltas[i];
      if (x.seat !== undefined) {
        const n = (held.get(x.seat) ?? 0) + x.d;
        if (n === 0) held.delete(x.seat);
        else held.set(x.seat, n);
      } else if (x.queue) queued += x.d;
      else if (x.deny) denials++;
    }
    const u = held.size;
    if (used.length === 0 || used[used.length - 1][1] !== u) used.push([t, u]);
    if (denials > 0) desired.push([t, u + queued + denials]);
    if (denials > 0 || desired.length === 0 || desired[desired.length - 1][1] !== u + queued) desired.push([t, u + queued]);
  }
  return { used, desired };
}

/**
 * The day summaries of [from, end) per product; with `pageRows`, only the first pageRows of them
 * (day, then product) and the count of all (daySummaryCounts): the days after those rows are not
 * summed. Checked against the rows made; a count that disagrees makes them all.
 */
function dailySummaries(
  paired: Paired,
  from: number,
  to: number,
  end: number,
  productNames: Record<string, string>,
  pageRows: number | undefined,
): { rows: UsageSummaryRow[]; total: number } {
  const all = () => buildUsageReport({ paired, from, to, end, periods: ['day'], productNames, hourly: false, logLimit: 0 }).summaries;
  if (pageRows === undefined) {
    const rows = all();
    return { rows, total: rows.length };
  }
  let total = 0;
  let cutoff = Infinity;
  let before = 0;
  for (const [day, n] of daySummaryCounts(paired, from, end)) {
    total += n;
    if (cutoff === Infinity) before += n;
    if (cutoff === Infinity && before >= pageRows) cutoff = day + DAY_MS;
  }
  if (cutoff >= end) {
    const rows = all();
    return { rows: rows.slice(0, pageRows), total: rows.length };
  }
  const first = buildUsageReport({ paired, from, to: cutoff, end: cutoff, periods: ['day'], productNames, hourly: false, logLimit: 0 }).summaries;
  if (first.length !== before) {
    const rows = all();
    return { rows: rows.slice(0, pageRows), total: rows.length };
  }
  return { rows: first.slice(0, pageRows), total };
}

export async function loadUsage(ctx: LoadContext): Promise<PageData> {
  const f = ctx.filters;
  const from = rangeStart(f);
  const to = rangeEnd(f);
  const end = Math.max(from, Math.min(to, ctx.now));
  const products = await ctx.q.products();
  const names = Object.fromEntries(products.map((p) => [p.id, p.name]));
  const paired = await loadReportPaired(ctx.q, { from, to, product: f.product });
  const mine = personal(paired, f);
  // The daily summaries are per product (all users); the log and the charts follow the user and host filters.
  const charts: Array<Promise<Chart>> = [];
  const chartTo = Math.min(to, ctx.now);
  // The products with rows in the log; the timelines of those charted only.
  const present = new Set<string>();
  for (const list of [mine.spans, mine.denials]) for (const s of list) if (!present.has(s.product) && logBounds(s, from, end)) present.add(s.product);
  const shown = products.filter((p) => present.has(p.id) && (!f.product || p.id === f.product));
  if (ctx.charts) {
    const charted = shown.slice(0, MAX_CHARTS);
    const byProduct = timelines(mine, from, end, new Set(charted.map((p) => p.id)));
    for (const p of charted) {
      const c = concurrency(byProduct.get(p.id)!, isAllocatingType(p.license_type));
      const withStart = (pts: Array<[number, number]>) => [
        [from, 0] as [number, number],
        ...pts,
        [chartTo, pts.length ? pts[pts.length - 1][1] : 0] as [number, number],
      ];
      const series = [
        { name: 'used', points: withStart(c.used), peak: true },
        { name: 'desired', points: withStart(c.desired), peak: true },
      ] as StepSeries[];
      if (p.seats !== null)
        series.push({
          name: `seats (${p.seats} now)`,
          points: [
            [from, p.seats],
            [chartTo, p.seats],
          ],
          dashed: true,
        });
      // Drawn on the chart worker while the tables are built here.
      const chart = stepChart(`${p.name} (${p.id}): concurrent seats`, series, { from, to: chartTo }, f.tz);
      chart.catch(() => {}); // handled by the Promise.all below, whenever it fails
      charts.push(chart);
    }
  }
  const days = dailySummaries(paired, from, to, end, names, ctx.pageRows);
  const log = buildUsageReport({ paired: mine, from, to, end, periods: [], productNames: names, logLimit: ctx.pageRows });
  const daily: Table = {
    id: 'daily',
    title: 'Daily summary per product (UTC days)',
    note: 'Per product, from the report summaries: the user and host filters do not apply to this table.',
    columns: [
      ...named('day', 'product'),
      col('checkouts', 'checkouts', 'int'),
      col('users', 'users', 'int'),
      col('denials', 'denials', 'int'),
      col('queued', 'queued', 'int'),
      col('maxUsed', 'peak used', 'int'),
      col('maxDesired', 'peak desired', 'int'),
      col('usedHours', 'license-hours used', 'hours'),
      col('desiredHours', 'license-hours desired', 'hours'),
      col('averageUsed', 'average used', 'number'),
    ],
    total: days.total,
    rows: days.rows.map((s) => ({
      day: s.key,
      product: s.product,
      checkouts: s.checkouts,
      users: s.users,
      denials: s.denials,
      queued: s.queued,
      maxUsed: s.maxUsed,
      maxDesired: s.maxDesired,
      usedHours: s.totalUsed,
      desiredHours: s.totalDesired,
      averageUsed: s.averageUsed,
    })),
  };
  const usageLog: Table = {
    id: 'log',
    title: 'Usage log (one row per checkout, wait or denial per UTC day)',
    columns: [
      col('start', 'start', 'time'),
      col('end', 'end', 'time'),
      ...named('kind', 'product', 'user', 'host'),
      col('pid', 'pid', 'int'),
      col('seconds', 'duration', 'seconds'),
      col('reason', 'reason'),
      col('open', 'still open'),
    ],
    total: log.logRows,
    rows: log.log.map((x) => ({
      start: x.start,
      end: x.end,
      kind: x.kind,
      product: x.product,
      user: x.user,
      host: x.host,
      pid: x.pid,
      seconds: x.seconds,
      reason: x.reason,
      open: x.open ? 'yes' : '',
    })),
  };
  const notes = [
    'Charts: used = seats held; desired = used + queued + denied (a denial counts at its instant); pins mark the peaks. The seat line is the seat count now (its history is not recorded).',
  ];
  if (shown.length > MAX_CHARTS) notes.push(`Charts for the first ${MAX_CHARTS} of ${shown.length} products; choose a product to see another.`);
  return { charts: await Promise.all(charts), tables: [daily, usageLog], notes };
}

/** One entry per wait: the day-split rows of one wait joined (same product, user, host, pid and start). */
function waits(log: readonly UsageLogRow[]): Array<{
  start: string;
  end: string;
  product: string;
  user: string;
  host: string;
  pid: number | null;
  seconds: number;
  reason: string | null;
  open: boolean;
}> {
  const byKey = new Map<
    string,
    { start: string; end: string; product: string; user: string; host: string; pid: number | null; seconds: number; reason: string | null; open: boolean }
  >();
  for (const x of log) {
    if (x.kind !== 'queue') continue;
    const k = [x.product, x.user, x.host, x.pid, x.checkout ?? 'before'].join('\u0000');
    const w = byKey.get(k);
    if (w) {
      w.end = x.end;
      w.seconds += x.seconds;
      w.reason = x.reason;
      w.open = x.open;
    } else
      byKey.set(k, {
        start: x.start,
        end: x.end,
        product: x.product,
        user: x.user,
        host: x.host,
        pid: x.pid,
        seconds: x.seconds,
        reason: x.reason,
        open: x.open,
      });
  }
  return [...byKey.values()];
}

export async function loadDenials(ctx: LoadContext): Promise<PageData> {
  // Waits and denials only: the leases (most of the events) are not read.
  const { log } = await report(ctx, [], true);
  const denials = log.filter((x) => x.kind === 'deny');
  const ws = waits(log);
  const byProduct = new Map<string, { denials: number; waits: number; waitSeconds: number; maxWait: number }>();
  const entry = (p: string) => byProduct.get(p) ?? byProduct.set(p, { denials: 0, waits: 0, waitSeconds: 0, maxWait: 0 }).get(p)!;
  for (const d of denials) entry(d.product).denials++;
  for (const w of ws) {
    const e = entry(w.product);
    e.waits++;
    e.waitSeconds += w.seconds;
    e.maxWait = Math.max(e.maxWait, w.seconds);
  }
  const byUser = new Map<string, { user: string; product: string; denials: number; waits: number; waitSeconds: number }>();
  const userEntry = (u: string, p: string) => {
    const k = `${u}\u0000${p}`;
    return byUser.get(k) ?? byUser.set(k, { user: u, product: p, denials: 0, waits: 0, waitSeconds: 0 }).get(k)!;
  };
  for (const d of denials) userEntry(d.user, d.product).denials++;
  for (const w of ws) {
    const e = userEntry(w.user, w.product);
    e.waits++;
    e.waitSeconds += w.seconds;
  }
  const charts: Chart[] = [];
  if (ctx.charts && (denials.length > 0 || ws.length > 0)) {
    const days = [...new Set([...denials.map((d) => d.date), ...ws.map((w) => w.start.slice(0, 10))])].sort();
    const products = [...byProduct.keys()].sort();
    const perDay = new Map<string, number>();
    for (const d of denials) perDay.set(`${d.product}\u0000${d.date}`, (perDay.get(`${d.product}\u0000${d.date}`) ?? 0) + 1);
    charts.push(
      await barChart(
        'Denials per UTC day',
        days,
        products.map((p) => ({ name: p, values: days.map((day) => perDay.get(`${p}\u0000${day}`) ?? 0) })),
        { stack: true, unit: 'denials', counts: true },
      ),
    );
  }
  const products: Table = {
    id: 'by-product',
    title: 'By product',
    columns: [
      col('product', 'product'),
      col('denials', 'denials', 'int'),
      col('waits', 'queue waits', 'int'),
      col('averageWait', 'average wait', 'seconds'),
      col('maxWait', 'longest wait', 'seconds'),
    ],
    rows: [...byProduct.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([product, e]) => ({
        product,
        denials: e.denials,
        waits: e.waits,
        averageWait: e.waits ? e.waitSeconds / e.waits : null,
        maxWait: e.waits ? e.maxWait : null,
      })),
  };
  const users: Table = {
    id: 'by-user',
    title: 'By user and product',
    columns: [...named('user', 'product'), col('denials', 'denials', 'int'), col('waits', 'queue waits', 'int'), col('waitSeconds', 'time waited', 'seconds')],
    rows: [...byUser.values()].sort((a, b) => b.denials - a.denials || b.waitSeconds - a.waitSeconds || a.user.localeCompare(b.user)).map((e) => ({ ...e })),
  };
  const denialRows: Table = {
    id: 'denials',
    title: 'Denials',
    columns: [col('time', 'time', 'time'), ...named('product', 'user', 'host'), col('pid', 'pid', 'int'), col('reason', 'reason')],
    rows: denials.map((d) => ({ time: d.start, product: d.product, user: d.user, host: d.host, pid: d.pid, reason: d.reason })),
  };
  const waitRows: Table = {
    id: 'waits',
    title: 'Queue waits',
    columns: [
      col('start', 'queued at', 'time'),
      col('end', 'left queue', 'time'),
      ...named('product', 'user', 'host'),
      col('seconds', 'waited', 'seconds'),
      col('outcome', 'outcome'),
    ],
    rows: ws.map((w) => ({
      start: w.start,
      end: w.end,
      product: w.product,
      user: w.user,
      host: w.host,
      seconds: w.seconds,
      outcome: w.open ? 'still waiting' : w.reason,
    })),
  };
  return { charts, tables: [products, users, denialRows, waitRows] };
}

/** What the users page sums of the leases and allocations held in [from, end). */
export interface Holds {
  /** Per user: license-hours, checkouts, products, the last instant held (ms). */
  users: Map<string, { ms: number; checkouts: Set<string>; products: Set<string>; lastUsed: number }>;
  /** Per checkout (its lease id, or kind, product, user, host and start): its part in the range. */
  checkouts: Map<string, { product: string; user: string; host: string; kind: string; start: number; end: number; ms: number; open: boolean }>;
  /** Per user and product: license-hours and the last instant held. */
  last: Map<string, { user: string; product: string; ms: number; lastUsed: number }>;
}

/** A checkout's identity: its lease id, or its kind, product, user, host and start. */
export const checkoutKey = (s: Span): string => s.leaseId ?? [s.kind, s.product, s.user, s.host, s.start === null ? 'before' : iso(s.start)].join('\u0000');

/**
 * The leases and allocations of `spans` as the usage log shows them in [from, end) (logBounds),
 * summed per user, checkout and user and product, in whole milliseconds (exact in any order).
 */
export function holds(spans: readonly Span[], from: number, end: number): Holds {
  const h: Holds = { users: new Map(), checkouts: new Map(), last: new Map() };
  for (const s of spans) {
    if (s.kind !== 'lease' && s.kind !== 'allocation') continue;
    const b = logBounds(s, from, end);
    if (!b) continue;
    const [a, z] = b;
    const ms = z - a;
    const open = s.end === null || s.end > end;
    const ck = checkoutKey(s);
    let u = h.users.get(s.user);
    if (!u) h.users.set(s.user, (u = { ms: 0, checkouts: new Set(), products: new Set(), lastUsed: z }));
    u.ms += ms;
    u.checkouts.add(ck);
    u.products.add(s.product);
    u.lastUsed = Math.max(u.lastUsed, z);
    const c = h.checkouts.get(ck);
    if (!c) h.checkouts.set(ck, { product: s.product, user: s.user, host: s.host, kind: s.kind, start: a, end: z, ms, open });
    else {
      // Two spans of one checkout key: one checkout from the first start to the last end.
      c.ms += ms;
      if (a < c.start) c.start = a;
      if (z >= c.end) {
        c.end = z;
        c.open = open;
      }
    }
    const lk = `${s.user}\u0000${s.product}`;
    let l = h.last.get(lk);
    if (!l) h.last.set(lk, (l = { user: s.user, product: s.product, ms: 0, lastUsed: z }));
    l.ms += ms;
    l.lastUsed = Math.max(l.lastUsed, z);
  }
  return h;
}

export async function loadUsers(ctx: LoadContext): Promise<PageData> {
  const f = ctx.filters;
  const from = rangeStart(f);
  const to = rangeEnd(f);
  const { spans } = personal(await loadReportPaired(ctx.q, { from, to, product: f.product }), f);
  const end = Math.max(from, Math.min(to, ctx.now));
  const h = holds(spans, from, end);
  const top: Table = {
    id: 'top-users',
    title: 'Top users by license-hours',
    columns: [
      col('user', 'user'),
      col('hours', 'license-hours', 'hours'),
      col('checkouts', 'checkouts', 'int'),
      col('products', 'products'),
      col('lastUsed', 'last used', 'time'),
    ],
    ...pageOf(
      [...h.users.entries()].sort(([a, x], [b, y]) => y.ms - x.ms || a.localeCompare(b)),
      ctx.pageRows,
      ([user, u]) => ({ user, hours: u.ms / 3_600_000, checkouts: u.checkouts.size, products: [...u.products].sort().join(' '), lastUsed: iso(u.lastUsed) }),
    ),
  };
  const longest: Table = {
    id: 'longest-checkouts',
    title: 'Longest checkouts (within the range)',
    columns: [
      ...named('product', 'user', 'host', 'kind'),
      col('start', 'from', 'time'),
      col('end', 'to', 'time'),
      col('seconds', 'held', 'seconds'),
      col('open', 'still open'),
    ],
    rows: [...h.checkouts.values()]
      .sort((a, b) => b.ms - a.ms || a.start - b.start)
      .slice(0, 50)
      .map((c) => ({
        product: c.product,
        user: c.user,
        host: c.host,
        kind: c.kind,
        start: iso(c.start),
        end: iso(c.end),
        seconds: c.ms / 1000,
        open: c.open ? 'yes' : '',
      })),
  };
  const lastUsed: Table = {
    id: 'last-used',
    title: 'Last use per user and product',
    note: 'Days idle: from the last use to the end of the range (or now). Users with no use in the range are not listed.',
    columns: [
      ...named('user', 'product'),
      col('lastUsed', 'last used', 'time'),
      col('daysIdle', 'days idle', 'number'),
      col('hours', 'license-hours', 'hours'),
    ],
    ...pageOf(
      [...h.last.values()].sort((a, b) => a.lastUsed - b.lastUsed || a.user.localeCompare(b.user) || a.product.localeCompare(b.product)),
      ctx.pageRows,
      (l) => ({ user: l.user, product: l.product, lastUsed: iso(l.lastUsed), daysIdle: Math.max(0, (end - l.lastUsed) / 86_400_000), hours: l.ms / 3_600_000 }),
    ),
  };
  const charts: Chart[] = [];
  if (ctx.charts && top.rows.length > 0) {
    // The top rows are the first of the table, on a page as in a download.
    const t = top.rows.slice(0, 15);
    charts.push(
      await barChart(
        'License-hours of the top users',
        t.map((r) => String(r.user)),
        [{ name: 'license-hours', values: t.map((r: Row) => Math.round(Number(r.hours) * 100) / 100) }],
        { unit: 'hours' },
      ),
    );
  }
  return { charts, tables: [top, longest, lastUsed] };
}
