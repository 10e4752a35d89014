/**
 * The exactly-once merge of sampled exits with kernel accounting (pacct) records. Pure: no I/O, no
 * clock reads (every time is passed in), so each timeline is tested with exact synthetic input
 * (test/collectors/processes/merge.test.ts).
 *
 * The race it closes. A sampled process that vanished from /proc waits for its pacct record (one
 * more pacct read and at least `waitMs`), then is emitted as `ps`. Normally its record is already
 * in the file (the kernel writes it in do_exit, before the /proc entry can disappear), but it can
 * arrive *after* the `ps` emission, or match nothing at the time:
 *  - kernel accounting was switched to another file (another tool or agent ran `accton`) and back,
 *    or the agent's reader fell behind (a slow or skipped poll, a rotation, a restart);
 *  - every `accton FILE` / `accton off` writes a record for the accton process itself into the
 *    *old* file (kernel acct_pin_kill), and accton writes its real exit record into the new one:
 *    the same process appears twice in the pacct stream (this happens at every agent rotation);
 *  - the wall clock was stepped after the agent read the boot time, so a sampled start (boot time +
 *    start ticks) and pacct's ac_btime (wall seconds at exit - elapsed) drift apart: corrected by
 *    `clockOffsetMs` (see matchPacct), computed at each read from the current wall - uptime.
 * Without a memory of what was emitted, each of these produced a second `process` record (`pacct`)
 * for a process already emitted. The merger keeps a ledger of the identities it emitted for a
 * bounded window (`ledgerMs`, at most `ledgerMax` entries): a pacct record matching a ledger entry
 * is a duplicate and is not emitted again (counted in `duplicatesSuppressed`). The `ps` part of the
 * ledger is persisted with the records it describes (journal cursor `processes.emitted`, same
 * transaction), so the guarantee holds across restarts and kill -9; the pacct part only needs
 * memory (the pacct cursor already makes each file record exactly-once across restarts).
 * A late record's exit code is therefore not reported (the `ps` record has exitCode null): a
 * record once journaled is never rewritten, and a second record would double-count the process.
 */
import type { PacctRecord } from '../pacct/decode.js';
import { matchPacct, START_TOLERANCE_MS } from './records.js';
import type { TrackedProcess } from './tracker.js';

export interface LedgerEntry {
  pid: number;
  /** Start in the sampler's timeline (ms); pacct-only entries: ac_btime * 1000 + clock offset. */
  startMs: number;
  comm: string;
  /** Wall ms when emitted, for expiry only. */
  at: number;
  source: 'ps' | 'pacct' | 'both';
}

/** Persisted form of the `ps` ledger: [pid, startMs, comm, at]. */
export type PersistedLedger = Array<[number, number, string, number]>;

export interface MergeOptions {
  /** A sampled exit waits at least this long (and one more pacct read) for its pacct record. */
  waitMs: number;
  /** How long an emitted identity is remembered. */
  ledgerMs: number;
  /** At most this many remembered identities per kind (oldest dropped first). */
  ledgerMax: number;
}

export const DEFAULT_MERGE: MergeOptions = { waitMs: 1000, ledgerMs: 15 * 60_000, ledgerMax: 4096 };

interface Pending {
  p: TrackedProcess;
  /** Monotonic ms when it was found gone. */
  goneMono: number;
  /** Number of pacct reads completed when it was found gone. */
  reads: number;
}

export type PacctDecision =
  /** The record finishes a sampled process (pending exit, or live/zombie: removed by the caller). */
  | { kind: 'both'; p: TrackedProcess; live: boolean }
  /** Nothing sampled: a process that started and ended between two samples. */
  | { kind: 'pacct' }
  /** Already emitted (late record after a `ps` emission, or accton's second record). */
  | { kind: 'duplicate'; of: LedgerEntry };

/**
 * Emitted identities in emission order (for expiry from the oldest end) with a PID index, so a
 * lookup costs the entries of one PID rather than the whole window (up to ledgerMax entries per
 * pacct record on a busy machine).
 */
class Ledger {
  /** Emission order; entries before `head` are expired. */
  private list: LedgerEntry[] = [];
  private head = 0;
  private readonly byPid = new Map<number, LedgerEntry[]>();

  get length(): number {
    return this.list.length - this.head;
  }

  push(e: LedgerEntry): void {
    this.list.push(e);
    const same = this.byPid.get(e.pid);
    if (same) same.push(e);
    else this.byPid.set(e.pid, [e]);
  }

  /** Entries of one PID, oldest first (empty array if none). */
  of(pid: number): readonly LedgerEntry[] {
    return this.byPid.get(pid) ?? NONE;
  }

  oldest(): LedgerEntry | undefined {
    return this.list[this.head];
  }

  /** Drops the oldest entry (the oldest of its PID too: both are in emission order). */
  shift(): void {
    const e = this.list[this.head++]!;
    const same = this.byPid.get(e.pid)!;
    if (same.length === 1) this.byPid.delete(e.pid);
    else same.shift();
    if (this.head > 1024 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
  }

  map<T>(fn: (e: LedgerEntry) => T): T[] {
    const out: T[] = [];
    for (let i = this.head; i < this.list.length; i++) out.push(fn(this.list[i]!));
    return out;
  }
}

const NONE: readonly LedgerEntry[] = [];

export class ExitMerger {
  private pending: Pending[] = [];
  private reads = 0;
  /** Emitted `ps` identities (persisted) and `pacct`/`both` identities (memory only). */
  private psLedger = new Ledger();
  private pacctLedger = new Ledger();
  private psLedgerDirty = false;
  duplicatesSuppressed = 0;
  readonly options: MergeOptions;

