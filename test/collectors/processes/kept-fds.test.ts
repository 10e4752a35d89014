/**
 * The sampler keeps /proc/PID/stat open between samples and re-reads it with pread: real
 * processes, real /proc, the descriptors checked through /proc/self/fd.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';
import { test } from 'node:test';
import { PasswdNames } from '../../../src/identity/files.js';
import { ProcfsReader } from '../../../src/collectors/processes/procfs.js';
import { softNoFileLimit } from '../../../src/collectors/processes/system.js';
import { ProcessTracker } from '../../../src/collectors/processes/tracker.js';
import { ProcessWatcher } from '../../../src/collectors/processes/watcher.js';

/** Paths of this process's open descriptors that are /proc/PID/stat files. */
function openStatPaths(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^\/proc\/\d+\/stat$/.test(target)) out.push(target);
    } catch {
      /* the descriptor readdir itself used */
    }
  }
  return out;
}

function sleepers(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn('sleep', ['60'], { stdio: 'ignore' }));
}

async function killAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGKILL');
      await exited;
    }),
  );
}

test('stat descriptors are kept for live processes, re-read with fresh values, closed when the process is gone', async (t) => {
  const kids = sleepers(3);
  t.after(() => killAll(kids));
  await new Promise((r) => setTimeout(r, 200));
  const r = new ProcfsReader({ names: new PasswdNames() });
  t.after(() => r.close());
  const tr = new ProcessTracker();
  r.sample(tr);
  tr.endSample();
  const paths = new Set(openStatPaths());
  for (const k of kids) assert.ok(paths.has(`/proc/${k.pid}/stat`), `descriptor kept for ${k.pid}`);
  assert.equal(r.keptDescriptors, openStatPaths().length);

  // Values come from the kernel at each read, not from the first read: our own CPU time moves.
  const before = tr.get(process.pid)!.cpuUserSeconds + tr.get(process.pid)!.cpuSystemSeconds;
  const until = process.cpuUsage().user + 300_000;
  while (process.cpuUsage().user < until) Math.sqrt(Math.random());
  r.sample(tr);
  tr.endSample();
  const after = tr.get(process.pid)!.cpuUserSeconds + tr.get(process.pid)!.cpuSystemSeconds;
  assert.ok(after >= before + 0.2, `own CPU moved from ${before} to ${after} through the kept descriptor`);

  // A reaped process: its descriptor reads ESRCH; the sample drops it and reports the exit.
  const gone = kids[0]!;
  await killAll([gone]);
  r.sample(tr);
  const { exited } = tr.endSample();
  assert.ok(
    exited.some((p) => p.pid === gone.pid),
    'exit of the killed sleeper detected',
  );
  assert.ok(!openStatPaths().includes(`/proc/${gone.pid}/stat`), 'its descriptor is closed');
  assert.ok(openStatPaths().includes(`/proc/${kids[1]!.pid}/stat`), 'the others stay open');
  assert.equal(r.keptDescriptors, openStatPaths().length);

  r.close();
  assert.equal(r.keptDescriptors, 0);
  assert.deepEqual(openStatPaths(), []);
});

test('over the cap: the rest are read with open/read/close, with the same results', async (t) => {
  const kids = sleepers(5);
  t.after(() => killAll(kids));
  await new Promise((r) => setTimeout(r, 200));
  const capped = new ProcfsReader({ names: new PasswdNames(), maxKeptFds: 2 });
  const none = new ProcfsReader({ names: new PasswdNames(), maxKeptFds: 0 });
  t.after(() => {
    capped.close();
    none.close();
  });
  const a = new ProcessTracker();
  const b = new ProcessTracker();
  for (let i = 0; i < 2; i++) {
    capped.sample(a);
    a.endSample();
    none.sample(b);
    b.endSample();
  }
  assert.equal(capped.keptDescriptors, 2);
  assert.equal(none.keptDescriptors, 0);
  assert.equal(openStatPaths().length, 2);
  for (const k of kids) {
    const x = a.get(k.pid!)!;
    const y = b.get(k.pid!)!;
    assert.ok(x && y, `sleeper ${k.pid} sampled by both`);
    assert.equal(x.comm, 'sleep');
    assert.equal(x.startMs, y.startMs);
    assert.equal(x.samples, 2);
    assert.equal(x.details!.exe, y.details!.exe);
  }
});

test('the cap never exceeds half the soft RLIMIT_NOFILE', () => {
  const soft = softNoFileLimit();
  assert.ok(soft !== null && soft > 0, 'Max open files read from /proc/self/limits');
  const r = new ProcfsReader({ names: new PasswdNames(), maxKeptFds: Number.MAX_SAFE_INTEGER });
  assert.equal(r.maxKeptFds, Math.floor(soft / 2));
  assert.equal(new ProcfsReader({ names: new PasswdNames() }).maxKeptFds, Math.min(8192, Math.floor(soft / 2)));
});

test('the launch watcher keeps no descriptors (nothing left behind when no sample follows)', async (t) => {
  const r = new ProcfsReader({ names: new PasswdNames() });
  t.after(() => r.close());
  const w = new ProcessWatcher(r, 60_000);
  w.poll();
  const kids = sleepers(2);
  t.after(() => killAll(kids));
  await new Promise((res) => setTimeout(res, 200));
  const started: number[] = [];
  w.onStart((p) => started.push(p.pid));
  w.stop();
  w.poll();
  for (const k of kids) assert.ok(started.includes(k.pid!), `launch of ${k.pid} reported`);
  assert.equal(r.keptDescriptors, 0);
  assert.deepEqual(openStatPaths(), []);
});
