/**
 * `ctx.components.processes` for other components (the lease enforcer): launch and exit
 * notifications from a fast poll at leases.launchPollMs. A poll first reads /proc/loadavg (one
 * pread of ~40 bytes): its last two fields, the number of tasks and the last PID created, change
 * whenever any process or thread was created or reaped, so when neither moved nothing started or
 * ended and the poll is over. Otherwise it is one readdir of /proc; only a PID not seen before costs
 * more (its stat, status and exe). The poll runs only while someone listens.
 */
import type { ProcfsReader } from './procfs.js';

/** How long a new process is watched for an exec (a fork shows its parent's image until then). */
const YOUNG_MS = 2000;
/** At most this many new task ids are probed one by one; more, and /proc is listed instead. */
const MAX_PROBE = 256;
/** Listings of /proc to find exits are at least this far apart (exits are reported this late at most). */
const EXIT_SCAN_MS = 500;
/** PIDs are below 2^22: the change token is tasks * 2^22 + last PID (see ProcfsReader.taskChangeToken). */
const PID_SPAN = 4_194_304;

export interface ProcessEvent {
  pid: number;
  ppid: number;
  uid: number | null;
  user: string | null;
  command: string;
  exe: string | null;
  /** ISO 8601 UTC. */
  startTime: string;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): with pid, the identity. */
  startTicks: number;
}

export type ProcessListener = (p: ProcessEvent) => void;

/** What the watcher offers other components (`ctx.components.processes`): launches and exits as they happen. */
export interface ProcessEvents {
  onStart(listener: ProcessListener): () => void;
  onExit(listener: ProcessListener): () => void;
  /** Processes currently known to the watcher (after its first poll). */
  running(): ProcessEvent[];
  /** Milliseconds since a known process started (kernel clock), e.g. to time a launch's handling. */
  ageMs(pid: number): number | undefined;
}

export class ProcessWatcher implements ProcessEvents {
  private readonly startListeners = new Set<ProcessListener>();
  private readonly exitListeners = new Set<ProcessListener>();
  private known = new Map<number, ProcessEvent>();
  private timer: NodeJS.Timeout | undefined;
  private primed = false;
  private lastToken = NaN;
  /**
   * PIDs first seen less than YOUNG_MS ago (monotonic ms when seen): a fork shows its parent's
   * image until it execs, so their comm is re-read at every poll and an exec is reported as a start
   * of the new image (same pid and start time).
   */
  private readonly young = new Map<number, number>();
  polls = 0;
  /** Polls that had to list /proc (something was created or reaped). */
  scans = 0;
  /** Execs seen in young processes (reported as starts of the new image). */
  execs = 0;
  /** Polls that found the new task ids by probing them (no listing). */
  probes = 0;
  /** An older task was reaped: a listing is due (rate-limited to one per EXIT_SCAN_MS). */
  private exitScanDue = false;
  private lastScanAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly reader: ProcfsReader,
    private readonly pollMs: number,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  onStart(listener: ProcessListener): () => void {
    this.startListeners.add(listener);
    this.ensureRunning();
    return () => this.startListeners.delete(listener);
  }

  onExit(listener: ProcessListener): () => void {
    this.exitListeners.add(listener);
    this.ensureRunning();
    return () => this.exitListeners.delete(listener);
  }

  running(): ProcessEvent[] {
    if (!this.primed) this.poll();
    return [...this.known.values()];
  }

  /** Milliseconds since a known process started: /proc/uptime now minus its start ticks. */
  ageMs(pid: number): number | undefined {
    const p = this.known.get(pid);
    const up = this.reader.readUptimeMs();
    if (!p || !Number.isFinite(up)) return undefined;
    return Math.max(0, up - (p.startTicks * 1000) / this.reader.hz);
  }

  private ensureRunning(): void {
    if (this.timer) return;
    if (!this.primed) this.poll(); // existing processes are the baseline, not launches
    this.timer = setInterval(() => {
      try {
        this.poll();
      } catch (err) {
        this.onError(err);
      }
    }, this.pollMs);
    this.timer.unref();
  }

