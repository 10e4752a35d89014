/**
 * Hostile local users on the session channel, against a real daemon: a user who floods is made to
 * wait (per-user budget, shared by all of that user's connections) while another user's records
 * are taken at once, and nothing of the flood is lost or doubled; a user cannot hold more than
 * session.limits.maxAgentsPerUser connections; idle unauthenticated connections push out other
 * idle ones, never an authenticating user. The test runs as root, so it can read any uid's token
 * file and speak for two uids.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../helpers/agent.js';
import { connect, session } from '../helpers/session-peer.js';

const work = (id: number) => {
  const t = new Date(Date.UTC(2026, 11, 1, 9, 0, id)).toISOString();
  return { id, record: { type: 'work', time: t, start: t, end: t, durationSeconds: 1, periodType: 'extended', keyboard: 3, mouse: 1, switch: 0 } };
};
const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => work(from + i));

async function daemon(t: Parameters<typeof startAgent>[0], limits: Record<string, number>) {
  const agent = await startAgent(t, { processes: { enabled: false }, session: { limits } });
  const socketPath = join(agent.dataDir, 'agent.sock');
  for (let i = 0; i < 300 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 50));
  return { agent, socketPath };
}

test('a flooding user waits for budget, another user is served at once, and no record is lost or doubled', async (t) => {
  const { agent, socketPath } = await daemon(t, { recordsPerSecond: 10, recordsBurst: 100 });
  const a = await session(socketPath, 60_001, 'flood');
  const b = await session(socketPath, 60_002, 'calm');
  assert.equal(a.welcome.kind, 'welcome');
  assert.equal(b.welcome.kind, 'welcome');

  // The burst, then one batch into debt (100 records at 10/s: 10 s to pay back)...
  a.send({ kind: 'records', items: batch(1, 100) });
  assert.equal((await a.next('ack')).through, 100);
  let mark = a.messages.length;
  a.send({ kind: 'records', items: batch(101, 100) });
  assert.equal((await a.next('ack', mark)).through, 200);
  // ...so the next batch waits, and a resent old batch waits with it (order is kept).
  mark = a.messages.length;
  a.send({ kind: 'records', items: batch(201, 100) });
  a.send({ kind: 'records', items: batch(101, 100) });
  b.send({ kind: 'records', items: batch(1, 10) });
  const bAck = await b.next('ack');
  assert.deepEqual([bAck.through, bAck.accepted], [10, 10]);
  assert.equal(a.messages.slice(mark).filter((m) => m.kind === 'ack').length, 0, 'the other user was answered while the flooding one waits');
  const waiting = agent.journalRecords().filter((r) => r.type === 'work');
  assert.equal(waiting.filter((r) => r.uid === 60_001).length, 200, 'nothing of the waiting batch is in the journal yet');

  const third = await a.next('ack', mark);
  assert.deepEqual([third.through, third.accepted, third.duplicates], [300, 100, 0]);
  const resent = a.messages.slice(a.messages.indexOf(third) + 1).find((m) => m.kind === 'ack') ?? (await a.next('ack', a.messages.indexOf(third) + 1));
  assert.deepEqual([resent.through, resent.accepted, resent.duplicates], [300, 0, 100]);

  const recs = await agent.waitFor((rs) => rs.filter((r) => r.type === 'work').length === 310, 30_000, '310 work records');
  const ofA = recs.filter((r) => r.type === 'work' && r.uid === 60_001).map((r) => String(r.start));
  assert.equal(ofA.length, 300);
  assert.equal(new Set(ofA).size, 300, "each of the flooding user's records once");
  assert.equal(recs.filter((r) => r.type === 'work' && r.uid === 60_002).length, 10);
  // status.json is rewritten every few seconds: the waits are counted there once it is.
  let sessions: Record<string, any> = {};
  for (let i = 0; i < 60 && !(sessions.budgetWaits >= 1); i++) {
    sessions = agent.status().daemon?.components?.sessions ?? {};
    if (!(sessions.budgetWaits >= 1)) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(sessions.budgetWaits >= 1, JSON.stringify(sessions));
  assert.equal(sessions.limits.recordsBurst, 100);
});

test('a user holds at most maxAgentsPerUser connections; other users still connect', async (t) => {
  const { socketPath } = await daemon(t, { maxAgentsPerUser: 2 });
  const a1 = await session(socketPath, 60_011, 'a1');
  const a2 = await session(socketPath, 60_011, 'a2');
  const a3 = await session(socketPath, 60_011, 'a3');
  assert.equal(a1.welcome.kind, 'welcome');
  assert.equal(a2.welcome.kind, 'welcome');
  assert.equal(a3.welcome.kind, 'error');
  assert.match(String(a3.welcome.message), /too many session agents for this user \(2 connected; session\.limits\.maxAgentsPerUser\)/);
  assert.equal((await session(socketPath, 60_012, 'b1')).welcome.kind, 'welcome');
  a1.socket.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await session(socketPath, 60_011, 'a4')).welcome.kind, 'welcome');
});

test('idle unauthenticated connections push out the oldest idle one, not a user who authenticates', async (t) => {
  const { socketPath } = await daemon(t, {});
  const idle = Array.from({ length: 80 }, () => connect(socketPath));
  t.after(() => idle.forEach((s) => s.socket.destroy()));
  await Promise.all(idle.map((s) => new Promise<void>((r) => (s.socket.readyState === 'open' ? r() : s.socket.once('connect', () => r())))));
  const user = await session(socketPath, 60_021, 'q');
  assert.equal(user.welcome.kind, 'welcome');
  const pushedOut = idle.filter((s) => s.messages.some((m) => m.kind === 'error' && m.message === 'too many connections waiting to authenticate'));
  assert.ok(pushedOut.length >= 80 - 64 + 1, `${pushedOut.length} pushed out`);
  assert.ok(pushedOut.includes(idle[0]!), 'the oldest goes first');
});
