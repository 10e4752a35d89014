/**
 * Directory users (in NSS only, through Debian's libnss-extrausers; never in /etc/passwd) are named
 * by the real daemon: in process records of their processes, by the session channel (the welcome
 * its session agent gets and the activity records it hands over), and in the site's userFormat.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runAgentCli, tempDir } from '../helpers/cli.js';
import { createDirectory, withExtrausers, type Directory } from '../helpers/nss.js';
import { asUser, readRecords, sleep, startAgentProcess, writeConfig, type Proc } from '../helpers/session.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const DANA = { name: 'ua-dir-dana', uid: 71234, group: 'ua-dir-eng', gid: 71235 };

test('withExtrausers puts extrausers after files for passwd and group only', () => {
  const conf = 'passwd:         files systemd\ngroup:          files systemd\nshadow:         files systemd\nhosts: files dns\n';
  assert.equal(
    withExtrausers(conf),
    'passwd:         files extrausers systemd\ngroup:          files extrausers systemd\nshadow:         files systemd\nhosts: files dns\n',
  );
});

/** The real daemon, inside the namespace where the directory users exist. */
function startDaemonIn(directory: Directory, args: string[], logFile: string): Proc {
  const daemon = startAgentProcess(args, logFile, { wrap: directory.wrap });
  lastDaemonOutput = daemon.output;
  return daemon;
}

/** The running daemon's output, for timeouts' diagnostics. */
let lastDaemonOutput: (() => string) | undefined;

/** waitFor, with the daemon's output on a timeout. */
const waitSeen = <T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> =>
  waitFor(fn, what, timeoutMs, { stepMs: 100, detail: () => (lastDaemonOutput ? `daemon output:\n${lastDaemonOutput().slice(-4000)}` : '') });

