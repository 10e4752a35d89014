/**
 * Tamper evidence end to end: a real `usage-agent run` daemon journals records handed over by a
 * real session link, uploads to a real usage-server (this store), is stopped, and its journal is
 * changed with the sqlite3 CLI the way someone with root on the workstation could: a body edited,
 * a row deleted, two rows' bodies swapped, a row inserted. Started again, it uploads: each change
 * is flagged with its seq range, nothing else is, and nothing is lost. Then the chain continues
 * across re-enrollment (the token revoked) and across compaction (journal.maxBytes).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Journal, type NewRecord } from '../../src/journal/journal.js';
import { inputEvents, journalState, sessionLink, startAgent, type TestAgent as Daemon } from '../helpers/agent.js';
import { startServer, TEST_ENROLL_SECRET, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

function sqlite3(path: string, sql: string): string {
  const r = spawnSync('sqlite3', [path, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `sqlite3 ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A daemon with processes off and a session link handing it input-events records numbered by `keyboard`. */
async function daemonWithLink(t: TestContext, srv: TestServer, extra: Record<string, unknown> = {}) {
  const agent = await startAgent(t, {
    processes: { enabled: false },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadBatchSize: 50, uploadIntervalMs: 100, maxBackoffMs: 300, requestTimeoutMs: 3000 },
    ...extra,
  });
  const link = sessionLink(t, agent);
  let n = 0;
  const send = async (count: number, pad = '') => {
    const batch: NewRecord[] = [];
    for (let i = 0; i < count; i++) {
      n += 1;
      batch.push(inputEvents(n, { application: `/usr/bin/test-app${pad}`, mouse: 1 }));
    }
    link.enqueue(batch);
    assert.equal(await link.drain(60_000), true, 'the session queue drained into the daemon journal');
  };
  return { agent, send, sent: () => n };
}

const allAcked = (agent: Daemon) => () => {
  const s = journalState(agent.dataDir);
  return s.acked === s.lastSeq;
};

