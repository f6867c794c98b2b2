/**
 * Slurm backend: sbatch / squeue / sacct (or `sacct -c`, the jobcomp file) / scancel.
 *
 * Submission: jobs with equal resources (≥ 2) go out as one array job (`sbatch --parsable --array=0-N[%T]`),
 * others one by one. An array job runs a generated script that picks its task by SLURM_ARRAY_TASK_ID and
 * execs that task's wrapper script with the task's stdout/stderr; the scripts and a manifest (task → job
 * name) live under `<stateDir>/slurm/arrays/<token>/`, and the array job's `--comment` points at the
 * manifest, so `find(names)` also finds array tasks after a restart. Each task also records its raw
 * SLURM_JOB_ID there: `sacct -c` (jobcomp) knows array tasks only by their raw id.
 *
 * Native ids: `1234` or `1234_5` (array task); `@cluster` is appended when sbatch answered `id;cluster`.
 *
 * Status: one `squeue -h -r -t all -u USER` per cluster and call (never per job; a user query never errors
 * for gone ids, unlike `squeue -j` on 22.05), then accounting for jobs squeue no longer lists (`sacct`, or
 * `sacct -c` when accounting storage is disabled), then the exit-code file, else `unknown`. A failing
 * squeue (controller down, timeout) throws TransientError.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import {
  arrayCaseScript,
  arrayUnits,
  chunks,
  currentUser,
  expandIndexList,
  fromExitCodeFile,
  lastLine,
  localIsoSeconds,
  nonEmptyLines,
  pruneOldDirs,
  queryFailed,
  readExitCodeFile,
  readManifestNames,
  takeUnanswered,
  writeArrayDir,
  walltimeMinutes,
} from './common.js';
import { exec, type ExecResult } from './exec.js';
import type { Backend, JobSpec, JobState, Resources, Submitted, SubmitResult, TrackedJob } from './types.js';
import type { FailureClass } from '../domain/retry.js';
import { jobScript, shq } from './wrapper.js';
import { slurmPriorityArgs } from './priority.js';

export type SlurmAccounting = 'auto' | 'sacct' | 'jobcomp' | 'none';

export interface SlurmOptions {
  /** runctrl's state directory; array scripts and manifests go to `<stateDir>/slurm/`. */
  stateDir: string;
  /** Environment of the Slurm commands (SLURM_CONF, PATH, …); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Whose jobs squeue lists (default $USER). */
  user?: string;
  /** Timeout of one squeue/sacct/scancel call in ms (default 30 000; a dead slurmctld takes ~9 s to fail). */
  commandTimeoutMs?: number;
  /** Timeout of one sbatch call in ms (default 60 000). */
  submitTimeoutMs?: number;
  /** Where finished jobs are looked up (default auto: sacct, then `sacct -c` when storage is disabled). */
  accounting?: SlurmAccounting;
  /** Array tasks running at once (`--array=0-N%T`); default no limit. */
  arrayThrottle?: number;
  /** Most tasks in one array submission (MaxArraySize is 1001 by default). */
  maxArraySize?: number;
  /** Array directories older than this are deleted at the next submit (default 14 days). */
  keepArrayDirsMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Pure parsing (exported for unit tests)

const COMPACT: Record<string, string> = {
  BF: 'BOOT_FAIL',
  CA: 'CANCELLED',
  CD: 'COMPLETED',
  CF: 'CONFIGURING',
  CG: 'COMPLETING',
  DL: 'DEADLINE',
  F: 'FAILED',
  NF: 'NODE_FAIL',
  OOM: 'OUT_OF_MEMORY',
  PD: 'PENDING',
  PR: 'PREEMPTED',
  R: 'RUNNING',
  RD: 'RESV_DEL_HOLD',
  RF: 'REQUEUE_FED',
  RH: 'REQUEUE_HOLD',
  RQ: 'REQUEUED',
  RS: 'RESIZING',
  RV: 'REVOKED',
  SI: 'SIGNALING',
  SE: 'SPECIAL_EXIT',
  SO: 'STAGE_OUT',
  ST: 'STOPPED',
  S: 'SUSPENDED',
  TO: 'TIMEOUT',
};

