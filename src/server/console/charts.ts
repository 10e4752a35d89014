/**
 * Charts as SVG rendered on the server by Apache ECharts (`ssr: true, renderer: 'svg'`), put
 * inline in the page: no client JavaScript, prints as vectors. The console's CSP allows no inline
 * style, so the SVG is made style-free: ECharts' hover rules (a `<style>` block, meaningless
 * without script) are dropped and its `style="font..."` attributes become SVG presentation
 * attributes.
 */
type ECharts = typeof import('echarts');
let echartsModule: Promise<ECharts> | undefined;
/** Loaded on the first chart, so a server whose console is never opened does not pay for it. */
const loadEcharts = () => (echartsModule ??= import('echarts'));

export interface Chart {
  title: string;
  svg: string;
  /** Text for screen readers and print captions: what is drawn. */
  description: string;
}

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
const BASE = { animation: false, textStyle: { fontFamily: 'sans-serif' }, grid: { left: 56, right: 24, top: 40, bottom: 48 } };

async function render(option: Record<string, unknown>, width = WIDTH, height = HEIGHT): Promise<string> {
  const echarts = await loadEcharts();
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ ...BASE, ...option });
    return styleFreeSvg(chart.renderToSVGString());
  } finally {
    chart.dispose();
  }
}

/** Concurrent values over time as steps (seats used, desired, the seat count). */
export async function stepChart(title: string, series: StepSeries[], range: { from: number; to: number }, tz: string): Promise<Chart> {
  const svg = await render({
    legend: { top: 8 },
    xAxis: { type: 'time', min: range.from, max: range.to, axisLabel: { hideOverlap: true, formatter: (v: number) => axisTime(v, tz) } },
    yAxis: { type: 'value', minInterval: 1, name: 'seats' },
    series: series.map((s) => ({
      name: s.name,
      type: 'line',
      step: 'end',
      symbol: 'none',
      lineStyle: s.dashed ? { type: 'dashed', width: 1.5 } : { width: 1.5 },
      markPoint: s.peak ? { symbolSize: 36, data: [{ type: 'max', name: 'peak' }] } : undefined,
      data: s.points,
    })),
  });
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
  const svg = await render({
    legend: { top: 8 },
    xAxis: { type: 'category', data: categories, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'value', name: opts.unit ?? '', minInterval: opts.counts ? 1 : undefined },
    series: series.map((s) => ({ name: s.name, type: 'bar', stack: opts.stack ? 'all' : undefined, data: s.values })),
  });
  const desc = series.map((s) => `${s.name}: total ${Math.round(s.values.reduce((a, b) => a + b, 0) * 100) / 100}`).join('; ');
  return { title, svg, description: desc };
}

/** One formatter a zone: ECharts asks for a label per candidate tick, and making a DateTimeFormat costs far more than formatting. */
const axisFormats = new Map<string, Intl.DateTimeFormat>();

function axisTime(v: number, tz: string): string {
  let f = axisFormats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: tz, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    axisFormats.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(v).map((x) => [x.type, x.value]));
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
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

/** SVG without `<style>` elements and `style` attributes (the page's CSP refuses both). */
export function styleFreeSvg(svg: string): string {
  return svg.replace(/<style[^>]*>[\s\S]*?<\/style>/g, '').replace(/ style="([^"]*)"/g, (_, decl: string) => {
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
