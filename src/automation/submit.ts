/**
 * Step 6 of a pass: the units planned (and intents left without a native id) become jobs. Per backend: the
 * in-flight room, the job directories, the intents (job idle without id + runs processing) written before
 * anything is submitted, one bulk submit, then the native ids (or the rejections) recorded — for the local
 * executor in growing chunks, each through these steps (submissionChunks).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { JobSpec, SubmitResult } from '../backends/types.js';
import { jobName } from '../backends/types.js';
import type { JobRecord } from '../domain/jobs.js';
import { encodeProvenance, type InputSource } from '../domain/provenance.js';
import { priorityOrder, recentSubmissions, unitPriority } from '../domain/priority.js';
import type { UnitPlan } from '../domain/planner.js';
import { resourcesOf } from '../domain/retry.js';
import type { RunStateChange } from '../domain/state.js';
import type { WorkflowSpec } from '../domain/workflow.js';
import type { PointSpec } from '../store/lineproto.js';
import { jobPoint, runStatePoint } from '../store/schema.js';
import { handlerFor, type UnitInfo } from './handler.js';
import type { Loaded, PassContext } from './pass.js';
import { applyStateChanges, type PlannedUnit } from './plan.js';
import type { Resubmit } from './reconcile.js';
import { tallyUnit } from './tally.js';
import { joinNames, jobSpecOf, unitDirs, unitEnv, unitOfJob } from './units.js';
import { groupBy, messageOf } from './util.js';

interface Pending {
  l: Loaded;
  job: JobRecord;
  /** Built for new units; rebuilt from the unit just before submission for intents. */
  spec?: JobSpec;
  runChanges: RunStateChange[];
  resubmit: boolean;
}

function watched(x: PassContext, backend: string): boolean {
  return typeof x.deps.backend(backend).watch === 'function';
}

/** The intent record of a new unit's job. */
function newJob(x: PassContext, info: UnitInfo, spec: WorkflowSpec, u: UnitPlan): JobRecord {
  const work = unitDirs(x.o, info.campaign, spec.name, info.unit, info.attempt).work;
  return {
    ...attemptFields(spec, u),
    campaign: info.campaign,
    workflow: spec.name,
    name: jobName(info.campaign, spec.name, info.unit, info.attempt),
    unit: info.unit,
    runs: info.runs,
    attempt: info.attempt,
    status: 'idle',
    backend: spec.backend,
    nativeId: '',
    stdout: joinNames(work, 'stdout'),
    stderr: joinNames(work, 'stderr'),
    exitCodeFile: joinNames(work, 'exit_code'),
    outputFile: joinNames(work, 'outputs'),
    exitCode: null,
    outputs: [],
    reason: '',
    submittedAt: x.now(),
    unknownSince: 0,
    heldSince: 0,
    time: x.now(),
  };
}

/** The resources the attempt asks for (a retry's grown ones, else the workflow's), recorded with its job. */
function attemptFields(
  spec: WorkflowSpec,
  u: UnitPlan,
): Pick<JobRecord, 'memoryMb' | 'walltimeMin' | 'nodeRetries'> {
  const r = u.resources ?? resourcesOf(spec, {});
  return {
    ...(r.memoryMb !== undefined ? { memoryMb: r.memoryMb } : {}),
    ...(r.walltimeMin !== undefined ? { walltimeMin: r.walltimeMin } : {}),
    ...(u.nodeRetries ? { nodeRetries: u.nodeRetries } : {}),
  };
}

function unitInfo(x: PassContext, p: PlannedUnit): UnitInfo {
  const campaign = p.l.campaign.name;
  const { u } = p;
  return {
    campaign,
    workflow: u.workflow.name,
    unit: u.unit,
    runs: u.runs,
    attempt: u.attempt,
    era: u.era,
    fill: u.fill,
    inputs: u.inputs,
    outdir: unitDirs(x.o, campaign, u.workflow.name, u.unit, u.attempt).out,
  };
}

/** What a pair of the unit is made from (its own run's parent pairs), for a workflow with dependencies. */
function provenanceOf(
  spec: WorkflowSpec,
  unit: string,
  sources: readonly InputSource[],
  run: number,
): { inputsFrom?: string } {
  if (spec.dependsOn.length === 0) return {};
  return { inputsFrom: encodeProvenance({ unit, from: sources.filter((s) => s.run === run) }) };
}

