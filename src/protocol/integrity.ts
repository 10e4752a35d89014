/**
 * Tamper evidence of uploaded records (the CHECKSUM idea of reference 001), shared by agent and
 * server. Pure.
 *
 * - canonical(record): the record as uploaded ({seq, type, time, host?, ...fields}) without its
 *   integrity fields, as JSON.stringify writes it in the record's own member order (see
 *   canonical()). The agent computes it from the fields it stores, the server from the JSON it
 *   parsed; both give the same text for the same record.
 * - chain: h_n = SHA-256(h_{n-1} || canonical(record_n)), h_0 = 32 zero bytes. A record that
 *   stands for a range (a compaction summary or a journal-drop with `throughSeq`) carries
 *   `chainThrough`: the chain value the original records reached, so the next record still links.
 * - mac: HMAC-SHA256(recordKey, h_n || chainThrough?). Without the key a chain can be recomputed
 *   (anyone knows the algorithm) but not authenticated: "chain ok, mac bad" is a forgery, "mac ok,
 *   chain bad" an edit of a record the agent wrote.
 *
 * Values travel as base64url without padding (43 characters for 32 bytes).
 */
import * as crypto from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * One-shot SHA-256 (crypto.hash, Node >= 20.12: no Hash object per call), else createHash. Digests
 * are taken as text where they can be: crypto.hash spends about as long making a Buffer of its
 * result (Node 20: ~1.5 us) as hashing a record (~0.8 us with a text result); a chain value and
 * its MAC as base64url text cost 3.2 us a record against 7-8 us through Buffers.
 */
type DigestText = 'base64url' | 'latin1';
const oneShot = (crypto as { hash?: <E extends 'buffer' | DigestText>(alg: string, data: Buffer, enc: E) => E extends 'buffer' ? Buffer : string }).hash;
export const sha256 = oneShot
  ? (data: Buffer): Buffer => oneShot('sha256', data, 'buffer')
  : (data: Buffer): Buffer => createHash('sha256').update(data).digest();
/** SHA-256 as text: base64url, or latin1 (one character a byte, to write into a buffer). */
const sha256Text = oneShot
  ? (data: Buffer, enc: DigestText): string => oneShot('sha256', data, enc)
  : (data: Buffer, enc: DigestText): string =>
      createHash('sha256')
        .update(data)
        .digest(enc === 'latin1' ? 'binary' : enc);
export const sha256Base64url = (data: Buffer): string => sha256Text(data, 'base64url');

export const INTEGRITY_FIELDS = ['chain', 'mac', 'chainThrough'] as const;
export const GENESIS_CHAIN: Buffer = Buffer.alloc(32);
export const RECORD_KEY_BYTES = 32;

/** The integrity fields an uploaded record may carry. */
export interface IntegrityFields {
  chain?: string;
  mac?: string;
  chainThrough?: string;
}

/** Removes the member `"name":"value"` (and its comma) from a JSON object text, where it is. */
function cutMember(text: string, name: string, value: unknown): string {
  if (typeof value !== 'string') return text;
  const member = `"${name}":"${value}"`;
  const i = text.indexOf(member);
  if (i < 0) return text;
  const end = i + member.length;
  if (text.charCodeAt(i - 1) === 44 /* , */) return text.slice(0, i - 1) + text.slice(end);
  return text.slice(0, i) + text.slice(text.charCodeAt(end) === 44 ? end + 1 : end);
}

/**
 * The canonical text of a record: its JSON as JSON.stringify writes it, members in the record's
 * own order, without the integrity members. The server's record is parsed from the upload, whose
 * members come in the agent's order ({seq, type, time, host?, chain, mac, chainThrough?, ...fields});
 * JSON.stringify after JSON.parse gives back the agent's JSON.stringify text (both order integer-like
 * keys first), so both sides hash the same bytes without sorting anything. A non-string or missing
 * integrity member is left as it is (and the record will not verify).
 */
export function canonical(record: Readonly<Record<string, unknown>>): string {
  const text = JSON.stringify(record);
  const { chain, mac, chainThrough } = record;
  if (typeof chain === 'string' && typeof mac === 'string' && chainThrough === undefined) {
    // The common case, cut in one go: the agent writes chain and mac next to each other, and a
    // `,"` can open a member only (inside a JSON string a quote is always escaped).
    const pair = `,"chain":${JSON.stringify(chain)},"mac":${JSON.stringify(mac)}`;
    const i = text.indexOf(pair);
    if (i >= 0) return text.slice(0, i) + text.slice(i + pair.length);
  }
  return cutMember(cutMember(cutMember(text, 'chain', chain), 'mac', mac), 'chainThrough', chainThrough);
}

