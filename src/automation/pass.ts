/**
 * One pass of the automation loop:
 *  1. sense (prompt mode): register runs newer than the last registered one in every active campaign;
 *  2. load each campaign's state (a constant number of queries per campaign);
 *  3. reconcile submission intents that have no native id yet (crash between submit and record);
 *  4. poll every backend once for all its jobs in flight and record the transitions;
 *  5. plan (pure): finalise runs (done / retry / failed) and choose the units to submit;
 *  6. submit: record intents, submit in bulk, record native ids.
 * Every step is idempotent: a pass killed at any point and run again submits nothing twice and loses nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Backend, JobSpec, JobState, TrackedJob } from '../backends/types.js';
import { jobName } from '../backends/types.js';
import { activityOf, type Campaign } from '../domain/campaign.js';
import { planInject } from '../domain/inject-plan.js';
import type { JobRecord, LockRecord } from '../domain/jobs.js';
import { planPass, type UnitPlan } from '../domain/planner.js';
import type { WorkflowSpec } from '../domain/workflow.js';
import { stateKey, type RegisteredRun, type RunState, type RunStateChange } from '../domain/state.js';
import { InternalError, UserError } from '../errors.js';
import type { RunSource } from '../sources/source.js';
import type { PointSpec } from '../store/lineproto.js';
import { jobPoint, runInfoPoint, runStatePoint } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { handlerFor, readOutputFile, type UnitInfo } from './handler.js';
import { fault } from './fault.js';
import { loadCampaignState, type StateCache } from './load.js';

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
}

export interface PassDeps {
  store: Store;
  /** Keep state between passes (daemon mode); without it every pass loads everything. */
  cache?: StateCache;
  source?: () => RunSource;
  backend: (name: string) => Backend;
  now?: () => number;
  log?: (line: string) => void;
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
  waiting: Record<string, number>;
  undefinedWorkflows: string[];
  wouldSubmit: { workflow: string; unit: string; runs: number[]; attempt: number }[];
}

export interface PassReport {
  startedAt: number;
  durationMs: number;
  dryRun: boolean;
  sensed: number;
  campaigns: CampaignReport[];
  /** Run × workflow pairs failed for good in this pass. */
  failures: { campaign: string; workflow: string; run: number; reason: string; job: string }[];
  /** Problems that did not stop the pass (a backend that did not answer, a bad handler). */
  problems: string[];
  queries: number;
}

export function emptyPassReport(startedAt: number, dryRun: boolean): PassReport {
  return {
    startedAt,
    durationMs: 0,
    dryRun,
    sensed: 0,
    campaigns: [],
    failures: [],
    problems: [],
    queries: 0,
  };
}

interface Loaded {
  campaign: Campaign;
  states: Map<string, RunState>;
  registered: Map<number, RegisteredRun>;
  jobs: Map<string, JobRecord>;
  locks: LockRecord[];
  report: CampaignReport;
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
    waiting: {},
    undefinedWorkflows: [],
    wouldSubmit: [],
  };
}

function groupBy<T>(items: Iterable<T>, key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(it);
  }
  return m;
}

function readExitCode(file: string): number | undefined {
  if (!file || !existsSync(file)) return undefined;
  const n = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(n) ? n : undefined;
}

