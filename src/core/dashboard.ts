/**
 * Read use cases of the dashboard (runctrl serve), over a campaign's state however it was obtained (the store
 * or a daemon's memory). They return the shapes of the CLI's --json outputs where the CLI has one.
 */
import { activeWorkflows, type Campaign } from '../domain/campaign.js';
import type { JobRecord, LockRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { stateKey } from '../domain/state.js';
import { forEachStatus, statesWithStatus, statusAt } from '../domain/state-table.js';
import { emptyCounts, type RunStatus } from '../domain/status.js';
import {
  blockedPairs,
  displayStatus,
  DISPLAY_STATUSES,
  emptyDisplayCounts,
  type Blocked,
  type DisplayStatus,
} from '../domain/blocked.js';
import { dependencyOrder } from '../domain/order.js';
import { explainRun, type WhyAnswer } from '../domain/why.js';
import { staleResults } from '../domain/stale.js';
import { describeProvenance } from '../domain/provenance.js';
import { UserError } from '../errors.js';
import { summarize, type CampaignSummary } from './campaigns.js';
import type { StatusResult } from './status.js';

export interface CampaignState {
  /** Keyed by stateKey(run, workflow). */
  states: ReadonlyMap<string, RunState>;
  registered: ReadonlyMap<number, RegisteredRun>;
  jobs: ReadonlyMap<string, JobRecord>;
  /** Malformed points the read skipped, when the source knows them (docs/malformed-points.md). */
  malformed?: readonly unknown[];
}

type Counts = Record<DisplayStatus, number>;
const zero = emptyDisplayCounts;

/** Workflows shown for a campaign: the active ones and every one with a status, in dependency order. */
export function workflowsOf(c: Campaign, st: CampaignState): string[] {
  const seen = new Set(activeWorkflows(c));
  forEachStatus(st.states, (w) => seen.add(w));
  return dependencyOrder(seen, c.workflows);
}

/** The display status of a pair (blocked, or its status), undefined when it has none. */
function shownAt(st: CampaignState, blocked: Blocked, run: number, w: string): DisplayStatus | undefined {
  const k = stateKey(run, w);
  const s = statusAt(st.states, k);
  return s && displayStatus(blocked, k, s);
}

export interface OverviewEntry extends CampaignSummary {
  /** Per workflow (dependency order), pairs per display status. */
  perWorkflow: Record<string, Counts & { total: number }>;
  /** Pairs failed for good now (a pair counts once, whatever its attempts). */
  failedNow: number;
  /** Failed jobs (attempts) of the last 24 h. */
  failed24h: number;
  locks: LockRecord[];
}

/** Every campaign with counts per workflow, failures of the last 24 h and its locks (list --json plus). */
export function overview(
  c: Campaign,
  st: CampaignState,
  locks: readonly LockRecord[],
  now: number,
): OverviewEntry {
  const counts = emptyCounts();
  const runs = new Set<number>();
  const perWorkflow: OverviewEntry['perWorkflow'] = {};
  const blocked = blockedPairs({ campaign: c, ...st, locks });
  for (const w of workflowsOf(c, st)) perWorkflow[w] = { ...zero(), total: 0 };
  forEachStatus(st.states, (workflow, run, status) => {
    counts[status]++;
    runs.add(run);
    const w = (perWorkflow[workflow] ??= { ...zero(), total: 0 });
    w[displayStatus(blocked, stateKey(run, workflow), status)]++;
    w.total++;
  });
  let failed24h = 0;
  for (const j of st.jobs.values()) if (j.status === 'failed' && j.time > now - 86_400_000) failed24h++;
  return {
    ...summarize(c, counts, runs.size, st.malformed?.length ?? 0),
    perWorkflow,
    failedNow: counts.failed,
    failed24h,
    locks: locks.filter((l) => l.campaign === c.name),
  };
}

export interface GridFilter {
  era?: string;
  min?: number;
  max?: number;
  rtype?: string;
  status?: DisplayStatus;
  workflows?: string[];
}

export interface GridResult {
  campaign: string;
  workflows: string[];
  /** Display statuses (the run statuses, then blocked). */
  statuses: readonly DisplayStatus[];
  eras: string[];
  /** Per row: run, era index. */
  runs: number[];
  era: number[];
  /** One character per cell, row-major: index into statuses, '-' for no status. */
  cells: string;
  counts: Record<string, Counts>;
  total: number;
  /** Cells (indexes into `cells`) whose done result is stale: its inputs changed since (src/domain/stale.ts). */
  stale: number[];
}

/** The campaign grid in a compact form (10k runs × 10 workflows is ~100 kB), filtered. */
export function grid(
  c: Campaign,
  st: CampaignState,
  f: GridFilter,
  locks: readonly LockRecord[],
): GridResult {
  const all = workflowsOf(c, st);
  for (const w of f.workflows ?? [])
    if (!all.includes(w)) throw new UserError(`unknown workflow '${w}' (known: ${all.join(', ') || 'none'})`);
  const workflows = f.workflows && f.workflows.length > 0 ? all.filter((w) => f.workflows?.includes(w)) : all;
  const blocked = blockedPairs({ campaign: c, ...st, locks });
  const shown = (run: number, w: string): DisplayStatus | undefined => shownAt(st, blocked, run, w);
  const runs = selectRuns(st, f, workflows, shown);
  const eras: string[] = [];
  const eraIdx = new Map<string, number>();
  const counts: Record<string, Counts> = Object.fromEntries(workflows.map((w) => [w, zero()]));
  const cells: string[] = [];
  const era: number[] = [];
  const stale = staleResults(c, st.states, new Set(workflows));
  const staleCells: number[] = [];
  for (const run of runs) {
    const e = st.registered.get(run)?.era ?? '';
    let i = eraIdx.get(e);
    if (i === undefined) eraIdx.set(e, (i = eras.push(e) - 1));
    era.push(i);
    for (const w of workflows) {
      const s = shown(run, w);
      if (s === 'done' && stale.has(stateKey(run, w))) staleCells.push(cells.length);
      cells.push(s ? String(DISPLAY_STATUSES.indexOf(s)) : '-');
      const cw = counts[w];
      if (s && cw) cw[s]++;
    }
  }
  return {
    campaign: c.name,
    workflows,
    statuses: DISPLAY_STATUSES,
    eras,
    runs,
    era,
    cells: cells.join(''),
    counts,
    total: runs.length,
    stale: staleCells,
  };
}

function selectRuns(
  st: CampaignState,
  f: GridFilter,
  workflows: readonly string[],
  shown: (run: number, w: string) => DisplayStatus | undefined,
): number[] {
  const set = new Set<number>(st.registered.keys());
  forEachStatus(st.states, (_w, run) => set.add(run));
  const out: number[] = [];
  for (const run of set) {
    if (f.min !== undefined && run < f.min) continue;
    if (f.max !== undefined && run > f.max) continue;
    const info = st.registered.get(run);
    if (f.era !== undefined && info?.era !== f.era) continue;
    if (f.rtype !== undefined && !info?.rtypes.includes(f.rtype)) continue;
    if (f.status !== undefined && !workflows.some((w) => shown(run, w) === f.status)) continue;
    out.push(run);
  }
  return out.sort((a, b) => a - b);
}

/** `status --json` from a campaign's state. */
export function statusOf(
  c: Campaign,
  st: CampaignState,
  f: GridFilter,
  locks: readonly LockRecord[],
): StatusResult {
  const g = grid(c, st, f, locks);
  const staleCells = new Set(g.stale);
  const stale: Record<string, number> = Object.fromEntries(g.workflows.map((w) => [w, 0]));
  const rows = g.runs.map((run, i) => {
    const info = st.registered.get(run);
    const status: Record<string, DisplayStatus | null> = {};
    g.workflows.forEach((w, k) => {
      const ch = g.cells[i * g.workflows.length + k];
      status[w] = ch === undefined || ch === '-' ? null : (DISPLAY_STATUSES[Number(ch)] ?? null);
    });
    const ws = g.workflows.filter((_w, k) => staleCells.has(i * g.workflows.length + k));
    for (const w of ws) stale[w] = (stale[w] ?? 0) + 1;
    const row = { run, fill: info?.fill ?? 0, era: info?.era ?? '', rtypes: info?.rtypes ?? [], status };
    return ws.length > 0 ? { ...row, stale: ws } : row;
  });
  return {
    campaign: c.name,
    workflows: g.workflows,
    rows,
    totals: g.counts,
    stale,
    malformed: st.malformed?.length ?? 0,
  };
}

export interface RunPage {
  campaign: string;
  run: number;
  info: RegisteredRun | null;
  /** Set when retention pruned older history: its cutoff (Unix ms) and the status points kept per pair. */
  pruned?: { before: number; keep: number };
  workflows: {
    workflow: string;
    status: RunStatus | null;
    history: RunState[];
    jobs: JobRecord[];
    outputs: string[];
    /** "made from ecal-reco attempt 1" ('' when nothing was recorded); the details are in why.madeFrom. */
    madeFrom: string;
    why: WhyAnswer;
  }[];
}

/** Everything about one run: per workflow its history, jobs, outputs and why it is not done. */
export function runPage(
  c: Campaign,
  st: CampaignState,
  history: readonly RunState[],
  locks: readonly LockRecord[],
  run: number,
  maxInFlight?: number,
): RunPage {
  const why = explainRun(
    { campaign: c, ...st, locks, ...(maxInFlight !== undefined ? { maxInFlight } : {}) },
    run,
  );
  const jobs = [...st.jobs.values()].filter((j) => j.runs.includes(run));
  return {
    campaign: c.name,
    run,
    info: st.registered.get(run) ?? null,
    workflows: why.answers.map((a) => ({
      workflow: a.workflow,
      status: a.status,
      history: history.filter((h) => h.workflow === a.workflow),
      jobs: jobs.filter((j) => j.workflow === a.workflow).sort((x, y) => y.attempt - x.attempt),
      outputs: st.states.get(stateKey(run, a.workflow))?.outputs ?? [],
      madeFrom: a.madeFrom && a.madeFrom.from.length > 0 ? describeProvenance(a.madeFrom) : '',
      why: a,
    })),
  };
}

export interface JobsFilter {
  workflow?: string;
  status?: string;
  run?: number;
  limit: number;
}

/** Jobs of a campaign, failed first then newest first (jobs --json rows), capped at `limit`. */
export function jobsOf(st: CampaignState, f: JobsFilter): { total: number; jobs: JobRecord[] } {
  const rank = (j: JobRecord): number => (j.status === 'failed' ? 0 : 1);
  const jobs = [...st.jobs.values()]
    .filter(
      (j) =>
        (f.workflow === undefined || j.workflow === f.workflow) &&
        (f.status === undefined || j.status === f.status) &&
        (f.run === undefined || j.runs.includes(f.run)),
    )
    .sort((a, b) => rank(a) - rank(b) || b.time - a.time);
  return { total: jobs.length, jobs: jobs.slice(0, f.limit) };
}

export interface ChartsResult {
  /** Done per workflow against time: [unix seconds…], and per workflow the cumulative count at each. */
  progress: { times: number[]; series: Record<string, number[]> };
  /** Finished jobs' durations (seconds, submission to last point), per workflow, in buckets. */
  durations: { bucketsSec: number[]; series: Record<string, number[]> };
}

const BUCKETS = [10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, Infinity];

export function charts(c: Campaign, st: CampaignState, points = 200): ChartsResult {
  const wfs = workflowsOf(c, st);
  const done = [...statesWithStatus(st.states, ['done'])].filter((s) => s.time > 0);
  const t0 = done.reduce((m, s) => Math.min(m, s.time), Date.now());
  const t1 = done.reduce((m, s) => Math.max(m, s.time), t0 + 1);
  const step = (t1 - t0) / (points - 1);
  const times = Array.from({ length: points }, (_, i) => (t0 + i * step) / 1000);
  const series: Record<string, number[]> = {};
  for (const w of wfs) series[w] = new Array<number>(points).fill(0);
  // each pair counts from the first point at or after its time on: one per bucket, then running sums
  for (const s of done) {
    const arr = series[s.workflow];
    const i = Math.ceil((s.time - t0) / step);
    if (arr && i < points) arr[i] = (arr[i] ?? 0) + 1;
  }
  for (const arr of Object.values(series))
    for (let i = 1; i < points; i++) arr[i] = (arr[i] ?? 0) + (arr[i - 1] ?? 0);
  const dur: Record<string, number[]> = {};
  for (const w of wfs) dur[w] = new Array<number>(BUCKETS.length).fill(0);
  for (const j of st.jobs.values()) {
    if ((j.status !== 'done' && j.status !== 'failed') || j.submittedAt <= 0) continue;
    const sec = Math.max(0, (j.time - j.submittedAt) / 1000);
    const arr = (dur[j.workflow] ??= new Array<number>(BUCKETS.length).fill(0));
    const b = BUCKETS.findIndex((x) => sec <= x);
    arr[b] = (arr[b] ?? 0) + 1;
  }
  return {
    progress: { times, series },
    durations: { bucketsSec: BUCKETS.map((b) => (b === Infinity ? -1 : b)), series: dur },
  };
}
