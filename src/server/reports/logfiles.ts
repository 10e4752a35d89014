/**
 * The license-usage log files of shared/reference/004, exactly: under a directory,
 *
 *   YYYY/MM/DD/Log.txt        every checkout and checkin of the day (UTC), split at midnight
 *   YYYY/MM/DD/Summary.txt    one row per product used that day (no day-of-week columns)
 *   YYYY/MM/Summary.txt       the month
 *   YYYY/Summary.txt          the year
 *   WeeklySummaries/SummaryW<week>.txt/Summary.txt   weeks Sunday to Saturday UTC, numbered from the era origin
 *
 * In UserSummary mode each summary also has one row per user and product after the product's
 * all-users row (whose UserName is empty). Files are tab-separated with the reference's column
 * names, in the reference's order, as the first line. A checkout open at midnight is checked in at
 * 24:00:00 and out again at 00:00:00 of the next day (usage.ts). Log.txt also carries the waits in
 * a queue and the denials, with NumberGranted 0: a seat was desired and not granted.
 *
 * `buildLogFiles` is pure: the files as (path, text); the CLI writes them.
 */
import { DAY_MS, dayStart, eraSeconds, periodOf, type SummaryPeriod } from './calendar.js';
import type { ReportEvent } from './pairing.js';
import { buildUsageReport, type HourBucket, type UsageLogRow, type UsageSummaryRow } from './usage.js';

export const LOG_MODES = ['AllLogging', 'UserSummary'] as const;
export type LogMode = (typeof LOG_MODES)[number];

export const LOG_COLUMNS = [
  'UserName',
  'HostName',
  'ProcessId',
  'ProductId',
  'ProductName',
  'StartTime(InSeconds)',
  'EndTime(inSeconds)',
  'NumberDesired',
  'NumberGranted',
  'Date',
  'StartTime',
  'EndTime',
] as const;

const HH = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
/** The reference's weekday order: Sunday first. Index into our Monday-first buckets. */
const REF_WEEKDAYS = [
  ['Sunday', 6],
  ['Monday', 0],
  ['Tuesday', 1],
  ['Wednesday', 2],
  ['Thursday', 3],
  ['Friday', 4],
  ['Saturday', 5],
] as const;
const BUCKET_COLUMNS = ['Hours', 'AverageDesired', 'AverageUsed', 'MaxDesired', 'MaxUsed', 'TotalDesired', 'TotalUsed'] as const;

/** Summary.txt columns; a day's summary has no day-of-week columns (the reference: "a one-day entry has no weekday summary"). */
export function summaryColumns(withWeekdays: boolean): string[] {
  return [
    'UserName',
    'ProductId',
    'ProductName',
    'NrHours',
    'AverageDesired',
    'AverageUsed',
    'MaxDesired',
    'MaxUsed',
    'TotalDesired',
    'TotalUsed',
    ...HH.flatMap((h) => BUCKET_COLUMNS.map((c) => `${c}${h}`)),
    ...(withWeekdays ? REF_WEEKDAYS.flatMap(([d]) => BUCKET_COLUMNS.map((c) => `${c}${d}`)) : []),
  ];
}

const bucketCells = (b: HourBucket) => [b.hours, b.weightedAverageDesired, b.weightedAverageUsed, b.maxDesired, b.maxUsed, b.totalDesired, b.totalUsed];

function summaryCells(r: UsageSummaryRow, user: string, withWeekdays: boolean): unknown[] {
  return [
    user,
    r.product,
    r.productName,
    r.hours,
    r.weightedAverageDesired,
    r.weightedAverageUsed,
    r.maxDesired,
    r.maxUsed,
    r.totalDesired,
    r.totalUsed,
    ...r.hourOfDay.flatMap(bucketCells),
    ...(withWeekdays ? REF_WEEKDAYS.flatMap(([, i]) => bucketCells(r.dayOfWeek[i])) : []),
  ];
}

/** A tab-separated cell: tabs and line breaks inside a value become spaces (the format has no quoting). */
const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'number' ? String(v) : String(v).replace(/[\t\r\n]/g, ' '));
const tsv = (head: readonly string[], rows: readonly (readonly unknown[])[]) => [head, ...rows].map((r) => r.map(cell).join('\t')).join('\n') + '\n';

