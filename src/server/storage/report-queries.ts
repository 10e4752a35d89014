/**
 * The reads behind the reports (src/server/reports/loaders.ts), written once over `Sql` for both
 * stores: usage events by code, last use per user and product, and sums of the uploaded process
 * and activity records computed in the database (a 90-day page never moves a million rows).
 * Record rows are chosen by their record `time` (when the agent wrote them: a process record's
 * time is its end), which both stores index: SQLite by (type, time), PostgreSQL by its monthly
 * (type, time) partitions.
 */
import { NO_EXIT, type ProcessRollup } from './rollups.js';
import { SPAN_KINDS, spanNames, spansInRange, type NumberedSpanRow, type SpanRow } from './spans.js';
import { REPORT_EVENT_COLS, type ReportEventRow } from './report-event-row.js';
import type { Sql } from './sql.js';

/** Narrowing of every record read: the same optional user and host. */
export interface RecordFilter {
  fromIso: string;
  toIso: string;
  users?: readonly string[];
  host?: string;
}

const list = (n: number) => Array(n).fill('?').join(', ');

function where(f: RecordFilter, userCol = '"user"'): { sql: string; params: unknown[] } {
  let sql = 'time >= ? AND time < ?';
  const params: unknown[] = [f.fromIso, f.toIso];
  if (f.users) {
    sql += f.users.length ? ` AND ${userCol} IN (${list(f.users.length)})` : ' AND 1 = 0';
    params.push(...f.users);
  }
  if (f.host) {
    sql += ' AND host = ?';
    params.push(f.host);
  }
  return { sql, params };
}

/**
 * The work pages' activity sums: one query a type, grouped by its own keys only (a third less than
 * one GROUP BY over all four: SQLite sorts every row by them), each answered from the index
 * activity_records_sums alone (the schemas' V_ACTIVITY_SUMS; a test checks the plans).
 */
export function activitySumQueries(f: RecordFilter): Array<{ sql: string; params: unknown[] }> {
  const w = where(f);
  const sums = 'count(*) AS n, sum(coalesce(duration_seconds, 0)) AS total, max(coalesce(duration_seconds, 0)) AS longest';
  return [
    `SELECT "user", 'break' AS type, break_type, NULL AS period_type, ${sums}, 0 AS keyboard, 0 AS mouse, 0 AS switches ` +
      `FROM activity_records WHERE type = 'break' AND ${w.sql} GROUP BY "user", break_type`,
    `SELECT "user", 'work' AS type, NULL AS break_type, period_type, ${sums}, 0 AS keyboard, 0 AS mouse, 0 AS switches ` +
      `FROM activity_records WHERE type = 'work' AND ${w.sql} GROUP BY "user", period_type`,
    `SELECT "user", 'input-events' AS type, NULL AS break_type, NULL AS period_type, ${sums}, ` +
      'sum(coalesce(keyboard, 0)) AS keyboard, sum(coalesce(mouse, 0)) AS mouse, sum(coalesce(switch_count, 0)) AS switches ' +
      `FROM activity_records WHERE type = 'input-events' AND ${w.sql} GROUP BY "user"`,
  ].map((sql) => ({ sql, params: w.params }));
}

export interface ProcessSumRow {
  command: string | null;
  exe: string | null;
  user: string | null;
  host: string | null;
  exit_code: number | null;
  n: number;
  cpu: number;
  elapsed: number;
  io: number;
  mem: number;
}
export interface IntervalSumRow {
  hour: string;
  command: string | null;
  n: number;
  cpu: number;
  elapsed: number;
  io: number;
  rss: number;
}
export interface ActivitySumRow {
  user: string | null;
  type: 'break' | 'work' | 'input-events';
  break_type: string | null;
  period_type: string | null;
  n: number;
  total: number;
  longest: number;
  keyboard: number;
  mouse: number;
  switches: number;
}
export interface ActivityRow {
  type: 'break' | 'work' | 'input-events';
  user: string | null;
  host: string | null;
  application: string | null;
  start: string | null;
  end: string | null;
  keyboard: number | null;
  mouse: number | null;
}

/** The columns process sums can be grouped by. */
export const PROCESS_COLUMNS = ['command', 'exe', 'user', 'host', 'exit_code'] as const;
export type ProcessColumn = (typeof PROCESS_COLUMNS)[number];
const quoteCol = (c: ProcessColumn) => (c === 'user' ? '"user"' : c);

const DAY_MS = 86_400_000;

