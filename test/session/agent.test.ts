import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir, tempDir } from '../helpers/cli.js';
import { allFiles, readRecords, sleep, startAgentProcess, writeConfig } from '../helpers/session.js';
import { activate, startXClient, startXvfb, xdotool } from '../helpers/x11.js';

const SHORT = { breakSeconds: 1, microBreakMaxSeconds: 3, shortBreakMaxSeconds: 8, inputEventIntervalSeconds: 5 };

test('focus switches between two X clients are attributed to the right executables; a typed secret is found nowhere', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-focus-');
  const x = await startXvfb({ wm: true });
  t.after(() => x.stop());
  const logo = await startXClient(x, 'xlogo', [], 'xlogo');
  t.after(() => void logo.child.kill());
  const eyes = await startXClient(x, 'xmessage', ['-geometry', '300x100+400+300', 'usage-agent test'], 'xmessage');
  t.after(() => void eyes.child.kill());
  const config = writeConfig(dir, { processes: { enabled: false }, activity: SHORT, journal: { flushIntervalMs: 100 }, log: { level: 'trace' } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const session = startAgentProcess(['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')], join(dir, 'session.log'), {
    env: x.env,
  });
  t.after(() => session.stop());
  await session.waitForOutput(/connected to the daemon/);

  const secret = 'Zq7#Vwx!Kj9';
  await activate(x, eyes.window);
  xdotool(x, 'type', '--delay', '50', secret); // 11 characters (+ Shift presses) into xmessage
  await sleep(300);
  await activate(x, logo.window);
  xdotool(x, 'mousemove', '--window', logo.window, '20', '20'); // pointer over xlogo
  for (let i = 0; i < 6; i++) xdotool(x, 'mousemove_relative', '--', '2', '1'); // 6 moves
  xdotool(x, 'click', '4'); // a wheel step
  await sleep(300);
  await session.stop('SIGTERM');

  const ie = readRecords(data, 'input-events');
  const byApp = new Map<string, { keyboard: number; mouse: number }>();
  for (const r of ie) {
    const e = byApp.get(r.application) ?? { keyboard: 0, mouse: 0 };
    e.keyboard += r.keyboard;
    e.mouse += r.mouse;
    byApp.set(r.application, e);
  }
  // xdotool type with shifted characters also presses Shift: count presses, not characters.
  const logoCounts = byApp.get('/usr/bin/xlogo');
  const msgCounts = byApp.get('/usr/bin/xmessage');
  assert.ok(logoCounts && msgCounts, JSON.stringify([...byApp]));
  assert.ok(msgCounts.keyboard >= secret.length, JSON.stringify([...byApp]));
  assert.equal(msgCounts.mouse, 0, JSON.stringify([...byApp]));
  assert.equal(logoCounts.keyboard, 0, JSON.stringify([...byApp]));
  // 6 relative moves + 1 wheel step (the warp onto xlogo is not input for XInput2; uiohook counts it too).
  assert.ok(logoCounts.mouse >= 7, JSON.stringify([...byApp]));
  const work = readRecords(data, 'work').filter((w) => w.periodType === 'extended');
  assert.equal(work.length, 1);
  assert.deepEqual(new Set(work[0]!.applications.map((a: { application: string }) => a.application)), new Set(['/usr/bin/xlogo', '/usr/bin/xmessage']));

  // Privacy: every file written (journal + WAL, queue + WAL, both logs), searched byte-wise.
  await daemon.stop('SIGTERM');
  const files = allFiles(dir).filter((f) => !f.endsWith('config.json'));
  assert.ok(files.some((f) => f.includes('journal.db')) && files.some((f) => f.endsWith('session.log')), files.join(','));
  const escaped = [...secret].map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // The characters in order, with anything (up to 64 bytes) between them.
  const inOrder = new RegExp(escaped.join('[\\s\\S]{0,64}?'));
  // X keycodes xdotool used for the characters, as they would appear in a JSON array or list.
  const keycodes = [...secret].map((c) => {
    const r = spawnSync('sh', ['-c', `xmodmap -pke | grep -w "${c === '#' ? 'numbersign' : c === '!' ? 'exclam' : c}" | head -1`], {
      env: x.env,
      encoding: 'utf8',
    });
    return /keycode\s+(\d+)/.exec(r.stdout)?.[1];
  });
  const keycodeSeq = keycodes.every(Boolean) ? new RegExp(keycodes.join('\\D{1,3}')) : undefined;
  for (const f of files) {
    const text = readFileSync(f).toString('latin1');
    assert.ok(!text.includes(secret), `${f} holds the secret`);
    assert.ok(!inOrder.test(text), `${f} holds the secret's characters in order`);
    if (keycodeSeq) assert.ok(!keycodeSeq.test(text), `${f} holds the secret's key codes`);
    assert.ok(!/keycode|rawcode|keychar/i.test(text), `${f} mentions key codes`);
  }
});

