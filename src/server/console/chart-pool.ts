/**
 * The console's charts are drawn on one worker thread, started with the first chart and keeping
 * the process alive only while it draws. ECharts takes about 20 ms a chart, a usage page draws up to a
 * dozen: on the event loop that held up every lease request for a quarter of a second per page
 * view. If the worker fails, charts are drawn in line from then on: the page is the same, only
 * where the CPU time goes differs (as with the integrity worker).
 */
import { Worker } from 'node:worker_threads';
import { renderSpec, type ChartSpec } from './chart-render.js';
import type { ChartReply, ChartRequest } from './chart-worker.js';

let worker: Worker | undefined;
let failed = false;
let nextId = 1;
const waiting = new Map<number, { resolve(svg: string): void; reject(err: Error): void; spec: ChartSpec }>();

/** The SVG of `spec`, drawn on the chart worker (in line once it has failed). */
export function renderChart(spec: ChartSpec): Promise<string> {
  const w = failed ? undefined : start();
  if (!w) return renderSpec(spec);
  const id = nextId++;
  // Referenced while it draws (a command that renders a page waits for it), not when idle.
  if (waiting.size === 0) w.ref();
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, spec });
    w.postMessage({ id, spec } satisfies ChartRequest);
  });
}

function start(): Worker | undefined {
  if (worker) return worker;
  let w: Worker;
  try {
    w = new Worker(new URL('./chart-worker.js', import.meta.url));
  } catch {
    failed = true;
    return undefined;
  }
  w.on('message', (m: ChartReply) => {
    const entry = waiting.get(m.id);
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    if (!entry) return;
    if (m.svg !== undefined) entry.resolve(m.svg);
    else entry.reject(new Error(`chart worker: ${m.error}`));
  });
  const fail = () => {
    if (worker !== w) return;
    failed = true;
    worker = undefined;
    // What the worker still had is drawn here.
    for (const [id, entry] of waiting) {
      waiting.delete(id);
      renderSpec(entry.spec).then(entry.resolve, entry.reject);
    }
  };
  w.on('error', fail);
  w.on('exit', fail);
  // After the listeners: adding a 'message' listener refs the worker's port again.
  w.unref();
  worker = w;
  return w;
}