  constructor(options: Partial<MergeOptions> = {}, restored?: PersistedLedger) {
    this.options = { ...DEFAULT_MERGE, ...options };
    if (restored) {
      for (const [pid, startMs, comm, at] of restored) this.psLedger.push({ pid, startMs, comm, at, source: 'ps' });
    }
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Sampled processes found gone in a sample taken at monotonic `mono`. */
  addExited(ps: Iterable<TrackedProcess>, mono: number): void {
    for (const p of ps) this.pending.push({ p, goneMono: p.goneMono ?? mono, reads: this.reads });
  }

  /**
   * Decides what a pacct record is. `live(pid)` returns the live tracked process with that pid,
   * if any (a process whose record arrives while its /proc entry still exists, e.g. a zombie).
   * `clockOffsetMs` converts pacct's wall-clock start into the sampler's timeline.
   * The caller emits the record for `both`/`pacct` and then calls `emitted()`.
   */
  onPacct(a: PacctRecord, live: (pid: number) => TrackedProcess | undefined, clockOffsetMs = 0): PacctDecision {
    if (this.pending.length > 0) {
      const hit = matchPacct(
        this.pending.map((x) => x.p),
        a,
        undefined,
        clockOffsetMs,
      );
      if (hit) {
        this.pending.splice(
          this.pending.findIndex((x) => x.p === hit),
          1,
        );
        return { kind: 'both', p: hit, live: false };
      }
    }
    const l = live(a.pid);
    if (l && matchPacct([l], a, undefined, clockOffsetMs)) return { kind: 'both', p: l, live: true };
    const dup = matchPacct(this.psLedger.of(a.pid), a, undefined, clockOffsetMs) ?? matchPacct(this.pacctLedger.of(a.pid), a, undefined, clockOffsetMs);
    if (dup) {
      this.duplicatesSuppressed++;
      return { kind: 'duplicate', of: dup };
    }
    return { kind: 'pacct' };
  }

  /** Remembers an emitted process record's identity. */
  emitted(source: 'ps' | 'pacct' | 'both', pid: number, startMs: number, comm: string, wallNow: number): void {
    const e: LedgerEntry = { pid, startMs, comm: comm.slice(0, 15), at: wallNow, source };
    if (source === 'ps') {
      this.psLedger.push(e);
      this.psLedgerDirty = true;
    } else this.pacctLedger.push(e);
  }

  /** Marks the end of a pacct read (whether or not it delivered records). */
  pacctRead(): void {
    this.reads++;
  }

  /**
   * Sampled exits that waited long enough without a pacct record: one more completed pacct read
   * after they were found gone and at least waitMs. With pacct off, all pending exits at once.
   * `final` (agent stopping): everything still pending.
   */
  due(mono: number, pacctOn: boolean, final = false): TrackedProcess[] {
    const out: TrackedProcess[] = [];
    const keep: Pending[] = [];
    for (const x of this.pending) {
      const waited = mono - x.goneMono >= this.options.waitMs && this.reads > x.reads;
      if (!(final || !pacctOn || waited)) keep.push(x);
      else if (pacctOn && this.alreadyEmitted(x.p)) this.duplicatesSuppressed++;
      else out.push(x.p);
    }
    this.pending = keep;
    return out;
  }

  /**
   * True when a pacct record of this sampled process was already emitted: its record was read
   * before the sampler ever saw it, and the sampler then found its /proc entry lingering (a zombie
   * not yet reaped by its parent) and tracked it as a process of its own.
   */
  alreadyEmitted(p: { pid: number; startMs: number }): boolean {
    const same = this.pacctLedger.of(p.pid);
    for (let i = same.length - 1; i >= 0; i--) {
      const e = same[i]!;
      // e.startMs is pacct's whole-second start (on the sampler's timeline): the true start lies
      // in [e.startMs - 1 s, e.startMs + 1 s) (see matchPacct); a `both` entry is the sampled start.
      const d = p.startMs < e.startMs ? e.startMs - p.startMs : Math.max(0, p.startMs - e.startMs - 1000);
      if (d <= START_TOLERANCE_MS) return true;
    }
    return false;
  }

  /** Drops identities older than ledgerMs (or beyond ledgerMax); true if the ps ledger changed. */
  prune(wallNow: number): boolean {
    const { ledgerMs, ledgerMax } = this.options;
    const cut = (l: Ledger) => {
      let n = 0;
      // An entry "from the future" (wall clock stepped back) is kept until it ages out normally.
      for (let e = l.oldest(); e !== undefined && (wallNow - e.at > ledgerMs || l.length > ledgerMax); e = l.oldest()) {
        l.shift();
        n++;
      }
      return n;
    };
    cut(this.pacctLedger);
    if (cut(this.psLedger) > 0) this.psLedgerDirty = true;
    return this.psLedgerDirty;
  }

  /** The `ps` ledger to persist if it changed since the last call, else undefined. */
  takePersist(): PersistedLedger | undefined {
    if (!this.psLedgerDirty) return undefined;
    this.psLedgerDirty = false;
    return this.psLedger.map((e) => [e.pid, e.startMs, e.comm, e.at]);
  }

  ledgerSize(): { ps: number; pacct: number } {
    return { ps: this.psLedger.length, pacct: this.pacctLedger.length };
  }
}