for (const variant of [
  { title: 'as NSS names them', identity: undefined, expected: DANA.name },
  { title: 'in the DOMAIN\\name form with identity.domain CORP', identity: { userFormat: 'DOMAIN\\name', domain: 'CORP' }, expected: `CORP\\${DANA.name}` },
]) {
  test(`a directory user is named ${variant.title}: process records, session welcome, activity records`, async (t) => {
    const directory = createDirectory(t, [DANA]);
    // Preconditions: the user exists only through NSS, and only inside the test's namespace.
    assert.doesNotMatch(readFileSync('/etc/passwd', 'utf8'), new RegExp(`^${DANA.name}:|:${DANA.uid}:`, 'm'));
    assert.equal(spawnSync('getent', ['passwd', String(DANA.uid)]).status, 2, 'the directory user must not exist outside the test namespace');
    assert.match(directory.getent('passwd', DANA.uid), new RegExp(`^${DANA.name}:x:${DANA.uid}:${DANA.gid}:`));
    assert.match(directory.getent('group', DANA.gid), new RegExp(`^${DANA.group}:x:${DANA.gid}:`));

    const dir = tempDir(t, 'ua-nss-agent-');
    chmodSync(dir, 0o755);
    const data = join(dir, 'data');
    mkdirSync(data);
    const socket = join(dir, 'run', 'agent.sock');
    const config = writeConfig(dir, {
      processes: { sampleIntervalMs: 200, pacct: 'off' },
      session: { socketPath: socket },
      journal: { flushIntervalMs: 100 },
      log: { level: 'info' },
      ...(variant.identity ? { identity: variant.identity } : {}),
    });
    const daemon = startDaemonIn(directory, ['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
    t.after(() => daemon.stop());
    await daemon.waitForOutput(/listening for session agents/);

    // A process run as the directory user (its name was never seen by the agent before).
    const sleeper = spawn('sleep', ['1.5'], { uid: DANA.uid, gid: DANA.gid, stdio: 'ignore' });
    const pid = sleeper.pid!;
    await new Promise((r) => sleeper.once('exit', r));
    const proc = await waitSeen('the process record of the directory user', () =>
      readRecords(data, 'process').find((r) => r.pid === pid && r.command === 'sleep'),
    );
    assert.equal(proc.uid, DANA.uid);
    assert.equal(proc.gid, DANA.gid);
    assert.equal(proc.user, variant.expected);
    assert.equal(proc.group, DANA.group);

    // The real session agent of that user (no display: it connects and queues nothing).
    const home = join(dir, 'home');
    mkdirSync(home);
    chownSync(home, DANA.uid, DANA.gid);
    const session = startAgentProcess(
      ['session', '--config', config, '--socket', socket, '--queue', join(home, 'queue.db'), '--log-level', 'info'],
      join(dir, 'session.log'),
      { wrap: asUser(DANA.uid, DANA.gid, tempDir(t, 'usage-agent-as-dana-')), cwd: home, env: { PATH: process.env.PATH, HOME: home } },
    );
    t.after(() => session.stop());
    await session.waitForOutput(/connected to the daemon/);
    const connected = session
      .output()
      .split('\n')
      .filter((l) => l.includes('connected to the daemon'))
      .map((l) => JSON.parse(l) as { user: string })[0]!;
    assert.equal(connected.user, variant.expected);
    await daemon.waitForOutput(/session agent connected/);
    const line = daemon
      .output()
      .split('\n')
      .find((l) => l.includes('session agent connected'))!;
    assert.equal((JSON.parse(line) as { user: string; uid: number }).user, variant.expected);
    await session.stop();

    // A record handed over by a client of that user is stamped with the name (not the claim).
    const client = `
      const net = require('node:net'); const fs = require('node:fs');
      const s = net.createConnection(process.argv[1]); let buf = '';
      const send = (m) => s.write(JSON.stringify({ v: 1, ...m }) + '\\n');
      const now = new Date().toISOString();
      s.on('connect', () => send({ kind: 'hello', uid: Number(process.argv[2]), pid: process.pid, queueId: 'raw', input: { mode: 'none' } }));
      s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
        if (m.kind === 'challenge') send({ kind: 'auth', token: fs.readFileSync(m.tokenPath, 'utf8') });
        else if (m.kind === 'welcome') { console.log('welcome ' + m.user); send({ kind: 'records', items: [{ id: 1, record: { type: 'work', time: now, start: now, end: now, durationSeconds: 1, periodType: 'extended', user: 'root', keyboard: 1, mouse: 0, switch: 0 } }] }); }
        else if (m.kind === 'ack') { console.log('ack ' + m.through); s.end(); }
        else if (m.kind === 'error') console.log('error ' + m.message); } });
      s.on('close', () => process.exit(0));`;
    const raw = spawnSync(process.execPath, ['-e', client, socket, String(DANA.uid)], { uid: DANA.uid, gid: DANA.gid, encoding: 'utf8', timeout: 15_000 });
    assert.equal(raw.stdout.trim(), `welcome ${variant.expected}\nack 1`, raw.stderr);
    const work = readRecords(data, 'work');
    assert.equal(work.length, 1);
    assert.equal(work[0]!.user, variant.expected);
    assert.equal(work[0]!.uid, DANA.uid);
  });
}

test('a controlled program run by a directory user takes its lease under the name, in the DOMAIN\\name form', async (t) => {
  const directory = createDirectory(t, [DANA]);
  const exeName = `ua-dircad-${process.pid}`; // unique: a concurrent test run's programs never match
  const srv = await startServer({
    products: [{ id: 'cad', name: 'CAD Pro', seats: 2, match: { executables: [exeName], paths: [] }, leaseTtlSeconds: 30, graceSeconds: 30 }],
  });
  t.after(() => srv.cleanup());
  const dir = tempDir(t, 'ua-nss-lease-');
  chmodSync(dir, 0o755);
  const exe = join(dir, exeName);
  copyFileSync('/usr/bin/sleep', exe);
  chmodSync(exe, 0o755);
  const data = join(dir, 'data');
  mkdirSync(data);
  const config = writeConfig(dir, {
    processes: { sampleIntervalMs: 200, pacct: 'off' },
    activity: { enabled: false },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 100 },
    leases: { launchPollMs: 100 },
    journal: { flushIntervalMs: 100 },
    log: { level: 'info' },
    identity: { userFormat: 'DOMAIN\\name', domain: 'CORP' },
  });
  const daemon = startDaemonIn(directory, ['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  // The policy (one product) has reached the enforcer.
  await waitSeen(
    'the product policy in the enforcer',
    () => {
      const r = runAgentCli(['status', '--json', '--data-dir', data]);
      return r.code === 0 && JSON.parse(r.stdout).daemon?.components?.enforcer?.products === 1 ? true : undefined;
    },
    30_000,
  );

  const prog = spawn(exe, ['30'], { uid: DANA.uid, gid: DANA.gid, stdio: 'ignore' });
  t.after(() => void prog.kill('SIGKILL'));
  const lease = await waitSeen(
    'the lease on the server',
    () => srv.query<{ user: string; pid: number }>("SELECT user, pid FROM leases WHERE product_id = 'cad'")[0],
    30_000,
  );
  assert.equal(lease.user, `CORP\\${DANA.name}`);
  assert.equal(lease.pid, prog.pid);
  // What the agent uploaded (acknowledged records leave the journal): the obtain event and, once
  // the program quits, its process record, both under the same name.
  const obtain = await waitSeen(
    'the obtain event on the server',
    () => srv.query<{ user: string }>('SELECT user FROM usage_events WHERE code = 1 AND pid = ?', prog.pid)[0],
    30_000,
  );
  assert.equal(obtain.user, `CORP\\${DANA.name}`);
  // Kernel accounting is off in this test, so the program must live across a few samples to be
  // recorded at all (the lease can be granted within a single 200 ms sample interval).
  await sleep(1500);
  prog.kill('SIGTERM');
  await new Promise((r) => prog.once('exit', r));
  const proc = await waitSeen(
    'the process record on the server',
    () => srv.query<{ user: string; grp: string }>("SELECT user, grp FROM process_records WHERE type = 'process' AND pid = ?", prog.pid)[0],
    30_000,
  ).catch((err) => {
    const status = runAgentCli(['status', '--json', '--data-dir', data]).stdout;
    const inJournal = readRecords(data, 'process').filter((r) => r.pid === prog.pid);
    const onServer = srv.query("SELECT seq, type, pid, user, command, exe, start, end FROM process_records WHERE exe LIKE '%ua-dircad%' OR uid = ?", DANA.uid);
    throw new Error(`${(err as Error).message}\nserver: ${JSON.stringify(onServer)}\njournal: ${JSON.stringify(inJournal)}\nstatus: ${status}`);
  });
  assert.equal(proc.user, `CORP\\${DANA.name}`);
  assert.equal(proc.grp, DANA.group);
  // The software audit of the same daemon reached the server too: its records are stored as they are.
  const stored = await waitSeen(
    'the software inventory on the server',
    () => {
      const audited = srv.query<{ extra: string }>('SELECT extra FROM usage_events WHERE code = 24')[0];
      return audited ? { audited, software: srv.query<{ n: number }>("SELECT count(*) AS n FROM other_records WHERE type = 'software'")[0]!.n } : undefined;
    },
    30_000,
  );
  assert.equal(stored.software, (JSON.parse(stored.audited.extra) as { packages: number }).packages);
});
