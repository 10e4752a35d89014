/**
 * Upload ingest: the ack plan (`planIngest`, pure) and one store transaction per batch, which
 * locks the agent's row (two servers taking the same agent's uploads after a failover decide one
 * after another), stores the planned records by table and moves the acknowledgement. On
 * PostgreSQL that transaction may hold other agents' uploads too (postgres/ingest-group.ts). The
 * body was checked before (upload-check.ts: checkUpload).
 */
import { EventCode } from '../protocol/event-codes.js';
import { decode32, encode, UNLINKED_HEAD, type VerifyInput, type VerifyResult } from '../protocol/integrity.js';
import { RECORD_TYPE_FIELDS } from '../protocol/v1.js';
import { integrityFlags, isAuthentic, verifyRecords, type IntegrityFlag, type Verdict } from './integrity.js';
import type { PreVerified } from './integrity-verifier.js';
import { verifyAsSent } from './integrity-as-sent.js';
import type { Metrics } from './metrics.js';
import { INGEST_ORDER, batchRows } from './storage/records.js';
import { applySoftwareChanges, softwareChanges } from './storage/software.js';
import type { Store, Tx } from './storage/store.js';
import type { CheckedUpload } from './upload-check.js';

export { checkUpload, type CheckedUpload, type FieldError } from './upload-check.js';

export type IngestResult =
  | { ok: true; ackedThroughSeq: number; stored: number; duplicates: number }
  | { ok: false; ackedThroughSeq: number; stored: number; duplicates: number; expectedSeq: number; receivedSeq: number };

export interface IngestOptions {
  /**
   * The integrity worker's verdicts over the whole batch (integrity-verifier.ts), used when they
   * start from the agent's chain head under the lock and cover exactly what is stored.
   */
  preVerified?: Promise<PreVerified | undefined>;
  /**
   * The upload's body as received, for the check in line: the records' bytes as sent are hashed
   * (integrity-as-sent.ts verifyAsSent, less than half the cost of making each record's JSON again).
   */
  sent?: Uint8Array;
}

export async function ingest(store: Store, metrics: Metrics, agentId: string, upload: CheckedUpload, opts: IngestOptions = {}): Promise<IngestResult> {
  const { preVerified, sent } = opts;
  const { records, hasExtra } = upload;
  const seqs = new Array<number>(records.length);
  const through = new Array<number | undefined>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    seqs[i] = r.seq;
    through[i] = typeof r.throughSeq === 'number' ? r.throughSeq : undefined;
  }
  await store.prepareRecords(records);
  // Awaited before the transaction: no lock is held while the worker works.
  const pre = preVerified ? await preVerified : undefined;
  const storeBatch = async (tx: Tx): Promise<IngestResult> => {
    const agent = (await tx.agentForUpdate(agentId))!;
    const acked = agent.acked_seq;
    const key = agent.record_key ? Buffer.from(agent.record_key, 'base64url') : undefined;
    const head = agent.chain_head === UNLINKED_HEAD ? UNLINKED_HEAD : agent.chain_head ? decode32(agent.chain_head) : undefined;
    // Agents that chain their records: one with a valid MAC beyond a seq hole is stored and the
    // hole flagged (records deleted from its journal), instead of refusing the batch.
    const verifying = key !== undefined && head !== undefined;
    const plan = planIngest(acked, seqs, through, verifying ? (idx) => isAuthentic(key, records[idx]) : undefined);
    const rows = batchRows(agentId, records, plan.store, hasExtra);
    for (const table of INGEST_ORDER) {
      const t = rows.tables[table];
      if (t.rows > 0) await tx.insertRecords(table, t.values, t.rows);
    }
    // The software audit's current state moves with the records that describe it, in seq order.
    if (rows.perType.has('software'))
      await applySoftwareChanges(
        tx.sql,
        softwareChanges(
          agentId,
          agent.host,
          plan.store.map((i) => records[i]),
        ),
      );
    if (plan.ackedThroughSeq !== acked) await tx.setAcked(agentId, plan.ackedThroughSeq);
    let flags: IntegrityFlag[] = [];
    let checkedBy: 'worker' | 'inline' | undefined;
    if (verifying && plan.store.length > 0) {
      const gapBefore = new Set((plan.gaps ?? []).map((g) => g.toSeq + 1));
      const inputs = plan.store.map((idx) => ({ record: records[idx], afterGap: gapBefore.has(seqs[idx]) }));
      checkedBy = pre && covers(pre, agent.chain_head!, records, plan.store, plan.gaps) ? 'worker' : 'inline';
      const v = checkedBy === 'worker' ? fromWorker(pre!, inputs.length) : verifyInLine(key, head, agent.chain_head!, inputs, sent, records, plan);
      flags = integrityFlags(inputs, v.verdicts, plan.gaps ?? []);
      const nextHead = v.linked ? encode(v.head) : UNLINKED_HEAD;
      if (nextHead !== agent.chain_head) await tx.setChainHead(agentId, nextHead);
      const detectedAt = new Date();
      for (const f of flags) {
        await tx.insertIntegrityFlag({ agentId, ...f, detectedAt: detectedAt.toISOString() });
        await tx.writeServerEvent({
          time: detectedAt.getTime(),
          code: EventCode.info,
          agentId,
          host: agent.host,
          reason: `integrity-${f.kind}`,
          extra: JSON.stringify({ fromSeq: f.fromSeq, toSeq: f.toSeq, records: f.records }),
        });
      }
    }
    const base = { ackedThroughSeq: plan.ackedThroughSeq, stored: plan.store.length, duplicates: plan.duplicates };
    const result: IngestResult = plan.gap ? { ok: false, ...base, ...plan.gap } : { ok: true, ...base };
    tx.afterCommit(() => {
      for (const f of flags) metrics.inc('usage_server_integrity_flags_total', { kind: f.kind }, f.records);
      if (checkedBy) metrics.inc('usage_server_integrity_batches_total', { checked: checkedBy });
      for (const [type, n] of rows.perType) metrics.inc('usage_server_ingest_records_total', { type: metricType(type) }, n);
      if (result.duplicates) metrics.inc('usage_server_ingest_duplicates_total', {}, result.duplicates);
      if (result.ok) metrics.inc('usage_server_ingest_batches_total');
      else metrics.inc('usage_server_ingest_gaps_total');
      if (tx.grouped) metrics.inc('usage_server_ingest_grouped_batches_total');
    });
    return result;
  };
  return store.transaction(storeBatch, { ingestFor: agentId });
}