/**
 * [from, to) as the whole UTC days in it (roll-ups, `YYYY-MM-DD` bounds, end exclusive) and the
 * partial days at its edges (records). A range inside one day is all edge.
 */
export function splitDays(fromIso: string, toIso: string): { days?: { from: string; to: string }; edges: Array<{ fromIso: string; toIso: string }> } {
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  const first = Math.ceil(from / DAY_MS) * DAY_MS;
  const last = Math.floor(to / DAY_MS) * DAY_MS;
  if (!(first < last)) return { edges: [{ fromIso, toIso }] };
  const iso = (t: number) => new Date(t).toISOString();
  const edges: Array<{ fromIso: string; toIso: string }> = [];
  if (from < first) edges.push({ fromIso, toIso: iso(first) });
  if (last < to) edges.push({ fromIso: iso(last), toIso });
  return { days: { from: iso(first).slice(0, 10), to: iso(last).slice(0, 10) }, edges };
}

/** Rows of sums with the same key columns added up (the roll-up part and the edge parts of one answer). */
export function mergeSums<T extends object>(parts: readonly T[][], keys: ReadonlyArray<keyof T>, sums: ReadonlyArray<keyof T>): T[] {
  if (parts.length === 1) return parts[0];
  const m = new Map<string, T>();
  for (const part of parts) {
    for (const r of part) {
      const k = JSON.stringify(keys.map((c) => r[c]));
      const acc = m.get(k);
      if (!acc) m.set(k, { ...r });
      else for (const c of sums) (acc[c] as number) = Number(acc[c]) + Number(r[c]);
    }
  }
  return [...m.values()];
}

/**
 * Whole UTC days [from, to) as the roll-up ranges to read: for the per-user roll-up the whole
 * months in them from process_monthly_user and the days around those; for the others the days.
 */
export function rollupRanges(
  table: ProcessRollup,
  days: { from: string; to: string },
): Array<{ table: ProcessRollup; column: 'day' | 'month'; from: string; to: string }> {
  const byDay = (from: string, to: string) => ({ table, column: 'day' as const, from, to });
  if (table !== 'process_daily_user') return [byDay(days.from, days.to)];
  const nextMonth = (m: string) => new Date(Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)), 1)).toISOString().slice(0, 7);
  const first = days.from.endsWith('-01') ? days.from.slice(0, 7) : nextMonth(days.from.slice(0, 7));
  const last = days.to.slice(0, 7);
  if (!(first < last)) return [byDay(days.from, days.to)];
  const out: Array<{ table: ProcessRollup; column: 'day' | 'month'; from: string; to: string }> = [
    { table: 'process_monthly_user', column: 'month', from: first, to: last },
  ];
  if (days.from < `${first}-01`) out.push(byDay(days.from, `${first}-01`));
  if (`${last}-01` < days.to) out.push(byDay(`${last}-01`, days.to));
  return out;
}

/** The smallest process roll-up that has these columns. */
export function rollupFor(columns: readonly string[]): ProcessRollup {
  if (columns.every((c) => c === 'command' || c === 'exe' || c === 'exit_code')) return 'process_daily_command';
  if (columns.every((c) => c === 'user' || c === 'host')) return 'process_daily_user';
  return 'process_daily';
}

/** The columns of a NumberedSpanRow that are numbers of usage_span_names. */
const NAMED_COLUMNS = [1, 2, 3, 4, 11] as const;

export class ReportQueries {
  /** Read the daily roll-ups for whole days (false: every figure from the records, the reference path the bench compares with). */
  useRollups = true;
  /**
   * Brings usage_spans up to date (storage/spans.ts); installed by the store, which has the
   * transactions it needs. Undefined, or `useSpans` false: the license pages pair the events.
   */
  refreshSpans: (() => Promise<void>) | undefined;
  useSpans = true;

  constructor(private readonly sql: Sql) {}

  /** The checkout spans of [from, to) (spansInRange), brought up to date first; undefined: no spans here, pair the events. */
  async spans(r: { from: number; to: number; product?: string }): Promise<SpanRow[] | undefined> {
    if (!this.useSpans || !this.refreshSpans) return undefined;
    await this.refreshSpans();
    const rows = await spansInRange(this.sql, r);
    // The names past the highest known; all again if a row has one below it not known yet
    // (PostgreSQL: another server's fold may commit a lower number after a higher one).
    await this.learnNames(this.spanNamesMax);
    if (!this.namesKnown(rows)) await this.learnNames(0);
    const names = this.spanNames;
    // The numbers made texts in place (one string a name, shared by the rows).
    for (const row of rows as unknown[][]) {
      row[0] = SPAN_KINDS[row[0] as number];
      for (const c of NAMED_COLUMNS) if (row[c] !== null) row[c] = names[row[c] as number];
    }
    return rows as unknown as SpanRow[];
  }

