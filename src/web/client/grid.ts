/// <reference lib="dom" />
/**
 * The campaign grid: runs × workflows (dependency order), windowed rows (only the visible ~60 rows are in the
 * DOM). Keyboard: one cell is in the tab order; arrow keys, Page Up/Down, Home/End move it and the window of
 * rendered rows follows; Enter opens the run. A cell's hover (or focus) shows its status, attempt, tries, the
 * time of its last change and the first line of its reason.
 */
import { byWorkflow } from './actions.js';
import { confirmAction } from './confirm.js';
import { api, fmtTime, h, link, zoneLabel } from './dom.js';
import { loopLine } from './loop.js';
import type { CampaignHealth, DisplayStatus, Grid, PairInfo } from './types.js';

export const ROW_H = 20;
const FILTERS = ['era', 'min', 'max', 'rtype', 'status', 'workflow'] as const;
/** Never colour alone: a letter per status in each cell (blocked is also hatched). */
export const LETTER: Record<DisplayStatus, string> = {
  new: 'N',
  processing: 'P',
  done: 'D',
  failed: 'F',
  reprocess: 'R',
  blocked: 'B',
};
const STATUSES: DisplayStatus[] = ['new', 'processing', 'done', 'failed', 'reprocess', 'blocked'];

export const gridHref = (campaign: string, params: Record<string, string> = {}): string => {
  const q = new URLSearchParams(params);
  return `/campaign/${encodeURIComponent(campaign)}${q.size ? `?${q.toString()}` : ''}`;
};

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
  const scroll = h(
    'div',
    { class: 'grid-scroll', id: 'grid', role: 'region', 'aria-label': 'runs × workflows' },
    spacer,
    rows,
  );
  const info = h('p', { class: 'muted', id: 'grid-info' });
  const loopSlot = h('div', {});
  const tip = h('div', { class: 'tip', id: 'cell-tip', role: 'tooltip', hidden: '' });
  const c = encodeURIComponent(campaign);
  root.append(
    h('h1', {}, 'Campaign ', h('span', { class: 'name' }, campaign)),
    h(
      'p',
      {},
      link(`/failures/${c}`, 'failures'),
      ' · ',
      link(`/jobs/${c}`, 'jobs'),
      ' · ',
      link(`/charts/${c}`, 'charts'),
    ),
    loopSlot,
    form,
    legend,
    info,
    head,
    scroll,
    tip,
  );
  let g: Grid | undefined;
  let window0 = -1;
  /** The cell in the tab order (row index, workflow index). */
  const focus = { row: 0, col: 0 };
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
    const hadFocus = rows.contains(document.activeElement);
    rows.replaceChildren(...renderRows(g, first, Math.min(g.total, first + n), selected, focus));
    if (hadFocus) focusedCell()?.focus({ preventScroll: true });
  };
  const focusedCell = (): HTMLElement | null =>
    rows.querySelector<HTMLElement>(`.grid-row[data-i="${focus.row}"] a.cell[data-k="${focus.col}"]`);
  const moveTo = (row: number, col: number): void => {
    if (!g || g.total === 0) return;
    focus.row = Math.max(0, Math.min(g.total - 1, row));
    focus.col = Math.max(0, Math.min(g.workflows.length - 1, col));
    // the window follows the focus: bring its row into view, then draw the rows around it
    const top = focus.row * ROW_H;
    if (top < scroll.scrollTop) scroll.scrollTop = top;
    else if (top + ROW_H > scroll.scrollTop + scroll.clientHeight)
      scroll.scrollTop = top + ROW_H - scroll.clientHeight;
    draw(true);
    focusedCell()?.focus({ preventScroll: true });
  };
  rows.addEventListener('keydown', (e) => {
    const page = Math.max(1, Math.floor(scroll.clientHeight / ROW_H) - 1);
    const moves: Record<string, [number, number]> = {
      ArrowDown: [1, 0],
      ArrowUp: [-1, 0],
      ArrowRight: [0, 1],
      ArrowLeft: [0, -1],
      PageDown: [page, 0],
      PageUp: [-page, 0],
    };
    const m = moves[e.key];
    if (m) moveTo(focus.row + m[0], focus.col + m[1]);
    else if (e.key === 'Home') moveTo(e.ctrlKey ? 0 : focus.row, 0);
    else if (e.key === 'End')
      moveTo(e.ctrlKey ? (g?.total ?? 1) - 1 : focus.row, (g?.workflows.length ?? 1) - 1);
    else return;
    e.preventDefault();
  });
  // a click or tab on a cell makes it the focused one
  rows.addEventListener('focusin', (e) => {
    const cell = (e.target as Element | null)?.closest('a.cell');
    const i = cell?.parentElement?.getAttribute('data-i');
    if (!cell || i == null) return;
    const prev = focusedCell();
    focus.row = Number(i);
    focus.col = Number(cell.getAttribute('data-k'));
    if (prev && prev !== cell) prev.tabIndex = -1;
    (cell as HTMLElement).tabIndex = 0;
    showTip(cell as HTMLElement);
  });
  rows.addEventListener('focusout', () => hideTip());
  let hoverTimer: number | undefined;
  let tipFor = '';
  const showTip = (cell: HTMLElement): void => {
    const run = cell.parentElement?.getAttribute('data-run') ?? '';
    const wf = cell.getAttribute('data-wf') ?? '';
    const key = `${wf} ${run}`;
    window.clearTimeout(hoverTimer);
    hoverTimer = window.setTimeout(() => {
      tipFor = key;
      void api<PairInfo>('pair', { campaign, run, workflow: wf })
        .then((p) => {
          if (tipFor !== key || !cell.isConnected) return;
          tip.replaceChildren(...tipLines(p));
          const r = cell.getBoundingClientRect();
          tip.style.left = `${Math.round(r.left + window.scrollX)}px`;
          tip.style.top = `${Math.round(r.bottom + window.scrollY + 4)}px`;
          tip.hidden = false;
          cell.setAttribute('aria-describedby', 'cell-tip');
        })
        .catch(() => undefined);
    }, 120);
  };
  const hideTip = (): void => {
    window.clearTimeout(hoverTimer);
    tipFor = '';
    tip.hidden = true;
  };
  rows.addEventListener('mouseover', (e) => {
    const cell = (e.target as Element | null)?.closest('a.cell');
    if (cell) showTip(cell as HTMLElement);
  });
  rows.addEventListener('mouseleave', hideTip);
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
      ...g.workflows.map((w) => headCell(g as Grid, w)),
    );
    spacer.style.height = `${g.total * ROW_H}px`;
    focus.row = Math.min(focus.row, Math.max(0, g.total - 1));
    focus.col = Math.min(focus.col, Math.max(0, g.workflows.length - 1));
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
    focus.row = 0;
    void load().catch((err: unknown) => (info.textContent = String(err)));
  });
  await load();
  return load;
}

