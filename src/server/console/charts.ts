/**
 * Charts as SVG rendered on the server, put inline in the page: no client JavaScript, prints as
 * vectors. The SVG is drawn on a worker thread (chart-pool.ts), so a page's charts, about 20 ms
 * each, neither hold up the lease requests the server answers meanwhile nor wait for the page's
 * tables: a page hands its charts over first and builds its tables while they are drawn.
 */
import { renderChart } from './chart-pool.js';
import { PLOT_COLUMNS, stepPoints, type StepSeries } from './chart-render.js';

export { stepPoints, styleFreeSvg, type StepSeries } from './chart-render.js';

let charts = 0;
/** A prefix for one chart's SVG ids, unique in this process (so on any page). */
const chartIds = () => `chart${(++charts).toString(36)}`;

export interface Chart {
  title: string;
  svg: string;
  /** Text for screen readers and print captions: what is drawn. */
  description: string;
}

/** Concurrent values over time as steps (seats used, desired, the seat count), each series reduced to the plot's pixel columns (stepPoints). */
export async function stepChart(title: string, series: StepSeries[], range: { from: number; to: number }, tz: string): Promise<Chart> {
  // Reduced here: a few thousand points cross to the worker, not every step of 90 days.
  const reduced = series.map((s) => ({ ...s, points: stepPoints(s.points, range.from, range.to, PLOT_COLUMNS) }));
  const svg = await renderChart({ kind: 'step', series: reduced, range, tz, ids: chartIds() });
  const desc = series.map((s) => `${s.name}: peak ${Math.max(0, ...s.points.map((p) => p[1]))}`).join('; ');
  return { title, svg, description: desc };
}

/** Bars per category, one series each (stacked when `stack`). */
export async function barChart(
  title: string,
  categories: string[],
  series: Array<{ name: string; values: number[] }>,
  opts: { stack?: boolean; unit?: string; counts?: boolean } = {},
): Promise<Chart> {
  const svg = await renderChart({ kind: 'bar', categories, series, opts, ids: chartIds() });
  const desc = series.map((s) => `${s.name}: total ${Math.round(s.values.reduce((a, b) => a + b, 0) * 100) / 100}`).join('; ');
  return { title, svg, description: desc };
}
