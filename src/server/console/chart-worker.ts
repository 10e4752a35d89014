/** The chart worker: specs in, SVG out (chart-pool.ts). */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort } from 'node:worker_threads';
import { renderSpec, type ChartSpec } from './chart-render.js';

/** The niceness this thread draws at: it takes the CPU the event loop leaves (chart-pool.ts). */
export const CHART_NICENESS = 10;

// Linux: setpriority() of a thread id sets that thread alone (/proc/thread-self names it).
// Elsewhere, or if refused, the worker draws at the process's priority. (Only as a worker: the
// tests import this module on the main thread.)
if (!isMainThread) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, CHART_NICENESS);
  } catch {
    // (no /proc: not Linux)
  }
}

export interface ChartRequest {
  id: number;
  spec: ChartSpec;
}
export interface ChartReply {
  id: number;
  svg?: string;
  error?: string;
}

parentPort?.on('message', async (m: ChartRequest) => {
  try {
    parentPort!.postMessage({ id: m.id, svg: await renderSpec(m.spec) } satisfies ChartReply);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: String((err as Error)?.stack ?? err) } satisfies ChartReply);
  }
});
