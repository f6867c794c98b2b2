/** Operator actions on run states, jobs, outputs and locks. Each returns data; src/cli prints it. */
import os from 'node:os';
import { loadCampaign } from './campaigns.js';
import { checkName } from '../domain/names.js';
import type { JobRecord, LockRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState, RunStateChange } from '../domain/state.js';
import { checkOutput } from '../domain/outputs.js';
import { decodeProvenance, type Provenance } from '../domain/provenance.js';
import { isJobStatus, isPending, type JobStatus, type RunStatus } from '../domain/status.js';
import { UserError } from '../errors.js';
import { jobEndPoint } from '../store/jobend.js';
import { jobPoint, lockPoint, runStatePoint, selfReportedJobPoint } from '../store/schema.js';
import type { Backend } from '../backends/types.js';
import type { Ctx } from './context.js';
import { readRunList, selectorKind, type RunSelector } from './runs.js';
import { downstreamPairs } from '../domain/dependents.js';

/**
 * Run × workflow states selected by workflow and runs/range/era/run list, with the registered runs of the
 * selection (an era is resolved through them).
 */
export async function selectStates(
  ctx: Ctx,
  campaign: string,
  workflow: string | undefined,
  sel: RunSelector,
): Promise<{ states: RunState[]; registered: Map<number, RegisteredRun> }> {
  const kind = selectorKind(sel);
  let runs = sel.runs;
  if (kind === 'runlist') runs = await readRunList(sel.runlist ?? '');
  const q = {
    ...(runs ? { runs } : {}),
    ...(sel.range ? { range: sel.range } : {}),
    ...(workflow ? { workflow } : {}),
  };
  const runSel = { ...(runs ? { runs } : {}), ...(sel.range ? { range: sel.range } : {}) };
  const [stateMap, registered] = await Promise.all([
    ctx.store.runStates(campaign, q),
    ctx.store.registeredRuns(campaign, runSel),
  ]);
  const states = [...stateMap.values()];
  if (sel.era === undefined) return { states, registered };
  const eras = new Set([...registered.values()].map((r) => r.era));
  if (!eras.has(sel.era)) {
    throw new UserError(
      `no run of era '${sel.era}' in campaign '${campaign}' (eras there: ${[...eras].sort().join(', ') || 'none'})`,
    );
  }
  return { states: states.filter((s) => registered.get(s.run)?.era === sel.era), registered };
}

function requireSelection(sel: RunSelector): void {
  if (selectorKind(sel) === undefined) {
    throw new UserError(
      'say which runs: give one of --runs 1,2,3, --range MIN,MAX, --era NAME or --runlist FILE',
      { exitCode: 2 },
    );
  }
}

export interface StateEditResult {
  campaign: string;
  workflow: string;
  changed: { run: number; from: RunStatus; to: RunStatus }[];
  skipped: { run: number; status: RunStatus; why: string }[];
  dryRun: boolean;
}

async function checkWorkflow(ctx: Ctx, campaign: string, workflow: string): Promise<void> {
  checkName('workflow', workflow);
  const c = await loadCampaign(ctx, campaign);
  const known = new Set([
    ...c.workflows.map((w) => w.name),
    ...c.rtypes.flatMap((t) => [...t.workflows, ...t.suspended]),
  ]);
  if (!known.has(workflow)) {
    throw new UserError(
      `unknown workflow '${workflow}' in campaign '${campaign}' (known: ${[...known].sort().join(', ') || 'none'})`,
    );
  }
}

/**
 * The changes that set the selected pairs to `to` (attempts kept, tries reset) unless `skip` says why not, and
 * what they do. Shared by reprocess and reset.
 */
function planEdit(
  o: { campaign: string; workflow: string; dryRun?: boolean | undefined },
  states: RunState[],
  to: RunStatus,
  reason: string,
  skip: (s: RunState) => string | undefined,
): { res: StateEditResult; changes: RunStateChange[] } {
  const res: StateEditResult = {
    campaign: o.campaign,
    workflow: o.workflow,
    changed: [],
    skipped: [],
    dryRun: o.dryRun ?? false,
  };
  const changes: RunStateChange[] = [];
  for (const s of states) {
    const why = skip(s);
    if (why !== undefined) {
      res.skipped.push({ run: s.run, status: s.status, why });
      continue;
    }
    changes.push({ run: s.run, workflow: s.workflow, status: to, attempt: s.attempt, tries: 0, reason });
    res.changed.push({ run: s.run, from: s.status, to });
  }
  return { res, changes };
}

