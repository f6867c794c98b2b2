/// <reference lib="dom" />
/** The dashboard's client: a small router over the pages, refreshed on server-sent change events. */
import {
  ApiError,
  api,
  clip,
  fmtDuration,
  fmtTime,
  h,
  link,
  setZone,
  table,
  timeHead,
  visible,
  zone,
  zoneLabel,
} from './dom.js';
import { asksText } from '../../domain/resources-text.js';
import { chartsPage } from './charts.js';
import { confirmAction } from './confirm.js';
import { failuresPage } from './failures.js';
import { gridHref, gridPage } from './grid.js';
import type { Job, LogTail, Lock, Overview, RunPage } from './types.js';
import { loopLine } from './loop.js';

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

const SEGMENTS = [
  ['done', 'done'],
  ['failed', 'failed'],
  ['blocked', 'blocked'],
  ['processing', 'in flight'],
  ['new', 'waiting'],
  ['reprocess', 'to reprocess'],
] as const;

function campaignCard(c: Overview): HTMLElement {
  const bars = Object.entries(c.perWorkflow).map(([w, n]) => {
    const bar = h('div', { class: 'bar' });
    for (const [st, label] of SEGMENTS) {
      const v = n[st];
      if (v === 0) continue;
      // a segment opens the grid filtered on that status and workflow
      const seg = link(gridHref(c.campaign, { status: st, workflow: w }));
      seg.className = `st-${st}`;
      seg.setAttribute('title', `${w} ${label}: ${v}`);
      seg.setAttribute('aria-label', `${w} ${label}: ${v}`);
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
        `${n.done} done · ${n.failed} failed · ${n.blocked} blocked · ${n.processing} in flight · ${n.new + n.reprocess} waiting / ${n.total}`,
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
    ...[loopLine(c.loop)].filter((x) => x !== undefined),
    ...bars,
    h(
      'p',
      { class: 'counts' },
      `${c.runs} runs · `,
      link(`/failures/${enc(c.campaign)}`, h('strong', {}, String(c.failedNow)), ' pairs failed now'),
      ` · ${c.failed24h} job failures in 24 h · locks: ${c.locks.length}`,
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
    const [r, { actions }] = await Promise.all([
      api<RunPage>('run', { campaign, run: String(run) }),
      api<{ actions: boolean }>('config'),
    ]);
    const meta = r.info
      ? `era ${r.info.era} · fill ${r.info.fill} · ${r.info.runClass} · run types ${r.info.rtypes.join(', ')}`
      : 'not registered';
    const tails: Promise<void>[] = [];
    const pruned = r.pruned
      ? h(
          'p',
          { class: 'muted pruned' },
          `history before ${fmtTime(r.pruned.before)} was pruned (each pair keeps its last ${r.pruned.keep} status points and the jobs of its last attempt)`,
        )
      : null;
    body.replaceChildren(
      h('p', { class: 'muted' }, meta),
      ...(pruned ? [pruned] : []),
      ...r.workflows.map((w) => {
        const card = workflowCard(campaign, w, tails);
        if (actions) card.querySelector('h2')?.after(actionBar(campaign, run, w.workflow));
        return card;
      }),
    );
    // the log tails grow the page above a workflow: once they are in, land on it again (#wf)
    scrollToHash();
    await Promise.all(tails);
    scrollToHash();
  };
  await load();
  return load;
}

function workflowCard(
  campaign: string,
  w: RunPage['workflows'][number],
  tails: Promise<void>[],
): HTMLElement {
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
      logs(campaign, j, i === 0 ? tails : undefined),
    ]),
    { class: 'jobs' },
  );
  const shown = w.why.blocked ? 'blocked' : (w.status ?? 'none');
  return h(
    'section',
    { class: 'card', id: w.workflow, 'data-workflow': w.workflow },
    h(
      'h2',
      {},
      w.workflow,
      ' ',
      h('span', { class: `badge st-${shown}` }, w.why.blocked ? 'blocked' : (w.status ?? 'no status')),
    ),
    w.status === 'done' && w.why.kind !== 'stale'
      ? null
      : h('p', { class: `why why-${w.why.kind}` }, h('strong', {}, 'why: '), clip(w.why.text, 500)),
    w.madeFrom ? h('p', { class: 'made-from' }, clip(w.madeFrom, 500)) : null,
    h('h3', {}, 'history'),
    table(
      [timeHead(), 'status', 'attempt', 'tries', 'reason'],
      w.history.map((s) => [fmtTime(s.time), s.status, s.attempt, s.tries, clip(s.reason)]),
      { class: 'history' },
    ),
    h('h3', {}, 'jobs'),
    jobs,
    h('h3', {}, 'outputs'),
    h('ul', { class: 'outputs' }, ...w.outputs.map((o) => h('li', {}, clip(o, 300)))),
  );
}

