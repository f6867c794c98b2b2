/**
 * The InfluxDB schema of runctrl (documented in README.md, "InfluxDB schema").
 *
 * Every measurement carries the campaign as a tag, so campaigns share one database. Points are
 * append-only: the current state of an entity is its last point; history is kept. Series are kept
 * coarse (campaign, workflow) so that "what changed since T" touches a handful of series; the entity
 * (run number, job) is a field, and its key is the sub-millisecond part of the timestamp
 * (see lineproto.ts), so two entities never overwrite each other.
 *
 * | measurement | tags               | fields                                                                      |
 * |-------------|--------------------|-----------------------------------------------------------------------------|
 * | campaign    | campaign           | description, created (ms), deleted, priority                                |
 * | rtype       | campaign, rtype    | filter (JSON), workflows, suspended (comma lists), deleted                   |
 * | workflow    | campaign, workflow | spec (JSON), deleted                                                        |
 * | runinfo     | campaign           | run, fill, era, start, end, global, stable_beams, run_class, lumi_*, …, rtypes |
 * | run         | campaign, workflow | run, status, attempt, tries, output_list, reason, inputs_from               |
 * | job         | campaign, workflow | job (name), unit, run, runs, attempt, idle/running/done/failed (one-hot),   |
 * |             |                    | backend, native_id, stdout, stderr, exit_code, output_list, reason, …       |
 * |             |                    | failure_class, memory_mb, walltime_min, node_retries (docs/retry-policy.md)  |
 *
 * `output_list` is a JSON array of strings (an output may hold commas and spaces); points written before it
 * carry `outputs`, a comma list, which is still read when `output_list` is absent. `inputs_from` is the
 * provenance of a pair (src/domain/provenance.ts), empty when none was recorded.
 * | lock        | campaign, workflow | from_run, reason, locked, by                                                |
 * | lease       | scope              | owner, expires (ms; 0 = released); stamped by the server (see Lease)        |
 * | loop        | host, slot         | heartbeat: loop (owner), pid, version, mode, campaigns, pass_start/_end, …  |
 * | prune       | campaign           | cutoff (ms), keep — retention's marker (store/retention.ts)                  |
 */
import { parseFilter } from '../domain/filter.js';
import type { RunFilter } from '../domain/filter.js';
import type { RunInfo } from '../domain/run.js';
import type { JobRecord, LeasePoint, LockRecord } from '../domain/jobs.js';
import type { Heartbeat, InFlightInfo, LoopMode, PassOutcome } from '../domain/loop-health.js';
import { isFailureClass } from '../domain/retry.js';
import type { RegisteredRun, RunState, RunStateChange } from '../domain/state.js';
import { isJobStatus, isRunStatus, JOB_STATUSES, RUN_STATUSES } from '../domain/status.js';
import type { WorkflowSpec } from '../domain/workflow.js';
import { decodeOutputList, encodeOutputList } from '../domain/outputs.js';
import { int, type PointSpec } from './lineproto.js';
import { decoder, f, fail, type Row } from './malformed.js';

export const M = {
  campaign: 'campaign',
  rtype: 'rtype',
  workflow: 'workflow',
  runinfo: 'runinfo',
  run: 'run',
  job: 'job',
  lock: 'lock',
  lease: 'lease',
  loop: 'loop',
} as const;

export type { Row };

/*
 * Decoders: one per measurement, each returning the typed value or Malformed (src/store/malformed.ts), never
 * throwing. A missing field takes its default (older points lack newer fields); a field of another type, an
 * unknown status or a missing key makes the point malformed.
 */

// campaign ---------------------------------------------------------------------------------------

export function campaignPoint(
  campaign: string,
  description: string,
  createdMs: number,
  deleted = false,
  priority = 0,
): PointSpec {
  return {
    measurement: M.campaign,
    tags: { campaign },
    fields: { description, created: int(createdMs), deleted, priority: int(priority) },
    key: 0,
  };
}

export interface CampaignRow {
  name: string;
  description: string;
  createdAt: number;
  deleted: boolean;
  priority: number;
}

export const decodeCampaign = decoder((r): CampaignRow => ({
  name: f.need(r, 'campaign'),
  description: f.str(r, 'description'),
  createdAt: f.int(r, 'created', 0),
  priority: f.num(r, 'priority', 0),
  deleted: f.bool(r, 'deleted'),
}));

// rtype ------------------------------------------------------------------------------------------

export function rtypePoint(
  campaign: string,
  rtype: string,
  filter: RunFilter,
  workflows: readonly string[],
  suspended: readonly string[],
  deleted = false,
): PointSpec {
  return {
    measurement: M.rtype,
    tags: { campaign, rtype },
    fields: {
      filter: JSON.stringify(filter),
      workflows: workflows.join(','),
      suspended: suspended.join(','),
      deleted,
    },
    key: 0,
  };
}

