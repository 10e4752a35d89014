/**
 * Usage reports, in the shape license administrators know from per-day usage logs and summaries
 * (shared/reference/004: Log.txt and Summary.txt):
 *
 * - the usage LOG: every checkout (lease, or leased/node-locked allocation), every wait in a queue
 *   and every denial, with user, host, pid, product and times; anything that runs past 00:00 UTC
 *   is split into one row per UTC day (checked in at 24:00:00, checked out again at 00:00:00);
 * - SUMMARIES per UTC day, ISO week (Monday-Sunday), reference week (Sunday-Saturday), month or
 *   year, per product: checkouts, distinct users, denials, queue entries, peak concurrent seats
 *   used and desired, license-hours used and desired, plain and weighted averages (averages.ts),
 *   and the same by hour of day (00-23) and by day of week.
 *
 * "Used" is the number of seats held at an instant: for floating and site products, distinct
 * (workstation, user) pairs holding at least one lease (a second window shares the seat); for
 * leased and node-locked products, live allocations (codes 27..28). "Desired" is used plus
 * unmet demand: tickets waiting in the queue (codes 5..6), and at the instant of a denial (code
 * 7) one more per denial.
 *
 * `buildUsageReport` is a PURE function of the server's usage events. Anything still open at the
 * report end (a lease never returned, a ticket still waiting) counts as open until then.
 */
import { WeightedTimeline } from './averages.js';
import {
  DAY_MS,
  HOUR_MS,
  REPORT_PERIODS,
  compareIso,
  dayKey,
  dayStart,
  eachUtcDay,
  hms,
  iso,
  periodOf,
  round3,
  weekday,
  type SummaryPeriod,
} from './calendar.js';
import { pairedOf, type LogKind, type PairedInput, type Span } from './pairing.js';

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
  /** The reference's AverageUsedHH / AverageUsed<Weekday> (averages.ts). */
  weightedAverageUsed: number;
  weightedAverageDesired: number;
}

export interface UsageSummaryRow {
  period: SummaryPeriod;
  /** 2024-05-01 | 2024-W18 | 2024-05 | 2024 | W104695 (refweek) */
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
  /** Plain time-weighted averages: total ÷ `hours`. */
  averageUsed: number;
  averageDesired: number;
  /** The reference's AverageUsed / AverageDesired: weighted toward the busiest 8 hours of a day and 5 days of a week (averages.ts). */
  weightedAverageUsed: number;
  weightedAverageDesired: number;
  /** Index = UTC hour 0-23. */
  hourOfDay: HourBucket[];
  /** Index 0 = Monday ... 6 = Sunday (UTC days). */
  dayOfWeek: HourBucket[];
}

export interface UsageReportInput extends PairedInput {
  /** Report span [from, to) in ms. */
  from: number;
  to: number;
  /** Whatever is still open closes here (default `to`; pass min(to, now) for a report reaching into the future). */
  end?: number;
  periods?: readonly SummaryPeriod[];
  productNames?: Readonly<Record<string, string>>;
  /** false: summaries without the hour-of-day and weekday buckets (empty) and the weighted averages (0), for a view that shows neither. */
  hourly?: boolean;
  /** Only the first logLimit rows of the log (0: none; `logRows` still counts them all), for a page that shows no more. */
  logLimit?: number;
}

export interface UsageReport {
  from: string;
  to: string;
  end: string;
  log: UsageLogRow[];
  /** Rows of the whole log (more than `log` holds under a logLimit). */
  logRows: number;
  summaries: UsageSummaryRow[];
}

/**
 * The part of a span (or denial) in [from, end) that the log shows, [start, end] in ms: clipped to
 * the range, and a zero-length checkout or denial that began in it; null when none.
 */
export function logBounds(s: Span, from: number, end: number): [number, number] | null {
  if (s.kind === 'deny') return s.start! >= from && s.start! < end ? [s.start!, s.start!] : null;
  const a = Math.max(s.start ?? from, from);
  const b = Math.min(s.end ?? end, end);
  if (b > a) return [a, b];
  return b === a && s.start !== null && s.start >= from && s.start < end && s.end === s.start ? [a, a] : null;
}

interface Acc {
  row: UsageSummaryRow;
  users: Set<string>;
}

const emptyBucket = (): HourBucket => ({
  hours: 0,
  totalUsed: 0,
  totalDesired: 0,
  maxUsed: 0,
  maxDesired: 0,
  weightedAverageUsed: 0,
  weightedAverageDesired: 0,
});