const HELD_REASONS = /^(JobHeldUser|JobHeldAdmin|DependencyNeverSatisfied|launch failed requeued held)/i;

/**
 * Maps a Slurm state (long `RUNNING`, compact `R`, sacct's `CANCELLED by 123` or truncated `CANCELLED+`)
 * and the squeue reason to a runctrl state. Exit codes are not part of squeue's answer: callers add them.
 */
export function mapSlurmState(raw: string, reason?: string): JobState {
  let s = raw.trim().toUpperCase();
  const by = /^(\S+) BY (.+)$/.exec(s);
  const byWhom = by ? ` by ${by[2]}` : '';
  if (by) s = by[1] as string;
  s = s.replace(/\+$/, '');
  s = COMPACT[s] ?? s;
  const why = reason && reason !== 'None' && reason !== '(null)' ? reason : undefined;
  const withReason = (st: JobState['state'], r?: string): JobState =>
    r ? { state: st, reason: r } : { state: st };
  switch (s) {
    case 'PENDING':
    case 'CONFIGURING':
    case 'REQUEUED':
    case 'REQUEUE_FED':
      return why && HELD_REASONS.test(why) ? withReason('held', why) : withReason('pending', why);
    case 'REQUEUE_HOLD':
    case 'RESV_DEL_HOLD':
    case 'SPECIAL_EXIT':
      return withReason('held', why ?? s);
    case 'RUNNING':
    case 'COMPLETING':
    case 'SIGNALING':
    case 'STAGE_OUT':
    case 'RESIZING':
      return withReason('running', why);
    case 'SUSPENDED':
    case 'STOPPED':
      // Started and paused by the scheduler (preemption by suspension): it resumes on its own.
      return withReason('running', why ? `${s}: ${why}` : s);
    case 'COMPLETED':
      return { state: 'done', exitCode: 0 };
    case 'CANCELLED':
      return withReason('cancelled', `CANCELLED${byWhom}`);
    case 'REVOKED':
      return withReason('cancelled', 'REVOKED (federated sibling ran elsewhere)');
    case 'FAILED':
    case 'TIMEOUT':
    case 'OUT_OF_MEMORY':
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
    case 'DEADLINE':
    case 'PREEMPTED':
      return { ...withReason('failed', why && s === 'FAILED' ? why : s), failureClass: classifySlurm(s) };
    default:
      return withReason('unknown', `unrecognised Slurm state ${raw.trim()}`);
  }
}

/**
 * The failure class of a failed Slurm state: OUT_OF_MEMORY → oom; TIMEOUT and DEADLINE → timeout; NODE_FAIL,
 * BOOT_FAIL and PREEMPTED → node; FAILED (the command's non-zero exit) → app.
 */
export function classifySlurm(state: string): FailureClass {
  switch (state) {
    case 'OUT_OF_MEMORY':
      return 'oom';
    case 'TIMEOUT':
    case 'DEADLINE':
      return 'timeout';
    case 'NODE_FAIL':
    case 'BOOT_FAIL':
    case 'PREEMPTED':
      return 'node';
    default:
      return 'app';
  }
}

/** `3:0` → {exit: 3, signal: 0}. */
export function parseSlurmExitCode(text: string): { exit: number; signal: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  return m ? { exit: Number(m[1]), signal: Number(m[2]) } : undefined;
}

/** The job id from `sbatch --parsable` output: last line, `1234` or `1234;cluster`. */
export function parseSbatchParsable(stdout: string): { jobId: string; cluster?: string } | undefined {
  const m = /^(\d+)(?:;(\S+))?$/.exec(lastLine(stdout));
  if (!m) return undefined;
  return m[2] ? { jobId: m[1] as string, cluster: m[2] } : { jobId: m[1] as string };
}

