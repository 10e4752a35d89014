/**
 * Real-process stress of the exactly-once merge: 500 short processes (half exit at once, half live
 * ~30 ms so the sampler sees them) under real kernel accounting into a temp file (root, accton),
 * sampled every 10 ms by the real /proc sampler while the real pacct reader is made to lag (at most
 * 4 records per read) and sampled exits wait for nothing (waitMs 0): many processes are emitted as
 * `ps` before their pacct record is read. Every process must still be emitted exactly once.
 * The glue is the component's per-tick order (sample -> addExited -> pacct -> pacctRead -> due).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PacctReader } from '../../../src/collectors/pacct/reader.js';
import { ExitMerger } from '../../../src/collectors/processes/merge.js';
import { PasswdNames } from '../../../src/identity/files.js';
import { ProcfsReader } from '../../../src/collectors/processes/procfs.js';
import { ProcessTracker } from '../../../src/collectors/processes/tracker.js';
import { tempDir } from '../../helpers/cli.js';

const N = 500;

function run(cmd: string, args: string[]): Promise<{ pid: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => resolve({ pid: c.pid!, code }));
  });
}

test('500 short processes while the pacct reader lags: each emitted exactly once, exit codes from pacct when it arrived', { timeout: 120_000 }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'runs as root (accton)');
  const dir = tempDir(t);
  const file = join(dir, 'pacct');
  writeFileSync(file, '', { mode: 0o600 });
  const marker = `uaStress${process.pid % 10000}`;
  const shell = join(dir, marker);
  copyFileSync('/bin/sh', shell);
  chmodSync(shell, 0o755);
  t.after(() => void spawnSync('accton', ['off'], { stdio: 'ignore' }));
  execFileSync('accton', [file], { stdio: 'ignore' });

  const names = new PasswdNames();
  const procfs = new ProcfsReader({ names });
  const tracker = new ProcessTracker();
  const reader = new PacctReader(file);
  const merger = new ExitMerger({ waitMs: 0 });
  const out: Array<{ source: string; pid: number; startMs: number; exitCode: number | null }> = [];
  const emit = (source: 'ps' | 'pacct' | 'both', pid: number, startMs: number, comm: string, exitCode: number | null) => {
    out.push({ source, pid, startMs, exitCode });
    merger.emitted(source, pid, startMs, comm, Date.now());
  };
  const clockOffset = () => procfs.bootTimeMs - (Date.now() - procfs.readUptimeMs());
  const tick = (maxRecords: number): number => {
    procfs.sample(tracker);
    const { exited } = tracker.endSample();
    merger.addExited(exited, performance.now());
    const off = clockOffset();
    const n = reader.poll((a) => {
      const d = merger.onPacct(a, (pid) => tracker.get(pid), off);
      if (d.kind === 'both') {
        if (d.live) tracker.takeLive(d.p.pid, d.p.startMs, 0);
        emit('both', d.p.pid, d.p.startMs, a.command, a.exitCode);
      } else if (d.kind === 'pacct') emit('pacct', a.pid, a.btime * 1000 + off, a.command, a.exitCode);
    }, maxRecords);
    merger.pacctRead();
    for (const p of merger.due(performance.now(), true)) emit('ps', p.pid, p.startMs, p.comm, null);
    return n;
  };
  tick(Infinity); // baseline: everything already running
  const baseline = out.length;

  let done = false;
  const sampler = (async () => {
    while (!done) {
      tick(4);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const codes = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const script = i % 2 === 0 ? `exit ${i % 4}` : `sleep 0.03; exit ${i % 4}`;
      const r = await run(shell, ['-c', script]);
      assert.equal(r.code, i % 4);
      codes.set(r.pid, i % 4);
    }
  };
  try {
    await Promise.all(Array.from({ length: 10 }, worker));
  } finally {
    done = true;
    await sampler;
  }
  // drain the lagging reader, then flush what still waits
  for (let k = 0; k < 10_000 && (tick(64) > 0 || merger.pendingCount > 0); k++) await new Promise((r) => setTimeout(r, 1));
  tick(Infinity);
  for (const p of merger.due(performance.now(), true, true)) emit('ps', p.pid, p.startMs, p.comm, null);

  assert.equal(codes.size, N);
  const mine = out.slice(baseline).filter((e) => codes.has(e.pid));
  const perPid = new Map<number, typeof mine>();
  for (const e of mine) perPid.set(e.pid, [...(perPid.get(e.pid) ?? []), e]);
  const twice = [...perPid.entries()].filter(([, v]) => v.length > 1);
  assert.deepEqual(twice, [], 'no process emitted twice');
  assert.equal(perPid.size, N, 'no process lost');
  for (const [pid, [e]] of perPid) if (e!.source !== 'ps') assert.equal(e!.exitCode, codes.get(pid), `exit code of ${pid}`);
  const bySource = (s: string) => mine.filter((e) => e.source === s).length;
  // The race really happened: exits emitted as ps whose records were read later and suppressed.
  assert.ok(bySource('ps') > 0, `some exits were emitted before their record was read (ps ${bySource('ps')})`);
  assert.ok(merger.duplicatesSuppressed >= bySource('ps'), `late records suppressed: ${merger.duplicatesSuppressed} >= ps ${bySource('ps')}`);
  assert.ok(bySource('pacct') > 0, 'some processes were seen by pacct only');
  t.diagnostic(`sources: both ${bySource('both')}, ps ${bySource('ps')}, pacct ${bySource('pacct')}; suppressed ${merger.duplicatesSuppressed}`);
  reader.close();
});