  /** usage_span_names as read so far (they only grow), by number; the highest number read. */
  private readonly spanNames: string[] = [];
  private spanNamesMax = 0;

  private async learnNames(after: number): Promise<void> {
    for (const n of await spanNames(this.sql, after)) {
      this.spanNames[n.id] = n.name;
      if (n.id > this.spanNamesMax) this.spanNamesMax = n.id;
    }
  }

  private namesKnown(rows: readonly NumberedSpanRow[]): boolean {
    for (const row of rows) for (const c of NAMED_COLUMNS) if (row[c] !== null && this.spanNames[row[c]!] === undefined) return false;
    return true;
  }

  /**
   * Usage events of the given codes in [from, to): license codes (1, 2, 5-7, 27-30) as the server
   * wrote them, program codes (3, 4, 8-13) as agents uploaded them (agents also journal their
   * license events; counting those too would count every checkout twice).
   */
  eventsByCode(f: RecordFilter & { serverCodes: readonly number[]; agentCodes: readonly number[]; product?: string }): Promise<ReportEventRow[]> {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (f.serverCodes.length) {
      parts.push(`(origin = 'server' AND code IN (${list(f.serverCodes.length)}))`);
      params.push(...f.serverCodes);
    }
    if (f.agentCodes.length) {
      parts.push(`(origin = 'agent' AND code IN (${list(f.agentCodes.length)}))`);
      params.push(...f.agentCodes);
    }
    if (parts.length === 0) return Promise.resolve([]);
    const w = where(f);
    return this.sql.rows<ReportEventRow>(
      `SELECT ${REPORT_EVENT_COLS} FROM usage_events WHERE (${parts.join(' OR ')}) AND product IS NOT NULL AND ${w.sql}` +
        `${f.product ? ' AND product = ?' : ''} ORDER BY id`,
      [...params, ...w.params, ...(f.product ? [f.product] : [])],
    );
  }

  /** The last checkout (lease grant, or an allocation's last use) of every user and product, ever. */
  lastUse(product?: string): Promise<Array<{ user: string; product: string; last: number }>> {
    const p = product ? ' WHERE product_id = ?' : '';
    return this.sql.all(
      `SELECT "user", product, max(last) AS last FROM (SELECT "user", product_id AS product, max(granted_at) AS last FROM leases${p} GROUP BY "user", product_id ` +
        `UNION ALL SELECT "user", product_id AS product, max(last_used_at) AS last FROM allocations${p} GROUP BY "user", product_id) x GROUP BY "user", product ORDER BY product, "user"`,
      product ? [product, product] : [],
    );
  }

  /** Users that ran processes as a group (the group filter and the work-pattern groups). */
  userGroups(grp?: string): Promise<Array<{ user: string; grp: string; n: number }>> {
    return this.sql.all(
      `SELECT "user", grp, n FROM ${this.groupCounts()}${grp === undefined ? '' : ' WHERE grp = ?'} ORDER BY "user", grp`,
      grp === undefined ? [] : [grp],
    );
  }

  /** Each user's most frequent group (a tie: the first group by name). */
  mainGroups(): Promise<Array<{ user: string; grp: string }>> {
    // One pass, no sort of every row: PostgreSQL's DISTINCT ON; SQLite's max() with bare columns
    // (they come from the row of the maximum, the first by name among equals: the key order).
    if (this.useRollups && this.sql.dialect === 'postgres') {
      return this.sql.all('SELECT DISTINCT ON ("user") "user", grp FROM process_user_groups ORDER BY "user", n DESC, grp');
    }
    if (this.useRollups) return this.sql.all('SELECT "user", grp FROM (SELECT "user", grp, max(n) FROM process_user_groups GROUP BY "user") x ORDER BY "user"');
    return this.sql.all(
      `SELECT "user", grp FROM (SELECT "user", grp, row_number() OVER (PARTITION BY "user" ORDER BY n DESC, grp) AS k FROM ${this.groupCounts()}) x WHERE k = 1 ORDER BY "user"`,
    );
  }