/**
 * The check in line: the records as sent, judged as the worker judges them, when that covers the
 * batch as stored (the common case); else each record from its parsed form.
 */
function verifyInLine(
  key: Buffer,
  head: Buffer | typeof UNLINKED_HEAD,
  chainHead: string,
  inputs: VerifyInput[],
  sent: Uint8Array | undefined,
  records: CheckedUpload['records'],
  plan: IngestPlan,
): VerifyResult {
  if (sent && head !== UNLINKED_HEAD && (plan.gaps?.length ?? 0) === 0) {
    const r = verifyAsSent(key, head, sent);
    const asSent = r && { ...r, fromHead: chainHead };
    if (asSent && covers(asSent, chainHead, records, plan.store, plan.gaps)) return fromWorker(asSent, inputs.length);
  }
  return verifyRecords(key, head, inputs);
}

/** The worker (or the in-line check as sent) judged exactly these records, in this order, from this chain head. */
function covers(pre: PreVerified, chainHead: string, records: CheckedUpload['records'], store: readonly number[], gaps: IngestPlan['gaps']): boolean {
  if (pre.fromHead !== chainHead || (gaps?.length ?? 0) > 0 || store.length !== pre.seqs.length) return false;
  for (let i = 0; i < store.length; i++) if (records[store[i]!]!.seq !== pre.seqs[i]) return false;
  return true;
}

function fromWorker(pre: PreVerified, n: number): VerifyResult {
  return { verdicts: pre.verdicts ?? new Array<Verdict>(n).fill('ok'), head: decode32(pre.head)!, linked: pre.linked };
}

/** Bound label cardinality: unknown record types are counted as "other". */
function metricType(type: string): string {
  return Object.hasOwn(RECORD_TYPE_FIELDS, type) || type === 'notification' || type === 'journal-drop' ? type : 'other';
}

export type IngestPlan = {
  /** Indices into the batch to store, in seq order (contiguous from ackedThroughSeq+1 but for `gaps`). */
  store: number[];
  /** Seq holes passed over (only by records `passGap` allowed), in seq order. */
  gaps?: Array<{ fromSeq: number; toSeq: number }>;
  duplicates: number;
  ackedThroughSeq: number;
  /** Set when the batch (after the stored prefix) continues beyond a hole. */
  gap?: { expectedSeq: number; receivedSeq: number };
};

/**
 * Ack rule: ackedThroughSeq is the highest N such that 1..N are all stored. Re-sent seqs
 * (<= acked, or repeated in the batch) are duplicates, never stored twice; the contiguous run
 * after `acked` is stored; anything beyond a hole is refused and reported.
 *
 * A record may stand for a range of seqs (`throughSeq` > seq: an agent's bounded journal
 * compacted or dropped records seq..throughSeq and says so); storing it acknowledges the whole
 * range. A covering record that arrives after part of its range was stored still advances the
 * ack over the rest (its own data is not stored again).
 *
 * `passGap(idx)`: the record beyond a hole may be stored anyway (its MAC shows the agent wrote it:
 * the records in the hole were deleted from its journal); the hole is reported in `gaps`.
 */
export function planIngest(
  ackedThroughSeq: number,
  seqs: readonly number[],
  throughSeqs?: ReadonlyArray<number | undefined>,
  passGap?: (idx: number) => boolean,
): IngestPlan {
  const order = seqs.map((_s, i) => i).sort((a, b) => seqs[a] - seqs[b] || a - b);
  const store: number[] = [];
  const gaps: Array<{ fromSeq: number; toSeq: number }> = [];
  let acked = ackedThroughSeq;
  let duplicates = 0;
  const through = (idx: number): number => {
    const t = throughSeqs?.[idx];
    return t !== undefined && Number.isSafeInteger(t) && t > seqs[idx] ? t : seqs[idx];
  };
  for (const idx of order) {
    const s = seqs[idx];
    if (s <= acked) {
      duplicates++;
      if (through(idx) > acked) acked = through(idx);
      continue;
    }
    if (s === acked + 1) {
      store.push(idx);
      acked = through(idx);
      continue;
    }
    if (passGap?.(idx)) {
      gaps.push({ fromSeq: acked + 1, toSeq: s - 1 });
      store.push(idx);
      acked = through(idx);
      continue;
    }
    return { store, duplicates, ackedThroughSeq: acked, gap: { expectedSeq: acked + 1, receivedSeq: s }, ...(gaps.length ? { gaps } : {}) };
  }
  return { store, duplicates, ackedThroughSeq: acked, ...(gaps.length ? { gaps } : {}) };
}
