/**
 * Building `process` and `process-interval` records, and merging sampled exits with kernel
 * accounting (pacct) exits. Pure functions: inputs in, records out.
 *
 * Matching. A pacct record and a sampled process are the same process when the pid is equal and
 * the start times agree within START_TOLERANCE_MS: pacct's ac_btime is whole seconds (truncated,
 * and computed by the kernel as "now - elapsed", so it can be off by one more second), the sampled
 * start is boot time + start ticks (10 ms). Within that window a pid is not reused in practice
 * (pid_max is at least 32768, allocated cyclically); when two candidates remain, equal command
 * names (15 chars) decide.
 *
 * Sources. `both`: sampled and in pacct: pacct supplies the exit status, the exact elapsed time and
 * final CPU; the sampler supplies exe, RSS, virtual size and I/O. `ps`: sampled only (pacct off or
 * its record did not arrive within the wait). `pacct`: a process that started and ended between
 * two samples; no RSS or I/O (Linux does not record them in pacct), avgVirtualBytes from ac_mem.
 */
import type { NameLookup } from '../../identity/resolver.js';
import type { Narrow, Present, ProcessFields, ProcessIntervalFields, ProcessPackageFields } from '../../protocol/v1.js';
import type { PacctRecord } from '../pacct/decode.js';
import { avgRssOf, avgVszOf, elapsedSecondsOf, finalInterval, type IntervalTotals, type TrackedProcess } from './tracker.js';

export const START_TOLERANCE_MS = 2500;

export type Source = 'ps' | 'pacct' | 'both';

/** The protocol's typed process fields (protocol/v1.ts), each present, null when unknown. */
type WireProcessFields = Present<Omit<ProcessFields, keyof ProcessPackageFields>>;

/**
 * A `process` record: the protocol's typed fields (narrowed where always known), then fields the
 * server stores as they are. Field order is part of the contract (README "Record fields"): it is
 * the order the builders below write them in.
 */
export interface ProcessRecord
  extends Narrow<
    WireProcessFields,
    { pid: number; command: string; start: string; end: string; elapsedSeconds: number; cpuUserSeconds: number; cpuSystemSeconds: number; source: Source }
  > {
  type: 'process';
  time: string;
  host: string;
  /** Only present when a signal ended the process. */
  signal?: number;
  coreDumped?: boolean;
  commandLine?: string | null;
}

export interface ProcessIntervalRecord
  extends Omit<ProcessRecord, 'type' | 'end'>,
    Narrow<
      Pick<Present<ProcessIntervalFields>, 'end' | 'intervalStart' | 'intervalEnd' | 'cpuSeconds'>,
      { intervalStart: string; intervalEnd: string; cpuSeconds: number }
    > {
  type: 'process-interval';
}

export type { NameLookup };

const iso = (ms: number) => new Date(Math.round(ms)).toISOString();
/** CPU and elapsed seconds are rounded to the millisecond, bytes to whole bytes. */
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const rb = (x: number | null) => (x === null ? null : Math.round(x));

export interface Totals {
  endMs: number;
  elapsedSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
}

/** Totals for a sampled process that vanished between samples and has no pacct record. */
export function sampledTotals(p: TrackedProcess): Totals {
  const elapsedSeconds = elapsedSecondsOf(p);
  return {
    endMs: p.startMs + elapsedSeconds * 1000,
    elapsedSeconds,
    cpuUserSeconds: p.cpuUserSeconds,
    cpuSystemSeconds: p.cpuSystemSeconds,
  };
}

/** Totals when pacct reported the exit: exact elapsed, and the larger CPU of the two readings. */
export function mergedTotals(p: TrackedProcess, a: PacctRecord): Totals {
  const sampledElapsed = elapsedSecondsOf(p);
  // pacct's elapsed is measured by the kernel from the real start to the real exit.
  const elapsedSeconds = Math.max(a.elapsedSeconds, sampledElapsed);
  return {
    endMs: p.startMs + elapsedSeconds * 1000,
    elapsedSeconds,
    cpuUserSeconds: Math.max(a.cpuUserSeconds, p.cpuUserSeconds),
    cpuSystemSeconds: Math.max(a.cpuSystemSeconds, p.cpuSystemSeconds),
  };
}

