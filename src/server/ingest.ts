/**
 * Upload ingest: type-specific field checks, the ack plan (logic.planIngest) and one transaction
 * per batch writing process, activity, usage-event and other records keyed by (agentId, seq).
 */
import { RECORD_TYPE_FIELDS, type FieldKind, type UploadRecord } from '../protocol/v1.js';
import { planIngest } from './logic.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store.js';

export interface FieldError {
  field: string;
  message: string;
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function checkKind(v: unknown, kind: FieldKind): string | undefined {
  if (v === null || v === undefined) return undefined;
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? undefined : 'must be a string';
    case 'time':
      return typeof v === 'string' && ISO_RE.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : 'must be an ISO-8601 date-time';
    case 'integer':
      return Number.isSafeInteger(v) ? undefined : 'must be an integer';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) ? undefined : 'must be a number';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be a boolean';
  }
}

/** Check the typed fields of known record types; unknown types pass (stored generically). */
export function checkRecords(records: readonly UploadRecord[]): FieldError[] {
  const errors: FieldError[] = [];
  for (let i = 0; i < records.length && errors.length < 20; i++) {
    const r = records[i];
    if (Number.isNaN(Date.parse(r.time))) errors.push({ field: `/records/${i}/time`, message: 'must be a valid date-time' });
    const fields = RECORD_TYPE_FIELDS[r.type];
    if (!fields) continue;
    for (const name in fields) {
      const msg = checkKind(r[name], fields[name]);
      if (msg) errors.push({ field: `/records/${i}/${name}`, message: msg });
    }
    if (r.type === 'usage-event') {
      const code = r.code;
      if (code === undefined || code === null) errors.push({ field: `/records/${i}/code`, message: "must have required property 'code'" });
      else if (typeof code === 'number' && Number.isInteger(code) && (code < 1 || code > 30)) errors.push({ field: `/records/${i}/code`, message: 'must be a usage-event code from 1 to 30' });
      if (typeof r.product !== 'string' || r.product.length === 0) errors.push({ field: `/records/${i}/product`, message: 'must be a non-empty string' });
    }
  }
  return errors;
}

const utc = (t: unknown): string | null => {
  if (typeof t !== 'string') return null;
  return t.endsWith('Z') || t.endsWith('z') ? t : new Date(t).toISOString();
};
const v = (x: unknown): string | number | null => (x === undefined || x === null ? null : (x as string | number));

/** JSON of the fields not mapped to columns, or null. */
function extra(r: UploadRecord, mapped: Readonly<Record<string, unknown>>): string | null {
  let out: Record<string, unknown> | undefined;
  for (const k in r) {
    if (k === 'seq' || k === 'type' || k === 'time' || k === 'host' || k in mapped) continue;
    (out ??= {})[k] = r[k];
  }
  return out ? JSON.stringify(out) : null;
}

export type IngestResult =
  | { ok: true; ackedThroughSeq: number; stored: number; duplicates: number }
  | { ok: false; ackedThroughSeq: number; stored: number; duplicates: number; expectedSeq: number; receivedSeq: number };

export function ingest(store: Store, metrics: Metrics, agentId: string, records: readonly UploadRecord[]): IngestResult {
  const s = store.s;
  const perType = new Map<string, number>();
  const result = store.db.transaction((): IngestResult => {
    const acked = s.agentById.get(agentId)!.acked_seq;
    const plan = planIngest(acked, records.map((r) => r.seq), records.map((r) => (typeof r.throughSeq === 'number' ? r.throughSeq : undefined)));
    for (const idx of plan.store) {
      const r = records[idx];
      const time = utc(r.time)!;
      const host = typeof r.host === 'string' ? r.host : null;
      switch (r.type) {
        case 'process':
        case 'process-interval':
          s.insertProcess.run(
            agentId, r.seq, r.type, time, host, v(r.user), v(r.uid), v(r.group), v(r.gid), v(r.pid), v(r.ppid), v(r.command), v(r.exe),
            utc(r.start), utc(r.end), v(r.elapsedSeconds), v(r.cpuUserSeconds), v(r.cpuSystemSeconds), v(r.avgRssBytes), v(r.maxRssBytes),
            v(r.avgVirtualBytes), v(r.readBytes), v(r.writeBytes), v(r.exitCode), v(r.source), utc(r.intervalStart), utc(r.intervalEnd),
            v(r.cpuSeconds), extra(r, RECORD_TYPE_FIELDS[r.type]),
          );
          break;
        case 'break':
        case 'work':
        case 'input-events':
          s.insertActivity.run(
            agentId, r.seq, r.type, time, host, v(r.user), v(r.application), utc(r.start), utc(r.end), v(r.durationSeconds),
            v(r.breakType), v(r.periodType), v(r.keyboard), v(r.mouse), v(r.switch), extra(r, RECORD_TYPE_FIELDS[r.type]),
          );
          break;
        case 'usage-event':
          s.insertAgentEvent.run(
            agentId, r.seq, time, r.code as number, v(r.product), v(r.user), host, v(r.pid), utc(r.processStart), v(r.leaseId), v(r.reason),
            typeof r.offline === 'boolean' ? (r.offline ? 1 : 0) : null, extra(r, RECORD_TYPE_FIELDS['usage-event']),
          );
          break;
        default:
          s.insertOther.run(agentId, r.seq, r.type, time, host, JSON.stringify(r));
      }
      perType.set(r.type, (perType.get(r.type) ?? 0) + 1);
    }
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
  return type in RECORD_TYPE_FIELDS || type === 'notification' || type === 'journal-drop' ? type : 'other';
}
