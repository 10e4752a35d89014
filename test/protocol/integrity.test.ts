/**
 * The tamper-evidence scheme (protocol/integrity.ts) on exact synthetic sequences: canonical text,
 * chain and MAC values computed independently here with node:crypto, and the verdict of every
 * kind of change a journal can suffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import {
  canonical,
  canonicalRecord,
  decode32,
  encode,
  GENESIS_CHAIN,
  nextChain,
  nextChainText,
  recordMac,
  recordMacText,
  verifyRecords,
  isAuthentic,
  UNLINKED_HEAD,
} from '../../src/protocol/integrity.js';

test("canonical: JSON.stringify in the record's own member order, without the integrity members; the server's parse gives the agent's text", () => {
  const r = {
    seq: 2,
    type: 'x',
    time: 'T',
    host: 'h',
    chain: 'c',
    mac: 'm',
    chainThrough: 't',
    nested: { b: 1, a: [3, { z: null, y: undefined, x: 'é' }] },
    gone: undefined,
  };
  assert.equal(canonical(r), '{"seq":2,"type":"x","time":"T","host":"h","nested":{"b":1,"a":[3,{"z":null,"x":"é"}]}}');
  // As the uploader sends it (integrity members after the envelope), parsed by the server.
  const fields = {
    host: 'h',
    user: 'ann',
    n: 1.5,
    nested: { b: [1, { d: 2 }], a: null },
    at: new Date('2024-05-01T08:00:00.000Z'),
    skip: undefined,
    quote: 'a"b\\c\u2028',
  };
  const agent = canonicalRecord(7, 'process', 'T', fields);
  const uploaded = `{"seq":7,"type":"process","time":"T","chain":"C","mac":"M",${JSON.stringify(fields).slice(1)}`;
  assert.equal(canonical(JSON.parse(uploaded) as Record<string, unknown>), agent);
  assert.equal(agent, canonical({ seq: 7, type: 'process', time: 'T', ...fields }));
  assert.equal(canonicalRecord(7, 'process', 'T', {}), '{"seq":7,"type":"process","time":"T"}');
  // Keys JavaScript orders first (integer-like), or a repeated envelope key: still the server's text.
  for (const odd of [
    { '5': 'x', host: 'h' },
    { seq: 99, user: 'u' },
    { type: 'other', '0': [1] },
  ]) {
    const text = `{"seq":7,"type":"process","time":"T","chain":"C",${JSON.stringify(odd).slice(1)}`;
    assert.equal(canonical(JSON.parse(text) as Record<string, unknown>), canonicalRecord(7, 'process', 'T', odd), JSON.stringify(odd));
  }
  // The integrity members are cut wherever they are; a nested "chain" is data.
  assert.equal(canonical({ chain: 'c', seq: 1, a: { chain: 'c' } }), '{"seq":1,"a":{"chain":"c"}}');
  assert.notEqual(canonical({ seq: 1, type: 't', time: 'T', a: { host: 'x' } }), canonical({ seq: 1, type: 't', time: 'T', host: 'x' }));
});

test('chain and mac values are SHA-256(prev || canonical) and HMAC-SHA256(key, chain || chainThrough)', () => {
  const c = canonical({ seq: 1, type: 't', time: 'T' });
  const h1 = nextChain(GENESIS_CHAIN, c);
  assert.deepEqual(h1, createHash('sha256').update(Buffer.alloc(32)).update('{"seq":1,"type":"t","time":"T"}').digest());
  const key = Buffer.alloc(32, 7);
  assert.deepEqual(recordMac(key, h1), createHmac('sha256', key).update(h1).digest());
  const through = Buffer.alloc(32, 9);
  assert.deepEqual(
    recordMac(key, h1, through),
    createHmac('sha256', key)
      .update(Buffer.concat([h1, through]))
      .digest(),
  );
  // Keys of other lengths (RFC 2104: longer than a block are hashed first).
  for (const k of [Buffer.alloc(0), Buffer.alloc(64, 3), Buffer.alloc(100, 4), Buffer.from('short')])
    assert.deepEqual(recordMac(k, h1), createHmac('sha256', k).update(h1).digest());
  // The text forms the journal stores are the same values.
  assert.equal(nextChainText(GENESIS_CHAIN, c), encode(h1));
  assert.equal(
    recordMacText(key, h1, through),
    createHmac('sha256', key)
      .update(Buffer.concat([h1, through]))
      .digest('base64url'),
  );
  assert.equal(recordMacText(key, h1), createHmac('sha256', key).update(h1).digest('base64url'));
  assert.equal(encode(h1).length, 43);
  assert.deepEqual(decode32(encode(h1)), h1);
  assert.equal(decode32(encode(h1).slice(1)), undefined);
  assert.equal(decode32(encode(h1) + '='), undefined);
  assert.equal(decode32(42), undefined);
});

const KEY = Buffer.alloc(32, 1);
type Rec = Record<string, unknown> & { seq: number; chain?: string; mac?: string; chainThrough?: string };

/** Records 1..n as an agent writes them: chained from genesis, MACed with KEY. */
function journal(n: number, key: Buffer | undefined = KEY): Rec[] {
  let head = GENESIS_CHAIN;
  const out: Rec[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const r: Rec = { seq, type: 'process', time: `2024-05-01T08:00:${String(seq).padStart(2, '0')}.000Z`, host: 'ws1', user: 'ann', cpuSeconds: seq };
    head = nextChain(head, canonical(r));
    r.chain = encode(head);
    if (key) r.mac = encode(recordMac(key, head));
    out.push(r);
  }
  return out;
}
const verdicts = (recs: Rec[], head = GENESIS_CHAIN, key: Buffer | undefined = KEY, afterGap: number[] = []) =>
  verifyRecords(
    key,
    head,
    recs.map((record) => ({ record, afterGap: afterGap.includes(record.seq) })),
  ).verdicts;

