/** Shared helpers for the usage-server benchmarks (not a benchmark itself: the name starts with _). */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Pool } from 'undici';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Run `worker` on `concurrency` loops for `seconds`, timing each call; returns ops/s and latency. */
export async function loop(concurrency: number, seconds: number, worker: (w: number, i: number) => Promise<void>) {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now();
        await worker(w, i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { ops: lat.length, perSecond: round(lat.length / elapsed, 0), p50Ms: round(percentile(lat, 50), 3), p99Ms: round(percentile(lat, 99), 3) };
}

export async function call(pool: Pool, method: 'GET' | 'POST' | 'DELETE', path: string, token: string, body?: string): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await pool.request({ method, path, headers, body });
  const text = await r.body.text();
  return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
}

/**
 * Nanoseconds a process has spent on a CPU so far, summed over all its threads (main thread, libuv
 * pool, V8 GC and compiler threads): the first field of /proc/PID/task/TID/schedstat. Threads that
 * exit between two readings drop out of the sum, so take the difference over a window in which the
 * process's threads stay the same (a node server's do). NaN where /proc is not available.
 */
export function processCpuNs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // thread exited while listing
      }
    }
    return ns;
  } catch {
    return NaN;
  }
}

/** Run `fn` and report the server's CPU microseconds per operation over it (`ops` from its result). */
export async function withServerCpu<T extends { ops: number }>(
  pid: number,
  fn: () => Promise<T>,
): Promise<T & { serverCpuUsPerOp: number; serverCpuShare: number }> {
  const c0 = processCpuNs(pid);
  const t0 = performance.now();
  const r = await fn();
  const cpu = processCpuNs(pid) - c0;
  const wall = (performance.now() - t0) * 1e6;
  return { ...r, serverCpuUsPerOp: round(cpu / 1000 / r.ops, 1), serverCpuShare: round(cpu / wall, 2) };
}

/** The 1-minute load average (the machine is shared: figures from a busy machine are not comparable). */
export const loadAverage1m = (): number => round(loadavg()[0], 2);
