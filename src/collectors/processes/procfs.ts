/**
 * Linux sampler: reads /proc directly, never spawns ps. Per sample: one readdir of /proc, one
 * pread of /proc/uptime, and one pread of /proc/PID/stat per process into a buffer allocated once,
 * parsed in place (no string split). /proc/PID/status, exe and cmdline are read only for a new
 * process (or after an exec), /proc/PID/io only when the process used CPU since the previous read
 * (a process that did not run cannot have done read/write calls).
 *
 * Kept descriptors. /proc/PID/stat is opened once per process and kept open; every later sample
 * re-reads it with pread at offset 0 (the kernel regenerates the text on each read from 0), which
 * saves the open and close that were ~40% of the sampler's syscall time. A descriptor is bound to
 * the process it was opened for, not to the PID number: once that process has been reaped, reads
 * fail with ESRCH, so a reused PID can never be read through an old descriptor (the entry is
 * closed and the PID opened afresh). Descriptors of PIDs no longer listed in /proc are closed at
 * the end of each sample. At most `maxKeptFds` are kept (default 8192, and never more than half of
 * the soft RLIMIT_NOFILE from /proc/self/limits); processes beyond that are read with
 * open/read/close as before, so a machine with 50,000 processes costs more CPU, not fds.
 */
import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { readClockTicks, readPageSize, softNoFileLimit } from './system.js';
import { emptyObservation, Observed, type ProcessDetails, type ProcessObservation, type ProcessTracker, type SampleClock } from './tracker.js';
import type { NameLookup } from '../../identity/resolver.js';

export interface ProcfsOptions {
  /** Root of procfs (tests point this at a recorded fixture tree). */
  procRoot?: string;
  recordCommandLine?: boolean;
  names: NameLookup;
  /** Clock ticks per second; default: `getconf CLK_TCK` once, else 100. */
  hz?: number;
  pageSize?: number;
  /** Boot time in ms since the epoch; default: btime from /proc/stat, read once. */
  bootTimeMs?: number;
  /** The monotonic clock (ms). */
  monoNow?: () => number;
  /**
   * Most /proc/PID/stat descriptors kept open between samples (0: open/read/close every time).
   * Default 8192, capped at half the soft RLIMIT_NOFILE.
   */
  maxKeptFds?: number;
}

/** Per-PID state kept between samples: the stat descriptor and the last comm decoded. */
interface PidEntry {
  pid: number;
  /** Open /proc/PID/stat descriptor, or -1 when over the cap. */
  fd: number;
  /** Sample generation that last listed this PID. */
  gen: number;
  commHash: number;
  comm: string | null;
}

export const DEFAULT_MAX_KEPT_FDS = 8192;

const CH_0 = 48;
const CH_SPACE = 32;
const CH_RPAREN = 41;

export class ProcfsReader {
  readonly root: string;
  readonly hz: number;
  readonly pageSize: number;
  readonly bootTimeMs: number;
  private readonly buf = Buffer.allocUnsafe(4096);
  private readonly bigBuf = Buffer.allocUnsafe(65536);
  private readonly names: NameLookup;
  private readonly recordCommandLine: boolean;
  readonly monoNow: () => number;
  /** The one observation object reused for every process. */
  private readonly obs: ProcessObservation = emptyObservation();
  /** Hash and span of the comm bytes of the last stat read; decoded only when it changed. */
  private commHash = 0;
  private commStart = 0;
  private commEnd = 0;
  /** PID -> kept descriptor and comm cache. */
  private readonly pids = new Map<number, PidEntry>();
  private gen = 0;
  private keptFds = 0;
  readonly maxKeptFds: number;
  private uptimeFd = -1;
  private loadavgFd = -1;
  readErrors = 0;
  /** State byte (field 3) of the last readStat: 'Z' (90) for a zombie. */
  lastState = 0;
  /**
   * Set when kernel accounting is read: a process first seen as a zombie has already exited and
   * its pacct record is (or will be) read, so it is not tracked as a sampled process (it would have
   * no CPU/RSS of its own and would be counted a second time).
   */
  ignoreNewZombies = false;
  zombiesIgnored = 0;

  /** The comm of the last readStat, decoding bytes only when they differ from last time. */
  private resolveComm(e: PidEntry): string {
    if (e.comm !== null && e.commHash === this.commHash) return e.comm;
    const comm = this.buf.toString('utf8', this.commStart, this.commEnd);
    e.commHash = this.commHash;
    e.comm = comm;
    return comm;
  }