test('an untouched sequence verifies, and the head it reaches continues the next batch', () => {
  const recs = journal(6);
  assert.deepEqual(verdicts(recs), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  const first = verifyRecords(
    KEY,
    GENESIS_CHAIN,
    recs.slice(0, 3).map((record) => ({ record })),
  );
  assert.equal(first.head.toString('base64url'), recs[2].chain);
  assert.deepEqual(
    verifyRecords(
      KEY,
      first.head,
      recs.slice(3).map((record) => ({ record })),
    ).verdicts,
    ['ok', 'ok', 'ok'],
  );
  assert.ok(isAuthentic(KEY, recs[4]));
  assert.ok(!isAuthentic(Buffer.alloc(32, 2), recs[4]));
});

test('a batch that ends on a forged record leaves the link unknown: the next batch starts the chain again, as after a seq hole', () => {
  const recs = journal(6);
  recs[2].mac = encode(Buffer.alloc(32, 9));
  const first = verifyRecords(
    KEY,
    GENESIS_CHAIN,
    recs.slice(0, 3).map((record) => ({ record })),
  );
  assert.deepEqual([first.verdicts, first.linked], [['ok', 'ok', 'forged'], false]);
  const next = verifyRecords(
    KEY,
    UNLINKED_HEAD,
    recs.slice(3).map((record) => ({ record })),
  );
  assert.deepEqual([next.verdicts, next.linked, encode(next.head)], [['ok', 'ok', 'ok'], true, recs[5].chain]);
  // With the head it had before the forged record, record 4 would wrongly look edited.
  assert.deepEqual(
    verifyRecords(
      KEY,
      first.head,
      recs.slice(3).map((record) => ({ record })),
    ).verdicts,
    ['edited', 'ok', 'ok'],
  );
  // An edit after an unknown link is still found from the second record on.
  const edited = journal(6);
  edited[4].cpuSeconds = 99;
  assert.deepEqual(
    verifyRecords(
      KEY,
      UNLINKED_HEAD,
      edited.slice(3).map((record) => ({ record })),
    ).verdicts,
    ['ok', 'edited', 'ok'],
  );
});

test('one MAC authenticates the linked records before it: MACs in the middle are not needed, a wrong last MAC sends every record to its own check', () => {
  const recs = journal(4);
  delete recs[1].mac;
  recs[2].mac = encode(Buffer.alloc(32));
  assert.deepEqual(verdicts(recs), ['ok', 'ok', 'ok', 'ok']);
  recs[3].mac = encode(Buffer.alloc(32, 9));
  assert.deepEqual(verdicts(recs), ['ok', 'unauthenticated', 'forged', 'forged']);
});

test('an edited body: that record is edited, the next is ok', () => {
  const recs = journal(5);
  recs[2].cpuSeconds = 999;
  assert.deepEqual(verdicts(recs), ['ok', 'ok', 'edited', 'ok', 'ok']);
});

test('an edit whose chain was recomputed without the key is forged, and the record after it is not flagged', () => {
  const recs = journal(5);
  recs[1].user = 'mallory';
  recs[1].chain = encode(nextChain(decode32(recs[0].chain)!, canonical(recs[1])));
  assert.deepEqual(verdicts(recs), ['ok', 'forged', 'ok', 'ok', 'ok']);
});

test("two rows swapped (bodies at each other's seq) are both edited; a record replayed at another seq is edited", () => {
  const recs = journal(5);
  const { seq: _a, chain: ca, mac: ma, ...bodyA } = recs[1];
  const { seq: _b, chain: cb, mac: mb, ...bodyB } = recs[2];
  recs[1] = { seq: 2, ...bodyB, chain: ca, mac: ma };
  recs[2] = { seq: 3, ...bodyA, chain: cb, mac: mb };
  assert.deepEqual(verdicts(recs), ['ok', 'edited', 'edited', 'ok', 'ok']);
  const replay = journal(4);
  replay[3] = { ...replay[1], seq: 4 };
  assert.deepEqual(verdicts(replay), ['ok', 'ok', 'ok', 'edited']);
});

test('an inserted row without a MAC is unauthenticated, one with a wrong MAC forged; the next genuine record is ok', () => {
  const recs = journal(4);
  const inserted: Rec = { seq: 99, type: 'usage-event', time: 'T', code: 1, product: 'x', chain: recs[1].chain };
  assert.deepEqual(verdicts([recs[0], recs[1], inserted, recs[2], recs[3]]), ['ok', 'ok', 'unauthenticated', 'ok', 'ok']);
  const forged = { ...inserted, mac: encode(Buffer.alloc(32)) };
  assert.deepEqual(verdicts([recs[0], recs[1], forged, recs[2]]), ['ok', 'ok', 'forged', 'ok']);
});

test('after a hole the next record cannot be linked: it is not flagged (the gap is); records without integrity fields are unauthenticated', () => {
  const recs = journal(5);
  assert.deepEqual(verdicts([recs[0], recs[1], recs[3], recs[4]], GENESIS_CHAIN, KEY, [4]), ['ok', 'ok', 'ok', 'ok']);
  // Without the afterGap mark the missing predecessor shows as an edit.
  assert.deepEqual(verdicts([recs[0], recs[1], recs[3], recs[4]]), ['ok', 'ok', 'edited', 'ok']);
  const bare: Rec = { seq: 1, type: 'x', time: 'T' };
  assert.deepEqual(verdicts([bare]), ['unauthenticated']);
});

test('a summary carrying chainThrough links the record after the range it stands for', () => {
  const recs = journal(6);
  // Records 2..4 compacted into one summary at seq 2 (throughSeq 4), chained from record 1.
  const summary: Rec = { seq: 2, type: 'process', time: recs[1].time as string, host: 'ws1', user: 'ann', cpuSeconds: 9, compacted: 3, throughSeq: 4 };
  const chain = nextChain(decode32(recs[0].chain)!, canonical(summary));
  const through = decode32(recs[3].chain)!;
  summary.chain = encode(chain);
  summary.chainThrough = encode(through);
  summary.mac = encode(recordMac(KEY, chain, through));
  assert.deepEqual(verdicts([recs[0], summary, recs[4], recs[5]]), ['ok', 'ok', 'ok', 'ok']);
  // chainThrough changed by someone without the key: the summary's MAC no longer matches.
  assert.deepEqual(verdicts([recs[0], { ...summary, chainThrough: recs[2].chain }, recs[4]]), ['ok', 'forged', 'ok']);
});

test('without a key (before enrollment) only the chain is checked', () => {
  const recs = journal(3, undefined);
  assert.deepEqual(verdicts(recs, GENESIS_CHAIN, undefined), ['ok', 'ok', 'ok']);
  recs[1].user = 'x';
  assert.deepEqual(verdicts(recs, GENESIS_CHAIN, undefined), ['ok', 'edited', 'ok']);
});
