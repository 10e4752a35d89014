/**
 * The exactly-once merge (src/collectors/processes/merge.ts) over exact synthetic timelines that
 * reproduce the races: a pacct record arriving after the `ps`-only emission, accounting switched
 * away mid-run and back, a lagging reader, accton's second record, a restart with the persisted
 * ledger, and a wall-clock step. A tiny driver runs the component's per-tick order: sample ->
 * addExited -> pacct records -> pacctRead -> due.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAcctV3, encodeAcctV3, type PacctRecord } from '../../../src/collectors/pacct/decode.js';
import { ExitMerger, type PersistedLedger } from '../../../src/collectors/processes/merge.js';
import { ProcessTracker, type TrackedProcess } from '../../../src/collectors/processes/tracker.js';

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0, 400);

function pacct(pid: number, startMs: number, comm: string, exit = 0, etimeTicks = 50): PacctRecord {
  return decodeAcctV3(encodeAcctV3({ pid, btime: Math.floor(startMs / 1000), comm, exitcode: exit << 8, etimeTicks }))!;
}

interface Emitted {
  source: string;
  pid: number;
  exitCode: number | null;
}

/** The component's glue, without I/O. `clockOffsetMs` as the component computes it. */
class Driver {
  tracker = new ProcessTracker();
  merger: ExitMerger;
  out: Emitted[] = [];
  clockOffsetMs = 0;
  constructor(
    public pacctOn = true,
    restored?: PersistedLedger,
  ) {
    this.merger = new ExitMerger({ waitMs: 1000 }, restored);
  }
  private emit(source: 'ps' | 'pacct' | 'both', p: { pid: number; startMs: number; comm: string }, exitCode: number | null, wall: number) {
    this.out.push({ source, pid: p.pid, exitCode });
    if (this.pacctOn) this.merger.emitted(source, p.pid, p.startMs, p.comm, wall);
  }
  /** One tick: the live processes at `mono`, then the pacct records read in this tick (null: no read). */
  tick(mono: number, live: Array<[pid: number, startMs: number, comm: string]>, records: PacctRecord[] | null) {
    const wall = T0 + mono;
    this.tracker.beginSample({ mono, wall });
    for (const [pid, startMs, comm] of live) {
      this.tracker.observe({ pid, ppid: 1, startMs, comm, cpuUserSeconds: 0, cpuSystemSeconds: 0, rssBytes: 0, vsizeBytes: 0 });
    }
    this.merger.addExited(this.tracker.endSample().exited, mono);
    if (records !== null) {
      for (const a of records) {
        const d = this.merger.onPacct(a, (pid) => this.tracker.get(pid), this.clockOffsetMs);
        if (d.kind === 'both') {
          if (d.live) this.tracker.takeLive(d.p.pid, d.p.startMs, 0);
          this.emit('both', d.p, a.exitCode, wall);
        } else if (d.kind === 'pacct') this.emit('pacct', { pid: a.pid, startMs: a.btime * 1000 + this.clockOffsetMs, comm: a.command }, a.exitCode, wall);
      }
      this.merger.pacctRead();
    }
    for (const p of this.merger.due(mono, this.pacctOn)) this.emit('ps', p, null, wall);
    this.merger.prune(wall);
  }
  stop(mono: number) {
    for (const p of this.merger.due(mono, this.pacctOn, true)) this.emit('ps', p, null, T0 + mono);
  }
  count(pid: number) {
    return this.out.filter((e) => e.pid === pid).length;
  }
}

test('normal case: a sampled exit whose pacct record is read in the same tick is one `both` record', () => {
  const d = new Driver();
  const s = T0 - 300;
  d.tick(0, [[100, s, 'work']], []);
  d.tick(250, [], [pacct(100, s, 'work', 3)]);
  d.tick(5000, [], []);
  assert.deepEqual(d.out, [{ source: 'both', pid: 100, exitCode: 3 }]);
});

test('race: the pacct record arrives after the ps-only emission -> still one record (late record suppressed)', () => {
  const d = new Driver();
  const s = T0 - 300;
  d.tick(0, [[100, s, 'work']], []);
  d.tick(250, [], []); // gone; its record is elsewhere for now
  d.tick(1500, [], []); // waited 1.25 s and one more read: emitted as ps
  assert.deepEqual(d.out, [{ source: 'ps', pid: 100, exitCode: null }]);
  d.tick(1750, [], [pacct(100, s, 'work', 3)]); // the late record
  d.tick(60_000, [], [pacct(100, s, 'work', 3)]); // and again, a minute later (re-read)
  assert.equal(d.count(100), 1);
  assert.equal(d.merger.duplicatesSuppressed, 2);
});

