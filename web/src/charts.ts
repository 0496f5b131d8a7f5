// Time-series charts with uPlot, coloured from the style sheet's variables and resized with their
// box. Loaded on demand (the home page imports this module lazily), so uPlot stays out of the
// dashboard's first load. Each chart has its numbers in a table beside it for screen readers.
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';

export type ChartSeries = {
  label: string;
  values: (number | null)[];
  /** a style sheet variable (`--ok`) or a colour */
  color: string;
  dash?: number[];
  /** draw points only (sparse series) */
  points?: boolean;
};

export type ChartSpec = {
  /** accessible name of the chart */
  label: string;
  /** unix seconds (days) */
  x: number[];
  series: ChartSeries[];
  /** y-axis and legend values */
  format: (v: number) => string;
  /** y range: fixed minimum and maximum (e.g. 0..100 for a percentage) */
  range?: [number, number];
  height?: number;
};

function cssColor(c: string, el: Element): string {
  if (!c.startsWith('--')) return c;
  return getComputedStyle(el).getPropertyValue(c).trim() || '#888';
}

/** Draws `spec` into `container` (which must be in the document); `destroy()` frees it. */
export function lineChart(container: HTMLElement, spec: ChartSpec): { destroy(): void } {
  const fg = cssColor('--muted', container);
  const grid = cssColor('--rule', container);
  const width = () => Math.max(240, Math.floor(container.clientWidth || 320));
  const height = spec.height ?? 200;
  const dateFmt = (ts: number) => new Date(ts * 1000).toISOString().slice(5, 10);
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const opts: uPlot.Options = {
    width: width(),
    height,
    title: undefined,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, y: spec.range ? { range: spec.range } : { range: (_u, min, max) => [0, Math.max(max ?? 1, 1) * 1.1] as uPlot.Range.MinMax } },
    axes: [
      { ...axis, values: (_u, splits) => splits.map(dateFmt) },
      { ...axis, size: 64, values: (_u, splits) => splits.map((v) => spec.format(v)) },
    ],
    series: [
      { label: 'Day', value: (_u, v) => (v === null || v === undefined ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...spec.series.map((s) => {
        const color = cssColor(s.color, container);
        return {
          label: s.label,
          stroke: color,
          width: 2,
          dash: s.dash,
          spanGaps: true,
          points: { show: true, size: s.points ? 6 : 4, fill: color },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : spec.format(v)),
        } satisfies uPlot.Series;
      }),
    ],
  };
  const data: uPlot.AlignedData = [spec.x, ...spec.series.map((s) => s.values)];
  const box = document.createElement('div');
  box.className = 'chart-canvas';
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', spec.label);
  container.append(box);
  const plot = new uPlot(opts, data, box);
  const ro = new ResizeObserver(() => {
    const w = width();
    if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height });
  });
  ro.observe(container);
  return {
    destroy() {
      ro.disconnect();
      plot.destroy();
      box.remove();
    },
  };
}