const ENVELOPE = new Set(['seq', 'type', 'time', ...INTEGRITY_FIELDS]);
/** An integer-like key: JavaScript puts those first in an object, before seq/type/time. */
const isIndexKey = (k: string): boolean => k.length > 0 && k.charCodeAt(0) >= 48 && k.charCodeAt(0) <= 57;

/**
 * canonical() of the record {seq, type, time, ...fields} as the agent journals it, from the fields'
 * JSON text (`fieldsJson`, the journal's body): spliced, not built and serialized again.
 */
export function canonicalRecord(
  seq: number,
  type: string,
  time: string,
  fields: Readonly<Record<string, unknown>>,
  fieldsJson: string = JSON.stringify(fields),
): string {
  for (const k of Object.keys(fields)) {
    // As JSON.parse orders the upload: a repeated key keeps its first place and its last value.
    if (ENVELOPE.has(k) || isIndexKey(k)) return canonical({ seq, type, time, ...fields });
  }
  const head = `{"seq":${JSON.stringify(seq)},"type":${JSON.stringify(type)},"time":${JSON.stringify(time)}`;
  return fieldsJson.length > 2 ? `${head},${fieldsJson.slice(1)}` : `${head}}`;
}

/** h_n from h_{n-1} and the record's canonical text, as base64url (as records carry it). */
export function nextChainText(prev: Buffer, canonicalText: string): string {
  // prev || UTF-8(text) written into one reused buffer: no two allocations and a copy per record.
  const max = prev.length + canonicalText.length * 3;
  if (max > scratch.length) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  prev.copy(scratch, 0);
  const n = scratch.write(canonicalText, prev.length, 'utf8');
  return sha256Base64url(scratch.subarray(0, prev.length + n));
}
let scratch = Buffer.allocUnsafe(16 * 1024);

/** h_n from h_{n-1} and the record's canonical text. */
export const nextChain = (prev: Buffer, canonicalText: string): Buffer => Buffer.from(nextChainText(prev, canonicalText), 'base64url');

const BLOCK = 64;
/** HMAC's inner message (padded key || chain || chainThrough?) and outer one (padded key || inner hash). */
const macInner = Buffer.alloc(BLOCK + 64);
const macOuter = Buffer.alloc(BLOCK + 32);

/**
 * The MAC of a chain value (and the chain value a covering record reaches) as base64url:
 * HMAC-SHA256 (RFC 2104) over one-shot hashes, less than half the cost of an Hmac object per
 * record; the tests compare it with crypto.createHmac.
 */
export function recordMacText(key: Buffer, chain: Buffer, chainThrough?: Buffer): string {
  const k = key.length > BLOCK ? sha256(key) : key;
  for (let i = 0; i < BLOCK; i++) {
    const b = i < k.length ? k[i]! : 0;
    macInner[i] = b ^ 0x36;
    macOuter[i] = b ^ 0x5c;
  }
  const at = BLOCK + chain.copy(macInner, BLOCK);
  const end = chainThrough ? at + chainThrough.copy(macInner, at) : at;
  macOuter.write(sha256Text(macInner.subarray(0, end), 'latin1'), BLOCK, 'latin1');
  return sha256Base64url(macOuter);
}

/** recordMacText as bytes. */
export const recordMac = (key: Buffer, chain: Buffer, chainThrough?: Buffer): Buffer => Buffer.from(recordMacText(key, chain, chainThrough), 'base64url');

export const encode = (b: Buffer): string => b.toString('base64url');

/** A 32-byte value from base64url, or undefined when it is not one. */
export function decode32(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || s.length !== 43) return undefined;
  const b = Buffer.from(s, 'base64url');
  return b.length === 32 && b.toString('base64url') === s ? b : undefined;
}

/** The MAC is present and right for this chain value (constant-time compare). */
export function macValid(key: Buffer, chain: Buffer, chainThrough: Buffer | undefined, mac: Buffer | undefined): boolean {
  if (!mac) return false;
  return timingSafeEqual(recordMac(key, chain, chainThrough), mac);
}

export type Verdict = 'ok' | 'edited' | 'forged' | 'unauthenticated';

/** The record's MAC is right for its chain value: it was written by the agent that holds the key. */
export function isAuthentic(key: Buffer, r: { chain?: unknown; mac?: unknown; chainThrough?: unknown }): boolean {
  const chain = decode32(r.chain);
  return chain !== undefined && macValid(key, chain, decode32(r.chainThrough), decode32(r.mac));
}