/** planEdit, written (nothing on a dry run). */
async function editStates(
  ctx: Ctx,
  o: { campaign: string; workflow: string; dryRun?: boolean | undefined },
  states: RunState[],
  to: RunStatus,
  reason: string,
  skip: (s: RunState) => string | undefined,
): Promise<StateEditResult> {
  const { res, changes } = planEdit(o, states, to, reason, skip);
  if (!o.dryRun) await ctx.store.write(changes.map((ch) => runStatePoint(o.campaign, ch)));
  return res;
}

export interface ReprocessResult extends StateEditResult {
  /** With dependents: what was (or would be) marked downstream, per workflow in dependency order. */
  dependents?: StateEditResult[];
}

/** Why a pair is not marked reprocess (undefined: it is). */
function reprocessSkip(mode: 'failed' | 'all'): (s: RunState) => string | undefined {
  return (s) => {
    if (s.status === 'processing') return 'jobs in flight (use reset to cancel them)';
    if (mode === 'failed' && s.status !== 'failed') return 'not failed (use --mode all)';
    if (s.status === 'new' || s.status === 'reprocess') return 'already waiting';
    return undefined;
  };
}

/**
 * Marks selected pairs `reprocess` (mode failed: only failed ones; all: everything not in flight). With
 * dependents, every pair downstream of the selected pairs that will run again (marked, waiting or in flight) is
 * marked too, done or failed alike, in the same single write; the chain then re-runs in dependency order.
 */
export async function reprocess(
  ctx: Ctx,
  o: {
    campaign: string;
    workflow: string;
    selector: RunSelector;
    mode: 'failed' | 'all';
    dryRun?: boolean;
    withDependents?: boolean;
  },
): Promise<ReprocessResult> {
  requireSelection(o.selector);
  await checkWorkflow(ctx, o.campaign, o.workflow);
  const { states } = await selectStates(ctx, o.campaign, o.workflow, o.selector);
  if (!o.withDependents)
    return editStates(ctx, o, states, 'reprocess', 'reprocess requested', reprocessSkip(o.mode));
  const own = planEdit(o, states, 'reprocess', 'reprocess requested', reprocessSkip(o.mode));
  const edits = await dependentEdits(ctx, o, states, new Set(own.res.changed.map((x) => x.run)));
  const changes = [own, ...edits].flatMap((e) => e.changes);
  if (!o.dryRun) await ctx.store.write(changes.map((ch) => runStatePoint(o.campaign, ch)));
  return { ...own.res, dependents: edits.map((e) => e.res) };
}

/**
 * The edits downstream of the selected pairs that will run again (marked now, or already waiting or in flight),
 * from the campaign's current state (a constant number of queries).
 */
async function dependentEdits(
  ctx: Ctx,
  o: { campaign: string; workflow: string; dryRun?: boolean | undefined },
  selected: readonly RunState[],
  marked: ReadonlySet<number>,
): Promise<ReturnType<typeof planEdit>[]> {
  const [c, current] = await Promise.all([
    loadCampaign(ctx, o.campaign),
    ctx.store.campaignState(o.campaign),
  ]);
  const rerun = selected.filter((s) => marked.has(s.run) || s.status === 'processing' || isPending(s.status));
  const down = downstreamPairs(
    c,
    current.states,
    current.jobs,
    o.workflow,
    rerun.map((s) => s.run),
  );
  const why = `reprocess requested with ${o.workflow}`;
  return down.map((d) =>
    planEdit({ ...o, workflow: d.workflow }, d.states, 'reprocess', why, reprocessSkip('all')),
  );
}

