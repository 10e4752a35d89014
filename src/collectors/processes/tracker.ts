/**
 * The pure accounting core: it turns a stream of process observations (one per process per sample)
 * into per-process totals, hourly intervals and exits. No I/O and no clock reads: the sampler passes
 * every time in, so each rule is tested with exact synthetic input (see test/collectors/processes).
 *
 * Identity is (pid, startMs): a PID reused by a new process is a new process, never merged.
 *
 * Clocks. Each sample carries `mono` (a monotonic clock in ms; process.hrtime on the daemon) and
 * `wall` (ms since the epoch). Durations (elapsed, averaging weights) only ever use `mono`, so a
 * wall-clock step or a suspend/resume never makes them negative or inflated; `wall` is only used to
 * place hour boundaries and is forced non-decreasing. A process's age when first seen is
 * `wall - startMs`, clamped at 0.
 *
 * Hourly intervals ("Process Accounting" data type). When a process is seen on both sides of a
 * UTC hour boundary, an interval is closed at that boundary; CPU, elapsed and RSS are split at the
 * boundary by linear interpolation between the two samples around it. At exit, a process that has
 * closed at least one interval gets a final, partial interval (start of its last hour .. end)
 * carrying the remainder, so the sums of its intervals equal its totals exactly. The first interval
 * starts at the process start (for a process already running when the agent started, it also
 * carries what the process used before the agent first saw it). A process that never crossed an
 * hour boundary has no interval records: its `process` record is the whole story.
 */

export const HOUR_MS = 3_600_000;

export interface SampleClock {
  /** Monotonic milliseconds (only differences matter). */
  mono: number;
  /** Wall-clock milliseconds since the epoch, or a boot-anchored equivalent. */
  wall: number;
}

/** One process as read in one sample. The sampler reuses one object: the tracker copies fields. */
export interface ProcessObservation {
  pid: number;
  ppid: number;
  /** Start time, ms since the epoch (boot time + start ticks on Linux). Part of the identity. */
  startMs: number;
  comm: string;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  rssBytes: number;
  vsizeBytes: number;
}

/** A zeroed observation; samplers fill one in place per process instead of allocating. */
export function emptyObservation(): ProcessObservation {
  return { pid: 0, ppid: 0, startMs: 0, comm: '', cpuUserSeconds: 0, cpuSystemSeconds: 0, rssBytes: 0, vsizeBytes: 0 };
}

export interface ProcessDetails {
  uid: number | null;
  gid: number | null;
  user: string | null;
  group: string | null;
  exe: string | null;
  cmdline?: string | null;
}

export interface IntervalTotals {
  intervalStartMs: number;
  intervalEndMs: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  elapsedSeconds: number;
  avgRssBytes: number | null;
}

export interface TrackedProcess {
  pid: number;
  ppid: number;
  startMs: number;
  comm: string;
  details: ProcessDetails | null;
  readBytes: number | null;
  writeBytes: number | null;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  lastRssBytes: number;
  lastVsizeBytes: number;
  maxRssBytes: number;
  /** ∫RSS dt and ∫VSZ dt over the observed life, byte·ms (mono). */
  rssIntegral: number;
  vszIntegral: number;
  observedMs: number;
  firstMono: number;
  lastMono: number;
  lastWall: number;
  ageAtFirstMs: number;
  samples: number;
  /** Sample counter of the last sample this process was seen in. */
  seenIn: number;
  /** Open-interval state. */
  ivStartMs: number;
  ivHour: number;
  ivCpuUserBase: number;
  ivCpuSystemBase: number;
  ivElapsedBase: number;
  ivRssIntegral: number;
  ivRssMs: number;
  intervalsClosed: number;
  /** Set when the sweep found it gone: mono/wall of the first sample without it. */
  goneMono?: number;
}

export enum Observed {
  /** Known process; nothing to fetch. */
  Unchanged = 0,
  /** First sighting: the sampler should fetch details (uid, exe, ...) and I/O counters. */
  New = 1,
  /** CPU time moved since the last I/O read: I/O counters may have moved too. */
  CpuChanged = 2,
  /** Already accounted (finished through pacct while its /proc entry lingers). */
  Ignored = 3,
}

