/**
 * The real notification path: a denied launch in the real daemon (`usage-agent run` with the
 * uplink to a real usage-server and the /proc launch watcher) -> the session channel -> the
 * user's session agent (`usage-agent session`) -> notify-send -> a D-Bus session bus -> dunst
 * under Xvfb. The test reads what arrived from the bus (dbus-monitor) and from dunst's history.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { startAgentProcess, writeConfig } from '../helpers/session.js';
import { killChild, startXvfb } from '../helpers/x11.js';
import { waitFor } from './harness.js';

async function startDbus(): Promise<{ address: string; child: ChildProcess }> {
  const child = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  return { address, child };
}

test('a denied launch reaches the user as a desktop notification (session agent -> D-Bus -> dunst)', async (t) => {
  const dir = tempDir(t, 'ua-notify-');
  const data = join(dir, 'data');
  mkdirSync(data);
  const srv = await startServer({ products: [{ id: 'cad', name: 'CAD Pro', seats: 0, match: { executables: [`cadpro-${process.pid}`], paths: [] }, onDeny: 'notify', queue: false }] });
  t.after(() => srv.cleanup());
  const x = await startXvfb();
  t.after(() => x.stop());
  const bus = await startDbus();
  t.after(() => killChild(bus.child));
  const env = { ...x.env, DBUS_SESSION_BUS_ADDRESS: bus.address };
  const monitor = spawn('dbus-monitor', ['--session', "interface='org.freedesktop.Notifications',member='Notify'"], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => killChild(monitor));
  let seen = '';
  monitor.stdout!.setEncoding('utf8').on('data', (d: string) => (seen += d));
  const dunst = spawn('dunst', [], { env, stdio: 'ignore' });
  t.after(() => killChild(dunst));
  await waitFor(() => spawnSync('dunstctl', ['is-paused'], { env, encoding: 'utf8' }).stdout.trim() === 'false', 'dunst on the bus');

  const config = writeConfig(dir, {
    processes: { pacct: 'off', sampleIntervalMs: 1000 },
    journal: { flushIntervalMs: 100 },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 200 },
    leases: { launchPollMs: 100 },
  });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), { env });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);

  copyFileSync('/bin/sleep', join(dir, `cadpro-${process.pid}`));
  const prog = spawn(join(dir, `cadpro-${process.pid}`), ['300'], { stdio: 'ignore' });
  t.after(() => killChild(prog, 'SIGKILL'));

  await waitFor(() => seen.includes('CAD Pro: no license available'), 'the Notify call on the session bus', 30_000);
  assert.match(seen, /string "usage-agent"/, 'sent by the session agent as app usage-agent');
  assert.match(seen, /CAD Pro has no licenses available\. You may keep working; this use is recorded as unlicensed\./);
  // dunst took it: close it and read it back from dunst's own history.
  await waitFor(() => Number(spawnSync('dunstctl', ['count', 'displayed'], { env, encoding: 'utf8' }).stdout.trim()) >= 1, 'dunst displays it');
  spawnSync('dunstctl', ['close-all'], { env });
  const history = spawnSync('dunstctl', ['history'], { env, encoding: 'utf8' }).stdout;
  const entries = (JSON.parse(history) as { data: Array<Array<Record<string, { data: unknown }>>> }).data.flat();
  const mine = entries.find((e) => e.summary?.data === 'CAD Pro: no license available');
  assert.ok(mine, history);
  assert.equal(mine.appname?.data, 'usage-agent');
  assert.match(String(mine.body?.data), /no licenses available/);
});
