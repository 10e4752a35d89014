/**
 * The pure accounting core over exact synthetic input: averages, PID reuse, hour intervals whose
 * sums equal the totals, wall-clock jumps and suspend/resume. Tolerances: exact, or 1e-9 for
 * floating-point sums.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { finishSampled, matchPacct } from '../../../src/collectors/processes/records.js';
import { elapsedSecondsOf, HOUR_MS, Observed, ProcessTracker, type ProcessObservation } from '../../../src/collectors/processes/tracker.js';
import { encodeAcctV3, decodeAcctV3 } from '../../../src/collectors/pacct/decode.js';

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0); // 10:00:00 UTC

function obs(pid: number, startMs: number, user: number, sys: number, rss: number, comm = 'proc'): ProcessObservation {
  return { pid, ppid: 1, startMs, comm, cpuUserSeconds: user, cpuSystemSeconds: sys, rssBytes: rss, vsizeBytes: rss * 2 };
}

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('time-weighted average and maximum RSS, CPU totals, elapsed from the monotonic clock', () => {
  const t = new ProcessTracker();
  const start = T0 - 10_000;
  const steps: Array<[number, number, number]> = [
    // mono ms, cpu user s, rss bytes
    [0, 1, 100],
    [1000, 2, 300], // 100 held for 1 s
    [4000, 3, 200], // 300 held for 3 s
    [5000, 3, 200], // 200 held for 1 s
  ];
  for (const [mono, cpu, rss] of steps) {
    t.beginSample({ mono, wall: T0 + mono });
    t.observe(obs(1, start, cpu, cpu / 10, rss));
    const r = t.endSample();
    assert.equal(r.exited.length, 0);
  }
  const p = t.get(1)!;
  assert.equal(p.maxRssBytes, 300);
  close(p.rssIntegral / p.observedMs, (100 * 1000 + 300 * 3000 + 200 * 1000) / 5000);
  assert.equal(elapsedSecondsOf(p), 15); // 10 s old when first seen + 5 s observed
  t.beginSample({ mono: 6000, wall: T0 + 6000 });
  const { exited } = t.endSample();
  assert.equal(exited.length, 1);
  const { record, intervals } = finishSampled('h', exited[0]!, null);
  assert.equal(record.source, 'ps');
  assert.equal(record.cpuUserSeconds, 3);
  assert.equal(record.cpuSystemSeconds, 0.3);
  assert.equal(record.avgRssBytes, 240);
  assert.equal(record.maxRssBytes, 300);
  assert.equal(record.avgVirtualBytes, 480);
  assert.equal(record.elapsedSeconds, 15);
  assert.equal(record.start, new Date(start).toISOString());
  assert.equal(record.end, new Date(start + 15_000).toISOString());
  assert.equal(record.exitCode, null);
  assert.deepEqual(intervals, []); // never crossed an hour boundary
});

test('PID reuse between samples: two processes, never merged', () => {
  const t = new ProcessTracker();
  t.beginSample({ mono: 0, wall: T0 });
  assert.equal(t.observe(obs(50, T0 - 5000, 1, 0, 10, 'old')), Observed.New);
  t.endSample();
  t.beginSample({ mono: 1000, wall: T0 + 1000 });
  assert.equal(t.observe(obs(50, T0 + 500, 0, 0, 20, 'new')), Observed.New);
  const { exited } = t.endSample();
  assert.equal(exited.length, 1);
  assert.equal(exited[0]!.comm, 'old');
  assert.equal(exited[0]!.cpuUserSeconds, 1);
  assert.equal(t.get(50)!.comm, 'new');
  assert.equal(t.get(50)!.cpuUserSeconds, 0);
});

test('observe asks for I/O only when CPU moved, and for details again after an exec', () => {
  const t = new ProcessTracker();
  t.beginSample({ mono: 0, wall: T0 });
  assert.equal(t.observe(obs(5, T0 - 1, 1, 0, 1, 'sh')), Observed.New);
  t.endSample();
  t.beginSample({ mono: 1, wall: T0 + 1 });
  assert.equal(t.observe(obs(5, T0 - 1, 1, 0, 1, 'sh')), Observed.Unchanged);
  t.endSample();
  t.beginSample({ mono: 2, wall: T0 + 2 });
  assert.equal(t.observe(obs(5, T0 - 1, 1.01, 0, 1, 'sh')), Observed.CpuChanged);
  t.endSample();
  t.beginSample({ mono: 3, wall: T0 + 3 });
  assert.equal(t.observe(obs(5, T0 - 1, 1.01, 0, 1, 'python3')), Observed.New);
  t.endSample();
});

test('hourly intervals: one per hour, split at the boundary, sums equal the totals', () => {
  const t = new ProcessTracker();
  const start = T0 + 30 * 60_000; // 10:30
  const seen: Array<{ cpu: number; el: number; s: number; e: number; rss: number | null }> = [];
  let mono = 0;
  let cpu = 0;
  // one sample every 10 minutes from 10:30 to 12:50; CPU grows 6 s per sample (0.01 s/ms... )
  for (let wall = start; wall <= T0 + 170 * 60_000; wall += 10 * 60_000) {
    t.beginSample({ mono, wall });
    t.observe(obs(9, start, cpu, cpu / 2, wall < T0 + HOUR_MS ? 1000 : 3000));
    for (const { interval: iv } of t.endSample().intervals) {
      seen.push({ cpu: iv.cpuUserSeconds + iv.cpuSystemSeconds, el: iv.elapsedSeconds, s: iv.intervalStartMs, e: iv.intervalEndMs, rss: iv.avgRssBytes });
    }
    mono += 10 * 60_000;
    cpu += 6;
  }
  // boundaries 11:00 and 12:00 crossed
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.s, start);
  assert.equal(seen[0]!.e, T0 + HOUR_MS);
  assert.equal(seen[1]!.s, T0 + HOUR_MS);
  assert.equal(seen[1]!.e, T0 + 2 * HOUR_MS);
  close(seen[0]!.el, 1800); // 10:30 -> 11:00
  close(seen[1]!.el, 3600);
  close(seen[0]!.cpu, 18 * 1.5); // 3 samples' worth of 6 s user + 3 s system
  assert.equal(seen[0]!.rss, 1000);
  // the 10:50 reading (1000) is held until the 11:00 sample, i.e. entirely in the first hour
  assert.equal(seen[1]!.rss, 3000);
  // exit after the 12:50 sample
  t.beginSample({ mono, wall: T0 + 180 * 60_000 });
  const { exited } = t.endSample();
  const { record, intervals } = finishSampled('h', exited[0]!, null);
  assert.equal(intervals.length, 1);
  const last = intervals[0]!;
  assert.equal(last.intervalStart, new Date(T0 + 2 * HOUR_MS).toISOString());
  const sumCpu = seen[0]!.cpu + seen[1]!.cpu + last.cpuSeconds;
  close(sumCpu, record.cpuUserSeconds + record.cpuSystemSeconds, 2e-3); // records are rounded to 1 ms
  const sumEl = seen[0]!.el + seen[1]!.el + last.elapsedSeconds;
  close(sumEl, record.elapsedSeconds, 2e-3);
  assert.equal(record.elapsedSeconds, 140 * 60);
});

test('wall clock jumps back 1 h then forward 2 h: elapsed follows the monotonic clock', () => {
  const t = new ProcessTracker();
  const start = T0 + 10 * 60_000;
  const samples: Array<[number, number]> = [
    [0, start + 1000],
    [5000, start + 6000],
    [10_000, start + 11_000 - HOUR_MS], // NTP step back one hour
    [15_000, start + 16_000 - HOUR_MS],
    [20_000, start + 21_000 + HOUR_MS], // and forward two hours
  ];
  const ivs: number[] = [];
  for (const [mono, wall] of samples) {
    t.beginSample({ mono, wall });
    t.observe(obs(3, start, mono / 1000, 0, 100));
    for (const { interval } of t.endSample().intervals) ivs.push(interval.elapsedSeconds);
  }
  const p = t.get(3)!;
  assert.equal(elapsedSecondsOf(p), 21); // 1 s old at first sight + 20 s of monotonic time
  // the forward step crossed an hour boundary: an interval is closed, but its elapsed is mono
  assert.equal(ivs.length, 1);
  assert.ok(ivs[0]! >= 0 && ivs[0]! <= 21);
  t.beginSample({ mono: 25_000, wall: start });
  const { record, intervals } = finishSampled('h', t.endSample().exited[0]!, null);
  assert.equal(record.elapsedSeconds, 21);
  close(ivs[0]! + intervals[0]!.elapsedSeconds, 21, 2e-3); // record rounding: 1 ms
  assert.ok(intervals[0]!.elapsedSeconds >= 0);
});

test('suspend/resume: hours pass on the wall clock, none on the monotonic clock', () => {
  const t = new ProcessTracker();
  const start = T0;
  t.beginSample({ mono: 0, wall: start + 1000 });
  t.observe(obs(4, start, 0, 0, 100));
  t.endSample();
  // 3 hours suspended: mono advanced only 5 s (the sample interval before and after)
  t.beginSample({ mono: 5000, wall: start + 3 * HOUR_MS + 5000 });
  t.observe(obs(4, start, 1, 0, 100));
  const { intervals } = t.endSample();
  assert.equal(intervals.length, 3); // one per clock hour it existed in
  const el = intervals.reduce((s, x) => s + x.interval.elapsedSeconds, 0);
  assert.ok(el <= 6 + 1e-9, `elapsed over the suspend is not inflated: ${el}`);
  assert.equal(elapsedSecondsOf(t.get(4)!), 6);
});

test('a process whose pacct record arrives while it is still tracked is finished once; its zombie is ignored', () => {
  const t = new ProcessTracker();
  t.beginSample({ mono: 0, wall: T0 });
  t.observe(obs(77, T0 - 2000, 1, 0, 100, 'child'));
  t.endSample();
  const a = decodeAcctV3(encodeAcctV3({ pid: 77, btime: Math.floor((T0 - 2000) / 1000), comm: 'child', exitcode: 3 << 8, etimeTicks: 250 }))!;
  const live = t.get(77)!;
  assert.equal(matchPacct([live], a), live);
  const taken = t.takeLive(77, live.startMs, Infinity)!;
  const { record } = finishSampled('h', taken, a);
  assert.equal(record.source, 'both');
  assert.equal(record.exitCode, 3);
  assert.equal(record.elapsedSeconds, 2.5);
  // next sample still shows the zombie: not a new process
  t.beginSample({ mono: 1000, wall: T0 + 1000 });
  assert.equal(t.observe(obs(77, T0 - 2000, 1, 0, 0, 'child')), Observed.Ignored);
  assert.equal(t.endSample().exited.length, 0);
  assert.equal(t.size, 0);
});

test('pacct matching: pid, start within tolerance (btime truncated), command breaks ties', () => {
  const a = decodeAcctV3(encodeAcctV3({ pid: 10, btime: 1000, comm: 'make' }))!;
  const c1 = { pid: 10, startMs: 1_000_990, comm: 'make' }; // true start 1000.99 s -> btime 1000
  const c2 = { pid: 10, startMs: 1_010_000, comm: 'make' }; // 10 s later: a different process
  const c3 = { pid: 11, startMs: 1_000_000, comm: 'make' };
  assert.equal(matchPacct([c2, c3, c1], a), c1);
  assert.equal(matchPacct([c2, c3], a), undefined);
  const c4 = { pid: 10, startMs: 1_000_500, comm: 'sh' };
  assert.equal(matchPacct([c4, c1], a), c1);
});
