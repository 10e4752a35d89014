/**
 * Group ingest on PostgreSQL (storage/postgres/ingest-group.ts), driven in-process so the groups
 * are known: uploads held back while a server's ingest lanes are busy are stored in one
 * transaction, and give exactly what each would give alone (records, acknowledgements, chain
 * heads, integrity flags, roll-ups). A group in which anything fails (a member's own error, a
 * record stored already) is rolled back and each member stored alone: the others commit, the
 * failing one gets its own error, nothing is stored twice. A second upload of an agent already in
 * a group waits for the next group and sees the first one's acknowledgement. Uploads into a month
 * whose partitions are still being made wait for them (none goes into the default partition).
 * The batched last-seen update locks agent rows in the groups' order (no deadlock between them).
 * A member whose after-commit work throws gets that error alone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { canonical, encode, GENESIS_CHAIN, nextChain, recordMac } from '../../src/protocol/integrity.js';
import { checkUpload, ingest, type IngestResult } from '../../src/server/ingest.js';
import { Metrics } from '../../src/server/metrics.js';
import { INGEST_LANES } from '../../src/server/storage/postgres/ingest-group.js';
import { CREATE_LOCK } from '../../src/server/storage/postgres/partitions.js';
import { openPostgresStore, type PostgresStore } from '../../src/server/storage/postgres/store.js';
import type { Tx } from '../../src/server/storage/store.js';
import { createTestDatabase, TEST_STORE } from '../helpers/server.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: PostgresStore;
const warnings: string[] = [];

before(async () => {
  assert.equal(TEST_STORE, 'postgres', 'runs in the PostgreSQL pass');
  db = await createTestDatabase();
  const log = { warn: (_o: object, msg: string) => warnings.push(msg), error: (_o: object, msg: string) => warnings.push(msg) };
  store = await openPostgresStore(db.url, { poolSize: 6, log });
});
after(async () => {
  await store?.close();
  await db?.drop();
});

const T = '2024-05-01T08:00:00.000Z';

function records(host: string, from: number, n: number): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => {
    const seq = from + i;
    return seq % 2
      ? {
          seq,
          type: 'process',
          time: T,
          host,
          user: `u-${host}`,
          pid: seq,
          command: `cmd${seq % 3}`,
          exe: `/bin/cmd${seq % 3}`,
          elapsedSeconds: seq,
          exitCode: 0,
        }
      : { seq, type: 'work', time: T, host, user: `u-${host}`, start: T, end: T, durationSeconds: seq, periodType: 'uninterrupted' };
  });
}

async function addAgent(id: string, key?: Buffer): Promise<void> {
  await store.transaction((tx) =>
    tx.insertAgent({
      id,
      host: id,
      token_hash: `hash-${id}`,
      agent_version: '1',
      os: 'linux',
      enrolled_at: T,
      last_seen_at: null,
      acked_seq: 0,
      record_key: key ? key.toString('base64url') : null,
      chain_head: key ? encode(GENESIS_CHAIN) : null,
    }),
  );
}

function upload(agentId: string, recs: Array<Record<string, unknown>>, metrics = new Metrics()): Promise<IngestResult> {
  const checked = checkUpload({ records: recs });
  assert.ok(checked.ok);
  return ingest(store, metrics, agentId, checked.upload);
}

/** Hold every ingest lane with a transaction that waits for `release` (the uploads after it queue). */
function holdLanes(): { release(): void; done: Promise<unknown[]> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done = Promise.all(
    Array.from({ length: INGEST_LANES }, (_, i) =>
      store.transaction(
        async (tx: Tx) => {
          await gate;
          return tx.grouped ?? false;
        },
        { ingestFor: `lane-holder-${i}` },
      ),
    ),
  );
  return { release, done };
}

