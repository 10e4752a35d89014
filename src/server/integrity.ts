/**
 * The integrity flags of an upload batch: the verdicts of protocol/integrity.ts verifyRecords
 * (ok, edited, forged, unauthenticated) over the records about to be stored, grouped into seq
 * ranges, and the seq holes the batch passed over (`gap`: records deleted from the journal).
 */
import type { Verdict } from '../protocol/integrity.js';
import type { UploadRecord } from '../protocol/v1.js';

export { isAuthentic, verifyRecords, type Verdict, type VerifyInput } from '../protocol/integrity.js';
export type FlagKind = Exclude<Verdict, 'ok'> | 'gap';
export const FLAG_KINDS: readonly FlagKind[] = ['edited', 'forged', 'unauthenticated', 'gap'];

export interface IntegrityFlag {
  kind: FlagKind;
  fromSeq: number;
  toSeq: number;
  /** Records flagged (for a gap: seqs missing). */
  records: number;
  /** Times of the first and last flagged record (a gap: of the record after it). */
  firstTime: string | null;
  lastTime: string | null;
}

const lastSeq = (r: UploadRecord): number =>
  typeof r.throughSeq === 'number' && Number.isSafeInteger(r.throughSeq) && r.throughSeq > r.seq ? r.throughSeq : r.seq;

/**
 * The flags of one batch: runs of consecutive records with the same verdict (other than ok) as
 * seq ranges, and the gaps, in seq order.
 */
export function integrityFlags(
  inputs: ReadonlyArray<{ record: UploadRecord; afterGap?: boolean }>,
  verdicts: readonly Verdict[],
  gaps: ReadonlyArray<{ fromSeq: number; toSeq: number }>,
): IntegrityFlag[] {
  const flags: IntegrityFlag[] = [];
  let gi = 0;
  let cur: IntegrityFlag | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const r = inputs[i].record;
    while (gi < gaps.length && gaps[gi].toSeq < r.seq) {
      const g = gaps[gi++];
      if (cur) flags.push(cur);
      cur = undefined;
      flags.push({ kind: 'gap', fromSeq: g.fromSeq, toSeq: g.toSeq, records: g.toSeq - g.fromSeq + 1, firstTime: r.time, lastTime: r.time });
    }
    const v = verdicts[i];
    if (v === 'ok') {
      if (cur) flags.push(cur);
      cur = undefined;
      continue;
    }
    if (cur && cur.kind === v && cur.toSeq + 1 === r.seq) {
      cur.toSeq = lastSeq(r);
      cur.records++;
      cur.lastTime = r.time;
      continue;
    }
    if (cur) flags.push(cur);
    cur = { kind: v, fromSeq: r.seq, toSeq: lastSeq(r), records: 1, firstTime: r.time, lastTime: r.time };
  }
  if (cur) flags.push(cur);
  for (; gi < gaps.length; gi++) flags.push({ kind: 'gap', ...gaps[gi], records: gaps[gi].toSeq - gaps[gi].fromSeq + 1, firstTime: null, lastTime: null });
  return flags;
}
