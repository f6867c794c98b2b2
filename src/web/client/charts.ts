/// <reference lib="dom" />
/**
 * The charts page (uPlot): done per workflow against time, job durations per workflow in buckets. Workflows
 * have a palette of their own (none of the status colours); duration bars are filled and every bucket,
 * the first included, is drawn whole; the y axis is as wide as its longest label.
 */
import uPlot from 'uplot';
import { api, fmtDuration, h, link, zone, zoneLabel } from './dom.js';
import { axisSize, barSlot, bucketRange, WORKFLOW_COLORS } from './palette.js';
import type { Charts } from './types.js';

/** Bar k of n side by side in each bucket (x = bucket index), 80 % of the bucket for the n together. */
function groupedBars(k: number, n: number): uPlot.Series.PathBuilder | undefined {
  const { offset, width } = barSlot(k, n);
  const unit = 1 as uPlot.Series.BarsPathBuilderFacetUnit; // in x values
  return uPlot.paths.bars?.({
    disp: {
      x0: { unit, values: (u) => (u.data[0] as number[]).map((x) => x + offset) },
      size: { unit, values: () => [width] },
    },
  });
}

const fmtCount = (v: number): string => v.toLocaleString('en-US');

export async function chartsPage(root: HTMLElement, campaign: string): Promise<() => Promise<void>> {
  const p = h('div', { id: 'progress-chart' });
  const d = h('div', { id: 'durations-chart' });
  root.append(
    h('h1', {}, link(`/campaign/${encodeURIComponent(campaign)}`, campaign), ' · charts'),
    h('h2', {}, `done per workflow (time in ${zoneLabel()})`),
    p,
    h('h2', {}, 'job durations'),
    d,
  );
  const plots: uPlot[] = [];
  const load = async (): Promise<void> => {
    const c = await api<Charts>('charts', { campaign });
    plots.splice(0).forEach((x) => x.destroy());
    const wfs = Object.keys(c.progress.series);
    const width = Math.min(1000, root.clientWidth || 900);
    const yAxis: uPlot.Axis = {
      values: (_u, ticks) => ticks.map(fmtCount),
      size: (_u, values) => axisSize(values ?? []),
    };
    const series = (names: string[], bars: boolean): uPlot.Series[] => [
      {},
      ...names.map((w, i) => {
        const color = WORKFLOW_COLORS[i % WORKFLOW_COLORS.length] ?? '#000';
        return {
          label: w,
          stroke: color,
          width: bars ? 1 : 2,
          ...(i >= WORKFLOW_COLORS.length ? { dash: [6, 3] } : {}),
          ...(bars ? { fill: color, paths: groupedBars(i, names.length) } : {}),
        };
      }),
    ];
    plots.push(
      new uPlot(
        {
          width,
          height: 260,
          tzDate: (ts) =>
            zone() === 'utc' ? uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC') : new Date(ts * 1000),
          axes: [{}, yAxis],
          series: series(wfs, false),
        },
        [c.progress.times, ...wfs.map((w) => c.progress.series[w] ?? [])],
        p,
      ),
    );
    const dw = Object.keys(c.durations.series);
    const labels = c.durations.bucketsSec.map((b) => (b < 0 ? '> 12 h' : `≤ ${fmtDuration(b)}`));
    plots.push(
      new uPlot(
        {
          width,
          height: 260,
          // half a bucket of room on either side: the first and last bars are drawn whole
          scales: { x: { time: false, range: () => bucketRange(labels.length) } },
          axes: [
            { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? (labels[t] ?? '') : '')) },
            yAxis,
          ],
          series: series(dw, true),
        },
        [labels.map((_, i) => i), ...dw.map((w) => c.durations.series[w] ?? [])],
        d,
      ),
    );
  };
  await load();
  return load;
}