export interface RtypeRow {
  campaign: string;
  name: string;
  filter: RunFilter;
  workflows: string[];
  suspended: string[];
  deleted: boolean;
}

export const decodeRtype = decoder((r): RtypeRow => {
  const name = f.need(r, 'rtype');
  return {
    campaign: f.need(r, 'campaign'),
    name,
    filter: parseFilter(f.json(r, 'filter', {}), `stored run type ${name}`),
    workflows: f.list(r, 'workflows'),
    suspended: f.list(r, 'suspended'),
    deleted: f.bool(r, 'deleted'),
  };
});

// workflow ---------------------------------------------------------------------------------------

export function workflowPoint(campaign: string, spec: WorkflowSpec, deleted = false): PointSpec {
  return {
    measurement: M.workflow,
    tags: { campaign, workflow: spec.name },
    fields: { spec: JSON.stringify(spec), deleted },
    key: 0,
  };
}

export interface WorkflowRow {
  campaign: string;
  spec: WorkflowSpec;
  deleted: boolean;
}

export const decodeWorkflow = decoder((r): WorkflowRow => {
  const name = f.need(r, 'workflow');
  const deleted = f.bool(r, 'deleted');
  const spec = f.json(r, 'spec', deleted ? { name } : undefined);
  const ok =
    typeof spec === 'object' && spec !== null && !Array.isArray(spec) && Reflect.get(spec, 'name') === name;
  if (!ok) fail(`field spec is not the definition of workflow '${name}'`);
  return { campaign: f.need(r, 'campaign'), spec: spec as WorkflowSpec, deleted };
});

// runinfo ----------------------------------------------------------------------------------------

export function runInfoPoint(campaign: string, r: RunInfo, rtypes: readonly string[]): PointSpec {
  return {
    measurement: M.runinfo,
    tags: { campaign },
    fields: {
      run: int(r.run),
      fill: int(r.fill),
      era: r.era,
      start: int(r.startTime),
      end: int(r.endTime ?? 0),
      global: r.global,
      stable_beams: r.stableBeams,
      run_class: r.runClass,
      lumi_delivered: r.deliveredLumi,
      lumi_recorded: r.recordedLumi,
      beam_energy: r.beamEnergy,
      magnet_current: r.magnetCurrent,
      quality: JSON.stringify(r.quality),
      rtypes: rtypes.join(','),
    },
    key: r.run,
  };
}

const isQuality = (q: unknown): q is Record<string, boolean> =>
  typeof q === 'object' &&
  q !== null &&
  !Array.isArray(q) &&
  Object.values(q).every((v) => typeof v === 'boolean');

export const decodeRunInfo = decoder((r): RegisteredRun => {
  const end = f.int(r, 'end', 0);
  const quality = f.json(r, 'quality', {});
  if (!isQuality(quality)) fail('field quality is not an object of booleans');
  return {
    run: f.run(r, 'run'),
    fill: f.int(r, 'fill', 0),
    era: f.str(r, 'era'),
    startTime: f.int(r, 'start', 0),
    endTime: end === 0 ? null : end,
    global: f.bool(r, 'global'),
    stableBeams: f.bool(r, 'stable_beams'),
    runClass: f.str(r, 'run_class'),
    deliveredLumi: f.num(r, 'lumi_delivered', 0),
    recordedLumi: f.num(r, 'lumi_recorded', 0),
    beamEnergy: f.num(r, 'beam_energy', 0),
    magnetCurrent: f.num(r, 'magnet_current', 0),
    quality,
    rtypes: f.list(r, 'rtypes'),
  };
});

// run × workflow status --------------------------------------------------------------------------

export function runStatePoint(campaign: string, s: RunStateChange): PointSpec {
  return {
    measurement: M.run,
    tags: { campaign, workflow: s.workflow },
    fields: {
      run: int(s.run),
      status: s.status,
      attempt: int(s.attempt ?? 0),
      tries: int(s.tries ?? 0),
      output_list: encodeOutputList(s.outputs ?? []),
      reason: s.reason ?? '',
      inputs_from: s.inputsFrom ?? '',
    },
    key: s.run,
  };
}

export const decodeRunState = decoder((r): RunState => {
  const status = f.str(r, 'status');
  if (!isRunStatus(status)) fail(`unknown run status '${status.slice(0, 60)}'`);
  return {
    run: f.run(r, 'run'),
    workflow: f.need(r, 'workflow'),
    // the shared literal, not the parsed copy: 10⁵–10⁶ states are held in memory
    status: RUN_STATUSES[RUN_STATUSES.indexOf(status)] ?? status,
    attempt: f.int(r, 'attempt', 0),
    tries: f.int(r, 'tries', 0),
    outputs: outputsOf(r),
    reason: f.str(r, 'reason'),
    ...(f.str(r, 'inputs_from') ? { inputsFrom: f.str(r, 'inputs_from') } : {}),
    time: f.num(r, 'time', 0),
  };
});