/** Puts selected pairs back to `new` whatever their status; jobs in flight are cancelled first. */
export async function reset(
  ctx: Ctx,
  o: {
    campaign: string;
    workflow: string;
    selector: RunSelector;
    dryRun?: boolean;
    backend: (name: string) => Backend;
  },
): Promise<StateEditResult & { cancelled: string[] }> {
  requireSelection(o.selector);
  await checkWorkflow(ctx, o.campaign, o.workflow);
  const { states } = await selectStates(ctx, o.campaign, o.workflow, o.selector);
  const runs = new Set(states.map((s) => s.run));
  const all = [...(await ctx.store.jobs(o.campaign, { workflow: o.workflow })).values()];
  const jobs = all.filter(
    (j) => (j.status === 'idle' || j.status === 'running') && j.runs.some((r) => runs.has(r)),
  );
  const cancelled = o.dryRun
    ? jobs.map((j) => j.name)
    : await cancelJobs(ctx, jobs, o.backend, 'cancelled by reset');
  // keep the attempt counter above every job ever recorded for the run, so that no job name is reused
  const latest = new Map<number, number>();
  for (const j of all) for (const r of j.runs) latest.set(r, Math.max(latest.get(r) ?? 0, j.attempt));
  const raised = states.map((s) => ({ ...s, attempt: Math.max(s.attempt, latest.get(s.run) ?? 0) }));
  const res = await editStates(ctx, o, raised, 'new', 'reset', (s) =>
    s.status === 'new' ? 'already new' : undefined,
  );
  return { ...res, cancelled };
}

/** Cancels jobs through their backends (one call per backend) and records them failed. */
export async function cancelJobs(
  ctx: Ctx,
  jobs: JobRecord[],
  backend: (name: string) => Backend,
  reason: string,
): Promise<string[]> {
  const byBackend = new Map<string, JobRecord[]>();
  for (const j of jobs) byBackend.set(j.backend, [...(byBackend.get(j.backend) ?? []), j]);
  for (const [name, js] of byBackend) {
    const ids = js.map((j) => j.nativeId).filter((id) => id !== '' && id !== 'recovered');
    if (ids.length > 0) await backend(name).cancel(ids);
  }
  const now = Date.now();
  await ctx.store.write(
    jobs.map((j) => jobPoint({ ...j, status: 'failed', failureClass: 'unknown', reason, time: now })),
  );
  return jobs.map((j) => j.name);
}

export interface JobsQuery {
  campaign: string;
  workflow?: string;
  run?: number;
  status?: JobStatus[];
}

export async function listJobs(ctx: Ctx, o: JobsQuery): Promise<JobRecord[]> {
  await loadCampaign(ctx, o.campaign);
  const jobs = [...(await ctx.store.jobs(o.campaign, o.workflow ? { workflow: o.workflow } : {})).values()];
  return jobs
    .filter(
      (j) => (o.run === undefined || j.runs.includes(o.run)) && (!o.status || o.status.includes(j.status)),
    )
    .sort(
      (a, b) =>
        a.workflow.localeCompare(b.workflow) || (a.runs[0] ?? 0) - (b.runs[0] ?? 0) || a.attempt - b.attempt,
    );
}

export async function cancelSelected(
  ctx: Ctx,
  o: JobsQuery & { backend: (name: string) => Backend },
): Promise<string[]> {
  const jobs = (await listJobs(ctx, o)).filter((j) => j.status === 'idle' || j.status === 'running');
  if (jobs.length === 0) return [];
  return cancelJobs(ctx, jobs, o.backend, 'cancelled by operator');
}