test('without the ledger the same timeline double counts (the bug the ledger fixes)', () => {
  // ledgerMax 0: nothing remembered, as before the fix
  const d = new Driver();
  d.merger = new ExitMerger({ waitMs: 1000, ledgerMax: 0 });
  const s = T0 - 300;
  d.tick(0, [[100, s, 'work']], []);
  d.tick(250, [], []);
  d.tick(1500, [], []);
  d.tick(1750, [], [pacct(100, s, 'work', 3)]);
  assert.deepEqual(
    d.out.map((e) => e.source),
    ['ps', 'pacct'],
  );
});

test('accounting switched to another file mid-run and back: no duplicates, nothing lost', () => {
  const d = new Driver();
  // pids 1..30 sampled then exit; pids 31..60 never sampled (start and end between samples)
  const sampled = Array.from({ length: 30 }, (_, i) => [1 + i, T0 - 200 + i, 'job'] as [number, number, string]);
  d.tick(0, sampled, []);
  // 1..10 exit while accounting writes to our file; 11..20 while it writes elsewhere; 21..30 after it is back
  const ours1 = sampled.slice(0, 10).map(([p, s]) => pacct(p, s, 'job'));
  const elsewhere = sampled.slice(10, 20).map(([p, s]) => pacct(p, s, 'job'));
  const ours2 = sampled.slice(20).map(([p, s]) => pacct(p, s, 'job'));
  const unsampled = Array.from({ length: 30 }, (_, i) => pacct(31 + i, T0 + 300, 'quick'));
  d.tick(250, sampled.slice(10), ours1);
  d.tick(500, sampled.slice(20), unsampled.slice(0, 10)); // 11..20 gone, records not in our file
  d.tick(1600, [], [...ours2, ...unsampled.slice(10)]);
  d.tick(3000, [], []);
  // an operator later appends the other file's records to ours (or the switch happened twice):
  d.tick(4000, [], elsewhere);
  for (let pid = 1; pid <= 60; pid++) assert.equal(d.count(pid), 1, `pid ${pid} exactly once`);
  const src = (pid: number) => d.out.find((e) => e.pid === pid)!.source;
  assert.equal(src(5), 'both');
  assert.equal(src(15), 'ps');
  assert.equal(src(25), 'both');
  assert.equal(src(45), 'pacct');
  assert.equal(d.merger.duplicatesSuppressed, 10);
});

test('reader lag: pacct read only every 8th tick, ps emitted before the records are read -> each process once', () => {
  const d = new Driver();
  d.merger = new ExitMerger({ waitMs: 0 }); // the harshest wait: ps as soon as one read passed
  const backlog: PacctRecord[] = [];
  let mono = 0;
  for (let k = 0; k < 200; k++) {
    mono += 100;
    const pid = 1000 + k;
    const s = T0 + mono - 50;
    // each process is seen in one sample and gone in the next; its record queues in the backlog,
    // and a read (every 8th tick) sees only records more than 12 ticks old
    d.tick(mono, [[pid, s, 'burst']], k % 8 === 0 ? backlog.splice(0, Math.max(0, backlog.length - 12)) : null);
    backlog.push(pacct(pid, s, 'burst', k % 4));
  }
  d.tick(mono + 100, [], backlog.splice(0));
  d.tick(mono + 5000, [], []);
  for (let k = 0; k < 200; k++) assert.equal(d.count(1000 + k), 1, `pid ${1000 + k}`);
  assert.ok(
    d.out.some((e) => e.source === 'ps'),
    'the lag did make some exits ps-only',
  );
  assert.ok(d.out.some((e) => e.source === 'both'));
});

test("accton's two records (one written into the old file at the switch, one at its exit) count once", () => {
  const d = new Driver();
  const s = T0 + 100;
  const atSwitch = pacct(500, s, 'accton', 0, 1);
  const atExit = pacct(500, s + 900, 'accton', 0, 2); // btime can differ by a second
  d.tick(0, [], [atSwitch]);
  d.tick(250, [], [atExit]);
  assert.equal(d.count(500), 1);
  assert.equal(d.out[0]!.source, 'pacct');
  // a sampled process finished as `both` whose record shows up a second time: also once
  d.tick(500, [[600, T0 - 100, 'accton']], []);
  d.tick(750, [], [pacct(600, T0 - 100, 'accton')]);
  d.tick(1000, [], [pacct(600, T0 - 100, 'accton')]);
  assert.equal(d.count(600), 1);
});

