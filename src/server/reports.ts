/**
 * Usage reports, in the shape license administrators know from per-day usage logs and summaries
 * (shared/reference/004: Log.txt and Summary.txt):
 *
 * - the usage LOG: every checkout (lease, or leased/node-locked allocation), every wait in a queue
 *   and every denial, with user, host, pid, product and times; anything that runs past 00:00 UTC
 *   is split into one row per UTC day (checked in at 24:00:00, checked out again at 00:00:00);
 * - SUMMARIES per UTC day, ISO week (Monday-Sunday), month or year, per product: checkouts,
 *   distinct users, denials, queue entries, peak concurrent seats used and desired, license-hours
 *   used and desired, and the same totals and peaks by hour of day (00-23) and by day of week.
 *
 * "Used" is the number of seats held at an instant: for floating and site products, distinct
 * (workstation, user) pairs holding at least one lease (a second window shares the seat); for
 * leased and node-locked products, live allocations (codes 27..28). "Desired" is used plus
 * unmet demand: tickets waiting in the queue (codes 5..6), and at the instant of a denial (code
 * 7) one more per denial.
 *
 * The computation (`buildUsageReport`) is a PURE function of the server's usage events (KeyServer
 * codes 1/2 obtain/return, 5/6 queue/dequeue, 7 deny, 27/28 license issued/revoked, 29/30 license
 * start/stop). `loadReportEvents` reads them from the store, adding the opening events of what was
 * already open when the report starts. Anything still open at the report end (a lease never
 * returned, a ticket still waiting) counts as open until then.
 */
import { toCsv } from './csv.js';
import type { Queries, ReportEventRow } from './storage/queries.js';
import type { ServerEvent } from './storage/types.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export const REPORT_PERIODS = ['day', 'week', 'month', 'year'] as const;
export type ReportPeriod = (typeof REPORT_PERIODS)[number];
/** ISO order: Monday first. */
export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

/** One server usage event, as stored in usage_events (time in ms); reports need its product. */
export type ReportEvent = ServerEvent & { product: string };

export type LogKind = 'lease' | 'allocation' | 'queue' | 'deny';

/** One row of the usage log: one checkout (or wait, or denial) on one UTC day. */
export interface UsageLogRow {
  date: string;
  kind: LogKind;
  product: string;
  productName: string;
  user: string;
  host: string;
  pid: number | null;
  leaseId: string | null;
  /** This day's part, ISO UTC. */
  start: string;
  end: string;
  /** HH:MM:SS UTC within `date`; a part that runs to midnight ends at 24:00:00. */
  startTime: string;
  endTime: string;
  seconds: number;
  /** Whole checkout (across days): when it began (null: before anything the report saw) and ended (null: still open at the report end). */
  checkout: string | null;
  checkin: string | null;
  /** 1 for every kind: a seat was wanted. */
  desired: number;
  /** 1 for leases and allocations; 0 for waits and denials. */
  granted: number;
  /** Return/dequeue/deny reason (lost, revoked, idle, granted, expired, no-seats, ...). */
  reason: string | null;
  continuedFromPreviousDay: boolean;
  continuesNextDay: boolean;
  /** Still held/waiting at the report end. */
  open: boolean;
}

export interface HourBucket {
  /** Hours of this bucket inside the reported span. */
  hours: number;
  totalUsed: number;
  totalDesired: number;
  maxUsed: number;
  maxDesired: number;
}

export interface UsageSummaryRow {
  period: ReportPeriod;
  /** 2024-05-01 | 2024-W18 | 2024-05 | 2024 */
  key: string;
  /** The part of the period inside the report, ISO UTC [start, end). */
  start: string;
  end: string;
  product: string;
  productName: string;
  /** Hours of the period inside the reported span (the reference's NrHours). */
  hours: number;
  checkouts: number;
  users: number;
  denials: number;
  queued: number;
  maxUsed: number;
  maxDesired: number;
  /** License-hours. */
  totalUsed: number;
  totalDesired: number;
  /** Time-weighted averages over `hours`. */
  averageUsed: number;
  averageDesired: number;
  /** Index = UTC hour 0-23. */
  hourOfDay: HourBucket[];
  /** Index 0 = Monday ... 6 = Sunday (UTC days). */
  dayOfWeek: HourBucket[];
}

