/**
 * Seeded fuzzer for the session socket protocol against a real daemon: connections that send
 * mutated hello/auth/records/status/activity/notified messages, wrong kinds in every state, random
 * bytes and over-long lines. The daemon must stay up and keep serving a well-behaved session, its
 * memory bounded, its journal intact, and nothing but activity records may enter it from a
 * session. FUZZ_SEED / FUZZ_CASES replay or lengthen the run.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { startAgent } from '../helpers/agent.js';
import { fuzzCases, fuzzSeed, mutate, randomJson, Rng, rssKiB } from '../helpers/fuzz.js';
import { connect, session } from '../helpers/session-peer.js';

const ACTIVITY = new Set(['break', 'work', 'input-events']);
const T = '2026-12-01T09:00:00.000Z';

function validMessages(rng: Rng, uid: number, tokenPath: string): Array<Record<string, unknown>> {
  const rec = (id: number) => ({
    id,
    record: rng.pick([
      { type: 'work', time: T, start: T, end: T, durationSeconds: 2, periodType: 'extended', keyboard: 1, mouse: 1, switch: 0 },
      { type: 'break', time: T, start: T, end: T, durationSeconds: 7, breakType: 'micro' },
      { type: 'input-events', time: T, start: T, end: T, durationSeconds: 60, application: '/usr/bin/cad', keyboard: 10, mouse: 4 },
      { type: 'process', time: T, start: T, end: T, durationSeconds: 1, pid: 1, command: 'forged' },
      { type: 'usage-event', time: T, start: T, end: T, durationSeconds: 1, code: 1, product: 'cad' },
    ]),
  });
  let token = '';
  try {
    token = readFileSync(tokenPath, 'utf8');
  } catch {
    // Not written yet (no hello for this uid so far): a wrong token is a case too.
  }
  return [
    {
      v: 1,
      kind: 'hello',
      uid,
      pid: 1234,
      queueId: `fz${uid}`,
      input: { mode: 'hooks', source: 'x', focus: 'y', sessionEvents: 'z' },
      display: ':0',
      session: '3',
    },
    { v: 1, kind: 'auth', token },
    { v: 1, kind: 'records', items: Array.from({ length: 1 + rng.int(5) }, () => rec(1 + rng.int(50))) },
    { v: 1, kind: 'status', input: { mode: 'idle-poll', source: 'a', focus: 'b', sessionEvents: 'c' } },
    { v: 1, kind: 'activity', application: '/usr/bin/cad' },
    { v: 1, kind: 'notified', id: 'n1', shown: true },
  ];
}

test('session socket fuzz: the daemon stays up, bounded, intact, and takes only activity records from sessions', async (t) => {
  const agent = await startAgent(t, {
    processes: { enabled: false },
    session: { limits: { recordsPerSecond: 100_000, recordsBurst: 1_000_000, bytesPerSecond: 1 << 30, bytesBurst: 1 << 30 } },
  });
  const socketPath = join(agent.dataDir, 'agent.sock');
  for (let i = 0; i < 300 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 50));
  const seed = fuzzSeed('session-socket');
  const cases = fuzzCases(2000);
  const rng = new Rng(seed);
  const pid = agent.child.pid!;
  const rssBefore = rssKiB(pid);
  let sent = 0;
  while (sent < cases) {
    const uid = 61_000 + rng.int(4);
    const s = connect(socketPath);
    await new Promise<void>((r) => {
      s.socket.once('connect', () => r());
      s.socket.once('error', () => r());
    });
    const script = 1 + rng.int(12);
    for (let k = 0; k < script && sent < cases; k++, sent++) {
      const valid = validMessages(rng, uid, join(agent.dataDir, 'tokens', String(uid)));
      // Mostly the protocol in order, mutated; sometimes out of order, random, or not JSON at all.
      const pick = rng.int(10);
      let line: string | Buffer;
      if (pick < 5) line = JSON.stringify(valid[Math.min(k, valid.length - 1)]);
      else if (pick < 7) line = JSON.stringify(mutate(rng, rng.pick(valid)));
      else if (pick === 7) line = JSON.stringify(randomJson(rng, 3));
      else if (pick === 8) line = rng.bytes(1 + rng.int(300));
      else line = rng.chance(0.1) ? 'x'.repeat(1024 * 1024 + 10) : JSON.stringify({ ...rng.pick(valid), v: rng.pick([0, 2, '1', null]) });
      if (s.socket.destroyed) break;
      s.socket.write(Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from('\n')]));
      if (rng.chance(0.3)) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, rng.int(5)));
    s.socket.destroy();
  }
  assert.equal(agent.child.exitCode, null, `the daemon is still running: ${agent.stderr().slice(-2000)}`);
  // A well-behaved session is still served.
  const good = await session(socketPath, 61_100, 'after-fuzz');
  assert.equal(good.welcome.kind, 'welcome', JSON.stringify(good.welcome));
  good.send({
    kind: 'records',
    items: [{ id: 1, record: { type: 'work', time: T, start: T, end: T, durationSeconds: 9, periodType: 'extended', keyboard: 1, mouse: 1, switch: 0 } }],
  });
  const ack = await good.next('ack');
  assert.equal(ack.accepted, 1);
  good.socket.destroy();
  const grown = rssKiB(pid) - rssBefore;
  t.diagnostic(`session fuzz seed ${seed}: ${cases} messages, daemon rss +${grown} KiB`);
  assert.ok(grown < 200 * 1024, `daemon memory grew by ${grown} KiB`);

  await agent.stop();
  const db = new Database(join(agent.dataDir, 'journal.db'), { readonly: true });
  t.after(() => db.close());
  assert.deepEqual(db.prepare('PRAGMA integrity_check').all(), [{ integrity_check: 'ok' }]);
  const records = agent.journalRecords();
  const fromSessions = records.filter((r) => typeof r.uid === 'number' && (r.uid as number) >= 61_000 && ACTIVITY.has(String(r.type)));
  assert.ok(fromSessions.length > 1, 'the fuzzer got records through');
  const fuzzUid = (r: Record<string, unknown>) => typeof r.uid === 'number' && r.uid >= 61_000 && r.uid <= 61_100;
  for (const r of records) {
    assert.notEqual(r.command, 'forged', JSON.stringify(r));
    if (!fuzzUid(r) || ACTIVITY.has(String(r.type))) continue;
    // What the daemon itself writes about a session: its logon and logoff (usage events 15/16).
    assert.ok(r.type === 'usage-event' && [15, 16].includes(Number(r.code)), `only activity comes from sessions: ${JSON.stringify(r)}`);
  }
});
