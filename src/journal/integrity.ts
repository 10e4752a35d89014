/**
 * The journal's side of tamper evidence (protocol/integrity.ts): records as the uploader sends
 * them, rebuilt from their rows, so the journal can check its own chain (before compacting a run,
 * and at enrollment when it MACs the records waiting for upload with the new key).
 */
import { canonicalRecord, decode32, nextChainText, recordMacText, verifyRecords, type Verdict } from '../protocol/integrity.js';

export interface ChainedRow {
  seq: number;
  type: string;
  time: string;
  body: string;
  chain: string | null;
  mac: string | null;
  chain_through: string | null;
}

/** The record as uploaded: envelope, stored fields (host included), integrity fields. */
export function uploadedForm(r: ChainedRow): Record<string, unknown> & { seq: number } {
  const rec: Record<string, unknown> & { seq: number } = { seq: r.seq, type: r.type, time: r.time, ...(JSON.parse(r.body) as Record<string, unknown>) };
  if (r.chain !== null) rec.chain = r.chain;
  else delete rec.chain;
  if (r.mac !== null) rec.mac = r.mac;
  else delete rec.mac;
  if (r.chain_through !== null) rec.chainThrough = r.chain_through;
  else delete rec.chainThrough;
  return rec;
}

/** Verdicts of consecutive rows from `head` (key undefined: chain only), and the chain value reached. */
export function verifyRows(key: Buffer | undefined, head: Buffer, rows: readonly ChainedRow[]): { verdicts: Verdict[]; head: Buffer } {
  return verifyRecords(
    key,
    head,
    rows.map((r) => ({ record: uploadedForm(r) })),
  );
}

/** Chain value and MAC of a new record (its fields as stored, host included). */
export function sealRecord(
  prev: Buffer,
  key: Buffer | undefined,
  seq: number,
  type: string,
  time: string,
  fields: Record<string, unknown>,
  through?: Buffer,
  fieldsJson?: string,
): { chain: string; mac: string | null; head: Buffer } {
  const chain = nextChainText(prev, canonicalRecord(seq, type, time, fields, fieldsJson));
  const head = Buffer.from(chain, 'base64url');
  return { chain, mac: key ? recordMacText(key, head, through) : null, head };
}

/** The chain value after a row: the one its range reached (a summary), else its own. */
export const linkAfter = (r: Pick<ChainedRow, 'chain' | 'chain_through'>): Buffer | undefined => decode32(r.chain_through ?? r.chain);
