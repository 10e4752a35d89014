/**
 * A chart's SVG from its spec, by Apache ECharts (`ssr: true, renderer: 'svg'`): run on the chart
 * worker (chart-worker.ts), or in line when there is none. The console's CSP allows no inline
 * style, so the SVG is made style-free: ECharts' hover rules (a `<style>` block, meaningless
 * without script) are dropped and its `style="font..."` attributes become SVG presentation
 * attributes.
 */
type ECharts = typeof import('echarts');
let echartsModule: Promise<ECharts> | undefined;
/** Loaded on the first chart, so a server whose console is never opened does not pay for it. */
const loadEcharts = () => (echartsModule ??= import('echarts'));

export interface StepSeries {
  name: string;
  /** [time ms, value] points; the value holds until the next point. */
  points: Array<[number, number]>;
  /** Dashed reference line (a seat count). */
  dashed?: boolean;
  /** Mark the highest value (a peak) with a pin. */
  peak?: boolean;
}

const WIDTH = 880;
const HEIGHT = 280;
const GRID = { left: 56, right: 24, top: 40, bottom: 48 };
const BASE = { animation: false, textStyle: { fontFamily: 'sans-serif' }, grid: GRID };
/** Pixel columns of a chart's plot area: a step series needs no more detail than this. */
export const PLOT_COLUMNS = WIDTH - GRID.left - GRID.right;

/** What a chart is to draw, as plain data: it crosses to the chart worker (chart-pool.ts). */
export type ChartSpec = (
  | { kind: 'step'; series: StepSeries[]; range: { from: number; to: number }; tz: string }
  | { kind: 'bar'; categories: string[]; series: Array<{ name: string; values: number[] }>; opts: { stack?: boolean; unit?: string; counts?: boolean } }
) & {
  /**
   * The prefix of the SVG's element ids (clip paths): unique among a page's charts, which share
   * one document. ECharts numbers them per instance in its thread, so two workers would repeat them.
   */
  ids: string;
};

/** The SVG of a spec: ECharts' option built here (its axis formatter is a function, which cannot cross to a worker). */
export async function renderSpec(spec: ChartSpec): Promise<string> {
  const echarts = await loadEcharts();
  const option = spec.kind === 'step' ? stepOption(spec) : barOption(spec);
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height: HEIGHT });
  try {
    chart.setOption({ ...BASE, ...option });
    return styleFreeSvg(chart.renderToSVGString()).replace(/(id="|url\(#)zr\d+-/g, `$1${spec.ids}-`);
  } finally {
    chart.dispose();
  }
}

function stepOption(spec: Extract<ChartSpec, { kind: 'step' }>): Record<string, unknown> {
  const { range, tz } = spec;
  return {
    legend: { top: 8 },
    xAxis: { type: 'time', min: range.from, max: range.to, axisLabel: { hideOverlap: true, formatter: (v: number) => axisTime(v, tz) } },
    yAxis: { type: 'value', minInterval: 1, name: 'seats' },
    series: spec.series.map((s) => ({
      name: s.name,
      type: 'line',
      step: 'end',
      symbol: 'none',
      // No symbol layer at all (symbol 'none' alone still diffs every point for one).
      showSymbol: false,
      lineStyle: s.dashed ? { type: 'dashed', width: 1.5 } : { width: 1.5 },
      markPoint: s.peak ? { symbolSize: 36, data: [{ type: 'max', name: 'peak' }] } : undefined,
      // The points as one typed array (time, value, time, value...): ECharts copies it in one go
      // instead of cloning a small array per point. With showSymbol false, the same SVG 30 % sooner
      // (2,300 points a series: 11.3-14.2 -> 8.1-8.9 ms a chart).
      dimensions: ['time', 'value'],
      encode: { x: 0, y: 1 },
      data: flatPoints(s.points),
    })),
  };
}

function flatPoints(points: ReadonlyArray<[number, number]>): Float64Array {
  const out = new Float64Array(points.length * 2);
  for (let i = 0; i < points.length; i++) {
    out[2 * i] = points[i][0];
    out[2 * i + 1] = points[i][1];
  }
  return out;
}

function barOption(spec: Extract<ChartSpec, { kind: 'bar' }>): Record<string, unknown> {
  return {
    legend: { top: 8 },
    xAxis: { type: 'category', data: spec.categories, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'value', name: spec.opts.unit ?? '', minInterval: spec.opts.counts ? 1 : undefined },
    series: spec.series.map((s) => ({ name: s.name, type: 'bar', stack: spec.opts.stack ? 'all' : undefined, data: s.values })),
  };
}

/**
 * A step series reduced to what `columns` pixel columns over [from, to] can show: of the points
 * in one column, the lowest, the highest and the last (in time order), so every peak and trough is
 * drawn at its height and the value the column ends on holds until the next point, as it did.
 * A column with at most three points keeps them all; the values of the points kept are exact.
 */
export function stepPoints(points: ReadonlyArray<[number, number]>, from: number, to: number, columns: number): Array<[number, number]> {
  if (points.length <= 3 || !(to > from) || columns < 1) return points.slice();
  const width = (to - from) / columns;
  const column = (t: number) => Math.min(columns - 1, Math.max(0, Math.floor((t - from) / width)));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points.length; ) {
    const c = column(points[i][0]);
    let j = i + 1;
    while (j < points.length && column(points[j][0]) === c) j++;
    if (j - i <= 3) for (let k = i; k < j; k++) out.push(points[k]);
    else {
      let lo = i;
      let hi = i;
      for (let k = i + 1; k < j; k++) {
        if (points[k][1] < points[lo][1]) lo = k;
        if (points[k][1] > points[hi][1]) hi = k;
      }
      for (const k of [...new Set([lo, hi, j - 1])].sort((a, b) => a - b)) out.push(points[k]);
    }
    i = j;
  }
  return out;
}

