/** Half-open time intervals [start, end): merging, intersecting, measuring. */

export interface Interval {
  start: number;
  end: number;
}

/** Sorted, non-overlapping union (touching intervals join). */
export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = list.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ start: i.start, end: i.end });
  }
  return out;
}

/** The parts of a merged interval list inside [start, end). */
export function clipTo(merged: readonly Interval[], start: number, end: number): Interval[] {
  const out: Interval[] = [];
  // First interval that ends after `start` (binary search: the lists are per user and host, can be long).
  let lo = 0;
  let hi = merged.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (merged[mid].end <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let k = lo; k < merged.length && merged[k].start < end; k++) {
    const a = Math.max(start, merged[k].start);
    const b = Math.min(end, merged[k].end);
    if (b > a) out.push({ start: a, end: b });
  }
  return out;
}

export const totalMs = (list: readonly Interval[]): number => list.reduce((s, i) => s + (i.end - i.start), 0);
