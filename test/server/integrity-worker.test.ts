/**
 * The integrity worker gives the answers ingest would give in line: the same chained batches,
 * with an edited record, a forged MAC and two swapped records, uploaded once as one large batch
 * (checked by the worker thread) and once in small batches (checked in line) by two agents, end
 * in the same integrity flags and chain heads; /metrics shows which path checked each.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { canonical, encode, GENESIS_CHAIN, nextChain, recordMac } from '../../src/protocol/integrity.js';
import { recordSpans, verifyAsSent, verifyBody } from '../../src/server/integrity-as-sent.js';
import { verifyRecords } from '../../src/protocol/integrity.js';
import { WORKER_MIN_BODY_BYTES } from '../../src/server/integrity-verifier.js';
import { startServer } from '../helpers/server.js';

const N = 240;

function record(seq: number): Record<string, unknown> {
  return {
    seq,
    type: 'process',
    time: new Date(Date.UTC(2024, 4, 1, 8) + seq * 1000).toISOString(),
    host: 'ws-iw',
    user: 'ann',
    uid: 1000,
    pid: 1000 + seq,
    ppid: 1,
    command: `/opt/cad/bin/cad --project p${seq}`,
    exe: '/opt/cad/bin/cad',
    start: '2024-05-01T07:00:00.000Z',
    end: '2024-05-01T08:00:00.000Z',
    elapsedSeconds: 3600,
    cpuUserSeconds: 812.5,
    maxRssBytes: 1073741824,
    exitCode: 0,
    source: 'pacct',
  };
}

/** N chained, MACed records, then tampered with: 40 edited, 90 forged, 150 and 151 swapped. */
function tamperedRecords(key: Buffer): Array<Record<string, unknown>> {
  let head = GENESIS_CHAIN;
  const recs: Array<Record<string, unknown>> = Array.from({ length: N }, (_, i) => {
    const r = record(i + 1);
    head = nextChain(head, canonical(r));
    return { ...r, chain: encode(head), mac: encode(recordMac(key, head)) };
  });
  recs[39]!.exitCode = 1;
  recs[89]!.mac = encode(randomBytes(32));
  // Swapped in place, their seqs kept: each one's chain was made over the other one's body.
  const { seq: s150, chain: c150, mac: m150, ...b150 } = recs[149]!;
  const { seq: s151, chain: c151, mac: m151, ...b151 } = recs[150]!;
  recs[149] = { seq: s150, chain: c150, mac: m150, ...b151 };
  recs[150] = { seq: s151, chain: c151, mac: m151, ...b150 };
  return recs.map((r) => ({ seq: r.seq, type: r.type, time: r.time, ...r }));
}

test('verifyBody judges a batch as verifyRecords does, and leaves what it cannot judge to ingest', () => {
  const key = randomBytes(32);
  const body = JSON.stringify({ records: tamperedRecords(key) });
  const r = verifyBody({ id: 1, key: encode(key), head: encode(GENESIS_CHAIN), body });
  assert.ok(r?.verdicts);
  assert.equal(r.seqs.length, N);
  const bad = r.verdicts.flatMap((v, i) => (v === 'ok' ? [] : [`${i + 1}:${v}`]));
  assert.deepEqual(bad, ['40:edited', '90:forged', '150:edited', '151:edited']);
  // A seq hole, a body that is not an upload, a head that is not one: not judged here.
  const holed = JSON.parse(body) as { records: Array<{ seq: number }> };
  holed.records[10]!.seq = 500;
  for (const b of [JSON.stringify(holed), '{"records":7}', 'not json'])
    assert.equal(verifyBody({ id: 2, key: encode(key), head: encode(GENESIS_CHAIN), body: b }), undefined, b);
  assert.equal(verifyBody({ id: 3, key: encode(key), head: 'short', body }), undefined);
});

