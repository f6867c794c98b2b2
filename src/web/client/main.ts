/// <reference lib="dom" />
/** The dashboard's client: a small router over the pages, refreshed on server-sent change events. */
import uPlot from 'uplot';
import { api, clip, fmtDuration, fmtTime, h, link, table } from './dom.js';
import { asksText } from '../../domain/resources-text.js';
import { postAction } from './actions.js';
import { gridPage } from './grid.js';
import type { Charts, Job, LogTail, Lock, Overview, RunPage } from './types.js';

const app = document.getElementById('app') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
let refresh: (() => Promise<void>) | undefined;

const enc = encodeURIComponent;

async function overviewPage(root: HTMLElement): Promise<() => Promise<void>> {
  const body = h('div', { id: 'overview' });
  root.append(h('h1', {}, 'Campaigns'), body);
  const load = async (): Promise<void> => {
    const cs = await api<Overview[]>('campaigns');
    body.replaceChildren(
      ...(cs.length ? cs.map(campaignCard) : [h('p', {}, 'No campaign in this database.')]),
    );
  };
  await load();
  return load;
}

function campaignCard(c: Overview): HTMLElement {
  const bars = Object.entries(c.perWorkflow).map(([w, n]) => {
    const bar = h('div', { class: 'bar' });
    for (const [cls, v] of [
      ['done', n.done],
      ['failed', n.failed],
      ['processing', n.processing],
      ['new', n.new + n.reprocess],
    ] as const) {
      const seg = h('span', { class: `st-${cls}`, title: `${cls}: ${v}` });
      seg.style.width = `${n.total ? (100 * v) / n.total : 0}%`;
      bar.append(seg);
    }
    return h(
      'div',
      { class: 'wf' },
      h('span', { class: 'wf-name' }, w),
      bar,
      h(
        'span',
        { class: 'muted' },
        `${n.done} done · ${n.failed} failed · ${n.processing} in flight · ${n.new + n.reprocess} waiting / ${n.total}`,
      ),
    );
  });
  return h(
    'section',
    { class: 'card', 'data-campaign': c.campaign },
    h(
      'h2',
      {},
      link(`/campaign/${enc(c.campaign)}`, c.campaign),
      ' ',
      h('span', { class: `badge ${c.activity}` }, c.activity),
    ),
    h('p', { class: 'desc' }, clip(c.description, 300)),
    ...bars,
    h(
      'p',
      {},
      `${c.runs} runs · failures (24 h): `,
      h('strong', {}, String(c.failed24h)),
      ` · locks: ${c.locks.length}`,
      // docs/malformed-points.md: skipped points, warned of in the server's log
      c.malformed > 0 && h('span', { class: 'muted' }, ` · ${c.malformed} malformed points`),
    ),
    ...c.locks.map((l) =>
      h(
        'p',
        { class: 'lock' },
        `locked: ${l.workflow} from run ${l.fromRun} by ${l.by}: `,
        clip(l.reason, 200),
      ),
    ),
  );
}

async function runView(root: HTMLElement, campaign: string, run: number): Promise<() => Promise<void>> {
  const body = h('div', { id: 'run' });
  root.append(h('h1', {}, link(`/campaign/${enc(campaign)}`, campaign), ` · run ${run}`), body);
  const load = async (): Promise<void> => {
    const r = await api<RunPage>('run', { campaign, run: String(run) });
    const meta = r.info
      ? `era ${r.info.era} · fill ${r.info.fill} · ${r.info.runClass} · run types ${r.info.rtypes.join(', ')}`
      : 'not registered';
    const { actions } = await api<{ actions: boolean }>('config');
    body.replaceChildren(
      h('p', { class: 'muted' }, meta),
      ...r.workflows.map((w) => {
        const card = workflowCard(campaign, w);
        if (actions) card.querySelector('h2')?.after(actionBar(campaign, run, w.workflow));
        return card;
      }),
    );
  };
  await load();
  return load;
}

