/**
 * Why a run × workflow is not done (pure): the same rules the pass planner applies (src/domain/planner.ts),
 * turned into one explanation per workflow of a run. No IO.
 */
import { activeWorkflows, activityOf, type Campaign } from './campaign.js';
import { isInFlight, lockHolds, type JobRecord, type LockRecord } from './jobs.js';
import { blockedPairs, type BlockCause, type Blocked } from './blocked.js';
import { dependencyOrder } from './order.js';
import { latestJobs } from './planner.js';
import { asksText } from './resources-text.js';
import { decideRetry } from './retry.js';
import { stateKey, type RegisteredRun, type RunState } from './state.js';
import { forEachStatus, statesWithStatus, statusAt } from './state-table.js';
import { decodeProvenance, describeProvenance, type Provenance } from './provenance.js';
import { staleResults, type StaleInfo } from './stale.js';
import { type RunStatus } from './status.js';
import type { WorkflowSpec } from './workflow.js';

export const WHY_KINDS = [
  'done',
  'stale',
  'in-flight',
  'held',
  'unknown',
  'finalising',
  'retry-pending',
  'resubmit',
  'retries-exhausted',
  'deactivated',
  'inactive-workflow',
  'undefined-workflow',
  'not-selected',
  'lock',
  'dependency',
  'era-incomplete',
  'group-incomplete',
  'in-flight-limit',
  'ready',
] as const;
export type WhyKind = (typeof WHY_KINDS)[number];

export interface WhyAnswer {
  workflow: string;
  status: RunStatus | null;
  kind: WhyKind;
  /** One line for a person. */
  text: string;
  /** The lock, dependency, job or runs the answer is about. */
  lock?: LockRecord;
  dependency?: { workflow: string; status: RunStatus | null };
  job?: Pick<
    JobRecord,
    'name' | 'status' | 'backend' | 'nativeId' | 'failureClass' | 'memoryMb' | 'walltimeMin'
  >;
  waitingFor?: number[];
  /** What the pair's current result or attempt was made from (recorded when its unit was submitted). */
  madeFrom?: Provenance;
  /** A done pair whose inputs changed since (kind 'stale'). */
  stale?: StaleInfo;
  /** Set when the pair is blocked (src/domain/blocked.ts): it cannot get done as things stand. */
  blocked?: BlockCause;
}

export interface WhyInput {
  campaign: Campaign;
  states: ReadonlyMap<string, RunState>;
  registered: ReadonlyMap<number, RegisteredRun>;
  jobs: ReadonlyMap<string, JobRecord>;
  locks: readonly LockRecord[];
  /** The loop's --max-in-flight, when known, with the jobs in flight per backend. */
  maxInFlight?: number;
}