export interface SweepResult {
  exited: TrackedProcess[];
  intervals: Array<{ process: TrackedProcess; interval: IntervalTotals }>;
}

export function elapsedSecondsOf(p: TrackedProcess): number {
  return (p.ageAtFirstMs + (p.lastMono - p.firstMono)) / 1000;
}

export function avgRssOf(p: TrackedProcess): number {
  return p.observedMs > 0 ? p.rssIntegral / p.observedMs : p.lastRssBytes;
}

export function avgVszOf(p: TrackedProcess): number {
  return p.observedMs > 0 ? p.vszIntegral / p.observedMs : p.lastVsizeBytes;
}

/**
 * The final partial interval of a process that crossed at least one hour boundary, given its
 * final totals (which may come from pacct rather than the last sample); undefined otherwise.
 * Remainders are clamped at 0 (pacct's comp_t rounds large CPU times down by < 0.02%).
 */
export function finalInterval(
  p: TrackedProcess,
  endMs: number,
  totals: { cpuUserSeconds: number; cpuSystemSeconds: number; elapsedSeconds: number },
): IntervalTotals | undefined {
  if (p.intervalsClosed === 0) return undefined;
  return {
    intervalStartMs: p.ivStartMs,
    intervalEndMs: Math.max(p.ivStartMs, endMs),
    cpuUserSeconds: Math.max(0, totals.cpuUserSeconds - p.ivCpuUserBase),
    cpuSystemSeconds: Math.max(0, totals.cpuSystemSeconds - p.ivCpuSystemBase),
    elapsedSeconds: Math.max(0, totals.elapsedSeconds - p.ivElapsedBase),
    avgRssBytes: p.ivRssMs > 0 ? p.ivRssIntegral / p.ivRssMs : p.lastRssBytes,
  };
}

export class ProcessTracker {
  private readonly live = new Map<number, TrackedProcess>();
  /** pid -> startMs of processes already finished (by pacct) whose /proc entry may linger. */
  private readonly finished = new Map<number, number>();
  private sampleNo = 0;
  private clock: SampleClock = { mono: 0, wall: 0 };
  private lastWall = -Infinity;
  private pendingIntervals: SweepResult['intervals'] = [];
  samplesTaken = 0;

  get size(): number {
    return this.live.size;
  }

  get(pid: number): TrackedProcess | undefined {
    return this.live.get(pid);
  }

  processes(): IterableIterator<TrackedProcess> {
    return this.live.values();
  }

  beginSample(clock: SampleClock): void {
    this.sampleNo++;
    this.samplesTaken++;
    // Hour placement never goes backwards, whatever the wall clock does.
    const wall = Math.max(clock.wall, this.lastWall);
    this.lastWall = wall;
    this.clock = { mono: clock.mono, wall };
  }

