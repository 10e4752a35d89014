/**
 * The /proc sampler over recorded fixtures (test/fixtures/proc/t1, t2: two samples 5 s apart) and
 * over the real /proc. Fixture values are exact; real-process tolerances are stated inline.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PasswdNames } from '../../../src/identity/files.js';
import { ProcfsReader } from '../../../src/collectors/processes/procfs.js';
import { finishSampled } from '../../../src/collectors/processes/records.js';
import { ProcessTracker } from '../../../src/collectors/processes/tracker.js';
import { ProcessWatcher } from '../../../src/collectors/processes/watcher.js';

// dist-*/test/collectors/processes -> repository root
const FIX = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'test', 'fixtures', 'proc');
const BOOT = 1_700_000_000_000;

function reader(snapshot: string, mono: number): ProcfsReader {
  return new ProcfsReader({
    procRoot: join(FIX, snapshot),
    names: new PasswdNames(join(FIX, 'passwd'), join(FIX, 'group')),
    hz: 100,
    pageSize: 4096,
    monoNow: () => mono,
  });
}

test('fixtures: stat parsing (odd comm), identity, PID reuse, exits, details and I/O', () => {
  const t = new ProcessTracker();
  const r1 = reader('t1', 0);
  assert.equal(r1.bootTimeMs, BOOT);
  r1.sample(t);
  assert.equal(t.endSample().exited.length, 0);
  assert.equal(t.size, 3);
  const p = t.get(100)!;
  assert.equal(p.comm, 'my (odd) prog');
  assert.equal(p.startMs, BOOT + 500_000);
  assert.equal(p.ageAtFirstMs, 500_000); // uptime 1000 s, started at 500 s
  assert.deepEqual(p.details, { uid: 1000, gid: 1000, user: 'alice', group: 'staff', exe: '/opt/odd/prog' });
  assert.equal(p.readBytes, 1000);

  reader('t2', 5000).sample(t);
  const { exited } = t.endSample();
  // 300 exited; 200 was reused by `cat` (different start ticks): the `sleep` ended
  assert.deepEqual(exited.map((x) => `${x.pid}:${x.comm}`).sort(), ['200:sleep', '300:bash']);
  assert.equal(t.get(200)!.comm, 'cat');
  assert.equal(t.get(200)!.startMs, BOOT + 1_003_000);
  const q = t.get(100)!;
  assert.equal(q.cpuUserSeconds, 6);
  assert.equal(q.cpuSystemSeconds, 0.6);
  assert.equal(q.maxRssBytes, 51200 * 4096);
  assert.equal(q.readBytes, 5000);
  assert.equal(q.writeBytes, 7000);
  const sleep = exited.find((x) => x.comm === 'sleep')!;
  const { record } = finishSampled('fixture', sleep, null);
  assert.equal(record.user, 'root');
  assert.equal(record.exe, '/usr/bin/sleep');
  assert.equal(record.start, new Date(BOOT + 990_000).toISOString());
  assert.equal(record.elapsedSeconds, 10); // 1000 s uptime - 990 s start; last seen in t1
  assert.equal(record.cpuUserSeconds, 0.01);
});

test('real /proc: this process is found with plausible values', () => {
  const r = new ProcfsReader({ names: new PasswdNames() });
  const t = new ProcessTracker();
  r.sample(t);
  t.endSample();
  const me = t.get(process.pid)!;
  assert.ok(me, 'own pid sampled');
  assert.equal(me.comm, 'node');
  assert.equal(me.details!.uid, process.getuid!());
  assert.equal(me.details!.exe, process.execPath);
  // RSS within 50% of what Node reports for itself
  const rss = process.memoryUsage().rss;
  assert.ok(me.lastRssBytes > rss * 0.5 && me.lastRssBytes < rss * 1.5, `${me.lastRssBytes} vs ${rss}`);
  // start within 2 s of what Node says (uptime-based)
  const startedAt = Date.now() - process.uptime() * 1000;
  assert.ok(Math.abs(me.startMs - startedAt) < 2000, `${me.startMs} vs ${startedAt}`);
});

