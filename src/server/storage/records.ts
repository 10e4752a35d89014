/**
 * Uploaded records as table rows, the same for both stores: which table a record type goes to,
 * its columns in order (with their PostgreSQL types, for UNNEST), and the values of a batch laid
 * out row after row in one flat array.
 */
import { INTEGRITY_FIELDS } from '../../protocol/integrity.js';
import { RECORD_TYPE_FIELDS, type UploadRecord } from '../../protocol/v1.js';

type Col = readonly [name: string, pgType: 'text' | 'bigint' | 'double precision' | 'integer'];

const T = 'text',
  I = 'bigint',
  R = 'double precision',
  S = 'integer';

/** The columns every record table starts with but usage_events (which has no type, and host further on). */
const ENVELOPE: readonly Col[] = [
  ['agent_id', T],
  ['seq', I],
  ['type', T],
  ['time', T],
  ['host', T],
];

/** The tables uploaded records go into: columns in the order values are laid out. */
export const RECORD_TABLES = {
  process: {
    table: 'process_records',
    columns: [
      ...ENVELOPE,
      ['user', T],
      ['uid', I],
      ['grp', T],
      ['gid', I],
      ['pid', I],
      ['ppid', I],
      ['command', T],
      ['exe', T],
      ['start', T],
      ['end', T],
      ['elapsed_seconds', R],
      ['cpu_user_seconds', R],
      ['cpu_system_seconds', R],
      ['avg_rss_bytes', R],
      ['max_rss_bytes', R],
      ['avg_virtual_bytes', R],
      ['read_bytes', R],
      ['write_bytes', R],
      ['exit_code', I],
      ['source', T],
      ['interval_start', T],
      ['interval_end', T],
      ['cpu_seconds', R],
      ['package', T],
      ['package_version', T],
      ['package_source', T],
      ['extra', T],
    ] as readonly Col[],
  },
  activity: {
    table: 'activity_records',
    columns: [
      ...ENVELOPE,
      ['user', T],
      ['application', T],
      ['start', T],
      ['end', T],
      ['duration_seconds', R],
      ['break_type', T],
      ['period_type', T],
      ['keyboard', I],
      ['mouse', I],
      ['switch_count', I],
      ['extra', T],
    ] as readonly Col[],
  },
  /** Agent-sent usage events; `origin` is the constant 'agent'. */
  event: {
    table: 'usage_events',
    columns: [
      ['agent_id', T],
      ['seq', I],
      ['time', T],
      ['code', S],
      ['product', T],
      ['user', T],
      ['host', T],
      ['pid', I],
      ['process_start', T],
      ['lease_id', T],
      ['reason', T],
      ['offline', S],
      ['extra', T],
    ] as readonly Col[],
  },
  other: {
    table: 'other_records',
    columns: [...ENVELOPE, ['data', T]] as readonly Col[],
  },
} as const;
export type RecordTable = keyof typeof RECORD_TABLES;
export const RECORD_TABLE_NAMES = Object.keys(RECORD_TABLES) as RecordTable[];
/**
 * The order an upload's tables are inserted in: process records last. Their roll-ups include rows
 * every agent's uploads add to (rollups.ts, Shards), locked until the commit; inserted before the
 * other tables they were held through those inserts too, and concurrent uploads queued on them
 * (PostgreSQL, 100,000 simulated agents: most lock waits were process COPYs behind a transaction
 * still copying its activity records).
 */
export const INGEST_ORDER: readonly RecordTable[] = [...RECORD_TABLE_NAMES.filter((t) => t !== 'process'), 'process'];

/** A column name as SQL (the reserved words quoted). */
export const quoteColumn = (c: string): string => (c === 'user' || c === 'end' ? `"${c}"` : c);

/** Times are stored in UTC: a time not ending in Z is converted (the upload check made sure it parses). */
export const utc = (t: unknown): string | null => {
  if (typeof t !== 'string') return null;
  const last = t.charCodeAt(t.length - 1);
  return last === 90 || last === 122 ? t : new Date(t).toISOString();
};
/**
 * A column value. PostgreSQL text cannot hold U+0000 (it refuses the whole statement), so a NUL in
 * an uploaded string is stored as U+FFFD, the replacement character, in both stores alike; `extra`
 * is JSON, where it stays the escape \u0000.
 */
const v = (x: unknown): string | number | null => (x === undefined || x === null ? null : typeof x === 'string' ? text(x) : (x as number));
const text = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s);