const DEFER_PATTERNS = [
  /violates accounting\/QOS policy/i,
  /MaxSubmitJob/i,
  /submit limit/i,
  /Unable to contact slurm controller/i,
  /Slurm temporarily unable to accept job/i,
  /Resource temporarily unavailable/i,
  /Socket timed out/i,
  /Zero Bytes were transmitted or received/i,
  /Connection refused/i,
  /Communication connection failure/i,
  /backup controller in standby/i,
  /slurm_persist_conn_open/i,
  /Job submit\/allocate failed: .*(busy|try again)/i,
];

/** A refused sbatch: `deferred` (limit reached, controller unreachable: try later) or `rejected` (for good). */
export function classifySbatchFailure(stderr: string): 'deferred' | 'rejected' {
  return DEFER_PATTERNS.some((re) => re.test(stderr)) ? 'deferred' : 'rejected';
}

/** The most telling line of sbatch's stderr. */
export function sbatchReason(r: ExecResult): string {
  const lines = nonEmptyLines(r.stderr);
  const failed = lines.filter((l) => /error/i.test(l));
  const pick = failed.length > 0 ? failed.join('; ') : lines.join('; ');
  return pick || `sbatch exited ${r.code}`;
}

export interface SqueueRow {
  /** As printed: `1234`, `1234_5` or `1234_[0-3%2]`. */
  id: string;
  /** Job id without the task part. */
  base: string;
  /** Task index of an array task. */
  task?: number;
  /** Task indices of a not-yet-split array line (`1234_[0-3%2]`). */
  tasks?: number[];
  /** Raw job id (squeue %A). */
  rawId: string;
  state: string;
  reason: string;
  cluster?: string;
}

/** Splits an id as squeue/sacct print it. */
export function parseSlurmId(id: string): { base: string; task?: number; tasks?: number[] } | undefined {
  let m = /^(\d+)$/.exec(id);
  if (m) return { base: m[1] as string };
  m = /^(\d+)_(\d+)$/.exec(id);
  if (m) return { base: m[1] as string, task: Number(m[2]) };
  m = /^(\d+)_\[([^\]]+)\]$/.exec(id);
  if (m) {
    const tasks = expandIndexList(m[2] as string);
    return tasks ? { base: m[1] as string, tasks } : undefined;
  }
  return undefined;
}

/** Output of `squeue -h -o '%i|%A|%T|%r'` (optionally with `CLUSTER: name` lines from -M). */
export function parseSqueue(stdout: string): SqueueRow[] {
  const rows: SqueueRow[] = [];
  let cluster: string | undefined;
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const c = /^CLUSTER:\s*(\S+)/.exec(t);
    if (c) {
      cluster = c[1];
      continue;
    }
    const parts = t.split('|');
    if (parts.length < 4) continue;
    const [id, rawId, state] = parts as [string, string, string];
    const reason = parts.slice(3).join('|');
    const p = parseSlurmId(id);
    if (!p) continue;
    rows.push({ id, ...p, rawId, state, reason, ...(cluster ? { cluster } : {}) });
  }
  return rows;
}

export interface SacctRow {
  id: string;
  state: string;
  exitCode: string;
}

/** Output of `sacct -n -P -o JobID,State,ExitCode` (with or without -c); step lines (`1.batch`) skipped. */
export function parseSacct(stdout: string): SacctRow[] {
  const rows: SacctRow[] = [];
  for (const line of stdout.split('\n')) {
    const parts = line.trim().split('|');
    if (parts.length < 3) continue;
    const [id, state, exitCode] = parts as [string, string, string];
    if (!/^\d+(_(\d+|\[[^\]]+\]))?$/.test(id)) continue;
    rows.push({ id, state, exitCode });
  }
  return rows;
}