/** The outputs of a run or job point (the JSON array, or the comma list of points written before it). */
function outputsOf(r: Row): string[] {
  return decodeOutputList(r.output_list, r.outputs) ?? fail('field output_list is not a list of outputs');
}

export { stateKey } from '../domain/state.js';
export type { RegisteredRun, RunState, RunStateChange } from '../domain/state.js';

// job --------------------------------------------------------------------------------------------

/** The field that marks a job point the job wrote itself. */
export const SELF_REPORT = 'self_report';

/** A job's own report (`runctrl job …`): its point, marked so that a pass can read just these (poll.ts). */
export function selfReportedJobPoint(j: JobRecord): PointSpec {
  const p = jobPoint(j);
  return { ...p, fields: { ...p.fields, [SELF_REPORT]: true } };
}

export function jobPoint(j: JobRecord): PointSpec {
  const fields: PointSpec['fields'] = {
    job: j.name,
    unit: j.unit,
    run: int(j.runs[0] ?? 0),
    runs: j.runs.join(','),
    attempt: int(j.attempt),
    backend: j.backend,
    native_id: j.nativeId,
    stdout: j.stdout,
    stderr: j.stderr,
    exit_code_file: j.exitCodeFile,
    output_file: j.outputFile,
    exit_code: int(j.exitCode ?? -1),
    output_list: encodeOutputList(j.outputs),
    reason: j.reason,
    submitted: int(j.submittedAt),
    unknown_since: int(j.unknownSince),
    held_since: int(j.heldSince),
    ...jobRetryFields(j),
  };
  for (const st of JOB_STATUSES) fields[st] = j.status === st;
  return {
    measurement: M.job,
    tags: { campaign: j.campaign, workflow: j.workflow },
    fields,
    key: j.runs[0] ?? 0,
  };
}

export const decodeJob = decoder((r): JobRecord => {
  const on = JOB_STATUSES.filter((st) => f.bool(r, st));
  const status = on[0];
  if (on.length !== 1 || status === undefined || !isJobStatus(status))
    fail(`job status is not one-hot (${on.join(',') || 'no status'})`);
  const ec = f.int(r, 'exit_code', -1);
  return {
    campaign: f.need(r, 'campaign'),
    workflow: f.need(r, 'workflow'),
    name: f.need(r, 'job'),
    unit: f.str(r, 'unit'),
    runs: f.runs(r, 'runs'),
    attempt: f.int(r, 'attempt', 0),
    status,
    backend: f.str(r, 'backend'),
    nativeId: f.str(r, 'native_id'),
    stdout: f.str(r, 'stdout'),
    stderr: f.str(r, 'stderr'),
    exitCodeFile: f.str(r, 'exit_code_file'),
    outputFile: f.str(r, 'output_file'),
    exitCode: ec < 0 ? null : ec,
    outputs: outputsOf(r),
    reason: f.str(r, 'reason'),
    submittedAt: f.int(r, 'submitted', 0),
    unknownSince: f.int(r, 'unknown_since', 0),
    heldSince: f.int(r, 'held_since', 0),
    time: f.num(r, 'time', 0),
    ...decodeJobRetry(r, status),
  };
});

/** The failure class and the attempt's resources as job fields (absent ones are not written). */
function jobRetryFields(j: JobRecord): PointSpec['fields'] {
  const f: PointSpec['fields'] = {};
  if (j.failureClass !== undefined) f.failure_class = j.failureClass;
  if (j.memoryMb !== undefined) f.memory_mb = j.memoryMb;
  if (j.walltimeMin !== undefined) f.walltime_min = j.walltimeMin;
  if (j.nodeRetries) f.node_retries = int(j.nodeRetries);
  return f;
}

