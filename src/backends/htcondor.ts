/**
 * HTCondor backend.
 *
 * - submit: one submit description file per group of jobs with equal resources, `queue runctrl_idx,runctrl_name
 *   from <items file>` (one cluster, one proc per job), sent with `condor_submit -terse`; jobs whose name does
 *   not fit an itemdata line are submitted alone with literal values. Each job runs its own script
 *   (`redirectedScript`: stdout/stderr to the JobSpec paths, the wrapper writes the exit-code file).
 * - ids: `<schedd or local>#<cluster>.<proc>` (opaque; the schedd is kept).
 * - status: ONE `condor_q -json -attributes … <clusters>` per schedd; jobs missing from the queue go to one
 *   bounded `condor_history -json -limit N -constraint …`, then to the exit-code file, else `unknown`.
 *   Held jobs (JobStatus 5) report their HoldReason; once held longer than `holdTimeoutMs` (from
 *   EnteredCurrentStatus) they are removed with condor_rm and reported failed (remembered in the state dir).
 * - find: constraint on the custom job attribute `RunctrlName` in condor_q and condor_history.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TransientError } from '../errors.js';
import {
  cancelInChunks,
  chunks,
  groupByResources,
  isRecord,
  jsonFrom,
  oneLine,
  outputText,
  redirectedScript,
  refuseAll,
  resolveMissing,
  runBatch,
  submitInOrder,
  toInt,
  toStr,
  writeAtomic,
  writeScript,
  walltimeSeconds,
} from './common.js';
import type { Backend, JobSpec, JobState, SubmitResult, Submitted, TrackedJob } from './types.js';
import { htcondorPriorityLines } from './priority.js';
import { isFailureClass, type FailureClass } from '../domain/retry.js';

export interface HTCondorBackendOptions {
  /** Directory for submit files, job scripts and the held-job registry. */
  stateDir: string;
  /** Environment of the condor_* commands (PATH, CONDOR_CONFIG, …). */
  env?: NodeJS.ProcessEnv;
  /** Schedd name (`-name`); ids carry it. Default: the local schedd (ids start with `local#`). */
  schedd?: string;
  /** Collector (`-pool host[:port]`). */
  pool?: string;
  /** A held job is removed and reported failed after this long on hold (default 10 min). */
  holdTimeoutMs?: number;
  /** How the wall time is expressed: `+MaxRuntime = <s>` (default) or CERN's `+JobFlavour`. */
  walltimeAttribute?: 'MaxRuntime' | 'JobFlavour';
  /** Timeout of condor_submit / condor_q / condor_rm (default 120 s). */
  commandTimeoutMs?: number;
  /** Timeout of condor_history, which can be slow on big history files (default 30 s). */
  historyTimeoutMs?: number;
  /** Most procs per cluster (default 5000). */
  maxClusterSize?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** Attributes asked of condor_q / condor_history. */
export const CONDOR_ATTRIBUTES = [
  'ClusterId',
  'ProcId',
  'JobStatus',
  'HoldReason',
  'HoldReasonCode',
  'HoldReasonSubCode',
  'ExitCode',
  'ExitBySignal',
  'ExitSignal',
  'EnteredCurrentStatus',
  'RemoveReason',
  'JobBatchName',
  'RunctrlName',
  // failure classes (docs/retry-policy.md): memory used against memory asked, starts (evictions)
  'MemoryUsage',
  'RequestMemory',
  'NumJobStarts',
] as const;

export type CondorAd = Record<string, unknown>;

export interface CondorId {
  schedd: string;
  cluster: number;
  proc: number;
}

export const LOCAL_SCHEDD = 'local';

export function formatCondorId(schedd: string, cluster: number, proc: number): string {
  return `${schedd}#${cluster}.${proc}`;
}

export function parseCondorId(id: string): CondorId | undefined {
  const m = /^(.*)#(\d+)\.(\d+)$/.exec(id);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined || m[1] === '') return undefined;
  return { schedd: m[1], cluster: Number(m[2]), proc: Number(m[3]) };
}

export interface CondorProcRange {
  cluster: number;
  first: number;
  last: number;
}

/**
 * Parses `condor_submit -terse` (`31.0 - 31.2`, one line per cluster) and, as a fallback, the normal output
 * (`3 job(s) submitted to cluster 31.`).
 */
