/**
 * The real notification path: a denied launch in the real daemon (`usage-agent run` with the
 * uplink to a real usage-server and the /proc launch watcher) -> the session channel -> the
 * user's session agent (`usage-agent session`) -> notify-send -> a D-Bus session bus -> dunst
 * under Xvfb. The test reads what arrived from the bus (dbus-monitor) and from dunst's history.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { readRecords, startAgentProcess, writeConfig } from '../helpers/session.js';
import { startDesktop } from '../helpers/dbus.js';
import { killChild } from '../helpers/x11.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The real path from a denied launch to dunst (see the file comment), with the session agent's
 * environment `sessionEnv` added; returns dunst's history entry for `summary` and the data dir.
 */
async function deniedLaunchToDunst(
  t: { after(fn: () => void | Promise<void>): void },
  sessionEnv: NodeJS.ProcessEnv,
  summary: string,
): Promise<{ entry: Record<string, { data: unknown }>; data: string; seen: string }> {
  const { dir, data } = tempDataDir(t, 'ua-notify-');
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 0, match: { executables: [`cadpro-${process.pid}`], paths: [] }, onDeny: 'notify', queue: false }],
  });
  t.after(() => srv.cleanup());
  const { env } = await startDesktop(t);
  const monitor = spawn('dbus-monitor', ['--session', "interface='org.freedesktop.Notifications',member='Notify'"], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(() => killChild(monitor));
  let seen = '';
  monitor.stdout!.setEncoding('utf8').on('data', (d: string) => (seen += d));
  const dunst = spawn('dunst', [], { env, stdio: 'ignore' });
  t.after(() => killChild(dunst));
  await waitFor(() => spawnSync('dunstctl', ['is-paused'], { env, encoding: 'utf8' }).stdout.trim() === 'false', 'dunst on the bus');
  const config = writeConfig(dir, {
    processes: { pacct: 'off', sampleIntervalMs: 1000 },
    journal: { flushIntervalMs: 100 },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 60_000 },
  });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), {
    env: { ...env, ...sessionEnv },
  });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);
  copyFileSync('/bin/sleep', join(dir, `cadpro-${process.pid}`));
  const prog = spawn(join(dir, `cadpro-${process.pid}`), ['300'], { stdio: 'ignore' });
  t.after(() => killChild(prog, 'SIGKILL'));
  await waitFor(() => seen.includes(summary), 'the Notify call on the session bus', 30_000);
  await waitFor(() => Number(spawnSync('dunstctl', ['count', 'displayed'], { env, encoding: 'utf8' }).stdout.trim()) >= 1, 'dunst displays it');
  spawnSync('dunstctl', ['close-all'], { env });
  const history = spawnSync('dunstctl', ['history'], { env, encoding: 'utf8' }).stdout;
  const entries = (JSON.parse(history) as { data: Array<Array<Record<string, { data: unknown }>>> }).data.flat();
  const entry = entries.find((e) => e.summary?.data === summary);
  assert.ok(entry, history);
  return { entry, data, seen };
}

test("in the session's language: a session agent under LANG=ja_JP.UTF-8 shows the denial in Japanese through notify-send to dunst; the journal keeps key and parameters", async (t) => {
  const { entry, data } = await deniedLaunchToDunst(t, { LANG: 'ja_JP.UTF-8', LC_ALL: '', LC_MESSAGES: '' }, 'CAD Pro: 利用できるライセンスがありません');
  assert.equal(entry.appname?.data, 'usage-agent');
  assert.equal(entry.body?.data, 'CAD Pro には利用できるライセンスがありません。このまま作業を続けられますが、この使用はライセンスなしとして記録されます。');
  // The daemon's journal: the English texts and the message's key and parameters.
  const notes = readRecords(data, 'notification');
  assert.equal(notes.length, 1, JSON.stringify(notes));
  assert.equal(notes[0]!.title, 'CAD Pro: no license available');
  assert.equal(notes[0]!.messageKey, 'deny.notify');
  assert.deepEqual(notes[0]!.params, { product: 'CAD Pro', what: 'none', seats: 0 });
});

test('a denied launch reaches the user as a desktop notification (session agent -> D-Bus -> dunst)', async (t) => {
  const { entry, seen } = await deniedLaunchToDunst(t, { LANG: 'C.UTF-8', LC_ALL: '', LC_MESSAGES: '' }, 'CAD Pro: no license available');
  assert.match(seen, /string "usage-agent"/, 'sent by the session agent as app usage-agent');
  assert.match(seen, /CAD Pro has no licenses available\. You may keep working; this use is recorded as unlicensed\./);
  // dunst took it: read back from dunst's own history.
  assert.equal(entry.appname?.data, 'usage-agent');
  assert.match(String(entry.body?.data), /no licenses available/);
});