  /** (user, group, count of processes): the roll-up, or the records summed now. */
  private groupCounts(): string {
    return this.useRollups
      ? 'process_user_groups'
      : `(SELECT "user", grp, count(*) AS n FROM process_records WHERE type = 'process' AND "user" IS NOT NULL AND grp IS NOT NULL GROUP BY "user", grp) g`;
  }

  /**
   * Sums of completed processes grouped by some of command, exe, user, host and exit code (the
   * others come back null): the database returns one row per group, not per process.
   */
  async processSums(f: RecordFilter, by: readonly ProcessColumn[]): Promise<ProcessSumRow[]> {
    const split = this.useRollups ? splitDays(f.fromIso, f.toIso) : { edges: [{ fromIso: f.fromIso, toIso: f.toIso }] };
    const parts = await Promise.all(split.edges.map((e) => this.processSumsOfRecords({ ...f, ...e }, by)));
    if (split.days) parts.push(await this.processSumsOfRollups(f, split.days, by));
    return mergeSums<ProcessSumRow>(parts, PROCESS_COLUMNS, ['n', 'cpu', 'elapsed', 'io', 'mem']);
  }

  /** processSums of whole days from the roll-ups (the per-command one when neither user nor host matters). */
  private async processSumsOfRollups(f: RecordFilter, days: { from: string; to: string }, by: readonly ProcessColumn[]): Promise<ProcessSumRow[]> {
    const needs = [...by, ...(f.users !== undefined ? ['user'] : []), ...(f.host !== undefined ? ['host'] : [])];
    const parts: ProcessSumRow[][] = [];
    for (const r of rollupRanges(rollupFor(needs), days)) parts.push(await this.processSumsOfRollup(f, r, by));
    return mergeSums<ProcessSumRow>(parts, PROCESS_COLUMNS, ['n', 'cpu', 'elapsed', 'io', 'mem']);
  }

  private processSumsOfRollup(
    f: RecordFilter,
    r: { table: ProcessRollup; column: 'day' | 'month'; from: string; to: string },
    by: readonly ProcessColumn[],
  ): Promise<ProcessSumRow[]> {
    const table = r.table;
    const w = where({ ...f, fromIso: r.from, toIso: r.to });
    // The roll-ups' '' and NO_EXIT keys back as the records' NULLs.
    const col = (c: ProcessColumn) => (c === 'exit_code' ? `CASE WHEN exit_code = ${NO_EXIT} THEN NULL ELSE exit_code END` : `nullif(${quoteCol(c)}, '')`);
    const cols = PROCESS_COLUMNS.map((c) => (by.includes(c) ? `${col(c)} AS ${quoteCol(c)}` : `NULL AS ${quoteCol(c)}`)).join(', ');
    const group = by.length ? ` GROUP BY ${by.map(quoteCol).join(', ')}` : '';
    return this.sql.all<ProcessSumRow>(
      `SELECT ${cols}, sum(n) AS n, sum(cpu) AS cpu, sum(elapsed) AS elapsed, sum(read_sum + write_sum) AS io, sum(mem) AS mem FROM ${table} WHERE ${w.sql.replace('time >= ? AND time < ?', `${r.column} >= ? AND ${r.column} < ?`)}${group}`,
      w.params,
    );
  }

  private async processSumsOfRecords(f: RecordFilter, by: readonly ProcessColumn[]): Promise<ProcessSumRow[]> {
    const w = where(f);
    const cols = PROCESS_COLUMNS.map((c) => (by.includes(c) ? quoteCol(c) : `NULL AS ${quoteCol(c)}`)).join(', ');
    const group = by.length ? ` GROUP BY ${by.map(quoteCol).join(', ')}` : '';
    return this.sql.all<ProcessSumRow>(
      `SELECT ${cols}, count(*) AS n, sum(coalesce(cpu_user_seconds, 0) + coalesce(cpu_system_seconds, 0)) AS cpu, ` +
        'sum(coalesce(elapsed_seconds, 0)) AS elapsed, sum(coalesce(read_bytes, 0) + coalesce(write_bytes, 0)) AS io, sum(coalesce(avg_rss_bytes, 0) * coalesce(elapsed_seconds, 0)) AS mem ' +
        `FROM process_records WHERE type = 'process' AND ${w.sql}${group}`,
      w.params,
    );
  }

