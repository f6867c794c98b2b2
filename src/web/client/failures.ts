/// <reference lib="dom" />
/**
 * The failures view of a campaign (/failures/C): current failures grouped by cause, each group with its
 * count, first and last time, its runs (links), a link to the grid filtered on them; attempts superseded by
 * a later one folded under it.
 */
import { api, clip, fmtTime, h, link, table, timeHead, zoneLabel } from './dom.js';
import { gridHref } from './grid.js';
import type { Failures } from './types.js';

type Group = Failures['groups'][number];
const enc = encodeURIComponent;

export async function failuresPage(root: HTMLElement, campaign: string): Promise<() => Promise<void>> {
  const summary = h('p', { id: 'failures-summary' });
  const body = h('div', { id: 'failures' });
  root.append(h('h1', {}, link(`/campaign/${enc(campaign)}`, campaign), ' · failures'), summary, body);
  const load = async (): Promise<void> => {
    const r = await api<Failures>('failures', { campaign });
    summary.textContent = `${r.failedNow} pairs failed now · ${r.failedJobs24h} job failures in 24 h · ${r.units} unit(s) failing, in ${r.groups.length} group(s) by cause (times in ${zoneLabel()})`;
    body.replaceChildren(
      ...(r.groups.length ? r.groups.map((g, i) => groupCard(campaign, g, i)) : [h('p', {}, 'No failure.')]),
    );
  };
  await load();
  return load;
}

function groupCard(campaign: string, g: Group, i: number): HTMLElement {
  const runs = g.runs.slice(0, 60);
  const lo = g.runs[0];
  const hi = g.runs[g.runs.length - 1];
  const filter: Record<string, string> = { status: 'failed', workflow: g.workflows.join(',') };
  if (lo !== undefined && hi !== undefined) Object.assign(filter, { min: String(lo), max: String(hi) });
  return h(
    'section',
    { class: 'card failure-group', 'data-group': String(i) },
    h('h2', {}, h('code', {}, g.cause)),
    h(
      'p',
      { class: 'counts' },
      h('strong', {}, String(g.count)),
      ` unit(s) failing · ${g.jobs} failed job(s) · first ${fmtTime(g.first)} · last ${fmtTime(g.last)} · ${g.workflows.join(', ')} · `,
      link(gridHref(campaign, filter), 'grid of these'),
    ),
    h(
      'p',
      { class: 'muted' },
      'as said: ',
      clip(g.sample.reason, 300),
      g.sample.stderrLine ? ' · stderr: ' : '',
      g.sample.stderrLine ? clip(g.sample.stderrLine, 300) : null,
    ),
    h(
      'p',
      { class: 'runs' },
      'runs: ',
      ...runs.flatMap((r, k) => [k > 0 ? ' ' : '', link(`/run/${enc(campaign)}/${r}`, String(r))]),
      g.runs.length > runs.length ? ` … (${g.runs.length - runs.length} more)` : '',
    ),
    table(
      ['job', 'attempt', timeHead(), 'runs', 'earlier failed attempts'],
      g.entries.map((e) => [
        link(`/run/${enc(campaign)}/${e.runs[0] ?? 0}#${enc(e.workflow)}`, e.name),
        e.attempt,
        fmtTime(e.time),
        clip(e.runs.join(','), 40),
        e.superseded.length === 0
          ? ''
          : h(
              'details',
              {},
              h('summary', {}, `${e.superseded.length} superseded`),
              h(
                'ul',
                {},
                ...e.superseded.map((s) =>
                  h('li', {}, `attempt ${s.attempt} · ${fmtTime(s.time)} · `, clip(s.reason, 200)),
                ),
              ),
            ),
      ]),
      { class: 'failures' },
    ),
  );
}