test('daemon down: records are queued, arrive after the daemon starts, and none twice', async (t) => {
  const { dir, data } = tempDataDir(t, 'ua-queue-');
  const x = await startXvfb({ wm: true });
  t.after(() => x.stop());
  const logo = await startXClient(x, 'xlogo', [], 'xlogo');
  t.after(() => void logo.child.kill());
  await activate(x, logo.window);
  const config = writeConfig(dir, { processes: { enabled: false }, activity: SHORT, journal: { flushIntervalMs: 100 } });
  const sessionArgs = ['session', '--config', config, '--data-dir', data, '--queue', join(dir, 'queue.db')];

  // 1. No daemon: the session agent measures and queues.
  const s1 = startAgentProcess(sessionArgs, join(dir, 'session1.log'), { env: x.env });
  t.after(() => s1.stop());
  await s1.waitForOutput(/session agent started/);
  xdotool(x, 'type', '--delay', '50', 'abcdef');
  await sleep(1500); // a 1.5 s microbreak
  xdotool(x, 'type', '--delay', '50', 'ghij');
  await s1.stop('SIGTERM');
  const s1Stopped = Date.now();
  assert.match(s1.output(), /records stay queued/);

  // 2. Daemon up, a new session agent: the queue is handed over.
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  const s2 = startAgentProcess(sessionArgs, join(dir, 'session2.log'), { env: x.env });
  t.after(() => s2.stop());
  await s2.waitForOutput(/connected to the daemon/);
  await s2.stop('SIGTERM');
  const firstRun = readRecords(data, 'break,work,input-events');
  // What the first session agent measured before any daemon ran: it can only have come through its queue.
  const queued = firstRun.filter((r) => Date.parse(r.end) <= s1Stopped);
  assert.ok(
    queued.some((r) => r.type === 'break' && r.breakType === 'microbreak' && r.durationSeconds >= 1.2),
    JSON.stringify(firstRun),
  );
  assert.equal(queued.filter((r) => r.type === 'work' && r.keyboard === 10 && r.periodType === 'extended').length, 1, JSON.stringify(firstRun));

  // 3. Another session agent on the same queue: nothing is sent twice.
  const s3 = startAgentProcess(sessionArgs, join(dir, 'session3.log'), { env: x.env });
  t.after(() => s3.stop());
  await s3.waitForOutput(/connected to the daemon/);
  await s3.stop('SIGTERM');
  const after = readRecords(data, 'break,work,input-events');
  const key = (r: Record<string, unknown>) => `${r.type}|${r.periodType ?? r.breakType ?? r.application}|${r.start}|${r.end}`;
  const keys = after.map(key);
  assert.equal(new Set(keys).size, keys.length, `duplicates: ${keys.join('\n')}`);
  for (const r of firstRun) assert.ok(keys.includes(key(r)));
});

test("another user's connection cannot authenticate as this user, and its records carry its own identity", async (t) => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (to run a client as another uid)');
  const dir = tempDir(t, 'ua-auth-');
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  mkdirSync(data);
  const sockDir = join(dir, 'run');
  const socket = join(sockDir, 'agent.sock');
  const user = 'ua-test-other';
  if (spawnSync('id', ['-u', user]).status !== 0) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  const config = writeConfig(dir, { processes: { enabled: false }, session: { socketPath: socket }, journal: { flushIntervalMs: 100 } });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/listening for session agents/);
  assert.equal(statSync(join(sockDir, 'tokens')).mode & 0o777, 0o711);

  // A raw protocol client run as the other user.
  const client = `
    const net = require('node:net'); const fs = require('node:fs');
    const [sock, claim] = [process.argv[1], Number(process.argv[2])];
    const s = net.createConnection(sock); let buf = '';
    const send = (m) => s.write(JSON.stringify({ v: 1, ...m }) + '\\n');
    s.on('connect', () => send({ kind: 'hello', uid: claim, pid: process.pid, queueId: 'q1', input: { mode: 'none' } }));
    s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
      if (m.kind === 'challenge') { let token = 'x'.repeat(64); try { token = fs.readFileSync(m.tokenPath, 'utf8'); } catch (e) { console.log('read-denied ' + e.code); } send({ kind: 'auth', token }); }
      else if (m.kind === 'welcome') { console.log('welcome ' + m.user); send({ kind: 'records', items: [{ id: 1, record: { type: 'work', time: new Date().toISOString(), start: new Date().toISOString(), end: new Date().toISOString(), durationSeconds: 1, periodType: 'extended', user: 'root', uid: 0, host: 'forged', keyboard: 1, mouse: 0, switch: 0 } }] }); }
      else if (m.kind === 'ack') { console.log('ack ' + m.through); s.end(); }
      else if (m.kind === 'error') { console.log('error ' + m.message); } } });
    s.on('close', () => process.exit(0));`;
  const asOther = (claim: number) => spawnSync(process.execPath, ['-e', client, socket, String(claim)], { uid, gid, encoding: 'utf8', timeout: 15_000 });

  const forged = asOther(0);
  assert.match(forged.stdout, /read-denied EACCES/);
  assert.match(forged.stdout, /error authentication failed/);
  assert.doesNotMatch(forged.stdout, /welcome/);

  const honest = asOther(uid);
  assert.match(honest.stdout, /welcome ua-test-other/);
  assert.match(honest.stdout, /ack 1/);
  const records = readRecords(data, 'work');
  assert.equal(records.length, 1);
  assert.equal(records[0]!.user, user);
  assert.equal(records[0]!.uid, uid);
  assert.notEqual(records[0]!.host, 'forged');
});
