/**
 * The upload check (src/server/upload-check.ts) with exact inputs, and against fastify's own ajv:
 * the envelope verdict and field must equal what the JSON schema EventsUploadRequest gives, and the
 * fast date path must never accept what the full checks refuse.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { RECORD_TYPE_FIELDS, V1_SCHEMAS, type FieldKind } from '../../src/protocol/v1.js';
import { AJV_OPTIONS } from '../../src/server/app.js';
import { mayHoldPoisonedKey } from '../../src/server/json-body.js';
import { ajvField } from '../../src/server/problem.js';
import {
  checkUpload,
  codePointLength,
  envelopeTimeError,
  isCanonicalUtc,
  isRfc3339DateTime,
  isTypedTime,
  MAX_FIELD_ERRORS,
} from '../../src/server/upload-check.js';

const T = '2024-05-01T08:00:00.000Z';

/** fastify + ajv with the server's options (app.ts) and the protocol schemas: the reference for the envelope. */
let oracle: FastifyInstance;
before(async () => {
  oracle = Fastify({ ajv: { customOptions: AJV_OPTIONS } });
  for (const s of V1_SCHEMAS) oracle.addSchema(s);
  oracle.setErrorHandler((err: Error & { validation?: unknown[]; validationContext?: string }, _req, reply) => {
    if (!err.validation) return reply.code(500).send({ error: err.message });
    return reply.code(400).send({ field: ajvField(err.validation[0] as Parameters<typeof ajvField>[0], err.validationContext).field });
  });
  oracle.post<{ Body: { records: Array<{ time: string }> } }>('/check', { schema: { body: { $ref: 'EventsUploadRequest#' } } }, async (req) => {
    // The schema passed; the server also requires a time JavaScript can read.
    const i = req.body.records.findIndex((r) => Number.isNaN(Date.parse(r.time)));
    return i === -1 ? { ok: true } : { field: `/records/${i}/time` };
  });
  await oracle.ready();
});
after(async () => {
  await oracle?.close();
});

