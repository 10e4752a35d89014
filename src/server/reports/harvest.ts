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

export interface IdleNotification { time: number; user: string; host: string; product: string; messageKey: string }
export interface IdleRelease { t: number; product: string; user: string; host: string; leaseId: string | null; action: 'release' | 'suspend' | 'terminate'; givenBackHours: number; until: number | null }
export interface HarvestProduct { product: string; idleReleases: number; suspends: number; terminations: number; givenBackHours: number; denialsAvoided: number }
export interface HarvestReport { releases: IdleRelease[]; byProduct: HarvestProduct[] }

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
  const releases: IdleRelease[] = [];
  for (const e of sorted) {
    if (e.code !== 2 || e.reason !== 'idle' || e.time < from || e.time >= end) continue;
    const next = sorted.find((x) => x.code === 1 && x.time >= e.time && x.product === e.product && x.user === e.user);
    const until = next && next.time < end ? next.time : null;
    // The agent's notification about this release (same user and product, within a minute after it).
    const note = input.notifications?.find((n) => n.product === e.product && n.user === e.user && ACTION[n.messageKey] && n.time >= e.time && n.time <= e.time + 60_000);
    releases.push({
      t: e.time, product: e.product, user: e.user ?? '', host: e.host ?? '', leaseId: e.leaseId ?? null,
      action: note ? ACTION[note.messageKey] : 'release', givenBackHours: ((until ?? end) - e.time) / 3_600_000, until,
    });
  }
  const { spans } = pairEvents(input.events);
  const steps = stepSeries(spans, from, end);
  const per = new Map<string, HarvestProduct>();
  const row = (p: string) => {
    let r = per.get(p);
    if (!r) per.set(p, (r = { product: p, idleReleases: 0, suspends: 0, terminations: 0, givenBackHours: 0, denialsAvoided: 0 }));
    return r;
  };
  for (const r of releases) {
    const x = row(r.product);
    x.idleReleases++;
    if (r.action === 'suspend') x.suspends++;
    if (r.action === 'terminate') x.terminations++;
    x.givenBackHours += r.givenBackHours;
  }
  for (const x of per.values()) {
    const seats = input.seats?.[x.product];
    if (seats === null || seats === undefined) continue;
    const mine = releases.filter((r) => r.product === x.product);
    for (const e of sorted) {
      if (e.code !== 1 || e.product !== x.product || e.time < from || e.time >= end) continue;
      // Seats given back at this instant by others than the one checking out.
      const givenBack = mine.filter((r) => r.t <= e.time && (r.until ?? Infinity) > e.time && r.user !== e.user).length;
      if (givenBack === 0) continue;
      const used = levelAt(steps.get(x.product) ?? [], e.time).used;
      if (used + givenBack > seats) x.denialsAvoided++;
    }
  }
  return { releases, byProduct: [...per.values()].sort((a, b) => a.product.localeCompare(b.product)) };
}
