import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { leaseRequest, startServer, type TestServer } from '../helpers/server.js';
import { startFaultProxy } from '../uplink/fault-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { exited, procState, startRig } from './harness.js';

async function server(
  t: { after(fn: () => Promise<void>): void },
  product: Record<string, unknown>,
  config: Record<string, unknown> = {},
): Promise<TestServer> {
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 1, match: { executables: [EXE], paths: [] }, leaseTtlSeconds: 3, graceSeconds: 3, ...product }],
    config,
  });
  t.after(() => srv.cleanup());
  return srv;
}

/** Unique per test process, so a concurrent test run's programs are never matched by this one. */
const EXE = `cadpro-${process.pid}`;

const codes = (evs: Array<{ code: number }>) => evs.map((e) => e.code);

test('grant: obtain and launch, renewals keep one lease, quit and return on exit', async (t) => {
  const srv = await server(t, { onDeny: 'notify', queue: false });
  const rig = await startRig(t, srv);
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch event on the server');
  const live = srv.query<{ id: string; pid: number; renewed_at: number | null }>(
    "SELECT id, pid, renewed_at FROM leases WHERE ended_at IS NULL AND product_id = 'cad'",
  );
  assert.equal(live.length, 1);
  assert.equal(live[0]!.pid, prog.pid);
  // Renewed at a third of the 3 s TTL: wait for a renewal to show on the server.
  await waitFor(() => srv.query('SELECT 1 FROM leases WHERE ended_at IS NULL AND renewed_at IS NOT NULL').length === 1, 'a renewal');
  prog.kill('SIGTERM');
  await exited(prog);
  await waitFor(() => codes(rig.serverEvents()).includes(2), 'return event');
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [1, 3, 4, 2]);
  assert.equal(evs[1]!.pid, prog.pid);
  const ended = srv.query<{ ended_at: number | null }>("SELECT ended_at FROM leases WHERE product_id = 'cad'");
  assert.equal(ended.length, 1);
  assert.notEqual(ended[0]!.ended_at, null, 'released on the server at once, not left to expire');
  assert.equal(rig.notifier.shown.length, 0);
});

test('two instances of one program share one lease', async (t) => {
  const srv = await server(t, { seats: 1 });
  const rig = await startRig(t, srv);
  const a = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'first launch');
  const b = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).filter((c) => c === 3).length === 2, 'second launch');
  assert.equal(srv.query("SELECT 1 FROM leases WHERE product_id = 'cad'").length, 1, 'one lease for both');
  a.kill('SIGTERM');
  await exited(a);
  await waitFor(() => codes(rig.serverEvents()).includes(4), 'first quit');
  assert.equal(srv.query('SELECT 1 FROM leases WHERE ended_at IS NULL').length, 1, 'still held while the second runs');
  b.kill('SIGTERM');
  await exited(b);
  await waitFor(() => codes(rig.serverEvents()).includes(2), 'return');
  assert.deepEqual(codes(rig.serverEvents()), [1, 3, 3, 4, 4, 2]);
  assert.equal(srv.query('SELECT 1 FROM leases WHERE ended_at IS NULL').length, 0);
});

async function takeSeat(srv: TestServer) {
  const other = await srv.enroll('other-ws');
  const r = await other.post('/v1/leases', leaseRequest({ product: 'cad', user: 'bob', host: 'other-ws' }));
  assert.equal(r.status, 201);
  return { other, leaseId: r.body.leaseId as string };
}

test('deny + notify: code 7, the user is told which product and that all seats are in use; the program keeps running', async (t) => {
  const srv = await server(t, { onDeny: 'notify', queue: false });
  await takeSeat(srv);
  const rig = await startRig(t, srv);
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(7), 'deny event');
  const n = await waitFor(() => rig.notifier.shown[0], 'notification');
  assert.equal(n.title, 'CAD Pro: no license available');
  assert.equal(n.body, 'The only seat of CAD Pro is in use. You may keep working; this use is recorded as unlicensed.');
  assert.equal(procState(prog.pid!) === 'S' || procState(prog.pid!) === 'R', true, 'still running');
  const rec = await waitFor(() => srv.query<{ data: string }>("SELECT data FROM other_records WHERE type = 'notification'")[0], 'notification record uploaded');
  const data = JSON.parse(rec.data) as Record<string, unknown>;
  assert.equal(data.body, n.body);
  assert.equal(data.delivered, true);
  assert.equal(data.product, 'cad');
});

test('deny + terminate: warning first, then SIGTERM after the warning delay', async (t) => {
  const srv = await server(t, { onDeny: 'terminate', queue: false });
  await takeSeat(srv);
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 1, killAfterSeconds: 1 } });
  const prog = rig.launch(EXE);
  const end = await exited(prog);
  assert.equal(end.signal, 'SIGTERM');
  const n = rig.notifier.shown[0]!;
  assert.equal(n.title, 'CAD Pro will be closed');
  assert.match(n.body, /^The only seat of CAD Pro is in use\. CAD Pro will be closed at \d\d:\d\d:\d\d UTC \(in 1 s\)\. Save your work now\.$/);
  await waitFor(() => codes(rig.serverEvents()).includes(7), 'deny event');
});