/** The schema's verdict: undefined when valid, else the first error's field. */
async function schemaVerdict(body: unknown): Promise<string | undefined> {
  const r = await oracle.inject({ method: 'POST', url: '/check', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const b = r.json() as { ok?: true; field?: string; error?: string };
  assert.ok(b.error === undefined, b.error);
  return b.ok ? undefined : b.field;
}

const verdict = (body: unknown): string | undefined => {
  const c = checkUpload(body);
  return c.ok ? undefined : c.errors[0].field;
};

test('envelope: same verdict and field as the JSON schema (fastify ajv), field by field', async () => {
  const rec = (patch: Record<string, unknown>, drop: string[] = []) => {
    const r: Record<string, unknown> = { seq: 1, type: 'x-test', time: T, ...patch };
    for (const k of drop) delete r[k];
    return r;
  };
  const emoji = '\u{1F600}';
  const values: Record<string, unknown[]> = {
    seq: [1, 2, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 0, -1, 1.5, '1', null, true, [], {}, 1e300, -1e300],
    type: ['a', 'process', 'break', '', 'x'.repeat(64), 'x'.repeat(65), emoji.repeat(64), emoji.repeat(65), 7, null, true, ['a']],
    host: [null, 'h', '', 5, true, 'h'.repeat(256), 'h'.repeat(257), emoji.repeat(256), emoji.repeat(257), {}],
    time: [T, '2024-05-01T08:00:00Z', 5, null, '', 'tuesday', 'x'.repeat(65), emoji.repeat(40)],
  };
  // The integrity fields: base64url of 32 bytes (43 characters, the last one of the 16 a 32-byte value can end in).
  const b64 = Buffer.alloc(32, 0xab).toString('base64url');
  for (const name of ['chain', 'mac', 'chainThrough']) {
    values[name] = [b64, 'A'.repeat(43), 'A'.repeat(42) + 'B', b64.slice(1), b64 + 'A', b64.slice(0, 42) + '=', b64.slice(0, 42) + '+', 5, null, {}, ''];
  }
  const bodies: unknown[] = [
    null,
    [],
    'a string',
    42,
    true,
    {},
    { records: {} },
    { records: 'x' },
    { records: null },
    { records: [], more: 1 },
    { more: 1 },
    { records: [], 5: 1 },
    { records: [] },
    { records: [null] },
    { records: [[]] },
    { records: ['x'] },
    { records: [5] },
    { records: [true] },
    { records: [rec({}), rec({}, ['seq'])] },
    { records: [rec({}, ['seq', 'type', 'time'])] },
    { records: [rec({ type: 5 }, ['seq', 'time'])] },
    { records: [rec({ seq: 0, type: 5, time: 'x' })] },
    { records: [rec({ type: 5, time: 'x' })] },
    { records: [rec({ time: 5, host: 5 })] },
    { records: [rec({}, ['type'])] },
    { records: [rec({}, ['time'])] },
    { records: [rec({ extra: { nested: [1, 2] }, other: null })] },
    { records: Array.from({ length: 5000 }, (_, i) => rec({ seq: i + 1 })) },
    { records: Array.from({ length: 5001 }, (_, i) => rec({ seq: i + 1 })) },
  ];
  for (const [name, list] of Object.entries(values)) for (const v of list) bodies.push({ records: [rec({}), rec({ [name]: v })] });
  let invalid = 0;
  for (const body of bodies) {
    const expected = await schemaVerdict(body);
    if (expected !== undefined) invalid++;
    assert.equal(verdict(body), expected, JSON.stringify(body).slice(0, 200));
  }
  assert.ok(invalid > 50 && invalid < bodies.length - 10, `both valid and invalid cases (${invalid} of ${bodies.length} invalid)`);
});

/** Date strings around every rule: ranges, leap years and seconds, separators, zones, fractions. */
function dateCorpus(): string[] {
  const out = new Set<string>([
    T,
    '2024-05-01T08:00:00Z',
    '2024-02-29T23:59:59.999999999Z',
    '2023-02-29T00:00:00Z',
    '2024-02-30T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
    '2100-02-29T00:00:00Z',
    '2024-12-31T23:59:60Z',
    '2024-12-31T23:59:60.5Z',
    '2024-06-30T22:59:60-01:00',
    '2024-05-01T24:00:00Z',
    '2024-05-01T23:60:00Z',
    '2024-05-01T23:59:61Z',
    '2024-05-01t08:00:00z',
    '2024-05-01 08:00:00Z',
    '2024-05-01T08:00:00+02:00',
    '2024-05-01T08:00:00+0200',
    '2024-05-01T08:00:00+02',
    '2024-05-01T08:00:00-00:00',
    '2024-05-01T08:00:00+24:00',
    '2024-05-01T08:00:00+23:60',
    '2024-05-01T08:00:00.Z',
    '2024-05-01T08:00Z',
    '2024-05-01T08:00:00',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '+002024-05-01T08:00:00Z',
    '2024-05-01T08:00:00.1234567891Z',
    '2024-05-01T08:00:00.123456789Z',
    '2024-5-01T08:00:00Z',
    '',
    'tuesday',
    `${T} `,
    ` ${T}`,
    '2024-05-01T08:00:00.000+01:00',
    '2024-00-01T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-01-32T00:00:00Z',
    '2024-05-01T08:00:00.000ZZ',
    '2024-05-01TT08:00:00Z',
    '2024-05-01T08:00:00\u0660Z',
    '２０２４-05-01T08:00:00Z',
    '2024-05-01T08:00:00.000z',
  ]);
  const alphabet = ['0', '1', '2', '3', '4', '5', '6', '9', ':', '-', 'T', 't', 'Z', 'z', '.', ' ', '+', 'a', '/'];
  for (const base of [T, '2024-02-29T23:59:59Z', '1999-12-31T23:59:59.5Z']) {
    for (let i = 0; i < base.length; i++) {
      out.add(base.slice(0, i) + base.slice(i + 1));
      for (const c of alphabet) out.add(base.slice(0, i) + c + base.slice(i + 1));
      out.add(base.slice(0, i) + '0' + base.slice(i));
    }
  }
  return [...out];
}

test('time: the fast path accepts only what the full checks accept; verdicts equal the schema + Date.parse', async () => {
  const corpus = dateCorpus();
  const typedPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
  let fast = 0;
  let slowAccepted = 0;
  for (const s of corpus) {
    const full = isRfc3339DateTime(s) && !Number.isNaN(Date.parse(s)) && codePointLength(s) <= 64;
    const typedFull = typedPattern.test(s) && !Number.isNaN(Date.parse(s));
    if (isCanonicalUtc(s)) {
      fast++;
      assert.ok(full && typedFull, `fast path accepted ${JSON.stringify(s)}`);
    } else if (full) slowAccepted++;
    assert.equal(envelopeTimeError(s) === undefined, full, s);
    assert.equal(isTypedTime(s), typedFull, s);
  }
  assert.ok(fast > 100 && slowAccepted > 5, `both paths exercised (${fast} fast, ${slowAccepted} accepted by the full check only)`);
  // Seeded random strings near the canonical form (two characters changed): the fast path never
  // accepts one the full checks refuse.
  let seed = 42;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const chars = '0123456789:-.TtZz +';
  let fastFuzz = 0;
  for (let k = 0; k < 50_000; k++) {
    const y = String(rand(10_000)).padStart(4, '0');
    const p2 = (m: number) => String(rand(m)).padStart(2, '0');
    let s = `${y}-${p2(14)}-${p2(33)}T${p2(26)}:${p2(62)}:${p2(62)}${rand(2) ? '.' + String(rand(1000)) : ''}Z`;
    for (let m = rand(3); m > 0; m--) {
      const i = rand(s.length);
      s = s.slice(0, i) + chars[rand(chars.length)] + s.slice(i + 1);
    }
    const full = isRfc3339DateTime(s) && !Number.isNaN(Date.parse(s));
    const typedFull = typedPattern.test(s) && !Number.isNaN(Date.parse(s));
    if (isCanonicalUtc(s)) {
      fastFuzz++;
      assert.ok(full && typedFull, `fast path accepted ${JSON.stringify(s)}`);
    }
    assert.equal(envelopeTimeError(s) === undefined, full, s);
    assert.equal(isTypedTime(s), typedFull, s);
  }
  assert.ok(fastFuzz > 1000, `${fastFuzz} fuzz strings took the fast path`);
  // The envelope verdict against the schema itself, one record per string.
  for (const s of corpus) {
    const body = { records: [{ seq: 1, type: 'x-test', time: s }] };
    assert.equal(verdict(body), await schemaVerdict(body), JSON.stringify(s));
  }
});

test('exact errors: typed fields, usage events, the error cap, the batch limit', () => {
  const fail = (body: unknown, max?: number) => {
    const c = checkUpload(body, max);
    assert.equal(c.ok, false);
    return c.ok ? [] : c.errors;
  };
  assert.deepEqual(fail({ records: [{ seq: 1, type: 'process', time: T, pid: 'x', start: 'noon', user: 5, cpuUserSeconds: '1' }] }), [
    { field: '/records/0/user', message: 'must be a string' },
    { field: '/records/0/pid', message: 'must be an integer' },
    { field: '/records/0/start', message: 'must be an ISO-8601 date-time' },
    { field: '/records/0/cpuUserSeconds', message: 'must be a number' },
  ]);
  assert.deepEqual(fail({ records: [{ seq: 1, type: 'usage-event', time: T, code: 31, product: 'cad', offline: 'no' }] }), [
    { field: '/records/0/offline', message: 'must be a boolean' },
    { field: '/records/0/code', message: 'must be a usage-event code from 1 to 30' },
  ]);
  assert.deepEqual(fail({ records: [{ seq: 1, type: 'usage-event', time: T, product: '' }] }), [
    { field: '/records/0/code', message: "must have required property 'code'" },
    { field: '/records/0/product', message: 'must be a non-empty string' },
  ]);
  assert.deepEqual(
    fail({
      records: [
        { seq: 1, type: 'input-events', time: T, keyboard: 2.5 },
        { seq: 2, time: T },
      ],
    }),
    [
      { field: '/records/0/keyboard', message: 'must be an integer' },
      { field: '/records/1/type', message: 'is required' },
    ],
  );
  assert.deepEqual(fail({ records: [{ seq: 1, type: 'x', time: '2024-02-30T25:00:00Z' }] }), [
    { field: '/records/0/time', message: 'must match format "date-time"' },
  ]);
  assert.deepEqual(
    fail({
      records: [
        { seq: 1, type: 'x', time: '2024-05-01T08:00:00+0200' },
        { seq: 2, type: 'x', time: '+002024-05-01T08:00:00Z' },
      ],
    }),
    [{ field: '/records/1/time', message: 'must match format "date-time"' }],
  );
  const many = Array.from({ length: 30 }, (_, i) => ({ seq: i + 1, type: 'process', time: T, pid: 'x', uid: 'y' }));
  const capped = fail({ records: many });
  assert.equal(capped.length, MAX_FIELD_ERRORS);
  assert.deepEqual(
    capped.slice(0, 3).map((e) => e.field),
    ['/records/0/uid', '/records/0/pid', '/records/1/uid'],
  );
  assert.deepEqual(
    fail(
      {
        records: [
          { seq: 1, type: 'x', time: T },
          { seq: 2, type: 'x', time: T },
        ],
      },
      1,
    ),
    [{ field: '/records', message: "must NOT have more than 1 records (the server's limits.maxRecordsPerBatch)" }],
  );
  assert.deepEqual(fail({ records: [], extra: 1 }), [{ field: '/extra', message: 'is not a known field' }]);
});

test('every typed field of every known type: null accepted, a wrong value named', () => {
  const wrong: Record<FieldKind, unknown[]> = {
    string: [5, true, {}, []],
    time: ['noon', 5, '2024-05-01', '2024-13-01T00:00:00Z'],
    integer: [1.5, '1', true, 2 ** 53],
    number: ['1', true, {}, []],
    boolean: [0, 'true', {}],
  };
  const right: Record<FieldKind, unknown> = { string: 's', time: '2024-05-01T10:00:00+02:00', integer: -3, number: 0.25, boolean: false };
  let cases = 0;
  for (const [type, fields] of Object.entries(RECORD_TYPE_FIELDS)) {
    const base: Record<string, unknown> = { seq: 1, type, time: T, ...(type === 'usage-event' ? { code: 3, product: 'cad' } : {}) };
    for (const [name, kind] of Object.entries(fields)) {
      if (type === 'usage-event' && (name === 'code' || name === 'product')) continue;
      assert.equal(checkUpload({ records: [{ ...base, [name]: null }] }).ok, true, `${type}.${name} null`);
      assert.equal(checkUpload({ records: [{ ...base, [name]: right[kind] }] }).ok, true, `${type}.${name} ${String(right[kind])}`);
      for (const w of wrong[kind]) {
        const c = checkUpload({ records: [{ ...base, [name]: w }] });
        assert.equal(c.ok, false, `${type}.${name} = ${JSON.stringify(w)}`);
        if (!c.ok)
          assert.deepEqual(
            c.errors.map((e) => e.field),
            [`/records/0/${name}`],
          );
        cases++;
      }
    }
  }
  assert.ok(cases > 150, `${cases} cases`);
});

test('hasExtra marks known-type records with fields that have no column', () => {
  const c = checkUpload({
    records: [
      { seq: 1, type: 'process', time: T, host: 'h', pid: 1, command: 'cad' },
      { seq: 2, type: 'process', time: T, pid: null, futureField: 1 },
      { seq: 3, type: 'break', time: T, host: null, user: 'ann', constructor: 'x' },
      { seq: 4, type: 'notification', time: T, message: 'hi' },
      { seq: 5, type: 'usage-event', time: T, code: 1, product: 'cad', throughSeq: 9 },
      { seq: 6, type: 'usage-event', time: T, code: 1, product: 'cad', offline: null },
      { seq: 7, type: 'work', time: T, toString: 1 },
    ],
  });
  assert.equal(c.ok, true);
  if (c.ok) assert.deepEqual([...c.upload.hasExtra], [0, 1, 1, 0, 1, 0, 1]);
});

test('mayHoldPoisonedKey: false only when no key can spell __proto__ or prototype', () => {
  assert.equal(mayHoldPoisonedKey('{"records":[{"seq":1,"type":"x","command":"constructor of things"}]}'), false);
  assert.equal(mayHoldPoisonedKey('{"__proto__":{"x":1}}'), true);
  assert.equal(mayHoldPoisonedKey('{"\\u005f_proto__":{"x":1}}'), true);
  assert.equal(mayHoldPoisonedKey('{"constructor":{"prototype":{"x":1}}}'), true);
  assert.equal(mayHoldPoisonedKey('{"constructor":{"\\u0070rototype":{"x":1}}}'), true);
  assert.equal(mayHoldPoisonedKey('{"path":"C:\\\\users"}'), true, 'an escaped backslash before u takes the careful path too');
  assert.equal(mayHoldPoisonedKey('{"a":"b\\n\\t\\"\\/"}'), false);
  // 'proto' without either word (a command), and base64url text full of '_' (a chained record).
  assert.equal(mayHoldPoisonedKey('{"records":[{"seq":1,"command":"/usr/bin/protoc --proto_path=src","chain":"__a_b_proto_x__"}]}'), false);
  assert.equal(mayHoldPoisonedKey('{"chain":"_A__B_","x":{"__proto__":{}}}'), true);
  assert.equal(mayHoldPoisonedKey('{"proto":1,"y":{"prototype":{}}}'), true);
});