/** The state of a finished (or still listed) job from an accounting row. */
export function stateFromSacct(row: SacctRow): JobState {
  const st = mapSlurmState(row.state);
  const ec = parseSlurmExitCode(row.exitCode);
  if (!ec) return st;
  if (st.state === 'failed') {
    if (ec.exit !== 0) return { ...st, exitCode: ec.exit };
    if (ec.signal !== 0) return { ...st, exitCode: 128 + ec.signal };
    return st;
  }
  if (st.state === 'done' && ec.exit !== 0)
    return { state: 'failed', exitCode: ec.exit, reason: 'non-zero exit', failureClass: 'app' };
  return st;
}

/** `1234_5@cl` → {jobId: '1234_5', cluster: 'cl'}; undefined for a malformed id (never passed to a command). */
export function splitNativeId(
  id: string,
): { jobId: string; base: string; task?: number; cluster?: string } | undefined {
  const m = /^(\d+)(?:_(\d+))?(?:@([A-Za-z0-9_.-]+))?$/.exec(id);
  if (!m) return undefined;
  const jobId = m[2] === undefined ? (m[1] as string) : `${m[1]}_${m[2]}`;
  return {
    jobId,
    base: m[1] as string,
    ...(m[2] === undefined ? {} : { task: Number(m[2]) }),
    ...(m[3] === undefined ? {} : { cluster: m[3] }),
  };
}

function nativeId(jobId: string, cluster?: string): string {
  return cluster ? `${jobId}@${cluster}` : jobId;
}

/**
 * sbatch's --time for a wall time in minutes: Slurm keeps time limits in whole minutes (a `M:SS` is rounded
 * up to the minute), so a fractional limit is rounded up, at least 1.
 */
export function slurmTime(walltimeMin: number): string {
  return String(walltimeMinutes(walltimeMin));
}

/** sbatch options for the resources. */
export function resourceArgs(r: Resources): string[] {
  const a: string[] = [];
  if (r.cpus !== undefined) a.push(`--cpus-per-task=${r.cpus}`);
  if (r.memoryMb !== undefined) a.push(`--mem=${Math.ceil(r.memoryMb)}M`);
  if (r.walltimeMin !== undefined) a.push(`--time=${slurmTime(r.walltimeMin)}`);
  if (r.queue !== undefined) a.push(`--partition=${r.queue}`);
  if (r.account !== undefined) a.push(`--account=${r.account}`);
  a.push(...(r.extra ?? []));
  return a;
}

/** A path for sbatch -o/-e: `%` escaped (sbatch expands %j, %a, …). */
function slurmPath(p: string): string {
  return p.replace(/%/g, '%%');
}

/** The script of an array job: runs task i's wrapper with task i's stdout/stderr. */
export function arrayScript(dir: string, jobs: JobSpec[]): string {
  return arrayCaseScript(dir, jobs, 'SLURM_ARRAY_TASK_ID', 0, [
    `printf '%s\\n' "$SLURM_JOB_ID" > ${shq(dir)}/task-"$SLURM_ARRAY_TASK_ID".jobid`,
  ]);
}

const COMMENT_PREFIX = 'runctrl-array:';

// ---------------------------------------------------------------------------------------------------------

export class SlurmBackend implements Backend {
  readonly name = 'slurm';
  private readonly env: NodeJS.ProcessEnv;
  private readonly user: string;
  private readonly timeoutMs: number;
  private readonly submitTimeoutMs: number;
  private accounting: SlurmAccounting;
  private readonly arraysDir: string;
  /** Raw job ids of array tasks seen running (`12_3` → `15`), for `sacct -c`. */
  private readonly rawIds = new Map<string, string>();
  /** Array dirs of the arrays this process submitted (`1234[@cluster]` → dir). */
  private readonly arrayDirs = new Map<string, string>();
  /** Ids this process cancelled: a pending array task cancelled vanishes from squeue without a record. */
  private readonly cancelled = new Set<string>();
  /** Final states already seen (a finished job's state never changes; saves accounting queries). */
  private readonly final = new Map<string, JobState>();
  private pruned = false;

  constructor(private readonly opts: SlurmOptions) {
    this.env = opts.env ?? process.env;
    this.user = opts.user ?? currentUser(this.env);
    this.timeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.submitTimeoutMs = opts.submitTimeoutMs ?? 60_000;
    this.accounting = opts.accounting ?? 'auto';
    this.arraysDir = path.join(opts.stateDir, 'slurm', 'arrays');
  }