export interface UsageReportInput {
  events: readonly ReportEvent[];
  /** Report span [from, to) in ms. */
  from: number;
  to: number;
  /** Whatever is still open closes here (default `to`; pass min(to, now) for a report reaching into the future). */
  end?: number;
  periods?: readonly ReportPeriod[];
  productNames?: Readonly<Record<string, string>>;
}

export interface UsageReport {
  from: string;
  to: string;
  end: string;
  log: UsageLogRow[];
  summaries: UsageSummaryRow[];
}

// ---- calendar ------------------------------------------------------------------------------------

const iso = (t: number) => new Date(t).toISOString();
const dayKey = (t: number) => iso(t).slice(0, 10);
const dayStart = (t: number) => Math.floor(t / DAY_MS) * DAY_MS;
/** 0 = Monday ... 6 = Sunday. */
const weekday = (t: number) => (new Date(t).getUTCDay() + 6) % 7;

/** Pieces of [start, end) split at UTC midnights. */
export function splitAtUtcMidnight(start: number, end: number): Array<{ day: string; start: number; end: number }> {
  const out: Array<{ day: string; start: number; end: number }> = [];
  let s = start;
  while (s < end) {
    const e = Math.min(end, dayStart(s) + DAY_MS);
    out.push({ day: dayKey(s), start: s, end: e });
    s = e;
  }
  return out;
}

/** ISO 8601 week of a UTC instant: `YYYY-Www`, weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekKey(t: number): string {
  const d = dayStart(t);
  const thursday = d + (3 - weekday(d)) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** The period containing t: its key and [start, end) in ms. */