/** A job's own report (ECAL style): `runctrl job running|done|failed … [--output A --output B]`. */
export async function reportJob(
  ctx: Ctx,
  o: {
    campaign: string;
    workflow: string;
    run: number;
    id?: string;
    status: string;
    outputs?: string[];
    reason?: string;
  },
): Promise<JobRecord> {
  if (!isJobStatus(o.status) || o.status === 'idle') {
    throw new UserError(`a job reports 'running', 'done' or 'failed', not '${o.status}'`, { exitCode: 2 });
  }
  for (const out of o.outputs ?? []) checkOutput(out, '--output');
  // every running job reports: read only that run's jobs (a group job reporting a later run of its group
  // is looked up in the whole workflow)
  let jobs = [...(await ctx.store.jobs(o.campaign, { workflow: o.workflow, firstRun: o.run })).values()];
  if (jobs.length === 0) {
    jobs = [...(await ctx.store.jobs(o.campaign, { workflow: o.workflow })).values()].filter((j) =>
      j.runs.includes(o.run),
    );
  }
  const match =
    o.id === undefined
      ? jobs.sort((a, b) => b.attempt - a.attempt)[0]
      : jobs.find((j) => j.name === o.id || String(j.attempt) === o.id);
  if (!match) {
    throw new UserError(
      `no job of workflow '${o.workflow}' for run ${o.run} in campaign '${o.campaign}'${o.id ? ` with id ${o.id}` : ''}: check --campaign/--workflow/--run/--id`,
    );
  }
  const next: JobRecord = {
    ...match,
    status: o.status,
    outputs: o.outputs ? [...new Set([...match.outputs, ...o.outputs])] : match.outputs,
    reason: o.reason ?? (o.status === 'failed' ? 'reported failed by the job' : match.reason),
    time: Date.now(),
  };
  // the job's own word on its failure: the command's (app)
  if (next.status === 'failed') next.failureClass = 'app';
  else delete next.failureClass;
  // a final report also wakes a daemon at once (jobend), instead of at its next status poll
  const ended =
    next.status === 'running'
      ? []
      : [jobEndPoint(next.campaign, next.workflow, next.name, next.status === 'done' ? 0 : 1, o.run)];
  await ctx.store.write([selfReportedJobPoint(next), ...ended]);
  return next;
}

export interface OutputsResult {
  campaign: string;
  workflow: string;
  runs: {
    run: number;
    era: string;
    status: RunStatus;
    outputs: string[];
    /** The parent pairs (workflow, run, attempt, outputs given) the result was made from, when recorded. */
    madeFrom?: Provenance;
  }[];
}

/** Outputs of a workflow per run (ECAL getOutput), by era, runs, range or run list. */
export async function outputs(
  ctx: Ctx,
  o: { campaign: string; workflow: string; selector: RunSelector },
): Promise<OutputsResult> {
  await checkWorkflow(ctx, o.campaign, o.workflow);
  const { states, registered } = await selectStates(ctx, o.campaign, o.workflow, o.selector);
  return {
    campaign: o.campaign,
    workflow: o.workflow,
    runs: states
      .sort((a, b) => a.run - b.run)
      .map((s) => {
        const madeFrom = decodeProvenance(s.inputsFrom);
        const row = {
          run: s.run,
          era: registered.get(s.run)?.era ?? '',
          status: s.status,
          outputs: s.outputs,
        };
        return madeFrom ? { ...row, madeFrom } : row;
      }),
  };
}

/** Who acts from this process (the CLI's operator): user@host. */
const operator = (): string => `${os.userInfo().username}@${os.hostname()}`;

export async function lock(
  ctx: Ctx,
  o: { campaign: string; workflow: string; fromRun: number; reason: string; by?: string },
): Promise<LockRecord> {
  await checkWorkflow(ctx, o.campaign, o.workflow);
  if (!o.reason.trim())
    throw new UserError('say why with --reason (shown to everyone who lists the locks)', { exitCode: 2 });
  const rec = {
    campaign: o.campaign,
    workflow: o.workflow,
    fromRun: o.fromRun,
    reason: o.reason,
    locked: true,
    by: o.by ?? operator(),
  };
  await ctx.store.write([lockPoint(rec)]);
  return { ...rec, time: Date.now() };
}

export async function unlock(
  ctx: Ctx,
  o: { campaign: string; workflow: string; by?: string },
): Promise<LockRecord> {
  const current = (await ctx.store.locks(o.campaign)).find((l) => l.workflow === o.workflow && l.locked);
  if (!current)
    throw new UserError(
      `workflow '${o.workflow}' of campaign '${o.campaign}' is not locked (see 'runctrl locks')`,
    );
  const rec = { ...current, locked: false, by: o.by ?? operator() };
  await ctx.store.write([lockPoint(rec)]);
  return { ...rec, time: Date.now() };
}

export async function listLocks(ctx: Ctx, o: { campaign?: string }): Promise<LockRecord[]> {
  return (await ctx.store.locks(o.campaign)).filter((l) => l.locked);
}