/** Job record after the backend's answer, or undefined when nothing changed. */
export function applyNativeState(
  j: JobRecord,
  st: JobState,
  now: number,
  o: Pick<PassOptions, 'lostAfterMs' | 'holdTimeoutMs'>,
): { next?: JobRecord; cancel?: boolean } {
  const base = { ...j, time: now };
  switch (st.state) {
    case 'pending':
      return j.status === 'idle' && j.unknownSince === 0 && j.heldSince === 0
        ? {}
        : { next: { ...base, status: 'idle', unknownSince: 0, heldSince: 0 } };
    case 'running':
      return j.status === 'running' && j.unknownSince === 0 && j.heldSince === 0
        ? {}
        : { next: { ...base, status: 'running', unknownSince: 0, heldSince: 0 } };
    case 'held': {
      const since = j.heldSince || now;
      if (now - since > o.holdTimeoutMs) {
        return {
          next: {
            ...base,
            status: 'failed',
            reason: `held for over ${Math.round(o.holdTimeoutMs / 1000)} s: ${st.reason ?? 'no reason given'}`,
          },
          cancel: true,
        };
      }
      if (j.heldSince !== 0 && j.unknownSince === 0) return {};
      return {
        next: {
          ...base,
          unknownSince: 0,
          status: j.status === 'running' ? 'running' : 'idle',
          heldSince: since,
          reason: `held: ${st.reason ?? ''}`,
        },
      };
    }
    case 'done':
      return { next: { ...base, status: 'done', exitCode: st.exitCode ?? 0, unknownSince: 0, reason: '' } };
    case 'failed':
    case 'cancelled':
      return {
        next: {
          ...base,
          status: 'failed',
          exitCode: st.exitCode ?? null,
          unknownSince: 0,
          reason:
            st.state === 'cancelled'
              ? `cancelled${st.reason ? `: ${st.reason}` : ''}`
              : (st.reason ?? `exit code ${st.exitCode ?? '?'}`),
        },
      };
    case 'unknown': {
      const since = j.unknownSince || now;
      if (now - since > o.lostAfterMs) {
        return {
          next: {
            ...base,
            status: 'failed',
            reason: `lost: not in the queue, no accounting record and no exit-code file for ${Math.round((now - since) / 1000)} s`,
          },
        };
      }
      return j.unknownSince === 0 ? { next: { ...base, unknownSince: since } } : {};
    }
  }
}