export function parseCondorSubmit(stdout: string): CondorProcRange[] {
  const out: CondorProcRange[] = [];
  for (const m of stdout.matchAll(/^\s*(\d+)\.(\d+)\s*-\s*(\d+)\.(\d+)\s*$/gm)) {
    out.push({ cluster: Number(m[1]), first: Number(m[2]), last: Number(m[4]) });
  }
  if (out.length > 0) return out;
  for (const m of stdout.matchAll(/(\d+) job\(s\) submitted to cluster (\d+)\./g)) {
    out.push({ cluster: Number(m[2]), first: 0, last: Number(m[1]) - 1 });
  }
  return out;
}

/** Parses `condor_q -json` / `condor_history -json`: a JSON array of ClassAds; empty output = no ads. */
export function parseCondorJson(stdout: string): CondorAd[] {
  const text = stdout.trim();
  if (text === '') return [];
  const parsed: unknown = JSON.parse(jsonFrom(text, '[') ?? text);
  if (!Array.isArray(parsed)) throw new Error('condor JSON output is not an array');
  return parsed.filter(isRecord);
}

/** `-- Failed to fetch ads from: <…> : schedd` (condor_q could not talk to the schedd). */
export function isCondorFetchFailure(text: string): boolean {
  return /Failed to fetch ads|SECMAN:\d+|Can't find address of (local )?schedd|Failed to connect to/i.test(
    text,
  );
}

/** Submit errors that mean "try again later": schedd down or busy, submit limits, timeouts. */
export function isCondorSubmitTransient(text: string): boolean {
  return /Can't find address of|Failed to connect to (local )?queue manager|Failed to fetch ads|SECMAN:\d+|would exceed MAX_JOBS|MAX_JOBS_(PER_OWNER|SUBMITTED|PER_SUBMISSION|RUNNING)|Failed to commit job submission|Connection refused|timed out|not responding|Failed to create cluster/i.test(
    text,
  );
}

export function condorKey(cluster: unknown, proc: unknown): string | undefined {
  const c = toInt(cluster);
  const p = toInt(proc);
  return c === undefined || p === undefined ? undefined : `${c}.${p}`;
}

/**
 * The state of one job ClassAd from condor_q or condor_history; `undefined` when the ad does not say (a
 * completed job without ExitCode): the caller falls back to the exit-code file.
 */
export function condorAdState(ad: CondorAd): JobState | undefined {
  const st = condorAdBaseState(ad);
  if (!st || (st.state !== 'failed' && st.state !== 'cancelled' && st.state !== 'held')) return st;
  const cls = classifyCondor(ad);
  if (st.state === 'held') {
    // held for its memory or its time: that hold does not go away by itself, the attempt failed
    return cls === 'oom' || cls === 'timeout' ? { ...st, state: 'failed', failureClass: cls } : st;
  }
  return cls ? { ...st, failureClass: cls } : st;
}

/** HoldReasonCode values (htcondor `src/condor_utils/condor_holdcodes.h`). */
const HOLD = {
  JobPolicy: 3,
  StartdHeldJob: 21,
  SystemPolicy: 26,
  JobOutOfResources: 34,
  JobDurationExceeded: 46,
  JobExecuteExceeded: 47,
};
/** HoldReasonSubCode of JobOutOfResources / StartdHeldJob for memory (102) and disk (104). */
const SUB_MEMORY = 102;

/**
 * The failure class an ad tells: hold codes 34 (JobOutOfResources, memory unless the subcode says disk) and 21
 * with subcode 102 → oom; 46/47 (allowed_job_duration / allowed_execute_duration) → timeout; a policy hold or
 * removal, or a kill by a signal, with MemoryUsage over RequestMemory → oom; removed after more than one start
 * (evicted and given up) or for an eviction → node; a completed job's non-zero ExitCode → app.
 */