  observe(o: ProcessObservation): Observed {
    const clock = this.clock;
    const fin = this.finished.get(o.pid);
    if (fin !== undefined) {
      if (fin === o.startMs) {
        this.finished.set(o.pid, fin); // still lingering (zombie): keep the tombstone
        this.tombSeen.add(o.pid);
        return Observed.Ignored;
      }
      this.finished.delete(o.pid);
    }
    let p = this.live.get(o.pid);
    if (p && p.startMs !== o.startMs) {
      // PID reused between two samples: the old process ended, this is another one.
      this.live.delete(o.pid);
      p.goneMono = clock.mono;
      this.reused.push(p);
      p = undefined;
    }
    const cpuUser = o.cpuUserSeconds;
    const cpuSystem = o.cpuSystemSeconds;
    if (!p) {
      const age = Math.max(0, clock.wall - o.startMs);
      p = {
        pid: o.pid,
        ppid: o.ppid,
        startMs: o.startMs,
        comm: o.comm,
        details: null,
        readBytes: null,
        writeBytes: null,
        cpuUserSeconds: cpuUser,
        cpuSystemSeconds: cpuSystem,
        lastRssBytes: o.rssBytes,
        lastVsizeBytes: o.vsizeBytes,
        maxRssBytes: o.rssBytes,
        rssIntegral: 0,
        vszIntegral: 0,
        observedMs: 0,
        firstMono: clock.mono,
        lastMono: clock.mono,
        lastWall: clock.wall,
        ageAtFirstMs: age,
        samples: 1,
        seenIn: this.sampleNo,
        ivStartMs: o.startMs,
        ivHour: Math.floor(clock.wall / HOUR_MS),
        ivCpuUserBase: 0,
        ivCpuSystemBase: 0,
        ivElapsedBase: 0,
        ivRssIntegral: 0,
        ivRssMs: 0,
        intervalsClosed: 0,
      };
      this.live.set(o.pid, p);
      return Observed.New;
    }
    const dt = Math.max(0, clock.mono - p.lastMono);
    const hour = Math.floor(clock.wall / HOUR_MS);
    if (hour > p.ivHour) this.closeIntervals(p, hour, dt, cpuUser, cpuSystem);
    p.rssIntegral += p.lastRssBytes * dt;
    p.vszIntegral += p.lastVsizeBytes * dt;
    p.observedMs += dt;
    p.ivRssIntegral += p.lastRssBytes * dt;
    p.ivRssMs += dt;
    const cpuMoved = cpuUser !== p.cpuUserSeconds || cpuSystem !== p.cpuSystemSeconds;
    // CPU counters are cumulative; a lower reading is a sampling glitch, never a refund.
    if (cpuUser > p.cpuUserSeconds) p.cpuUserSeconds = cpuUser;
    if (cpuSystem > p.cpuSystemSeconds) p.cpuSystemSeconds = cpuSystem;
    p.lastRssBytes = o.rssBytes;
    p.lastVsizeBytes = o.vsizeBytes;
    if (o.rssBytes > p.maxRssBytes) p.maxRssBytes = o.rssBytes;
    p.ppid = o.ppid;
    const execd = o.comm !== p.comm;
    if (execd) p.comm = o.comm;
    p.lastMono = clock.mono;
    p.lastWall = clock.wall;
    p.samples++;
    p.seenIn = this.sampleNo;
    if (execd) return Observed.New; // exec: uid (setuid) and exe may have changed
    return cpuMoved ? Observed.CpuChanged : Observed.Unchanged;
  }

  private readonly reused: TrackedProcess[] = [];
  private readonly tombSeen = new Set<number>();

  /** Closes the open interval at every hour boundary between the previous sample and this one. */
  private closeIntervals(p: TrackedProcess, hour: number, dt: number, cpuUser: number, cpuSystem: number): void {
    const prevWall = p.lastWall;
    const wall = this.clock.wall;
    const elapsedPrev = p.ageAtFirstMs + (p.lastMono - p.firstMono);
    let consumed = 0; // fraction of this step already given to closed intervals
    while (p.ivHour < hour) {
      const boundary = (p.ivHour + 1) * HOUR_MS;
      const span = wall - prevWall;
      const f = span > 0 ? Math.min(1, Math.max(0, (boundary - prevWall) / span)) : 1;
      const cpuUB = p.cpuUserSeconds + f * Math.max(0, cpuUser - p.cpuUserSeconds);
      const cpuSB = p.cpuSystemSeconds + f * Math.max(0, cpuSystem - p.cpuSystemSeconds);
      const elB = (elapsedPrev + f * dt) / 1000;
      const part = Math.max(0, f - consumed) * dt;
      const rssInt = p.ivRssIntegral + p.lastRssBytes * part;
      const rssMs = p.ivRssMs + part;
      consumed = Math.max(consumed, f);
      this.pendingIntervals.push({
        process: p,
        interval: {
          intervalStartMs: p.ivStartMs,
          intervalEndMs: boundary,
          cpuUserSeconds: cpuUB - p.ivCpuUserBase,
          cpuSystemSeconds: cpuSB - p.ivCpuSystemBase,
          elapsedSeconds: Math.max(0, elB - p.ivElapsedBase),
          avgRssBytes: rssMs > 0 ? rssInt / rssMs : p.lastRssBytes,
        },
      });
      p.intervalsClosed++;
      p.ivStartMs = boundary;
      p.ivHour++;
      p.ivCpuUserBase = cpuUB;
      p.ivCpuSystemBase = cpuSB;
      p.ivElapsedBase = Math.max(p.ivElapsedBase, elB);
      p.ivRssIntegral = 0;
      p.ivRssMs = 0;
    }
    // The rest of this step belongs to the new interval; observe() adds the whole step, so
    // pre-subtract the part already given to the closed one.
    p.ivRssIntegral -= p.lastRssBytes * consumed * dt;
    p.ivRssMs -= consumed * dt;
  }