  /** process-interval records per UTC hour of their interval start (`YYYY-MM-DDTHH`) and command. */
  async intervalSums(f: RecordFilter): Promise<IntervalSumRow[]> {
    // process_hourly has no user or host: filtered pages read the records.
    const split =
      this.useRollups && f.users === undefined && f.host === undefined ? splitDays(f.fromIso, f.toIso) : { edges: [{ fromIso: f.fromIso, toIso: f.toIso }] };
    const parts = await Promise.all(split.edges.map((e) => this.intervalSumsOfRecords({ ...f, ...e })));
    if (split.days) {
      parts.push(
        await this.sql.all<IntervalSumRow>(
          `SELECT hour, nullif(command, '') AS command, sum(n) AS n, sum(cpu) AS cpu, sum(elapsed) AS elapsed, sum(io) AS io, sum(rss) AS rss FROM process_hourly WHERE day >= ? AND day < ? GROUP BY hour, command`,
          [split.days.from, split.days.to],
        ),
      );
    }
    return mergeSums<IntervalSumRow>(parts, ['hour', 'command'], ['n', 'cpu', 'elapsed', 'io', 'rss']);
  }

  private intervalSumsOfRecords(f: RecordFilter): Promise<IntervalSumRow[]> {
    const w = where(f);
    return this.sql.all<IntervalSumRow>(
      'SELECT substr(interval_start, 1, 13) AS hour, command, count(*) AS n, sum(coalesce(cpu_seconds, 0)) AS cpu, sum(coalesce(elapsed_seconds, 0)) AS elapsed, ' +
        'sum(coalesce(read_bytes, 0) + coalesce(write_bytes, 0)) AS io, sum(coalesce(avg_rss_bytes, 0) * coalesce(elapsed_seconds, 0)) AS rss ' +
        `FROM process_records WHERE type = 'process-interval' AND interval_start IS NOT NULL AND ${w.sql} GROUP BY substr(interval_start, 1, 13), command`,
      w.params,
    );
  }

  async activitySums(f: RecordFilter): Promise<ActivitySumRow[]> {
    // PostgreSQL runs the three at once.
    const parts = await Promise.all(activitySumQueries(f).map((q) => this.sql.all<ActivitySumRow>(q.sql, q.params)));
    return parts.flat();
  }

  /** Changes of application between consecutive input-events intervals of one user on one host. */
  applicationSwitches(f: RecordFilter): Promise<Array<{ user: string; switches: number }>> {
    const w = where(f);
    return this.sql.all(
      'SELECT "user", sum(CASE WHEN prev IS NOT NULL AND prev <> application THEN 1 ELSE 0 END) AS switches FROM ' +
        '(SELECT "user", application, lag(application) OVER (PARTITION BY "user", host ORDER BY start) AS prev ' +
        `FROM activity_records WHERE type = 'input-events' AND "user" IS NOT NULL AND ${w.sql}) x GROUP BY "user" ORDER BY "user"`,
      w.params,
    );
  }

  /**
   * Work and input intervals (application-specific ones) for active-vs-checked-out; with
   * `applicationsEndingIn`, only those whose application ends in one of these names, any case (a
   * cheap superset of the base names the report matches, so one product's page reads its own).
   */
  activityIntervals(f: RecordFilter, applicationsEndingIn?: readonly string[]): Promise<ActivityRow[]> {
    const w = where(f);
    const apps = applicationsEndingIn?.map((a) => `%${a.toLowerCase()}`);
    // SQL's lower() may leave non-ASCII letters as they are: such applications are always read.
    const nonAscii =
      this.sql.dialect === 'postgres' ? 'octet_length(application) <> length(application)' : 'length(CAST(application AS BLOB)) <> length(application)';
    const byApp = apps ? ` AND (${[...apps.map(() => 'lower(application) LIKE ?'), nonAscii].join(' OR ')})` : '';
    return this.sql.all<ActivityRow>(
      `SELECT type, "user", host, application, start, "end", keyboard, mouse FROM activity_records WHERE type IN ('work', 'input-events') AND application IS NOT NULL AND ${w.sql}${byApp}`,
      [...w.params, ...(apps ?? [])],
    );
  }

  /** The agents' notifications of [from, to) (idle harvesting: idle.paused, idle.closed). */
  notifications(f: RecordFilter): Promise<Array<{ time: string; host: string | null; data: string }>> {
    const w = where({ ...f, users: undefined });
    return this.sql.all(`SELECT time, host, data FROM other_records WHERE type = 'notification' AND ${w.sql} ORDER BY time`, w.params);
  }
}
