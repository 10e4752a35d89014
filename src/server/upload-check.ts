/**
 * The check of a `POST /v1/events` body, made in one pass over the records (the ingest hot path):
 *
 * - the envelope `{records: [...]}` and each record's `{seq, type, time, host?}`, exactly as the JSON
 *   schemas `EventsUploadRequest` and `UploadRecord` in protocol/v1.ts (and so the OpenAPI document)
 *   say. test/server/upload-check.test.ts runs this function and fastify's own ajv with those schemas
 *   over the same corpus and requires the same verdict and the same field;
 * - `time` must also be a date JavaScript can read;
 * - the typed fields of the known record types (`RECORD_TYPE_FIELDS`: null is accepted for any of
 *   them), `code` 1-30 and a non-empty `product` for `usage-event`.
 *
 * Errors name the field as a JSON pointer into the body, at most {@link MAX_FIELD_ERRORS} of them.
 *
 * Dates: the schema's `date-time` check (RFC 3339 as ajv-formats implements it) runs three regular
 * expressions and `Date.parse` runs a tokenizer, per call. Nearly every time an agent sends is the
 * `YYYY-MM-DDTHH:MM:SS.sssZ` of `Date.prototype.toISOString()`, which {@link isCanonicalUtc} accepts
 * by looking at its characters. Anything else goes through the full checks, so a time is accepted
 * exactly when the full checks accept it (the test compares both on a corpus of edge cases).
 */
import { BASE64URL_32_PATTERN, INTEGRITY_FIELDS } from '../protocol/integrity.js';
import { MAX_RECORDS_PER_BATCH, RECORD_TYPE_FIELDS, type FieldKind, type UploadRecord } from '../protocol/v1.js';

export interface FieldError {
  field: string;
  message: string;
}

export const MAX_FIELD_ERRORS = 20;

/** A body that passed the check. */
export interface CheckedUpload {
  records: UploadRecord[];
  /**
   * Per record: 1 when a record of a known type carries fields other than the envelope and its
   * typed fields (they are kept as JSON in the table's `extra` column), else 0.
   */
  hasExtra: Uint8Array;
}

export type UploadCheck = { ok: true; upload: CheckedUpload } | { ok: false; errors: FieldError[] };

const KIND_MESSAGE: Record<FieldKind, string> = {
  string: 'must be a string',
  time: 'must be an ISO-8601 date-time',
  integer: 'must be an integer',
  number: 'must be a number',
  boolean: 'must be a boolean',
};

/** Records a field error; true when the list is full (stop checking). */
type AddError = (i: number, name: string, message: string) => boolean;
/** Checks a record's typed fields; returns how many of them the record has (null counts), or -1 when the error list filled up. */
type TypedCheck = (r: Record<string, unknown>, i: number, add: AddError) => number;

/**
 * A record type's typed-field check, compiled from its RECORD_TYPE_FIELDS entry into straight-line
 * code (as ajv compiles a schema): `r["user"]` with a constant key is a fast property load, where a
 * loop over the field names makes every load a slow generic lookup (a tenth of the check's cost).
 * The field names are the protocol's own constants, quoted with JSON.stringify.
 */
function compileTypedCheck(fields: Readonly<Record<string, FieldKind>>): TypedCheck {
  const invalid: Record<FieldKind, string> = {
    string: 'typeof v !== "string"',
    time: 'typeof v !== "string" || !isTypedTime(v)',
    integer: '!Number.isSafeInteger(v)',
    number: 'typeof v !== "number" || !Number.isFinite(v)',
    boolean: 'typeof v !== "boolean"',
  };
  const body = Object.entries(fields).map(([name, kind]) => {
    const key = JSON.stringify(name);
    return `v = r[${key}]; if (v !== undefined) { n++; if (v !== null && (${invalid[kind]}) && add(i, ${key}, ${JSON.stringify(KIND_MESSAGE[kind])})) return -1; }`;
  });
  const factory = new Function('isTypedTime', `return function typedCheck(r, i, add) {\n  let n = 0, v;\n  ${body.join('\n  ')}\n  return n;\n};`);
  return factory(isTypedTime) as TypedCheck;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Length in Unicode code points, as JSON schema's maxLength counts it (ajv's ucs2length). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    n++;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
  }
  return n;
}