function workflowCard(campaign: string, w: RunPage['workflows'][number]): HTMLElement {
  const jobs = table(
    [
      'job',
      'attempt',
      'status',
      'backend',
      'native id',
      'exit code',
      'class',
      'asks',
      'reason',
      'duration',
      'logs',
    ],
    w.jobs.map((j, i) => [
      j.name,
      j.attempt,
      j.status,
      j.backend,
      j.nativeId,
      j.exitCode ?? '',
      j.failureClass ?? '',
      asksText(j),
      clip(j.reason),
      j.submittedAt > 0 && j.status !== 'idle' && j.status !== 'running'
        ? fmtDuration((j.time - j.submittedAt) / 1000)
        : '',
      logs(campaign, j, i === 0),
    ]),
    { class: 'jobs' },
  );
  return h(
    'section',
    { class: 'card', id: w.workflow, 'data-workflow': w.workflow },
    h(
      'h2',
      {},
      w.workflow,
      ' ',
      h('span', { class: `badge st-${w.status ?? 'none'}` }, w.status ?? 'no status'),
    ),
    w.status === 'done'
      ? null
      : h('p', { class: `why why-${w.why.kind}` }, h('strong', {}, 'why: '), clip(w.why.text, 500)),
    h('h3', {}, 'history'),
    table(
      ['time', 'status', 'attempt', 'tries', 'reason'],
      w.history.map((s) => [fmtTime(s.time), s.status, s.attempt, s.tries, clip(s.reason)]),
      { class: 'history' },
    ),
    h('h3', {}, 'jobs'),
    jobs,
    h('h3', {}, 'outputs'),
    h('ul', { class: 'outputs' }, ...w.outputs.map((o) => h('li', {}, clip(o, 300)))),
  );
}

/** Reprocess / reset / lock / unlock buttons (only with --allow-actions). */
function actionBar(campaign: string, run: number, workflow: string): HTMLElement {
  const out = h('span', { class: 'muted' });
  const act = async (action: string, extra: Record<string, unknown> = {}): Promise<void> => {
    out.textContent = await postAction(action, { campaign, workflow, runs: [run], ...extra });
  };
  const btn = (label: string, fn: () => void): HTMLButtonElement => {
    const b = h('button', { type: 'button', 'data-action': label }, label);
    b.addEventListener('click', fn);
    return b;
  };
  return h(
    'p',
    { class: 'actions' },
    btn('reprocess', () => void act('reprocess', { mode: 'all' })),
    btn('reset', () => void act('reset')),
    btn('lock', () => {
      const reason = prompt(`lock ${workflow} from run ${run}: why?`);
      if (reason) void act('lock', { fromRun: run, reason });
    }),
    btn('unlock', () => void act('unlock')),
    ' ',
    out,
  );
}

function logs(campaign: string, j: Job, auto: boolean): HTMLElement {
  const box = h('div', { class: 'logs' });
  const show = async (): Promise<void> => {
    const parts = await Promise.all(
      (['stdout', 'stderr'] as const).map(async (stream) => {
        const t = await api<LogTail>('log', { campaign, job: j.name, stream });
        const what = t.refused
          ? `(${t.refused})`
          : t.truncated
            ? `last ${t.text.length} of ${t.size} bytes`
            : '';
        return h(
          'div',
          {},
          h('div', { class: 'muted' }, `${stream} ${what}`),
          h('pre', { class: `tail ${stream}` }, t.text),
        );
      }),
    );
    box.replaceChildren(...parts);
  };
  const btn = h('button', { type: 'button' }, 'tails');
  btn.addEventListener('click', () => void show());
  box.append(btn);
  if (auto) void show();
  return box;
}

async function jobsPage(root: HTMLElement, campaign: string): Promise<() => Promise<void>> {
  const q = new URLSearchParams(location.search);
  const status = h(
    'select',
    { name: 'status' },
    ...['', 'failed', 'running', 'idle', 'done'].map((s) => h('option', { value: s }, s || 'any status')),
  );
  status.value = q.get('status') ?? '';
  const wf = h('input', { name: 'workflow', placeholder: 'workflow', value: q.get('workflow') ?? '' });
  const form = h('form', { class: 'filters' }, status, wf, h('button', { type: 'submit' }, 'filter'));
  const body = h('div', { id: 'jobs' });
  root.append(h('h1', {}, link(`/campaign/${enc(campaign)}`, campaign), ' · jobs'), form, body);
  const load = async (): Promise<void> => {
    const r = await api<{ total: number; jobs: Job[] }>('jobs', {
      campaign,
      status: status.value,
      workflow: wf.value,
    });
    body.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        `${r.total} job(s), failed first${r.total > r.jobs.length ? `, first ${r.jobs.length} shown` : ''}`,
      ),
      table(
        [
          'job',
          'workflow',
          'runs',
          'status',
          'backend',
          'native id',
          'exit',
          'class',
          'asks',
          'reason',
          'time',
        ],
        r.jobs.map((j) => [
          link(`/run/${enc(campaign)}/${j.runs[0] ?? 0}`, j.name),
          j.workflow,
          clip(j.runs.join(','), 40),
          j.status,
          j.backend,
          j.nativeId,
          j.exitCode ?? '',
          j.failureClass ?? '',
          asksText(j),
          clip(j.reason),
          fmtTime(j.time),
        ]),
      ),
    );
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = new URLSearchParams();
    if (status.value) n.set('status', status.value);
    if (wf.value) n.set('workflow', wf.value);
    history.replaceState(null, '', `${location.pathname}${n.size ? `?${n.toString()}` : ''}`);
    void load();
  });
  await load();
  return load;
}

