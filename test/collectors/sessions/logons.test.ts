/**
 * Logon/logoff end to end: the real daemon (`usage-agent run`, uplink to a real usage-server) and
 * a real session agent on Xvfb, started and stopped twice; a screen lock in between (a stand-in
 * screensaver on a private session bus) must not count as a logoff.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runAgentCli, tempDataDir } from '../../helpers/cli.js';
import { startDesktop, startLogindSessions, startScreenSaver, startSessionBus } from '../../helpers/dbus.js';
import { startServer, TEST_ENROLL_SECRET } from '../../helpers/server.js';
import { sleep, startAgentProcess, writeConfig } from '../../helpers/session.js';
import { startXvfb } from '../../helpers/x11.js';
import { waitFor } from '../../helpers/wait.js';

test('a session agent started and stopped twice: two 15/16 pairs on the server at the right times, with user, host and display; a lock is not a logoff', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-logons-');
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const { x, env } = await startDesktop(t);
  delete env.XDG_SESSION_ID; // no logind here: the agent's connection is the session
  const saver = await startScreenSaver(env);
  t.after(() => saver.stop());
  const config = writeConfig(dir, {
    processes: { enabled: false },
    journal: { flushIntervalMs: 100 },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 200 },
  });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);

  const spans: Array<{ from: number; to: number; stopFrom: number; stopTo: number }> = [];
  for (let i = 0; i < 2; i++) {
    const before = Date.now();
    const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, `session${i}.log`), {
      env,
    });
    t.after(() => session.stop());
    await session.waitForOutput(/connected to the daemon/);
    const connected = Date.now();
    if (i === 0) {
      await session.waitForOutput(/"sessionEvents":"dbus \([^"]*screensaver/);
      await saver.set(true);
      await session.waitForOutput(/"event":"lock"/);
      await saver.set(false);
      await session.waitForOutput(/"event":"unlock"/);
    }
    await sleep(1000);
    const stopFrom = Date.now();
    await session.stop('SIGTERM');
    spans.push({ from: before, to: connected, stopFrom, stopTo: Date.now() });
    await sleep(500);
  }
  type Ev = { code: number; time: string; user: string; host: string; extra: string | null };
  const events = () => srv.query<Ev>("SELECT e.code, e.time, e.user, e.host, e.extra FROM usage_events e WHERE e.product = 'session' ORDER BY e.seq");
  await waitFor(() => events().length >= 4, 'four logon/logoff events', 20_000);
  const evs = events();
  assert.deepEqual(
    evs.map((e) => e.code),
    [15, 16, 15, 16],
    JSON.stringify(evs),
  );
  const host = runAgentCli(['status', '--json', '--data-dir', data]);
  for (const [i, e] of evs.entries()) {
    const span = spans[i >> 1]!;
    const t = Date.parse(e.time);
    if (e.code === 15)
      assert.ok(
        t >= span.from && t <= span.to,
        `logon ${i} at ${e.time}, expected between ${new Date(span.from).toISOString()} and ${new Date(span.to).toISOString()}`,
      );
    else
      assert.ok(
        t >= span.stopFrom && t <= span.stopTo,
        `logoff ${i} at ${e.time}, expected between ${new Date(span.stopFrom).toISOString()} and ${new Date(span.stopTo).toISOString()}`,
      );
    assert.equal(e.user, 'root');
    assert.ok(e.host && host.stdout.includes(e.host), `host ${e.host}`);
    assert.equal(JSON.parse(e.extra ?? '{}').display, x.display);
  }
  // Acknowledged by the server, the events leave the agent's journal; no session is open, so the
  // local summary ends up empty (the standalone test below covers its contents).
  await waitFor(
    () => {
      const after = runAgentCli(['records', '--data-dir', data, '--summary', 'sessions']);
      assert.equal(after.code, 0, after.stderr);
      return after.stdout.trim() === '';
    },
    'an empty local summary',
    10_000,
    { stepMs: 200 },
  );
});

test('records --summary sessions: sessions per user from the journal, the one open now included (standalone daemon)', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-logons-');
  const x = await startXvfb();
  t.after(() => x.stop());
  const env: NodeJS.ProcessEnv = { ...x.env };
  delete env.XDG_SESSION_ID;
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const config = writeConfig(dir, { processes: { enabled: false }, journal: { flushIntervalMs: 100 } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const summary = () => {
    const r = runAgentCli(['records', '--data-dir', data, '--summary', 'sessions']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  for (let i = 0; i < 3; i++) {
    const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, `session${i}.log`), {
      env,
    });
    t.after(() => session.stop());
    await session.waitForOutput(/connected to the daemon/);
    await sleep(1200);
    if (i < 2) await session.stop('SIGTERM');
  }
  await waitFor(() => summary()[0]?.sessions === 3, 'three sessions in the summary', 10_000, { stepMs: 100 });
  const [root] = summary();
  assert.equal(root!.user, 'root');
  assert.equal(root!.open, 1, 'the third agent still runs');
  assert.deepEqual(root!.displays, [x.display]);
  assert.ok(Number(root!.totalSeconds) >= 3, `total ${root!.totalSeconds} s for two closed sessions of >= 1.2 s and an open one`);
  const table = runAgentCli(['records', '--data-dir', data, '--summary', 'sessions', '--format', 'table']);
  assert.match(table.stdout, /^USER\s+SESSIONS\s+OPEN\s+SECONDS/);
  assert.match(table.stdout, /\nroot\s+3\s+1\s+\d+/);
  // Session events only: the daemon journals other usage events too (the software audit's 24).
  const events = runAgentCli(['records', '--data-dir', data, '--type', 'usage-event'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { code: number; product: string })
    .filter((e) => e.product === 'session');
  assert.deepEqual(
    events.map((e) => e.code),
    [15, 16, 15, 16, 15],
  );
});

test('logind where present (a stand-in on a private system bus): its graphical sessions log on at their start and off at their removal; an agent leaving is no logoff; tty sessions do not count', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-logons-');
  const x = await startXvfb();
  t.after(() => x.stop());
  const bus = await startSessionBus(); // serves as the system bus
  t.after(() => bus.stop());
  const sysEnv: NodeJS.ProcessEnv = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address };
  const before = Date.now();
  const logind = await startLogindSessions(sysEnv, [{ id: 'c7', uid: 0, name: 'root', type: 'x11', display: x.display }]);
  t.after(() => logind.stop());
  const config = writeConfig(dir, { processes: { enabled: false }, journal: { flushIntervalMs: 100 } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'), { env: sysEnv });
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const events = () =>
    runAgentCli(['records', '--data-dir', data, '--type', 'usage-event'])
      .stdout.trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { code: number; product: string; time: string; session: string; source: string; display: string })
      .filter((e) => e.product === 'session');
  await waitFor(() => events().length === 1, 'one event', 10_000, { stepMs: 100 });
  assert.deepEqual(
    events().map((e) => [e.code, e.session, e.source, e.display]),
    [[15, 'c7', 'logind', x.display]],
  );
  const t15 = Date.parse(events()[0]!.time);
  assert.ok(t15 >= before - 1000 && t15 <= Date.now(), `logon at the session's own start (${events()[0]!.time})`);
  // The session agent of that session comes and goes: neither a second logon nor a logoff.
  const env: NodeJS.ProcessEnv = { ...x.env, XDG_SESSION_ID: 'c7' };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  delete env.DBUS_SYSTEM_BUS_ADDRESS;
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), { env });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  await sleep(500);
  await session.stop('SIGTERM');
  // A text-console session is not graphical; a second graphical one is.
  await logind.add({ id: 'c8', uid: 0, name: 'root', type: 'tty' });
  await logind.add({ id: 'c9', uid: 0, name: 'root', type: 'wayland', display: '' });
  await waitFor(() => events().length === 2, 'two events', 10_000, { stepMs: 100 });
  const removedAt = Date.now();
  await logind.remove('c7');
  await waitFor(() => events().length === 3, 'three events', 10_000, { stepMs: 100 });
  const evs = events();
  assert.deepEqual(
    evs.map((e) => [e.code, e.session]),
    [
      [15, 'c7'],
      [15, 'c9'],
      [16, 'c7'],
    ],
  );
  assert.ok(Date.parse(evs[2]!.time) >= removedAt, 'logoff when logind removed it');
  // A daemon stop keeps logind's sessions open (no 16), and its restart writes no second 15.
  await daemon.stop('SIGTERM');
  const again = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon2.log'), { env: sysEnv });
  t.after(() => again.stop());
  await again.waitForOutput(/listening for session agents/);
  await sleep(1500);
  assert.deepEqual(
    events().map((e) => [e.code, e.session]),
    [
      [15, 'c7'],
      [15, 'c9'],
      [16, 'c7'],
    ],
    `${JSON.stringify(events())}\n${again.output()}`,
  );
  const [root] = runAgentCli(['records', '--data-dir', data, '--summary', 'sessions'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual([root!.sessions, root!.open], [2, 1]);
});
