import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { enforceBound, MAX_RUN_RECORDS, summarize, usedBytes } from '../../src/journal/bound.js';
import { Journal } from '../../src/journal/journal.js';
import { planIngest } from '../../src/server/ingest.js';
import { UplinkClient } from '../../src/uplink/client.js';
import { Uploader } from '../../src/uplink/uploader.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

test('summaries: one per program and user, sums and time ranges kept, nesting counts records', () => {
  const pi = (user: string, exe: string, cpu: number, s: string, e: string, pid: number, compacted?: number) => ({
    type: 'process-interval',
    time: e,
    fields: { user, exe, cpuSeconds: cpu, intervalStart: s, intervalEnd: e, pid, maxRssBytes: cpu * 10, ...(compacted ? { compacted } : {}) },
  });
  const out = summarize([
    pi('a', '/bin/x', 1, '2024-05-01T00:00:00Z', '2024-05-01T01:00:00Z', 1),
    pi('a', '/bin/x', 2, '2024-05-01T01:00:00Z', '2024-05-01T02:00:00Z', 2, 3),
    pi('b', '/bin/x', 4, '2024-05-01T00:00:00Z', '2024-05-01T01:00:00Z', 3),
    { type: 'input-events', time: 't1', fields: { user: 'a', application: '/bin/x', keyboard: 5, mouse: 1, start: 't0', end: 't1' } },
    { type: 'input-events', time: 't2', fields: { user: 'a', application: '/bin/x', keyboard: 2, mouse: 0, start: 't1', end: 't2' } },
  ]);
  assert.deepEqual(out, [
    {
      type: 'process-interval',
      time: '2024-05-01T01:00:00Z',
      fields: {
        user: 'a',
        exe: '/bin/x',
        cpuSeconds: 3,
        intervalStart: '2024-05-01T00:00:00Z',
        intervalEnd: '2024-05-01T02:00:00Z',
        pid: null,
        maxRssBytes: 20,
        compacted: 4,
        cpuUserSeconds: 0,
        cpuSystemSeconds: 0,
        readBytes: 0,
        writeBytes: 0,
        elapsedSeconds: 0,
      },
    },
    {
      type: 'process-interval',
      time: '2024-05-01T01:00:00Z',
      fields: {
        user: 'b',
        exe: '/bin/x',
        cpuSeconds: 4,
        intervalStart: '2024-05-01T00:00:00Z',
        intervalEnd: '2024-05-01T01:00:00Z',
        pid: 3,
        maxRssBytes: 40,
        compacted: 1,
      },
    },
    { type: 'input-events', time: 't1', fields: { user: 'a', application: '/bin/x', keyboard: 7, mouse: 1, start: 't0', end: 't2', compacted: 2 } },
  ]);
});

test('server ack rule with covering records: a range is acknowledged by its one record', () => {
  assert.deepEqual(
    planIngest(0, [1, 2, 3], [undefined, 10, undefined]),
    { store: [0, 1], duplicates: 1, ackedThroughSeq: 10 },
    'a seq inside a covered range is a duplicate',
  );
  assert.deepEqual(planIngest(0, [1, 2, 12], [undefined, 10, undefined]), {
    store: [0, 1],
    duplicates: 0,
    ackedThroughSeq: 10,
    gap: { expectedSeq: 11, receivedSeq: 12 },
  });
  assert.deepEqual(planIngest(0, [1, 2, 11], [undefined, 10, undefined]), { store: [0, 1, 2], duplicates: 0, ackedThroughSeq: 11 });
  // Part of the range was stored before (originals), the covering record advances over the rest.
  assert.deepEqual(planIngest(5, [2, 11], [10, undefined]), { store: [1], duplicates: 1, ackedThroughSeq: 11 });
  // A bogus throughSeq (below seq, not an integer) is ignored.
  assert.deepEqual(planIngest(0, [1, 2], [0.5, 1]), { store: [0, 1], duplicates: 0, ackedThroughSeq: 2 });
});