function base(
  type: 'process',
  host: string,
  p: TrackedProcess,
  t: Totals,
  source: Source,
  exit: { exitCode: number | null; signal: number | null; coreDumped: boolean },
  withCmdline: boolean,
  names?: NameLookup,
): ProcessRecord {
  const d = p.details;
  // A directory user's name may have arrived (asynchronously) since the details were read.
  if (d && names) {
    if (d.user === null && d.uid !== null) d.user = names.user(d.uid);
    if (d.group === null && d.gid !== null) d.group = names.group(d.gid);
  }
  const rec: ProcessRecord = {
    type,
    time: iso(t.endMs),
    host,
    user: d?.user ?? null,
    uid: d?.uid ?? null,
    group: d?.group ?? null,
    gid: d?.gid ?? null,
    pid: p.pid,
    ppid: p.ppid,
    command: p.comm,
    exe: d?.exe ?? null,
    start: iso(p.startMs),
    end: iso(t.endMs),
    elapsedSeconds: r3(t.elapsedSeconds),
    cpuUserSeconds: r3(t.cpuUserSeconds),
    cpuSystemSeconds: r3(t.cpuSystemSeconds),
    avgRssBytes: rb(avgRssOf(p)),
    maxRssBytes: p.maxRssBytes,
    avgVirtualBytes: rb(avgVszOf(p)),
    readBytes: p.readBytes,
    writeBytes: p.writeBytes,
    exitCode: exit.exitCode,
    source,
  };
  if (exit.signal !== null) rec.signal = exit.signal;
  if (exit.coreDumped) rec.coreDumped = true;
  if (withCmdline) rec.commandLine = d?.cmdline ?? null;
  return rec;
}

export interface Finished {
  record: ProcessRecord;
  intervals: ProcessIntervalRecord[];
}

/** A sampled exit, with (`both`) or without (`ps`) its pacct record. */
export function finishSampled(host: string, p: TrackedProcess, a: PacctRecord | null, withCmdline = false, names?: NameLookup): Finished {
  const t = a ? mergedTotals(p, a) : sampledTotals(p);
  const exit = a ? { exitCode: a.exitCode, signal: a.signal, coreDumped: a.coreDumped } : { exitCode: null, signal: null, coreDumped: false };
  const record = base('process', host, p, t, a ? 'both' : 'ps', exit, withCmdline, names);
  if (a && a.command !== p.comm.slice(0, 15)) {
    // It exec'd after the last sample (typically seen between fork and exec): pacct has the
    // final command; the sampled exe and ids belonged to the previous image.
    record.command = a.command;
    record.exe = null;
    record.uid = a.uid;
    record.gid = a.gid;
  }
  if (a && p.details === null) {
    // Seen for one sample only and details could not be read (it exited first): pacct knows.
    record.uid = a.uid;
    record.gid = a.gid;
  }
  if (a && names) {
    if (record.uid !== null && record.user === null) record.user = names.user(record.uid);
    if (record.gid !== null && record.group === null) record.group = names.group(record.gid);
    if (record.uid === a.uid && p.details?.uid !== a.uid) record.user = names.user(a.uid);
    if (record.gid === a.gid && p.details?.gid !== a.gid) record.group = names.group(a.gid);
  }
  const last = finalInterval(p, t.endMs, t);
  const intervals = last ? [intervalRecord(record, last)] : [];
  return { record, intervals };
}