/**
 * One formatter a zone, and its labels remembered: ECharts asks for a label per candidate tick, a
 * page's charts share their axis, and formatting (a DateTimeFormat's parts) costs more than the
 * rest of an axis.
 */
const axisFormats = new Map<string, { format: Intl.DateTimeFormat; labels: Map<number, string> }>();
/** Labels remembered per zone, at most (a long-running server draws many ranges). */
const MAX_LABELS = 10_000;

export function axisTime(v: number, tz: string): string {
  let f = axisFormats.get(tz);
  if (!f) {
    f = {
      format: new Intl.DateTimeFormat('en-CA', { timeZone: tz, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      labels: new Map(),
    };
    axisFormats.set(tz, f);
  }
  let label = f.labels.get(v);
  if (label === undefined) {
    const p = Object.fromEntries(f.format.formatToParts(v).map((x) => [x.type, x.value]));
    label = `${p.month}-${p.day} ${p.hour}:${p.minute}`;
    if (f.labels.size >= MAX_LABELS) f.labels.clear();
    f.labels.set(v, label);
  }
  return label;
}

const PRESENTATION = new Set([
  'font-size',
  'font-family',
  'font-weight',
  'font-style',
  'fill',
  'stroke',
  'opacity',
  'fill-opacity',
  'stroke-opacity',
  'stroke-width',
]);

/**
 * SVG without `<style>` elements and `style` attributes (the page's CSP refuses both), nor the
 * class names that pointed into the style element (numbered per ECharts instance: the same chart
 * drawn twice would differ).
 */
export function styleFreeSvg(svg: string): string {
  return svg
    .replace(/<style[^>]*>[\s\S]*?<\/style>/g, '')
    .replace(/ class="zr\d+-cls-\d+"/g, '')
    .replace(/ style="([^"]*)"/g, (_, decl: string) => {
      const attrs: string[] = [];
      for (const d of decl.split(';')) {
        const i = d.indexOf(':');
        if (i < 0) continue;
        const prop = d.slice(0, i).trim();
        const value = d.slice(i + 1).trim();
        if (prop === 'font') attrs.push(...fontShorthand(value));
        else if (PRESENTATION.has(prop)) attrs.push(`${prop}="${value}"`);
      }
      return attrs.length ? ' ' + attrs.join(' ') : '';
    });
}

/** `font: [style] [variant] [weight] size family` as presentation attributes. */
function fontShorthand(v: string): string[] {
  const m = /^(?:(normal|italic|oblique)\s+)?(?:(?:normal|small-caps)\s+)?(?:(normal|bold|bolder|lighter|\d{3})\s+)?(\d+(?:\.\d+)?(?:px|pt|em|%))\s+(.+)$/.exec(
    v,
  );
  if (!m) return [];
  const out = [`font-size="${m[3]}"`, `font-family="${m[4].replace(/"/g, "'")}"`];
  if (m[1] && m[1] !== 'normal') out.push(`font-style="${m[1]}"`);
  if (m[2] && m[2] !== 'normal') out.push(`font-weight="${m[2]}"`);
  return out;
}