const NO_AVERAGES = { average: 0, hourOfDay: [], dayOfWeek: [] };

/**
 * The day summaries buildUsageReport makes for [from, end), counted per UTC day (ms) without
 * making them: a (day, product) has a row when a lease is held on that day (or a zero-length one
 * began), a queue entry began or waited, a seat-holding span (allocation) was held, or a denial
 * fell on it. A page showing the first rows computes only their days and shows this total.
 */
export function daySummaryCounts(paired: { spans: readonly Span[]; denials: readonly Span[] }, from: number, end: number): Map<number, number> {
  const keys = new Map<number, Set<string>>();
  const add = (t: number, product: string) => {
    const d = dayStart(t);
    let set = keys.get(d);
    if (!set) keys.set(d, (set = new Set()));
    set.add(product);
  };
  const inSpan = (t: number) => t >= from && t < end;
  for (const s of paired.spans) {
    if (s.kind === 'deny') continue;
    if ((s.kind === 'queue' || s.kind === 'lease') && s.start !== null && inSpan(s.start)) add(s.start, s.product);
    // The days the span is held or waited on inside the range (the users of a lease, the sweep of the others).
    const counted = s.kind === 'lease' || s.kind === 'queue' || s.seatKey !== null;
    if (!counted) continue;
    const a = Math.max(s.start ?? from, from);
    const b = Math.min(s.end ?? end, end);
    if (s.kind === 'lease' && b === a && inSpan(a)) add(a, s.product);
    eachUtcDay(a, b, (x) => add(x, s.product));
  }
  for (const d of paired.denials) if (inSpan(d.start!)) add(d.start!, d.product);
  return new Map([...keys].sort(([a], [b]) => a - b).map(([d, set]) => [d, set.size]));
}

