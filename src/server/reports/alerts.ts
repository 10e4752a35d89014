/**
 * Threshold alerts (pure): a product at or above a share of its seats for a whole window, or more
 * denials in a UTC day than allowed. `evaluateAlerts` says which conditions hold now; the delivery
 * loop (delivery.ts) fires each once when it starts to hold, to the log and the webhook.
 */
import type { ConcurrencySeries } from './concurrency.js';

export type AlertRule = { product?: string; seatsAbovePercent: number; forMinutes: number } | { product?: string; deniesPerDay: number };

export interface AlertFinding {
  /** Stable while the condition lasts (denials: per UTC day), so it fires once. */
  key: string;
  kind: 'seats' | 'denials';
  product: string;
  message: string;
  /** Seats: the lowest use in the window and the seats; denials: today's count and the limit. */
  value: number;
  limit: number;
}

/**
 * `seats(rule)`: the concurrency series over [now - forMinutes, now); `denials`: today's denials
 * per product. Products without a seat count cannot be above a share of it.
 */
export function evaluateAlerts(
  rules: readonly AlertRule[],
  seats: (rule: { forMinutes: number }) => readonly ConcurrencySeries[],
  denialsToday: ReadonlyMap<string, number>,
  today: string,
): AlertFinding[] {
  const out: AlertFinding[] = [];
  rules.forEach((rule, i) => {
    if ('seatsAbovePercent' in rule) {
      for (const s of seats(rule)) {
        if (rule.product !== undefined && s.product !== rule.product) continue;
        if (s.seats === null || s.seats <= 0) continue;
        // The lowest use over the window: the condition held the whole time only if that is high enough.
        const lowest = Math.min(...s.steps.filter((_x, k) => (k + 1 < s.steps.length ? s.steps[k + 1].t : s.end) > s.from).map((x) => x.used));
        const threshold = (rule.seatsAbovePercent / 100) * s.seats;
        if (Number.isFinite(lowest) && lowest >= threshold && lowest > 0) {
          out.push({
            key: `${i}\u0000seats\u0000${s.product}`,
            kind: 'seats',
            product: s.product,
            value: lowest,
            limit: s.seats,
            message: `${s.product}: ${lowest} of ${s.seats} seats in use (at least ${rule.seatsAbovePercent} %) for ${rule.forMinutes} minutes`,
          });
        }
      }
    } else {
      for (const [product, n] of denialsToday) {
        if (rule.product !== undefined && product !== rule.product) continue;
        if (n >= rule.deniesPerDay) {
          out.push({
            key: `${i}\u0000denials\u0000${product}\u0000${today}`,
            kind: 'denials',
            product,
            value: n,
            limit: rule.deniesPerDay,
            message: `${product}: ${n} denials today (${today}), limit ${rule.deniesPerDay}`,
          });
        }
      }
    }
  });
  return out;
}

/** Findings that were not holding at the previous check (to fire), and the keys now holding. */
export function newFindings(findings: readonly AlertFinding[], holding: ReadonlySet<string>): { fire: AlertFinding[]; holding: Set<string> } {
  return { fire: findings.filter((f) => !holding.has(f.key)), holding: new Set(findings.map((f) => f.key)) };
}