  private run(cmd: string, args: string[], input?: string, timeoutMs = this.timeoutMs): Promise<ExecResult> {
    return exec(cmd, args, { env: this.env, timeoutMs, ...(input === undefined ? {} : { input }) });
  }

  // ------------------------------------------------------------------------------------------------ submit

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    const result: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    if (jobs.length === 0) return result;
    await this.pruneArrayDirs();
    for (const part of arrayUnits(jobs, Math.max(2, this.opts.maxArraySize ?? 1000))) {
      if (part.length >= 2) await this.submitArray(part, result);
      else for (const j of part) await this.submitOne(j, result);
    }
    return result;
  }

  private async submitOne(job: JobSpec, result: SubmitResult): Promise<void> {
    const args = [
      '--parsable',
      `--job-name=${job.name}`,
      `--chdir=${job.workDir}`,
      `--output=${slurmPath(job.stdout)}`,
    ];
    if (job.stderr !== job.stdout) args.push(`--error=${slurmPath(job.stderr)}`);
    args.push(...resourceArgs(job.resources), ...slurmPriorityArgs(job.priority));
    const r = await this.run('sbatch', args, jobScript(job), this.submitTimeoutMs);
    await this.takeSbatchResult(
      r,
      [job],
      (p) => [{ name: job.name, id: nativeId(p.jobId, p.cluster) }],
      result,
    );
  }

  private async submitArray(jobs: JobSpec[], result: SubmitResult): Promise<void> {
    const first = jobs[0] as JobSpec;
    const { dir, manifest } = await writeArrayDir(this.arraysDir, jobs, 0);
    const throttle = this.opts.arrayThrottle ? `%${this.opts.arrayThrottle}` : '';
    const args = [
      '--parsable',
      `--array=0-${jobs.length - 1}${throttle}`,
      `--job-name=${first.name}+${jobs.length - 1}`,
      `--comment=${COMMENT_PREFIX}${manifest}`,
      `--chdir=${dir}`,
      `--output=${slurmPath(dir)}/slurm-%a.out`,
      ...resourceArgs(first.resources),
      ...slurmPriorityArgs(first.priority),
    ];
    const script = arrayScript(dir, jobs);
    await writeFile(path.join(dir, 'array.sh'), script);
    const r = await this.run('sbatch', args, script, this.submitTimeoutMs);
    await this.takeSbatchResult(
      r,
      jobs,
      (p) => {
        this.arrayDirs.set(nativeId(p.jobId, p.cluster), dir);
        return jobs.map((j, i) => ({ name: j.name, id: nativeId(`${p.jobId}_${i}`, p.cluster) }));
      },
      result,
    );
  }

  private async takeSbatchResult(
    r: ExecResult,
    jobs: JobSpec[],
    ids: (p: { jobId: string; cluster?: string }) => Submitted[],
    result: SubmitResult,
  ): Promise<void> {
    if (r.spawnError && /ENOENT/.test(r.spawnError)) {
      throw new UserError('sbatch not found: is the Slurm client installed and on PATH?');
    }
    if (r.code === 0 && !r.timedOut) {
      const p = parseSbatchParsable(r.stdout);
      if (p) {
        result.submitted.push(...ids(p));
        return;
      }
    }
    if (r.timedOut || r.code === 0) {
      // The job may have been queued although no id came back: look for it by name before deferring.
      await takeUnanswered('sbatch', r, this.submitTimeoutMs, jobs, (n) => this.find(n), result);
      return;
    }
    const reason = sbatchReason(r);
    const kind = classifySbatchFailure(r.stderr);
    for (const j of jobs) result[kind].push({ name: j.name, reason });
  }

  private async pruneArrayDirs(): Promise<void> {
    if (this.pruned) return;
    this.pruned = true;
    await pruneOldDirs(this.arraysDir, this.opts.keepArrayDirsMs ?? 14 * 24 * 3600_000);
  }

  // ------------------------------------------------------------------------------------------------ status

  /** One squeue per cluster for all the user's jobs (-r: one line per array task). */
  private async squeue(format: string, clusters: (string | undefined)[], all = true): Promise<string> {
    const named = clusters.filter((c): c is string => c !== undefined);
    const runs: string[][] = [];
    if (clusters.some((c) => c === undefined)) runs.push([]);
    if (named.length > 0) runs.push([`--clusters=${[...new Set(named)].join(',')}`]);
    let out = '';
    for (const extra of runs) {
      const args = ['-h', '-r', ...(all ? ['-t', 'all'] : []), '-u', this.user, '-o', format, ...extra];
      const r = await this.run('squeue', args);
      if (r.code !== 0 || r.timedOut) queryFailed('squeue', r, this.timeoutMs);
      // The local cluster's rows come first, without a `CLUSTER:` header.
      out += r.stdout + '\n';
    }
    return out;
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    if (jobs.length === 0) return out;
    const parsed = jobs.map((j) => ({ job: j, id: splitNativeId(j.id) }));
    const clusters = [...new Set(parsed.filter((p) => p.id).map((p) => p.id?.cluster))];
    const rows = clusters.length > 0 ? parseSqueue(await this.squeue('%i|%A|%T|%r', clusters)) : [];

    // Index: `cluster|base_task` / `cluster|base` → row.
    const index = new Map<string, SqueueRow>();
    for (const row of rows) {
      const c = row.cluster ?? '';
      if (row.tasks) for (const t of row.tasks) index.set(`${c}|${row.base}_${t}`, row);
      else index.set(`${c}|${row.task === undefined ? row.base : `${row.base}_${row.task}`}`, row);
      if (row.task !== undefined && !/^PENDING|^PD$/.test(row.state) && row.rawId !== '') {
        this.rawIds.set(nativeId(`${row.base}_${row.task}`, row.cluster || undefined), row.rawId);
      }
    }

    const missing: { job: TrackedJob; id: NonNullable<ReturnType<typeof splitNativeId>> }[] = [];
    const needExit: { job: TrackedJob; st: JobState }[] = [];
    for (const { job, id } of parsed) {
      if (!id) {
        out.set(job.id, await fromExitCodeFile(job.exitCodeFile, 'not a Slurm job id'));
        continue;
      }
      const row = index.get(`${id.cluster ?? ''}|${id.jobId}`);
      if (!row) {
        missing.push({ job, id });
        continue;
      }
      const st = mapSlurmState(row.state, row.reason);
      if (st.state === 'failed' || st.state === 'cancelled') needExit.push({ job, st });
      else out.set(job.id, this.remember(job.id, st));
    }
    // Terminal in squeue: the exit code comes from the exit-code file (squeue has none).
    for (const { job, st } of needExit) {
      const code = await readExitCodeFile(job.exitCodeFile);
      out.set(job.id, this.remember(job.id, code === undefined ? st : { ...st, exitCode: code }));
    }
    const gone = missing.filter(({ job }) => {
      const f = this.final.get(job.id);
      if (f) out.set(job.id, f);
      return !f;
    });
    if (gone.length > 0) {
      const acct = await this.fromAccounting(gone);
      for (const { job } of gone) {
        const st = acct.get(job.id);
        if (st && st.state !== 'unknown') {
          if ((st.state === 'failed' || st.state === 'cancelled') && st.exitCode === undefined) {
            const code = await readExitCodeFile(job.exitCodeFile);
            out.set(job.id, this.remember(job.id, code === undefined ? st : { ...st, exitCode: code }));
          } else out.set(job.id, this.remember(job.id, st));
        } else {
          const fromFile = await fromExitCodeFile(
            job.exitCodeFile,
            'not in squeue, no accounting record, no exit-code file',
          );
          out.set(
            job.id,
            fromFile.state === 'unknown' && this.cancelled.has(job.id)
              ? { state: 'cancelled', reason: 'cancelled by runctrl; no longer listed' }
              : fromFile,
          );
        }
      }
    }
    return out;
  }

  /** Remembers a final state the batch system itself reported (not one read from an exit-code file). */
  private remember(id: string, st: JobState): JobState {
    if (st.state === 'done' || st.state === 'failed' || st.state === 'cancelled') {
      if (this.final.size >= 100_000) this.final.clear();
      this.final.set(id, st);
    }
    return st;
  }

  /** Raw SLURM_JOB_ID of an array task: recorded by the task itself, or seen in squeue. */
  private async rawIdOf(
    id: NonNullable<ReturnType<typeof splitNativeId>>,
    job: TrackedJob,
  ): Promise<string | undefined> {
    if (id.task === undefined) return id.base;
    const seen = this.rawIds.get(job.id);
    if (seen) return seen;
    // The task writes its raw id into the array dir: known to this process, or found by its manifest.
    const known = this.arrayDirs.get(nativeId(id.base, id.cluster));
    for (const dir of known ? [known] : await this.arrayDirsFor(job.name)) {
      try {
        const t = (await readFile(path.join(dir, `task-${id.task}.jobid`), 'utf8')).trim();
        if (/^\d+$/.test(t)) return t;
      } catch {
        // not started or other array
      }
    }
    return undefined;
  }

  /** Array dirs whose manifest lists `name` (newest first). */
  private async arrayDirsFor(name: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.arraysDir);
    } catch {
      return [];
    }
    const dirs: string[] = [];
    for (const e of entries.sort().reverse()) {
      const names = await this.manifestNames(path.join(this.arraysDir, e, 'manifest.json'));
      if (names?.includes(name)) dirs.push(path.join(this.arraysDir, e));
    }
    return dirs;
  }

  private readonly manifestCache = new Map<string, string[]>();

  private async manifestNames(file: string): Promise<string[] | undefined> {
    const cached = this.manifestCache.get(file);
    if (cached) return cached;
    const names = await readManifestNames(file);
    if (names) this.manifestCache.set(file, names);
    return names;
  }

  /** Accounting records of jobs squeue no longer lists; keyed by native id. Never throws. */
  private async fromAccounting(
    jobs: { job: TrackedJob; id: NonNullable<ReturnType<typeof splitNativeId>> }[],
  ): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    for (;;) {
      const mode = this.accounting === 'auto' ? 'sacct' : this.accounting;
      if (mode === 'none') return out;
      const jobcomp = mode === 'jobcomp';
      // Accounting id → native ids, per cluster.
      const byCluster = new Map<string, Map<string, string[]>>();
      for (const { job, id } of jobs) {
        const q = jobcomp ? await this.rawIdOf(id, job) : id.jobId;
        if (q === undefined) continue;
        const c = id.cluster ?? '';
        const m = byCluster.get(c) ?? new Map<string, string[]>();
        m.set(q, [...(m.get(q) ?? []), job.id]);
        byCluster.set(c, m);
      }
      const since = jobs.reduce((m, j) => Math.min(m, j.job.submittedAt), Infinity) - 10 * 60_000;
      let switched = false;
      for (const [cluster, ids] of byCluster) {
        // `sacct -c` reads the whole jobcomp file on every call and checks each line against every -j id:
        // beyond one chunk, one call without -j (bounded by -S) filtered here is far cheaper than N/200 calls.
        const parts: (string[] | undefined)[] =
          jobcomp && ids.size > 200 ? [undefined] : chunks([...ids.keys()], 200);
        for (const part of parts) {
          const args = [
            ...(jobcomp ? ['-c'] : ['-X']),
            '-n',
            '-P',
            '-o',
            'JobID,State,ExitCode',
            '-S',
            localIsoSeconds(Math.min(since, Date.now() - 1000)),
            ...(part ? ['-j', part.join(',')] : []),
            ...(cluster ? [`--clusters=${cluster}`] : []),
          ];
          const r = await this.run('sacct', args);
          if (r.code !== 0 || r.timedOut) {
            const text = r.stderr + r.stdout;
            if (this.accounting === 'auto' && !jobcomp && /accounting storage is disabled/i.test(text)) {
              this.accounting = 'jobcomp';
              switched = true;
              break;
            }
            if (this.accounting === 'auto' && jobcomp && /job completion is disabled/i.test(text)) {
              this.accounting = 'none';
              return out;
            }
            // Accounting is only a fallback: a failure leaves the exit-code file to decide.
            continue;
          }
          for (const row of parseSacct(r.stdout)) {
            for (const nid of ids.get(row.id) ?? []) out.set(nid, stateFromSacct(row));
          }
        }
        if (switched) break;
      }
      if (!switched) return out;
    }
  }

  // ------------------------------------------------------------------------------------------------ cancel

  async cancel(ids: string[]): Promise<void> {
    const byCluster = new Map<string, string[]>();
    for (const id of ids) {
      const p = splitNativeId(id);
      if (!p) continue; // not a Slurm id: nothing of ours to cancel
      if (this.cancelled.size >= 100_000) this.cancelled.clear();
      this.cancelled.add(id);
      const c = p.cluster ?? '';
      byCluster.set(c, [...(byCluster.get(c) ?? []), p.jobId]);
    }
    for (const [cluster, list] of byCluster) {
      for (const part of chunks(list, 500)) {
        const r = await this.run('scancel', [...(cluster ? [`--clusters=${cluster}`] : []), ...part]);
        if (r.code === 0 && !r.timedOut) continue;
        const bad = nonEmptyLines(r.stderr).filter(
          (l) => !/already completing or completed|Invalid job id specified|does not exist/i.test(l),
        );
        if (r.timedOut || r.spawnError || bad.length > 0) queryFailed('scancel', r, this.timeoutMs);
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ find

  async find(names: string[]): Promise<Submitted[]> {
    if (names.length === 0) return [];
    const wanted = new Set(names);
    const r = await this.run('squeue', ['-h', '-r', '-t', 'all', '-u', this.user, '-o', '%i|%k|%j']);
    if (r.code !== 0 || r.timedOut) queryFailed('squeue', r, this.timeoutMs);
    const found: Submitted[] = [];
    const seen = new Set<string>();
    for (const line of r.stdout.split('\n')) {
      const t = line.trim();
      const i1 = t.indexOf('|');
      const i2 = t.indexOf('|', i1 + 1);
      if (i1 < 0 || i2 < 0) continue;
      const id = t.slice(0, i1);
      const comment = t.slice(i1 + 1, i2);
      const jobName = t.slice(i2 + 1);
      const p = parseSlurmId(id);
      if (!p) continue;
      const add = (name: string, nid: string): void => {
        if (wanted.has(name) && !seen.has(nid)) {
          seen.add(nid);
          found.push({ name, id: nid });
        }
      };
      if (comment.startsWith(COMMENT_PREFIX) && (p.task !== undefined || p.tasks)) {
        const taskNames = await this.manifestNames(comment.slice(COMMENT_PREFIX.length));
        if (!taskNames) continue;
        for (const task of p.tasks ?? [p.task as number]) {
          const n = taskNames[task];
          if (n !== undefined) add(n, `${p.base}_${task}`);
        }
      } else if (p.task === undefined && !p.tasks) {
        add(jobName, id);
      }
    }
    return found;
  }

  // ------------------------------------------------------------------------------------------------ misc

  async inFlight(): Promise<number> {
    const r = await this.run('squeue', ['-h', '-r', '-u', this.user, '-o', '%i']);
    if (r.code !== 0 || r.timedOut) queryFailed('squeue', r, this.timeoutMs);
    let n = 0;
    for (const line of r.stdout.split('\n')) {
      const t = line.trim();
      if (t === '') continue;
      n += parseSlurmId(t)?.tasks?.length ?? 1;
    }
    return n;
  }

  /** Nothing to release: every call runs its own commands. Idempotent. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
