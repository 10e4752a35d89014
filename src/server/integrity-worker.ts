/**
 * The worker thread of integrity-verifier.ts: checks an upload body's chain and MACs from the head
 * it is given, with the verdicts protocol/integrity.ts verifyRecords gives (as ingest would in
 * line). Anything it cannot judge (not an upload, a seq hole) it leaves to ingest.
 *
 * The common case needs no JSON parse: the agent writes each record with JSON.stringify, and its
 * chain is over that very text without the chain and mac members (canonical()). So the records'
 * texts are cut from the body as sent and hashed as they are (verifyAsSent); the first record that
 * does not link that way (a body another client formatted, a compaction summary, a tampered
 * record) sends the whole batch through JSON.parse and verifyRecords.
 */
import { parentPort } from 'node:worker_threads';
import { decode32, encode, macValid, nextChain, UNLINKED_HEAD, verifyRecords, type Verdict } from '../protocol/integrity.js';

export interface VerifyRequest {
  id: number;
  key: string;
  head: string;
  body: string;
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
    records = (JSON.parse(req.body) as { records?: unknown }).records;
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

const RECORDS_PREFIX = '{"records":[';
const OPEN = 123; // {
const CLOSE = 125; // }
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;

/**
 * The text of each record in a body written as JSON.stringify writes an upload
 * (`{"records":[{...},{...}]}`, no whitespace), or undefined for any other shape.
 */
export function recordTexts(body: string): string[] | undefined {
  if (!body.startsWith(RECORDS_PREFIX)) return undefined;
  const out: string[] = [];
  const n = body.length;
  let i = RECORDS_PREFIX.length;
  for (;;) {
    if (body.charCodeAt(i) !== OPEN) return undefined;
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < n; i++) {
      const c = body.charCodeAt(i);
      if (inString) {
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN || c === OPEN_ARRAY) depth++;
      else if ((c === CLOSE || c === CLOSE_ARRAY) && --depth === 0) break;
    }
    if (i >= n) return undefined;
    out.push(body.slice(start, i + 1));
    const next = body.charCodeAt(++i);
    if (next === COMMA) {
      i++;
      continue;
    }
    return next === CLOSE_ARRAY && body.charCodeAt(i + 1) === CLOSE && i + 2 === n ? out : undefined;
  }
}

const SEQ = /^\{"seq":(\d{1,15}),/;
const CHAIN_MEMBER = ',"chain":"';
const MAC_MEMBER = '","mac":"';
const B64_32 = 43;

/**
 * The linked fast path over the records' texts as sent: every record's chain is SHA-256 of the one
 * before and its own text without `,"chain":"…","mac":"…"`, seqs run on by one, and the last MAC is
 * right (one MAC authenticates the linked chain before it; see verifyRecords). Undefined as soon
 * as anything is otherwise: the caller then judges each record from the parsed body.
 */
export function verifyAsSent(key: Buffer, head: Buffer, body: string): VerifyReply['result'] {
  const texts = recordTexts(body);
  if (!texts || texts.length === 0) return undefined;
  const seqs = new Array<number>(texts.length);
  let link = head;
  let lastMac = '';
  for (let k = 0; k < texts.length; k++) {
    const text = texts[k]!;
    const m = SEQ.exec(text);
    if (!m) return undefined;
    const seq = Number(m[1]);
    if (k > 0 && seq !== seqs[k - 1]! + 1) return undefined;
    seqs[k] = seq;
    const c = text.indexOf(CHAIN_MEMBER);
    if (c < 0) return undefined;
    const chainAt = c + CHAIN_MEMBER.length;
    const macAt = chainAt + B64_32 + MAC_MEMBER.length;
    const end = macAt + B64_32;
    if (text.charCodeAt(end) !== QUOTE || text.slice(chainAt + B64_32, macAt) !== MAC_MEMBER) return undefined;
    const rest = text.slice(end + 1);
    // A record standing for a range links through its chainThrough: the parsed path handles it.
    if (rest.includes('"chainThrough":')) return undefined;
    const chain = nextChain(link, text.slice(0, c) + rest);
    if (chain.toString('base64url') !== text.slice(chainAt, chainAt + B64_32)) return undefined;
    link = chain;
    lastMac = text.slice(macAt, end);
  }
  if (!macValid(key, link, undefined, decode32(lastMac))) return undefined;
  return { seqs, head: encode(link), linked: true };
}

parentPort?.on('message', (req: VerifyRequest) => {
  let result: VerifyReply['result'];
  try {
    result = verifyBody(req);
  } catch {
    result = undefined;
  }
  parentPort!.postMessage({ id: req.id, result } satisfies VerifyReply);
});