/** The two-digit number at s[i], s[i+1], or -1 when either is not an ASCII digit. */
const two = (s: string, i: number): number => {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
};
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeapYear = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/**
 * `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with the month, day (of that month), hour, minute and second in
 * range: the form `toISOString()` writes. Every such string passes the full checks below (the
 * schema's date-time, the typed fields' pattern, and `Date.parse`); a string this rejects is not
 * necessarily invalid and takes the full checks.
 */
export function isCanonicalUtc(s: string): boolean {
  const n = s.length;
  if (n < 20 || n > 30 || s.charCodeAt(n - 1) !== 90 /* Z */) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false;
  const century = two(s, 0);
  const yy = two(s, 2);
  if (century < 0 || yy < 0) return false;
  const year = century * 100 + yy;
  const month = two(s, 5);
  const day = two(s, 8);
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && isLeapYear(year) ? 29 : DAYS[month])) return false;
  const hour = two(s, 11);
  const minute = two(s, 14);
  const second = two(s, 17);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  if (n === 20) return true;
  if (n === 21 || s.charCodeAt(19) !== 46 /* . */) return false;
  for (let i = 20; i < n - 1; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

// The `date-time` format of ajv-formats 3 in its default "full" mode (MIT licence, Evgeny
// Poberezkin), which fastify's ajv uses for the schema: RFC 3339 date and time, a time zone
// required, a leap second only at 23:59:60 UTC.
const DATE = /^(\d\d\d\d)-(\d\d)-(\d\d)$/;
const TIME = /^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$/i;
const DATE_TIME_SEPARATOR = /t|\s/i;

function rfc3339Date(str: string): boolean {
  const m = DATE.exec(str);
  if (!m) return false;
  const year = +m[1];
  const month = +m[2];
  const day = +m[3];
  return month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && isLeapYear(year) ? 29 : DAYS[month]);
}

function rfc3339Time(str: string): boolean {
  const m = TIME.exec(str);
  if (!m) return false;
  const hr = +m[1];
  const min = +m[2];
  const sec = +m[3];
  const tz = m[4];
  const tzSign = m[5] === '-' ? -1 : 1;
  const tzH = +(m[6] || 0);
  const tzM = +(m[7] || 0);
  if (tzH > 23 || tzM > 59 || !tz) return false;
  if (hr <= 23 && min <= 59 && sec < 60) return true;
  const utcMin = min - tzM * tzSign;
  const utcHr = hr - tzH * tzSign - (utcMin < 0 ? 1 : 0);
  return (utcHr === 23 || utcHr === -1) && (utcMin === 59 || utcMin === -1) && sec < 61;
}

/** The JSON-schema `date-time` format as fastify's ajv checks it. */
export function isRfc3339DateTime(str: string): boolean {
  const parts = str.split(DATE_TIME_SEPARATOR);
  return parts.length === 2 && rfc3339Date(parts[0]) && rfc3339Time(parts[1]);
}

/** The pattern of a typed time field (a `T`, seconds, an optional fraction, `Z` or `±HH:MM`). */
const TYPED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** A typed time field's value (a string) is valid. */
export function isTypedTime(s: string): boolean {
  return isCanonicalUtc(s) || (TYPED_TIME.test(s) && !Number.isNaN(Date.parse(s)));
}

/** Typed-field checks of the known record types (a Map: no inherited keys such as "constructor"). */
const TYPED_CHECKS: ReadonlyMap<string, TypedCheck> = new Map(Object.entries(RECORD_TYPE_FIELDS).map(([type, fields]) => [type, compileTypedCheck(fields)]));

/** Why the envelope `time` is invalid, or undefined (schema: string, maxLength 64, date-time; then Date.parse). */
export function envelopeTimeError(t: unknown): string | undefined {
  if (typeof t !== 'string') return 'must be string';
  if (isCanonicalUtc(t)) return undefined;
  if (t.length > 64 && codePointLength(t) > 64) return 'must NOT have more than 64 characters';
  if (!isRfc3339DateTime(t)) return 'must match format "date-time"';
  if (Number.isNaN(Date.parse(t))) return 'must be a valid date-time';
  return undefined;
}

/**
 * Check an upload body. `maxRecords` is the server's `limits.maxRecordsPerBatch` (the schema's own
 * limit is {@link MAX_RECORDS_PER_BATCH}).
 */
