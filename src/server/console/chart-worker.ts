/** The chart worker: specs in, SVG out (chart-pool.ts). */
import { parentPort } from 'node:worker_threads';
import { renderSpec, type ChartSpec } from './chart-render.js';

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