function tipLines(p: PairInfo): HTMLElement[] {
  return [
    h('strong', {}, `${p.run} · ${p.workflow}: ${p.status ?? 'no status'}`),
    h('div', {}, `attempt ${p.attempt} · tries ${p.tries}`),
    h('div', {}, p.time > 0 ? `last change ${fmtTime(p.time)} ${zoneLabel()}` : 'no change recorded'),
    p.reason ? h('div', { class: 'tip-reason' }, p.reason) : h('div', { class: 'muted' }, 'no reason'),
  ];
}

/** A column header: the name, then done/total and the failed and blocked counts. */
function headCell(g: Grid, w: string): HTMLElement {
  const n = g.counts[w];
  const total = STATUSES.reduce((s, x) => s + (n?.[x] ?? 0), 0);
  const full = STATUSES.map((s) => `${s} ${n?.[s] ?? 0}`).join(', ');
  const extra = (['failed', 'blocked'] as const)
    .filter((s) => (n?.[s] ?? 0) > 0)
    .map((s) => ` ${n?.[s]}${LETTER[s]}`);
  return h(
    'span',
    { class: 'cell-h', title: `${w}: ${full}`, 'data-wf': w },
    h('span', { class: 'cell-h-name' }, w),
    h('span', { class: 'cell-h-counts' }, `${n?.done ?? 0}/${total}${extra.join('')}`),
  );
}

