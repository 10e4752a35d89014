/** CSV of the usage summaries and log (the HTTP and CLI reports); cells quoted by the one helper, ../csv.ts. */
import { csvCell, toCsv as csv } from '../csv.js';
import { WEEKDAYS } from './calendar.js';
import type { UsageLogRow, UsageSummaryRow } from './usage.js';

export { csv, csvCell };

const HH = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0'));
const BUCKET_FIELDS = [
  ['Hours', 'hours'],
  ['TotalUsed', 'totalUsed'],
  ['TotalDesired', 'totalDesired'],
  ['MaxUsed', 'maxUsed'],
  ['MaxDesired', 'maxDesired'],
] as const;
/** The figures of a summary row, reference names first: Summary.txt's columns and every summary table's. */
export const SUMMARY_FIGURES = [
  ['NrHours', 'hours'],
  ['Checkouts', 'checkouts'],
  ['Users', 'users'],
  ['Denials', 'denials'],
  ['Queued', 'queued'],
  ['MaxUsed', 'maxUsed'],
  ['MaxDesired', 'maxDesired'],
  ['TotalUsed', 'totalUsed'],
  ['TotalDesired', 'totalDesired'],
  ['AverageUsed', 'averageUsed'],
  ['AverageDesired', 'averageDesired'],
] as const;
const WEIGHTED_FIELDS = [
  ['WeightedAverageUsed', 'weightedAverageUsed'],
  ['WeightedAverageDesired', 'weightedAverageDesired'],
] as const;

/** Summary CSV, columns named as in the reference Summary.txt (Hours00, TotalUsed00, ..., MaxDesiredSunday). */
export function summariesToCsv(rows: readonly UsageSummaryRow[]): string {
  const head = [
    'Period',
    'Key',
    'Start',
    'End',
    'ProductId',
    'ProductName',
    ...SUMMARY_FIGURES.map(([n]) => n),
    ...BUCKET_FIELDS.flatMap(([n]) => HH.map((h) => `${n}${h}`)),
    ...BUCKET_FIELDS.flatMap(([n]) => WEEKDAYS.map((d) => `${n}${d}`)),
    // The reference's own (busiest 8 hours / 5 days) averages, after the columns this CSV always had.
    'WeightedAverageUsed',
    'WeightedAverageDesired',
    ...WEIGHTED_FIELDS.flatMap(([n]) => HH.map((h) => `${n}${h}`)),
    ...WEIGHTED_FIELDS.flatMap(([n]) => WEEKDAYS.map((d) => `${n}${d}`)),
  ];
  return csv(
    head,
    rows.map((r) => [
      r.period,
      r.key,
      r.start,
      r.end,
      r.product,
      r.productName,
      ...SUMMARY_FIGURES.map(([, f]) => r[f]),
      ...BUCKET_FIELDS.flatMap(([, f]) => r.hourOfDay.map((b) => b[f])),
      ...BUCKET_FIELDS.flatMap(([, f]) => r.dayOfWeek.map((b) => b[f])),
      r.weightedAverageUsed,
      r.weightedAverageDesired,
      ...WEIGHTED_FIELDS.flatMap(([, f]) => r.hourOfDay.map((b) => b[f])),
      ...WEIGHTED_FIELDS.flatMap(([, f]) => r.dayOfWeek.map((b) => b[f])),
    ]),
  );
}

/** Log CSV, columns as in the reference Log.txt plus ISO times, kind, lease id and reason. */
export function logToCsv(rows: readonly UsageLogRow[]): string {
  const head = [
    'Date',
    'Kind',
    'UserName',
    'HostName',
    'ProcessId',
    'ProductId',
    'ProductName',
    'StartTime',
    'EndTime',
    'Seconds',
    'NumberDesired',
    'NumberGranted',
    'Start',
    'End',
    'Checkout',
    'Checkin',
    'Reason',
    'LeaseId',
    'ContinuedFromPreviousDay',
    'ContinuesNextDay',
    'Open',
  ];
  return csv(
    head,
    rows.map((r) => [
      r.date,
      r.kind,
      r.user,
      r.host,
      r.pid,
      r.product,
      r.productName,
      r.startTime,
      r.endTime,
      r.seconds,
      r.desired,
      r.granted,
      r.start,
      r.end,
      r.checkout,
      r.checkin,
      r.reason,
      r.leaseId,
      r.continuedFromPreviousDay,
      r.continuesNextDay,
      r.open,
    ]),
  );
}
