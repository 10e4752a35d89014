/**
 * Upload ingest: the ack plan (logic.planIngest) and one transaction per batch writing process,
 * activity, usage-event and other records keyed by (agentId, seq), RECORD_INSERT_ROWS rows per
 * INSERT statement. The body was checked before (upload-check.ts: checkUpload).
 */
import { RECORD_TYPE_FIELDS, type UploadRecord } from '../protocol/v1.js';
import { planIngest } from './logic.js';
import type { Metrics } from './metrics.js';
import { RECORD_INSERT_ROWS, RECORD_TABLES, type RecordTable, type Store } from './store.js';
import type { CheckedUpload } from './upload-check.js';

export { checkUpload, type CheckedUpload, type FieldError } from './upload-check.js';

/** Times are stored in UTC: a time not ending in Z is converted (the check made sure it parses). */
const utc = (t: unknown): string | null => {
  if (typeof t !== 'string') return null;
  const last = t.charCodeAt(t.length - 1);
  return last === 90 || last === 122 ? t : new Date(t).toISOString();
};
const v = (x: unknown): string | number | null => (x === undefined || x === null ? null : (x as string | number));

/** Keys of a known type that have their own columns (everything else goes into `extra`). */
const MAPPED: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries(RECORD_TYPE_FIELDS).map(([type, fields]) => [type, new Set(['seq', 'type', 'time', 'host', ...Object.keys(fields)])]),
);

/** JSON of the fields without a column (built with own properties only: a "__proto__" key stays data). */
function extra(r: UploadRecord): string {
  const mapped = MAPPED.get(r.type)!;
  const rest: Array<[string, unknown]> = [];
  for (const k of Object.keys(r)) if (!mapped.has(k)) rest.push([k, r[k]]);
  return JSON.stringify(Object.fromEntries(rest));
}

/**
 * Parameters of up to RECORD_INSERT_ROWS rows of one table, written in place by the caller (`buf`
 * from `o` on, then `rowDone(o)`); every full set of rows is inserted with one statement. One per
 * table and Store, reused across batches (handlers run one at a time).
 */
class TableRows {
  readonly width: number;
  readonly buf: unknown[];
  o = 0;
  private rows = 0;

  constructor(
    private readonly store: Store,
    private readonly table: RecordTable,
  ) {
    this.width = RECORD_TABLES[table].columns.length;
    this.buf = new Array<unknown>(RECORD_INSERT_ROWS * this.width).fill(null);
  }

  reset(): void {
    this.o = 0;
    this.rows = 0;
  }

  rowDone(o: number): void {
    this.o = o;
    if (++this.rows === RECORD_INSERT_ROWS) {
      // Spread, not the array itself: better-sqlite3 reads call arguments directly but an array's
      // elements one V8 API call each (a fifth of the insert's cost at 29 columns).
      this.store.recordInsert(this.table, RECORD_INSERT_ROWS).run(...this.buf);
      this.reset();
    }
  }

  flush(): void {
    if (this.rows > 0) this.store.recordInsert(this.table, this.rows).run(...this.buf.slice(0, this.o));
    this.reset();
  }
}

interface Writers {
  process: TableRows;
  activity: TableRows;
  event: TableRows;
  other: TableRows;
}
const writersOf = new WeakMap<Store, Writers>();

function writers(store: Store): Writers {
  let w = writersOf.get(store);
  if (w === undefined) {
    w = { process: new TableRows(store, 'process'), activity: new TableRows(store, 'activity'), event: new TableRows(store, 'event'), other: new TableRows(store, 'other') };
    writersOf.set(store, w);
  }
  return w;
}

export type IngestResult =
  | { ok: true; ackedThroughSeq: number; stored: number; duplicates: number }
  | { ok: false; ackedThroughSeq: number; stored: number; duplicates: number; expectedSeq: number; receivedSeq: number };

