/**
 * One pass of the automation loop, one module per step:
 *  1. sense (sense.ts, prompt mode): register runs newer than the last registered one in every active campaign;
 *  2. load (load.ts): each campaign's state, in a constant number of queries per campaign;
 *  3. reconcile (reconcile.ts): submission intents that have no native id yet (crash between submit and record);
 *  4. poll (poll.ts): every backend once for all its jobs in flight, and record the transitions;
 *  5. plan (plan.ts, pure planner): finalise runs (done / retry / failed) and choose the units to submit;
 *  6. submit (submit.ts): record intents, submit in bulk, record native ids.
 * Every step is idempotent: a pass killed at any point and run again submits nothing twice and loses nothing.
 *
 * A wake-up pass (the daemon's answer to a job that ended, see loop.ts) runs the same steps with a narrower
 * scope: no sensing, and a poll of only the backends that woke it and of the jobs that reported their end.
 */
import type { Backend } from '../backends/types.js';
import { activityOf, type Campaign } from '../domain/campaign.js';
import { isInFlight, type JobRecord, type LockRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { topPriority } from '../domain/priority.js';
import { forEachStatus } from '../domain/state-table.js';
import type { RunSource } from '../sources/source.js';
import type { PointSpec } from '../store/lineproto.js';
import type { Store } from '../store/store.js';
import { fault } from './fault.js';
import { inFlightState, type UnitTally } from './tally.js';
import { loadCampaignState, type StateCache } from './load.js';
import { planCampaigns } from './plan.js';
import { pollBackends } from './poll.js';
import { reconcileIntents } from './reconcile.js';
import { senseRuns } from './sense.js';
import { submitUnits } from './submit.js';

export { applyNativeState } from './poll.js';

export interface PassOptions {
  /** Restrict the pass to these campaigns. */
  campaigns?: string[];
  dryRun?: boolean;
  ignoreLocks?: boolean;
  /** Prompt mode: sense new runs from the source; `block` limits them to a run range (SNO+ style). */
  prompt?: { block?: { min: number; max: number }; startRun?: number };
  /** A job the backend cannot account for is failed as lost after this long (ms). */
  lostAfterMs: number;
  /** A held job is removed and failed after this long (ms). */
  holdTimeoutMs: number;
  /** Per backend: at most this many of the user's jobs in the system. */
  maxInFlight?: number;
  /** Cap on units submitted per workflow and pass. */
  maxSubmitPerWorkflow?: number;
  /** Where job scripts, logs and exit-code files go. */
  jobRoot: string;
  /** Where outputs go ({outdir}). */
  outputRoot: string;
  /** Extra environment for jobs (e.g. RUNCTRL_DB and the InfluxDB URL, so jobs can report). */
  jobEnv?: Record<string, string>;
  /** Secrets for jobs (InfluxDB credentials): through the job's process environment only, never in a file. */
  jobSecretEnv?: Record<string, string>;
  /** Where and how a job reports its end (the daemon's wake-up); none: jobs do not report. */
  jobReport?: { url: string };
  /** Count run × workflow pairs per workflow and status in the report (for progress displays). */
  counts?: boolean;
}

/**
 * What woke the loop: the backends to poll ('all' in a full pass), and jobs that reported their end (name →
 * exit code). A job's report stands over a backend that still shows it pending, running or unknown (the
 * wrapper reports after writing its exit-code file, while the batch system may still list it as running).
 */
export interface WakeScope {
  backends: ReadonlySet<string> | 'all';
  ended: ReadonlyMap<string, number>;
}

export interface PassDeps {
  store: Store;
  /** Keep state between passes (daemon mode); without it every pass loads everything. */
  cache?: StateCache;
  source?: () => RunSource;
  backend: (name: string) => Backend;
  now?: () => number;
  log?: (line: string) => void;
  /** After every pass: the campaigns in scope and all locks, as the pass read them (a live dashboard). */
  onPassEnd?: (campaigns: Campaign[], locks: LockRecord[]) => void;
}

export interface CampaignReport {
  campaign: string;
  activity: string;
  registered: number;
  submitted: number;
  resubmitted: number;
  deferred: number;
  rejected: number;
  transitions: number;
  done: number;
  failed: number;
  retried: number;
  /** Jobs still queued or running after the pass (intents included). */
  inFlight: number;
  /** Unix ms of the submission of the oldest of them (0: none). */
  oldestInFlightAt?: number;
  waiting: Record<string, number>;
  undefinedWorkflows: string[];
  wouldSubmit: { workflow: string; unit: string; runs: number[]; attempt: number }[];
  /** Stale pairs set to reprocess by this pass (`"on_input_change": "reprocess"`); absent: none. */
  inputChanged?: number;
  /** With `counts`: run × workflow pairs per workflow and status after the pass. */
  counts?: Record<string, Record<string, number>>;
  /** Units submitted (first time), done and failed in this pass, per workflow (metrics). */
  byWorkflow?: Record<string, UnitTally>;
  /** Jobs in flight after the pass, per backend and state (metrics; see inFlightState). */
  jobsInFlight?: Record<string, Record<string, number>>;
}

export interface PassReport {
  startedAt: number;
  durationMs: number;
  dryRun: boolean;
  /** A wake-up pass (narrowed to what ended) rather than a full one. */
  wake: boolean;
  sensed: number;
  campaigns: CampaignReport[];
  /** Run × workflow pairs failed for good in this pass. */
  failures: { campaign: string; workflow: string; run: number; reason: string; job: string }[];
  /** Problems that did not stop the pass (a backend that did not answer, a bad handler). */
  problems: string[];
  queries: number;
  /** Campaigns in scope that another loop holds (not worked on by this pass). */
  skipped?: { campaign: string; holder: string; until: number }[];
}

export function emptyPassReport(startedAt: number, dryRun: boolean, wake = false): PassReport {
  return {
    startedAt,
    durationMs: 0,
    dryRun,
    wake,
    sensed: 0,
    campaigns: [],
    failures: [],
    problems: [],
    queries: 0,
  };
}

/** A campaign's state as the steps of one pass see and update it. */
export interface Loaded {
  campaign: Campaign;
  states: Map<string, RunState>;
  registered: Map<number, RegisteredRun>;
  jobs: Map<string, JobRecord>;
  locks: LockRecord[];
  report: CampaignReport;
}

/** What every step gets: the dependencies, the options, the pass's report and clock, and a guarded write. */
export interface PassContext {
  deps: PassDeps;
  o: PassOptions;
  report: PassReport;
  now: () => number;
  /** Writes unless dry run. */
  write: (points: PointSpec[]) => Promise<void>;
}

function emptyReport(c: Campaign): CampaignReport {
  return {
    campaign: c.name,
    activity: activityOf(c),
    registered: 0,
    submitted: 0,
    resubmitted: 0,
    deferred: 0,
    rejected: 0,
    transitions: 0,
    done: 0,
    failed: 0,
    retried: 0,
    inFlight: 0,
    waiting: {},
    undefinedWorkflows: [],
    wouldSubmit: [],
  };
}

/** Campaigns in scope: active ones, and deactivated ones (their jobs in flight are still tracked). */
export function inScope(all: Campaign[], o: Pick<PassOptions, 'campaigns'>): Campaign[] {
  const campaigns = all.filter((c) => activityOf(c) !== 'idle');
  return o.campaigns && o.campaigns.length > 0
    ? campaigns.filter((c) => o.campaigns?.includes(c.name))
    : campaigns;
}

/** fn over the items, at most two at a time, results in the items' order. */
async function mapTwoAtATime<T, R>(items: readonly T[], fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all([worker(), worker()]);
  return out;
}

/** Step 2: every campaign's state (3 queries per campaign, +1 for all locks; incremental with a cache). */
async function loadAll(
  x: PassContext,
  campaigns: Campaign[],
): Promise<{ loaded: Loaded[]; allLocks: LockRecord[] }> {
  const load = (c: Campaign) =>
    loadCampaignState(x.deps.store, x.deps.cache, c.name, x.now(), {
      snapshot: !(x.o.dryRun ?? false),
      wake: x.report.wake,
      ...(x.deps.log ? { log: x.deps.log } : {}),
    });
  // two campaigns at a time: InfluxDB answers one while this process decodes the other
  const [allLocks, states] = await Promise.all([x.deps.store.locks(), mapTwoAtATime(campaigns, load)]);
  const loaded = campaigns.map((c, i) => ({
    campaign: c,
    ...(states[i] as Awaited<ReturnType<typeof load>>),
    locks: allLocks.filter((l) => l.campaign === c.name),
    report: emptyReport(c),
  }));
  return { loaded, allLocks };
}

/** Jobs in flight, in all and per backend and state. */
function countInFlight(l: Loaded): number {
  let n = 0;
  const by: Record<string, Record<string, number>> = {};
  for (const j of l.jobs.values()) {
    if (!isInFlight(j)) continue;
    n++;
    const b = (by[j.backend] ??= {});
    const st = inFlightState(j);
    b[st] = (b[st] ?? 0) + 1;
  }
  l.report.jobsInFlight = by;
  return n;
}

/** The submission time of the oldest job in flight (0: none). */
function oldestInFlight(l: Loaded): number {
  let t = 0;
  for (const j of l.jobs.values()) if (isInFlight(j) && (t === 0 || j.submittedAt < t)) t = j.submittedAt;
  return t;
}

/** Run × workflow pairs per workflow and status. */
function countStates(l: Loaded): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  forEachStatus(l.states, (workflow, _run, status) => {
    const w = (counts[workflow] ??= {});
    w[status] = (w[status] ?? 0) + 1;
  });
  return counts;
}

