/**
 * Linux kernel process accounting, format v3 (`struct acct_v3` in linux/acct.h, `man 5 acct`).
 * Pure functions over bytes: no I/O here, so every edge case is tested with crafted records.
 *
 *   off size field        notes
 *     0   1  ac_flag      AFORK 0x01, ASU 0x02, ACORE 0x08, AXSIG 0x10
 *     1   1  ac_version   3, | 0x80 when written by a big-endian kernel (ACCT_BYTEORDER)
 *     2   2  ac_tty
 *     4   4  ac_exitcode  see decodeExitStatus
 *     8   4  ac_uid       real uid
 *    12   4  ac_gid       real gid
 *    16   4  ac_pid
 *    20   4  ac_ppid
 *    24   4  ac_btime     process creation, whole seconds since the epoch
 *    28   4  ac_etime     elapsed, IEEE-754 float in AHZ (100/s) ticks
 *    32   2  ac_utime     comp_t, AHZ ticks
 *    34   2  ac_stime     comp_t, AHZ ticks
 *    36   2  ac_mem       comp_t, KiB (virtual size at exit)
 *    38   2  ac_io        comp_t (Linux writes 0)
 *    40   2  ac_rw        comp_t (Linux writes 0)
 *    42   2  ac_minflt    comp_t
 *    44   2  ac_majflt    comp_t
 *    46   2  ac_swaps     comp_t
 *    48  16  ac_comm      NUL-padded command name (at most 15 bytes + NUL)
 */

export const ACCT_V3_SIZE = 64;
/** Linux always writes v3 times in AHZ = 100 units, whatever the kernel's HZ. */
export const AHZ = 100;

export const AFORK = 0x01;
export const ASU = 0x02;
export const ACORE = 0x08;
export const AXSIG = 0x10;

export interface PacctRecord {
  /** Raw ac_flag bits. */
  flags: number;
  /** Forked but did not exec (AFORK). */
  forked: boolean;
  /** Used superuser privileges (ASU). */
  superuser: boolean;
  /** Dumped core (ACORE flag, or the wait status core bit). */
  coreDumped: boolean;
  /** Killed by a signal (AXSIG). */
  killed: boolean;
  tty: number;
  /** Raw ac_exitcode as the kernel wrote it. */
  rawExitCode: number;
  /** Exit status 0-255 when the process exited normally; null when a signal ended it. */
  exitCode: number | null;
  /** The signal number that ended it, or null. */
  signal: number | null;
  uid: number;
  gid: number;
  pid: number;
  ppid: number;
  /** Creation time, whole seconds since the epoch. */
  btime: number;
  elapsedSeconds: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** ac_mem in bytes (the kernel stores KiB of virtual memory). */
  memBytes: number;
  io: number;
  rw: number;
  minorFaults: number;
  majorFaults: number;
  swaps: number;
  command: string;
}

/**
 * comp_t: 13-bit mantissa, 3-bit base-8 exponent. value = mantissa << (3 * exponent).
 * The largest value, 0xffff, is 8191 * 8^7 = 17,177,772,032.
 */
export function decodeCompT(c: number): number {
  const mantissa = c & 0x1fff;
  const exponent = (c >> 13) & 0x7;
  return mantissa * 8 ** exponent;
}

/** The inverse (rounding down like the kernel's encode_comp_t does), for crafting test records. */
export function encodeCompT(value: number): number {
  let v = Math.max(0, Math.floor(value));
  let exp = 0;
  let rnd = 0;
  while (v > 0x1fff) {
    rnd = v & 4; // the kernel rounds on the highest dropped bit
    v = Math.floor(v / 8);
    exp++;
  }
  if (rnd && ++v > 0x1fff) {
    v = Math.floor(v / 8);
    exp++;
  }
  if (exp > 7) return 0xffff;
  return (exp << 13) | v;
}

/**
 * ac_exitcode is the exit code passed to the kernel's do_exit, i.e. a wait(2) status:
 * `exit(3)` -> 0x0300, killed by SIGTERM -> 0x000f, SIGSEGV with a core dump -> 0x008b.
 * Decoded like WIFEXITED/WEXITSTATUS/WTERMSIG. The AXSIG flag is not used to decide: for a
 * multithreaded process the last thread to exit is the one accounted, and it was "killed" by the
 * group exit, so AXSIG is set even for a normal `exit(3)` (observed with Node on Linux 6.x).
 */