/** One workflow's planned units, narrowed by its handler, as pending jobs with their commands. */
async function pendingOfWorkflow(x: PassContext, list: PlannedUnit[]): Promise<Pending[]> {
  const spec = list[0]?.u.workflow;
  if (!spec) return [];
  let handler;
  try {
    handler = await handlerFor(spec);
  } catch (err) {
    x.report.problems.push(messageOf(err));
    return [];
  }
  const infos = list.map((p) => ({ p, info: unitInfo(x, p) }));
  const chosen = new Set(
    (handler.select ? await handler.select(infos.map((i) => i.info)) : infos.map((i) => i.info)).map(
      (s) => s.unit,
    ),
  );
  const out: Pending[] = [];
  for (const { p, info } of infos) {
    if (!chosen.has(info.unit)) continue;
    const job = newJob(x, info, spec, p.u);
    const env = unitEnv(x.o, job, info.outdir, job.outputFile, watched(x, job.backend));
    const runChanges: RunStateChange[] = info.runs.map((run) => ({
      run,
      workflow: spec.name,
      status: 'processing',
      attempt: info.attempt,
      tries: p.u.tries,
      ...provenanceOf(spec, info.unit, p.u.sources, run),
    }));
    out.push({
      l: p.l,
      job,
      spec: jobSpecOf(x.o, job, await handler.command(info), env, spec),
      runChanges,
      resubmit: false,
    });
    p.l.report.wouldSubmit.push({
      workflow: spec.name,
      unit: info.unit,
      runs: info.runs,
      attempt: info.attempt,
    });
  }
  return out;
}

/**
 * The JobSpec of an intent found without a native id (after a crash or a deferral), from loaded state and the
 * paths recorded with it. Undefined (with the reason) when it cannot be submitted again.
 */
async function rebuildSpec(x: PassContext, p: Pending): Promise<JobSpec | string> {
  const j = p.job;
  const spec = p.l.campaign.workflows.find((w) => w.name === j.workflow);
  if (!spec) return 'its workflow has no definition any more';
  const info = unitOfJob(x.o, p.l, spec, j);
  const work = path.dirname(j.exitCodeFile);
  try {
    await mkdir(work, { recursive: true });
    await mkdir(info.outdir, { recursive: true });
  } catch (err) {
    return `its recorded work directory ${work} cannot be used here (${messageOf(err)})`;
  }
  const handler = await handlerFor(spec);
  const env = unitEnv(x.o, j, info.outdir, j.outputFile, watched(x, j.backend));
  return jobSpecOf(x.o, j, await handler.command(info), env, spec);
}

/** A pending job's priority (its workflow's, else its campaign's). */
function priorityOf(p: Pending): number {
  return unitPriority(
    p.l.campaign,
    p.l.campaign.workflows.find((w) => w.name === p.job.workflow),
  );
}

/** The pending jobs in submission order: priority, then the campaigns' turns on this backend (priority.ts). */
function byPriority(backendName: string, ps: Pending[]): Pending[] {
  const served = new Map<string, number[]>();
  const campaigns = new Set(ps.map((p) => p.l));
  if (campaigns.size > 1) {
    for (const l of campaigns) {
      const times: number[] = [];
      for (const j of l.jobs.values()) if (j.backend === backendName) times.push(j.submittedAt);
      served.set(l.campaign.name, recentSubmissions(times));
    }
  }
  return priorityOrder(ps, (p) => ({ campaign: p.l.campaign.name, priority: priorityOf(p) }), served);
}

/** The jobs the backend has room for under --max-in-flight (the rest is deferred); undefined: cannot tell. */
async function withinRoom(
  x: PassContext,
  backendName: string,
  ps: Pending[],
): Promise<Pending[] | undefined> {
  if (x.o.maxInFlight === undefined) return ps;
  let running: number;
  try {
    running = await x.deps.backend(backendName).inFlight();
  } catch (err) {
    x.report.problems.push(
      `backend ${backendName}: cannot count jobs in flight, nothing submitted: ${messageOf(err)}`,
    );
    return undefined;
  }
  const room = Math.max(0, x.o.maxInFlight - running);
  for (const p of ps.slice(room)) p.l.report.deferred++;
  return ps.slice(0, room);
}

/** Mirrors what was written into the state the loop holds (the daemon's cache stays what the database says). */
function hold(p: Pending, job: JobRecord, changes: RunStateChange[]): void {
  p.l.jobs.set(job.name, job);
  applyStateChanges(p.l, changes, job.time);
}

/** New units' directories and intents, written before anything is submitted. */
async function writeIntents(x: PassContext, batch: Pending[]): Promise<void> {
  const fresh = batch.filter((p) => !p.resubmit);
  const dirs = new Set(
    fresh.flatMap((p) => [path.dirname(p.job.exitCodeFile), p.spec?.env.RUNCTRL_OUTDIR ?? '']),
  );
  dirs.delete('');
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  await x.deps.store.write(
    fresh.flatMap((p) => [jobPoint(p.job), ...p.runChanges.map((ch) => runStatePoint(p.job.campaign, ch))]),
  );
  for (const p of fresh) hold(p, p.job, p.runChanges);
}

