/**
 * Retention of uploaded records: per record type, how many days to keep (`retention` in the server
 * config; unset keeps everything). Pure decisions here; the stores act on them (PostgreSQL drops
 * whole monthly partitions, SQLite deletes rows).
 */
import { RECORD_TABLES, type RecordTable } from './records.js';

const DAY_MS = 86_400_000;

/** Record types whose rows live in a table other than other_records. */
const TYPE_TABLE: Readonly<Record<string, RecordTable>> = {
  process: 'process',
  'process-interval': 'process',
  break: 'activity',
  work: 'activity',
  'input-events': 'activity',
  'usage-event': 'event',
};

/** The table a record type is stored in. */
export function tableOfType(type: string): RecordTable {
  return TYPE_TABLE[type] ?? 'other';
}

export const tableName = (t: RecordTable): string => RECORD_TABLES[t].table;

/** The first instant that is kept for a type: everything before `now - days` may go. */
export function cutoff(now: number, days: number): string {
  return new Date(now - days * DAY_MS).toISOString();
}

export interface MonthlyPartition {
  name: string;
  parent: string;
  /** null for usage_events (partitioned by time alone: its retention key is `usage-event`). */
  type: string | null;
  /** [starts, ends) as ISO dates, e.g. 2024-05-01 .. 2024-06-01. */
  starts: string;
  ends: string;
}

/** Partitions entirely older than their type's retention (a month goes only once all of it is past). */
export function partitionsToDrop(partitions: readonly MonthlyPartition[], retentionDays: Readonly<Record<string, number>>, now: number): MonthlyPartition[] {
  return partitions.filter((p) => {
    const days = retentionDays[p.type ?? 'usage-event'];
    return days !== undefined && p.ends <= cutoff(now, days);
  });
}

/** The month 'YYYY-MM' of an ISO time, or undefined for a time that is not one (it goes to the default partition). */
export function monthOf(time: unknown): string | undefined {
  if (typeof time !== 'string' || !/^\d{4}-(0[1-9]|1[0-2])/.test(time)) return undefined;
  return time.slice(0, 7);
}

/** [first day, first day of the next month) of 'YYYY-MM'. */
export function monthRange(month: string): { starts: string; ends: string } {
  const y = Number(month.slice(0, 4));
  const m = Number(month.slice(5, 7));
  const next = m === 12 ? `${String(y + 1).padStart(4, '0')}-01` : `${month.slice(0, 4)}-${String(m + 1).padStart(2, '0')}`;
  return { starts: `${month}-01`, ends: `${next}-01` };
}