/**
 * `all`: the campaigns of the database when the caller has just read them (the loop does, for its lease).
 * `wake`: what woke the loop (see WakeScope); a pass with a set of backends is a wake-up pass, narrowed to them.
 */
export async function runPass(
  deps: PassDeps,
  o: PassOptions,
  all?: Campaign[],
  wake?: WakeScope,
): Promise<PassReport> {
  const now = deps.now ?? Date.now;
  const t0 = now();
  const q0 = deps.store.queryCount;
  const isWake = wake !== undefined && wake.backends !== 'all';
  const report = emptyPassReport(t0, o.dryRun ?? false, isWake);
  const write = async (points: PointSpec[]): Promise<void> => {
    if (!o.dryRun && points.length > 0) await deps.store.write(points);
  };
  const x: PassContext = { deps, o, report, now, write };
  const campaigns = inScope(all ?? (await deps.store.campaigns()), o);
  const step = (name: string): void => fault(isWake ? `wake-${name}` : name);

  if (!isWake) await senseRuns(x, campaigns);
  const { loaded, allLocks } = await loadAll(x, campaigns);
  step('after-load');
  const toResubmit = await reconcileIntents(x, loaded);
  step('after-reconcile');
  await pollBackends(x, loaded, wake, step);
  step('after-poll');
  const units = await planCampaigns(x, loaded);
  step('after-finalize');
  await submitUnits(x, units, toResubmit, step, topPriority(campaigns));

  for (const l of loaded) {
    l.report.inFlight = countInFlight(l);
    l.report.oldestInFlightAt = oldestInFlight(l);
    if (o.counts) l.report.counts = countStates(l);
  }
  report.campaigns = loaded.map((l) => l.report);
  deps.onPassEnd?.(campaigns, allLocks);
  report.durationMs = now() - t0;
  report.queries = deps.store.queryCount - q0;
  return report;
}
