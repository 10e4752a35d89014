/**
 * The console's charts are drawn on worker threads: up to WORKERS (one per core, at most two),
 * started with the first charts, each chart given to the worker with the fewest waiting, and
 * keeping the process alive only while they draw. ECharts takes 20-30 ms a chart and a usage page
 * draws up to a dozen: on the event loop that held up every lease request for a quarter of a
 * second per page view, and on one worker the charts, not the page's reads, were what it waited
 * for. The workers draw at niceness CHART_NICENESS (chart-worker.ts), so on a machine with no core
 * to spare they take what CPU the event loop leaves, and two of them fit a two-core machine (one
 * had kept the page waiting 300-400 ms for its charts, the event loop idle meanwhile).
 * If a worker fails, charts are drawn in line from then on: the page is the same, only where
 * the CPU time goes differs (as with the integrity worker).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { renderSpec, type ChartSpec } from './chart-render.js';
import type { ChartReply, ChartRequest } from './chart-worker.js';

const WORKERS = Math.min(2, availableParallelism());

interface Pending {
  resolve(svg: string): void;
  reject(err: Error): void;
  spec: ChartSpec;
}
interface Drawer {
  worker: Worker;
  waiting: Map<number, Pending>;
}

const drawers: Drawer[] = [];
let failed = false;
let nextId = 1;

/** The SVG of `spec`, drawn on a chart worker (in line once one has failed). */
export function renderChart(spec: ChartSpec): Promise<string> {
  const d = failed ? undefined : pick();
  if (!d) return renderSpec(spec);
  const id = nextId++;
  // Referenced while it draws (a command that renders a page waits for it), not when idle.
  if (d.waiting.size === 0) d.worker.ref();
  return new Promise((resolve, reject) => {
    d.waiting.set(id, { resolve, reject, spec });
    d.worker.postMessage({ id, spec } satisfies ChartRequest);
  });
}

/** An idle worker, else the least busy; all WORKERS are started with the first chart (they warm up meanwhile: chart-worker.ts). */
function pick(): Drawer | undefined {
  if (drawers.length === 0) for (let i = 0; i < WORKERS && !failed; i++) start();
  const idle = drawers.find((d) => d.waiting.size === 0);
  if (idle) return idle;
  if (drawers.length === 0) return undefined;
  return drawers.reduce((a, b) => (b.waiting.size < a.waiting.size ? b : a));
}

function start(): void {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./chart-worker.js', import.meta.url));
  } catch {
    failed = true;
    return;
  }
  const d: Drawer = { worker, waiting: new Map() };
  worker.on('message', (m: ChartReply) => {
    const entry = d.waiting.get(m.id);
    d.waiting.delete(m.id);
    if (d.waiting.size === 0) worker.unref();
    if (!entry) return;
    if (m.svg !== undefined) entry.resolve(m.svg);
    else entry.reject(new Error(`chart worker: ${m.error}`));
  });
  const fail = () => {
    const i = drawers.indexOf(d);
    if (i < 0) return;
    drawers.splice(i, 1);
    failed = true;
    // What the worker still had is drawn here.
    for (const entry of d.waiting.values()) renderSpec(entry.spec).then(entry.resolve, entry.reject);
    d.waiting.clear();
  };
  worker.on('error', fail);
  worker.on('exit', fail);
  // After the listeners: adding a 'message' listener refs the worker's port again.
  worker.unref();
  drawers.push(d);
}