/** Keys of a known type that have their own columns (everything else goes into `extra`). */
const MAPPED: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries(RECORD_TYPE_FIELDS).map(([type, fields]) => [type, new Set(['seq', 'type', 'time', 'host', ...INTEGRITY_FIELDS, ...Object.keys(fields)])]),
);

/** JSON of the fields without a column (built with own properties only: a "__proto__" key stays data). */
function extra(r: UploadRecord): string {
  const mapped = MAPPED.get(r.type)!;
  const rest: Array<[string, unknown]> = [];
  for (const k of Object.keys(r)) if (!mapped.has(k)) rest.push([k, r[k]]);
  return JSON.stringify(Object.fromEntries(rest));
}

/** The record without its integrity fields (they are verified at ingest, not stored as data). */
function withoutIntegrity(r: UploadRecord): Record<string, unknown> {
  const { chain: _c, mac: _m, chainThrough: _t, ...rest } = r;
  return rest;
}

export interface TableValues {
  values: unknown[];
  rows: number;
}

export interface BatchRows {
  tables: Record<RecordTable, TableValues>;
  /** Records stored, by record type. */
  perType: Map<string, number>;
}

/** The rows of the records at `indices` (the ack plan's choice), by table. */
export function batchRows(agentId: string, records: readonly UploadRecord[], indices: readonly number[], hasExtra: ArrayLike<number | boolean>): BatchRows {
  const tables: Record<RecordTable, TableValues> = {
    process: { values: [], rows: 0 },
    activity: { values: [], rows: 0 },
    event: { values: [], rows: 0 },
    other: { values: [], rows: 0 },
  };
  const perType = new Map<string, number>();
  let lastType = '';
  let lastCount = 0;
  for (const idx of indices) {
    const r = records[idx];
    const time = utc(r.time);
    const host = typeof r.host === 'string' ? text(r.host) : null;
    switch (r.type) {
      case 'process':
      case 'process-interval': {
        const t = tables.process;
        t.values.push(agentId, r.seq, r.type, time, host); // the ENVELOPE columns
        t.values.push(
          v(r.user),
          v(r.uid),
          v(r.group),
          v(r.gid),
          v(r.pid),
          v(r.ppid),
          v(r.command),
          v(r.exe),
          utc(r.start),
          utc(r.end),
          v(r.elapsedSeconds),
          v(r.cpuUserSeconds),
          v(r.cpuSystemSeconds),
          v(r.avgRssBytes),
          v(r.maxRssBytes),
          v(r.avgVirtualBytes),
          v(r.readBytes),
          v(r.writeBytes),
          v(r.exitCode),
          v(r.source),
          utc(r.intervalStart),
          utc(r.intervalEnd),
          v(r.cpuSeconds),
          v(r.package),
          v(r.packageVersion),
          v(r.packageSource),
          hasExtra[idx] ? extra(r) : null,
        );
        t.rows++;
        break;
      }
      case 'break':
      case 'work':
      case 'input-events': {
        const t = tables.activity;
        t.values.push(agentId, r.seq, r.type, time, host); // the ENVELOPE columns
        t.values.push(
          v(r.user),
          v(r.application),
          utc(r.start),
          utc(r.end),
          v(r.durationSeconds),
          v(r.breakType),
          v(r.periodType),
          v(r.keyboard),
          v(r.mouse),
          v(r.switch),
          hasExtra[idx] ? extra(r) : null,
        );
        t.rows++;
        break;
      }
      case 'usage-event': {
        const t = tables.event;
        t.values.push(
          agentId,
          r.seq,
          time,
          r.code as number,
          v(r.product),
          v(r.user),
          host,
          v(r.pid),
          utc(r.processStart),
          v(r.leaseId),
          v(r.reason),
          typeof r.offline === 'boolean' ? (r.offline ? 1 : 0) : null,
          hasExtra[idx] ? extra(r) : null,
        );
        t.rows++;
        break;
      }
      default: {
        const t = tables.other;
        t.values.push(agentId, r.seq, text(r.type), time, host); // the ENVELOPE columns
        t.values.push(JSON.stringify(r.chain === undefined && r.mac === undefined && r.chainThrough === undefined ? r : withoutIntegrity(r)));
        t.rows++;
      }
    }
    if (r.type === lastType) lastCount++;
    else {
      if (lastCount > 0) perType.set(lastType, (perType.get(lastType) ?? 0) + lastCount);
      lastType = r.type;
      lastCount = 1;
    }
  }
  if (lastCount > 0) perType.set(lastType, (perType.get(lastType) ?? 0) + lastCount);
  return { tables, perType };
}
