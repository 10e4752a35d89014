/**
 * Denials and queue waits by product, user and time: every denial with its reason, every wait with
 * its length and outcome (granted, expired, cancelled; still waiting at the report end), and the
 * totals per product, per user, per reason and per local hour of day.
 */
import { zonedParts } from './calendar.js';
import { pairEvents, type ReportEvent } from './pairing.js';

export interface DenialRow {
  t: number;
  product: string;
  user: string;
  host: string;
  reason: string | null;
}
export interface WaitRow {
  product: string;
  user: string;
  host: string;
  /** Null: waiting since before anything the report saw (counted from its start). */
  start: number | null;
  /** Null: still waiting at the report end. */
  end: number | null;
  seconds: number;
  outcome: string | null;
}
export interface WaitStats {
  waits: number;
  granted: number;
  meanSeconds: number;
  p95Seconds: number;
  maxSeconds: number;
}
export interface DenialsReport {
  denials: DenialRow[];
  waits: WaitRow[];
  byProduct: Array<{ product: string; denials: number } & WaitStats>;
  byUser: Array<{ user: string; denials: number } & WaitStats>;
  byReason: Array<{ reason: string; denials: number }>;
  /** Denials per local hour of day (index 0-23, in the report's time zone). */
  byHour: number[];
}

/** Nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function stats(ws: readonly WaitRow[]): WaitStats {
  const secs = ws.map((w) => w.seconds).sort((a, b) => a - b);
  return {
    waits: ws.length,
    granted: ws.filter((w) => w.outcome === 'granted').length,
    meanSeconds: secs.length ? secs.reduce((s, x) => s + x, 0) / secs.length : 0,
    p95Seconds: percentile(secs, 0.95),
    maxSeconds: secs.length ? secs[secs.length - 1] : 0,
  };
}

const byKey = <T>(rows: readonly T[], key: (r: T) => string) => {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(r);
  }
  return m;
};

export function denialsReport(input: { events: readonly ReportEvent[]; from: number; end: number; timeZone?: string }): DenialsReport {
  const { from, end } = input;
  const { spans, denials: d } = pairEvents(input.events);
  const denials: DenialRow[] = d
    .filter((x) => x.start! >= from && x.start! < end)
    .map((x) => ({ t: x.start!, product: x.product, user: x.user, host: x.host, reason: x.reason }));
  const waits: WaitRow[] = spans
    .filter((s) => {
      if (s.kind !== 'queue') return false;
      const a = s.start ?? -Infinity;
      const b = s.end ?? Infinity;
      return a < end && (b > from || (b === a && a >= from));
    })
    .map((s) => {
      const a = Math.max(s.start ?? from, from);
      const b = Math.min(s.end ?? end, end);
      return {
        product: s.product,
        user: s.user,
        host: s.host,
        start: s.start,
        end: s.end !== null && s.end <= end ? s.end : null,
        seconds: (b - a) / 1000,
        outcome: s.end !== null && s.end <= end ? s.reason : null,
      };
    });
  const products = new Set([...denials.map((x) => x.product), ...waits.map((w) => w.product)]);
  const users = new Set([...denials.map((x) => x.user), ...waits.map((w) => w.user)]);
  const wp = byKey(waits, (w) => w.product);
  const wu = byKey(waits, (w) => w.user);
  const dp = byKey(denials, (x) => x.product);
  const du = byKey(denials, (x) => x.user);
  const dr = byKey(denials, (x) => x.reason ?? '');
  const byHour = new Array<number>(24).fill(0);
  for (const x of denials) byHour[zonedParts(x.t, input.timeZone ?? 'UTC').hour]++;
  const sorted = (s: Set<string>) => [...s].sort();
  return {
    denials: denials.sort((a, b) => a.t - b.t),
    waits: waits.sort((a, b) => (a.start ?? from) - (b.start ?? from)),
    byProduct: sorted(products).map((product) => ({ product, denials: dp.get(product)?.length ?? 0, ...stats(wp.get(product) ?? []) })),
    byUser: sorted(users).map((user) => ({ user, denials: du.get(user)?.length ?? 0, ...stats(wu.get(user) ?? []) })),
    byReason: sorted(new Set(dr.keys())).map((reason) => ({ reason, denials: dr.get(reason)!.length })),
    byHour,
  };
}