  /** Descriptors of /proc/PID/stat currently kept open. */
  get keptDescriptors(): number {
    return this.keptFds;
  }

  /**
   * Reads /proc/PID/stat into `buf` through the PID's kept descriptor (opening and keeping one
   * if under the cap); returns the byte count, or -1 when the process is gone.
   */
  private readStatInto(pid: number, e: PidEntry, keep: boolean): number {
    if (e.fd >= 0) {
      try {
        const n = readSync(e.fd, this.buf, 0, this.buf.length, 0);
        if (n > 0) return n;
      } catch {
        /* ESRCH: the process this descriptor was opened for has been reaped */
      }
      this.dropFd(e);
      // The PID may now name another process: open it afresh below.
    }
    const path = `${this.root}/${pid}/stat`;
    if (!keep || this.keptFds >= this.maxKeptFds) return this.readInto(path, this.buf);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return -1;
    }
    let n = -1;
    try {
      n = readSync(fd, this.buf, 0, this.buf.length, 0);
    } catch {
      /* gone between open and read */
    }
    if (n > 0) {
      e.fd = fd;
      this.keptFds++;
    } else closeSync(fd);
    return n;
  }

  private dropFd(e: PidEntry): void {
    if (e.fd < 0) return;
    try {
      closeSync(e.fd);
    } catch {
      /* already closed */
    }
    e.fd = -1;
    this.keptFds--;
  }

  /** Closes every kept descriptor (the daemon's stop; the reader stays usable). */
  close(): void {
    for (const e of this.pids.values()) this.dropFd(e);
    this.pids.clear();
    if (this.uptimeFd >= 0) closeSync(this.uptimeFd);
    this.uptimeFd = -1;
    if (this.loadavgFd >= 0) closeSync(this.loadavgFd);
    this.loadavgFd = -1;
  }

  constructor(options: ProcfsOptions) {
    this.root = options.procRoot ?? '/proc';
    this.hz = options.hz ?? readClockTicks();
    this.pageSize = options.pageSize ?? readPageSize();
    this.names = options.names;
    this.recordCommandLine = options.recordCommandLine ?? false;
    this.monoNow = options.monoNow ?? (() => performance.now());
    this.bootTimeMs = options.bootTimeMs ?? this.readBootTimeMs();
    const soft = softNoFileLimit();
    this.maxKeptFds = Math.max(0, Math.min(options.maxKeptFds ?? DEFAULT_MAX_KEPT_FDS, soft === null ? 512 : Math.floor(soft / 2)));
  }

  private readBootTimeMs(): number {
    const text = this.readSmall(`${this.root}/stat`, this.bigBuf);
    const m = text === null ? null : /^btime (\d+)/m.exec(text);
    if (!m) throw new Error(`cannot read btime from ${this.root}/stat`);
    return Number(m[1]) * 1000;
  }

  /** Seconds since boot (CLOCK_BOOTTIME) from /proc/uptime. */
  readUptimeMs(): number {
    let n = -1;
    if (this.uptimeFd < 0) {
      try {
        this.uptimeFd = openSync(`${this.root}/uptime`, 'r');
      } catch {
        return NaN;
      }
    }
    try {
      n = readSync(this.uptimeFd, this.buf, 0, this.buf.length, 0);
    } catch {
      closeSync(this.uptimeFd);
      this.uptimeFd = -1;
    }
    if (n <= 0) return NaN;
    let i = 0;
    let whole = 0;
    while (i < n && this.buf[i] !== 46 && this.buf[i] !== CH_SPACE) whole = whole * 10 + (this.buf[i++]! - CH_0);
    let frac = 0;
    let scale = 1000;
    if (this.buf[i] === 46) {
      i++;
      while (i < n && this.buf[i] !== CH_SPACE && scale > 1) {
        scale /= 10;
        frac += (this.buf[i++]! - CH_0) * scale;
      }
    }
    return whole * 1000 + frac;
  }

  /**
   * The clock for one sample: `wall` is boot time (read once) + uptime, which a settimeofday step
   * does not move and which is on the same timeline as process start times.
   */
  clock(): SampleClock {
    const up = this.readUptimeMs();
    return { mono: this.monoNow(), wall: Number.isFinite(up) ? this.bootTimeMs + up : Date.now() };
  }

  private readInto(path: string, buf: Buffer): number {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return -1;
    }
    try {
      return readSync(fd, buf, 0, buf.length, 0);
    } catch {
      return -1;
    } finally {
      closeSync(fd);
    }
  }

  private readSmall(path: string, buf: Buffer): string | null {
    const n = this.readInto(path, buf);
    return n < 0 ? null : buf.toString('latin1', 0, n);
  }

  /**
   * A number that changes whenever a task (process or thread) was created or reaped: the number
   * of tasks and the last PID created, the last two fields of /proc/loadavg
   * (`0.10 0.05 0.01 1/312 4242`). One pread of ~40 bytes on a kept descriptor, parsed in place;
   * NaN when unavailable (the caller then scans /proc every time).
   */
  taskChangeToken(): number {
    if (this.loadavgFd < 0) {
      try {
        this.loadavgFd = openSync(`${this.root}/loadavg`, 'r');
      } catch {
        return NaN;
      }
    }
    let n = -1;
    try {
      n = readSync(this.loadavgFd, this.buf, 0, this.buf.length, 0);
    } catch {
      closeSync(this.loadavgFd);
      this.loadavgFd = -1;
    }
    const b = this.buf;
    let i = 0;
    while (i < n && b[i] !== 47 /* / */) i++;
    if (i >= n) return NaN;
    let tasks = 0;
    for (i++; i < n && b[i] !== CH_SPACE; i++) tasks = tasks * 10 + (b[i]! - CH_0);
    let lastPid = 0;
    for (i++; i < n && b[i]! >= CH_0 && b[i]! <= CH_0 + 9; i++) lastPid = lastPid * 10 + (b[i]! - CH_0);
    // PIDs are below 2^22 (pid_max's ceiling): the pair packs into one exact double.
    return tasks * 4_194_304 + lastPid;
  }

  /** The numeric entries of /proc. */
  listPids(): number[] {
    const names = readdirSync(this.root);
    const pids: number[] = [];
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 49 || c > 57) continue;
      const pid = Number(name);
      if (Number.isInteger(pid)) pids.push(pid);
    }
    return pids;
  }

  /**
   * Parses /proc/PID/stat into the shared observation. Returns null if the process is gone.
   * `keep` false: a one-off read (the launch watcher) that keeps no descriptor or cache entry, so
   * nothing is left behind when no sample follows (portable sampler on Linux).
   * Layout: pid (comm) state ppid ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24).
   */
  readStat(pid: number, keep = true): ProcessObservation | null {
    const buf = this.buf;
    let e = this.pids.get(pid);
    if (e === undefined) {
      e = { pid, fd: -1, gen: this.gen, commHash: 0, comm: null };
      if (keep) this.pids.set(pid, e);
    }
    const n = this.readStatInto(pid, e, keep);
    if (n <= 0) return null;
    // comm may contain spaces and ')': it ends at the last ')'.
    let rp = n - 1;
    while (rp > 0 && buf[rp] !== CH_RPAREN) rp--;
    let lp = 0;
    while (lp < rp && buf[lp] !== 40) lp++;
    const o = this.obs;
    o.pid = pid;
    // Decode comm only when its bytes changed from the last process decoded (cheap compare).
    const commLen = rp - lp - 1;
    let h = commLen;
    for (let k = lp + 1; k < rp; k++) h = (h * 31 + buf[k]!) | 0;
    this.commHash = h;
    this.commStart = lp + 1;
    this.commEnd = rp;
    let i = rp + 2; // field 3 (state)
    let field = 3;
    let ppid = 0;
    let utime = 0;
    let stime = 0;
    let start = 0;
    let vsize = 0;
    let rss = 0;
    while (i < n && field <= 24) {
      if (field === 3) {
        this.lastState = buf[i]!;
        while (i < n && buf[i] !== CH_SPACE) i++;
      } else {
        let v = 0;
        let neg = false;
        if (buf[i] === 45) {
          neg = true;
          i++;
        }
        while (i < n) {
          const c = buf[i]!;
          if (c === CH_SPACE || c === 10) break;
          v = v * 10 + (c - CH_0);
          i++;
        }
        if (neg) v = -v;
        switch (field) {
          case 4:
            ppid = v;
            break;
          case 14:
            utime = v;
            break;
          case 15:
            stime = v;
            break;
          case 22:
            start = v;
            break;
          case 23:
            vsize = v;
            break;
          case 24:
            rss = v;
            break;
        }
      }
      i++;
      field++;
    }
    if (field <= 24 || commLen < 0) return null;
    o.comm = this.resolveComm(e);
    o.ppid = ppid;
    o.cpuUserSeconds = utime / this.hz;
    o.cpuSystemSeconds = stime / this.hz;
    o.startMs = this.bootTimeMs + Math.round((start * 1000) / this.hz);
    o.vsizeBytes = vsize;
    o.rssBytes = rss * this.pageSize;
    return o;
  }

  /** rchar/wchar from /proc/PID/io (root, or the same user), or null. */
  readIo(pid: number): { readBytes: number; writeBytes: number } | null {
    const buf = this.bigBuf;
    const n = this.readInto(`${this.root}/${pid}/io`, buf);
    if (n <= 0) return null;
    let readBytes = -1;
    let writeBytes = -1;
    let i = 0;
    while (i < n && (readBytes < 0 || writeBytes < 0)) {
      const lineStart = i;
      while (i < n && buf[i] !== 58) i++; // ':'
      const isR = buf[lineStart] === 114 && buf[lineStart + 1] === 99; // "rc"har
      const isW = buf[lineStart] === 119 && buf[lineStart + 1] === 99; // "wc"har
      i++;
      while (i < n && buf[i] === CH_SPACE) i++;
      let v = 0;
      while (i < n && buf[i] !== 10) v = v * 10 + (buf[i++]! - CH_0);
      i++;
      if (isR) readBytes = v;
      else if (isW) writeBytes = v;
    }
    if (readBytes < 0 || writeBytes < 0) return null;
    return { readBytes, writeBytes };
  }

  /**
   * The thread group (process) a task id belongs to, from /proc/ID/status (a thread's id has a
   * /proc entry too, though /proc does not list it); null when it is gone.
   */
  tgidOf(id: number): number | null {
    const status = this.readSmall(`${this.root}/${id}/status`, this.bigBuf);
    const m = status === null ? null : /\nTgid:\s+(\d+)/.exec(status);
    return m ? Number(m[1]) : null;
  }

  /** uid/gid (real) from status, exe, optionally cmdline: once per new process. */
  readDetails(pid: number): ProcessDetails {
    let uid: number | null = null;
    let gid: number | null = null;
    const status = this.readSmall(`${this.root}/${pid}/status`, this.bigBuf);
    if (status !== null) {
      const u = /\nUid:\s+(\d+)/.exec(status);
      const g = /\nGid:\s+(\d+)/.exec(status);
      if (u) uid = Number(u[1]);
      if (g) gid = Number(g[1]);
    }
    let exe: string | null = null;
    try {
      exe = readlinkSync(`${this.root}/${pid}/exe`);
      if (exe.endsWith(' (deleted)')) exe = exe.slice(0, -10);
    } catch {
      /* kernel thread, or not permitted */
    }
    const details: ProcessDetails = {
      uid,
      gid,
      user: uid === null ? null : this.names.user(uid),
      group: gid === null ? null : this.names.group(gid),
      exe,
    };
    if (this.recordCommandLine) {
      const raw = this.readSmall(`${this.root}/${pid}/cmdline`, this.bigBuf);
      details.cmdline = raw === null ? null : raw.replace(/\0+$/, '').split('\0').join(' ');
    }
    return details;
  }

  /** One full sample into the tracker. */
  sample(tracker: ProcessTracker): void {
    tracker.beginSample(this.clock());
    const pids = this.listPids();
    const gen = ++this.gen;
    for (let k = 0; k < pids.length; k++) {
      const pid = pids[k]!;
      const e = this.pids.get(pid);
      if (e !== undefined) e.gen = gen;
      const o = this.readStat(pid);
      if (o === null) continue;
      if (this.lastState === 90 && this.ignoreNewZombies && tracker.get(pid)?.startMs !== o.startMs) {
        this.zombiesIgnored++;
        continue;
      }
      const r = tracker.observe(o);
      if (r === Observed.Unchanged || r === Observed.Ignored) continue;
      if (r === Observed.New) tracker.setDetails(pid, this.readDetails(pid));
      const io = this.readIo(pid);
      if (io) tracker.setIo(pid, io.readBytes, io.writeBytes);
    }
    // PIDs no longer listed: their processes are gone; close their descriptors.
    for (const e of this.pids.values()) {
      if (e.gen !== gen) {
        this.dropFd(e);
        this.pids.delete(e.pid);
      }
    }
  }
}
