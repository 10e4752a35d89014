/**
 * The whole `usage-agent run` daemon killed with SIGKILL while it uploads, again and again, then
 * restarted: the usage-server must end with exactly the records the daemon's journal produced,
 * each once. Records come in the way a user's session agent hands them over: the real DaemonLink
 * (its own durable queue) over the daemon's session socket, a steady stream of input-events
 * records each carrying a unique number (in `keyboard`).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Journal, type NewRecord } from '../../src/journal/journal.js';
import { inputEvents, journalState, sessionLink, startAgent } from '../helpers/agent.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

test('kill -9 of the usage-agent daemon during uploads, repeated: the server holds exactly the journal records, each once', async (t) => {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const agent = await startAgent(t, {
    processes: { enabled: false },
    // A stress stream (tens of thousands of records) far above a real user's activity: the
    // per-user session budget would make it wait, which is not what this test is about.
    session: { limits: { recordsPerSecond: 100_000, recordsBurst: 1_000_000, bytesPerSecond: 1 << 30, bytesBurst: 1 << 30 } },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadBatchSize: 200, uploadIntervalMs: 100, maxBackoffMs: 300, requestTimeoutMs: 3000 },
  });
  const link = sessionLink(t, agent);

  let n = 0;
  const produce = () => {
    const batch: NewRecord[] = [];
    for (let i = 0; i < 100; i++) {
      n += 1;
      batch.push(inputEvents(n));
    }
    link.enqueue(batch);
  };
  const producer = setInterval(produce, 25);
  t.after(() => clearInterval(producer));

  const agentId = () => srv.query<{ id: string }>('SELECT id FROM agents')[0]?.id;
  const storedCount = () => srv.query<{ n: number }>('SELECT count(*) AS n FROM activity_records')[0]!.n;
  let midUpload = 0;
  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    // Kill once the server has taken something new since the last restart.
    const before = storedCount();
    const deadline = Date.now() + 30_000;
    while (storedCount() <= before && Date.now() < deadline) await sleep(5);
    assert.ok(storedCount() > before, `round ${round}: the restarted daemon uploads`);
    await sleep((round * 17) % 60);
    // Kill while the journal holds records the server has not acknowledged (an upload under way),
    // looking again for a moment if this instant happens to have none.
    let s = journalState(agent.dataDir);
    for (let i = 0; i < 100 && s.lastSeq <= s.acked; i++) {
      await sleep(2);
      s = journalState(agent.dataDir);
    }
    if (s.lastSeq > s.acked) midUpload += 1;
    await agent.kill9();
    await agent.restart();
  }
  assert.ok(midUpload >= rounds - 1, `the daemon was killed with records not yet acknowledged (${midUpload} of ${rounds} kills)`);

  // Stop producing; everything handed over reaches the daemon's journal and then the server.
  clearInterval(producer);
  assert.equal(await link.drain(60_000), true, 'the session queue drained into the daemon journal');
  const deadline = Date.now() + 60_000;
  let s = journalState(agent.dataDir);
  while ((s.acked < s.lastSeq || s.lastSeq < n) && Date.now() < deadline) {
    await sleep(50);
    s = journalState(agent.dataDir);
  }
  // Before the clean stop the server has everything; the stop itself journals the logoffs (16) of
  // the sessions it vouched for, which go up at the next start: nothing else may be left behind.
  const beforeStop = journalState(agent.dataDir);
  assert.equal(beforeStop.acked, beforeStop.lastSeq, 'the server acknowledged everything the journal produced');
  assert.equal(await agent.stop(), 0, 'clean stop');
  s = journalState(agent.dataDir);
  const j = Journal.open(join(agent.dataDir, 'journal.db'), { readonly: true });
  try {
    const tail = j.database.prepare('SELECT type, body FROM records WHERE seq > ?').all(beforeStop.acked) as Array<{ type: string; body: string }>;
    for (const r of tail) {
      const b = JSON.parse(r.body) as { code?: number; reason?: string };
      assert.deepEqual([r.type, b.code, b.reason], ['usage-event', 16, 'agent-stopped'], `only stop-time logoffs are journaled at the stop: ${r.body}`);
    }
  } finally {
    j.close();
  }
  s = beforeStop;
  assert.ok(s.lastSeq >= n, `every handed-over record was journaled (lastSeq ${s.lastSeq}, records ${n})`);

  // The server: seqs 1..lastSeq, each exactly once, under one agent identity.
  assert.equal(srv.query<{ n: number }>('SELECT count(*) AS n FROM agents')[0]!.n, 1, 'one identity across all restarts');
  const id = agentId()!;
  const seqs = srv
    .query<{ seq: number }>(
      `SELECT seq FROM activity_records WHERE agent_id = ? UNION ALL SELECT seq FROM process_records WHERE agent_id = ?
       UNION ALL SELECT seq FROM other_records WHERE agent_id = ? UNION ALL SELECT seq FROM usage_events WHERE agent_id = ? AND seq IS NOT NULL ORDER BY seq`,
      id,
      id,
      id,
      id,
    )
    .map((r) => r.seq);
  assert.equal(seqs.length, s.lastSeq, 'as many stored records as the journal produced');
  assert.deepEqual(
    seqs,
    Array.from({ length: s.lastSeq }, (_, i) => i + 1),
    'seqs 1..lastSeq, none missing, none twice',
  );
  // And the records themselves: every handed-over record once (no resend journaled under a new seq).
  const markers = srv
    .query<{ k: number }>("SELECT keyboard AS k FROM activity_records WHERE agent_id = ? AND type = 'input-events' ORDER BY keyboard", id)
    .map((r) => r.k);
  assert.equal(markers.length, n);
  assert.deepEqual(
    markers,
    Array.from({ length: n }, (_, i) => i + 1),
  );
  t.diagnostic(`${rounds} kills (${midUpload} with unacknowledged records), ${n} records handed over, journal lastSeq ${s.lastSeq}`);
});