export function periodOf(period: ReportPeriod, t: number): { key: string; start: number; end: number } {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (period) {
    case 'day':
      return { key: dayKey(t), start: dayStart(t), end: dayStart(t) + DAY_MS };
    case 'week': {
      const start = dayStart(t) - weekday(t) * DAY_MS;
      return { key: isoWeekKey(t), start, end: start + 7 * DAY_MS };
    }
    case 'month':
      return { key: `${y}-${String(m + 1).padStart(2, '0')}`, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    case 'year':
      return { key: String(y), start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
  }
}

const hms = (t: number, dayBegin: number) => {
  const s = Math.round((t - dayBegin) / 1000);
  return [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');
};
const round3 = (x: number) => Math.round(x * 1000) / 1000;

// ---- pairing events into intervals -------------------------------------------------------------

interface Span {
  kind: LogKind;
  product: string;
  agentId: string;
  user: string;
  host: string;
  pid: number | null;
  leaseId: string | null;
  /** null: opened before any event the report saw. */
  start: number | null;
  /** null: still open. */
  end: number | null;
  reason: string | null;
  /** Seat-accounting key (lease spans of code 1 and allocations count; 29/30 runs inside an allocation do not). */
  seatKey: string | null;
}

const OPEN_CODES = new Map<number, 'lease' | 'leaseInAllocation' | 'allocation' | 'queue'>([
  [1, 'lease'], [29, 'leaseInAllocation'], [27, 'allocation'], [5, 'queue'],
]);
const CLOSE_CODES = new Map<number, 'lease' | 'leaseInAllocation' | 'allocation' | 'queue'>([
  [2, 'lease'], [30, 'leaseInAllocation'], [28, 'allocation'], [6, 'queue'],
]);

/** Pair opening and closing events: 1/2 and 29/30 by lease id, 27/28 by (product, agent, user), 5/6 by the process. */
export function pairEvents(events: readonly ReportEvent[]): { spans: Span[]; denials: Span[] } {
  const sorted = events.map((e, i) => ({ e, i })).sort((a, b) => a.e.time - b.e.time || a.i - b.i).map((x) => x.e);
  const open = new Map<string, Span[]>();
  const spans: Span[] = [];
  const denials: Span[] = [];
  const keyOf = (kind: string, e: ReportEvent) => {
    switch (kind) {
      case 'lease':
      case 'leaseInAllocation':
        return `${kind}\u0000${e.leaseId ?? `${e.agentId}\u0000${e.pid}\u0000${e.processStart}`}`;
      case 'allocation':
        return `a\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}`;
      default:
        return `q\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}\u0000${e.pid}\u0000${e.processStart}`;
    }
  };
  const make = (kind: string, e: ReportEvent, start: number | null): Span => ({
    kind: kind === 'leaseInAllocation' ? 'lease' : (kind as LogKind),
    product: e.product,
    agentId: e.agentId ?? e.host ?? '',
    user: e.user ?? '',
    host: e.host ?? '',
    pid: e.pid ?? null,
    leaseId: e.leaseId ?? null,
    start,
    end: null,
    reason: null,
    seatKey: kind === 'lease' ? `${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}` : kind === 'allocation' ? `alloc\u0000${e.product}\u0000${e.agentId ?? e.host}\u0000${e.user}` : null,
  });
  for (const e of sorted) {
    if (e.code === 7) {
      denials.push({ ...make('deny', e, e.time), kind: 'deny', end: e.time, reason: e.reason ?? null });
      continue;
    }
    const o = OPEN_CODES.get(e.code);
    if (o) {
      const k = keyOf(o, e);
      let list = open.get(k);
      if (!list) open.set(k, (list = []));
      const s = make(o, e, e.time);
      list.push(s);
      spans.push(s);
      continue;
    }
    const c = CLOSE_CODES.get(e.code);
    if (!c) continue;
    const list = open.get(keyOf(c, e));
    let s = list?.shift();
    if (!s) {
      // Closed, but opened before anything we were given: count it from the report start.
      s = make(c, e, null);
      spans.push(s);
    }
    s.end = e.time;
    s.reason = e.reason ?? null;
  }
  return { spans, denials };
}

// ---- the report ----------------------------------------------------------------------------------

interface Acc {
  row: UsageSummaryRow;
  users: Set<string>;
}

const emptyBucket = (): HourBucket => ({ hours: 0, totalUsed: 0, totalDesired: 0, maxUsed: 0, maxDesired: 0 });

export function buildUsageReport(input: UsageReportInput): UsageReport {
  const from = input.from;
  const to = input.to;
  const end = Math.max(from, Math.min(input.end ?? to, to));
  const periods = input.periods ?? ['day'];
  const name = (p: string) => input.productNames?.[p] ?? p;
  const { spans, denials } = pairEvents(input.events);

  // ---- log ----
  const log: UsageLogRow[] = [];
  const pushLog = (s: Span, a: number, b: number, zeroLength: boolean) => {
    const pieces = zeroLength ? [{ day: dayKey(a), start: a, end: a }] : splitAtUtcMidnight(a, b);
    for (const p of pieces) {
      const d0 = dayStart(p.start);
      log.push({
        date: p.day, kind: s.kind, product: s.product, productName: name(s.product), user: s.user, host: s.host, pid: s.pid, leaseId: s.leaseId,
        start: iso(p.start), end: iso(p.end), startTime: hms(p.start, d0), endTime: hms(p.end, d0), seconds: round3((p.end - p.start) / 1000),
        checkout: s.start === null ? null : iso(s.start), checkin: s.end === null ? null : iso(s.end),
        desired: 1, granted: s.kind === 'lease' || s.kind === 'allocation' ? 1 : 0, reason: s.reason,
        continuedFromPreviousDay: p.start > (s.start ?? -Infinity) && p.start === d0,
        continuesNextDay: p.end === d0 + DAY_MS && (s.end === null || s.end > p.end),
        open: s.end === null || s.end > end,
      });
    }
  };
  for (const s of spans) {
    const a = Math.max(s.start ?? from, from);
    const b = Math.min(s.end ?? end, end);
    if (b > a) pushLog(s, a, b, false);
    else if (b === a && s.start !== null && s.start >= from && s.start < end && s.end === s.start) pushLog(s, a, b, true);
  }
  for (const d of denials) if (d.start! >= from && d.start! < end) pushLog(d, d.start!, d.start!, true);
  const kindOrder: Record<LogKind, number> = { lease: 0, allocation: 1, queue: 2, deny: 3 };
  log.sort((x, y) => x.start.localeCompare(y.start) || x.product.localeCompare(y.product) || kindOrder[x.kind] - kindOrder[y.kind] || x.user.localeCompare(y.user) || x.host.localeCompare(y.host));

  // ---- summaries ----
  const accs = new Map<string, Acc>();
  const periodHours = new Map<string, { hours: number; hod: number[]; dow: number[]; start: number; end: number }>();
  const spanOfPeriod = (period: ReportPeriod, t: number) => {
    const p = periodOf(period, t);
    const k = `${period}\u0000${p.key}`;
    let ph = periodHours.get(k);
    if (!ph) {
      const s = Math.max(p.start, from);
      const e = Math.min(p.end, end);
      const hod = new Array<number>(24).fill(0);
      const dow = new Array<number>(7).fill(0);
      for (let h = Math.floor(s / HOUR_MS) * HOUR_MS; h < e; h += HOUR_MS) {
        const part = (Math.min(e, h + HOUR_MS) - Math.max(s, h)) / HOUR_MS;
        hod[new Date(h).getUTCHours()] += part;
        dow[weekday(h)] += part;
      }
      ph = { hours: Math.max(0, e - s) / HOUR_MS, hod, dow, start: s, end: e };
      periodHours.set(k, ph);
    }
    return { ...p, ph };
  };
  const acc = (period: ReportPeriod, product: string, t: number): Acc => {
    const p = spanOfPeriod(period, t);
    const k = `${period}\u0000${p.key}\u0000${product}`;
    let a = accs.get(k);
    if (!a) {
      a = {
        users: new Set(),
        row: {
          period, key: p.key, start: iso(p.ph.start), end: iso(p.ph.end), product, productName: name(product), hours: p.ph.hours,
          checkouts: 0, users: 0, denials: 0, queued: 0, maxUsed: 0, maxDesired: 0, totalUsed: 0, totalDesired: 0, averageUsed: 0, averageDesired: 0,
          hourOfDay: p.ph.hod.map((h) => ({ ...emptyBucket(), hours: h })),
          dayOfWeek: p.ph.dow.map((h) => ({ ...emptyBucket(), hours: h })),
        },
      };
      accs.set(k, a);
    }
    return a;
  };
  const inSpan = (t: number) => t >= from && t < end;

  // Counts: checkouts (leases and allocations that began in the span), queue entries, denials, users.
  for (const s of spans) {
    if (s.kind === 'deny') continue;
    if (s.kind === 'lease' && s.start !== null && inSpan(s.start)) for (const p of periods) acc(p, s.product, s.start).row.checkouts++;
    if (s.kind === 'queue' && s.start !== null && inSpan(s.start)) for (const p of periods) acc(p, s.product, s.start).row.queued++;
    if (s.kind === 'lease') {
      const a = Math.max(s.start ?? from, from);
      const b = Math.min(s.end ?? end, end);
      const pieces = b > a ? splitAtUtcMidnight(a, b) : inSpan(a) && b === a ? [{ day: dayKey(a), start: a, end: a }] : [];
      for (const piece of pieces) for (const p of periods) acc(p, s.product, piece.start).users.add(s.user);
    }
  }
  for (const d of denials) if (inSpan(d.start!)) for (const p of periods) acc(p, d.product, d.start!).row.denials++;

  // Levels: a sweep over each product's timeline of used seats and waiting tickets.
  interface Edge { t: number; d: 1 | -1; seat: string | null; wait: boolean }
  const byProduct = new Map<string, { edges: Edge[]; denyAt: Map<number, number> }>();
  const prod = (p: string) => {
    let x = byProduct.get(p);
    if (!x) byProduct.set(p, (x = { edges: [], denyAt: new Map() }));
    return x;
  };
  for (const s of spans) {
    if (s.seatKey === null && s.kind !== 'queue') continue;
    const a = s.start ?? -Infinity;
    const b = s.end ?? Infinity;
    if (!(b > a)) continue;
    const x = prod(s.product);
    x.edges.push({ t: a, d: 1, seat: s.seatKey, wait: s.kind === 'queue' }, { t: b, d: -1, seat: s.seatKey, wait: s.kind === 'queue' });
  }
  for (const d of denials) if (inSpan(d.start!)) {
    const x = prod(d.product);
    x.denyAt.set(d.start!, (x.denyAt.get(d.start!) ?? 0) + 1);
  }

  for (const [product, x] of byProduct) {
    // Ends before starts at the same instant: a seat handed over is not two seats.
    x.edges.sort((a, b) => a.t - b.t || a.d - b.d);
    const holders = new Map<string, number>();
    let used = 0;
    let waiting = 0;
    let i = 0;
    const apply = (e: Edge) => {
      if (e.wait) waiting += e.d;
      else {
        const n = (holders.get(e.seat!) ?? 0) + e.d;
        if (n === 0) holders.delete(e.seat!);
        else holders.set(e.seat!, n);
        if (n === 1 && e.d === 1) used++;
        if (n === 0 && e.d === -1) used--;
      }
    };
    while (i < x.edges.length && x.edges[i].t <= from) apply(x.edges[i++]);
    const denyTimes = [...x.denyAt.keys()].sort((a, b) => a - b);
    let di = 0;
    let t = from;
    while (t < end) {
      // Denials at t: that instant wanted one more seat each.
      while (di < denyTimes.length && denyTimes[di] < t) di++;
      if (di < denyTimes.length && denyTimes[di] === t) {
        const desired = used + waiting + x.denyAt.get(t)!;
        const h = new Date(t).getUTCHours();
        const w = weekday(t);
        for (const p of periods) {
          const r = acc(p, product, t).row;
          r.maxDesired = Math.max(r.maxDesired, desired);
          r.hourOfDay[h].maxDesired = Math.max(r.hourOfDay[h].maxDesired, desired);
          r.dayOfWeek[w].maxDesired = Math.max(r.dayOfWeek[w].maxDesired, desired);
        }
      }
      const nextEdge = i < x.edges.length ? x.edges[i].t : Infinity;
      const nextDeny = di < denyTimes.length ? (denyTimes[di] > t ? denyTimes[di] : denyTimes[di + 1] ?? Infinity) : Infinity;
      if (used === 0 && waiting === 0) {
        t = Math.min(nextEdge, nextDeny, end);
      } else {
        const next = Math.min(nextEdge, nextDeny, end, (Math.floor(t / HOUR_MS) + 1) * HOUR_MS);
        const hours = (next - t) / HOUR_MS;
        const desired = used + waiting;
        const h = new Date(t).getUTCHours();
        const w = weekday(t);
        for (const p of periods) {
          const r = acc(p, product, t).row;
          r.totalUsed += used * hours;
          r.totalDesired += desired * hours;
          r.maxUsed = Math.max(r.maxUsed, used);
          r.maxDesired = Math.max(r.maxDesired, desired);
          for (const b of [r.hourOfDay[h], r.dayOfWeek[w]]) {
            b.totalUsed += used * hours;
            b.totalDesired += desired * hours;
            b.maxUsed = Math.max(b.maxUsed, used);
            b.maxDesired = Math.max(b.maxDesired, desired);
          }
        }
        t = next;
      }
      while (i < x.edges.length && x.edges[i].t <= t) apply(x.edges[i++]);
    }
  }

  const summaries: UsageSummaryRow[] = [];
  for (const { row, users } of accs.values()) {
    const r: UsageSummaryRow = {
      ...row,
      hours: round3(row.hours),
      users: users.size,
      totalUsed: round3(row.totalUsed),
      totalDesired: round3(row.totalDesired),
      averageUsed: row.hours > 0 ? round3(row.totalUsed / row.hours) : 0,
      averageDesired: row.hours > 0 ? round3(row.totalDesired / row.hours) : 0,
      hourOfDay: row.hourOfDay.map((b) => ({ ...b, hours: round3(b.hours), totalUsed: round3(b.totalUsed), totalDesired: round3(b.totalDesired) })),
      dayOfWeek: row.dayOfWeek.map((b) => ({ ...b, hours: round3(b.hours), totalUsed: round3(b.totalUsed), totalDesired: round3(b.totalDesired) })),
    };
    summaries.push(r);
  }
  const periodOrder = (p: ReportPeriod) => REPORT_PERIODS.indexOf(p);
  summaries.sort((a, b) => periodOrder(a.period) - periodOrder(b.period) || a.start.localeCompare(b.start) || a.product.localeCompare(b.product));
  return { from: iso(from), to: iso(to), end: iso(end), log, summaries };
}

// ---- reading the store ---------------------------------------------------------------------------

const toEvent = (r: ReportEventRow): ReportEvent => ({
  time: Date.parse(r.time), code: r.code, product: r.product, agentId: r.agent_id, user: r.user, host: r.host, pid: r.pid,
  processStart: r.process_start, leaseId: r.lease_id, reason: r.reason,
});

/**
 * The server's usage events in [from, to), plus the opening events of leases, allocations and
 * queue tickets that were already open at `from` (read from the lease, allocation and queue
 * tables, which keep their full history).
 */
export async function loadReportEvents(q: Queries, r: { from: number; to: number; product?: string }): Promise<ReportEvent[]> {
  const inRange = await q.reportEventsInRange(iso(r.from), iso(r.to), r.product);
  const openLeases = await q.reportOpenLeaseEvents(r.from, r.product);
  const openAllocations = await q.reportOpenAllocations(r.from, r.product);
  const openTickets = await q.reportOpenTickets(r.from, r.product);
  return [
    ...openAllocations.map((a): ReportEvent => ({ time: a.issued_at, code: 27, product: a.product_id, agentId: a.agent_id, user: a.user, host: a.host })),
    ...openTickets.map((t): ReportEvent => ({ time: t.enqueued_at, code: 5, product: t.product_id, agentId: t.agent_id, user: t.user, host: t.host, pid: t.pid, processStart: t.process_start })),
    ...openLeases.map(toEvent),
    ...inRange.map(toEvent),
  ];
}

export interface UsageReportQuery {
  /** First and last UTC day, inclusive (YYYY-MM-DD). */
  from: string;
  to: string;
  product?: string;
  periods?: readonly ReportPeriod[];
  now: number;
}

export async function usageReport(db: Queries, q: UsageReportQuery): Promise<UsageReport> {
  const from = Date.parse(q.from + 'T00:00:00Z');
  const to = Date.parse(q.to + 'T00:00:00Z') + DAY_MS;
  const names = Object.fromEntries((await db.products()).map((r) => [r.id, r.name]));
  const events = await loadReportEvents(db, { from, to, product: q.product });
  return buildUsageReport({ events, from, to, end: Math.min(to, q.now), periods: q.periods, productNames: names });
}

// ---- CSV -----------------------------------------------------------------------------------------

const csv = toCsv;
const HH = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
const BUCKET_FIELDS = [
  ['Hours', 'hours'], ['TotalUsed', 'totalUsed'], ['TotalDesired', 'totalDesired'], ['MaxUsed', 'maxUsed'], ['MaxDesired', 'maxDesired'],
] as const;

/** Summary CSV, columns named as in the reference Summary.txt (Hours00, TotalUsed00, ..., MaxDesiredSunday). */
export function summariesToCsv(rows: readonly UsageSummaryRow[]): string {
  const head = [
    'Period', 'Key', 'Start', 'End', 'ProductId', 'ProductName', 'NrHours', 'Checkouts', 'Users', 'Denials', 'Queued',
    'MaxUsed', 'MaxDesired', 'TotalUsed', 'TotalDesired', 'AverageUsed', 'AverageDesired',
    ...BUCKET_FIELDS.flatMap(([n]) => HH.map((h) => `${n}${h}`)),
    ...BUCKET_FIELDS.flatMap(([n]) => WEEKDAYS.map((d) => `${n}${d}`)),
  ];
  return csv(
    head,
    rows.map((r) => [
      r.period, r.key, r.start, r.end, r.product, r.productName, r.hours, r.checkouts, r.users, r.denials, r.queued,
      r.maxUsed, r.maxDesired, r.totalUsed, r.totalDesired, r.averageUsed, r.averageDesired,
      ...BUCKET_FIELDS.flatMap(([, f]) => r.hourOfDay.map((b) => b[f])),
      ...BUCKET_FIELDS.flatMap(([, f]) => r.dayOfWeek.map((b) => b[f])),
    ]),
  );
}

/** Log CSV, columns as in the reference Log.txt plus ISO times, kind, lease id and reason. */
export function logToCsv(rows: readonly UsageLogRow[]): string {
  const head = [
    'Date', 'Kind', 'UserName', 'HostName', 'ProcessId', 'ProductId', 'ProductName', 'StartTime', 'EndTime', 'Seconds',
    'NumberDesired', 'NumberGranted', 'Start', 'End', 'Checkout', 'Checkin', 'Reason', 'LeaseId', 'ContinuedFromPreviousDay', 'ContinuesNextDay', 'Open',
  ];
  return csv(
    head,
    rows.map((r) => [
      r.date, r.kind, r.user, r.host, r.pid, r.product, r.productName, r.startTime, r.endTime, r.seconds,
      r.desired, r.granted, r.start, r.end, r.checkout, r.checkin, r.reason, r.leaseId, r.continuedFromPreviousDay, r.continuesNextDay, r.open,
    ]),
  );
}