/** Reprocess / reset / lock / unlock buttons (only with --allow-actions), each confirmed first. */
function actionBar(campaign: string, run: number, workflow: string): HTMLElement {
  const out = h('span', { class: 'muted' });
  const act = async (action: string, extra: Record<string, unknown> = {}, reason = false): Promise<void> => {
    const r = await confirmAction(action, campaign, [{ workflow, runs: [run] }], extra, {
      reason,
      fromRun: run,
    });
    if (r) out.textContent = r.join('; ');
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
    btn('reprocess with dependents', () => void act('reprocess', { mode: 'all', withDependents: true })),
    btn('reset', () => void act('reset')),
    btn('lock', () => void act('lock', { fromRun: run }, true)),
    btn('unlock', () => void act('unlock')),
    ' ',
    out,
  );
}

function logs(campaign: string, j: Job, auto: Promise<void>[] | undefined): HTMLElement {
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
          h('pre', { class: `tail ${stream}`, tabindex: '0', 'aria-label': `${j.name} ${stream}` }, t.text),
        );
      }),
    );
    box.replaceChildren(...parts);
  };
  const btn = h('button', { type: 'button' }, 'tails');
  btn.addEventListener('click', () => void show());
  box.append(btn);
  if (auto) auto.push(show().catch(() => undefined));
  return box;
}

let userScrolled = false;
for (const ev of ['wheel', 'touchmove', 'keydown', 'mousedown'])
  window.addEventListener(ev, () => (userScrolled = true), { passive: true });

/** Brings the element the address's #fragment names into view, unless the operator has scrolled since. */
function scrollToHash(): void {
  if (!location.hash || userScrolled) return;
  let id = '';
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch {
    return;
  }
  document.getElementById(id)?.scrollIntoView();
}