test('restart: the ps ledger persisted with the ps records suppresses a late record read by the next run', () => {
  const d = new Driver();
  const s = T0 - 300;
  d.tick(
    0,
    [
      [100, s, 'work'],
      [101, s, 'other'],
    ],
    [],
  );
  d.tick(250, [[101, s, 'other']], []); // 100 gone, record not there
  d.tick(400, [[101, s, 'other']], []); // the agent stops before the wait is over
  d.stop(400); // flushed as ps rather than lost
  assert.deepEqual(d.out, [{ source: 'ps', pid: 100, exitCode: null }]);
  const persisted = d.merger.takePersist()!;
  assert.deepEqual(persisted, [[100, s, 'work', T0 + 400]]);
  assert.equal(d.merger.takePersist(), undefined, 'written once, until it changes');
  // next run: 101 still running (sampled again), 100's record arrives late
  const d2 = new Driver(true, persisted);
  d2.tick(10_000, [[101, s, 'other']], [pacct(100, s, 'work', 1)]);
  d2.tick(10_250, [], [pacct(101, s, 'other', 0)]);
  assert.deepEqual(d2.out, [{ source: 'both', pid: 101, exitCode: 0 }]);
  assert.equal(d2.merger.duplicatesSuppressed, 1);
});

test('ledger is bounded: entries expire after ledgerMs and beyond ledgerMax; a reused pid later is a new process', () => {
  const m = new ExitMerger({ ledgerMs: 60_000, ledgerMax: 3 });
  for (let i = 0; i < 5; i++) m.emitted('ps', i, T0, 'x', T0 + i);
  assert.equal(m.prune(T0 + 10), true);
  assert.deepEqual(m.ledgerSize(), { ps: 3, pacct: 0 });
  assert.deepEqual(
    m.takePersist()!.map((e) => e[0]),
    [2, 3, 4],
  );
  m.prune(T0 + 61_000);
  assert.deepEqual(m.ledgerSize(), { ps: 0, pacct: 0 });
  // same pid, start 30 s later: not the emitted process
  const m2 = new ExitMerger();
  m2.emitted('ps', 7, T0, 'x', T0);
  assert.equal(m2.onPacct(pacct(7, T0 + 30_000, 'x'), () => undefined).kind, 'pacct');
  assert.equal(m2.onPacct(pacct(7, T0, 'x'), () => undefined).kind, 'duplicate');
});

test('wall clock stepped +90 s after the agent read the boot time: the offset keeps matching (no ps + pacct pair)', () => {
  const d = new Driver();
  // sampler timeline: boot time read before the step; pacct's btime is on the stepped wall clock
  const s = T0 - 300;
  d.tick(0, [[100, s, 'work']], []);
  const stepped = pacct(100, s + 90_000, 'work', 2);
  d.clockOffsetMs = -90_000; // bootTimeMs - (Date.now() - uptime) after the step
  d.tick(250, [], [stepped]);
  d.tick(5000, [], []);
  assert.deepEqual(d.out, [{ source: 'both', pid: 100, exitCode: 2 }]);
  // the same timeline without the offset correction splits into two records
  const bad = new Driver();
  bad.tick(0, [[100, s, 'work']], []);
  bad.tick(250, [], [stepped]);
  bad.tick(5000, [], []);
  assert.deepEqual(bad.out.map((e) => e.source).sort(), ['pacct', 'ps']);
});

test('pacct off: every exit is emitted at once as ps and nothing is remembered', () => {
  const d = new Driver(false);
  d.tick(
    0,
    [
      [1, T0, 'a'],
      [2, T0, 'b'],
    ],
    null,
  );
  d.tick(100, [], null);
  assert.deepEqual(
    d.out.map((e) => e.source),
    ['ps', 'ps'],
  );
  assert.deepEqual(d.merger.ledgerSize(), { ps: 0, pacct: 0 });
  void (null as unknown as TrackedProcess);
});

test('e2e race found: pacct record read first (pacct-only), then the unreaped zombie is sampled and vanishes -> one record', () => {
  // Seen in the real e2e burst: exit at 07.02 (record read at once: `pacct`), parent slow to
  // reap, the sampler sees the zombie at 07.16 as a new process, it vanishes at 07.40 -> `ps`.
  const d = new Driver();
  const trueStart = T0 + 100; // btime = whole second of T0
  d.tick(0, [], [pacct(26167, trueStart, 'uaBurst', 0, 2)]);
  d.tick(250, [[26167, trueStart, 'uaBurst']], []); // the zombie, tracked as new
  d.tick(500, [], []); // reaped
  d.tick(2000, [], []);
  assert.deepEqual(d.out, [{ source: 'pacct', pid: 26167, exitCode: 0 }]);
  assert.equal(d.merger.duplicatesSuppressed, 1);
});