test('launch watcher: onStart and onExit for a real child, existing processes are not launches', async (t) => {
  const r = new ProcfsReader({ names: new PasswdNames() });
  const w = new ProcessWatcher(r, 50);
  t.after(() => w.stop());
  const started: number[] = [];
  const exited: number[] = [];
  w.onStart((p) => started.push(p.pid));
  w.onExit((p) => exited.push(p.pid));
  assert.ok(!started.includes(process.pid));
  const child = spawn('sleep', ['0.6'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(started.includes(child.pid!), 'child launch seen');
  const ev = w.running().find((p) => p.pid === child.pid)!;
  assert.equal(ev.command, 'sleep');
  assert.equal(ev.exe, '/usr/bin/sleep');
  assert.equal(ev.ppid, process.pid);
  assert.ok(ev.startTicks > 0);
  await new Promise((res) => child.on('exit', res));
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(exited.includes(child.pid!), 'child exit seen');
});

test('launch watcher: /proc/loadavg decides: nothing moved -> nothing read; new ids probed (threads told apart); /proc listed only for exits, at most every 500 ms', async (t) => {
  const { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const root = mkdtempSync(join(tmpdir(), 'ua-proc-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  cpSync(join(FIX, 't1'), root, { recursive: true });
  const loadavg = (tasks: number, last: number) => writeFileSync(join(root, 'loadavg'), `0.10 0.05 0.01 1/${tasks} ${last}\n`);
  /** A task in the fixture /proc: a copy of process 100 with its own ids and comm. */
  const task = (id: number, tgid: number, comm: string) => {
    cpSync(join(FIX, 't1', '100'), join(root, String(id)), { recursive: true });
    const dir = join(root, String(id));
    writeFileSync(join(dir, 'stat'), readFileSync(join(dir, 'stat'), 'latin1').replace('100 (my (odd) prog)', `${id} (${comm})`));
    writeFileSync(join(dir, 'status'), readFileSync(join(dir, 'status'), 'latin1').replace('Tgid:\t100', `Tgid:\t${tgid}`).replace('Pid:\t100', `Pid:\t${id}`));
  };
  loadavg(312, 4242);
  const names = new PasswdNames(join(FIX, 'passwd'), join(FIX, 'group'));
  const r = new ProcfsReader({ procRoot: root, names, hz: 100, pageSize: 4096, monoNow: () => 0 });
  assert.equal(r.taskChangeToken(), 312 * 4_194_304 + 4242);
  const w = new ProcessWatcher(r, 60_000);
  t.after(() => w.stop());
  const started: string[] = [];
  const exited: number[] = [];
  w.onStart((p) => started.push(`${p.pid}:${p.command}`));
  w.onExit((p) => exited.push(p.pid));
  const counts = () => [w.polls, w.scans, w.probes];
  assert.deepEqual(counts(), [1, 1, 0]); // the baseline listing
  // A new task while loadavg is unchanged (cannot happen on a real kernel): nothing is read.
  task(4243, 4243, 'cadpro');
  w.poll();
  assert.deepEqual([counts(), started], [[2, 1, 0], []]);
  // The last PID moved by one: that id is probed, no listing.
  loadavg(313, 4243);
  w.poll();
  assert.deepEqual([counts(), started], [[3, 1, 1], ['4243:cadpro']]);
  // A thread of it (its id has a /proc entry with Tgid 4243): not a process.
  task(4244, 4243, 'cadpro');
  loadavg(314, 4244);
  w.poll();
  assert.deepEqual([counts(), started], [[4, 1, 2], ['4243:cadpro']]);
  // A fork shows its parent's image until it execs, and an exec creates no task: the young
  // process is re-read without a listing, and the exec is a start of the new image.
  task(4245, 4245, 'bash');
  loadavg(315, 4245);
  w.poll();
  writeFileSync(join(root, '4245', 'stat'), readFileSync(join(root, '4245', 'stat'), 'latin1').replace('(bash)', '(cadpro)'));
  w.poll();
  assert.deepEqual([counts(), started, w.execs], [[6, 1, 3], ['4243:cadpro', '4245:bash', '4245:cadpro'], 1]);
  // An older process is reaped (the count fell, no new id): a listing is due, but not within
  // 500 ms of the last one.
  rmSync(join(root, '300'), { recursive: true });
  loadavg(314, 4245);
  w.poll();
  assert.deepEqual([w.scans, exited], [1, []]);
  await new Promise((res) => setTimeout(res, 520));
  w.poll(); // loadavg unchanged since, but the listing is due now
  assert.deepEqual([w.scans, exited], [2, [300]]);
  w.poll();
  assert.equal(w.scans, 2);
  // A jump of more ids than are probed one by one: a listing.
  task(9000, 9000, 'late');
  loadavg(315, 9000);
  w.poll();
  assert.deepEqual([w.scans, started.at(-1)], [3, '9000:late']);
  // Without /proc/loadavg every poll lists /proc.
  rmSync(join(root, 'loadavg'));
  const r2 = new ProcfsReader({ procRoot: root, names, hz: 100, pageSize: 4096, monoNow: () => 0 });
  assert.ok(Number.isNaN(r2.taskChangeToken()));
  const w2 = new ProcessWatcher(r2, 60_000);
  w2.poll();
  w2.poll();
  assert.equal(w2.scans, 2);
});
