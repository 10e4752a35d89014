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

/**
 * A step chart and a bar chart drawn once as the worker starts (ECharts loaded, its drawing code
 * compiled), before the first chart asked for: a new worker drew its first dozen charts several
 * times slower than later ones, and that was the first usage page after a start.
 */
async function warmUp(): Promise<void> {
  const t0 = Date.UTC(2024, 0, 1);
  const points = Array.from({ length: 300 }, (_, i): [number, number] => [t0 + i * 60_000, i % 7]);
  try {
    await renderSpec({ kind: 'step', series: [{ name: 'a', points, peak: true }], range: { from: t0, to: t0 + 300 * 60_000 }, tz: 'UTC', ids: 'warm' });
    await renderSpec({ kind: 'bar', categories: ['a', 'b'], series: [{ name: 'n', values: [1, 2] }], opts: {}, ids: 'warm' });
  } catch {
    // A chart asked for will say what is wrong.
  }
}
const ready = isMainThread ? Promise.resolve() : warmUp();

parentPort?.on('message', async (m: ChartRequest) => {
  await ready;
  try {
    parentPort!.postMessage({ id: m.id, svg: await renderSpec(m.spec) } satisfies ChartReply);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: String((err as Error)?.stack ?? err) } satisfies ChartReply);
  }
});
