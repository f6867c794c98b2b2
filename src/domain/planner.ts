/**
 * The pure pass planner: from a campaign's state (run states, registered runs, latest jobs, locks) it decides
 * which run × workflow pairs to finalise (done / failed / retry) and which work units to submit. No IO.
 */
import { activeWorkflows, type Campaign } from './campaign.js';
import { lockHolds, type JobRecord, type LockRecord } from './jobs.js';
import { encodeProvenance, type InputSource } from './provenance.js';
import type { RegisteredRun, RunState, RunStateChange } from './state.js';
import { stateKey } from './state.js';
import { statesWithStatus } from './state-table.js';
import type { RunStatus } from './status.js';
import type { WorkflowSpec } from './workflow.js';
import { topoOrder } from './workflow.js';
import { decideRetry, type AttemptResources, type RetryDecision } from './retry.js';

/** A retry unit takes the decision's resources; a node retry does not count as a try. */
function withRetry(u: UnitPlan, d: RetryDecision): void {
  u.resources = d.resources;
  if (d.nodeRetries > 0) u.nodeRetries = d.nodeRetries;
  if (d.free) u.tries = Math.max(1, u.tries - 1);
}

export interface UnitPlan {
  workflow: WorkflowSpec;
  /** `r<run>` or `g<label>-<first>-<last>`. */
  unit: string;
  runs: number[];
  attempt: number;
  tries: number;
  /** Outputs of the dependencies, per dependency workflow (all runs of the unit). */
  inputs: Record<string, string[]>;
  /** The parent pairs those outputs came from (their attempts): the provenance recorded at submission. */
  sources: InputSource[];
  /** Era label of the unit (first run's era). */
  era: string;
  fill: number;
  retryOf?: string;
  /** Of a retry: memory and wall time of the attempt (absent: the workflow's), and node retries in a row. */
  resources?: AttemptResources;
  nodeRetries?: number;
}

export interface PassPlan {
  /** Status points that finalise pairs (done, failed) or reflect retries. */
  finalize: RunStateChange[];
  /** Pairs failed for good in this plan (for notifications and JUnit). */
  failedForGood: { run: number; workflow: string; reason: string; job: string }[];
  submit: UnitPlan[];
  /** Why pending pairs were not submitted, counted. */
  waiting: Record<string, number>;
  /** Active workflows that have no definition (nothing can run them). */
  undefinedWorkflows: string[];
}

export interface PlanOptions {
  ignoreLocks?: boolean;
  /** Cap on units submitted per workflow in one pass. */
  maxSubmitPerWorkflow?: number;
}

/** Latest job (highest attempt) per workflow × run. */
export function latestJobs(jobs: Iterable<JobRecord>): Map<string, JobRecord> {
  const out = new Map<string, JobRecord>();
  for (const j of jobs) {
    for (const run of j.runs) {
      const k = stateKey(run, j.workflow);
      const cur = out.get(k);
      if (!cur || j.attempt > cur.attempt || (j.attempt === cur.attempt && j.time > cur.time)) out.set(k, j);
    }
  }
  return out;
}

/** Only pairs in these statuses are planned: done and failed ones wait for a reprocess (a new point). */
const PLANNED: readonly RunStatus[] = ['new', 'reprocess', 'processing'];