function logCells(l: UsageLogRow): unknown[] {
  return [
    l.user,
    l.host,
    l.pid,
    l.product,
    l.productName,
    eraSeconds(Date.parse(l.start)),
    eraSeconds(Date.parse(l.end)),
    l.desired,
    l.granted,
    l.date.replace(/-/g, '/'),
    l.startTime,
    l.endTime,
  ];
}

export interface LogFilesInput {
  events: readonly ReportEvent[];
  /** [from, to) in ms, whole UTC days. */
  from: number;
  to: number;
  /** Whatever is still open closes here (default `to`). */
  end?: number;
  mode?: LogMode;
  productNames?: Readonly<Record<string, string>>;
}

export interface LogFile {
  /** Relative, with forward slashes. */
  path: string;
  text: string;
}

const PERIODS: readonly SummaryPeriod[] = ['day', 'refweek', 'month', 'year'];

function summaryPath(period: SummaryPeriod, start: number, key: string): string {
  const [y, m, d] = new Date(start).toISOString().slice(0, 10).split('-');
  switch (period) {
    case 'day':
      return `${y}/${m}/${d}/Summary.txt`;
    case 'month':
      return `${y}/${m}/Summary.txt`;
    case 'year':
      return `${y}/Summary.txt`;
    default:
      return `WeeklySummaries/Summary${key}.txt/Summary.txt`;
  }
}

export function buildLogFiles(input: LogFilesInput): LogFile[] {
  const { from, to } = input;
  const mode = input.mode ?? 'AllLogging';
  const all = buildUsageReport({ events: input.events, from, to, end: input.end, periods: PERIODS, productNames: input.productNames });
  /** Per summary file: product -> [all-users row, ...per-user rows]. */
  const perFile = new Map<string, Map<string, Array<[string, UsageSummaryRow]>>>();
  const add = (r: UsageSummaryRow, user: string) => {
    const path = summaryPath(r.period, Date.parse(r.start), r.key);
    let byProduct = perFile.get(path);
    if (!byProduct) perFile.set(path, (byProduct = new Map()));
    let rows = byProduct.get(r.product);
    if (!rows) byProduct.set(r.product, (rows = []));
    rows.push([user, r]);
  };
  for (const r of all.summaries) add(r, '');
  if (mode === 'UserSummary') {
    const byUser = new Map<string, ReportEvent[]>();
    for (const e of input.events) {
      const u = e.user ?? '';
      let list = byUser.get(u);
      if (!list) byUser.set(u, (list = []));
      list.push(e);
    }
    for (const u of [...byUser.keys()].sort()) {
      const r = buildUsageReport({ events: byUser.get(u)!, from, to, end: input.end, periods: PERIODS, productNames: input.productNames });
      for (const s of r.summaries) add(s, u);
    }
  }

  const files: LogFile[] = [];
  const logByDay = new Map<string, UsageLogRow[]>();
  for (const l of all.log) {
    let list = logByDay.get(l.date);
    if (!list) logByDay.set(l.date, (list = []));
    list.push(l);
  }
  // Every day, week, month and year of the span gets its files, empty ones too: logging was on.
  const seen = new Set<string>();
  for (let d = dayStart(from); d < to; d += DAY_MS) {
    const day = new Date(d).toISOString().slice(0, 10);
    files.push({ path: `${day.replace(/-/g, '/')}/Log.txt`, text: tsv(LOG_COLUMNS, (logByDay.get(day) ?? []).map(logCells)) });
    for (const period of PERIODS) {
      const p = periodOf(period, d);
      const path = summaryPath(period, p.start, p.key);
      if (seen.has(path)) continue;
      seen.add(path);
      const withWeekdays = period !== 'day';
      const rows = [...(perFile.get(path) ?? new Map<string, Array<[string, UsageSummaryRow]>>()).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .flatMap(([, list]) => list.map(([user, r]) => summaryCells(r, user, withWeekdays)));
      files.push({ path, text: tsv(summaryColumns(withWeekdays), rows) });
    }
  }
  return files;
}