/** `all`: the campaigns of the database when the caller has just read them (the loop does, for its lease). */
export async function runPass(deps: PassDeps, o: PassOptions, all?: Campaign[]): Promise<PassReport> {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const t0 = now();
  const q0 = deps.store.queryCount;
  const report = emptyPassReport(t0, o.dryRun ?? false);
  const write = async (points: PointSpec[]): Promise<void> => {
    if (!o.dryRun && points.length > 0) await deps.store.write(points);
  };

  // 0. campaigns in scope: active ones, and deactivated ones (their jobs in flight are still tracked)
  let campaigns = (all ?? (await deps.store.campaigns())).filter((c) => activityOf(c) !== 'idle');
  if (o.campaigns && o.campaigns.length > 0)
    campaigns = campaigns.filter((c) => o.campaigns?.includes(c.name));

  // 1. sense new runs (prompt mode)
  if (o.prompt && deps.source) {
    const source = deps.source();
    const last = await deps.store.lastRegisteredRun();
    // runs after the last registered one (or after --start-run on a fresh database), never past the block's end
    const floor = Math.max(last ?? o.prompt.startRun ?? 0, (o.prompt.block?.min ?? 0) - 1);
    if (last === undefined && o.prompt.startRun === undefined && o.prompt.block === undefined) {
      throw new UserError(
        'prompt mode on a database without runs: say where to start with --start-run RUN or --block START,END',
      );
    }
    const ceiling = o.prompt.block?.max ?? Number.MAX_SAFE_INTEGER;
    const fetched =
      floor >= ceiling
        ? []
        : o.prompt.block
          ? await source.fetch({ range: { min: floor + 1, max: ceiling } })
          : await source.fetch({ after: floor });
    // a run still being taken is registered once it has ended
    const fresh = fetched.filter((r) => r.run > floor && r.run <= ceiling && r.endTime !== null);
    report.sensed = fresh.length;
    fault('after-sense');
    if (fresh.length > 0) {
      for (const c of campaigns.filter((x) => activityOf(x) === 'active')) {
        const range = { min: fresh[0]?.run ?? 0, max: fresh[fresh.length - 1]?.run ?? 0 };
        const [cur, reg] = await Promise.all([
          deps.store.runStates(c.name, { range }),
          deps.store.registeredRuns(c.name, { range }),
        ]);
        const plan = planInject(c, fresh, cur, reg, 'missing');
        await write([
          ...plan.register.map((r) => runInfoPoint(c.name, r.info, r.rtypes)),
          ...plan.changes.map((s) => runStatePoint(c.name, s)),
        ]);
        log(
          `sensed ${fresh.length} run(s); campaign ${c.name}: ${plan.register.length} registered, ${plan.changes.length} new pair(s)`,
        );
      }
    }
  }

  // 2. load state: 3 queries per campaign (+1 for all locks); incremental with a cache (daemon mode)
  const allLocks = await deps.store.locks();
  const loaded: Loaded[] = [];
  for (const c of campaigns) {
    const { states, registered, jobs } = await loadCampaignState(deps.store, deps.cache, c.name, now(), {
      snapshot: !(o.dryRun ?? false),
      log,
    });
    loaded.push({
      campaign: c,
      states,
      registered,
      jobs,
      locks: allLocks.filter((l) => l.campaign === c.name),
      report: emptyReport(c),
    });
  }
  fault('after-load');

  // 3. reconcile intents (no native id): found in the backend → record the id; finished → record the result
  const toResubmit = new Map<string, { job: JobRecord; l: Loaded }>();
  const intents = loaded.flatMap((l) =>
    [...l.jobs.values()].filter((j) => j.status === 'idle' && j.nativeId === ''),
  );
  for (const [backendName, js] of groupBy(intents, (j) => j.backend)) {
    let found: Map<string, string>;
    try {
      found = new Map(
        (await deps.backend(backendName).find(js.map((j) => j.name))).map((s) => [s.name, s.id]),
      );
    } catch (err) {
      report.problems.push(
        `backend ${backendName}: reconciliation failed: ${String(err instanceof Error ? err.message : err)}`,
      );
      continue;
    }
    const points: PointSpec[] = [];
    for (const j of js) {
      const id = found.get(j.name);
      const l = loaded.find((x) => x.campaign.name === j.campaign);
      if (!l) continue;
      let next: JobRecord | undefined;
      if (id) next = { ...j, nativeId: id, time: now(), reason: 'recovered after restart' };
      else {
        const ec = readExitCode(j.exitCodeFile);
        if (ec !== undefined) {
          next = {
            ...j,
            nativeId: 'recovered',
            status: ec === 0 ? 'done' : 'failed',
            exitCode: ec,
            outputs:
              ec === 0 ? [...new Set([...j.outputs, ...(await readOutputFile(j.outputFile))])] : j.outputs,
            time: now(),
            reason: ec === 0 ? '' : `exit code ${ec}`,
          };
        } else toResubmit.set(j.name, { job: j, l });
      }
      if (next) {
        l.jobs.set(next.name, next);
        points.push(jobPoint(next));
      }
    }
    await write(points);
  }
  fault('after-reconcile');

  // 4. poll: one status query per backend for all its jobs in flight
  const inFlight = loaded.flatMap((l) =>
    [...l.jobs.values()].filter(
      (j) =>
        (j.status === 'idle' || j.status === 'running') && j.nativeId !== '' && j.nativeId !== 'recovered',
    ),
  );
  const byCampaign = new Map(loaded.map((l) => [l.campaign.name, l]));
  const answers: { backend: Backend; js: JobRecord[]; states: Map<string, JobState> }[] = [];
  for (const [backendName, js] of groupBy(inFlight, (j) => j.backend)) {
    const backend = deps.backend(backendName);
    try {
      const tracked: TrackedJob[] = js.map((j) => ({
        id: j.nativeId,
        name: j.name,
        exitCodeFile: j.exitCodeFile,
        submittedAt: j.submittedAt,
      }));
      answers.push({ backend, js, states: await backend.status(tracked) });
    } catch (err) {
      report.problems.push(
        `backend ${backendName}: status query failed, jobs left as they are: ${String(err instanceof Error ? err.message : err)}`,
      );
    }
  }
  fault('after-status');
  // a job may have reported itself (`runctrl job done --output …`) since the state was loaded: re-read
  // (once per campaign) the jobs of the campaigns where a job ended, so its report is neither overwritten nor lost
  const ending = answers.flatMap(({ js, states }) =>
    js.filter((j) => ['done', 'failed', 'cancelled'].includes(states.get(j.nativeId)?.state ?? '')),
  );
  const reported = new Map<string, JobRecord>();
  for (const c of new Set(ending.map((j) => j.campaign))) {
    for (const [name, fresh] of await deps.store.jobs(c, { since: t0 - 5_000 })) reported.set(name, fresh);
  }
  const transitions: PointSpec[] = [];
  for (const { backend, js, states } of answers) {
    const cancel: string[] = [];
    for (const j0 of js) {
      const l = byCampaign.get(j0.campaign);
      if (!l) continue;
      const fresh = reported.get(j0.name);
      if (fresh && fresh.time > j0.time && (fresh.status === 'done' || fresh.status === 'failed')) {
        l.jobs.set(fresh.name, fresh); // the job's own final word stands
        l.report.transitions++;
        continue;
      }
      const j = fresh && fresh.time > j0.time ? fresh : j0;
      const st = states.get(j.nativeId) ?? { state: 'unknown' as const };
      const { next, cancel: c } = applyNativeState(j, st, now(), o);
      if (c) cancel.push(j.nativeId);
      if (!next) continue;
      if (next.status === 'done') {
        const fromFile = await readOutputFile(next.outputFile);
        next.outputs = [...new Set([...j.outputs, ...fromFile])];
        const spec = l.campaign.workflows.find((w) => w.name === j.workflow);
        if (spec?.handler) {
          try {
            next.outputs = await handlerOutputs(o, l, spec, next);
          } catch (err) {
            report.problems.push(
              `handler of ${j.workflow}: outputs of ${j.name}: ${String(err instanceof Error ? err.message : err)}`,
            );
          }
        }
      }
      l.jobs.set(next.name, next);
      if (next.status !== j.status) l.report.transitions++;
      transitions.push(jobPoint(next));
    }
    if (cancel.length > 0 && !o.dryRun)
      await backend
        .cancel(cancel)
        .catch((err: unknown) => report.problems.push(`cancel failed: ${String(err)}`));
  }
  await write(transitions);
  fault('after-poll');

  // 5. plan and finalise
  const units: { l: Loaded; u: UnitPlan }[] = [];
  for (const l of loaded) {
    const plan = planPass(l.campaign, l.states, l.registered, l.jobs, l.locks, {
      ignoreLocks: o.ignoreLocks ?? false,
      ...(o.maxSubmitPerWorkflow !== undefined ? { maxSubmitPerWorkflow: o.maxSubmitPerWorkflow } : {}),
    });
    l.report.waiting = plan.waiting;
    l.report.undefinedWorkflows = plan.undefinedWorkflows;
    const fin: RunStateChange[] = plan.finalize;
    for (const ch of fin) {
      if (ch.status === 'done') l.report.done++;
      if (ch.status === 'failed') l.report.failed++;
    }
    for (const f of plan.failedForGood) report.failures.push({ campaign: l.campaign.name, ...f });
    await write(fin.map((ch) => runStatePoint(l.campaign.name, ch)));
    for (const ch of fin) {
      const k = stateKey(ch.run, ch.workflow);
      const prev = l.states.get(k);
      if (prev) {
        l.states.set(k, {
          ...prev,
          status: ch.status,
          attempt: ch.attempt ?? prev.attempt,
          tries: ch.tries ?? prev.tries,
          outputs: [...(ch.outputs ?? prev.outputs)],
        });
      }
    }
    for (const u of plan.submit) {
      if (u.retryOf) l.report.retried++;
      units.push({ l, u });
    }
  }
  fault('after-finalize');

  // 6. submit: intents first, then one bulk submit per backend, then the native ids
  await submitUnits(deps, o, units, toResubmit, report, now);

  report.campaigns = loaded.map((l) => l.report);
  report.durationMs = now() - t0;
  report.queries = deps.store.queryCount - q0;
  return report;
}

