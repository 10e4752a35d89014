/**
 * Users: who holds the most license-hours, the longest checkouts, and who has not used a product
 * in N days (from each user's last checkout of each product, however long ago).
 */
import { mergeIntervals, totalMs, type Interval } from './intervals.js';
import { pairEvents, type ReportEvent, type Span } from './pairing.js';

export interface UserUsage {
  user: string;
  licenseHours: number;
  checkouts: number;
  products: string[];
}
export interface Checkout {
  product: string;
  user: string;
  host: string;
  leaseId: string | null;
  start: number | null;
  end: number | null;
  hours: number;
}
export interface UsersReport {
  topUsers: UserUsage[];
  longestCheckouts: Checkout[];
}

/** Leases and allocations inside [from, end): license-hours per user (descending), and the `limit` longest checkouts. */
export function usersReport(input: {
  /** The events, or `spans`: them paired already (pairEvents, or usage_spans). */
  events?: readonly ReportEvent[];
  spans?: readonly Span[];
  from: number;
  end: number;
  limit?: number;
}): UsersReport {
  const { from, end } = input;
  const limit = input.limit ?? 20;
  const spans = input.spans ?? pairEvents(input.events ?? []).spans;
  const per = new Map<string, { seats: Map<string, Interval[]>; checkouts: number; products: Set<string> }>();
  const checkouts: Checkout[] = [];
  for (const s of spans) {
    if (s.kind !== 'lease' && s.kind !== 'allocation') continue;
    const a = Math.max(s.start ?? from, from);
    const b = Math.min(s.end ?? end, end);
    if (b < a || (b === a && (s.start === null || s.start < from || s.start >= end))) continue;
    const hours = (b - a) / 3_600_000;
    let u = per.get(s.user);
    if (!u) per.set(s.user, (u = { seats: new Map(), checkouts: 0, products: new Set() }));
    // Seat-hours: a second window on the same seat adds none; a lease inside a leased product's
    // allocation (29/30) is a checkout, its seat-hours are the allocation's.
    if (s.seatKey !== null) {
      let l = u.seats.get(s.seatKey);
      if (!l) u.seats.set(s.seatKey, (l = []));
      l.push({ start: a, end: b });
    }
    if (s.kind === 'lease' && s.start !== null && s.start >= from) u.checkouts++;
    u.products.add(s.product);
    if (s.kind === 'lease')
      checkouts.push({
        product: s.product,
        user: s.user,
        host: s.host,
        leaseId: s.leaseId,
        start: s.start,
        end: s.end !== null && s.end <= end ? s.end : null,
        hours,
      });
  }
  const seatHours = (m: Map<string, Interval[]>) => [...m.values()].reduce((sum, l) => sum + totalMs(mergeIntervals(l)), 0) / 3_600_000;
  const topUsers = [...per]
    .map(([user, u]) => ({ user, licenseHours: seatHours(u.seats), checkouts: u.checkouts, products: [...u.products].sort() }))
    .sort((a, b) => b.licenseHours - a.licenseHours || a.user.localeCompare(b.user))
    .slice(0, limit);
  const longestCheckouts = checkouts.sort((a, b) => b.hours - a.hours || (a.start ?? 0) - (b.start ?? 0)).slice(0, limit);
  return { topUsers, longestCheckouts };
}

export interface LastUse {
  user: string;
  product: string;
  lastUsed: number | null;
}
export interface InactiveUser extends LastUse {
  idleDays: number | null;
}

/**
 * Users of a product whose last checkout is older than `days` before `now` (or who never checked
 * it out), most idle first: candidates for giving a seat back.
 */
export function inactiveUsers(rows: readonly LastUse[], now: number, days: number): InactiveUser[] {
  const cutoff = now - days * 86_400_000;
  return rows
    .filter((r) => r.lastUsed === null || r.lastUsed < cutoff)
    .map((r) => ({ ...r, idleDays: r.lastUsed === null ? null : Math.floor((now - r.lastUsed) / 86_400_000) }))
    .sort((a, b) => (b.idleDays ?? Infinity) - (a.idleDays ?? Infinity) || a.product.localeCompare(b.product) || a.user.localeCompare(b.user));
}