/** The same fields read back: a failed point without a (readable) class is of class `unknown`. */
function decodeJobRetry(
  r: Row,
  status: JobRecord['status'],
): Pick<JobRecord, 'failureClass' | 'memoryMb' | 'walltimeMin' | 'nodeRetries'> {
  const out: Pick<JobRecord, 'failureClass' | 'memoryMb' | 'walltimeMin' | 'nodeRetries'> = {};
  // lenient on purpose: an unreadable class is `unknown`, not a malformed point
  const raw = r.failure_class;
  const cls = typeof raw === 'string' ? raw : '';
  if (status === 'failed') out.failureClass = isFailureClass(cls) ? cls : 'unknown';
  const pos = (k: string): number | undefined => {
    const v = r[k];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const mem = pos('memory_mb');
  const wall = pos('walltime_min');
  const nodes = pos('node_retries');
  if (mem !== undefined) out.memoryMb = mem;
  if (wall !== undefined) out.walltimeMin = wall;
  if (nodes !== undefined) out.nodeRetries = nodes;
  return out;
}

// lock -------------------------------------------------------------------------------------------

export function lockPoint(l: Omit<LockRecord, 'time'>): PointSpec {
  return {
    measurement: M.lock,
    tags: { campaign: l.campaign, workflow: l.workflow },
    fields: { from_run: int(l.fromRun), reason: l.reason, locked: l.locked, by: l.by },
    key: 0,
  };
}

export const decodeLock = decoder((r): LockRecord => ({
  campaign: f.need(r, 'campaign'),
  workflow: f.need(r, 'workflow'),
  fromRun: f.int(r, 'from_run', 0),
  reason: f.str(r, 'reason'),
  locked: f.bool(r, 'locked'),
  by: f.str(r, 'by'),
  time: f.num(r, 'time', 0),
}));

// lease ------------------------------------------------------------------------------------------

export function leasePoint(scope: string, owner: string, expires: number): PointSpec {
  return { measurement: M.lease, tags: { scope }, fields: { owner, expires: int(expires) }, key: 0 };
}

export const decodeLease = decoder((r): LeasePoint => ({
  owner: f.need(r, 'owner'),
  expires: f.int(r, 'expires', 0),
  time: f.num(r, 'time', 0),
}));

// loop (heartbeat) -------------------------------------------------------------------------------

export function heartbeatPoint(h: Omit<Heartbeat, 'time'>): PointSpec {
  return {
    measurement: M.loop,
    // one series per host and slot (mode and campaigns), not per process: restarts and cron runs of
    // --once do not grow the number of series; the loop (lease owner) is a field
    tags: { host: h.host || 'unknown', slot: h.slot || 'default' },
    fields: {
      loop: h.loop,
      host: h.host,
      pid: int(h.pid),
      version: h.version,
      mode: h.mode,
      started: int(h.started),
      campaigns: h.campaigns.join(','),
      skipped: h.skipped.join(','),
      pass_start: int(h.passStart),
      pass_end: int(h.passEnd),
      outcome: h.outcome,
      error: h.error,
      interval: int(h.intervalMs),
      lease_ttl: int(h.leaseTtlMs),
      in_flight: JSON.stringify(h.inFlight),
    },
    key: 0,
  };
}

const MODES: readonly string[] = ['daemon', 'once', 'until-done'] satisfies LoopMode[];
const OUTCOMES: readonly string[] = ['ok', 'error', 'stopped'] satisfies PassOutcome[];

/** The in-flight map of a heartbeat; a malformed one (hand-written point) reads as empty. */
function decodeInFlight(text: string): Record<string, InFlightInfo> {
  const out: Record<string, InFlightInfo> = {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const o = x as { count?: unknown; oldestSubmittedAt?: unknown } | null;
    if (typeof o?.count === 'number' && typeof o.oldestSubmittedAt === 'number')
      out[k] = { count: o.count, oldestSubmittedAt: o.oldestSubmittedAt };
  }
  return out;
}

// lenient on purpose: a heartbeat is informative, a hand-written one reads with defaults
const str = (r: Row, k: string): string => {
  const v = r[k];
  return typeof v === 'string' ? v : '';
};
const numOr = (r: Row, k: string, d: number): number => {
  const v = r[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : d;
};
const list = (s: string): string[] => (s === '' ? [] : s.split(','));

export function decodeHeartbeat(r: Row): Heartbeat {
  const mode = str(r, 'mode');
  const outcome = str(r, 'outcome');
  return {
    loop: str(r, 'loop'),
    slot: str(r, 'slot'),
    host: str(r, 'host'),
    pid: numOr(r, 'pid', 0),
    version: str(r, 'version'),
    mode: (MODES.includes(mode) ? mode : 'daemon') as LoopMode,
    started: numOr(r, 'started', 0),
    campaigns: list(str(r, 'campaigns')),
    skipped: list(str(r, 'skipped')),
    passStart: numOr(r, 'pass_start', 0),
    passEnd: numOr(r, 'pass_end', 0),
    outcome: (OUTCOMES.includes(outcome) ? outcome : 'error') as PassOutcome,
    error: str(r, 'error'),
    intervalMs: numOr(r, 'interval', 60_000),
    leaseTtlMs: numOr(r, 'lease_ttl', 0),
    inFlight: decodeInFlight(str(r, 'in_flight')),
    time: numOr(r, 'time', 0),
  };
}