function renderRows(
  g: Grid,
  from: number,
  to: number,
  selected: ReadonlySet<string>,
  focus: { row: number; col: number },
): HTMLElement[] {
  const out: HTMLElement[] = [];
  const nw = g.workflows.length;
  const c = encodeURIComponent(g.campaign);
  const stale = new Set(g.stale ?? []);
  for (let i = from; i < to; i++) {
    const run = g.runs[i] ?? 0;
    const row = h('div', { class: 'grid-row', 'data-run': String(run), 'data-i': String(i) });
    row.style.top = `${i * ROW_H}px`;
    const runLink = link(`/run/${c}/${run}`, String(run));
    runLink.className = 'c-run';
    runLink.tabIndex = -1;
    row.append(runLink, h('span', { class: 'c-era' }, g.eras[g.era[i] ?? 0] ?? ''));
    for (let k = 0; k < nw; k++) {
      const ch = g.cells[i * nw + k] ?? '-';
      const st: DisplayStatus | undefined = ch === '-' ? undefined : g.statuses[Number(ch)];
      const wf = g.workflows[k] ?? '';
      // the hot path of scrolling: plain DOM calls (workflow names are checked names, statuses fixed words)
      const a = document.createElement('a');
      a.href = `/run/${c}/${run}#${encodeURIComponent(wf)}`;
      a.setAttribute('data-nav', '');
      const old = stale.has(i * nw + k);
      a.className = `cell st-${st ?? 'none'}${old ? ' stale' : ''}${selected.has(`${wf} ${run}`) ? ' selected' : ''}`;
      a.setAttribute('data-wf', wf);
      a.setAttribute('data-k', String(k));
      a.setAttribute(
        'aria-label',
        `run ${run} ${wf}: ${st ?? 'no status'}${old ? ', stale: its inputs changed' : ''}`,
      );
      a.tabIndex = i === focus.row && k === focus.col ? 0 : -1;
      // a stale result: its letter and a mark (and a hatch), not a colour alone
      if (st) a.textContent = old ? `${LETTER[st]}!` : LETTER[st];
      row.append(a);
    }
    out.push(row);
  }
  return out;
}

/** Shift-click cells, then reprocess or reset them (one request per workflow), after a confirmation. */
function selectionBar(campaign: string, selected: Set<string>, redraw: () => void): HTMLElement {
  const out = h('span', { class: 'muted', id: 'selection-result' }, 'shift-click cells to select them');
  const run = async (action: string): Promise<void> => {
    const by = byWorkflow(selected);
    if (by.size === 0) {
      out.textContent = 'nothing selected';
      return;
    }
    const results = await confirmAction(
      action,
      campaign,
      [...by].map(([workflow, runs]) => ({ workflow, runs })),
      {
        mode: 'all',
      },
    );
    if (results === undefined) return;
    selected.clear();
    redraw();
    out.textContent = results.join('; ');
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
  const cur = new URLSearchParams(location.search);
  el.replaceChildren(
    ...g.statuses.map((s) => {
      const q = Object.fromEntries([...cur].filter(([k]) => k !== 'status'));
      return link(
        gridHref(g.campaign, { ...q, status: s }),
        h('span', { class: `swatch st-${s}`, 'aria-hidden': 'true' }, LETTER[s]),
        `${s} ${tot[s] ?? 0}`,
      );
    }),
    h(
      'span',
      { class: 'legend-item' },
      h('span', { class: 'swatch st-none', 'aria-hidden': 'true' }),
      'no status',
    ),
    h(
      'span',
      { class: 'legend-item', 'data-status': 'stale' },
      h('span', { class: 'swatch st-done stale', 'aria-hidden': 'true' }, '!'),
      `stale ${g.stale?.length ?? 0}`,
    ),
  );
  el.querySelectorAll('a').forEach((a, i) => {
    a.classList.add('legend-item');
    a.setAttribute('data-status', g.statuses[i] ?? '');
  });
}

function filterForm(q: URLSearchParams, rtypes: string[]): HTMLFormElement {
  const labelled = (label: string, el: HTMLElement): HTMLLabelElement =>
    h('label', {}, h('span', { class: 'sr-only' }, label), el);
  const input = (name: string, ph: string): HTMLLabelElement =>
    labelled(ph, h('input', { name, placeholder: ph, value: q.get(name) ?? '', size: '10' }));
  const select = (name: string, opts: string[]): HTMLLabelElement => {
    const s = h(
      'select',
      { name },
      h('option', { value: '' }, `any ${name}`),
      ...opts.map((o) => h('option', { value: o }, o)),
    );
    s.value = q.get(name) ?? '';
    return labelled(name, s);
  };
  return h(
    'form',
    { class: 'filters', id: 'filters' },
    input('era', 'era'),
    input('min', 'first run'),
    input('max', 'last run'),
    select('rtype', rtypes),
    select('status', STATUSES),
    input('workflow', 'workflows a,b'),
    h('button', { type: 'submit' }, 'filter'),
  );
}
