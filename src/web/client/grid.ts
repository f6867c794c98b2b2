/// <reference lib="dom" />
/** The campaign grid: runs × workflows, windowed rows (only the visible ~60 rows are in the DOM). */
import { byWorkflow, postAction } from './actions.js';
import { api, h, link } from './dom.js';
import { loopLine } from './loop.js';
import type { CampaignHealth, Grid, RunStatus } from './types.js';

export const ROW_H = 20;
const FILTERS = ['era', 'min', 'max', 'rtype', 'status', 'workflow'] as const;

export async function gridPage(
  root: HTMLElement,
  campaign: string,
  rtypes: string[],
): Promise<() => Promise<void>> {
  const q = new URLSearchParams(location.search);
  const form = filterForm(q, rtypes);
  const legend = h('div', { class: 'legend', id: 'legend' });
  const head = h('div', { class: 'grid-head' });
  const spacer = h('div', { class: 'grid-spacer' });
  const rows = h('div', { class: 'grid-rows' });
  const scroll = h('div', { class: 'grid-scroll', id: 'grid' }, spacer, rows);
  const info = h('p', { class: 'muted', id: 'grid-info' });
  const loopSlot = h('div', {});
  root.append(
    h('h1', {}, 'Campaign ', h('span', { class: 'name' }, campaign)),
    h(
      'p',
      {},
      link(`/jobs/${encodeURIComponent(campaign)}`, 'jobs'),
      ' · ',
      link(`/charts/${encodeURIComponent(campaign)}`, 'charts'),
    ),
    loopSlot,
    form,
    legend,
    info,
    head,
    scroll,
  );
  let g: Grid | undefined;
  let window0 = -1;
  const selected = new Set<string>();
  const { actions } = await api<{ actions: boolean }>('config');
  if (actions) scroll.before(selectionBar(campaign, selected, () => draw(true)));
  // shift-click selects cells for an action instead of opening the run
  rows.addEventListener('click', (e) => {
    const cell = (e.target as Element | null)?.closest('a.cell');
    const run = cell?.parentElement?.getAttribute('data-run');
    if (!actions || !e.shiftKey || !cell || !run) return;
    e.preventDefault();
    e.stopPropagation();
    const k = `${cell.getAttribute('data-wf') ?? ''} ${run}`;
    if (!selected.delete(k)) selected.add(k);
    draw(true);
  });
  const draw = (force = false): void => {
    if (!g) return;
    const first = Math.max(0, Math.floor(scroll.scrollTop / ROW_H) - 10);
    if (!force && first === window0) return;
    window0 = first;
    const n = Math.ceil(scroll.clientHeight / ROW_H) + 20;
    rows.replaceChildren(...renderRows(g, first, Math.min(g.total, first + n), selected));
  };
  scroll.addEventListener('scroll', () => requestAnimationFrame(() => draw()), { passive: true });
  const load = async (): Promise<void> => {
    const params: Record<string, string> = { campaign };
    const cur = new URLSearchParams(location.search);
    for (const k of FILTERS) {
      const v = cur.get(k);
      if (v) params[k] = v;
    }
    const got = await api<Grid & { loop?: CampaignHealth }>('grid', params);
    g = got;
    renderLegend(legend, g);
    const line = loopLine(got.loop);
    if (line) line.id = 'loop';
    loopSlot.replaceChildren(...(line ? [line] : []));
    info.textContent = `${g.total} run(s) × ${g.workflows.length} workflow(s)`;
    head.replaceChildren(
      h('span', { class: 'c-run' }, 'run'),
      h('span', { class: 'c-era' }, 'era'),
      ...g.workflows.map((w) => h('span', { class: 'cell-h', title: w }, w)),
    );
    spacer.style.height = `${g.total * ROW_H}px`;
    draw(true);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const k of FILTERS) {
      const el = form.elements.namedItem(k) as HTMLInputElement | HTMLSelectElement | null;
      if (el && el.value) next.set(k, el.value);
    }
    history.replaceState(null, '', `${location.pathname}${next.size ? `?${next.toString()}` : ''}`);
    scroll.scrollTop = 0;
    void load().catch((err: unknown) => (info.textContent = String(err)));
  });
  await load();
  return load;
}