async function jobsPage(root: HTMLElement, campaign: string): Promise<() => Promise<void>> {
  const q = new URLSearchParams(location.search);
  const status = h(
    'select',
    { name: 'status', 'aria-label': 'status' },
    ...['', 'failed', 'running', 'idle', 'done'].map((s) => h('option', { value: s }, s || 'any status')),
  );
  status.value = q.get('status') ?? '';
  const wf = h('input', {
    name: 'workflow',
    placeholder: 'workflow',
    'aria-label': 'workflow',
    value: q.get('workflow') ?? '',
  });
  const form = h('form', { class: 'filters' }, status, wf, h('button', { type: 'submit' }, 'filter'));
  const body = h('div', { id: 'jobs' });
  root.append(
    h('h1', {}, link(`/campaign/${enc(campaign)}`, campaign), ' · jobs'),
    h('p', {}, link(`/failures/${enc(campaign)}`, 'failures grouped by cause')),
    form,
    body,
  );
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
          timeHead(),
        ],
        r.jobs.map((j) => [
          link(`/run/${enc(campaign)}/${j.runs[0] ?? 0}#${enc(j.workflow)}`, j.name),
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
            ['campaign', 'workflow', 'from run', 'by', timeHead('since'), 'reason'],
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

/** What a 404 page says: the message, and the campaigns there are. */
class NotFound extends Error {
  constructor(
    message: string,
    readonly listCampaigns = false,
  ) {
    super(message);
  }
}

async function notFoundPage(root: HTMLElement, e: NotFound): Promise<void> {
  root.append(h('h1', {}, 'Not found'), h('p', { class: 'error', id: 'not-found' }, e.message));
  if (!e.listCampaigns) {
    root.append(h('p', {}, link('/', 'the overview')));
    return;
  }
  const cs = await api<Overview[]>('campaigns').catch(() => []);
  root.append(
    h('p', {}, cs.length ? 'Known campaigns:' : 'There is no campaign in this database.'),
    h(
      'ul',
      { id: 'known-campaigns' },
      ...cs.map((c) => h('li', {}, link(`/campaign/${enc(c.campaign)}`, c.campaign))),
    ),
  );
}

/** The page of a path: its title and how to draw it; NotFound for anything else. */
function pageOf(parts: string[]): {
  title: string;
  draw: (root: HTMLElement) => Promise<() => Promise<void>>;
} {
  const [page, a, b, ...rest] = parts;
  if (page === undefined) return { title: 'overview', draw: overviewPage };
  if (page === 'locks' && a === undefined) return { title: 'locks', draw: locksPage };
  const onCampaign = (title: string, fn: (root: HTMLElement, c: string) => Promise<() => Promise<void>>) =>
    a !== undefined && b === undefined
      ? { title: `${a} · ${title}`, draw: (root: HTMLElement) => fn(root, a) }
      : undefined;
  const found =
    page === 'campaign'
      ? onCampaign('grid', async (root, c) => {
          const ov = (await api<Overview[]>('campaigns')).find((x) => x.campaign === c);
          if (!ov) throw new NotFound(`There is no campaign '${c}'.`, true);
          return gridPage(
            root,
            c,
            ov.rtypes.map((t) => t.name),
          );
        })
      : page === 'jobs'
        ? onCampaign('jobs', jobsPage)
        : page === 'charts'
          ? onCampaign('charts', chartsPage)
          : page === 'failures'
            ? onCampaign('failures', failuresPage)
            : undefined;
  if (found) return found;
  if (page === 'run' && a !== undefined && b !== undefined && rest.length === 0) {
    if (!/^\d{1,12}$/.test(b))
      throw new NotFound(`'${b}' is not a run number: a run page is /run/CAMPAIGN/RUN.`);
    return { title: `${a} · run ${b}`, draw: (root) => runView(root, a, Number(b)) };
  }
  throw new NotFound(`There is no page ${location.pathname}.`);
}

function decodedParts(): string[] {
  try {
    return location.pathname
      .split('/')
      .filter((x) => x !== '')
      .map(decodeURIComponent);
  } catch {
    throw new NotFound('This address is not valid (a broken %-escape).');
  }
}

async function route(): Promise<void> {
  const root = h('div', {});
  app.replaceChildren(root);
  refresh = undefined;
  try {
    const p = pageOf(decodedParts());
    document.title = visible(`runctrl · ${p.title}`);
    refresh = await p.draw(root);
    scrollToHash();
  } catch (e) {
    const nf =
      e instanceof NotFound
        ? e
        : e instanceof ApiError && e.status === 404
          ? new NotFound(e.message, /^unknown campaign/.test(e.message))
          : undefined;
    if (nf) {
      document.title = 'runctrl · not found';
      root.replaceChildren();
      await notFoundPage(root, nf);
    } else root.append(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
  }
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest('a[data-nav]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href') ?? '/');
  userScrolled = false;
  void route();
});
window.addEventListener('popstate', () => void route());

const tz = document.getElementById('tz') as HTMLButtonElement | null;
const showZone = (): void => {
  if (tz) tz.textContent = `times: ${zoneLabel()}`;
};
tz?.addEventListener('click', () => {
  setZone(zone() === 'utc' ? 'local' : 'utc');
  showZone();
  void route();
});
showZone();

const es = new EventSource('/api/events');
es.addEventListener('change', () => {
  live.textContent = `updated ${fmtTime(Date.now()).slice(11)} ${zone() === 'utc' ? 'UTC' : 'local'}`;
  void refresh?.().catch(() => undefined);
});
es.addEventListener('open', () => (live.textContent = 'live'));
// a dead loop writes nothing, so no change event comes: the page is read again now and then, so that the
// loop's age (and its turning stale) shows
setInterval(() => void refresh?.().catch(() => undefined), 30_000);
es.addEventListener('error', () => (live.textContent = 'reconnecting…'));
void route();