function unitDirs(
  o: PassOptions,
  campaign: string,
  workflow: string,
  unit: string,
  attempt: number,
): { work: string; out: string } {
  return {
    work: path.join(o.jobRoot, campaign, workflow, unit, `a${attempt}`),
    out: path.join(o.outputRoot, campaign, workflow, unit),
  };
}

async function submitUnits(
  deps: PassDeps,
  o: PassOptions,
  units: { l: Loaded; u: UnitPlan }[],
  toResubmit: Map<string, { job: JobRecord; l: Loaded }>,
  report: PassReport,
  now: () => number,
): Promise<void> {
  interface Pending {
    l: Loaded;
    job: JobRecord;
    spec: JobSpec;
    runChanges: RunStateChange[];
    resubmit: boolean;
  }
  const pending: Pending[] = [];
  const jobEnvBase = o.jobEnv ?? {};

  // intents left by a crash or a deferral: the same name and attempt are submitted again
  for (const { job: j, l } of toResubmit.values()) {
    const spec: JobSpec = {
      name: j.name,
      command: '',
      workDir: path.dirname(j.exitCodeFile),
      stdout: j.stdout,
      stderr: j.stderr,
      exitCodeFile: j.exitCodeFile,
      env: {},
      resources: {},
    };
    pending.push({ l, job: j, spec, runChanges: [], resubmit: true });
  }

  // new units: handler selection and commands
  const byWorkflow = groupBy(units, (x) => `${x.l.campaign.name}\u0000${x.u.workflow.name}`);
  for (const list of byWorkflow.values()) {
    const first = list[0];
    if (!first) continue;
    const spec = first.u.workflow;
    const campaign = first.l.campaign.name;
    let handler;
    try {
      handler = await handlerFor(spec);
    } catch (err) {
      report.problems.push(String(err instanceof Error ? err.message : err));
      continue;
    }
    const infos: { info: UnitInfo; x: { l: Loaded; u: UnitPlan } }[] = list.map((x) => ({
      x,
      info: {
        campaign,
        workflow: spec.name,
        unit: x.u.unit,
        runs: x.u.runs,
        attempt: x.u.attempt,
        era: x.u.era,
        fill: x.u.fill,
        inputs: x.u.inputs,
        outdir: unitDirs(o, campaign, spec.name, x.u.unit, x.u.attempt).out,
      },
    }));
    let selected = infos.map((i) => i.info);
    if (handler.select) selected = await handler.select(selected);
    const chosen = new Set(selected.map((s) => s.unit));
    for (const { info, x } of infos) {
      if (!chosen.has(info.unit)) continue;
      const dirs = unitDirs(o, campaign, spec.name, info.unit, info.attempt);
      const name = jobName(campaign, spec.name, info.unit, info.attempt);
      const command = await handler.command(info);
      const env: Record<string, string> = {
        ...jobEnvBase,
        RUNCTRL_CAMPAIGN: campaign,
        RUNCTRL_WORKFLOW: spec.name,
        RUNCTRL_RUN: String(info.runs[0] ?? ''),
        RUNCTRL_RUNS: info.runs.join(','),
        RUNCTRL_ATTEMPT: String(info.attempt),
        RUNCTRL_OUTDIR: dirs.out,
        RUNCTRL_OUTPUT_FILE: path.join(dirs.work, 'outputs'),
      };
      const jobSpec: JobSpec = {
        name,
        command,
        workDir: dirs.work,
        stdout: path.join(dirs.work, 'stdout'),
        stderr: path.join(dirs.work, 'stderr'),
        exitCodeFile: path.join(dirs.work, 'exit_code'),
        env,
        resources: spec.resources,
      };
      const job: JobRecord = {
        campaign,
        workflow: spec.name,
        name,
        unit: info.unit,
        runs: info.runs,
        attempt: info.attempt,
        status: 'idle',
        backend: spec.backend,
        nativeId: '',
        stdout: jobSpec.stdout,
        stderr: jobSpec.stderr,
        exitCodeFile: jobSpec.exitCodeFile,
        outputFile: env.RUNCTRL_OUTPUT_FILE ?? '',
        exitCode: null,
        outputs: [],
        reason: '',
        submittedAt: now(),
        unknownSince: 0,
        heldSince: 0,
        time: now(),
      };
      const runChanges: RunStateChange[] = info.runs.map((run) => ({
        run,
        workflow: spec.name,
        status: 'processing',
        attempt: info.attempt,
        tries: x.u.tries,
      }));
      pending.push({ l: x.l, job, spec: jobSpec, runChanges, resubmit: false });
      x.l.report.wouldSubmit.push({
        workflow: spec.name,
        unit: info.unit,
        runs: info.runs,
        attempt: info.attempt,
      });
    }
  }
  if (o.dryRun || pending.length === 0) return;

  for (const [backendName, ps] of groupBy(pending, (p) => p.job.backend)) {
    const backend = deps.backend(backendName);
    let batch = ps;
    if (o.maxInFlight !== undefined) {
      let running: number;
      try {
        running = await backend.inFlight();
      } catch (err) {
        report.problems.push(
          `backend ${backendName}: cannot count jobs in flight, nothing submitted: ${String(err instanceof Error ? err.message : err)}`,
        );
        continue;
      }
      const room = Math.max(0, o.maxInFlight - running);
      batch = ps.slice(0, room);
      for (const p of ps.slice(room)) p.l.report.deferred++;
    }
    // new units need their files and the intent (job idle without id + runs processing) before submission
    const fresh = batch.filter((p) => !p.resubmit);
    for (const p of fresh) {
      await mkdir(p.spec.workDir, { recursive: true });
      await mkdir(p.spec.env.RUNCTRL_OUTDIR ?? p.spec.workDir, { recursive: true });
    }
    await deps.store.write(
      fresh.flatMap((p) => [jobPoint(p.job), ...p.runChanges.map((ch) => runStatePoint(p.job.campaign, ch))]),
    );
    fault('after-intent');
    // resubmitted intents rebuild their command from the unit (the command is not stored)
    const specs: JobSpec[] = [];
    for (const p of batch) {
      if (p.resubmit) {
        const rebuilt = await rebuildSpec(o, p.job, p.l);
        if (!rebuilt) {
          report.problems.push(`job ${p.job.name}: its workflow has no definition any more; not resubmitted`);
          continue;
        }
        p.spec = rebuilt;
      }
      specs.push(p.spec);
    }
    let result;
    try {
      result = await backend.submit(specs);
    } catch (err) {
      report.problems.push(
        `backend ${backendName}: submission failed, will retry next pass: ${String(err instanceof Error ? err.message : err)}`,
      );
      continue;
    }
    fault('after-submit');
    const ids = new Map(result.submitted.map((s) => [s.name, s.id]));
    const rejected = new Map(result.rejected.map((r) => [r.name, r.reason]));
    const points: PointSpec[] = [];
    for (const p of batch) {
      const id = ids.get(p.job.name);
      const rep = p.l.report;
      if (id) {
        points.push(jobPoint({ ...p.job, nativeId: id, time: now() }));
        if (p.resubmit) rep.resubmitted++;
        else rep.submitted++;
      } else if (rejected.has(p.job.name)) {
        points.push(
          jobPoint({
            ...p.job,
            status: 'failed',
            reason: `rejected by ${backendName}: ${rejected.get(p.job.name) ?? ''}`,
            time: now(),
          }),
        );
        rep.rejected++;
      } else rep.deferred++;
    }
    await deps.store.write(points);
    fault('after-record');
  }
}