async function locksPage(root: HTMLElement): Promise<() => Promise<void>> {
  const body = h('div', { id: 'locks' });
  root.append(h('h1', {}, 'Locks'), body);
  const load = async (): Promise<void> => {
    const ls = await api<Lock[]>('locks');
    body.replaceChildren(
      ls.length
        ? table(
            ['campaign', 'workflow', 'from run', 'by', 'since', 'reason'],
            ls.map((l) => [
              link(`/campaign/${enc(l.campaign)}`, l.campaign),
              l.workflow,
              l.fromRun,
              l.by,
              fmtTime(l.time),
              clip(l.reason),
            ]),
          )
        : h('p', {}, 'No lock in force.'),
    );
  };
  await load();
  return load;
}

const COLORS = [
  '#2e7d32',
  '#1565c0',
  '#c62828',
  '#6a1b9a',
  '#ef6c00',
  '#00838f',
  '#5d4037',
  '#ad1457',
  '#9e9d24',
  '#37474f',
];

async function chartsPage(root: HTMLElement, campaign: string): Promise<() => Promise<void>> {
  const p = h('div', { id: 'progress-chart' });
  const d = h('div', { id: 'durations-chart' });
  root.append(
    h('h1', {}, link(`/campaign/${enc(campaign)}`, campaign), ' · charts'),
    h('h2', {}, 'done per workflow'),
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
    const series = (names: string[], bars: boolean): uPlot.Series[] => [
      {},
      ...names.map((w, i) => ({
        label: w,
        stroke: COLORS[i % COLORS.length] ?? '#000',
        width: 2,
        ...(bars ? { paths: uPlot.paths.bars?.({ size: [0.8 / Math.max(1, names.length), 60] }) } : {}),
      })),
    ];
    plots.push(
      new uPlot(
        { width, height: 260, series: series(wfs, false) },
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
          scales: { x: { time: false } },
          axes: [{ values: (_u, ticks) => ticks.map((t) => labels[t] ?? '') }, {}],
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

async function route(): Promise<void> {
  const parts = location.pathname
    .split('/')
    .filter((x) => x !== '')
    .map(decodeURIComponent);
  const root = h('div', {});
  app.replaceChildren(root);
  refresh = undefined;
  try {
    const [page, a, b] = parts;
    if (page === 'campaign' && a) {
      const ov = (await api<Overview[]>('campaigns')).find((c) => c.campaign === a);
      refresh = await gridPage(root, a, ov?.rtypes.map((t) => t.name) ?? []);
    } else if (page === 'run' && a && b) refresh = await runView(root, a, Number(b));
    else if (page === 'jobs' && a) refresh = await jobsPage(root, a);
    else if (page === 'charts' && a) refresh = await chartsPage(root, a);
    else if (page === 'locks') refresh = await locksPage(root);
    else refresh = await overviewPage(root);
    document.title = `runctrl · ${parts.join(' · ') || 'overview'}`;
    if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
  } catch (e) {
    root.append(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
  }
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest('a[data-nav]');
  if (!a || e.ctrlKey || e.metaKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href') ?? '/');
  void route();
});
window.addEventListener('popstate', () => void route());

const es = new EventSource('/api/events');
es.addEventListener('change', () => {
  live.textContent = `updated ${new Date().toLocaleTimeString()}`;
  void refresh?.().catch(() => undefined);
});
es.addEventListener('open', () => (live.textContent = 'live'));
es.addEventListener('error', () => (live.textContent = 'reconnecting…'));
void route();