/** A process only kernel accounting saw (it started and ended between two samples). */
export function finishPacctOnly(host: string, a: PacctRecord, names: NameLookup, withCmdline = false): ProcessRecord {
  const startMs = a.btime * 1000;
  const endMs = startMs + a.elapsedSeconds * 1000;
  const rec: ProcessRecord = {
    type: 'process',
    time: iso(endMs),
    host,
    user: names.user(a.uid),
    uid: a.uid,
    group: names.group(a.gid),
    gid: a.gid,
    pid: a.pid,
    ppid: a.ppid,
    command: a.command,
    exe: null,
    start: iso(startMs),
    end: iso(endMs),
    elapsedSeconds: r3(a.elapsedSeconds),
    cpuUserSeconds: r3(a.cpuUserSeconds),
    cpuSystemSeconds: r3(a.cpuSystemSeconds),
    avgRssBytes: null,
    maxRssBytes: null,
    avgVirtualBytes: a.memBytes,
    readBytes: null,
    writeBytes: null,
    exitCode: a.exitCode,
    source: 'pacct',
  };
  if (a.signal !== null) rec.signal = a.signal;
  if (a.coreDumped) rec.coreDumped = true;
  if (withCmdline) rec.commandLine = null;
  return rec;
}

/** An hourly interval of a process; `end`/`exitCode` are null while it still runs. */
export function intervalRecord(
  proc: ProcessRecord | null,
  iv: IntervalTotals,
  p?: TrackedProcess,
  host?: string,
  withCmdline = false,
  names?: NameLookup,
): ProcessIntervalRecord {
  const src: ProcessRecord =
    proc ?? base('process', host ?? '', p!, sampledTotals(p!), 'ps', { exitCode: null, signal: null, coreDumped: false }, withCmdline, names);
  const out: ProcessIntervalRecord = {
    type: 'process-interval',
    time: iso(iv.intervalEndMs),
    host: src.host,
    user: src.user,
    uid: src.uid,
    group: src.group,
    gid: src.gid,
    pid: src.pid,
    ppid: src.ppid,
    command: src.command,
    exe: src.exe,
    start: src.start,
    end: proc ? src.end : null,
    elapsedSeconds: r3(iv.elapsedSeconds),
    cpuUserSeconds: r3(iv.cpuUserSeconds),
    cpuSystemSeconds: r3(iv.cpuSystemSeconds),
    avgRssBytes: rb(iv.avgRssBytes),
    maxRssBytes: src.maxRssBytes,
    avgVirtualBytes: src.avgVirtualBytes,
    readBytes: src.readBytes,
    writeBytes: src.writeBytes,
    exitCode: proc ? src.exitCode : null,
    source: src.source,
    intervalStart: iso(iv.intervalStartMs),
    intervalEnd: iso(iv.intervalEndMs),
    cpuSeconds: r3(iv.cpuUserSeconds + iv.cpuSystemSeconds),
  };
  if (proc && src.signal !== undefined) out.signal = src.signal;
  if (proc && src.coreDumped) out.coreDumped = true;
  if (src.commandLine !== undefined) out.commandLine = src.commandLine;
  return out;
}

/**
 * Picks the pending sampled exit (or live process) a pacct record belongs to: same pid, start
 * within tolerance; on a tie the one with the same command name. `clockOffsetMs` = the sampler's
 * boot time (read once) - (wall now - uptime now): 0 .. -1 s normally (btime is truncated), more
 * after a wall-clock step since the agent started.
 */
export function matchPacct<T extends { pid: number; startMs: number; comm: string }>(
  candidates: Iterable<T>,
  a: PacctRecord,
  toleranceMs = START_TOLERANCE_MS,
  clockOffsetMs = 0,
): T | undefined {
  let best: T | undefined;
  let bestScore = Infinity;
  // ac_btime is wall-clock seconds; clockOffsetMs moves it onto the sampler's boot-anchored
  // timeline (boot time read once + start ticks), which a later wall-clock step does not move.
  const aStart = a.btime * 1000 + clockOffsetMs;
  for (const c of candidates) {
    if (c.pid !== a.pid) continue;
    // btime is truncated to the second: the true start lies in [btime, btime + 1 s).
    const d = c.startMs < aStart ? aStart - c.startMs : Math.max(0, c.startMs - aStart - 1000);
    if (d > toleranceMs) continue;
    const score = d + (c.comm.slice(0, 15) === a.command ? 0 : toleranceMs + 1);
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}