export function checkUpload(body: unknown, maxRecords: number = MAX_RECORDS_PER_BATCH): UploadCheck {
  // The envelope, in the order ajv checks it: type, required, additionalProperties, properties.
  if (!isObject(body)) return fail('/', 'must be object');
  const records = body.records;
  if (records === undefined) return fail('/records', 'is required');
  for (const k of Object.keys(body)) if (k !== 'records') return fail('/' + k, 'is not a known field');
  if (!Array.isArray(records)) return fail('/records', 'must be array');
  if (records.length > MAX_RECORDS_PER_BATCH) return fail('/records', `must NOT have more than ${MAX_RECORDS_PER_BATCH} items`);
  if (records.length > maxRecords) return fail('/records', `must NOT have more than ${maxRecords} records (the server's limits.maxRecordsPerBatch)`);

  const errors: FieldError[] = [];
  const hasExtra = new Uint8Array(records.length);
  const add: AddError = (i, name, message) => {
    errors.push({ field: name ? `/records/${i}/${name}` : `/records/${i}`, message });
    return errors.length >= MAX_FIELD_ERRORS;
  };
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i];
    if (!isObject(r)) {
      if (add(i, '', 'must be object')) break;
      continue;
    }
    const msg = envelopeError(r);
    if (msg !== undefined) {
      if (add(i, msg[0], msg[1])) break;
      continue;
    }
    const typedCheck = TYPED_CHECKS.get(r.type as string);
    if (typedCheck === undefined) continue;
    const typed = typedCheck(r, i, add);
    if (typed < 0) break;
    // Keys the envelope and the typed fields account for: any other key goes into `extra`.
    const known = (r.host === undefined ? 3 : 4) + typed + integrityCount(r);
    let full = false;
    if (r.type === 'usage-event') {
      const code = r.code;
      if (code === undefined || code === null) full = add(i, 'code', "must have required property 'code'");
      else if (typeof code === 'number' && Number.isInteger(code) && (code < 1 || code > 30)) full = add(i, 'code', 'must be a usage-event code from 1 to 30');
      if (full) break;
      if (typeof r.product !== 'string' || r.product.length === 0) full = add(i, 'product', 'must be a non-empty string');
      if (full) break;
    }
    if (Object.keys(r).length !== known) hasExtra[i] = 1;
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, upload: { records: records as UploadRecord[], hasExtra } };
}

function fail(field: string, message: string): UploadCheck {
  return { ok: false, errors: [{ field, message }] };
}

/** [field, message] of the first envelope error of a record (schema order), or undefined. */
function envelopeError(r: Record<string, unknown>): [string, string] | undefined {
  const { seq, type, time, host } = r;
  if (seq === undefined) return ['seq', 'is required'];
  if (type === undefined) return ['type', 'is required'];
  if (time === undefined) return ['time', 'is required'];
  if (!Number.isSafeInteger(seq)) {
    // ajv: type integer, then maximum, then minimum.
    if (typeof seq !== 'number' || !Number.isInteger(seq)) return ['seq', 'must be integer'];
    return ['seq', seq > 0 ? `must be <= ${Number.MAX_SAFE_INTEGER}` : 'must be >= 1'];
  }
  if ((seq as number) < 1) return ['seq', 'must be >= 1'];
  if (typeof type !== 'string') return ['type', 'must be string'];
  if (type.length > 64 && codePointLength(type) > 64) return ['type', 'must NOT have more than 64 characters'];
  if (type.length === 0) return ['type', 'must NOT have fewer than 1 characters'];
  const t = envelopeTimeError(time);
  if (t !== undefined) return ['time', t];
  if (host !== undefined && host !== null) {
    if (typeof host !== 'string') return ['host', 'must be string,null'];
    if (host.length > 256 && codePointLength(host) > 256) return ['host', 'must NOT have more than 256 characters'];
  }
  for (const name of INTEGRITY_FIELDS) {
    const x = r[name];
    if (x === undefined) continue;
    if (typeof x !== 'string') return [name, 'must be string'];
    if (!BASE64URL_32.test(x)) return [name, `must match pattern "${BASE64URL_32_PATTERN}"`];
  }
  return undefined;
}

const BASE64URL_32 = new RegExp(BASE64URL_32_PATTERN);

/** How many of the integrity fields a record carries (they are neither typed fields nor `extra`). */
function integrityCount(r: Record<string, unknown>): number {
  return (r.chain === undefined ? 0 : 1) + (r.mac === undefined ? 0 : 1) + (r.chainThrough === undefined ? 0 : 1);
}