export interface WhyResult {
  campaign: string;
  run: number;
  era: string;
  rtypes: string[];
  answers: WhyAnswer[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Explains every workflow of one run (or only `workflow`). */
export function explainRun(all: WhyInput, run: number, workflow?: string): WhyResult {
  const c = all.campaign;
  // a lock holds the workflow of its own campaign only
  const input = { ...all, locks: all.locks.filter((l) => l.campaign === c.name) };
  const info = input.registered.get(run);
  const names = new Set<string>([...activeWorkflows(c), ...c.workflows.map((w) => w.name)]);
  forEachStatus(input.states, (w, r) => {
    if (r === run) names.add(w);
  });
  const wanted = workflow === undefined ? dependencyOrder(names, c.workflows) : [workflow];
  const latest = latestJobs([...input.jobs.values()].filter((j) => j.runs.includes(run)));
  const stale = staleResults(c, input.states, new Set(wanted));
  const blocked = blockedPairs(input);
  return {
    campaign: c.name,
    run,
    era: info?.era ?? '',
    rtypes: info?.rtypes ?? [],
    answers: wanted.map((w) => {
      const k = stateKey(run, w);
      const a = explainOne(input, blocked, run, w, latest.get(k), stale.get(k));
      const made = decodeProvenance(input.states.get(k)?.inputsFrom);
      return made ? { ...a, madeFrom: made } : a;
    }),
  };
}

function explainOne(
  input: WhyInput,
  blocked: Blocked,
  run: number,
  workflow: string,
  job: JobRecord | undefined,
  stale: StaleInfo | undefined,
): WhyAnswer {
  const s = input.states.get(stateKey(run, workflow));
  const status = s?.status ?? null;
  const base = { workflow, status };
  if (!s) return { ...base, ...notSelected(input, run, workflow) };
  if (s.status === 'done' && stale)
    return { ...base, kind: 'stale', text: `done, but stale: ${stale.text}`, stale };
  if (s.status === 'done') {
    const made = decodeProvenance(s.inputsFrom);
    return {
      ...base,
      kind: 'done',
      text: made && made.from.length > 0 ? `done (${describeProvenance(made)})` : 'done',
    };
  }
  if (s.status === 'failed') {
    return {
      ...base,
      kind: 'retries-exhausted',
      text: `failed for good: ${s.reason || 'no reason recorded'} (reprocess to try again)`,
    };
  }
  const spec = input.campaign.workflows.find((w) => w.name === workflow);
  if (s.status === 'processing' || (job && job.attempt > s.attempt))
    return { ...base, ...inFlight(s, job, spec) };
  const part = pending(input, s, spec);
  const b = blocked.get(stateKey(run, workflow));
  return b ? { ...base, ...part, text: `blocked: ${b.text}`, blocked: b } : { ...base, ...part };
}

type Part = Omit<WhyAnswer, 'workflow' | 'status'>;

function jobRef(j: JobRecord): NonNullable<WhyAnswer['job']> {
  return {
    name: j.name,
    status: j.status,
    backend: j.backend,
    nativeId: j.nativeId,
    ...(j.failureClass !== undefined ? { failureClass: j.failureClass } : {}),
    ...(j.memoryMb !== undefined ? { memoryMb: j.memoryMb } : {}),
    ...(j.walltimeMin !== undefined ? { walltimeMin: j.walltimeMin } : {}),
  };
}

function notSelected(input: WhyInput, run: number, workflow: string): Part {
  const info = input.registered.get(run);
  if (!info)
    return { kind: 'not-selected', text: `run ${run} is not registered in the campaign (inject it)` };
  const types = input.campaign.rtypes.filter((t) => info.rtypes.includes(t.name));
  const having = types.filter((t) => t.workflows.includes(workflow)).map((t) => t.name);
  const text =
    having.length > 0
      ? `no status yet although run type ${having.join(', ')} selects it: inject the run again`
      : `no active run type selects run ${run} for ${workflow} (its run types: ${info.rtypes.join(', ') || 'none'})`;
  return { kind: 'not-selected', text };
}

function inFlight(s: RunState, job: JobRecord | undefined, spec: WorkflowSpec | undefined): Part {
  if (!job || job.attempt < s.attempt)
    return { kind: 'resubmit', text: `attempt ${s.attempt} has no recorded job: submitted again next pass` };
  const ref = { job: jobRef(job) };
  const on = `${job.name} on ${job.backend}${job.nativeId ? ` (${job.nativeId})` : ''}`;
  if (isInFlight(job)) {
    if (job.heldSince > 0)
      return { kind: 'held', text: `job ${on} held since ${iso(job.heldSince)}: ${job.reason}`, ...ref };
    if (job.unknownSince > 0)
      return {
        kind: 'unknown',
        text: `job ${on}: no source knows it since ${iso(job.unknownSince)}`,
        ...ref,
      };
    const since = job.submittedAt > 0 ? ` since ${iso(job.submittedAt)}` : '';
    const asks = asksText(job);
    return {
      kind: 'in-flight',
      text: `job ${on} is ${job.status}${since}${asks ? ` (asks ${asks})` : ''}`,
      ...ref,
    };
  }
  if (job.status === 'done')
    return { kind: 'finalising', text: `job ${on} is done: recorded next pass`, ...ref };
  const max = spec?.maxRetries ?? 0;
  const d = decideRetry(spec ?? { resources: {}, maxRetries: max }, job, s.tries);
  const why = `${job.failureClass && job.failureClass !== 'unknown' ? `${job.failureClass}: ` : ''}${job.reason || 'no reason'}`;
  if (d.retry) {
    // e.g. "attempt 2 ran out of memory at 500 MB: attempt 3 asks 1000 MB (try 3 of 4); …"
    return { kind: 'retry-pending', text: `${d.text}; retried next pass (${why})`, ...ref };
  }
  return {
    kind: 'retries-exhausted',
    text: `attempt ${job.attempt} failed (${why}) with ${s.tries} tries, max_retries ${max}: failed next pass`,
    ...ref,
  };
}

function pending(input: WhyInput, s: RunState, spec: WorkflowSpec | undefined): Part {
  const c = input.campaign;
  if (activityOf(c) === 'deactivated')
    return { kind: 'deactivated', text: `campaign ${c.name} is deactivated (reactivate it)` };
  if (!activeWorkflows(c).includes(s.workflow))
    return { kind: 'inactive-workflow', text: `workflow ${s.workflow} is not active in any run type` };
  if (!spec)
    return { kind: 'undefined-workflow', text: `workflow ${s.workflow} has no definition (apply one)` };
  const lock = lockHolds(input.locks, s.workflow, s.run);
  if (lock) {
    return {
      kind: 'lock',
      text: `held by a lock from run ${lock.fromRun} by ${lock.by} since ${iso(lock.time)}: ${lock.reason}`,
      lock,
    };
  }
  for (const d of spec.dependsOn) {
    const ds = input.states.get(stateKey(s.run, d))?.status ?? null;
    if (ds !== 'done')
      return {
        kind: 'dependency',
        text: `waiting for ${d} (${ds ?? 'no status'})`,
        dependency: { workflow: d, status: ds },
      };
  }
  return (
    grouping(input, s, spec) ?? limit(input, spec) ?? { kind: 'ready', text: 'ready: submitted next pass' }
  );
}

/** Runs of the same workflow still waiting (new/reprocess) that share the run's era. */
function grouping(input: WhyInput, s: RunState, spec: WorkflowSpec): Part | undefined {
  const g = spec.granularity;
  if (g.kind === 'run') return undefined;
  const eraOf = (run: number): string => input.registered.get(run)?.era ?? 'unknown';
  const peers = [...statesWithStatus(input.states, ['new', 'reprocess'])].filter(
    (p) => p.workflow === s.workflow,
  );
  if (g.kind === 'era') {
    const era = eraOf(s.run);
    const blocking = peers
      .filter((p) => eraOf(p.run) === era && !readyToGroup(input, p, spec))
      .map((p) => p.run);
    if (blocking.length === 0) return undefined;
    return {
      kind: 'era-incomplete',
      text: `waiting for the rest of era ${era}: ${blocking.length} run(s) not ready (${blocking.slice(0, 5).join(', ')}${blocking.length > 5 ? ', …' : ''})`,
      waitingFor: blocking.sort((a, b) => a - b),
    };
  }
  const ready = peers
    .filter((p) => readyToGroup(input, p, spec))
    .map((p) => p.run)
    .sort((a, b) => a - b);
  // the planner cuts the ready runs, in run order, into groups of n: the last ready.length % n wait
  const rest = ready.length % g.n;
  if (rest === 0 || ready.indexOf(s.run) < ready.length - rest) return undefined;
  return {
    kind: 'group-incomplete',
    text: `waiting for a group of ${g.n}: ${rest} ready, ${g.n - rest} more needed`,
  };
}

function readyToGroup(input: WhyInput, p: RunState, spec: WorkflowSpec): boolean {
  if (lockHolds(input.locks, p.workflow, p.run)) return false;
  return spec.dependsOn.every((d) => statusAt(input.states, stateKey(p.run, d)) === 'done');
}

function limit(input: WhyInput, spec: WorkflowSpec): Part | undefined {
  if (input.maxInFlight === undefined) return undefined;
  let n = 0;
  for (const j of input.jobs.values()) if (j.backend === spec.backend && isInFlight(j)) n++;
  if (n < input.maxInFlight) return undefined;
  return {
    kind: 'in-flight-limit',
    text: `in-flight limit reached on ${spec.backend}: ${n} jobs in flight, --max-in-flight ${input.maxInFlight}`,
  };
}