/** The specs to submit; an intent that cannot be submitted again fails its attempt (the planner retries). */
async function specsOf(
  x: PassContext,
  batch: Pending[],
  failed: PointSpec[],
): Promise<{ p: Pending; spec: JobSpec }[]> {
  const out: { p: Pending; spec: JobSpec }[] = [];
  for (const p of batch) {
    const spec = p.resubmit ? await rebuildSpec(x, p) : p.spec;
    if (spec === undefined) continue;
    if (typeof spec === 'string') {
      x.report.problems.push(`job ${p.job.name}: not submitted again: ${spec}`);
      const job: JobRecord = {
        ...p.job,
        status: 'failed',
        failureClass: 'unknown',
        reason: `not submitted again: ${spec}`,
        time: x.now(),
      };
      failed.push(jobPoint(job));
      hold(p, job, []);
      continue;
    }
    out.push({ p, spec });
  }
  return out;
}

/** Records the native ids and rejections of one bulk submission. */
async function recordResult(
  x: PassContext,
  backendName: string,
  batch: Pending[],
  result: SubmitResult,
): Promise<void> {
  const ids = new Map(result.submitted.map((s) => [s.name, s.id]));
  const rejected = new Map(result.rejected.map((r) => [r.name, r.reason]));
  const points: PointSpec[] = [];
  for (const p of batch) {
    const id = ids.get(p.job.name);
    const rep = p.l.report;
    const reason = rejected.get(p.job.name);
    if (id === undefined && reason === undefined) {
      rep.deferred++;
      continue;
    }
    const job: JobRecord =
      id !== undefined
        ? { ...p.job, nativeId: id, time: x.now() }
        : {
            ...p.job,
            status: 'failed',
            failureClass: 'unknown',
            reason: `rejected by ${backendName}: ${reason ?? ''}`,
            time: x.now(),
          };
    points.push(jobPoint(job));
    hold(p, job, []);
    if (id === undefined) rep.rejected++;
    else if (p.resubmit) rep.resubmitted++;
    else {
      rep.submitted++;
      tallyUnit(rep, p.job.workflow, 'submitted');
    }
  }
  await x.deps.store.write(points);
}

/**
 * A backend that starts jobs the moment they are submitted (one that wakes the loop itself: the local executor)
 * gets a large batch in chunks that double from FIRST_CHUNK, so that its first jobs run while the rest is still
 * being written; a batch system (seconds from submission to start) gets one bulk submission.
 */
export const FIRST_CHUNK = 32;

export function submissionChunks<T>(items: readonly T[], chunked: boolean): T[][] {
  if (!chunked) return items.length > 0 ? [[...items]] : [];
  const out: T[][] = [];
  for (let i = 0, size = FIRST_CHUNK; i < items.length; i += size, size *= 2)
    out.push(items.slice(i, i + size));
  return out;
}

async function submitToBackend(
  x: PassContext,
  backendName: string,
  ps: Pending[],
  step: (name: string) => void,
  top: number,
): Promise<void> {
  const batch = await withinRoom(x, backendName, byPriority(backendName, ps));
  if (!batch) return;
  for (const chunk of submissionChunks(batch, watched(x, backendName))) {
    if (!(await submitChunk(x, backendName, chunk, step, top))) return;
  }
}

/** Intents, one bulk submission, the native ids; false when the submission failed (the rest waits too). */
async function submitChunk(
  x: PassContext,
  backendName: string,
  batch: Pending[],
  step: (name: string) => void,
  top: number,
): Promise<boolean> {
  await writeIntents(x, batch);
  step('after-intent');
  const failed: PointSpec[] = [];
  const ready = await specsOf(x, batch, failed);
  await x.deps.store.write(failed);
  let result: SubmitResult;
  try {
    result = await x.deps
      .backend(backendName)
      .submit(ready.map((r) => ({ ...r.spec, priority: { value: priorityOf(r.p), top } })));
  } catch (err) {
    x.report.problems.push(
      `backend ${backendName}: submission failed, will retry next pass: ${messageOf(err)}`,
    );
    return false;
  }
  step('after-submit');
  await recordResult(
    x,
    backendName,
    ready.map((r) => r.p),
    result,
  );
  step('after-record');
  return true;
}

export async function submitUnits(
  x: PassContext,
  units: PlannedUnit[],
  toResubmit: Resubmit,
  step: (name: string) => void,
  /** The highest priority of the campaigns in scope (priority.ts). */
  top = 0,
): Promise<void> {
  // intents left by a crash or a deferral: the same name and attempt are submitted again
  const pending: Pending[] = [...toResubmit.values()].map(({ job, l }) => ({
    l,
    job,
    runChanges: [],
    resubmit: true,
  }));
  for (const list of groupBy(units, (p) => `${p.l.campaign.name}\u0000${p.u.workflow.name}`).values())
    pending.push(...(await pendingOfWorkflow(x, list)));
  if (x.o.dryRun || pending.length === 0) return;
  for (const [backendName, ps] of groupBy(pending, (p) => p.job.backend))
    await submitToBackend(x, backendName, ps, step, top);
}
