/**
 * Usage report: per product per UTC day, the figures license administrators ask for first —
 * checkouts, distinct users, denials, queue entries, peak concurrent seats, license-hours — and
 * license-hours per UTC hour of day (Hours00..Hours23 in the style of per-day usage summaries).
 * Usage spanning midnight is split at 00:00 UTC. The computation is pure (`summarise`); the
 * query around it reads the leases and usage-events tables.
 */
import type { DB } from './store.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface SeatInterval {
  product: string;
  seatKey: string;
  user: string;
  start: number;
  end: number;
}

export interface UsageRow {
  day: string;
  product: string;
  checkouts: number;
  users: number;
  denials: number;
  queued: number;
  peakConcurrent: number;
  licenseHours: number;
  hourly: number[];
}

/** Pieces of [start, end) split at UTC midnights. */
export function splitAtUtcMidnight(start: number, end: number): Array<{ day: string; start: number; end: number }> {
  const out: Array<{ day: string; start: number; end: number }> = [];
  let s = start;
  while (s < end) {
    const dayStart = Math.floor(s / DAY_MS) * DAY_MS;
    const e = Math.min(end, dayStart + DAY_MS);
    out.push({ day: new Date(dayStart).toISOString().slice(0, 10), start: s, end: e });
    s = e;
  }
  return out;
}

/** Merge overlapping intervals of the same product+seat key: one seat, however many processes. */
export function mergeSeatIntervals(intervals: readonly SeatInterval[]): SeatInterval[] {
  const groups = new Map<string, SeatInterval[]>();
  for (const i of intervals) {
    if (i.end <= i.start) continue;
    const k = `${i.product}\u0000${i.seatKey}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(i);
  }
  const out: SeatInterval[] = [];
  for (const g of groups.values()) {
    g.sort((a, b) => a.start - b.start);
    let cur = { ...g[0] };
    for (const i of g.slice(1)) {
      if (i.start <= cur.end) cur.end = Math.max(cur.end, i.end);
      else {
        out.push(cur);
        cur = { ...i };
      }
    }
    out.push(cur);
  }
  return out;
}

export interface SummariseInput {
  fromDay: string;
  toDay: string;
  intervals: readonly SeatInterval[];
  checkouts: ReadonlyArray<{ product: string; time: number; user: string }>;
  denials: ReadonlyArray<{ product: string; time: number }>;
  queued: ReadonlyArray<{ product: string; time: number }>;
}

export function summarise(i: SummariseInput): UsageRow[] {
  const fromMs = Date.parse(i.fromDay + 'T00:00:00Z');
  const toMs = Date.parse(i.toDay + 'T00:00:00Z') + DAY_MS;
  const rows = new Map<string, UsageRow & { userSet: Set<string>; edges: Array<[number, number]> }>();
  const row = (day: string, product: string) => {
    const k = `${day}\u0000${product}`;
    let r = rows.get(k);
    if (!r) {
      r = { day, product, checkouts: 0, users: 0, denials: 0, queued: 0, peakConcurrent: 0, licenseHours: 0, hourly: new Array(24).fill(0), userSet: new Set(), edges: [] };
      rows.set(k, r);
    }
    return r;
  };
  const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
  const inRange = (t: number) => t >= fromMs && t < toMs;

  for (const seat of mergeSeatIntervals(i.intervals)) {
    const s = Math.max(seat.start, fromMs);
    const e = Math.min(seat.end, toMs);
    for (const piece of splitAtUtcMidnight(s, e)) {
      const r = row(piece.day, seat.product);
      r.userSet.add(seat.user);
      r.licenseHours += (piece.end - piece.start) / HOUR_MS;
      r.edges.push([piece.start, 1], [piece.end, -1]);
      // Hour-of-day buckets.
      let t = piece.start;
      while (t < piece.end) {
        const hEnd = Math.min(piece.end, (Math.floor(t / HOUR_MS) + 1) * HOUR_MS);
        r.hourly[new Date(t).getUTCHours()] += (hEnd - t) / HOUR_MS;
        t = hEnd;
      }
    }
  }
  for (const c of i.checkouts) if (inRange(c.time)) {
    const r = row(dayOf(c.time), c.product);
    r.checkouts++;
    r.userSet.add(c.user);
  }
  for (const d of i.denials) if (inRange(d.time)) row(dayOf(d.time), d.product).denials++;
  for (const q of i.queued) if (inRange(q.time)) row(dayOf(q.time), q.product).queued++;

  const out: UsageRow[] = [];
  for (const r of rows.values()) {
    // Ends before starts at the same instant: a seat handed over is not two seats.
    r.edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let cur = 0;
    for (const [, d] of r.edges) r.peakConcurrent = Math.max(r.peakConcurrent, (cur += d));
    const round = (x: number) => Math.round(x * 1000) / 1000;
    out.push({
      day: r.day, product: r.product, checkouts: r.checkouts, users: r.userSet.size, denials: r.denials, queued: r.queued,
      peakConcurrent: r.peakConcurrent, licenseHours: round(r.licenseHours), hourly: r.hourly.map(round),
    });
  }
  return out.sort((a, b) => a.day.localeCompare(b.day) || a.product.localeCompare(b.product));
}

export function usageReport(db: DB, q: { from: string; to: string; product?: string; now: number }): UsageRow[] {
  const fromMs = Date.parse(q.from + 'T00:00:00Z');
  const toMs = Date.parse(q.to + 'T00:00:00Z') + DAY_MS;
  const pf = q.product ? ' AND product_id = @product' : '';
  const leases = db
    .prepare(`SELECT product_id, seat_key, user, granted_at, expires_at, ended_at FROM leases WHERE granted_at < @to AND (ended_at IS NULL OR ended_at >= @from OR expires_at >= @from)${pf}`)
    .all({ from: fromMs, to: toMs, ...(q.product ? { product: q.product } : {}) }) as Array<{ product_id: string; seat_key: string; user: string; granted_at: number; expires_at: number; ended_at: number | null }>;
  const events = db
    .prepare(`SELECT code, product, time FROM usage_events WHERE origin = 'server' AND code IN (5, 7) AND time >= @from AND time < @to${q.product ? ' AND product = @product' : ''}`)
    .all({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), ...(q.product ? { product: q.product } : {}) }) as Array<{ code: number; product: string; time: string }>;
  return summarise({
    fromDay: q.from,
    toDay: q.to,
    intervals: leases.map((l) => ({
      product: l.product_id, seatKey: l.seat_key, user: l.user, start: l.granted_at,
      end: Math.min(l.ended_at ?? q.now, l.expires_at),
    })),
    checkouts: leases.map((l) => ({ product: l.product_id, time: l.granted_at, user: l.user })),
    denials: events.filter((e) => e.code === 7).map((e) => ({ product: e.product, time: Date.parse(e.time) })),
    queued: events.filter((e) => e.code === 5).map((e) => ({ product: e.product, time: Date.parse(e.time) })),
  });
}

export function reportToCsv(rows: readonly UsageRow[]): string {
  const hours = Array.from({ length: 24 }, (_, h) => `Hours${String(h).padStart(2, '0')}`);
  const head = ['Date', 'ProductId', 'Checkouts', 'Users', 'Denials', 'Queued', 'PeakConcurrent', 'LicenseHours', ...hours];
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = rows.map((r) => [r.day, esc(r.product), r.checkouts, r.users, r.denials, r.queued, r.peakConcurrent, r.licenseHours, ...r.hourly].join(','));
  return [head.join(','), ...lines].join('\n') + '\n';
}
