/**
 * Hour-of-day x weekday heatmap of a step series in an IANA time zone (times are stored in UTC;
 * the cells are local). Each cell: how many hours of it the span covers, the average seats used
 * and desired over those hours, and the peak used. The zone's offset is looked up once per UTC
 * hour and applied per quarter hour, so zones offset by 30 or 45 minutes fall in the right cells.
 */
import { HOUR_MS, zonedParts } from './calendar.js';
import type { Step } from './concurrency.js';

const QUARTER = 900_000;

export interface HeatCell {
  hours: number;
  averageUsed: number;
  averageDesired: number;
  maxUsed: number;
}

export interface Heatmap {
  timeZone: string;
  /** cells[weekday][hour]: weekday 0 = Monday ... 6 = Sunday, local hour 0-23. */
  cells: HeatCell[][];
}

/** Local cell index (weekday * 24 + hour) of each quarter hour of [from, end). */
function quarterCells(from: number, end: number, timeZone: string): { start: number; cells: Uint8Array } {
  const start = Math.floor(from / QUARTER) * QUARTER;
  const n = Math.max(0, Math.ceil((end - start) / QUARTER));
  const cells = new Uint8Array(n);
  let hour = NaN;
  let offset = 0;
  for (let q = 0; q < n; q++) {
    const t = start + q * QUARTER;
    const h = Math.floor(t / HOUR_MS);
    if (h !== hour) {
      hour = h;
      offset = zonedParts(h * HOUR_MS, timeZone).offsetMs;
    }
    const local = t + offset;
    const dayMs = ((local % 86_400_000) + 86_400_000) % 86_400_000;
    const weekday = (new Date(local).getUTCDay() + 6) % 7;
    cells[q] = weekday * 24 + Math.floor(dayMs / HOUR_MS);
  }
  return { start, cells };
}

/** One heatmap per series, all over [from, end) in `timeZone`. */
export function heatmaps(series: ReadonlyArray<{ steps: readonly Step[] }>, from: number, end: number, timeZone = 'UTC'): Heatmap[] {
  const { start, cells } = quarterCells(from, end, timeZone);
  const covered = new Float64Array(168);
  for (let q = 0; q < cells.length; q++) {
    const a = Math.max(from, start + q * QUARTER);
    const b = Math.min(end, start + (q + 1) * QUARTER);
    if (b > a) covered[cells[q]] += (b - a) / HOUR_MS;
  }
  return series.map(({ steps }) => {
    const used = new Float64Array(168);
    const desired = new Float64Array(168);
    const max = new Float64Array(168);
    steps.forEach((s, k) => {
      const segEnd = Math.min(end, k + 1 < steps.length ? steps[k + 1].t : end);
      let a = Math.max(from, s.t);
      if (s.used === 0 && s.queued === 0) return;
      while (a < segEnd) {
        const q = Math.floor((a - start) / QUARTER);
        const b = Math.min(segEnd, start + (q + 1) * QUARTER);
        const c = cells[q];
        const h = (b - a) / HOUR_MS;
        used[c] += s.used * h;
        desired[c] += (s.used + s.queued) * h;
        if (s.used > max[c]) max[c] = s.used;
        a = b;
      }
    });
    const grid: HeatCell[][] = [];
    for (let w = 0; w < 7; w++) {
      const row: HeatCell[] = [];
      for (let h = 0; h < 24; h++) {
        const c = w * 24 + h;
        row.push({
          hours: covered[c],
          averageUsed: covered[c] > 0 ? used[c] / covered[c] : 0,
          averageDesired: covered[c] > 0 ? desired[c] / covered[c] : 0,
          maxUsed: max[c],
        });
      }
      grid.push(row);
    }
    return { timeZone, cells: grid };
  });
}
