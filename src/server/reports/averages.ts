/**
 * The reference's weighted averages (shared/reference/004, Summary.txt): AverageUsed and
 * AverageDesired "try to compute the average over the busiest 8 hours of a day and the busiest 5
 * days of a week". Exactly, from the hourly levels of a summary row (level = license-hours in a
 * UTC clock hour ÷ the hours of it the row covers):
 *
 * - a day's value D is the mean of its 8 highest hourly levels (of all its hours when fewer than 8
 *   are covered);
 * - a week's value (Sunday to Saturday UTC, the reference's week) is the mean of the 5 highest D of
 *   its days (of all of them when fewer than 5 are covered), and the row's AverageUsed is the mean of
 *   its weeks' values, each weighted by the number of its days inside the row;
 * - AverageUsedHH (hour of day HH) is, per week, the mean of the 5 highest levels of hour HH on
 *   its days, weighted across weeks the same way ("over the busiest 5 days");
 * - AverageUsed<Weekday> is the mean of D over the row's days of that weekday ("over the busiest
 *   8 hours").
 *
 * Taking the busiest few of what is covered is what lets a week be summarised before it ends: a
 * part-week is averaged over its own busiest days. Quiet hours and weekends do not dilute the figure
 * as they do the plain time-weighted average (total ÷ hours), which the reports give beside it.
 */
import { DAY_MS, HOUR_MS, dayStart, refWeekStart } from './calendar.js';

export const BUSIEST_HOURS = 8;
export const BUSIEST_DAYS = 5;

export interface HourLevel {
  /** Start of the UTC clock hour. */
  t: number;
  level: number;
}

export interface WeightedAverages {
  average: number;
  /** Index = UTC hour 0-23 (0 where the row covers none of that hour). */
  hourOfDay: number[];
  /** Index 0 = Monday ... 6 = Sunday (0 where the row covers no such day). */
  dayOfWeek: number[];
}

/** Mean of the k largest values (of all of them when there are fewer than k); 0 for none. */
export function meanOfTop(values: readonly number[], k: number): number {
  if (values.length === 0) return 0;
  const top = [...values].sort((a, b) => b - a).slice(0, k);
  return top.reduce((s, x) => s + x, 0) / top.length;
}

/** Sum of the `k` largest of `values` (which may hold fewer). */
function sumOfTop(values: number[], k: number): number {
  if (values.length > k) values.sort((a, b) => b - a);
  let s = 0;
  for (let i = 0; i < Math.min(k, values.length); i++) s += values[i];
  return s;
}

interface DayUse {
  day: number;
  /** Level of each hour (0 where idle or not covered). */
  levels: Float64Array;
  /** Mean of the day's busiest 8 covered hours. */
  value: number;
}

/**
 * One product's (or user's) hourly levels over the report span [from, end), kept sparse: only the
 * days with usage are stored; every other covered day and hour is a zero, counted, never stored.
 * `averages(start, end)` gives a summary row's weighted averages; rows start and end at UTC
 * midnights or at the span's edges, so an hour's coverage is the same for every row.
 */
export class WeightedTimeline {
  private readonly days: DayUse[];

  constructor(
    licenseHours: ReadonlyMap<number, number>,
    private readonly from: number,
    private readonly end: number,
  ) {
    const byDay = new Map<number, DayUse>();
    for (const [slot, lh] of licenseHours) {
      if (lh === 0) continue;
      const d = dayStart(slot);
      let u = byDay.get(d);
      if (!u) byDay.set(d, (u = { day: d, levels: new Float64Array(24), value: 0 }));
      u.levels[(slot - d) / HOUR_MS] += lh / this.covered(slot);
    }
    this.days = [...byDay.values()].sort((a, b) => a.day - b.day);
    for (const u of this.days) {
      const covered = this.coveredHours(u.day);
      u.value = covered > 0 ? sumOfTop(Array.from(u.levels), Math.min(BUSIEST_HOURS, covered)) / Math.min(BUSIEST_HOURS, covered) : 0;
    }
  }

