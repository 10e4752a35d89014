/**
 * The journal's tamper evidence on real SQLite files: every record chained at flush (MACed once a
 * key is known), the upload body the uploader's SQL builds verifies as the server verifies it,
 * enrollment re-MACs the waiting records (an edited one keeps its chain value and shows as edited,
 * a forged one is left), the acknowledged chain value is kept for the next enrollment, and
 * compaction re-chains its summaries so the chain still verifies, leaving a broken run alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { enforceBound, usedBytes } from '../../src/journal/bound.js';
import { verifyRows, type ChainedRow } from '../../src/journal/integrity.js';
import { Journal } from '../../src/journal/journal.js';
import { GENESIS_CHAIN, verifyRecords } from '../../src/protocol/integrity.js';

const KEY = Buffer.alloc(32, 5);
const KEY2 = Buffer.alloc(32, 6);

function open(t: TestContext): Journal {
  const dir = mkdtempSync(join(tmpdir(), 'journal-integrity-'));
  const j = Journal.open(join(dir, 'journal.db'));
  t.after(() => {
    j.close();
    rmSync(dir, { recursive: true, force: true });
  });
  j.recordHost = 'ws1';
  return j;
}
const rows = (j: Journal, after = j.ackedThroughSeq()) =>
  j.database.prepare('SELECT seq, type, time, body, chain, mac, chain_through FROM records WHERE seq > ? ORDER BY seq').all(after) as ChainedRow[];
const verdicts = (j: Journal, key: Buffer | undefined) => verifyRows(key, j.ackedChain(), rows(j)).verdicts;

test('records are chained at flush, MACed once a key is set; the host is written into the record; the upload body verifies', (t) => {
  const j = open(t);
  for (let n = 1; n <= 3; n++) j.append({ type: 'test', time: `2024-05-01T00:00:0${n}.000Z`, n });
  j.flush();
  assert.deepEqual(
    rows(j).map((r) => [r.body, r.mac]),
    [
      ['{"host":"ws1","n":1}', null],
      ['{"host":"ws1","n":2}', null],
      ['{"host":"ws1","n":3}', null],
    ],
  );
  assert.deepEqual(verdicts(j, undefined), ['ok', 'ok', 'ok']);
  j.setRecordKey(KEY);
  j.append({ type: 'test', time: '2024-05-01T00:00:04.000Z', n: 4, host: 'own-host' });
  j.flush();
  assert.equal(rows(j)[3].body, '{"n":4,"host":"own-host"}', 'a record with a host of its own keeps it');
  assert.ok(rows(j)[3].mac);
  // The body exactly as uploaded (SQL-built, `host` added only where there is none).
  const body = j.uploadBatch(0, 100, 'other')!;
  const uploaded = (JSON.parse(body.body.toString()) as { records: Array<Record<string, unknown> & { seq: number }> }).records;
  assert.deepEqual(Object.keys(uploaded[3]), ['seq', 'type', 'time', 'chain', 'mac', 'n', 'host']);
  // The MAC of record 4 authenticates the chain through records 1-3; alone they are not authenticated.
  assert.deepEqual(
    verifyRecords(
      KEY,
      GENESIS_CHAIN,
      uploaded.map((record) => ({ record })),
    ).verdicts,
    ['ok', 'ok', 'ok', 'ok'],
  );
  assert.deepEqual(
    verifyRecords(
      KEY,
      GENESIS_CHAIN,
      uploaded.slice(0, 3).map((record) => ({ record })),
    ).verdicts,
    ['unauthenticated', 'unauthenticated', 'unauthenticated'],
  );
  assert.deepEqual(
    verifyRecords(
      undefined,
      GENESIS_CHAIN,
      uploaded.map((record) => ({ record })),
    ).verdicts,
    ['ok', 'ok', 'ok', 'ok'],
  );
});

test('rekey: the waiting records verified and MACed with the new key in one step; edited keeps its chain, forged is left; acked chain kept', (t) => {
  const j = open(t);
  for (let n = 1; n <= 6; n++) j.append({ type: 'test', time: 'T', n });
  assert.deepEqual(j.rekey(KEY), { sealed: 6, left: 0 }, 'before the first enrollment: the chain is checked, every record MACed');
  assert.deepEqual(verdicts(j, KEY), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  const second = rows(j, 0)[1]!.chain;
  j.markAcked(2);
  assert.equal(j.ackedChain().toString('base64url'), second, 'the chain value of the last acknowledged record is kept');
  assert.deepEqual(verdicts(j, KEY), ['ok', 'ok', 'ok', 'ok'], 'records after the acknowledged ones verify from the kept chain value');
  j.database.prepare(`UPDATE records SET body = json_set(body, '$.n', 99) WHERE seq = 4`).run();
  j.database.prepare(`UPDATE records SET mac = ? WHERE seq = 6`).run('A'.repeat(43));
  assert.deepEqual(j.rekey(KEY2), { sealed: 3, left: 1 });
  assert.deepEqual(verdicts(j, KEY2), ['ok', 'edited', 'ok', 'forged']);
  // New records continue the chain with the new key.
  j.append({ type: 'test', time: 'T', n: 7 });
  j.flush();
  assert.deepEqual(verdicts(j, KEY2), ['ok', 'edited', 'ok', 'forged', 'ok']);
});

test('compaction re-chains its summaries: the whole journal still verifies, the record after a run links; a run with a broken record is left', (t) => {
  const j = open(t);
  j.setRecordKey(KEY);
  const pad = 'x'.repeat(300);
  const fill = (hours: number, from = 0) => {
    for (let h = from; h < from + hours; h++) {
      const end = new Date(Date.UTC(2024, 4, 1) + (h + 1) * 3600_000).toISOString();
      for (let p = 0; p < 10; p++)
        j.append({ type: 'process-interval', time: end, user: `u${p % 2}`, exe: `/bin/p${p % 3}`, pid: p, cpuSeconds: 1, intervalEnd: end, note: pad });
      j.append({ type: 'usage-event', time: end, code: 3, product: 'cad', user: 'u1' });
    }
    j.flush();
  };
  fill(100);
  const r = enforceBound(j, Math.floor(usedBytes(j.database) * 0.5));
  assert.ok(r.compactedRecords > 0 && r.skippedBroken === 0, JSON.stringify(r));
  assert.ok(rows(j).some((x) => x.chain_through !== null));
  assert.ok(
    verdicts(j, KEY).every((v) => v === 'ok'),
    'every record and summary verifies after compaction',
  );

  // A record edited inside what would be the next run: that run is not compacted.
  fill(100, 100);
  const victim = j.database.prepare("SELECT seq FROM records WHERE type = 'process-interval' ORDER BY seq DESC LIMIT 1 OFFSET 5").get() as { seq: number };
  j.database.prepare(`UPDATE records SET body = json_set(body, '$.cpuSeconds', 50) WHERE seq = ?`).run(victim.seq);
  const r2 = enforceBound(j, Math.floor(usedBytes(j.database) * 0.3));
  assert.ok(r2.skippedBroken >= 1, JSON.stringify(r2));
  assert.equal(
    (j.database.prepare('SELECT body FROM records WHERE seq = ?').get(victim.seq) as { body: string } | undefined)?.body.includes('"cpuSeconds":50'),
    true,
    'the edited record is still there',
  );
  const v = verdicts(j, KEY);
  assert.deepEqual(
    v.filter((x) => x !== 'ok'),
    ['edited'],
    'only the edited record fails',
  );
});
