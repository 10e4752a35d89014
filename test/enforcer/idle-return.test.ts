/**
 * Idle harvesting end to end, with the user coming back: a real usage-server, the real enforcer,
 * uplink and session channel in-process, a real session agent (`usage-agent session`: uiohook +
 * X11 focus) on Xvfb with openbox, and a real X client as the controlled program (a copy of xlogo
 * named like the product's executable). xdotool is the user.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { startAgentProcess, writeConfig } from '../helpers/session.js';
import { activate, killChild, startXClient, startXvfb, xdotool, type XServer } from '../helpers/x11.js';
import { waitFor } from '../helpers/wait.js';
import { exited, procState, startRig, type TestAgentRig } from './harness.js';

/** Unique per test process, so a concurrent test run's programs are never matched by this one. */
const EXE = `cadx-${process.pid}`;
const codes = (evs: Array<{ code: number }>) => evs.map((e) => e.code);

async function server(t: { after(fn: () => Promise<void>): void }, product: Record<string, unknown>): Promise<TestServer> {
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: [EXE], paths: [] }, leaseTtlSeconds: 3, graceSeconds: 3, ...product }],
  });
  t.after(() => srv.cleanup());
  return srv;
}

const liveLeases = (srv: TestServer) =>
  srv.query<{ id: string; pid: number; user: string }>("SELECT id, pid, user FROM leases WHERE ended_at IS NULL AND product_id = 'cad'");

/** Xvfb + openbox, the controlled X program (focused) and a session agent connected to the rig. */
async function desktop(
  t: { after(fn: () => void | Promise<void>): void },
  rig: TestAgentRig,
): Promise<{ x: XServer; pid: number; window: string; exe: string }> {
  const x = await startXvfb({ wm: true });
  t.after(() => x.stop());
  const dir = join(rig.dataDir, 'bin-x');
  mkdirSync(dir);
  const exe = join(dir, EXE);
  copyFileSync('/usr/bin/xlogo', exe);
  const app = await startXClient(x, exe, [], 'XLogo');
  t.after(async () => {
    // A stopped program would hold SIGTERM pending: continue it first.
    if (app.child.pid && app.child.exitCode === null) process.kill(app.child.pid, 'SIGCONT');
    await killChild(app.child);
  });
  await activate(x, app.window);
  // Input-events intervals of 5 s instead of a minute: a record's end (the interval end) counts as
  // the last input, so a minute would push the idle clock back by up to 60 s in these short tests.
  const config = writeConfig(rig.dataDir, { activity: { inputEventIntervalSeconds: 5 } });
  const session = startAgentProcess(
    ['session', '--config', config, '--socket', rig.socketPath!, '--queue', join(rig.dataDir, 'queue.db'), '--log-level', 'info'],
    join(rig.dataDir, 'session.log'),
    {
      env: x.env,
    },
  );
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  return { x, pid: app.child.pid!, window: app.window, exe: readlinkSync(`/proc/${app.child.pid}/exe`) };
}

/** The user moves the mouse over the program's window (it has the focus). */
const nudge = (x: XServer, window: string) =>
  xdotool(x, 'mousemove', '--window', window, '30', '30', 'mousemove', '--window', window, '60', '45', 'click', '1');

