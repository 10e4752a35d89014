/**
 * The checks of an upload body's chain and MACs from a given head, with the verdicts
 * protocol/integrity.ts verifyRecords gives (as ingest would from the parsed records): run on the
 * integrity worker thread (integrity-worker.ts) for large batches, in line by ingest for the rest.
 * Anything it cannot judge (not an upload, a seq hole) it leaves to ingest. Pure.
 *
 * The common case needs no JSON parse: the agent writes each record with JSON.stringify, and its
 * chain is over that very text without the chain and mac members (canonical()). So the records'
 * bytes are cut from the body as sent and hashed as they are, found with Buffer.indexOf and copied
 * with memcpy (verifyAsSent: a few µs a record, nearly all of it SHA-256); the first record that
 * does not link that way (a body another client formatted, a compaction summary, a tampered
 * record) sends the whole batch through JSON.parse and verifyRecords.
 */
import { decode32, encode, macValid, sha256Base64url, UNLINKED_HEAD, verifyRecords, type Verdict } from '../protocol/integrity.js';

export interface VerifyRequest {
  id: number;
  key: string;
  head: string;
  /** The upload's body: its bytes as received (the server), or its text. */
  body: Uint8Array | string;
}

export interface VerifyReply {
  id: number;
  /** Absent: not judged here (ingest verifies in line). */
  result?: { seqs: number[]; verdicts?: Verdict[]; head: string; linked: boolean };
}

export function verifyBody(req: VerifyRequest): VerifyReply['result'] {
  const key = Buffer.from(req.key, 'base64url');
  const head = req.head === UNLINKED_HEAD ? UNLINKED_HEAD : decode32(req.head);
  if (!head || key.length === 0) return undefined;
  if (head !== UNLINKED_HEAD) {
    const fast = verifyAsSent(key, head, req.body);
    if (fast) return fast;
  }
  let records: unknown;
  try {
    records = (JSON.parse(typeof req.body === 'string' ? req.body : asBuffer(req.body).toString('utf8')) as { records?: unknown }).records;
  } catch {
    return undefined;
  }
  if (!Array.isArray(records) || records.length === 0) return undefined;
  const seqs: number[] = [];
  for (const r of records as Array<{ seq?: unknown }>) {
    // Only the plain case: a contiguous run (ingest's plan then stores every record in order).
    if (typeof r !== 'object' || r === null || typeof r.seq !== 'number' || (seqs.length > 0 && r.seq !== seqs[seqs.length - 1]! + 1)) return undefined;
    seqs.push(r.seq);
  }
  const v = verifyRecords(
    key,
    head,
    (records as Array<{ seq: number }>).map((record) => ({ record })),
  );
  const allOk = v.verdicts.every((x) => x === 'ok');
  return { seqs, ...(allOk ? {} : { verdicts: v.verdicts }), head: encode(v.head), linked: v.linked };
}

/** A Buffer over the same memory (a Buffer posted to a worker arrives as a plain Uint8Array). */
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const RECORDS_PREFIX = Buffer.from('{"records":[');
const RECORD_START = Buffer.from('{"seq":');
/** Where one record ends and the next begins: `},{"seq":` can stand outside a JSON string only. */
const NEXT_RECORD = Buffer.from('},{"seq":');
const BODY_END = Buffer.from('}]}');
const CHAIN_MEMBER = Buffer.from(',"chain":"');
const MAC_MEMBER = Buffer.from('","mac":"');
const CHAIN_THROUGH = Buffer.from('"chainThrough":');
const B64_32 = 43;
const LINK_BYTES = 32;
const QUOTE = 34;
const COMMA = 44;
const DIGIT_0 = 48;

/**
 * The byte range [start, end) of each record in a body written as JSON.stringify writes an upload
 * (`{"records":[{"seq":…},{"seq":…}]}`, no whitespace), or undefined for any other shape. Found with
 * Buffer.indexOf, not a scan in JavaScript: `},{"seq":` never stands inside a JSON string (a quote
 * there is escaped), so it parts two records unless a record nests objects with a "seq" member in
 * an array; such a record is then cut wrong, fails its hash, and the parsed path judges the batch.
 */