export function classifyCondor(ad: CondorAd): FailureClass | undefined {
  const status = toInt(ad.JobStatus);
  const code = toInt(ad.HoldReasonCode);
  const sub = toInt(ad.HoldReasonSubCode);
  const usage = toNum(ad.MemoryUsage);
  const asked = toNum(ad.RequestMemory);
  const overMemory = usage !== undefined && asked !== undefined && asked > 0 && usage > asked;
  if (status === 5) {
    if (code === HOLD.JobOutOfResources && sub !== 104) return 'oom';
    if (code === HOLD.StartdHeldJob && sub === SUB_MEMORY) return 'oom';
    if (code === HOLD.JobDurationExceeded || code === HOLD.JobExecuteExceeded) return 'timeout';
    if ((code === HOLD.JobPolicy || code === HOLD.SystemPolicy) && overMemory) return 'oom';
    // site policies hold with their own codes but the usual words
    const why = toStr(ad.HoldReason) ?? '';
    if (/memory usage exceeded request_memory|gone over (cgroup )?memory limit/i.test(why)) return 'oom';
    if (/exceeded allowed (job|execute) duration/i.test(why)) return 'timeout';
    return undefined;
  }
  if (overMemory && (status === 3 || ad.ExitBySignal === true)) return 'oom';
  if (status === 3) {
    const why = toStr(ad.RemoveReason) ?? '';
    if (/evict|vacat|preempt/i.test(why) || (toInt(ad.NumJobStarts) ?? 0) > 1) return 'node';
    return undefined;
  }
  if (status === 4 && ad.ExitBySignal !== true) return 'app';
  return undefined;
}