export interface VerifyInput {
  record: Readonly<Record<string, unknown>> & { seq: number; chain?: unknown; mac?: unknown; chainThrough?: unknown };
  /** A seq hole precedes this record (records missing between the last stored and this one). */
  afterGap?: boolean;
}

export interface VerifyResult {
  verdicts: Verdict[];
  head: Buffer;
  /**
   * false: the last record was not the agent's (forged, unauthenticated), so what the next batch's
   * first record links to is unknown: it starts the chain again, as after a seq hole.
   */
  linked: boolean;
}

/**
 * The server's stored chain head after a batch that ended on a record that was not the agent's
 * (VerifyResult.linked false). Not base64url of 32 bytes, so it can be told from a head.
 */
export const UNLINKED_HEAD = 'unlinked';

/**
 * The verdict of each record (in seq order) and the chain value reached, from `head` (the chain
 * value before the first). With `link` the last chain value known to be the agent's own (the
 * head, then each authenticated record's chainThrough ?? chain):
 * - no mac, or no chain: `unauthenticated`;
 * - a mac that is not the agent's: `forged` (a row inserted, or an edited row whose chain was
 *   recomputed by someone without the key);
 * - mac right but chain != SHA-256(link || canonical(record)): `edited`: the agent wrote this chain
 *   value, but not over this content at this place (a body or time edited, rows swapped, a record
 *   replayed at another seq);
 * - otherwise `ok`.
 * After a record that was not authenticated, or a seq hole (records deleted), the link to the
 * predecessor is unknown: the next authenticated record starts the chain again (its predecessor is
 * flagged already). Without a key (`undefined`: an agent not enrolled yet checking its own
 * journal) every chain value counts as the agent's and only the chain is checked.
 */
export function verifyRecords(key: Buffer | undefined, head: Buffer | typeof UNLINKED_HEAD, inputs: readonly VerifyInput[]): VerifyResult {
  const fast = key && head !== UNLINKED_HEAD ? verifyLinked(key, head, inputs) : undefined;
  return fast ?? verifyEach(key, head === UNLINKED_HEAD ? GENESIS_CHAIN : head, inputs, head !== UNLINKED_HEAD);
}

/**
 * The common case in one pass: every record links to the one before, and the last one's MAC is
 * right. That MAC authenticates the last chain value, and through the hashes every record before
 * it (a different record anywhere would need a SHA-256 collision), so one MAC per batch suffices;
 * a record standing for a range has its own checked (its chainThrough, not its chain, is what the
 * next record hashes). Anything else: undefined, and each record is judged on its own.
 */
function verifyLinked(key: Buffer, head: Buffer, inputs: readonly VerifyInput[]): VerifyResult | undefined {
  let link = head;
  let lastChain: Buffer | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const { record: r, afterGap } = inputs[i];
    if (afterGap || typeof r.chain !== 'string') return undefined;
    const text = nextChainText(link, canonical(r));
    if (text !== r.chain) return undefined;
    const chain = Buffer.from(text, 'base64url');
    if (r.chainThrough !== undefined) {
      const through = decode32(r.chainThrough);
      if (!through || !macValid(key, chain, through, decode32(r.mac))) return undefined;
      link = through;
      lastChain = undefined;
    } else {
      link = chain;
      lastChain = chain;
    }
  }
  if (lastChain && !macValid(key, lastChain, undefined, decode32(inputs[inputs.length - 1].record.mac))) return undefined;
  return { verdicts: new Array<Verdict>(inputs.length).fill('ok'), head: link, linked: true };
}

function verifyEach(key: Buffer | undefined, head: Buffer, inputs: readonly VerifyInput[], headKnown: boolean): VerifyResult {
  const verdicts = new Array<Verdict>(inputs.length);
  let link = head;
  let linked = headKnown;
  for (let i = 0; i < inputs.length; i++) {
    const { record: r, afterGap } = inputs[i];
    if (afterGap) linked = false;
    const chain = decode32(r.chain);
    const mac = decode32(r.mac);
    const through = decode32(r.chainThrough);
    if (!chain || (key && !mac)) {
      verdicts[i] = 'unauthenticated';
      linked = false;
      continue;
    }
    if (key && !macValid(key, chain, through, mac)) {
      verdicts[i] = 'forged';
      linked = false;
      continue;
    }
    verdicts[i] = linked && !nextChain(link, canonical(r)).equals(chain) ? 'edited' : 'ok';
    link = through ?? chain;
    linked = true;
  }
  return { verdicts, head: link, linked };
}

/** A pattern for the schemas: base64url of 32 bytes. */
export const BASE64URL_32_PATTERN = '^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$';