/** A seeded generator (mulberry32): the same awkward records on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const AWKWARD = ['{', '}', '[', ']', '"', '\\', ',', ':', '"chain":"', ',"mac":"', 'é', '日本', '\u0000', '\n', '\u2028', '😀', ' '];

test('the records as sent: cut from the body exactly as JSON.parse + JSON.stringify would give them, and judged as verifyRecords judges them', () => {
  const rand = rng(20261201);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const str = () => Array.from({ length: Math.floor(rand() * 12) }, () => pick(AWKWARD)).join('');
  const key = randomBytes(32);
  let head = GENESIS_CHAIN;
  const records = Array.from({ length: 300 }, (_, i) => {
    const fields: Record<string, unknown> = {
      host: str(),
      command: str(),
      n: rand() * 1e6,
      nested: { a: [str(), { b: str() }], '[': str() },
      list: [1, [2, [3]], str()],
    };
    const r: Record<string, unknown> = { seq: i + 1, type: 'process', time: new Date(1_700_000_000_000 + i).toISOString(), ...fields };
    head = nextChain(head, canonical(r));
    // The agent's member order: seq, type, time, host, chain, mac, fields.
    const { host, ...rest } = fields;
    return { seq: r.seq, type: r.type, time: r.time, host, chain: encode(head), mac: encode(recordMac(key, head)), ...rest };
  });
  const body = JSON.stringify({ records });
  const bytes = Buffer.from(body);
  assert.deepEqual(
    recordSpans(bytes)?.map(([start, end]) => bytes.toString('utf8', start, end)),
    (JSON.parse(body) as { records: unknown[] }).records.map((r) => JSON.stringify(r)),
  );
  const asSent = verifyAsSent(key, GENESIS_CHAIN, body);
  const parsed = verifyRecords(
    key,
    GENESIS_CHAIN,
    (JSON.parse(body) as { records: Array<{ seq: number }> }).records.map((record) => ({ record })),
  );
  assert.ok(asSent, 'an untouched batch is judged as sent');
  assert.ok(parsed.verdicts.every((v) => v === 'ok'));
  assert.deepEqual([asSent.head, asSent.linked, asSent.seqs.length], [encode(parsed.head), true, 300]);
  // Not as JSON.stringify writes it (whitespace), a wrong key, a record edited: not judged as sent.
  assert.equal(verifyAsSent(key, GENESIS_CHAIN, JSON.stringify({ records }, null, 1)), undefined);
  assert.equal(verifyAsSent(randomBytes(32), GENESIS_CHAIN, body), undefined);
  const edited: Array<Record<string, unknown>> = structuredClone(records);
  edited[150]!.command = 'x';
  assert.equal(verifyAsSent(key, GENESIS_CHAIN, JSON.stringify({ records: edited })), undefined);
  // verifyBody then judges it from the parsed body: the edit is found where it is.
  const judged = verifyBody({ id: 9, key: encode(key), head: encode(GENESIS_CHAIN), body: JSON.stringify({ records: edited }) });
  assert.deepEqual(
    judged?.verdicts?.flatMap((v, i) => (v === 'ok' ? [] : [`${i + 1}:${v}`])),
    ['151:edited'],
  );
  // A record larger than the scratch buffer (4 KiB) between small ones: the buffer grows and keeps
  // the link it holds, so the records after it still link.
  let g = GENESIS_CHAIN;
  const sized = [40, 9000, 40, 20000, 40].map((size, i) => {
    const r: Record<string, unknown> = { seq: i + 1, type: 'process', time: '2024-05-01T08:00:00.000Z', command: 'x'.repeat(size) };
    g = nextChain(g, canonical(r));
    return { seq: r.seq, type: r.type, time: r.time, chain: encode(g), mac: encode(recordMac(key, g)), command: r.command };
  });
  assert.deepEqual(verifyAsSent(key, GENESIS_CHAIN, JSON.stringify({ records: sized })), { seqs: [1, 2, 3, 4, 5], head: encode(g), linked: true });
  for (const bad of [
    '',
    '{"records":[]}',
    '{"records":[{"seq":1}]',
    '{"records":[{"seq":1}],"x":1}',
    '{"records":[{"seq":1}] }',
    '{"records":[{"seq":"1\\"}"}]}',
  ]) {
    assert.equal(verifyAsSent(key, GENESIS_CHAIN, bad), undefined, bad);
  }
  const quoted = Buffer.from('{"records":[{"seq":"1\\"}"}]}');
  assert.deepEqual(
    recordSpans(quoted)?.map(([start, end]) => quoted.toString('utf8', start, end)),
    ['{"seq":"1\\"}"}'],
  );
  // A record that nests objects with a "seq" member in an array is cut wrong on purpose (cheap
  // splitting): its hash fails and the parsed path judges the batch, every record ok.
  let h = GENESIS_CHAIN;
  const nesting = [1, 2, 3].map((seq) => {
    const r: Record<string, unknown> = { seq, type: 'process', time: '2024-05-01T08:00:00.000Z', steps: [{ seq: 1 }, { seq: 2 }] };
    h = nextChain(h, canonical(r));
    return { seq, type: r.type, time: r.time, chain: encode(h), mac: encode(recordMac(key, h)), steps: r.steps };
  });
  const nested = JSON.stringify({ records: nesting });
  assert.equal(recordSpans(Buffer.from(nested))?.length, 6);
  assert.equal(verifyAsSent(key, GENESIS_CHAIN, nested), undefined);
  const fromParsed = verifyBody({ id: 10, key: encode(key), head: encode(GENESIS_CHAIN), body: nested });
  assert.deepEqual([fromParsed?.seqs, fromParsed?.verdicts, fromParsed?.head], [[1, 2, 3], undefined, encode(h)]);
});

test('one large batch checked by the worker and small batches checked in line end in the same flags and chain head', async (t) => {
  const srv = await startServer({ config: { log: { level: 'warn' } } });
  t.after(() => srv.cleanup());
  const enroll = async (host: string) => {
    const r = await srv.request<{ agentId: string; agentToken: string; recordKey: string }>('POST', '/v1/enroll', {
      body: { enrollSecret: srv.enrollSecret, host, chainHead: encode(GENESIS_CHAIN) },
    });
    assert.equal(r.status, 201, r.text);
    return { id: r.body.agentId, token: r.body.agentToken, key: Buffer.from(r.body.recordKey, 'base64url') };
  };
  const upload = async (token: string, records: unknown[]) => {
    const r = await srv.request<{ ackedThroughSeq: number; stored: number }>('POST', '/v1/events', { token, body: { records } });
    assert.equal(r.status, 200, r.text);
    return r.body;
  };
  const metric = async (checked: string) => {
    const text = (await srv.request('GET', '/metrics')).text;
    return Number(new RegExp(`^usage_server_integrity_batches_total\\{checked="${checked}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  const big = await enroll('ws-worker');
  const bigRecords = tamperedRecords(big.key);
  assert.ok(JSON.stringify({ records: bigRecords }).length >= WORKER_MIN_BODY_BYTES, 'large enough for the worker');
  assert.equal((await upload(big.token, bigRecords)).ackedThroughSeq, N);
  assert.equal(await metric('worker'), 1, 'the large batch was checked by the worker');

  const small = await enroll('ws-inline');
  const smallRecords = tamperedRecords(small.key);
  for (let i = 0; i < N; i += 10) {
    assert.ok(JSON.stringify({ records: smallRecords.slice(i, i + 10) }).length < WORKER_MIN_BODY_BYTES);
    await upload(small.token, smallRecords.slice(i, i + 10));
  }
  assert.equal(await metric('inline'), N / 10, 'each small batch was checked in line');
  assert.equal(await metric('worker'), 1);

  const flags = async (agentId: string) =>
    (
      await srv.sql<{ kind: string; from_seq: number; to_seq: number; records: number }>(
        'SELECT kind, from_seq, to_seq, records FROM integrity_flags WHERE agent_id = ? ORDER BY from_seq',
        agentId,
      )
    ).map((f) => `${f.kind}:${f.from_seq}-${f.to_seq}:${f.records}`);
  assert.deepEqual(await flags(big.id), ['edited:40-40:1', 'forged:90-90:1', 'edited:150-151:2']);
  // The same records flagged, the same way; a range that spans two batches is two flags. Record 91
  // follows a forged record that ended its batch: its link is unknown, so it is not flagged.
  assert.deepEqual(await flags(small.id), ['edited:40-40:1', 'forged:90-90:1', 'edited:150-150:1', 'edited:151-151:1']);
  // Both chains reached the same value: the last record's (the bodies are the same; keys differ only in MACs).
  const heads = await srv.sql<{ chain_head: string }>('SELECT chain_head FROM agents WHERE id IN (?, ?) ORDER BY host', big.id, small.id);
  assert.equal(heads.length, 2);
  assert.equal(heads[0]!.chain_head, heads[1]!.chain_head);
  assert.equal(heads[0]!.chain_head, bigRecords[N - 1]!.chain);
});