  /** Records the I/O counters read for a process (readBytes/writeBytes = rchar/wchar). */
  setIo(pid: number, readBytes: number, writeBytes: number): void {
    const p = this.live.get(pid);
    if (!p) return;
    p.readBytes = readBytes;
    p.writeBytes = writeBytes;
  }

  setDetails(pid: number, details: ProcessDetails): void {
    const p = this.live.get(pid);
    if (p) p.details = details;
  }

  /**
   * Ends a sample: processes not seen in it have exited (plus any whose PID was reused), and
   * intervals closed during it are handed out.
   */
  endSample(): SweepResult {
    const exited: TrackedProcess[] = this.reused.splice(0);
    for (const p of this.live.values()) {
      if (p.seenIn !== this.sampleNo) {
        this.live.delete(p.pid);
        p.goneMono = this.clock.mono;
        exited.push(p);
      }
    }
    for (const pid of this.finished.keys()) if (!this.tombSeen.has(pid)) this.finished.delete(pid);
    this.tombSeen.clear();
    const intervals = this.pendingIntervals;
    this.pendingIntervals = [];
    return { exited, intervals };
  }

  /**
   * Removes and returns the live process matching an exit reported by kernel accounting
   * (same pid, start within toleranceMs), so it is finished now and its lingering /proc entry
   * (a zombie) is not counted again.
   */
  takeLive(pid: number, startMs: number, toleranceMs: number): TrackedProcess | undefined {
    const p = this.live.get(pid);
    if (!p || Math.abs(p.startMs - startMs) > toleranceMs) return undefined;
    this.live.delete(pid);
    this.finished.set(pid, p.startMs);
    return p;
  }

  /** Restores the interval state persisted at the last hour boundary (after an agent restart). */
  restoreIntervalState(pid: number, startMs: number, s: PersistedInterval): void {
    const p = this.live.get(pid);
    if (!p || p.startMs !== startMs) return;
    p.ivStartMs = s.ivStartMs;
    p.ivHour = Math.max(p.ivHour, Math.floor(s.ivStartMs / HOUR_MS));
    p.ivCpuUserBase = s.ivCpuUserBase;
    p.ivCpuSystemBase = s.ivCpuSystemBase;
    p.ivElapsedBase = s.ivElapsedBase;
    p.intervalsClosed = Math.max(p.intervalsClosed, s.intervalsClosed);
  }

  /** The interval state of every live process that has closed an interval (persisted hourly). */
  intervalState(): Record<string, PersistedInterval & { startMs: number }> {
    const out: Record<string, PersistedInterval & { startMs: number }> = {};
    for (const p of this.live.values()) {
      if (p.intervalsClosed === 0) continue;
      out[p.pid] = {
        startMs: p.startMs,
        ivStartMs: p.ivStartMs,
        ivCpuUserBase: p.ivCpuUserBase,
        ivCpuSystemBase: p.ivCpuSystemBase,
        ivElapsedBase: p.ivElapsedBase,
        intervalsClosed: p.intervalsClosed,
      };
    }
    return out;
  }
}

export interface PersistedInterval {
  ivStartMs: number;
  ivCpuUserBase: number;
  ivCpuSystemBase: number;
  ivElapsedBase: number;
  intervalsClosed: number;
}