/** The unit a recorded job processes, rebuilt from the loaded state (its inputs are its dependencies' outputs). */
function unitOfJob(o: PassOptions, l: Loaded, spec: WorkflowSpec, j: JobRecord): UnitInfo {
  const inputs: Record<string, string[]> = {};
  for (const d of spec.dependsOn)
    inputs[d] = j.runs.flatMap((r) => l.states.get(stateKey(r, d))?.outputs ?? []);
  const first = l.registered.get(j.runs[0] ?? 0);
  return {
    campaign: j.campaign,
    workflow: j.workflow,
    unit: j.unit,
    runs: j.runs,
    attempt: j.attempt,
    era: first?.era ?? '',
    fill: first?.fill ?? 0,
    inputs,
    outdir: unitDirs(o, j.campaign, j.workflow, j.unit, j.attempt).out,
  };
}

/** The outputs a handler module decides for a finished job (default: what the job reported). */
async function handlerOutputs(
  o: PassOptions,
  l: Loaded,
  spec: WorkflowSpec,
  j: JobRecord,
): Promise<string[]> {
  const handler = await handlerFor(spec);
  if (!handler.outputs) return j.outputs;
  return [...new Set(await handler.outputs({ ...unitOfJob(o, l, spec, j), reported: j.outputs }))];
}

