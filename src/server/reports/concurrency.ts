/**
 * Concurrent seats over time: the step series of seats used and desired (used + waiting in the
 * queue; + 1 for each denial at its instant) per product, their peaks, the efficiency curve ("N
 * seats would have covered 95 % of the time") and the share of time at each level. Seats are
 * counted as in the summaries (usage.ts): distinct (workstation, user) pairs holding a lease, or
 * live allocations; a hand-over at one instant is not two seats.
 */
import { pairedOf, type PairedInput, type Span } from './pairing.js';

/** From `t` until the next step (or the series' end): this many seats used and tickets waiting. */
export interface Step {
  t: number;
  used: number;
  queued: number;
}

export interface Peak {
  value: number;
  /** First instant it was reached. */
  at: number | null;
}

export interface ConcurrencySeries {
  product: string;
  seats: number | null;
  from: number;
  end: number;
  steps: Step[];
  /** Denials, at their instants: desired = used + queued + these. */
  denials: Array<{ t: number; count: number; desired: number }>;
  peakUsed: Peak;
  peakDesired: Peak;
  /** License-hours used and desired (time-weighted, denials add none). */
  usedHours: number;
  desiredHours: number;
}

/** Seat-holding spans (leases and allocations, keyed by seat) and queue waits as step series per product over [from, end). */
export function stepSeries(spans: readonly Span[], from: number, end: number): Map<string, Step[]> {
  interface Edge {
    t: number;
    d: 1 | -1;
    seat: string | null;
  }
  const edges = new Map<string, Edge[]>();
  for (const s of spans) {
    if (s.seatKey === null && s.kind !== 'queue') continue;
    const a = s.start ?? -Infinity;
    const b = s.end ?? Infinity;
    if (!(b > a) || b <= from || a >= end) continue;
    let list = edges.get(s.product);
    if (!list) edges.set(s.product, (list = []));
    const seat = s.kind === 'queue' ? null : s.seatKey;
    list.push({ t: a, d: 1, seat }, { t: b, d: -1, seat });
  }
  const out = new Map<string, Step[]>();
  for (const [product, list] of edges) {
    // Ends before starts at one instant: a seat handed over is not two seats.
    list.sort((x, y) => x.t - y.t || x.d - y.d);
    const holders = new Map<string, number>();
    let used = 0;
    let queued = 0;
    const steps: Step[] = [];
    let i = 0;
    const applyUpTo = (t: number) => {
      while (i < list.length && list[i].t <= t) {
        const e = list[i++];
        if (e.seat === null) queued += e.d;
        else {
          const n = (holders.get(e.seat) ?? 0) + e.d;
          if (n === 0) holders.delete(e.seat);
          else holders.set(e.seat, n);
          if (n === 1 && e.d === 1) used++;
          if (n === 0 && e.d === -1) used--;
        }
      }
    };
    applyUpTo(from);
    steps.push({ t: from, used, queued });
    while (i < list.length && list[i].t < end) {
      const t = list[i].t;
      applyUpTo(t);
      const last = steps[steps.length - 1];
      if (last.used !== used || last.queued !== queued) steps.push({ t, used, queued });
    }
    out.set(product, steps);
  }
  return out;
}

/** The level of a step series at t (0 before it starts). */
export function levelAt(steps: readonly Step[], t: number): Step {
  let lo = 0;
  let hi = steps.length - 1;
  if (hi < 0 || t < steps[0].t) return { t, used: 0, queued: 0 };
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid].t <= t) lo = mid;
    else hi = mid - 1;
  }
  return steps[lo];
}

export interface ConcurrencyInput extends PairedInput {
  from: number;
  /** Report end: the series stop here (min(to, now)). */
  end: number;
  seats?: Readonly<Record<string, number | null>>;
}

export function concurrency(input: ConcurrencyInput): ConcurrencySeries[] {
  const { from, end } = input;
  const { spans, denials } = pairedOf(input);
  const series = stepSeries(spans, from, end);
  const denyAt = new Map<string, Map<number, number>>();
  for (const d of denials) {
    if (d.start! < from || d.start! >= end) continue;
    let m = denyAt.get(d.product);
    if (!m) denyAt.set(d.product, (m = new Map()));
    m.set(d.start!, (m.get(d.start!) ?? 0) + 1);
    if (!series.has(d.product)) series.set(d.product, [{ t: from, used: 0, queued: 0 }]);
  }
  const out: ConcurrencySeries[] = [];
  for (const [product, steps] of series) {
    const peakUsed: Peak = { value: 0, at: null };
    const peakDesired: Peak = { value: 0, at: null };
    let usedHours = 0;
    let desiredHours = 0;
    steps.forEach((s, k) => {
      const next = k + 1 < steps.length ? steps[k + 1].t : end;
      usedHours += (s.used * (next - s.t)) / 3_600_000;
      desiredHours += ((s.used + s.queued) * (next - s.t)) / 3_600_000;
      if (s.used > peakUsed.value) Object.assign(peakUsed, { value: s.used, at: s.t });
      if (s.used + s.queued > peakDesired.value) Object.assign(peakDesired, { value: s.used + s.queued, at: s.t });
    });
    const dl = [...(denyAt.get(product) ?? new Map<number, number>())]
      .sort((a, b) => a[0] - b[0])
      .map(([t, count]) => {
        const l = levelAt(steps, t);
        return { t, count, desired: l.used + l.queued + count };
      });
    for (const d of dl) if (d.desired > peakDesired.value) Object.assign(peakDesired, { value: d.desired, at: d.t });
    out.push({ product, seats: input.seats?.[product] ?? null, from, end, steps, denials: dl, peakUsed, peakDesired, usedHours, desiredHours });
  }
  return out.sort((a, b) => (a.product < b.product ? -1 : a.product > b.product ? 1 : 0));
}

export interface EfficiencyCurve {
  /** Share of the time (0..1) at which `seats` seats or fewer were wanted, for seats = 0..max. */
  curve: Array<{ seats: number; share: number }>;
  /** The fewest seats that would have covered 95 % / 99 % / all of the time. */
  seats95: number;
  seats99: number;
  max: number;
}

/** The efficiency curve of a step series over [from, end): `level` picks used, or desired (used + queued). */
export function efficiencyCurve(steps: readonly Step[], end: number, level: (s: Step) => number = (s) => s.used): EfficiencyCurve {
  const time = new Map<number, number>();
  let total = 0;
  steps.forEach((s, k) => {
    const d = (k + 1 < steps.length ? steps[k + 1].t : end) - s.t;
    if (d <= 0) return;
    const v = level(s);
    time.set(v, (time.get(v) ?? 0) + d);
    total += d;
  });
  const max = Math.max(0, ...time.keys());
  const curve: Array<{ seats: number; share: number }> = [];
  let acc = 0;
  for (let n = 0; n <= max; n++) {
    acc += time.get(n) ?? 0;
    curve.push({ seats: n, share: total > 0 ? acc / total : 1 });
  }
  // A relative tolerance: shares are sums of durations, 0.95 exactly must count as covered.
  const cover = (p: number) => curve.find((c) => c.share >= p - 1e-12)?.seats ?? max;
  return { curve, seats95: cover(0.95), seats99: cover(0.99), max };
}