  /**
   * One poll: new PIDs -> onStart, vanished PIDs -> onExit. Exposed for tests.
   * /proc/loadavg's task count T and last PID L (one small read) say what happened since the last
   * poll: nothing (both unchanged); or L moved, and the new task ids are the range (L0, L] (PIDs
   * are handed out in order), probed one by one (threads, which have ids but are not processes, are
   * told apart by their Tgid). Of the A tasks from that range still alive, T - T0 = A - O where O
   * counts older tasks reaped meanwhile: only O > 0 (something exited) calls for a listing of
   * /proc, at most every EXIT_SCAN_MS. A wrapped or long range, or no loadavg, means a listing.
   */
  poll(): void {
    this.polls++;
    const token = this.reader.taskChangeToken();
    const now = performance.now();
    const scanDue = this.exitScanDue && now - this.lastScanAt >= EXIT_SCAN_MS;
    const unchanged = this.primed && token === this.lastToken; // NaN (no loadavg) never equals
    if (unchanged && !scanDue && this.young.size === 0) return;
    let execd = this.recheckYoung();
    if (unchanged && !scanDue) {
      this.emit([], execd, []);
      return;
    }
    const previous = this.lastToken;
    this.lastToken = token;
    if (!unchanged && this.primed && Number.isFinite(token) && Number.isFinite(previous)) {
      const last0 = previous % PID_SPAN;
      const last1 = token % PID_SPAN;
      const grown = Math.floor(token / PID_SPAN) - Math.floor(previous / PID_SPAN);
      if (last1 >= last0 && last1 - last0 <= MAX_PROBE) {
        const started: ProcessEvent[] = [];
        let alive = 0;
        for (let id = last0 + 1; id <= last1; id++) {
          const o = this.reader.readStat(id, false);
          if (!o) continue;
          alive++;
          if (this.known.has(id) || this.reader.tgidOf(id) !== id) continue; // a thread
          const ev = this.event(id, o);
          this.known.set(id, ev);
          this.young.set(id, now);
          started.push(ev);
        }
        this.probes++;
        if (alive - grown > 0) this.exitScanDue = true;
        if (!(this.exitScanDue && now - this.lastScanAt >= EXIT_SCAN_MS)) {
          this.emit(started, execd, []);
          return;
        }
        // Exits too: the listing below finds them (the probed starts are known by now).
        this.emit(started, execd, []);
        execd = [];
      } else {
        this.exitScanDue = true;
      }
    }
    this.exitScanDue = false;
    this.lastScanAt = now;
    this.scans++;
    const pids = this.reader.listPids();
    const next = new Map<number, ProcessEvent>();
    const started: ProcessEvent[] = [];
    for (const pid of pids) {
      const old = this.known.get(pid);
      if (old) {
        next.set(pid, old);
        continue;
      }
      const o = this.reader.readStat(pid, false); // no descriptor kept: the sampler keeps its own
      if (!o) continue;
      const ev = this.event(pid, o);
      next.set(pid, ev);
      started.push(ev);
      if (this.primed) this.young.set(pid, now);
    }
    const exited: ProcessEvent[] = [];
    for (const [pid, ev] of this.known) if (!next.has(pid)) exited.push(ev);
    this.known = next;
    for (const ev of exited) this.young.delete(ev.pid);
    const wasPrimed = this.primed;
    this.primed = true;
    if (!wasPrimed) return;
    this.emit(started, execd, exited);
  }

  private event(pid: number, o: { ppid: number; comm: string; startMs: number }): ProcessEvent {
    const d = this.reader.readDetails(pid);
    return {
      pid,
      ppid: o.ppid,
      uid: d.uid,
      user: d.user,
      command: o.comm,
      exe: d.exe,
      startTime: new Date(o.startMs).toISOString(),
      startTicks: Math.round(((o.startMs - this.reader.bootTimeMs) * this.reader.hz) / 1000),
    };
  }

  private emit(started: ProcessEvent[], execd: ProcessEvent[], exited: ProcessEvent[]): void {
    for (const ev of started) for (const l of this.startListeners) safe(() => l(ev), this.onError);
    for (const ev of execd) for (const l of this.startListeners) safe(() => l(ev), this.onError);
    for (const ev of exited) for (const l of this.exitListeners) safe(() => l(ev), this.onError);
  }

  /** Re-reads the comm of young processes; an exec (new comm) updates them and is returned. */
  private recheckYoung(): ProcessEvent[] {
    const execd: ProcessEvent[] = [];
    const now = performance.now();
    for (const [pid, seenAt] of this.young) {
      const ev = this.known.get(pid);
      const o = ev && now - seenAt < YOUNG_MS ? this.reader.readStat(pid, false) : null;
      if (!ev || !o || new Date(o.startMs).toISOString() !== ev.startTime) {
        this.young.delete(pid); // expired, gone or reused (the next scan sees the new one)
        continue;
      }
      if (o.comm === ev.command) continue;
      const d = this.reader.readDetails(pid);
      const next: ProcessEvent = { ...ev, ppid: o.ppid, uid: d.uid, user: d.user, command: o.comm, exe: d.exe };
      this.known.set(pid, next);
      this.execs++;
      execd.push(next);
    }
    return execd;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function safe(fn: () => void, onError: (err: unknown) => void): void {
  try {
    fn();
  } catch (err) {
    onError(err);
  }
}