test('deny + queue + suspend: SIGSTOP while queued, SIGCONT and "ready" when the other holder quits', async (t) => {
  const srv = await server(t, { onDeny: 'suspend', queue: true });
  const { other, leaseId } = await takeSeat(srv);
  const rig = await startRig(t, srv);
  const prog = rig.launch(EXE);
  await waitFor(() => procState(prog.pid!) === 'T', 'program stopped');
  await waitFor(() => codes(rig.serverEvents()).includes(5), 'queue event');
  assert.match(rig.notifier.shown[0]!.body, /The only seat is in use\. CAD Pro is paused and you are number 1 in the queue/);
  assert.equal((await other.del(`/v1/leases/${leaseId}?reason=quit`)).status, 204);
  await waitFor(() => procState(prog.pid!) === 'S', 'program continued');
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch after dequeue');
  assert.deepEqual(codes(rig.serverEvents()), [5, 6, 1, 3]);
  assert.equal(rig.notifier.shown.at(-1)!.title, 'CAD Pro: your license is ready');
});

test('server down at launch: offline codes 10/11 with their real times reach the server after it comes back', async (t) => {
  const srv = await server(t, { offline: 'allow' });
  const rig = await startRig(t, srv);
  await srv.stop();
  const before = Date.now();
  const prog = rig.launch(EXE);
  await waitFor(() => rig.ctx.journal.read({ types: ['usage-event'] }).some((r) => r.code === 10), 'offline launch journaled');
  prog.kill('SIGTERM');
  await exited(prog);
  await waitFor(() => rig.ctx.journal.read({ types: ['usage-event'] }).some((r) => r.code === 11), 'offline quit journaled');
  const quitAt = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  await srv.restart();
  await waitFor(() => codes(rig.serverEvents()).includes(11), 'offline events uploaded');
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [10, 11]);
  assert.equal(evs[0]!.offline, 1);
  assert.equal(evs[0]!.pid, prog.pid);
  const launchT = Date.parse(evs[0]!.time);
  const quitT = Date.parse(evs[1]!.time);
  assert.ok(launchT >= before - 1000 && launchT <= quitT, 'launch time is when it started');
  assert.ok(quitT <= quitAt, 'quit time is when it quit, not when uploaded');
  assert.equal(srv.query('SELECT 1 FROM leases').length, 0, 'no lease was taken for a program that already ended');
});

test('server down mid-lease: warning with the deadline, then enforcement after expiry + grace', async (t) => {
  const srv = await server(t, { onDeny: 'terminate', leaseTtlSeconds: 3, graceSeconds: 2 });
  const rig = await startRig(t, srv);
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch');
  await srv.stop();
  const warn = await waitFor(() => rig.notifier.shown.find((n) => n.title === 'CAD Pro: license server unreachable'), 'warning');
  assert.match(
    warn.body,
    /^The license of CAD Pro could not be renewed\. If it cannot be renewed by (\d\d:\d\d:\d\d) UTC, CAD Pro will be closed at \1 UTC\. Save your work\.$/,
  );
  const end = await exited(prog);
  assert.equal(end.signal, 'SIGTERM');
  const local = rig.ctx.journal.read({ types: ['usage-event'] }).map((r) => [r.code, r.reason ?? null]);
  await srv.restart();
  await waitFor(() => codes(rig.serverEvents()).includes(11), 'all uploaded');
  assert.deepEqual(codes(rig.serverEvents()), [1, 3, 4, 2, 10, 7, 11]);
  // While the server was down the lease's end was journaled here, as lost, before the enforcement;
  // all of it reached the server afterwards.
  assert.deepEqual(
    local.slice(0, 2),
    [
      [4, 'lost'],
      [2, 'lost'],
    ],
    JSON.stringify(local),
  );
  for (const [code] of local) assert.ok(codes(rig.serverEvents()).includes(code as number), `local event ${code} uploaded`);
});

