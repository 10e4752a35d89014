/**
 * Process accounting as the Open iT data types name it (shared/reference/002): per command, user,
 * host and exit status, the count of completed processes, CPU seconds, elapsed hours, I/O bytes,
 * average memory (bytes, weighted by run time) and accumulated memory (average memory x elapsed
 * time, byte-seconds); the hourly Process Accounting of `process-interval` records (count, CPU,
 * elapsed, I/O, average processes running, average and accumulated RSS); and the resource cost
 * and crash rate (non-zero exit, or ended by a signal) of each licensed product's programs.
 *
 * The store sums the records (loaders.ts); these functions shape the sums, and `sumProcesses`
 * makes the same sums from records, so both paths are tested to agree.
 */

/** Sums over the completed processes of one (command, exe, user, host, exit code). */
export interface ProcessSums {
  command: string;
  exe: string;
  user: string;
  host: string;
  /** null: no exit status (ended by a signal). */
  exitCode: number | null;
  count: number;
  cpuSeconds: number;
  elapsedSeconds: number;
  ioBytes: number;
  /** Σ average RSS x elapsed seconds. */
  memoryByteSeconds: number;
}

/** One uploaded `process` record (the columns the reports use). */
export interface ProcessRecordRow {
  command: string | null;
  exe: string | null;
  user: string | null;
  host: string | null;
  exitCode: number | null;
  elapsedSeconds: number | null;
  cpuUserSeconds: number | null;
  cpuSystemSeconds: number | null;
  avgRssBytes: number | null;
  readBytes: number | null;
  writeBytes: number | null;
}

const n = (x: number | null | undefined) => x ?? 0;

/** The store's sums, from records (the reference for the SQL loader). */
export function sumProcesses(rows: readonly ProcessRecordRow[]): ProcessSums[] {
  const m = new Map<string, ProcessSums>();
  for (const r of rows) {
    const k = [r.command, r.exe, r.user, r.host, r.exitCode].join('\u0000');
    let s = m.get(k);
    if (!s)
      m.set(
        k,
        (s = {
          command: r.command ?? '',
          exe: r.exe ?? '',
          user: r.user ?? '',
          host: r.host ?? '',
          exitCode: r.exitCode,
          count: 0,
          cpuSeconds: 0,
          elapsedSeconds: 0,
          ioBytes: 0,
          memoryByteSeconds: 0,
        }),
      );
    s.count++;
    s.cpuSeconds += n(r.cpuUserSeconds) + n(r.cpuSystemSeconds);
    s.elapsedSeconds += n(r.elapsedSeconds);
    s.ioBytes += n(r.readBytes) + n(r.writeBytes);
    s.memoryByteSeconds += n(r.avgRssBytes) * n(r.elapsedSeconds);
  }
  return [...m.values()];
}

export const PROCESS_DIMENSIONS = ['command', 'user', 'host', 'exit'] as const;
export type ProcessDimension = (typeof PROCESS_DIMENSIONS)[number];

export interface ProcessAccountingRow {
  /** The grouping values, in the order asked for (exit: the exit code, or `signal`). */
  key: Record<string, string>;
  count: number;
  cpuSeconds: number;
  elapsedHours: number;
  ioBytes: number;
  averageMemoryBytes: number;
  accumulatedMemoryByteSeconds: number;
}

const exitLabel = (c: number | null) => (c === null ? 'signal' : String(c));

/** Group the sums by some of command, user, host and exit status; most CPU first. */
export function processAccounting(sums: readonly ProcessSums[], by: readonly ProcessDimension[], limit = Infinity): ProcessAccountingRow[] {
  const m = new Map<string, ProcessAccountingRow & { mem: number; el: number }>();
  for (const s of sums) {
    const key: Record<string, string> = {};
    for (const d of by) key[d] = d === 'exit' ? exitLabel(s.exitCode) : s[d];
    const k = by.map((d) => key[d]).join('\u0000');
    let r = m.get(k);
    if (!r)
      m.set(k, (r = { key, count: 0, cpuSeconds: 0, elapsedHours: 0, ioBytes: 0, averageMemoryBytes: 0, accumulatedMemoryByteSeconds: 0, mem: 0, el: 0 }));
    r.count += s.count;
    r.cpuSeconds += s.cpuSeconds;
    r.el += s.elapsedSeconds;
    r.ioBytes += s.ioBytes;
    r.mem += s.memoryByteSeconds;
  }
  return [...m.values()]
    .map(({ mem, el, ...r }) => ({ ...r, elapsedHours: el / 3600, accumulatedMemoryByteSeconds: mem, averageMemoryBytes: el > 0 ? mem / el : 0 }))
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds || b.count - a.count || JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)))
    .slice(0, limit);
}