function toNum(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function condorAdBaseState(ad: CondorAd): JobState | undefined {
  const status = toInt(ad.JobStatus);
  switch (status) {
    case 0:
    case 1:
      return { state: 'pending' };
    case 2:
      return { state: 'running' };
    case 3: {
      const why = toStr(ad.RemoveReason);
      return { state: 'cancelled', reason: why ? `removed: ${why}` : 'removed' };
    }
    case 4: {
      if (ad.ExitBySignal === true) {
        const sig = toInt(ad.ExitSignal);
        return sig === undefined
          ? { state: 'failed', reason: 'killed by a signal' }
          : { state: 'failed', exitCode: 128 + sig, reason: `killed by signal ${sig}` };
      }
      const code = toInt(ad.ExitCode);
      if (code === undefined) return undefined;
      return code === 0
        ? { state: 'done', exitCode: 0 }
        : { state: 'failed', exitCode: code, reason: `exit code ${code}` };
    }
    case 5: {
      const reason = toStr(ad.HoldReason) ?? 'held';
      const code = toInt(ad.HoldReasonCode);
      // HoldReasonCode 16: input files are being spooled; the job goes on by itself (as DIRAC's Condor.py).
      if (code === 16) return { state: 'pending', reason: `spooling input: ${reason}` };
      return { state: 'held', reason: code === undefined ? reason : `${reason} (HoldReasonCode ${code})` };
    }
    case 6:
      return { state: 'running', reason: 'transferring output' };
    case 7:
      return { state: 'running', reason: 'suspended' };
    default:
      return { state: 'unknown', reason: `JobStatus ${String(ad.JobStatus)}` };
  }
}

/** Unix ms since the job entered its current status (EnteredCurrentStatus is in seconds). */
export function enteredCurrentStatusMs(ad: CondorAd): number | undefined {
  const s = toInt(ad.EnteredCurrentStatus);
  return s === undefined ? undefined : s * 1000;
}

/** A ClassAd string literal. */
export function classadString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** condor_rm output lines that mean the job is gone already (not an error for cancel). */
export function isCondorRmBenign(line: string): boolean {
  const l = line.trim();
  return (
    l === '' ||
    /^Job \d+\.\d+ (marked for removal|not found|already marked for removal)/.test(l) ||
    /^No result found for job/.test(l) ||
    /^Couldn't find\/remove all jobs/.test(l) ||
    /^(All jobs in cluster \d+ have|Cluster \d+ has) been marked for removal/.test(l)
  );
}

/** CERN's JobFlavour names and their limits in minutes, shortest first. */
const JOB_FLAVOURS: [string, number][] = [
  ['espresso', 20],
  ['microcentury', 60],
  ['longlunch', 120],
  ['workday', 480],
  ['tomorrow', 1440],
  ['testmatch', 4320],
  ['nextweek', 10080],
];

/** The smallest JobFlavour whose limit covers `minutes`. */
export function jobFlavour(minutes: number): string {
  for (const [name, limit] of JOB_FLAVOURS) if (minutes <= limit) return name;
  return 'nextweek';
}

/** A name usable in an itemdata line (no separators, no quotes). */
const ITEM_SAFE = /^[A-Za-z0-9._:@+=-]+$/;

interface HeldRemoval {
  reason: string;
  at: number;
  failureClass?: FailureClass;
}

/** A held job to remove: held too long, or held for its memory or time (with that class). */
interface Overdue {
  job: TrackedJob;
  reason: string;
  failureClass?: FailureClass;
}

function removedState(r: HeldRemoval): JobState {
  return { state: 'failed', reason: r.reason, ...(r.failureClass ? { failureClass: r.failureClass } : {}) };
}

export class HTCondorBackend implements Backend {
  readonly name = 'htcondor';
  private readonly stateDir: string;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly schedd: string;
  private readonly pool: string | undefined;
  private readonly holdTimeoutMs: number;
  private readonly walltimeAttribute: 'MaxRuntime' | 'JobFlavour';
  private readonly commandTimeoutMs: number;
  private readonly historyTimeoutMs: number;
  private readonly maxClusterSize: number;
  private readonly now: () => number;
  /** First time a held job without EnteredCurrentStatus was seen held. */
  private readonly heldSeen = new Map<string, number>();
  private heldRemoved: Map<string, HeldRemoval> | undefined;

  constructor(opts: HTCondorBackendOptions) {
    this.stateDir = path.join(opts.stateDir, 'htcondor');
    this.env = opts.env;
    this.schedd = opts.schedd ?? LOCAL_SCHEDD;
    this.pool = opts.pool;
    this.holdTimeoutMs = opts.holdTimeoutMs ?? 10 * 60_000;
    this.walltimeAttribute = opts.walltimeAttribute ?? 'MaxRuntime';
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 120_000;
    this.historyTimeoutMs = opts.historyTimeoutMs ?? 30_000;
    this.maxClusterSize = opts.maxClusterSize ?? 5000;
    this.now = opts.now ?? Date.now;
  }

  /** `-name` / `-pool` arguments for a schedd. */
  private scheddArgs(schedd: string): string[] {
    const args: string[] = [];
    if (schedd !== LOCAL_SCHEDD) args.push('-name', schedd);
    if (this.pool !== undefined) args.push('-pool', this.pool);
    return args;
  }

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    // Per resource group: clusters of jobs whose names can go into items.txt, then one literal cluster for
    // each other job (a cluster's jobs all have item-safe names or it is a single literal job).
    const units = groupByResources(jobs).flatMap((group) => [
      ...chunks(
        group.filter((j) => ITEM_SAFE.test(j.name)),
        this.maxClusterSize,
      ),
      ...group.filter((j) => !ITEM_SAFE.test(j.name)).map((j) => [j]),
    ]);
    return submitInOrder(units, (unit) =>
      this.submitCluster(unit, !ITEM_SAFE.test((unit[0] as JobSpec).name)),
    );
  }

  /** The submit description of one cluster. */
  private submitDescription(jobs: JobSpec[], literal: boolean): string {
    const first = jobs[0] as JobSpec;
    const r = first.resources;
    const lines = [
      `# runctrl: ${jobs.length} job(s)`,
      'universe = vanilla',
      // Relative to the submit directory (condor_submit runs there), so no path with spaces is needed here.
      literal ? 'executable = job_0.sh' : 'executable = job_$(runctrl_idx).sh',
      'output = /dev/null',
      'error = /dev/null',
      'getenv = False',
      literal ? `+RunctrlName = ${classadString(first.name)}` : '+RunctrlName = "$(runctrl_name)"',
    ];
    if (r.cpus !== undefined) lines.push(`request_cpus = ${Math.max(1, Math.ceil(r.cpus))}`);
    if (r.memoryMb !== undefined) lines.push(`request_memory = ${Math.max(1, Math.ceil(r.memoryMb))}`);
    if (r.walltimeMin !== undefined) {
      if (this.walltimeAttribute === 'JobFlavour') lines.push(`+JobFlavour = "${jobFlavour(r.walltimeMin)}"`);
      else lines.push(`+MaxRuntime = ${walltimeSeconds(r.walltimeMin)}`);
    }
    const group = r.account ?? r.queue;
    if (group !== undefined) lines.push(`accounting_group = ${group}`);
    lines.push(...htcondorPriorityLines(first.priority));
    for (const e of r.extra ?? []) lines.push(e);
    lines.push(literal ? 'queue 1' : 'queue runctrl_idx,runctrl_name from items.txt');
    return `${lines.join('\n')}\n`;
  }

  private async submitCluster(jobs: JobSpec[], literal: boolean): Promise<SubmitResult> {
    const res: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    const sid = `${this.now()}-${randomBytes(4).toString('hex')}`;
    const dir = path.join(this.stateDir, 'submit', sid);
    await Promise.all(jobs.map((j, i) => writeScript(path.join(dir, `job_${i}.sh`), redirectedScript(j))));
    if (!literal)
      await writeAtomic(path.join(dir, 'items.txt'), jobs.map((j, i) => `${i} ${j.name}\n`).join(''));
    const subFile = path.join(dir, 'submit.sub');
    await writeAtomic(subFile, this.submitDescription(jobs, literal));

    const r = await runBatch('condor_submit', ['-terse', ...this.scheddArgs(this.schedd), subFile], {
      env: this.env,
      cwd: dir,
      timeoutMs: this.commandTimeoutMs,
    });
    const text = outputText(r);
    if (r.timedOut) {
      const reason = `condor_submit timed out after ${this.commandTimeoutMs} ms (find() reconciles a late submission)`;
      for (const j of jobs) res.deferred.push({ name: j.name, reason });
      return res;
    }
    if (r.code !== 0) {
      const reason = `condor_submit exit ${r.code}: ${oneLine(text) || 'no output'}`;
      refuseAll(res, jobs, reason, isCondorSubmitTransient(text));
      return res;
    }
    const procs: string[] = [];
    for (const range of parseCondorSubmit(r.stdout)) {
      for (let p = range.first; p <= range.last; p++)
        procs.push(formatCondorId(this.schedd, range.cluster, p));
    }
    jobs.forEach((j, i) => {
      const id = procs[i];
      if (id !== undefined) res.submitted.push({ name: j.name, id });
      else res.rejected.push({ name: j.name, reason: `condor_submit gave no job id: ${oneLine(text)}` });
    });
    return res;
  }

  private heldFile(): string {
    return path.join(this.stateDir, 'held-removed.json');
  }

  private async loadHeldRemoved(): Promise<Map<string, HeldRemoval>> {
    if (this.heldRemoved) return this.heldRemoved;
    const map = new Map<string, HeldRemoval>();
    try {
      const parsed: unknown = JSON.parse(await readFile(this.heldFile(), 'utf8'));
      if (isRecord(parsed)) {
        for (const [id, v] of Object.entries(parsed)) {
          if (isRecord(v) && typeof v.reason === 'string' && typeof v.at === 'number') {
            const cls =
              typeof v.failureClass === 'string' && isFailureClass(v.failureClass)
                ? v.failureClass
                : undefined;
            map.set(id, { reason: v.reason, at: v.at, ...(cls ? { failureClass: cls } : {}) });
          }
        }
      }
    } catch {
      // no registry yet
    }
    this.heldRemoved = map;
    return map;
  }

  private async saveHeldRemoved(map: Map<string, HeldRemoval>): Promise<void> {
    // Forget removals older than 30 days (their jobs are long finished in runctrl's own state).
    const horizon = this.now() - 30 * 24 * 3600_000;
    for (const [id, v] of map) if (v.at < horizon) map.delete(id);
    await writeAtomic(this.heldFile(), JSON.stringify(Object.fromEntries(map), null, 1));
  }

  /** One condor_q for the given clusters of a schedd. */
  private async queueAds(
    schedd: string,
    clusters: number[],
    attributes: readonly string[],
  ): Promise<CondorAd[]> {
    const args = [
      ...this.scheddArgs(schedd),
      '-json',
      '-attributes',
      attributes.join(','),
      ...clusters.map(String),
    ];
    return this.condorQ(args);
  }

  private async condorQ(args: string[]): Promise<CondorAd[]> {
    const r = await runBatch('condor_q', args, { env: this.env, timeoutMs: this.commandTimeoutMs });
    const text = outputText(r);
    if (r.timedOut) throw new TransientError(`condor_q timed out after ${this.commandTimeoutMs} ms`);
    if (r.code !== 0 || isCondorFetchFailure(text)) {
      throw new TransientError(`condor_q failed (exit ${r.code}): ${oneLine(text) || 'no output'}`);
    }
    try {
      return parseCondorJson(r.stdout);
    } catch (err) {
      throw new TransientError(`condor_q printed unparsable output: ${oneLine(r.stdout, 200)}`, {
        cause: err,
      });
    }
  }

  /** Bounded condor_history; undefined when it fails or times out (the caller falls back to exit-code files). */
  private async historyAds(
    schedd: string,
    constraint: string,
    limit: number,
    attributes: readonly string[],
  ): Promise<CondorAd[] | undefined> {
    const args = [
      ...this.scheddArgs(schedd),
      '-json',
      '-attributes',
      attributes.join(','),
      '-limit',
      String(Math.max(1, limit)),
      '-constraint',
      constraint,
    ];
    const r = await runBatch('condor_history', args, { env: this.env, timeoutMs: this.historyTimeoutMs });
    if (r.timedOut || r.code !== 0) return undefined;
    try {
      return parseCondorJson(r.stdout);
    } catch {
      return undefined;
    }
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    if (jobs.length === 0) return out;
    const removed = await this.loadHeldRemoved();
    const bySchedd = new Map<string, { job: TrackedJob; cid: CondorId }[]>();
    const missing: TrackedJob[] = [];
    for (const job of jobs) {
      const prior = removed.get(job.id);
      if (prior) {
        out.set(job.id, removedState(prior));
        continue;
      }
      const cid = parseCondorId(job.id);
      if (!cid) {
        missing.push(job);
        continue;
      }
      const list = bySchedd.get(cid.schedd);
      if (list) list.push({ job, cid });
      else bySchedd.set(cid.schedd, [{ job, cid }]);
    }

    for (const [schedd, list] of bySchedd) {
      const clusters = [...new Set(list.map((e) => e.cid.cluster))].sort((a, b) => a - b);
      const ads = await this.queueAds(schedd, clusters, CONDOR_ATTRIBUTES);
      const byKey = new Map<string, CondorAd>();
      for (const ad of ads) {
        const k = condorKey(ad.ClusterId, ad.ProcId);
        if (k !== undefined) byKey.set(k, ad);
      }
      const notQueued: { job: TrackedJob; cid: CondorId }[] = [];
      const overdue: Overdue[] = [];
      for (const e of list) {
        const ad = byKey.get(`${e.cid.cluster}.${e.cid.proc}`);
        if (!ad) {
          notQueued.push(e);
          continue;
        }
        const st = condorAdState(ad);
        if (!st) {
          missing.push(e.job);
          continue;
        }
        if (st.state === 'failed' && toInt(ad.JobStatus) === 5) {
          // held for its memory or time: removed now, not after the hold timeout
          const cls = st.failureClass;
          overdue.push({
            job: e.job,
            reason: `${st.reason ?? 'held'}; removed`,
            ...(cls ? { failureClass: cls } : {}),
          });
          continue;
        }
        if (st.state === 'held') {
          const since = enteredCurrentStatusMs(ad) ?? this.firstSeenHeld(e.job.id);
          const heldMs = this.now() - since;
          if (heldMs > this.holdTimeoutMs) {
            overdue.push({
              job: e.job,
              reason: `held for ${Math.round(heldMs / 1000)} s (limit ${Math.round(this.holdTimeoutMs / 1000)} s), removed: ${st.reason ?? 'held'}`,
            });
            continue;
          }
        } else {
          this.heldSeen.delete(e.job.id);
        }
        out.set(e.job.id, st);
      }
      if (overdue.length > 0) await this.removeOverdue(schedd, overdue, out, removed);
      if (notQueued.length > 0) await this.fromHistory(schedd, notQueued, out, missing);
    }

    await resolveMissing(out, missing, () => 'not in condor_q or condor_history');
    return out;
  }

  private firstSeenHeld(id: string): number {
    const seen = this.heldSeen.get(id);
    if (seen !== undefined) return seen;
    const now = this.now();
    this.heldSeen.set(id, now);
    return now;
  }

  /** condor_rm for jobs held too long; reported failed now and in every later status call. */
  private async removeOverdue(
    schedd: string,
    overdue: Overdue[],
    out: Map<string, JobState>,
    removed: Map<string, HeldRemoval>,
  ): Promise<void> {
    const ids = overdue.map((o) => {
      const cid = parseCondorId(o.job.id) as CondorId;
      return `${cid.cluster}.${cid.proc}`;
    });
    const r = await runBatch('condor_rm', [...this.scheddArgs(schedd), ...ids], {
      env: this.env,
      timeoutMs: this.commandTimeoutMs,
    });
    const lines = outputText(r).split('\n');
    const ok = !r.timedOut && (r.code === 0 || lines.every(isCondorRmBenign));
    for (const o of overdue) {
      if (ok) {
        const r: HeldRemoval = {
          reason: o.reason,
          at: this.now(),
          ...(o.failureClass ? { failureClass: o.failureClass } : {}),
        };
        removed.set(o.job.id, r);
        out.set(o.job.id, removedState(r));
      } else {
        // Removal failed this time: still held, tried again at the next status call.
        out.set(o.job.id, {
          state: 'held',
          reason: `${o.reason}; condor_rm failed: ${oneLine(outputText(r), 200)}`,
        });
      }
    }
    if (ok) await this.saveHeldRemoved(removed);
  }

  private async fromHistory(
    schedd: string,
    entries: { job: TrackedJob; cid: CondorId }[],
    out: Map<string, JobState>,
    missing: TrackedJob[],
  ): Promise<void> {
    const byKey = new Map<string, CondorAd>();
    for (const part of chunks(entries, 500)) {
      const constraint = part
        .map((e) => `(ClusterId == ${e.cid.cluster} && ProcId == ${e.cid.proc})`)
        .join(' || ');
      const ads = await this.historyAds(schedd, constraint, part.length, CONDOR_ATTRIBUTES);
      for (const ad of ads ?? []) {
        const k = condorKey(ad.ClusterId, ad.ProcId);
        if (k !== undefined && !byKey.has(k)) byKey.set(k, ad);
      }
    }
    for (const e of entries) {
      const ad = byKey.get(`${e.cid.cluster}.${e.cid.proc}`);
      const st = ad ? condorAdState(ad) : undefined;
      if (st) out.set(e.job.id, st);
      else missing.push(e.job);
    }
  }

  async cancel(ids: string[]): Promise<void> {
    const bySchedd = new Map<string, string[]>();
    for (const id of ids) {
      const cid = parseCondorId(id);
      if (!cid) continue;
      const list = bySchedd.get(cid.schedd);
      const proc = `${cid.cluster}.${cid.proc}`;
      if (list) list.push(proc);
      else bySchedd.set(cid.schedd, [proc]);
    }
    for (const [schedd, procs] of bySchedd) {
      const opts = { env: this.env, timeoutMs: this.commandTimeoutMs };
      await cancelInChunks('condor_rm', procs, isCondorRmBenign, opts, this.scheddArgs(schedd));
    }
  }

  async find(names: string[]): Promise<Submitted[]> {
    const wanted = new Set(names);
    if (wanted.size === 0) return [];
    const attrs = ['ClusterId', 'ProcId', 'JobStatus', 'RunctrlName'];
    const best = new Map<string, { id: string; queued: boolean; cluster: number; proc: number }>();
    const consider = (ad: CondorAd, queued: boolean): void => {
      const name = toStr(ad.RunctrlName);
      const c = toInt(ad.ClusterId);
      const p = toInt(ad.ProcId);
      if (name === undefined || !wanted.has(name) || c === undefined || p === undefined) return;
      const cur = best.get(name);
      const better =
        !cur ||
        (queued && !cur.queued) ||
        (queued === cur.queued && (c > cur.cluster || (c === cur.cluster && p > cur.proc)));
      if (better) best.set(name, { id: formatCondorId(this.schedd, c, p), queued, cluster: c, proc: p });
    };
    for (const part of chunks([...wanted], 200)) {
      const constraint = part.map((n) => `RunctrlName =?= ${classadString(n)}`).join(' || ');
      const queued = await this.condorQ([
        ...this.scheddArgs(this.schedd),
        '-json',
        '-attributes',
        attrs.join(','),
        '-constraint',
        constraint,
      ]);
      for (const ad of queued) consider(ad, true);
      const hist = await this.historyAds(this.schedd, constraint, part.length * 2, attrs);
      for (const ad of hist ?? []) consider(ad, false);
    }
    return names
      .filter((n, i) => names.indexOf(n) === i && best.has(n))
      .map((n) => ({ name: n, id: best.get(n)?.id as string }));
  }

  async inFlight(): Promise<number> {
    const ads = await this.condorQ([
      ...this.scheddArgs(this.schedd),
      '-json',
      '-attributes',
      'ClusterId,ProcId,JobStatus',
    ]);
    return ads.filter((ad) => {
      const s = toInt(ad.JobStatus);
      return s !== 3 && s !== 4;
    }).length;
  }

  async close(): Promise<void> {
    // Nothing held open.
  }
}