test('server back before expiry + grace: nothing enforced, same lease renewed, no second seat', async (t) => {
  const srv = await server(t, { onDeny: 'terminate', leaseTtlSeconds: 9, graceSeconds: 30 });
  const rig = await startRig(t, srv);
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch');
  const [first] = srv.query<{ id: string }>('SELECT id FROM leases');
  await srv.stop();
  await waitFor(() => rig.notifier.shown.find((n) => n.title === 'CAD Pro: license server unreachable'), 'warning');
  await srv.restart();
  await waitFor(() => rig.notifier.shown.find((n) => n.title === 'CAD Pro: license renewed'), 'renewed', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(rig.notifier.shown)} ${JSON.stringify(srv.query('SELECT * FROM leases'))}`);
  });
  assert.equal(procState(prog.pid!) === 'S', true, 'still running, not stopped');
  const leases = srv.query<{ id: string; ended_at: number | null }>('SELECT id, ended_at FROM leases');
  assert.deepEqual(
    leases.map((l) => l.id),
    [first!.id],
    'the same lease, never a second',
  );
  assert.equal(leases[0]!.ended_at, null);
  prog.kill('SIGTERM');
  await exited(prog);
  await waitFor(() => codes(rig.serverEvents()).includes(2), 'return');
  assert.deepEqual(codes(rig.serverEvents()), [1, 3, 4, 2]);
});

test('idle harvesting: no input in the program for the idle time -> asked first, then the lease is released', async (t) => {
  const srv = await server(t, { idle: { afterSeconds: 2, action: 'release' } });
  const rig = await startRig(t, srv, { leases: { terminateWarningSeconds: 1 } });
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch');
  const exe = readlinkSync(`/proc/${prog.pid}/exe`);
  // What the daemon journals for a session agent's report: input in this program, just now.
  rig.ctx.journal.append({
    type: 'input-events',
    time: new Date().toISOString(),
    user: 'root',
    application: exe,
    start: new Date(Date.now() - 1000).toISOString(),
    end: new Date().toISOString(),
    keyboard: 3,
    mouse: 1,
    switch: 0,
  });
  const ask = await waitFor(() => rig.notifier.shown.find((n) => n.title === 'CAD Pro: are you still using it?'), 'the question');
  assert.match(ask.body, /^CAD Pro has had no input for \d+ s\. Unless you use it before \d\d:\d\d:\d\d UTC, its license will be released for others\.$/);
  await waitFor(() => codes(rig.serverEvents()).includes(2), 'release');
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [1, 3, 4, 2]);
  assert.equal(evs[3]!.reason, 'idle');
  assert.equal(srv.query('SELECT 1 FROM leases WHERE ended_at IS NULL').length, 0, 'the seat is free for others');
  assert.equal(procState(prog.pid!) === 'S', true, 'release only: the program keeps running');
});

test('a user without a session agent gets the notification when they connect, if it still matters', async (t) => {
  const srv = await server(t, { onDeny: 'notify', queue: false });
  await takeSeat(srv);
  const rig = await startRig(t, srv);
  rig.notifier.users = []; // nobody connected
  rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(7), 'deny event');
  const first = await waitFor(() => srv.query<{ data: string }>("SELECT data FROM other_records WHERE type = 'notification'")[0], 'notification journaled');
  assert.equal((JSON.parse(first.data) as { delivered: boolean }).delivered, false);
  assert.equal(rig.notifier.shown.length, 0);
  rig.notifier.users = [{ uid: 0, user: 'root', sessions: 1 }]; // the session agent connects
  const shown = await waitFor(() => rig.notifier.shown[0], 'late delivery');
  assert.equal(shown.title, 'CAD Pro: no license available');
  const late = await waitFor(() => srv.query<{ data: string }>("SELECT data FROM other_records WHERE type = 'notification'")[1], 'late delivery journaled');
  assert.deepEqual([(JSON.parse(late.data) as { delivered: boolean }).delivered, (JSON.parse(late.data) as { late: boolean }).late], [true, true]);
});

test('logged programs: 8/9 while the server is reachable, no lease', async (t) => {
  const srv = await server(t, {});
  const logged = `ed-${process.pid}`;
  const rig = await startRig(t, srv, { leases: { loggedPrograms: [{ id: 'editor', executables: [logged] }] } });
  const prog = rig.launch(logged);
  await waitFor(() => codes(rig.serverEvents()).includes(8), 'logged launch');
  prog.kill('SIGTERM');
  await exited(prog);
  await waitFor(() => codes(rig.serverEvents()).includes(9), 'logged quit');
  const evs = rig.serverEvents();
  assert.deepEqual(
    evs.map((e) => [e.code, e.product, e.offline]),
    [
      [8, 'editor', 0],
      [9, 'editor', 0],
    ],
  );
  assert.equal(srv.query('SELECT 1 FROM leases').length, 0);
});

test('lease answer lost (server granted, the response never came): offline meanwhile, then the same lease on retry, one seat', async (t) => {
  const srv = await server(t, { offline: 'allow', leaseTtlSeconds: 30 });
  const proxy = await startFaultProxy(
    () => srv.url,
    (p) => p === '/v1/leases',
  );
  t.after(() => proxy.close());
  proxy.plan = ['hang'];
  const rig = await startRig(t, srv, { server: { url: proxy.url, requestTimeoutMs: 1000 } });
  const prog = rig.launch(EXE);
  await waitFor(() => codes(rig.serverEvents()).includes(3), 'launch under the lease');
  assert.deepEqual(proxy.applied.slice(0, 1), ['hang']);
  const evs = rig.serverEvents();
  assert.deepEqual(codes(evs), [10, 11, 1, 3]);
  assert.equal(evs[1]!.reason, 'reconnected');
  const leases = srv.query<{ request_id: string; ended_at: number | null }>('SELECT request_id, ended_at FROM leases');
  assert.equal(leases.length, 1, 'the retry got the lease granted to the lost request');
  assert.equal(leases[0]!.ended_at, null);
  prog.kill('SIGTERM');
  await exited(prog);
  await waitFor(() => codes(rig.serverEvents()).includes(2), 'return');
});
