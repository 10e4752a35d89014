/**
 * The harvesting ledger: licenses taken back from idle users (a lease returned with reason `idle`),
 * what the agent did to the idle program (the `idle.paused` / `idle.closed` notifications it sent:
 * suspended or terminated), the license-hours given back (from the release until the same user
 * takes the product again, or the report end), and the denials avoided afterwards: checkouts by
 * others, while a harvested seat was still given back, at instants when, had the idle users kept
 * their seats, all seats would have been in use.
 */
import { levelAt, stepSeries } from './concurrency.js';
import { pairEvents, type ReportEvent } from './pairing.js';

export interface IdleNotification {
  time: number;
  user: string;
  host: string;
  product: string;
  messageKey: string;
}
export interface IdleRelease {
  t: number;
  product: string;
  user: string;
  host: string;
  leaseId: string | null;
  action: 'release' | 'suspend' | 'terminate';
  givenBackHours: number;
  until: number | null;
}
export interface HarvestProduct {
  product: string;
  idleReleases: number;
  suspends: number;
  terminations: number;
  givenBackHours: number;
  denialsAvoided: number;
}
export interface HarvestReport {
  releases: IdleRelease[];
  byProduct: HarvestProduct[];
}

const ACTION: Readonly<Record<string, 'suspend' | 'terminate'>> = { 'idle.paused': 'suspend', 'idle.closed': 'terminate' };

export function harvestReport(input: {
  events: readonly ReportEvent[];
  notifications?: readonly IdleNotification[];
  seats?: Readonly<Record<string, number | null>>;
  from: number;
  end: number;
}): HarvestReport {
  const { from, end } = input;
  const sorted = [...input.events].sort((a, b) => a.time - b.time);
  const key = (product: string, user: string | null | undefined) => `${product}\u0000${user ?? ''}`;
  // Obtains per product and user (in time order), and the agent's idle notifications likewise.
  const obtains = new Map<string, number[]>();
  const obtainsByProduct = new Map<string, ReportEvent[]>();
  for (const e of sorted) {
    if (e.code !== 1) continue;
    const k = key(e.product, e.user);
    let l = obtains.get(k);
    if (!l) obtains.set(k, (l = []));
    l.push(e.time);
    let p = obtainsByProduct.get(e.product);
    if (!p) obtainsByProduct.set(e.product, (p = []));
    p.push(e);
  }
  const notes = new Map<string, IdleNotification[]>();
  for (const n of input.notifications ?? []) {
    if (!ACTION[n.messageKey]) continue;
    const k = key(n.product, n.user);
    let l = notes.get(k);
    if (!l) notes.set(k, (l = []));
    l.push(n);
  }
  const firstAtOrAfter = (list: readonly number[], t: number) => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo < list.length ? list[lo] : undefined;
  };
  const releases: IdleRelease[] = [];
  for (const e of sorted) {
    if (e.code !== 2 || e.reason !== 'idle' || e.time < from || e.time >= end) continue;
    const k = key(e.product, e.user);
    const next = firstAtOrAfter(obtains.get(k) ?? [], e.time);
    const until = next !== undefined && next < end ? next : null;
    // The agent's notification about this release (same user and product, within a minute after it).
    const note = notes.get(k)?.find((n) => n.time >= e.time && n.time <= e.time + 60_000);
    releases.push({
      t: e.time,
      product: e.product,
      user: e.user ?? '',
      host: e.host ?? '',
      leaseId: e.leaseId ?? null,
      action: note ? ACTION[note.messageKey] : 'release',
      givenBackHours: ((until ?? end) - e.time) / 3_600_000,
      until,
    });
  }
  const per = new Map<string, HarvestProduct>();
  const row = (p: string) => {
    let r = per.get(p);
    if (!r) per.set(p, (r = { product: p, idleReleases: 0, suspends: 0, terminations: 0, givenBackHours: 0, denialsAvoided: 0 }));
    return r;
  };
  const releasesOf = new Map<string, IdleRelease[]>();
  for (const r of releases) {
    const x = row(r.product);
    x.idleReleases++;
    if (r.action === 'suspend') x.suspends++;
    if (r.action === 'terminate') x.terminations++;
    x.givenBackHours += r.givenBackHours;
    let l = releasesOf.get(r.product);
    if (!l) releasesOf.set(r.product, (l = []));
    l.push(r);
  }
  const harvested = input.events.filter((e) => releasesOf.has(e.product));
  const steps = harvested.length ? stepSeries(pairEvents(harvested).spans, from, end) : new Map();
  for (const x of per.values()) {
    const seats = input.seats?.[x.product];
    if (seats === null || seats === undefined) continue;
    const mine = releasesOf.get(x.product)!;
    for (const e of obtainsByProduct.get(x.product) ?? []) {
      if (e.time < from || e.time >= end) continue;
      // Seats given back at this instant by others than the one checking out.
      const givenBack = mine.filter((r) => r.t <= e.time && (r.until ?? Infinity) > e.time && r.user !== e.user).length;
      if (givenBack === 0) continue;
      const used = levelAt(steps.get(x.product) ?? [], e.time).used;
      if (used + givenBack > seats) x.denialsAvoided++;
    }
  }
  return { releases, byProduct: [...per.values()].sort((a, b) => a.product.localeCompare(b.product)) };
}