/** Until `n` uploads wait for a lane (each first makes the partitions it needs, outside the queue). */
async function queued(n: number): Promise<void> {
  const until = Date.now() + 10_000;
  while (store.ingestGroups.queued < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.equal(store.ingestGroups.queued, n, 'uploads queued behind the held lanes');
}

const stored = async (agentId: string) =>
  (
    await store.q.sql.all<{ seq: number }>(
      'SELECT seq FROM process_records WHERE agent_id = ? UNION ALL SELECT seq FROM activity_records WHERE agent_id = ? ORDER BY seq',
      [agentId, agentId],
    )
  ).map((r) => r.seq);

test('uploads queued behind busy lanes are stored in one group, each exactly as alone: records, acks, chain heads, flags, roll-ups', async () => {
  const plain = ['g-a', 'g-b', 'g-c'];
  const key = randomBytes(32);
  await Promise.all(plain.map((id) => addAgent(id)));
  await addAgent('g-chain', key);
  let head = GENESIS_CHAIN;
  const chained = records('g-chain', 1, 6).map((r): Record<string, unknown> => {
    head = nextChain(head, canonical(r));
    return { ...r, chain: encode(head), mac: encode(recordMac(key, head)) };
  });
  chained[3]!.elapsedSeconds = 999; // edited after it was chained: flagged, stored all the same

  const metrics = new Metrics();
  const lanes = holdLanes();
  const results = Promise.all([...plain.map((id) => upload(id, records(id, 1, 5), metrics)), upload('g-chain', chained, metrics)]);
  await queued(4);
  lanes.release();
  assert.deepEqual(await lanes.done, new Array(INGEST_LANES).fill(false), 'the lane holders ran alone');
  const r = await results;
  assert.deepEqual(
    r.map((x) => [x.ok, x.ackedThroughSeq, x.stored]),
    [...plain.map(() => [true, 5, 5]), [true, 6, 6]],
  );
  assert.equal(metrics.get('usage_server_ingest_grouped_batches_total'), 4, 'all four went in one group');
  assert.equal(metrics.get('usage_server_ingest_batches_total'), 4);

  for (const id of plain) assert.deepEqual(await stored(id), [1, 2, 3, 4, 5], id);
  assert.deepEqual(await stored('g-chain'), [1, 2, 3, 4, 5, 6]);
  const agents = await store.q.sql.all<{ id: string; acked_seq: number; chain_head: string | null }>(
    "SELECT id, acked_seq, chain_head FROM agents WHERE id LIKE 'g-%' ORDER BY id",
  );
  assert.deepEqual(agents, [
    { id: 'g-a', acked_seq: 5, chain_head: null },
    { id: 'g-b', acked_seq: 5, chain_head: null },
    { id: 'g-c', acked_seq: 5, chain_head: null },
    { id: 'g-chain', acked_seq: 6, chain_head: encode(head) },
  ]);
  const flags = await store.q.sql.all<{ agent_id: string; kind: string; from_seq: number; to_seq: number }>(
    'SELECT agent_id, kind, from_seq, to_seq FROM integrity_flags ORDER BY agent_id',
  );
  assert.deepEqual(flags, [{ agent_id: 'g-chain', kind: 'edited', from_seq: 4, to_seq: 4 }]);
  // The group's one COPY of process rows went through the roll-up trigger once: the sums are the records'.
  const rollup = await store.q.sql.all<{ command: string; n: number; elapsed: number }>(
    "SELECT command, sum(n)::bigint AS n, sum(elapsed) AS elapsed FROM process_daily_command WHERE day = '2024-05-01' GROUP BY command ORDER BY command",
  );
  const raw = await store.q.sql.all<{ command: string; n: number; elapsed: number }>(
    "SELECT command, count(*)::bigint AS n, sum(elapsed_seconds) AS elapsed FROM process_records WHERE agent_id LIKE 'g-%' GROUP BY command ORDER BY command",
  );
  assert.equal(rollup.length, 3);
  assert.deepEqual(rollup, raw);
});

test('a group with a failing member and a record stored already: each member stored alone, the others commit, nothing twice', async () => {
  const ids = ['f-ok1', 'f-throws', 'f-dup', 'f-ok2'];
  await Promise.all(ids.map((id) => addAgent(id)));
  // f-dup's seq 2 is in the table already, written some other way than ingest: COPY fails on it.
  await store.q.sql.run("INSERT INTO activity_records (agent_id, seq, type, time) VALUES ('f-dup', 2, 'work', ?)", [T]);
  const lanes = holdLanes();
  const boom = new Error('this member fails');
  let throwerRuns = 0;
  const all = Promise.allSettled([
    upload('f-ok1', records('f-ok1', 1, 4)),
    store.transaction(
      async (tx) => {
        throwerRuns++;
        await tx.setAcked('f-throws', 99);
        throw boom;
      },
      { ingestFor: 'f-throws' },
    ),
    upload('f-dup', records('f-dup', 1, 4)),
    upload('f-ok2', records('f-ok2', 1, 4)),
  ]);
  await queued(4);
  lanes.release();
  await lanes.done;
  const [ok1, thrower, dup, ok2] = await all;
  assert.equal(thrower.status, 'rejected');
  assert.equal((thrower as PromiseRejectedResult).reason, boom, 'the failing member gets its own error');
  assert.equal(throwerRuns, 2, 'once in the group, once alone');
  for (const s of [ok1, dup, ok2]) {
    assert.equal(s.status, 'fulfilled');
    assert.equal((s as PromiseFulfilledResult<IngestResult>).value.ackedThroughSeq, 4);
  }
  assert.ok(
    warnings.some((w) => w.includes('could not be stored together')),
    warnings.join('\n'),
  );
  for (const id of ['f-ok1', 'f-dup', 'f-ok2']) assert.deepEqual(await stored(id), [1, 2, 3, 4], id);
  const acked = await store.q.sql.all<{ id: string; acked_seq: number }>("SELECT id, acked_seq FROM agents WHERE id LIKE 'f-%' ORDER BY id");
  assert.deepEqual(acked, [
    { id: 'f-dup', acked_seq: 4 },
    { id: 'f-ok1', acked_seq: 4 },
    { id: 'f-ok2', acked_seq: 4 },
    { id: 'f-throws', acked_seq: 0 },
  ]);
  // The row written before is kept as it was (no time conversion, no user): stored once, not replaced.
  const kept = await store.q.sql.all<{ user: string | null }>('SELECT "user" FROM activity_records WHERE agent_id = ? AND seq = 2', ['f-dup']);
  assert.deepEqual(kept, [{ user: null }]);
});

test("an agent's second upload waits for the next group and sees the first one's acknowledgement", async () => {
  await addAgent('s-1');
  await addAgent('s-2');
  const warningsBefore = warnings.length;
  const metrics = new Metrics();
  const lanes = holdLanes();
  const all = Promise.all([
    upload('s-1', records('s-1', 1, 3), metrics),
    upload('s-2', records('s-2', 1, 3), metrics),
    upload('s-1', records('s-1', 1, 6), metrics),
  ]);
  await queued(3);
  lanes.release();
  await lanes.done;
  const [first, other, second] = await all;
  assert.deepEqual([other.ackedThroughSeq, other.stored], [3, 3]);
  // Whichever of s-1's two uploads queued first went in the group; the other one, after it, stored
  // only what the first had not, and counted the rest as duplicates.
  assert.deepEqual(
    [first, second].map((x) => x.ackedThroughSeq),
    [first.ackedThroughSeq === 3 ? 3 : 6, 6],
  );
  assert.equal(first.stored + second.stored, 6);
  assert.equal(first.duplicates + second.duplicates, 3);
  assert.equal(warnings.length, warningsBefore, 'no group had to be stored member by member (as two uploads of one agent in one group would)');
  assert.deepEqual(await stored('s-1'), [1, 2, 3, 4, 5, 6]);
  assert.equal(metrics.get('usage_server_ingest_duplicates_total'), 3);
});

test('uploads racing into a month no partition holds yet all wait for it: none lands in the default partition', async () => {
  const ids = Array.from({ length: 8 }, (_, i) => `m-${i}`);
  await Promise.all(ids.map((id) => addAgent(id)));
  const month = '2023-02-14T08:00:00.000Z';
  const recs = (id: string) => records(id, 1, 4).map((r) => ({ ...r, time: month }));
  // Another server is making partitions just now (it holds their lock): the first of these uploads
  // waits to make the month's; the others must wait for it too, not insert into the default meanwhile.
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  let r: IngestResult[];
  try {
    await other.query('SELECT pg_advisory_lock($1)', [CREATE_LOCK]);
    const all = Promise.all(ids.map((id) => upload(id, recs(id))));
    await new Promise((res) => setTimeout(res, 300));
    await other.query('SELECT pg_advisory_unlock($1)', [CREATE_LOCK]);
    r = await all;
  } finally {
    await other.end();
  }
  assert.deepEqual(
    r.map((x) => x.stored),
    ids.map(() => 4),
  );
  const parts = await store.q.sql.all<{ p: string | null; w: string | null }>(
    "SELECT to_regclass('process_records_process_202302')::text AS p, to_regclass('activity_records_work_202302')::text AS w",
  );
  assert.deepEqual(parts, [{ p: 'process_records_process_202302', w: 'activity_records_work_202302' }]);
  const inDefault = await store.q.sql.all<{ n: number }>(
    'SELECT (SELECT count(*) FROM process_records_default) + (SELECT count(*) FROM activity_records_default) AS n',
  );
  assert.deepEqual(inDefault, [{ n: 0 }]);
  const inMonth = await store.q.sql.all<{ n: number }>(
    'SELECT (SELECT count(*) FROM process_records_process_202302) + (SELECT count(*) FROM activity_records_work_202302) AS n',
  );
  assert.deepEqual(inMonth, [{ n: 32 }]);
});

test('last-seen updates lock agent rows in the order group ingest does: waiting on one row, they hold none after it', async () => {
  // Ids whose byte order and a natural-language collation's order differ (upper case, '-', '_').
  const ids = Array.from({ length: 250 }, (_, i) => `t${i % 2 ? 'B' : 'a'}_${String(i).padStart(3, '0')}-${i % 3 ? 'x' : 'Y'}`);
  await Promise.all(ids.map((id) => addAgent(id)));
  const sorted = [...ids].sort();
  const middle = sorted[125]!;
  const holder = new pg.Client({ connectionString: db.url });
  const probe = new pg.Client({ connectionString: db.url });
  await holder.connect();
  await probe.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT id FROM agents WHERE id = $1 FOR UPDATE', [middle]);
    // Handed over in no order at all, as the auth plugin collects them.
    const touched = store.transaction((tx) => tx.touchAgents([...ids].reverse(), '2024-05-02T00:00:00.000Z'));
    const until = Date.now() + 10_000;
    let waiting = 0;
    while (waiting === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
      const w = await probe.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE agents%SET last_seen_at%'",
      );
      waiting = w.rows[0]!.n;
    }
    assert.equal(waiting, 1, 'the update waits for the held row');
    const free = await probe.query<{ id: string }>('SELECT id FROM agents WHERE id = ANY($1::text[]) FOR UPDATE SKIP LOCKED', [sorted]);
    const lockedByUpdate = sorted.filter((id) => id !== middle && !free.rows.some((r) => r.id === id));
    assert.deepEqual(lockedByUpdate, sorted.slice(0, 125), 'exactly the rows before the held one are locked');
    await holder.query('ROLLBACK');
    await touched;
    const seen = await store.q.sql.all<{ n: number }>("SELECT count(*)::int AS n FROM agents WHERE id LIKE 't%' AND last_seen_at = '2024-05-02T00:00:00.000Z'");
    assert.deepEqual(seen, [{ n: 250 }]);
  } finally {
    await holder.end();
    await probe.end();
  }
});

test("a member whose after-commit work throws gets that error; the group's other members their answers", async () => {
  await addAgent('a-1');
  await addAgent('a-2');
  const lanes = holdLanes();
  const late = new Error('after commit');
  const all = Promise.allSettled([
    store.transaction(
      async (tx) => {
        await tx.setAcked('a-1', 7);
        tx.afterCommit(() => {
          throw late;
        });
        return tx.grouped;
      },
      { ingestFor: 'a-1' },
    ),
    store.transaction(
      async (tx) => {
        await tx.setAcked('a-2', 8);
        return tx.grouped;
      },
      { ingestFor: 'a-2' },
    ),
  ]);
  await queued(2);
  lanes.release();
  await lanes.done;
  const [first, second] = await all;
  assert.deepEqual(first, { status: 'rejected', reason: late });
  assert.deepEqual(second, { status: 'fulfilled', value: true });
  // Committed all the same, as a transaction of its own would have been.
  const acked = await store.q.sql.all<{ id: string; acked_seq: number }>("SELECT id, acked_seq FROM agents WHERE id LIKE 'a-%' ORDER BY id");
  assert.deepEqual(acked, [
    { id: 'a-1', acked_seq: 7 },
    { id: 'a-2', acked_seq: 8 },
  ]);
});