export function planPass(
  c: Campaign,
  states: ReadonlyMap<string, RunState>,
  registered: ReadonlyMap<number, RegisteredRun>,
  jobs: ReadonlyMap<string, JobRecord>,
  locks: readonly LockRecord[],
  opts: PlanOptions = {},
): PassPlan {
  const plan: PassPlan = { finalize: [], failedForGood: [], submit: [], waiting: {}, undefinedWorkflows: [] };
  const wait = (why: string, n = 1): void => {
    plan.waiting[why] = (plan.waiting[why] ?? 0) + n;
  };
  const active = new Set(activeWorkflows(c));
  // every defined workflow is walked so that jobs still in flight for an inactive one (deactivate,
  // rtype-update --remove) are finalised; only active workflows retry and submit
  const specs = topoOrder(c.workflows);
  plan.undefinedWorkflows = [...active].filter((w) => !c.workflows.some((s) => s.name === w));
  const byRun = new Map<string, RunState[]>();
  for (const s of statesWithStatus(states, PLANNED)) {
    let l = byRun.get(s.workflow);
    if (!l) byRun.set(s.workflow, (l = []));
    l.push(s);
  }
  const latest = latestJobs(jobs.values());
  // statuses as they will be after this plan's finalisation (dependants see fresh "done")
  // an overlay over the states, not a copy of them (the states may be a compact StateTable)
  const overlay = new Map<string, RunState>();
  const effective = {
    get: (k: string): RunState | undefined => overlay.get(k) ?? states.get(k),
    set: (k: string, s: RunState): void => void overlay.set(k, s),
  };
  const setEffective = (ch: RunStateChange, prev: RunState): void => {
    effective.set(stateKey(ch.run, ch.workflow), {
      ...prev,
      status: ch.status,
      outputs: [...(ch.outputs ?? prev.outputs)],
    });
  };
  /** The parent pairs of runs for a workflow's dependencies, as they will be after this plan's finalisation. */
  const sourcesOf = (spec: WorkflowSpec, runs: readonly number[]): InputSource[] => {
    const out: InputSource[] = [];
    for (const d of spec.dependsOn)
      for (const r of runs) {
        const ds = effective.get(stateKey(r, d));
        if (ds) out.push({ workflow: d, run: r, attempt: ds.attempt, outputs: ds.outputs });
      }
    return out;
  };

  for (const spec of specs) {
    const isActive = active.has(spec.name);
    const list = (byRun.get(spec.name) ?? []).sort((a, b) => a.run - b.run);
    const retry = new Map<string, { job: JobRecord; states: RunState[]; decision: RetryDecision }>();
    const ready: RunState[] = [];
    for (const s0 of list) {
      const job = latest.get(stateKey(s0.run, spec.name));
      let s = s0;
      if (
        job &&
        job.attempt > s.attempt &&
        (s.status === 'new' || s.status === 'reprocess' || s.status === 'processing')
      ) {
        // the job's intent reached the database but the run's "processing" point did not (for a retry, the
        // run still shows the previous attempt): repair it, so the job is followed under its own attempt
        // (its provenance is rebuilt from the parents as they are, as its inputs are when it is resubmitted)
        const inputsFrom =
          spec.dependsOn.length > 0
            ? encodeProvenance({ unit: job.unit, from: sourcesOf(spec, [s.run]) })
            : undefined;
        s = { ...s, status: 'processing', attempt: job.attempt, tries: s.tries + 1, inputsFrom };
        plan.finalize.push({
          run: s.run,
          workflow: spec.name,
          status: 'processing',
          attempt: s.attempt,
          tries: s.tries,
          reason: 'repaired',
          ...(inputsFrom !== undefined ? { inputsFrom } : {}),
        });
        effective.set(stateKey(s.run, spec.name), s);
      }
      if (s.status === 'processing') {
        if (!job || job.attempt < s.attempt) {
          // the run says processing but its job's intent never reached the database: submit again
          ready.push(s);
          continue;
        }
        if (job.status === 'idle' || job.status === 'running') continue;
        if (job.status === 'done') {
          const ch: RunStateChange = {
            run: s.run,
            workflow: spec.name,
            status: 'done',
            attempt: s.attempt,
            tries: s.tries,
            outputs: job.outputs,
            // what the result was made from, recorded when its unit was submitted
            ...(s.inputsFrom ? { inputsFrom: s.inputsFrom } : {}),
          };
          plan.finalize.push(ch);
          setEffective(ch, s);
          continue;
        }
        // failed: retried by its failure class (docs/retry-policy.md), or failed for good
        const decision = decideRetry(spec, job, s.tries);
        if (decision.retry) {
          const r = retry.get(job.unit) ?? { job, states: [], decision };
          r.states.push(s);
          retry.set(job.unit, r);
        } else {
          // the class where it tells more than the reason (an exit code already says app)
          const c = job.failureClass;
          const cls = c === 'oom' || c === 'timeout' || c === 'node' ? ` (${c})` : '';
          const reason = `attempt ${job.attempt} failed${cls}${job.reason ? `: ${job.reason}` : ''} (${s.tries} tries, max_retries ${spec.maxRetries})`;
          const ch: RunStateChange = {
            run: s.run,
            workflow: spec.name,
            status: 'failed',
            attempt: s.attempt,
            tries: s.tries,
            reason,
          };
          plan.finalize.push(ch);
          setEffective(ch, s);
          plan.failedForGood.push({ run: s.run, workflow: spec.name, reason, job: job.name });
        }
        continue;
      }
      if (s.status === 'new' || s.status === 'reprocess') ready.push(s);
    }

    const depsDone = (run: number): string | undefined => {
      for (const d of spec.dependsOn) {
        const ds = effective.get(stateKey(run, d));
        if (!ds || ds.status !== 'done') return d;
      }
      return undefined;
    };
    const inputsOf = (sources: readonly InputSource[]): Record<string, string[]> => {
      const out: Record<string, string[]> = {};
      for (const d of spec.dependsOn) out[d] = [];
      for (const s of sources) out[s.workflow]?.push(...s.outputs);
      return out;
    };
    const unitOf = (runs: RunState[], label: string): UnitPlan => {
      const nums = runs.map((r) => r.run);
      const first = nums[0] ?? 0;
      const last = nums[nums.length - 1] ?? first;
      const attempt = runs.reduce((m, r) => Math.max(m, r.attempt), 0) + 1;
      const tries = runs.reduce((m, r) => Math.max(m, r.status === 'processing' ? r.tries : 0), 0) + 1;
      const info = registered.get(first);
      const sources = sourcesOf(spec, nums);
      return {
        workflow: spec,
        // the label (an era) becomes part of job names and paths: keep it to safe characters
        unit:
          spec.granularity.kind === 'run'
            ? `r${first}`
            : `g${label.replace(/[^A-Za-z0-9_.]/g, '_')}-${first}-${last}`,
        runs: nums,
        attempt,
        tries,
        inputs: inputsOf(sources),
        sources,
        era: info?.era ?? '',
        fill: info?.fill ?? 0,
      };
    };

    if (!isActive) {
      // nothing is retried or submitted for an inactive workflow; its runs wait for reactivation
      const n = [...retry.values()].reduce((k, r) => k + r.states.length, 0);
      if (n > 0) wait(`${spec.name}: inactive, retry waits for reactivation`, n);
      continue;
    }
    const heldBy = (run: number): LockRecord | undefined =>
      opts.ignoreLocks ? undefined : lockHolds(locks, spec.name, run);

    const eligible: RunState[] = [];
    for (const s of ready) {
      const lock = heldBy(s.run);
      if (lock) {
        wait(`${spec.name}: held by lock from run ${lock.fromRun}`);
        continue;
      }
      const d = depsDone(s.run);
      if (d) {
        wait(`${spec.name}: waiting for ${d}`);
        continue;
      }
      eligible.push(s);
    }

    const units: UnitPlan[] = [];
    for (const { job, states: ss, decision } of retry.values()) {
      // a lock holds retries too (the unit is retried once every run of it is free)
      const lock = ss.map((s) => heldBy(s.run)).find((l) => l !== undefined);
      if (lock) {
        wait(`${spec.name}: held by lock from run ${lock.fromRun}`, ss.length);
        continue;
      }
      const u = unitOf(ss, job.unit.replace(/^g([^-]*)-.*$/, '$1'));
      u.unit = job.unit;
      u.retryOf = job.name;
      withRetry(u, decision);
      units.push(u);
    }
    if (spec.granularity.kind === 'run') {
      for (const s of eligible) units.push(unitOf([s], ''));
    } else if (spec.granularity.kind === 'era') {
      const byEra = new Map<string, RunState[]>();
      for (const s of eligible) {
        const era = registered.get(s.run)?.era ?? 'unknown';
        let l = byEra.get(era);
        if (!l) byEra.set(era, (l = []));
        l.push(s);
      }
      for (const [era, ss] of byEra) {
        // the era is complete for this workflow when none of its runs is still waiting (as of this plan:
        // a run repaired to processing above is not waiting any more)
        const inUnit = new Set(ss.map((s) => s.run));
        const blocked = list.some((s0) => {
          const st = effective.get(stateKey(s0.run, spec.name))?.status ?? s0.status;
          return (
            (registered.get(s0.run)?.era ?? 'unknown') === era &&
            (st === 'new' || st === 'reprocess') &&
            !inUnit.has(s0.run)
          );
        });
        if (blocked) {
          wait(`${spec.name}: era ${era} not complete`, ss.length);
          continue;
        }
        units.push(unitOf(ss, era));
      }
    } else {
      const n = spec.granularity.n;
      for (let i = 0; i + n <= eligible.length; i += n) units.push(unitOf(eligible.slice(i, i + n), `n${n}`));
      const rest = eligible.length % n;
      if (rest > 0) wait(`${spec.name}: group of ${n} not full`, rest);
    }
    const cap = opts.maxSubmitPerWorkflow ?? Infinity;
    if (units.length > cap) wait(`${spec.name}: submit cap`, units.length - cap);
    plan.submit.push(...units.slice(0, cap));
  }
  return plan;
}