/** waitFor, and on a timeout what the enforcer, the server and the session agent saw. */
function waitSeen<T>(rig: TestAgentRig, fn: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T> {
  return waitFor(fn, what, timeoutMs, {
    detail: () => {
      let session = '';
      try {
        session = readFileSync(join(rig.dataDir, 'session.log'), 'utf8').slice(-3000);
      } catch {
        /* no session agent in this test */
      }
      const status = rig.components.find((c) => c.name === 'enforcer')!.status!();
      return `\nenforcer: ${JSON.stringify(status)}\nserver: ${JSON.stringify(rig.serverEvents())}\nshown: ${JSON.stringify(rig.notifier.shown.map((n) => n.title))}\nsession agent:\n${session}`;
    },
  });
}

/** A notification the session channel delivered to the session agent. */
const shownTitle = (rig: TestAgentRig, title: string) => rig.notifier.shown.find((n) => n.title === title);

test('idle suspend on a desktop: asked, released and paused; the user clicks in its window -> the same (user, product) gets a lease again and it continues', async (t) => {
  // 10 s: after the return the checks below must be done before it could be idle again, even on a
  // loaded machine.
  const srv = await server(t, { onDeny: 'suspend', queue: true, idle: { afterSeconds: 10, action: 'suspend' } });
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 1 } }, { sessions: 'socket' });
  const signals: Array<{ application: string; at: number }> = [];
  rig.sessionServer!.onActivity((a) => signals.push(a));
  const d = await desktop(t, rig);
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(3), 'launch under a lease');
  const [first] = liveLeases(srv);
  assert.equal(first!.pid, d.pid);
  nudge(d.x, d.window); // some work in it, then the user leaves
  const ask = await waitSeen(rig, () => shownTitle(rig, 'CAD Pro: are you still using it?'), 'the question, shown through the session agent');
  assert.match(
    ask.body,
    /^CAD Pro has had no input for \d+ s\. Unless you use it before \d\d:\d\d:\d\d UTC, its license will be released and CAD Pro paused\.$/,
  );
  await waitSeen(rig, () => procState(d.pid) === 'T', 'program stopped (SIGSTOP)');
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(2), 'return on the server');
  assert.equal(liveLeases(srv).length, 0, 'the seat is free for others while the user is away');
  assert.deepEqual(
    rig.serverEvents().map((e) => [e.code, e.reason]),
    [
      [1, null],
      [3, null],
      [4, 'idle'],
      [2, 'idle'],
    ],
  );
  assert.ok(shownTitle(rig, 'CAD Pro paused'));
  assert.equal(procState(d.pid), 'T', 'stays paused while nobody uses it');

  // The user is back: input in the paused program's window.
  const backAt = Date.now();
  nudge(d.x, d.window);
  await waitSeen(rig, () => signals.some((s) => s.application === d.exe && s.at >= backAt), "the session agent's live activity signal for the program");
  await waitSeen(rig, () => ['S', 'R'].includes(procState(d.pid) ?? ''), 'program continued (SIGCONT)');
  await waitSeen(rig, () => codes(rig.serverEvents()).length === 6, 'obtain and launch again on the server');
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [1, 3, 4, 2, 1, 3]);
  assert.equal(evs[5]!.pid, d.pid);
  assert.ok(Date.parse(evs[5]!.time) > Date.parse(evs[3]!.time), 'the new licensed run starts at the grant, after the release');
  const live = liveLeases(srv);
  assert.equal(live.length, 1, 'one lease again');
  assert.notEqual(live[0]!.id, first!.id, 'a new lease (the first was released)');
  assert.deepEqual([live[0]!.pid, live[0]!.user], [d.pid, first!.user]);
  assert.equal(srv.query("SELECT 1 FROM leases WHERE product_id = 'cad'").length, 2, 'two leases in all: never two at once');
  const back = await waitSeen(rig, () => shownTitle(rig, 'CAD Pro: your license is back'), 'welcome back notification');
  assert.equal(back.body, 'Welcome back. A license was granted again and CAD Pro continues.');
  const status = rig.components.find((c) => c.name === 'enforcer')!.status!() as { leases: Array<Record<string, unknown>> };
  assert.deepEqual(
    status.leases.map((l) => [l.phase, l.reason, l.leaseId, l.pids]),
    [['held', null, live[0]!.id, [d.pid]]],
  );
});

test('input during the warning keeps the license: nothing released at the deadline; staying away afterwards still releases it', async (t) => {
  const srv = await server(t, { idle: { afterSeconds: 6, action: 'suspend' } });
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 5 } }, { sessions: 'socket' });
  const d = await desktop(t, rig);
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(3), 'launch under a lease');
  const [lease] = liveLeases(srv);
  nudge(d.x, d.window);
  await waitSeen(rig, () => shownTitle(rig, 'CAD Pro: are you still using it?'), 'the question');
  const askedAt = Date.now();
  nudge(d.x, d.window); // the user answers by using it
  const kept = await waitSeen(rig, () => shownTitle(rig, 'CAD Pro: license kept'), '"license kept"');
  assert.equal(kept.body, 'Welcome back; your CAD Pro license is kept.');
  // Idle again: asked a second time, which is after the first deadline (asked + 5 s).
  await waitSeen(rig, () => rig.notifier.shown.filter((n) => n.title === 'CAD Pro: are you still using it?').length === 2, 'the second question');
  assert.ok(Date.now() > askedAt + 5000, 'the first deadline has passed');
  assert.deepEqual(codes(rig.serverEvents()), [1, 3], 'nothing was released at the first deadline');
  assert.deepEqual(
    liveLeases(srv).map((l) => l.id),
    [lease!.id],
    'the same lease is still held',
  );
  assert.equal(['S', 'R'].includes(procState(d.pid) ?? ''), true, 'never paused');
  // Not answered this time: released and paused.
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(2), 'release after the second deadline');
  await waitSeen(rig, () => procState(d.pid) === 'T', 'paused');
});