export function buildUsageReport(input: UsageReportInput): UsageReport {
  const from = input.from;
  const to = input.to;
  const end = Math.max(from, Math.min(input.end ?? to, to));
  const periods = input.periods ?? ['day'];
  const hourly = input.hourly ?? true;
  const name = (p: string) => input.productNames?.[p] ?? p;
  const { spans, denials } = pairedOf(input);

  // ---- log ----
  // The pieces as numbers first (span, start, end), sorted; rows are made only for the pieces
  // returned (logLimit): a page showing the first rows does not format tens of thousands.
  const pieceSpan: Span[] = [];
  const pieceStart: number[] = [];
  const pieceEnd: number[] = [];
  // logLimit 0: the pieces counted, not kept.
  const keep = input.logLimit !== 0;
  let logRows = 0;
  const addPiece = (s: Span, a: number, b: number) => {
    logRows++;
    if (!keep) return;
    pieceSpan.push(s);
    pieceStart.push(a);
    pieceEnd.push(b);
  };
  const addPieces = (s: Span, [a, b]: [number, number]) => {
    if (b === a) addPiece(s, a, a);
    eachUtcDay(a, b, (x, e) => addPiece(s, x, e));
  };
  for (const s of spans) {
    const piece = logBounds(s, from, end);
    if (piece) addPieces(s, piece);
  }
  for (const d of denials) {
    const piece = logBounds(d, from, end);
    if (piece) addPieces(d, piece);
  }
  const limit = Math.min(logRows, input.logLimit ?? logRows);
  const kindOrder: Record<LogKind, number> = { lease: 0, allocation: 1, queue: 2, deny: 3 };
  // By start (the instants: the ISO texts of one format sort alike, and a locale compare of 100,000
  // of them was most of the sort), then product, kind, user, host.
  // Under a limit only the pieces starting no later than the limit-th start can be among the first.
  const starts = Float64Array.from(pieceStart, Math.trunc);
  const last = limit === 0 ? -Infinity : limit === logRows ? Infinity : starts.slice().sort()[limit - 1];
  const order: number[] = [];
  for (let i = 0; i < starts.length; i++) if (starts[i] <= last) order.push(i);
  order.sort((i, j) => {
    const x = pieceSpan[i];
    const y = pieceSpan[j];
    return (
      starts[i] - starts[j] ||
      x.product.localeCompare(y.product) ||
      kindOrder[x.kind] - kindOrder[y.kind] ||
      x.user.localeCompare(y.user) ||
      x.host.localeCompare(y.host) ||
      i - j
    );
  });
  const logRow = (i: number): UsageLogRow => {
    const s = pieceSpan[i];
    const a = pieceStart[i];
    const b = pieceEnd[i];
    const d0 = dayStart(a);
    return {
      date: dayKey(a),
      kind: s.kind,
      product: s.product,
      productName: name(s.product),
      user: s.user,
      host: s.host,
      pid: s.pid,
      leaseId: s.leaseId,
      start: iso(a),
      end: iso(b),
      startTime: hms(a, d0),
      endTime: hms(b, d0),
      seconds: round3((b - a) / 1000),
      checkout: s.start === null ? null : iso(s.start),
      checkin: s.end === null ? null : iso(s.end),
      desired: 1,
      granted: s.kind === 'lease' || s.kind === 'allocation' ? 1 : 0,
      reason: s.reason,
      continuedFromPreviousDay: a > (s.start ?? -Infinity) && a === d0,
      continuesNextDay: b === d0 + DAY_MS && (s.end === null || s.end > b),
      open: s.end === null || s.end > end,
    };
  };
  const sortedLog = order.slice(0, limit).map(logRow);
  if (periods.length === 0) return { from: iso(from), to: iso(to), end: iso(end), log: sortedLog, logRows, summaries: [] };

  // ---- summaries ----
  const accs = new Map<string, Acc>();
  const periodHours = new Map<string, { hours: number; hod: number[]; dow: number[]; start: number; end: number }>();
  const spanOfPeriod = (period: SummaryPeriod, t: number) => {
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
  // Every period starts at a UTC midnight: an instant's accumulator is its day's, cached by
  // (period, day, product) so the spans of one day do not build the same key again.
  const byDay = new Map<SummaryPeriod, Map<number, Map<string, Acc>>>();
  const acc = (period: SummaryPeriod, product: string, t: number): Acc => {
    let days = byDay.get(period);
    if (!days) byDay.set(period, (days = new Map()));
    const d = dayStart(t);
    let products = days.get(d);
    if (!products) days.set(d, (products = new Map()));
    let hit = products.get(product);
    if (!hit) products.set(product, (hit = periodAcc(period, product, t)));
    return hit;
  };
  const periodAcc = (period: SummaryPeriod, product: string, t: number): Acc => {
    const p = spanOfPeriod(period, t);
    const k = `${period}\u0000${p.key}\u0000${product}`;
    let a = accs.get(k);
    if (!a) {
      a = {
        users: new Set(),
        row: {
          period,
          key: p.key,
          start: iso(p.ph.start),
          end: iso(p.ph.end),
          product,
          productName: name(product),
          hours: p.ph.hours,
          checkouts: 0,
          users: 0,
          denials: 0,
          queued: 0,
          maxUsed: 0,
          maxDesired: 0,
          totalUsed: 0,
          totalDesired: 0,
          averageUsed: 0,
          averageDesired: 0,
          weightedAverageUsed: 0,
          weightedAverageDesired: 0,
          hourOfDay: hourly ? p.ph.hod.map((h) => ({ ...emptyBucket(), hours: h })) : [],
          dayOfWeek: hourly ? p.ph.dow.map((h) => ({ ...emptyBucket(), hours: h })) : [],
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
      // The user on each UTC day of the piece (a zero-length one on its day).
      if (b === a && inSpan(a)) for (const p of periods) acc(p, s.product, a).users.add(s.user);
      for (let x = a; x < b; x = dayStart(x) + DAY_MS) for (const p of periods) acc(p, s.product, x).users.add(s.user);
    }
  }
  for (const d of denials) if (inSpan(d.start!)) for (const p of periods) acc(p, d.product, d.start!).row.denials++;

  // Levels: a sweep over each product's timeline of used seats and waiting tickets.
  interface Edge {
    t: number;
    d: 1 | -1;
    seat: string | null;
    wait: boolean;
  }
  // License-hours per UTC clock hour, for the weighted averages.
  interface ProductTimeline {
    edges: Edge[];
    denyAt: Map<number, number>;
    usedByHour: Map<number, number>;
    desiredByHour: Map<number, number>;
  }
  const byProduct = new Map<string, ProductTimeline>();
  const prod = (p: string) => {
    let x = byProduct.get(p);
    if (!x) byProduct.set(p, (x = { edges: [], denyAt: new Map(), usedByHour: new Map(), desiredByHour: new Map() }));
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
  for (const d of denials)
    if (inSpan(d.start!)) {
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
    // Every period starts at a UTC midnight: the rows an instant adds to change only with its day.
    let rowsDay = NaN;
    let rows: UsageSummaryRow[] = [];
    const rowsAt = (t: number) => {
      const d = dayStart(t);
      if (d !== rowsDay) {
        rowsDay = d;
        rows = periods.map((p) => acc(p, product, t).row);
      }
      return rows;
    };
    const denyTimes = [...x.denyAt.keys()].sort((a, b) => a - b);
    let di = 0;
    let t = from;
    while (t < end) {
      // Denials at t: that instant wanted one more seat each.
      while (di < denyTimes.length && denyTimes[di] < t) di++;
      if (di < denyTimes.length && denyTimes[di] === t) {
        const desired = used + waiting + x.denyAt.get(t)!;
        const h = hourly ? new Date(t).getUTCHours() : 0;
        const w = hourly ? weekday(t) : 0;
        for (const r of rowsAt(t)) {
          r.maxDesired = Math.max(r.maxDesired, desired);
          if (!hourly) continue;
          r.hourOfDay[h].maxDesired = Math.max(r.hourOfDay[h].maxDesired, desired);
          r.dayOfWeek[w].maxDesired = Math.max(r.dayOfWeek[w].maxDesired, desired);
        }
      }
      const nextEdge = i < x.edges.length ? x.edges[i].t : Infinity;
      const nextDeny = di < denyTimes.length ? (denyTimes[di] > t ? denyTimes[di] : (denyTimes[di + 1] ?? Infinity)) : Infinity;
      if (used === 0 && waiting === 0) {
        t = Math.min(nextEdge, nextDeny, end);
      } else {
        // Hour by hour for the hourly figures; without them the rows change only with the day.
        const next = Math.min(nextEdge, nextDeny, end, hourly ? (Math.floor(t / HOUR_MS) + 1) * HOUR_MS : dayStart(t) + DAY_MS);
        const hours = (next - t) / HOUR_MS;
        const desired = used + waiting;
        const h = hourly ? new Date(t).getUTCHours() : 0;
        const w = hourly ? weekday(t) : 0;
        const slot = Math.floor(t / HOUR_MS) * HOUR_MS;
        if (hourly) {
          x.usedByHour.set(slot, (x.usedByHour.get(slot) ?? 0) + used * hours);
          x.desiredByHour.set(slot, (x.desiredByHour.get(slot) ?? 0) + desired * hours);
        }
        for (const r of rowsAt(t)) {
          r.totalUsed += used * hours;
          r.totalDesired += desired * hours;
          r.maxUsed = Math.max(r.maxUsed, used);
          r.maxDesired = Math.max(r.maxDesired, desired);
          if (!hourly) continue;
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
  const timelines = new Map<string, { used: WeightedTimeline; desired: WeightedTimeline }>();
  const timeline = (product: string) => {
    let x = timelines.get(product);
    if (!x) {
      const tl = byProduct.get(product);
      timelines.set(
        product,
        (x = { used: new WeightedTimeline(tl?.usedByHour ?? new Map(), from, end), desired: new WeightedTimeline(tl?.desiredByHour ?? new Map(), from, end) }),
      );
    }
    return x;
  };
  for (const { row, users } of accs.values()) {
    const start = Date.parse(row.start);
    const stop = Date.parse(row.end);
    const tl = hourly ? timeline(row.product) : undefined;
    const wu = tl ? tl.used.averages(start, stop) : NO_AVERAGES;
    const wd = tl ? tl.desired.averages(start, stop) : NO_AVERAGES;
    row.hourOfDay.forEach((b, h) => {
      b.weightedAverageUsed = round3(wu.hourOfDay[h]);
      b.weightedAverageDesired = round3(wd.hourOfDay[h]);
    });
    row.dayOfWeek.forEach((b, d) => {
      b.weightedAverageUsed = round3(wu.dayOfWeek[d]);
      b.weightedAverageDesired = round3(wd.dayOfWeek[d]);
    });
    const r: UsageSummaryRow = {
      ...row,
      weightedAverageUsed: round3(wu.average),
      weightedAverageDesired: round3(wd.average),
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
  const periodOrder = (p: SummaryPeriod) => (p === 'refweek' ? 1.5 : REPORT_PERIODS.indexOf(p));
  summaries.sort((a, b) => periodOrder(a.period) - periodOrder(b.period) || compareIso(a.start, b.start) || a.product.localeCompare(b.product));
  return { from: iso(from), to: iso(to), end: iso(end), log: sortedLog, logRows, summaries };
}
