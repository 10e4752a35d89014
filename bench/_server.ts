/** Shared helpers for the usage-server benchmarks (not a benchmark itself: the name starts with _). */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

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