export function ingest(store: Store, metrics: Metrics, agentId: string, upload: CheckedUpload): IngestResult {
  const { records, hasExtra } = upload;
  const s = store.s;
  const w = writers(store);
  const perType = new Map<string, number>();
  const seqs = new Array<number>(records.length);
  const through = new Array<number | undefined>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    seqs[i] = r.seq;
    through[i] = typeof r.throughSeq === 'number' ? r.throughSeq : undefined;
  }
  const result = store.db.transaction((): IngestResult => {
    const acked = s.agentById.get(agentId)!.acked_seq;
    const plan = planIngest(acked, seqs, through);
    for (const t of [w.process, w.activity, w.event, w.other]) t.reset();
    let lastType = '';
    let lastCount = 0;
    for (const idx of plan.store) {
      const r = records[idx];
      const time = utc(r.time);
      const host = typeof r.host === 'string' ? r.host : null;
      switch (r.type) {
        case 'process':
        case 'process-interval': {
          const t = w.process;
          const b = t.buf;
          let o = t.o;
          b[o++] = agentId; b[o++] = r.seq; b[o++] = r.type; b[o++] = time; b[o++] = host;
          b[o++] = v(r.user); b[o++] = v(r.uid); b[o++] = v(r.group); b[o++] = v(r.gid); b[o++] = v(r.pid); b[o++] = v(r.ppid);
          b[o++] = v(r.command); b[o++] = v(r.exe); b[o++] = utc(r.start); b[o++] = utc(r.end); b[o++] = v(r.elapsedSeconds);
          b[o++] = v(r.cpuUserSeconds); b[o++] = v(r.cpuSystemSeconds); b[o++] = v(r.avgRssBytes); b[o++] = v(r.maxRssBytes);
          b[o++] = v(r.avgVirtualBytes); b[o++] = v(r.readBytes); b[o++] = v(r.writeBytes); b[o++] = v(r.exitCode); b[o++] = v(r.source);
          b[o++] = utc(r.intervalStart); b[o++] = utc(r.intervalEnd); b[o++] = v(r.cpuSeconds);
          b[o++] = hasExtra[idx] ? extra(r) : null;
          t.rowDone(o);
          break;
        }
        case 'break':
        case 'work':
        case 'input-events': {
          const t = w.activity;
          const b = t.buf;
          let o = t.o;
          b[o++] = agentId; b[o++] = r.seq; b[o++] = r.type; b[o++] = time; b[o++] = host;
          b[o++] = v(r.user); b[o++] = v(r.application); b[o++] = utc(r.start); b[o++] = utc(r.end); b[o++] = v(r.durationSeconds);
          b[o++] = v(r.breakType); b[o++] = v(r.periodType); b[o++] = v(r.keyboard); b[o++] = v(r.mouse); b[o++] = v(r.switch);
          b[o++] = hasExtra[idx] ? extra(r) : null;
          t.rowDone(o);
          break;
        }
        case 'usage-event': {
          const t = w.event;
          const b = t.buf;
          let o = t.o;
          b[o++] = agentId; b[o++] = r.seq; b[o++] = time; b[o++] = r.code as number; b[o++] = v(r.product); b[o++] = v(r.user);
          b[o++] = host; b[o++] = v(r.pid); b[o++] = utc(r.processStart); b[o++] = v(r.leaseId); b[o++] = v(r.reason);
          b[o++] = typeof r.offline === 'boolean' ? (r.offline ? 1 : 0) : null;
          b[o++] = hasExtra[idx] ? extra(r) : null;
          t.rowDone(o);
          break;
        }
        default: {
          const t = w.other;
          const b = t.buf;
          let o = t.o;
          b[o++] = agentId; b[o++] = r.seq; b[o++] = r.type; b[o++] = time; b[o++] = host; b[o++] = JSON.stringify(r);
          t.rowDone(o);
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
    for (const t of [w.process, w.activity, w.event, w.other]) t.flush();
    if (plan.ackedThroughSeq !== acked) s.setAcked.run(plan.ackedThroughSeq, agentId);
    const base = { ackedThroughSeq: plan.ackedThroughSeq, stored: plan.store.length, duplicates: plan.duplicates };
    return plan.gap ? { ok: false, ...base, ...plan.gap } : { ok: true, ...base };
  })();
  for (const [type, n] of perType) metrics.inc('usage_server_ingest_records_total', { type: metricType(type) }, n);
  if (result.duplicates) metrics.inc('usage_server_ingest_duplicates_total', {}, result.duplicates);
  if (result.ok) metrics.inc('usage_server_ingest_batches_total');
  else metrics.inc('usage_server_ingest_gaps_total');
  return result;
}

/** Bound label cardinality: unknown record types are counted as "other". */
function metricType(type: string): string {
  return Object.hasOwn(RECORD_TYPE_FIELDS, type) || type === 'notification' || type === 'journal-drop' ? type : 'other';
}