/** The JobSpec of an intent found without a native id (after a crash or a deferral), from loaded state. */
async function rebuildSpec(o: PassOptions, j: JobRecord, l: Loaded): Promise<JobSpec | undefined> {
  const spec = l.campaign.workflows.find((w) => w.name === j.workflow);
  if (!spec) return undefined;
  const dirs = unitDirs(o, j.campaign, j.workflow, j.unit, j.attempt);
  const info = unitOfJob(o, l, spec, j);
  const handler = await handlerFor(spec);
  await mkdir(dirs.work, { recursive: true });
  await mkdir(dirs.out, { recursive: true });
  if (path.dirname(j.exitCodeFile) !== dirs.work)
    throw new InternalError(`job ${j.name}: work directory moved`);
  return {
    name: j.name,
    command: await handler.command(info),
    workDir: dirs.work,
    stdout: j.stdout,
    stderr: j.stderr,
    exitCodeFile: j.exitCodeFile,
    env: {
      ...(o.jobEnv ?? {}),
      RUNCTRL_CAMPAIGN: j.campaign,
      RUNCTRL_WORKFLOW: j.workflow,
      RUNCTRL_RUN: String(j.runs[0] ?? ''),
      RUNCTRL_RUNS: j.runs.join(','),
      RUNCTRL_ATTEMPT: String(j.attempt),
      RUNCTRL_OUTDIR: dirs.out,
      RUNCTRL_OUTPUT_FILE: j.outputFile,
    },
    resources: spec.resources,
  };
}