/** Sums of the `process-interval` records of one UTC hour and command. */
export interface IntervalSums {
  hour: string;
  command: string;
  count: number;
  cpuSeconds: number;
  elapsedSeconds: number;
  ioBytes: number;
  rssByteSeconds: number;
}
export interface HourlyRow {
  hour: string;
  command: string;
  count: number;
  cpuSeconds: number;
  elapsedHours: number;
  ioBytes: number;
  averageProcesses: number;
  averageRssBytes: number;
  accumulatedRssByteHours: number;
}

/** Hourly Process Accounting: one row per UTC hour (`YYYY-MM-DDTHH`) and command. */
export function hourlyProcessAccounting(sums: readonly IntervalSums[]): HourlyRow[] {
  return sums
    .map((s) => ({
      hour: s.hour,
      command: s.command,
      count: s.count,
      cpuSeconds: s.cpuSeconds,
      elapsedHours: s.elapsedSeconds / 3600,
      ioBytes: s.ioBytes,
      // Process-seconds in the hour / 3600 s: processes running on average.
      averageProcesses: s.elapsedSeconds / 3600,
      averageRssBytes: s.elapsedSeconds > 0 ? s.rssByteSeconds / s.elapsedSeconds : 0,
      accumulatedRssByteHours: s.rssByteSeconds / 3600,
    }))
    .sort((a, b) => a.hour.localeCompare(b.hour) || b.cpuSeconds - a.cpuSeconds || a.command.localeCompare(b.command));
}

export interface ProductCost {
  product: string;
  processes: number;
  cpuSeconds: number;
  elapsedHours: number;
  ioBytes: number;
  accumulatedMemoryByteSeconds: number;
  crashes: number;
  crashRate: number;
}

/**
 * Resource cost and crash rate of each licensed product: its processes are those whose command or
 * executable base name is one of the product's programs (`match.executables`).
 */
export function productCosts(sums: readonly ProcessSums[], programs: Readonly<Record<string, readonly string[]>>): ProductCost[] {
  const base = (s: string) => s.slice(s.lastIndexOf('/') + 1).toLowerCase();
  const owner = new Map<string, string>();
  for (const [p, list] of Object.entries(programs)) for (const x of list) if (!owner.has(base(x))) owner.set(base(x), p);
  const m = new Map<string, ProductCost>();
  for (const s of sums) {
    const p = owner.get(base(s.exe)) ?? owner.get(base(s.command));
    if (p === undefined) continue;
    let r = m.get(p);
    if (!r) m.set(p, (r = { product: p, processes: 0, cpuSeconds: 0, elapsedHours: 0, ioBytes: 0, accumulatedMemoryByteSeconds: 0, crashes: 0, crashRate: 0 }));
    r.processes += s.count;
    r.cpuSeconds += s.cpuSeconds;
    // Seconds here, hours at the end: the sum does not depend on the order of the groups.
    r.elapsedHours += s.elapsedSeconds;
    r.ioBytes += s.ioBytes;
    r.accumulatedMemoryByteSeconds += s.memoryByteSeconds;
    if (s.exitCode !== 0) r.crashes += s.count;
  }
  return [...m.values()]
    .map((r) => ({ ...r, elapsedHours: r.elapsedHours / 3600, crashRate: r.processes > 0 ? r.crashes / r.processes : 0 }))
    .sort((a, b) => a.product.localeCompare(b.product));
}
