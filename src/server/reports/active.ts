/**
 * Active versus checked out: how long a licensed program was held (its leases) against how long
 * its user was actually working in it: the `input-events` and `work` records of the same user and
 * host whose application is one of the product's programs (`match.executables`, compared by base
 * name without case; the product id also matches). An `input-events` interval with no key or
 * pointer event is not work. Per product and user, and the seats that active use alone would have
 * needed 95 % and 99 % of the time, beside those the checkouts needed.
 */
import { efficiencyCurve, stepSeries } from './concurrency.js';
import { clipTo, mergeIntervals, totalMs, type Interval } from './intervals.js';
import { pairEvents, type ReportEvent, type Span } from './pairing.js';

export interface ActivityInterval {
  type: 'work' | 'input-events' | 'break';
  user: string;
  host: string;
  application: string | null;
  start: number;
  end: number;
  keyboard?: number | null;
  mouse?: number | null;
}

export interface ActiveRow {
  product: string;
  user: string;
  heldHours: number;
  activeHours: number;
  activeShare: number;
}
export interface ActiveProduct extends Omit<ActiveRow, 'user'> {
  users: number;
  /** Seats the checkouts needed 95 % / 99 % of the time, and those active use alone would have needed. */
  heldSeats95: number;
  heldSeats99: number;
  heldMax: number;
  activeSeats95: number;
  activeSeats99: number;
  activeMax: number;
}
export interface ActiveReport {
  byProduct: ActiveProduct[];
  byUser: ActiveRow[];
}

/** A program's or application's name as matched: after the last '/', lower case. */
export const baseName = (s: string): string => s.slice(s.lastIndexOf('/') + 1).toLowerCase();

export function activeReport(input: {
  events: readonly ReportEvent[];
  activity: readonly ActivityInterval[];
  /** Product id -> its programs (executable names or paths). */
  programs: Readonly<Record<string, readonly string[]>>;
  from: number;
  end: number;
}): ActiveReport {
  const { from, end } = input;
  const apps = new Map<string, Set<string>>();
  for (const [p, list] of Object.entries(input.programs)) apps.set(p, new Set([p.toLowerCase(), ...list.map(baseName)]));
  // Working intervals per user, host and application.
  const work = new Map<string, Interval[]>();
  for (const a of input.activity) {
    if (a.type === 'break' || a.application === null) continue;
    if (a.type === 'input-events' && (a.keyboard ?? 0) + (a.mouse ?? 0) === 0) continue;
    const k = `${a.user}\u0000${a.host}\u0000${baseName(a.application)}`;
    let l = work.get(k);
    if (!l) work.set(k, (l = []));
    l.push({ start: a.start, end: a.end });
  }
  const merged = new Map<string, Interval[]>();
  const workFor = (product: string, user: string, host: string): Interval[] => {
    const k = `${product}\u0000${user}\u0000${host}`;
    let m = merged.get(k);
    if (!m) {
      const all: Interval[] = [];
      for (const app of apps.get(product) ?? [product.toLowerCase()]) all.push(...(work.get(`${user}\u0000${host}\u0000${app}`) ?? []));
      merged.set(k, (m = mergeIntervals(all)));
    }
    return m;
  };

  const { spans } = pairEvents(input.events);
  const held: Span[] = [];
  const active: Span[] = [];
  const rows = new Map<string, { product: string; user: string; held: Interval[]; active: Interval[] }>();
  for (const s of spans) {
    if (s.kind !== 'lease' || s.seatKey === null) continue;
    const a = Math.max(s.start ?? from, from);
    const b = Math.min(s.end ?? end, end);
    if (!(b > a)) continue;
    held.push({ ...s, start: a, end: b });
    const parts = clipTo(workFor(s.product, s.user, s.host), a, b);
    for (const p of parts) active.push({ ...s, start: p.start, end: p.end });
    const k = `${s.product}\u0000${s.user}`;
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { product: s.product, user: s.user, held: [], active: [] }));
    r.held.push({ start: a, end: b });
    r.active.push(...parts);
  }
  // Two windows of one seat overlap: per user the held and active time is the union, not the sum.
  const unionHours = (list: Interval[]) => totalMs(mergeIntervals(list)) / 3_600_000;
  const byUser: ActiveRow[] = [...rows.values()]
    .map((r) => {
      const heldHours = unionHours(r.held);
      const activeHours = unionHours(r.active);
      return { product: r.product, user: r.user, heldHours, activeHours, activeShare: heldHours > 0 ? activeHours / heldHours : 0 };
    })
    .sort((a, b) => a.product.localeCompare(b.product) || b.heldHours - a.heldHours || a.user.localeCompare(b.user));
  const heldSteps = stepSeries(held, from, end);
  const activeSteps = stepSeries(active, from, end);
  const byProduct: ActiveProduct[] = [...heldSteps.keys()].sort().map((product) => {
    const us = byUser.filter((r) => r.product === product);
    const h = efficiencyCurve(heldSteps.get(product)!, end);
    const a = efficiencyCurve(activeSteps.get(product) ?? [{ t: from, used: 0, queued: 0 }], end);
    const heldHours = us.reduce((s, r) => s + r.heldHours, 0);
    const activeHours = us.reduce((s, r) => s + r.activeHours, 0);
    return {
      product,
      users: us.length,
      heldHours,
      activeHours,
      activeShare: heldHours > 0 ? activeHours / heldHours : 0,
      heldSeats95: h.seats95,
      heldSeats99: h.seats99,
      heldMax: h.max,
      activeSeats95: a.seats95,
      activeSeats99: a.seats99,
      activeMax: a.max,
    };
  });
  return { byProduct, byUser };
}
