/**
 * Offline use beside online, per product (reference 000: "offline" means the program ran without
 * a license allocation, codes 10-13): licensed programs run offline (10/11) and logged programs
 * run offline (12/13), paired by agent, product and process, against the online checkouts (the
 * server's leases, 1/2) of the same product.
 */
import { pairEvents, type ReportEvent, type Span } from './pairing.js';

export interface OfflineRow {
  product: string;
  onlineCheckouts: number;
  onlineHours: number;
  offlineLaunches: number;
  offlineHours: number;
  loggedOfflineLaunches: number;
  loggedOfflineHours: number;
  /** Offline hours ÷ (online + offline hours) of the licensed use. */
  offlineShare: number;
}

const OFFLINE_PAIRS: ReadonlyMap<number, 'licensed' | 'logged'> = new Map([
  [10, 'licensed'],
  [12, 'logged'],
]);
const OFFLINE_ENDS: ReadonlyMap<number, 'licensed' | 'logged'> = new Map([
  [11, 'licensed'],
  [13, 'logged'],
]);

export function offlineReport(input: {
  events: readonly ReportEvent[];
  /** The online checkouts (leases of codes 1/2) paired already; without, from the events' 1 and 2. */
  online?: readonly Span[];
  from: number;
  end: number;
}): OfflineRow[] {
  const { from, end } = input;
  const per = new Map<string, OfflineRow>();
  const row = (p: string) => {
    let r = per.get(p);
    if (!r)
      per.set(
        p,
        (r = {
          product: p,
          onlineCheckouts: 0,
          onlineHours: 0,
          offlineLaunches: 0,
          offlineHours: 0,
          loggedOfflineLaunches: 0,
          loggedOfflineHours: 0,
          offlineShare: 0,
        }),
      );
    return r;
  };
  const clipHours = (a: number | null, b: number | null) => Math.max(0, Math.min(b ?? end, end) - Math.max(a ?? from, from)) / 3_600_000;
  for (const s of input.online ?? pairEvents(input.events.filter((e) => e.code === 1 || e.code === 2)).spans) {
    if (s.kind !== 'lease') continue;
    const r = row(s.product);
    if (s.start !== null && s.start >= from && s.start < end) r.onlineCheckouts++;
    r.onlineHours += clipHours(s.start, s.end);
  }
  const open = new Map<string, number[]>();
  const key = (e: ReportEvent, kind: string) => `${kind}\u0000${e.agentId ?? e.host}\u0000${e.product}\u0000${e.pid}\u0000${e.processStart}`;
  const sorted = input.events.filter((e) => e.code >= 10 && e.code <= 13).sort((a, b) => a.time - b.time);
  const add = (product: string, kind: 'licensed' | 'logged', a: number | null, b: number | null) => {
    const r = row(product);
    const h = clipHours(a, b);
    if (kind === 'licensed') r.offlineHours += h;
    else r.loggedOfflineHours += h;
  };
  for (const e of sorted) {
    const startKind = OFFLINE_PAIRS.get(e.code);
    if (startKind) {
      const k = key(e, startKind);
      let l = open.get(k);
      if (!l) open.set(k, (l = []));
      l.push(e.time);
      if (e.time >= from && e.time < end) {
        if (startKind === 'licensed') row(e.product).offlineLaunches++;
        else row(e.product).loggedOfflineLaunches++;
      }
      continue;
    }
    const endKind = OFFLINE_ENDS.get(e.code)!;
    const start = open.get(key(e, endKind))?.shift() ?? null;
    add(e.product, endKind, start, e.time);
  }
  for (const [k, starts] of open) {
    const [kind, , product] = k.split('\u0000');
    for (const s of starts) add(product, kind as 'licensed' | 'logged', s, null);
  }
  return [...per.values()]
    .map((r) => ({ ...r, offlineShare: r.onlineHours + r.offlineHours > 0 ? r.offlineHours / (r.onlineHours + r.offlineHours) : 0 }))
    .sort((a, b) => a.product.localeCompare(b.product));
}