function renderRows(g: Grid, from: number, to: number, selected: ReadonlySet<string>): HTMLElement[] {
  const out: HTMLElement[] = [];
  const nw = g.workflows.length;
  const c = encodeURIComponent(g.campaign);
  for (let i = from; i < to; i++) {
    const run = g.runs[i] ?? 0;
    const row = h('div', { class: 'grid-row', 'data-run': String(run) });
    row.style.top = `${i * ROW_H}px`;
    row.append(
      link(`/run/${c}/${run}`, String(run)),
      h('span', { class: 'c-era' }, g.eras[g.era[i] ?? 0] ?? ''),
    );
    row.firstElementChild?.setAttribute('class', 'c-run');
    for (let k = 0; k < nw; k++) {
      const ch = g.cells[i * nw + k] ?? '-';
      const st: RunStatus | undefined = ch === '-' ? undefined : g.statuses[Number(ch)];
      const wf = g.workflows[k] ?? '';
      const a = link(`/run/${c}/${run}#${encodeURIComponent(wf)}`);
      a.className = `cell st-${st ?? 'none'}${selected.has(`${wf} ${run}`) ? ' selected' : ''}`;
      a.setAttribute('data-wf', wf);
      a.setAttribute('title', `${run} · ${wf}: ${st ?? 'no status'}`);
      row.append(a);
    }
    out.push(row);
  }
  return out;
}

/** Shift-click cells, then reprocess or reset them (one request per workflow). */
function selectionBar(campaign: string, selected: Set<string>, redraw: () => void): HTMLElement {
  const out = h('span', { class: 'muted', id: 'selection-result' }, 'shift-click cells to select them');
  const run = async (action: string): Promise<void> => {
    const results: string[] = [];
    for (const [workflow, runs] of byWorkflow(selected))
      results.push(await postAction(action, { campaign, workflow, runs, mode: 'all' }));
    selected.clear();
    redraw();
    out.textContent = results.join('; ') || 'nothing selected';
  };
  const btn = (label: string): HTMLButtonElement => {
    const b = h('button', { type: 'button', 'data-action': label }, `${label} selected`);
    b.addEventListener('click', () => void run(label));
    return b;
  };
  return h('p', { class: 'actions', id: 'selection' }, btn('reprocess'), btn('reset'), ' ', out);
}

function renderLegend(el: HTMLElement, g: Grid): void {
  const tot: Record<string, number> = {};
  for (const w of g.workflows) for (const s of g.statuses) tot[s] = (tot[s] ?? 0) + (g.counts[w]?.[s] ?? 0);
  el.replaceChildren(
    ...g.statuses.map((s) =>
      h(
        'span',
        { class: 'legend-item', 'data-status': s },
        h('span', { class: `swatch st-${s}` }),
        `${s} ${tot[s] ?? 0}`,
      ),
    ),
    h('span', { class: 'legend-item' }, h('span', { class: 'swatch st-none' }), 'no status'),
  );
}

function filterForm(q: URLSearchParams, rtypes: string[]): HTMLFormElement {
  const input = (name: string, ph: string): HTMLInputElement =>
    h('input', { name, placeholder: ph, value: q.get(name) ?? '', size: '10' });
  const select = (name: string, opts: string[]): HTMLSelectElement => {
    const s = h(
      'select',
      { name },
      h('option', { value: '' }, `any ${name}`),
      ...opts.map((o) => h('option', { value: o }, o)),
    );
    s.value = q.get(name) ?? '';
    return s;
  };
  return h(
    'form',
    { class: 'filters', id: 'filters' },
    input('era', 'era'),
    input('min', 'first run'),
    input('max', 'last run'),
    select('rtype', rtypes),
    select('status', ['new', 'processing', 'done', 'failed', 'reprocess']),
    input('workflow', 'workflows a,b'),
    h('button', { type: 'submit' }, 'filter'),
  );
}