export function decodeExitStatus(raw: number, _flags = 0): { exitCode: number | null; signal: number | null } {
  const sig = raw & 0x7f;
  if (sig === 0) return { exitCode: (raw >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: sig };
}

/** True when the 64 bytes at offset look like a v3 record (version byte 3 or 0x83). */
export function isAcctV3(buf: Uint8Array, offset = 0): boolean {
  return buf.length >= offset + ACCT_V3_SIZE && (buf[offset + 1]! & 0x7f) === 3;
}

/**
 * Decodes one record. Returns null when the version byte is not 3 (a v0/v1/v2 file, or a torn
 * write): the caller skips 64 bytes and counts it as unreadable.
 */
export function decodeAcctV3(buf: Buffer, offset = 0): PacctRecord | null {
  if (!isAcctV3(buf, offset)) return null;
  const be = (buf[offset + 1]! & 0x80) !== 0;
  const u16 = (o: number) => (be ? buf.readUInt16BE(offset + o) : buf.readUInt16LE(offset + o));
  const u32 = (o: number) => (be ? buf.readUInt32BE(offset + o) : buf.readUInt32LE(offset + o));
  const flags = buf[offset]!;
  const rawExitCode = u32(4);
  const { exitCode, signal } = decodeExitStatus(rawExitCode, flags);
  const etime = be ? buf.readFloatBE(offset + 28) : buf.readFloatLE(offset + 28);
  let end = offset + 48;
  const stop = offset + 64;
  while (end < stop && buf[end] !== 0) end++;
  return {
    flags,
    forked: (flags & AFORK) !== 0,
    superuser: (flags & ASU) !== 0,
    coreDumped: (flags & ACORE) !== 0 || ((rawExitCode & 0x7f) !== 0 && (rawExitCode & 0x80) !== 0),
    killed: (flags & AXSIG) !== 0,
    tty: u16(2),
    rawExitCode,
    exitCode,
    signal,
    uid: u32(8),
    gid: u32(12),
    pid: u32(16),
    ppid: u32(20),
    btime: u32(24),
    elapsedSeconds: Number.isFinite(etime) && etime > 0 ? etime / AHZ : 0,
    cpuUserSeconds: decodeCompT(u16(32)) / AHZ,
    cpuSystemSeconds: decodeCompT(u16(34)) / AHZ,
    memBytes: decodeCompT(u16(36)) * 1024,
    io: decodeCompT(u16(38)),
    rw: decodeCompT(u16(40)),
    minorFaults: decodeCompT(u16(42)),
    majorFaults: decodeCompT(u16(44)),
    swaps: decodeCompT(u16(46)),
    command: buf.toString('latin1', offset + 48, end),
  };
}

export interface EncodeInput {
  flags?: number;
  version?: number;
  tty?: number;
  exitcode?: number;
  uid?: number;
  gid?: number;
  pid: number;
  ppid?: number;
  btime: number;
  etimeTicks?: number;
  utimeTicks?: number;
  stimeTicks?: number;
  memKiB?: number;
  comm: string;
}

/** Builds a little-endian v3 record (tests and fixtures). */
export function encodeAcctV3(r: EncodeInput): Buffer {
  const b = Buffer.alloc(ACCT_V3_SIZE);
  b[0] = r.flags ?? 0;
  b[1] = r.version ?? 3;
  b.writeUInt16LE(r.tty ?? 0, 2);
  b.writeUInt32LE(r.exitcode ?? 0, 4);
  b.writeUInt32LE(r.uid ?? 0, 8);
  b.writeUInt32LE(r.gid ?? 0, 12);
  b.writeUInt32LE(r.pid, 16);
  b.writeUInt32LE(r.ppid ?? 1, 20);
  b.writeUInt32LE(r.btime, 24);
  b.writeFloatLE(r.etimeTicks ?? 0, 28);
  b.writeUInt16LE(encodeCompT(r.utimeTicks ?? 0), 32);
  b.writeUInt16LE(encodeCompT(r.stimeTicks ?? 0), 34);
  b.writeUInt16LE(encodeCompT(r.memKiB ?? 0), 36);
  b.write(r.comm.slice(0, 15), 48, 'latin1');
  return b;
}