test('a full journal compacts, then drops, never touches license events or process records, and uploads without a gap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bounded-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const pad = 'x'.repeat(300);
  let usage = 0;
  let procs = 0;
  for (let h = 0; h < 400; h++) {
    const hour = new Date(Date.UTC(2024, 4, 1) + h * 3600_000).toISOString();
    const next = new Date(Date.UTC(2024, 4, 1) + (h + 1) * 3600_000).toISOString();
    for (let p = 0; p < 20; p++)
      journal.append({
        type: 'process-interval',
        time: next,
        user: `u${p % 3}`,
        exe: `/usr/bin/prog${p % 5}`,
        pid: 1000 + p,
        cpuSeconds: 1,
        intervalStart: hour,
        intervalEnd: next,
        note: pad,
      });
    for (let a = 0; a < 5; a++)
      journal.append({
        type: 'input-events',
        time: next,
        user: `u${a % 2}`,
        application: `/usr/bin/prog${a}`,
        keyboard: 10,
        mouse: 5,
        start: hour,
        end: next,
        note: pad,
      });
    if (h % 10 === 0) {
      journal.append({ type: 'usage-event', time: hour, code: 3, product: 'cad', user: 'u1', note: pad });
      journal.append({ type: 'process', time: next, user: 'u1', pid: 1, exe: '/bin/cad', note: pad });
      usage++;
      procs++;
    }
  }
  journal.flush();
  const lastSeq = journal.lastSeq();
  const before = usedBytes(journal.database);
  const cpuTotal = 400 * 20;

  // Step 1: a bound that compaction alone can meet.
  const r1 = enforceBound(journal, Math.floor(before * 0.5));
  assert.ok(r1.compactedRecords > 0 && r1.droppedRecords === 0, JSON.stringify(r1));
  assert.ok(r1.usedBytesAfter <= before * 0.5, JSON.stringify(r1));
  const afterCompaction = journal.read({ types: ['process-interval'] });
  assert.equal(
    afterCompaction.reduce((s, r) => s + (r.cpuSeconds as number), 0),
    cpuTotal,
    'CPU seconds survive compaction',
  );
  assert.equal(
    afterCompaction.reduce((s, r) => s + ((r.compacted as number) ?? 1), 0),
    400 * 20,
  );

  // Step 2: a bound only dropping can meet (compacting everything left takes it to about a quarter:
  // each record's chain and MAC columns are part of what a summary saves).
  const r2 = enforceBound(journal, Math.floor(r1.usedBytesAfter * 0.2));
  assert.ok(r2.droppedRecords > 0, JSON.stringify(r2));
  const drops = journal.read({ types: ['journal-drop'] });
  assert.ok(drops.length > 0);
  assert.equal(
    drops.reduce((s, r) => s + (r.droppedRecords as number), 0),
    r2.droppedRecords,
  );
  assert.equal(drops[0]!.reason, 'journal.maxBytes');
  // Protected records are all still there.
  assert.equal(journal.read({ types: ['usage-event'] }).length, usage);
  assert.equal(journal.read({ types: ['process'] }).length, procs);
  assert.equal(journal.lastSeq(), lastSeq);

  // Upload: the server ends at lastSeq with no gap, the protected records and the drops stored.
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const client = new UplinkClient({
    url: srv.url,
    enrollSecret: TEST_ENROLL_SECRET,
    requestTimeoutMs: 5000,
    dataDir: dir,
    hostname: 'ws',
    nextSeq: () => journal.ackedThroughSeq() + 1,
  });
  t.after(() => client.close());
  const up = new Uploader(journal, client, { batchSize: 500, intervalMs: 10, maxBackoffMs: 100, hostname: 'ws' });
  let r: string;
  while ((r = await up.uploadOnce()) === 'more');
  assert.equal(r, 'idle');
  assert.equal(journal.ackedThroughSeq(), lastSeq);
  assert.deepEqual(srv.query('SELECT acked_seq FROM agents'), [{ acked_seq: lastSeq }]);
  assert.equal(srv.query("SELECT count(*) AS n FROM usage_events WHERE origin = 'agent'")[0].n, usage);
  assert.equal(srv.query("SELECT count(*) AS n FROM process_records WHERE type = 'process'")[0].n, procs);
  assert.equal(srv.query("SELECT count(*) AS n FROM other_records WHERE type = 'journal-drop'")[0].n, drops.length);
});

test('compaction never rewrites records that are in flight to the server', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ua-bound-inflight-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const pad = 'p'.repeat(300);
  for (let i = 0; i < 2000; i++) {
    journal.append({
      type: 'process-interval',
      time: new Date(Date.UTC(2024, 4, 1, 0, 0, i)).toISOString(),
      user: 'a',
      exe: '/bin/x',
      cpuSeconds: 1,
      pid: i,
      pad,
    });
  }
  journal.flush();
  const original = journal.read({ afterSeq: 0, limit: 1000 });
  // An upload batch of seqs 1..1000 was read and sent; its answer has not come back yet.
  journal.uploadReservedThroughSeq = 1000;
  const r = enforceBound(journal, Math.floor(usedBytes(journal.database) * 0.5));
  assert.ok(r.compactedRecords > 0, 'the records after the batch were compacted');
  assert.deepEqual(journal.read({ afterSeq: 0, limit: 1000 }), original, 'the in-flight records are untouched');
  const after = journal.read({ afterSeq: 1000 });
  assert.ok(after.length < 1000 && after[0]!.seq === 1001, 'compaction started right after the batch');
});

test('a long stretch of compactable records is compacted in runs of at most MAX_RUN_RECORDS (bounded memory per transaction)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bounded-long-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const journal = Journal.open(join(dir, 'journal.db'));
  t.after(() => journal.close());
  const total = MAX_RUN_RECORDS * 2 + 500;
  const pad = 'x'.repeat(200);
  for (let i = 0; i < total; i++) {
    const s = new Date(Date.UTC(2024, 4, 1) + i * 60_000).toISOString();
    const e = new Date(Date.UTC(2024, 4, 1) + (i + 1) * 60_000).toISOString();
    journal.append({
      type: 'process-interval',
      time: e,
      user: 'ann',
      exe: '/opt/cad/bin/cad',
      pid: 42,
      cpuSeconds: 1,
      intervalStart: s,
      intervalEnd: e,
      note: pad,
    });
  }
  journal.flush();
  const r = enforceBound(journal, Math.floor(usedBytes(journal.database) / 3));
  assert.equal(r.droppedRecords, 0);
  assert.ok(r.compactedRecords >= 2 * MAX_RUN_RECORDS, `compacted ${r.compactedRecords}`);
  const left = journal.read();
  // One summary per run (one user, one program), each standing for at most MAX_RUN_RECORDS.
  assert.deepEqual(
    left.slice(0, 2).map((x) => [x.seq, x.compacted, x.throughSeq]),
    [
      [1, MAX_RUN_RECORDS, MAX_RUN_RECORDS],
      [MAX_RUN_RECORDS + 1, MAX_RUN_RECORDS, 2 * MAX_RUN_RECORDS],
    ],
  );
  assert.ok(left.every((x) => ((x.compacted as number | undefined) ?? 1) <= MAX_RUN_RECORDS));
  assert.equal(
    left.reduce((sum, x) => sum + ((x.compacted as number | undefined) ?? 1), 0),
    total,
    'every record accounted for',
  );
});