  /** The part (0..1] of the clock hour at `slot` inside [from, end). */
  private covered(slot: number): number {
    return Math.max(0, Math.min(this.end, slot + HOUR_MS) - Math.max(this.from, slot)) / HOUR_MS;
  }

  private coveredHours(day: number): number {
    let n = 0;
    for (let h = 0; h < 24; h++) if (this.covered(day + h * HOUR_MS) > 0) n++;
    return n;
  }

  private firstDayFrom(t: number): number {
    let lo = 0;
    let hi = this.days.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.days[mid].day < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  averages(start: number, end: number): WeightedAverages {
    let sum = 0;
    let weight = 0;
    const hodSum = new Array<number>(24).fill(0);
    const hodWeight = new Array<number>(24).fill(0);
    const dowSum = new Array<number>(7).fill(0);
    const dowN = new Array<number>(7).fill(0);
    const hourValues = new Float64Array(24 * 7);
    const hourCount = new Uint8Array(24);
    for (let w = refWeekStart(start); w < end; w += 7 * DAY_MS) {
      const a = Math.max(w, dayStart(start));
      const b = Math.min(w + 7 * DAY_MS, end);
      // Covered days and, per hour, covered days of this week inside the row: only its first and
      // last day can be cut by the span's edges.
      let days = 0;
      const perHour = new Array<number>(24).fill(0);
      const last = b - DAY_MS;
      for (let d = a; d < b; d += DAY_MS) {
        const edge = d === a || d >= last;
        let any = false;
        for (let h = 0; h < 24; h++) {
          if (edge) {
            const slot = d + h * HOUR_MS;
            if (!(slot < end && slot + HOUR_MS > start && this.covered(slot) > 0)) continue;
          }
          perHour[h]++;
          any = true;
        }
        if (any) {
          days++;
          dowN[(new Date(d).getUTCDay() + 6) % 7]++;
        }
      }
      if (days === 0) continue;
      const values: number[] = [];
      hourCount.fill(0);
      for (let i = this.firstDayFrom(a); i < this.days.length && this.days[i].day < b; i++) {
        const u = this.days[i];
        values.push(u.value);
        dowSum[(new Date(u.day).getUTCDay() + 6) % 7] += u.value;
        for (let h = 0; h < 24; h++) if (u.levels[h] !== 0) hourValues[h * 7 + hourCount[h]++] = u.levels[h];
      }
      const k = Math.min(BUSIEST_DAYS, days);
      sum += (sumOfTop(values, k) / k) * days;
      weight += days;
      for (let h = 0; h < 24; h++) {
        if (perHour[h] === 0) continue;
        const kh = Math.min(BUSIEST_DAYS, perHour[h]);
        let top = 0;
        if (hourCount[h] > 0) {
          // At most 7 values (one a day): sort them in place, take the largest kh.
          const v = hourValues.subarray(h * 7, h * 7 + hourCount[h]).sort();
          for (let j = v.length - 1; j >= Math.max(0, v.length - kh); j--) top += v[j];
        }
        hodSum[h] += (top / kh) * perHour[h];
        hodWeight[h] += perHour[h];
      }
    }
    return {
      average: weight > 0 ? sum / weight : 0,
      hourOfDay: hodSum.map((s, h) => (hodWeight[h] > 0 ? s / hodWeight[h] : 0)),
      dayOfWeek: dowSum.map((s, w) => (dowN[w] > 0 ? s / dowN[w] : 0)),
    };
  }
}

/** The weighted averages of whole hourly levels (every hour from the first to the last given is covered; missing ones are 0). */
export function weightedAverages(levels: readonly HourLevel[]): WeightedAverages {
  if (levels.length === 0) return { average: 0, hourOfDay: new Array<number>(24).fill(0), dayOfWeek: new Array<number>(7).fill(0) };
  const from = Math.min(...levels.map((l) => l.t));
  const end = Math.max(...levels.map((l) => l.t)) + HOUR_MS;
  return new WeightedTimeline(new Map(levels.map((l) => [l.t, l.level])), from, end).averages(from, end);
}
