/**
 * The session agent against a real private D-Bus session bus (dbus-daemon --session):
 *  - a screensaver (a stand-in owning org.freedesktop.ScreenSaver, emitting ActiveChanged like
 *    GNOME/KDE/xfce do) locks the screen: the periods end at the lock, input while locked is not
 *    work, and the locked time is never a break;
 *  - notifications: the daemon's sessions.notifyUser(...) -> the session channel -> the session
 *    agent -> notify-send -> dunst under Xvfb, read back from dunst's history; and the failure path
 *    (no notification daemon) reported back to the daemon side as shown: false.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { SessionServer } from '../../src/ipc/server.js';
import { Journal } from '../../src/journal/journal.js';
import { createLogger } from '../../src/log/logger.js';
import { tempDataDir } from '../helpers/cli.js';
import { startDesktop, startLogind, startScreenSaver, startSessionBus } from '../helpers/dbus.js';
import { readRecords, sleep, startAgentProcess, writeConfig } from '../helpers/session.js';
import { killChild, xdotool } from '../helpers/x11.js';
import { waitFor } from '../helpers/wait.js';

const SHORT = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 };
const ms = (iso: string) => Date.parse(iso);

test('screen lock over D-Bus (ScreenSaver.ActiveChanged): periods end at the lock, the locked time is neither work nor a break', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-lock-');
  const { x, env } = await startDesktop(t);
  const saver = await startScreenSaver(env);
  t.after(() => saver.stop());

  const config = writeConfig(dir, { processes: { enabled: false }, activity: SHORT, journal: { flushIntervalMs: 100 }, log: { level: 'info' } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), { env });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  assert.match(session.output(), /"sessionEvents":"dbus \([^)]*screensaver[^)]*\)"/, 'the agent says it watches the screensaver');

  xdotool(x, 'type', '--delay', '100', 'abcdefghij'); // 10 keys over ~1 s
  const lastBeforeLock = Date.now();
  await sleep(2000);
  const lockAt = Date.now();
  await saver.set(true);
  await session.waitForOutput(/"event":"lock"/);
  await sleep(1000);
  xdotool(x, 'type', '--delay', '50', 'zzzzz'); // typed while locked: not work
  await sleep(9000); // locked for ~10 s: longer than shortBreakMaxSeconds, had it been counted
  const unlockAt = Date.now();
  await saver.set(false);
  await session.waitForOutput(/"event":"unlock"/);
  await sleep(1500);
  const firstAfterUnlock = Date.now();
  xdotool(x, 'type', '--delay', '100', 'klmnopqrst'); // 10 keys
  await sleep(500);
  await session.stop('SIGTERM');

  const breaks = readRecords(data, 'break');
  const work = readRecords(data, 'work');
  // The pause before the lock is a break that ends at the lock, not at the next input.
  const atLock = breaks.filter((b) => b.endReason === 'lock');
  assert.equal(atLock.length, 1, JSON.stringify(breaks));
  assert.ok(Math.abs(ms(atLock[0]!.start) - lastBeforeLock) <= 500, `break start ${atLock[0]!.start} vs last key ${new Date(lastBeforeLock).toISOString()}`);
  assert.ok(Math.abs(ms(atLock[0]!.end) - lockAt) <= 500, `break end ${atLock[0]!.end} vs lock ${new Date(lockAt).toISOString()}`);
  assert.equal(atLock[0]!.breakType, 'microbreak');
  // No break covers any of the locked time.
  for (const b of breaks) {
    assert.ok(!(ms(b.start) < unlockAt - 500 && ms(b.end) > lockAt + 500), `break over the locked time: ${JSON.stringify(b)}`);
  }
  // Both period kinds end at the lock with the 10 keys typed before it; then new ones after unlock.
  for (const periodType of ['uninterrupted', 'extended']) {
    const ps = work.filter((w) => w.periodType === periodType);
    assert.equal(ps.length, 2, JSON.stringify(work));
    const [before, after] = ps;
    assert.equal(before!.endReason, 'lock');
    assert.equal(before!.keyboard, 10);
    assert.ok(Math.abs(ms(before!.end) - lastBeforeLock) <= 500, `${periodType} end ${before!.end}`);
    assert.ok(ms(after!.start) >= unlockAt - 500 && Math.abs(ms(after!.start) - firstAfterUnlock) <= 500, `${periodType} start ${after!.start}`);
    assert.equal(after!.keyboard, 10, 'keys typed while locked are not work');
    assert.equal(after!.endReason, 'session-end');
  }
});

test('no X display (pure Wayland): logind IdleHint is the idle source; its idle span is the break, the rest work', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-logind-');
  const bus = await startSessionBus(); // serves as the system bus here
  t.after(() => bus.stop());
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DBUS_SYSTEM_BUS_ADDRESS: bus.address,
    XDG_SESSION_ID: 'c7',
    XDG_SESSION_TYPE: 'wayland',
    WAYLAND_DISPLAY: 'wayland-ua-test',
  };
  delete env.DISPLAY;
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const logind = await startLogind(env, 'c7');
  t.after(() => logind.stop());

  const config = writeConfig(dir, { processes: { enabled: false }, activity: SHORT, journal: { flushIntervalMs: 100 }, log: { level: 'info' } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const startedAt = Date.now();
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), { env });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  assert.match(session.output(), /"source":"logind-idlehint"/, 'the agent says where its idle time comes from');
  assert.match(session.output(), /"mode":"idle-poll"/);

  await sleep(3000);
  const idleAt = Date.now();
  await logind.setIdle(true);
  await sleep(5000);
  const activeAt = Date.now();
  await logind.setIdle(false);
  await sleep(2000);
  await session.stop('SIGTERM');

  const breaks = readRecords(data, 'break');
  assert.equal(breaks.length, 1, JSON.stringify(breaks));
  const b = breaks[0]!;
  assert.ok(Math.abs(ms(b.start) - idleAt) <= 500, `break start ${b.start} vs IdleHint set ${new Date(idleAt).toISOString()}`);
  assert.ok(Math.abs(ms(b.end) - activeAt) <= 500, `break end ${b.end} vs IdleHint cleared ${new Date(activeAt).toISOString()}`);
  assert.equal(b.breakType, 'short'); // ~5 s with microBreakMaxSeconds 3, shortBreakMaxSeconds 8
  const uninterrupted = readRecords(data, 'work').filter((w) => w.periodType === 'uninterrupted');
  assert.equal(uninterrupted.length, 2, JSON.stringify(uninterrupted));
  assert.ok(ms(uninterrupted[0]!.start) >= startedAt - 500 && Math.abs(ms(uninterrupted[0]!.end) - idleAt) <= 500, JSON.stringify(uninterrupted[0]));
  assert.ok(Math.abs(ms(uninterrupted[1]!.start) - activeAt) <= 500, JSON.stringify(uninterrupted[1]));
  assert.equal(uninterrupted[1]!.endReason, 'session-end');
  // No keyboard/mouse split from an idle hint.
  assert.equal(uninterrupted[0]!.keyboard, null);
});

test('notifications: sessions.notifyUser -> session agent -> notify-send -> dunst on a private bus; failures come back as shown: false', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-notify-ipc-');
  const { env } = await startDesktop(t);
  // What crosses the bus (the urgency hint is not in dunst's history).
  const monitor = spawn('dbus-monitor', ['--session', "interface='org.freedesktop.Notifications',member='Notify'"], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(() => killChild(monitor));
  let onBus = '';
  monitor.stdout!.setEncoding('utf8').on('data', (d: string) => (onBus += d));
  const dunst = spawn('dunst', [], { env, stdio: 'ignore' });
  t.after(() => killChild(dunst));
  await waitFor(() => spawnSync('dunstctl', ['is-paused'], { env, encoding: 'utf8' }).stdout.trim() === 'false', 'dunst to run unpaused', 10_000);

  // The daemon side in-process, so the test calls the service API other components use.
  const config = loadConfig(undefined, { dataDir: data, processes: { enabled: false }, log: { level: 'warn' } });
  const logger = createLogger('warn', { toStderr: true });
  const journal = Journal.open(join(data, 'journal.db'), { flushIntervalMs: 50, logger });
  t.after(() => journal.close());
  const socketPath = join(data, 'agent.sock');
  const server = new SessionServer(
    {
      config,
      dataDir: data,
      journal,
      logger,
      host: { hostname: hostname(), os: 'linux', osRelease: '', arch: process.arch, machineId: 'test', primaryMac: null },
      components: {},
    },
    { socketPath },
  );
  await server.start();
  t.after(() => server.stop());
  const results: Array<{ uid: number; user: string; id: string; shown: boolean; error?: string }> = [];
  server.onNotificationResult((r) => results.push(r));

  const uid = process.getuid!();
  assert.equal(server.notifyUser(uid, { title: 'nobody', body: 'no session yet' }), false, 'no session agent connected yet');

  const session = startAgentProcess(['session', '--socket', socketPath, '--queue', join(dir, 'queue.db'), '--log-level', 'info'], join(dir, 'session.log'), {
    env,
  });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  await waitFor(() => server.connectedUsers().some((u) => u.uid === uid), 'the session agent to connect', 5000);

  const title = 'License expiring';
  const body = 'Your CAD Pro lease ends in 5 minutes; save your work.';
  assert.equal(server.notifyUser(uid, { id: 'n-1', title, body, urgency: 'critical' }), true);
  await waitFor(() => results.some((r) => r.id === 'n-1'), 'the result of notification n-1', 15_000);
  const shown = results.find((r) => r.id === 'n-1')!;
  assert.equal(shown.uid, uid);
  assert.equal(shown.shown, true, JSON.stringify(shown));
  assert.equal(shown.error, undefined);
  await waitFor(
    () => Number(spawnSync('dunstctl', ['count', 'displayed'], { env, encoding: 'utf8' }).stdout.trim()) >= 1,
    'a notification displayed by dunst',
    10_000,
  );
  spawnSync('dunstctl', ['close-all'], { env });
  const history = spawnSync('dunstctl', ['history'], { env, encoding: 'utf8' }).stdout;
  const entries = (JSON.parse(history) as { data: Array<Array<Record<string, { data: unknown }>>> }).data.flat();
  const mine = entries.filter((e) => e.summary?.data === title);
  assert.equal(mine.length, 1, history);
  assert.equal(mine[0]!.appname?.data, 'usage-agent');
  assert.equal(mine[0]!.body?.data, body);
  assert.match(onBus, /string "urgency"\s+variant\s+byte 2/, 'critical urgency hint on the bus');

  // Without a notification daemon on the bus, the agent reports the failure instead of losing it.
  await killChild(dunst);
  assert.equal(server.notifyUser(uid, { id: 'n-2', title: 'second', body: 'nobody shows this', urgency: 'low' }), true);
  await waitFor(() => results.some((r) => r.id === 'n-2'), 'the result of notification n-2', 20_000);
  const failed = results.find((r) => r.id === 'n-2')!;
  assert.equal(failed.shown, false);
  assert.ok(failed.error && failed.error.length > 0, JSON.stringify(failed));
});