test('idle release (program kept running), the per-minute input records only: the next record with input in it gets the license back', async (t) => {
  const srv = await server(t, { idle: { afterSeconds: 4, action: 'release' } });
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 1 } });
  const prog = rig.launch(EXE);
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(3), 'launch');
  const exe = readlinkSync(`/proc/${prog.pid}/exe`);
  // What the daemon journals for a session agent's input-events record.
  const input = () => {
    const now = Date.now();
    rig.ctx.journal.append({
      type: 'input-events',
      time: new Date(now - 1000).toISOString(),
      user: 'root',
      application: exe,
      start: new Date(now - 1000).toISOString(),
      end: new Date(now).toISOString(),
      durationSeconds: 1,
      keyboard: 2,
      mouse: 0,
      switch: 0,
    });
  };
  input();
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(2), 'idle release');
  assert.equal(liveLeases(srv).length, 0);
  assert.equal(rig.notifier.shown.at(-1)!.title, 'CAD Pro: license released');
  input();
  await waitSeen(rig, () => codes(rig.serverEvents()).length === 6, 'obtain + launch again');
  input(); // the user keeps working: not idle again before the quit below
  assert.deepEqual(
    rig.serverEvents().map((e) => [e.code, e.reason]),
    [
      [1, null],
      [3, null],
      [4, 'idle'],
      [2, 'idle'],
      [1, null],
      [3, null],
    ],
  );
  assert.equal(liveLeases(srv).length, 1);
  const back = await waitSeen(rig, () => rig.notifier.shown.find((n) => n.title === 'CAD Pro: your license is back'), 'welcome back');
  assert.equal(back.body, 'Welcome back. CAD Pro is licensed again.');
  assert.equal(['S', 'R'].includes(procState(prog.pid!) ?? ''), true, 'release only: never stopped');
  prog.kill('SIGTERM');
  await exited(prog);
  await waitSeen(rig, () => codes(rig.serverEvents()).length === 8, 'quit and return');
  assert.deepEqual(
    rig
      .serverEvents()
      .slice(6)
      .map((e) => [e.code, e.reason]),
    [
      [4, null],
      [2, 'quit'],
    ],
  );
  assert.equal(liveLeases(srv).length, 0);
});

test('idle terminate: closed after the question, nothing left behind (no lease, no entry); a new start is a fresh launch', async (t) => {
  const srv = await server(t, { idle: { afterSeconds: 2, action: 'terminate' } });
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 1, killAfterSeconds: 1 } });
  const prog = rig.launch(EXE);
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(3), 'launch');
  const exe = readlinkSync(`/proc/${prog.pid}/exe`);
  const now = Date.now();
  rig.ctx.journal.append({
    type: 'input-events',
    time: new Date(now).toISOString(),
    user: 'root',
    application: exe,
    start: new Date(now).toISOString(),
    end: new Date(now).toISOString(),
    durationSeconds: 0,
    keyboard: 1,
    mouse: 0,
    switch: 0,
  });
  const end = await exited(prog);
  assert.equal(end.signal, 'SIGTERM');
  await waitSeen(rig, () => codes(rig.serverEvents()).includes(2), 'return');
  const status = () => rig.components.find((c) => c.name === 'enforcer')!.status!() as { leases: unknown[] };
  await waitSeen(rig, () => status().leases.length === 0, 'the entry is gone with its process');
  assert.equal(liveLeases(srv).length, 0);
  const again = rig.launch(EXE);
  await waitSeen(rig, () => codes(rig.serverEvents()).length === 6, 'fresh obtain + launch');
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [1, 3, 4, 2, 1, 3]);
  assert.equal(evs[5]!.pid, again.pid);
  assert.equal(liveLeases(srv).length, 1);
});
