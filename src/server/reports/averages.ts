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
import { dayStart, refWeekStart, weekday } from './calendar.js';

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

export function weightedAverages(levels: readonly HourLevel[]): WeightedAverages {
  const days = new Map<number, Array<number | undefined>>();
  for (const { t, level } of levels) {
    const d = dayStart(t);
    let hours = days.get(d);
    if (!hours) days.set(d, (hours = new Array<number | undefined>(24)));
    hours[(t - d) / 3_600_000] = level;
  }
  const dayValue = new Map<number, number>();
  for (const [d, hours] of days) dayValue.set(d, meanOfTop(hours.filter((x): x is number => x !== undefined), BUSIEST_HOURS));

  const weeks = new Map<number, number[]>();
  for (const d of days.keys()) {
    const w = refWeekStart(d);
    let list = weeks.get(w);
    if (!list) weeks.set(w, (list = []));
    list.push(d);
  }
  let sum = 0;
  let weight = 0;
  const hodSum = new Array<number>(24).fill(0);
  const hodWeight = new Array<number>(24).fill(0);
  for (const list of weeks.values()) {
    sum += meanOfTop(list.map((d) => dayValue.get(d)!), BUSIEST_DAYS) * list.length;
    weight += list.length;
    for (let h = 0; h < 24; h++) {
      const vals = list.map((d) => days.get(d)![h]).filter((x): x is number => x !== undefined);
      if (vals.length === 0) continue;
      hodSum[h] += meanOfTop(vals, BUSIEST_DAYS) * vals.length;
      hodWeight[h] += vals.length;
    }
  }
  const dowSum = new Array<number>(7).fill(0);
  const dowN = new Array<number>(7).fill(0);
  for (const [d, v] of dayValue) {
    dowSum[weekday(d)] += v;
    dowN[weekday(d)]++;
  }
  return {
    average: weight > 0 ? sum / weight : 0,
    hourOfDay: hodSum.map((s, h) => (hodWeight[h] > 0 ? s / hodWeight[h] : 0)),
    dayOfWeek: dowSum.map((s, w) => (dowN[w] > 0 ? s / dowN[w] : 0)),
  };
}

/** Hourly levels of [start, end) from license-hours per clock hour (hours without an entry are 0). */
export function hourLevels(licenseHours: ReadonlyMap<number, number>, start: number, end: number): HourLevel[] {
  const out: HourLevel[] = [];
  for (let h = Math.floor(start / 3_600_000) * 3_600_000; h < end; h += 3_600_000) {
    const covered = (Math.min(end, h + 3_600_000) - Math.max(start, h)) / 3_600_000;
    if (covered > 0) out.push({ t: h, level: (licenseHours.get(h) ?? 0) / covered });
  }
  return out;
}