export function recordSpans(body: Buffer): Array<[number, number]> | undefined {
  const n = body.length;
  const first = RECORDS_PREFIX.length;
  // (Buffer.compare throws on ranges past the end: the length first.)
  if (n < first + RECORD_START.length + BODY_END.length) return undefined;
  if (body.compare(RECORDS_PREFIX, 0, first, 0, first) !== 0 || body.compare(RECORD_START, 0, RECORD_START.length, first, first + RECORD_START.length) !== 0)
    return undefined;
  if (body.compare(BODY_END, 0, BODY_END.length, n - BODY_END.length, n) !== 0) return undefined;
  const out: Array<[number, number]> = [];
  let start = first;
  for (;;) {
    const next = body.indexOf(NEXT_RECORD, start);
    if (next < 0 || next > n - BODY_END.length) {
      out.push([start, n - 2]);
      return out;
    }
    out.push([start, next + 1]);
    start = next + 2;
  }
}

/** The record's seq when its text starts `{"seq":<digits>,`, else -1. */
function seqAt(body: Buffer, start: number): number {
  let i = start + RECORD_START.length;
  let seq = 0;
  const first = i;
  for (; i < first + 16; i++) {
    const d = body[i]! - DIGIT_0;
    if (!(d >= 0 && d <= 9)) break; // (past the end: NaN)
    seq = seq * 10 + d;
  }
  return i > first && i < first + 16 && body[i] === COMMA ? seq : -1;
}

/**
 * The linked fast path over the records' bytes as sent: every record's chain is SHA-256 of the one
 * before and its own text without `,"chain":"…","mac":"…"`, seqs run on by one, and the last MAC is
 * right (one MAC authenticates the linked chain before it; see verifyRecords). Undefined as soon
 * as anything is otherwise: the caller then judges each record from the parsed body.
 *
 * Per record: the record is copied behind the link in one scratch buffer, hashed to base64url text
 * (compared with the chain as sent, then decoded into the scratch's head as the next link), so no
 * Buffer or string is made per record but the digest's 43 characters and the chain's as sent.
 */
export function verifyAsSent(key: Buffer, head: Buffer, sent: Uint8Array | string): VerifyReply['result'] {
  const body = typeof sent === 'string' ? Buffer.from(sent, 'utf8') : asBuffer(sent);
  const spans = recordSpans(body);
  if (!spans) return undefined;
  // A record standing for a range links through its chainThrough: the parsed path handles it
  // (one search of the body, not one per record).
  if (body.indexOf(CHAIN_THROUGH) >= 0) return undefined;
  const seqs = new Array<number>(spans.length);
  let lastMacAt = -1;
  let link = '';
  let scratch = Buffer.allocUnsafe(4096);
  head.copy(scratch, 0);
  for (let k = 0; k < spans.length; k++) {
    const [start, end] = spans[k]!;
    const seq = seqAt(body, start);
    if (seq < 0 || (k > 0 && seq !== seqs[k - 1]! + 1)) return undefined;
    seqs[k] = seq;
    const c = body.indexOf(CHAIN_MEMBER, start);
    const chainAt = c + CHAIN_MEMBER.length;
    const macAt = chainAt + B64_32 + MAC_MEMBER.length;
    const after = macAt + B64_32 + 1;
    if (c < 0 || after > end || body[after - 1] !== QUOTE || body.compare(MAC_MEMBER, 0, MAC_MEMBER.length, chainAt + B64_32, macAt) !== 0) return undefined;
    // link || the record without its chain and mac members, in one buffer, hashed.
    const size = LINK_BYTES + (c - start) + (end - after);
    if (size > scratch.length) {
      const bigger = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
      scratch.copy(bigger, 0, 0, LINK_BYTES);
      scratch = bigger;
    }
    body.copy(scratch, LINK_BYTES, start, c);
    body.copy(scratch, LINK_BYTES + (c - start), after, end);
    link = sha256Base64url(scratch.subarray(0, size));
    if (link !== body.toString('latin1', chainAt, chainAt + B64_32)) return undefined;
    scratch.write(link, 0, LINK_BYTES, 'base64url');
    lastMacAt = macAt;
  }
  const last = decode32(link)!;
  if (!macValid(key, last, undefined, decode32(body.toString('latin1', lastMacAt, lastMacAt + B64_32)))) return undefined;
  return { seqs, head: link, linked: true };
}