async function storedSeqs(srv: TestServer, id: string): Promise<number[]> {
  const rows = await srv.sql<{ seq: number }>(
    `SELECT seq FROM activity_records WHERE agent_id = ? UNION ALL SELECT seq FROM process_records WHERE agent_id = ?
     UNION ALL SELECT seq FROM other_records WHERE agent_id = ? UNION ALL SELECT seq FROM usage_events WHERE agent_id = ? AND seq IS NOT NULL`,
    id,
    id,
    id,
    id,
  );
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

const flagsOf = async (srv: TestServer, id: string) =>
  (
    await srv.sql<{ kind: string; from_seq: number; to_seq: number; records: number }>(
      'SELECT kind, from_seq, to_seq, records FROM integrity_flags WHERE agent_id = ? ORDER BY from_seq, id',
      id,
    )
  ).map((f) => ({
    kind: f.kind,
    fromSeq: Number(f.from_seq),
    toSeq: Number(f.to_seq),
    records: Number(f.records),
  }));

test("a stopped agent's journal edited, a row deleted, two swapped, one inserted: each flagged with its seq range, nothing else, nothing lost; the chain continues across restart and re-enrollment", async (t) => {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const { agent, send } = await daemonWithLink(t, srv, { log: { level: 'debug' } });
  await send(30);
  await waitFor(allAcked(agent), 'the first records acknowledged', 60_000);
  const [{ id }] = await srv.sql<{ id: string }>('SELECT id FROM agents');
  assert.ok(
    (await srv.sql('SELECT chain_head FROM agents WHERE id = ? AND record_key IS NOT NULL AND chain_head IS NOT NULL', id)).length === 1,
    'the agent chains its records',
  );

  // Offline: records pile up unacknowledged; then the daemon stops.
  await srv.stop();
  await send(40);
  await agent.stop();
  const db = join(agent.dataDir, 'journal.db');
  const { acked, lastSeq } = journalState(agent.dataDir);
  const pending = sqlite3(db, `SELECT seq FROM records WHERE seq > ${acked} AND type = 'input-events' ORDER BY seq`).split('\n').map(Number);
  assert.ok(pending.length >= 40, `unacknowledged input-events records: ${pending.length}`);
  const edited = pending[2];
  const deleted = pending[8];
  const [swapA, swapB] = [pending[14], pending[15]];
  assert.equal(swapB, swapA + 1);
  sqlite3(db, `UPDATE records SET body = json_set(body, '$.keyboard', 999999) WHERE seq = ${edited}`);
  sqlite3(db, `DELETE FROM records WHERE seq = ${deleted}`);
  sqlite3(
    db,
    `CREATE TEMP TABLE s AS SELECT seq, body FROM records WHERE seq IN (${swapA}, ${swapB});
    UPDATE records SET body = (SELECT body FROM s WHERE s.seq = ${swapA + swapB} - records.seq) WHERE seq IN (${swapA}, ${swapB});`,
  );
  assert.notEqual(sqlite3(db, `SELECT body FROM records WHERE seq = ${swapA}`), sqlite3(db, `SELECT body FROM records WHERE seq = ${swapB}`));
  // A row that looks like the agent's (a copy of a record, its chain value, a made-up MAC), at the end.
  const inserted = lastSeq + 1;
  sqlite3(
    db,
    `INSERT INTO records (seq, type, time, body, chain, mac) SELECT ${inserted}, type, time, json_set(body, '$.keyboard', 424242), chain, '${'A'.repeat(43)}' FROM records WHERE seq = ${pending[20]};
     UPDATE meta SET value = ${inserted} WHERE key = 'last_seq';`,
  );

  await srv.restart();
  await agent.restart();
  await send(10);
  await waitFor(allAcked(agent), 'everything acknowledged after the restart', 60_000);

  assert.deepEqual(await flagsOf(srv, id), [
    { kind: 'edited', fromSeq: edited, toSeq: edited, records: 1 },
    { kind: 'gap', fromSeq: deleted, toSeq: deleted, records: 1 },
    { kind: 'edited', fromSeq: swapA, toSeq: swapB, records: 2 },
    { kind: 'forged', fromSeq: inserted, toSeq: inserted, records: 1 },
  ]);
  // Nothing lost: every seq the journal held is stored, the changed ones as they arrived.
  const last = journalState(agent.dataDir).lastSeq;
  const expected = Array.from({ length: last }, (_, i) => i + 1).filter((s) => s !== deleted);
  assert.deepEqual(await storedSeqs(srv, id), expected);
  assert.equal(Number((await srv.sql<{ k: number }>('SELECT keyboard AS k FROM activity_records WHERE agent_id = ? AND seq = ?', id, edited))[0].k), 999999);
  assert.equal(Number((await srv.sql<{ k: number }>('SELECT keyboard AS k FROM activity_records WHERE agent_id = ? AND seq = ?', id, inserted))[0].k), 424242);
  assert.deepEqual(
    await srv.sql("SELECT extra FROM activity_records WHERE agent_id = ? AND extra LIKE '%chain%'", id),
    [],
    'integrity fields are not stored as data',
  );
  // Written as server events (code 18, info) and counted.
  const events = await srv.sql<{ reason: string; extra: string }>(
    "SELECT reason, extra FROM usage_events WHERE origin = 'server' AND code = 18 AND agent_id = ? ORDER BY id",
    id,
  );
  assert.deepEqual(
    events.map((e) => [e.reason, JSON.parse(e.extra)]),
    [
      ['integrity-edited', { fromSeq: edited, toSeq: edited, records: 1 }],
      ['integrity-gap', { fromSeq: deleted, toSeq: deleted, records: 1 }],
      ['integrity-edited', { fromSeq: swapA, toSeq: swapB, records: 2 }],
      ['integrity-forged', { fromSeq: inserted, toSeq: inserted, records: 1 }],
    ],
  );
  const metrics = (await srv.request('GET', '/metrics')).text;
  assert.match(metrics, /usage_server_integrity_flags_total\{kind="edited"\} 3\b/);
  assert.match(metrics, /usage_server_integrity_flags_total\{kind="gap"\} 1\b/);
  assert.match(metrics, /usage_server_integrity_flags_total\{kind="forged"\} 1\b/);
  // The per-agent summary the console shows.
  const summary = await srv.cli('integrity', '--json');
  assert.equal(summary.code, 0, summary.stderr);
  const rows = JSON.parse(summary.stdout) as Array<{ agent_id: string; kind: string; records: number; from_seq: number; to_seq: number }>;
  assert.deepEqual(
    rows.map((r) => [r.agent_id, r.kind, Number(r.records), Number(r.from_seq), Number(r.to_seq)]),
    [
      [id, 'edited', 3, edited, swapB],
      [id, 'forged', 1, inserted, inserted],
      [id, 'gap', 1, deleted, deleted],
    ],
  );

  // Re-enrollment: the token is revoked; the agent enrolls again (new identity, new key, its chain
  // head carried over) and what it uploads from then on verifies.
  const revoked = await srv.cli('agents', 'revoke', id);
  assert.equal(revoked.code, 0, revoked.stderr);
  await send(20);
  await waitFor(async () => (await srv.sql('SELECT id FROM agents')).length === 2, 'a second identity', 60_000);
  await waitFor(allAcked(agent), 'everything acknowledged after re-enrollment', 60_000);
  const [{ id: id2 }] = await srv.sql<{ id: string }>('SELECT id FROM agents WHERE id <> ?', id);
  assert.deepEqual(await flagsOf(srv, id2), [], "the new identity's records verify");
  assert.ok((await storedSeqs(srv, id2)).length >= 20);
  assert.equal((await flagsOf(srv, id)).length, 4, 'no new flags for the old identity');

  // The record key is kept 0600 with the credentials and appears in no log of either side.
  const credsPath = join(agent.dataDir, 'credentials.json');
  assert.equal(statSync(credsPath).mode & 0o777, 0o600);
  const key = (JSON.parse(readFileSync(credsPath, 'utf8')) as { recordKey: string }).recordKey;
  assert.match(key, /^[A-Za-z0-9_-]{43}$/);
  const [{ record_key: stored }] = await srv.sql<{ record_key: string }>('SELECT record_key FROM agents WHERE id = ?', id2);
  assert.equal(stored, key);
  assert.ok(!agent.stderr().includes(key) && !srv.output().includes(key), 'the record key is in no log');
  const listed = await srv.cli('agents', 'list', '--json');
  assert.ok(!listed.stdout.includes(key) && !listed.stdout.includes('record_key'), 'agents list does not show record keys');
});

test('the chain continues across compaction (journal.maxBytes): nothing flagged, every keystroke count kept', async (t) => {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const { agent, send, sent } = await daemonWithLink(t, srv, { journal: { flushIntervalMs: 100, maxBytes: 1024 * 1024 } });
  await send(20);
  await waitFor(allAcked(agent), 'the first records acknowledged', 60_000);
  await srv.stop();
  // Enough records to pass the bound several times over: the bound component compacts them.
  for (let i = 0; i < 8; i++) await send(1000, '-' + 'x'.repeat(200));
  await waitFor(
    () => {
      const j = Journal.open(join(agent.dataDir, 'journal.db'), { readonly: true });
      try {
        return j.read({ types: ['input-events'] }).some((r) => typeof r.compacted === 'number' && r.compacted > 1);
      } finally {
        j.close();
      }
    },
    'compaction',
    60_000,
  );
  await srv.restart();
  await send(10);
  await waitFor(allAcked(agent), 'everything acknowledged', 120_000);
  const [{ id }] = await srv.sql<{ id: string }>('SELECT id FROM agents');
  assert.deepEqual(await flagsOf(srv, id), []);
  const n = sent();
  const [{ k }] = await srv.sql<{ k: number }>("SELECT sum(keyboard) AS k FROM activity_records WHERE agent_id = ? AND type = 'input-events'", id);
  assert.equal(Number(k), (n * (n + 1)) / 2, 'keystroke counts survive compaction');
  const [{ rows }] = await srv.sql<{ rows: number }>("SELECT count(*) AS rows FROM activity_records WHERE agent_id = ? AND type = 'input-events'", id);
  assert.ok(Number(rows) < n, `compacted: ${rows} rows for ${n} records`);
});
