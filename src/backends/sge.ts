/**
 * Grid Engine backend (SGE/OGE/SoGE 8.1.9): qsub -terse / qstat -xml / qacct / qdel.
 *
 * Submission: jobs with equal resources (≥ 2) go out as one array job (`qsub -terse -t 1-N`, which prints
 * `19.1-3:1`), others one by one, the script always on stdin. An array runs a generated script that picks its
 * task by SGE_TASK_ID and execs the task's wrapper with the task's stdout/stderr. The array job is named
 * after its directory `<stateDir>/sge/arrays/<token>/` (`-N rcarr.<token>`), whose manifest lists the task
 * names, so `find(names)` also finds array tasks after a restart.
 *
 * Native ids: `19` or `19.2` (array task, 1-based as in SGE).
 *
 * Status: one `qstat -xml -u USER` per call; jobs it no longer lists are looked up in accounting (one
 * `qacct -o USER -b <since> -j` for all of them), then in their exit-code file, else `unknown`. A failing
 * qstat throws TransientError. qdel kills with SIGKILL by default (no exit-code file), so a job this process
 * cancelled is reported `cancelled`.
 */
import { writeFile } from 'node:fs/promises';
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
  nonEmptyLines,
  pruneOldDirs,
  queryFailed,
  readManifestNames,
  stateFromExitCode,
  takeUnanswered,
  writeArrayDir,
  walltimeSeconds,
} from './common.js';
import { exec, type ExecResult } from './exec.js';
import type { Backend, JobSpec, JobState, Resources, Submitted, SubmitResult, TrackedJob } from './types.js';
import type { FailureClass } from '../domain/retry.js';
import { jobScript } from './wrapper.js';
import { sgePriorityArgs } from './priority.js';

export interface SgeOptions {
  /** runctrl's state directory; array scripts and manifests go to `<stateDir>/sge/`. */
  stateDir: string;
  /** Environment of the commands (PATH, SGE_ROOT, SGE_CELL, SGE_QMASTER_PORT, …); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Whose jobs qstat lists (default $USER). */
  user?: string;
  /** Timeout of qstat/qacct/qdel in ms (default 30 000). */
  commandTimeoutMs?: number;
  /** Timeout of qsub in ms (default 60 000). */
  submitTimeoutMs?: number;
  /** Parallel environment for cpus > 1 (`-pe <pe> <cpus>`; default `smp`). */
  parallelEnvironment?: string;
  /** Complex for memory (`-l <name>=<MB>M`; default `h_vmem`). */
  memoryResource?: string;
  /** Use qacct for jobs qstat no longer lists (default true). */
  accounting?: boolean;
  /** Array tasks running at once (`-tc N`); default no limit. */
  arrayThrottle?: number;
  /** Most tasks in one array submission (default 1000; max_aj_tasks is 75 000). */
  maxArraySize?: number;
  /** Array directories older than this are deleted at the next submit (default 14 days). */
  keepArrayDirsMs?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Pure parsing (exported for unit tests)

/** `qsub -terse` output: `19` or `19.1-3:1` (array). */
export function parseQsubTerse(stdout: string): { jobId: string; tasks?: number[] } | undefined {
  const line = lastLine(stdout);
  let m = /^(\d+)$/.exec(line);
  if (m) return { jobId: m[1] as string };
  m = /^(\d+)\.(\d+-\d+:\d+)$/.exec(line);
  if (m) {
    const tasks = expandIndexList(m[2] as string);
    return tasks ? { jobId: m[1] as string, tasks } : undefined;
  }
  // Without -terse: `Your job 123 ("name") has been submitted` / `Your job-array 123.1-10:1 ("name") …`.
  m = /Your job(?:-array)? (\d+)(?:\.(\d+-\d+:\d+))? /.exec(stdout);
  if (m) {
    const tasks = m[2] === undefined ? undefined : expandIndexList(m[2]);
    return tasks ? { jobId: m[1] as string, tasks } : { jobId: m[1] as string };
  }
  return undefined;
}

const DEFER_PATTERNS = [
  /jobs are allowed per user/i,
  /only \d+ jobs are allowed/i,
  /max_u_jobs|max_jobs/i,
  /limit .*exceeded/i,
  /unable to contact qmaster/i,
  /unable to send message to qmaster/i,
  /commlib error/i,
  /failed receiving gdi request/i,
  /syncron message receive timeout/i,
  /qmaster .*(not|down|unreachable)/i,
  /Connection refused/i,
  /try again later/i,
];

/** A refused qsub: `deferred` (per-user limit, qmaster unreachable) or `rejected` (for good). */
export function classifyQsubFailure(text: string): 'deferred' | 'rejected' {
  return DEFER_PATTERNS.some((re) => re.test(text)) ? 'deferred' : 'rejected';
}

function decodeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&');
}

export interface QstatJob {
  jobId: string;
  name: string;
  owner: string;
  /** State letters as qstat prints them (`qw`, `hqw`, `r`, `Eqw`, `dr`, …). */
  state: string;
  /** Task ids of this line (array jobs), undefined for a plain job. */
  tasks?: number[];
}

/** `qstat -xml` output: one entry per <job_list> (running tasks one per line, pending tasks as a list). */
export function parseQstatXml(xml: string): QstatJob[] {
  const out: QstatJob[] = [];
  const field = (block: string, tag: string): string | undefined => {
    const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(block);
    return m ? decodeXml(m[1] as string).trim() : undefined;
  };
  for (const m of xml.matchAll(/<job_list\b[^>]*>([\s\S]*?)<\/job_list>/g)) {
    const block = m[1] as string;
    const jobId = field(block, 'JB_job_number');
    if (!jobId) continue;
    const tasksText = field(block, 'tasks');
    const tasks = tasksText ? expandIndexList(tasksText) : undefined;
    out.push({
      jobId,
      name: field(block, 'JB_name') ?? '',
      owner: field(block, 'JB_owner') ?? '',
      state: field(block, 'state') ?? '',
      ...(tasks ? { tasks } : {}),
    });
  }
  return out;
}

/** Maps SGE state letters (sge_status(5)) to a runctrl state. */
export function mapSgeState(state: string): JobState {
  const s = state.trim();
  if (s === '') return { state: 'unknown', reason: 'empty SGE state' };
  if (s.includes('d')) return { state: 'cancelled', reason: `being deleted (${s})` };
  if (s.includes('E')) return { state: 'held', reason: `error state (${s}): qmod -cj clears it` };
  if (s.includes('h')) return { state: 'held', reason: `hold (${s})` };
  if (/[sST]/.test(s) && /[rt]/.test(s)) return { state: 'running', reason: `suspended (${s})` };
  if (s.includes('r') || s.includes('t'))
    return s.includes('R') ? { state: 'running', reason: `restarted (${s})` } : { state: 'running' };
  if (s.includes('q') || s.includes('w'))
    return { state: 'pending', ...(s.includes('R') ? { reason: `rescheduled (${s})` } : {}) };
  if (/[sST]/.test(s)) return { state: 'running', reason: `suspended (${s})` };
  return { state: 'unknown', reason: `unrecognised SGE state ${s}` };
}

export interface QacctRecord {
  jobId: string;
  /** undefined for a plain job. */
  taskId?: number;
  name: string;
  /** The numeric part of `failed`. */
  failed: number;
  failedText: string;
  exitStatus: number;
  /** ru_wallclock in seconds, maxvmem in MB, and the h_rt (s) / h_vmem (MB) limits of its category. */
  wallclockS?: number;
  maxvmemMb?: number;
  hRtS?: number;
  hVmemMb?: number;
}

/** `qacct -j …` output: records separated by `=====` lines. */
export function parseQacct(text: string): QacctRecord[] {
  const out: QacctRecord[] = [];
  for (const block of text.split(/^=+\s*$/m)) {
    const kv = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^(\w+)\s+(.*?)\s*$/.exec(line);
      if (m) kv.set(m[1] as string, m[2] as string);
    }
    const jobId = kv.get('jobnumber');
    const exit = kv.get('exit_status');
    const failed = kv.get('failed');
    if (!jobId || exit === undefined || failed === undefined) continue;
    const task = kv.get('taskid');
    const f = /^(\d+)\s*(?::\s*(.*))?$/.exec(failed);
    const e = /^(-?\d+)/.exec(exit);
    out.push({
      jobId,
      ...(task && /^\d+$/.test(task) ? { taskId: Number(task) } : {}),
      name: kv.get('jobname') ?? '',
      failed: f ? Number(f[1]) : -1,
      failedText: f?.[2]?.trim() ?? failed,
      exitStatus: e ? Number(e[1]) : -1,
      ...usageOf(kv),
    });
  }
  return out;
}

/** The state of a finished job from its accounting record. */
export function stateFromQacct(r: QacctRecord): JobState {
  const cls = classifySge(r);
  if (r.failed === 0) {
    const st = stateFromExitCode(r.exitStatus, 'qacct');
    return st.state === 'failed' && cls ? { ...st, failureClass: cls } : st;
  }
  const why = `failed ${r.failed}${r.failedText ? `: ${r.failedText}` : ''}`;
  const st: JobState =
    r.exitStatus > 0
      ? { state: 'failed', exitCode: r.exitStatus, reason: why }
      : { state: 'failed', reason: why };
  return cls ? { ...st, failureClass: cls } : st;
}

/** SGE memory (`3.391MB`, `0.000B`, `1.024G`, `200M`, bytes) in MB; K/M/G are 1024-based, k/m/g 1000-based. */
export function sgeMemoryMb(text: string): number | undefined {
  const m = /^([\d.]+)\s*([kKmMgGtT]?)B?$/.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]);
  const u = m[2] ?? '';
  const pow = { '': 0, k: 1, m: 2, g: 3, t: 4 }[u.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const factor = (u === u.toLowerCase() && u !== '' ? 1000 : 1024) ** pow;
  return Number.isFinite(v) ? (v * factor) / 1024 ** 2 : undefined;
}

/** An SGE time (`3`, `3s`, `0:1:0`, `1:00:00`) in seconds. */
export function sgeSeconds(text: string): number | undefined {
  const t = text.trim().replace(/s$/, '');
  if (/^[\d.]+$/.test(t)) return Number(t);
  const m = /^(\d*):(\d*):(\d*)$/.exec(t);
  return m ? Number(m[1] || 0) * 3600 + Number(m[2] || 0) * 60 + Number(m[3] || 0) : undefined;
}

/** ru_wallclock, maxvmem and the h_rt / h_vmem of `category` (`-l h_rt=60,h_vmem=200M`) of a qacct record. */
function usageOf(kv: Map<string, string>): Partial<QacctRecord> {
  const out: Partial<QacctRecord> = {};
  const wall = sgeSeconds(kv.get('ru_wallclock') ?? '');
  const vmem = sgeMemoryMb(kv.get('maxvmem') ?? '');
  if (wall !== undefined) out.wallclockS = wall;
  if (vmem !== undefined) out.maxvmemMb = vmem;
  for (const m of (kv.get('category') ?? '').matchAll(/(?:^|[\s,])(h_rt|h_vmem)=([^\s,]+)/g)) {
    const v = m[1] === 'h_rt' ? sgeSeconds(m[2] as string) : sgeMemoryMb(m[2] as string);
    if (v === undefined) continue;
    if (m[1] === 'h_rt') out.hRtS = v;
    else out.hVmemMb = v;
  }
  return out;
}

/** `failed` codes of a job that could not start on its host (sge_shepherd; 26–28 are the job's own paths). */
const HOST_FAILURES = new Set([
  1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 24, 25, 29, 31, 32, 33, 34, 35, 36, 38,
]);

/**
 * The failure class of a qacct record: a job killed (exit 137, or 152/138 for the soft limits, or `failed 37:
 * qmaster enforced h_rt, h_cpu, or h_vmem limit`) whose wall clock reached its h_rt → timeout, whose maxvmem
 * reached its h_vmem → oom; a job that could not start on its host → node; the command's own exit → app.
 * Under h_vmem an allocation usually fails inside the command (RLIMIT_AS): that reads as the command's exit.
 */
export function classifySge(r: QacctRecord): FailureClass | undefined {
  if (r.failed === 0 && r.exitStatus === 0) return undefined;
  const killed = r.failed === 37 || [137, 138, 152].includes(r.exitStatus);
  if (killed) {
    if (r.hRtS !== undefined && r.wallclockS !== undefined && r.wallclockS >= r.hRtS - 1) return 'timeout';
    if (r.hVmemMb !== undefined && r.maxvmemMb !== undefined && r.maxvmemMb >= 0.95 * r.hVmemMb) return 'oom';
    if (r.failed === 37) return r.hRtS === undefined && r.hVmemMb !== undefined ? 'oom' : 'timeout';
    return undefined;
  }
  if (HOST_FAILURES.has(r.failed)) return 'node';
  if (r.failed === 0 || r.failed === 26 || r.failed === 27 || r.failed === 28) return 'app';
  return undefined;
}

/**
 * Ids qdel took: `root has registered the job 16 for deletion`, `… the job-array task 3.5 for deletion`,
 * `root has deleted job 4`.
 */
export function parseQdelTaken(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(
    /has (?:registered the job(?:-array task|-array)?|deleted job(?:-array task)?) (\d+(?:\.\d+)?)/g,
  )) {
    out.push(m[1] as string);
  }
  return out;
}

/** `19.2` → parts; undefined for a malformed id (never passed to a command). */
export function splitSgeId(id: string): { jobId: string; task?: number } | undefined {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(id);
  if (!m) return undefined;
  return m[2] === undefined ? { jobId: m[1] as string } : { jobId: m[1] as string, task: Number(m[2]) };
}

/** SGE job names may not contain `\n \t \r / : @ \ * ?` nor start with a digit. */
export function sgeJobName(name: string): string {
  const s = name.replace(/[\n\t\r/:@\\*?\s]/g, '_');
  return /^\d/.test(s) ? `j${s}` : s;
}

/** h_rt for a wall time in minutes: SGE takes seconds, so a fractional minute is rounded up to the second. */
function hms(min: number): string {
  const total = walltimeSeconds(min);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** `-b` time for qacct: `[[CC]YY]MMDDhhmm` local time. */
export function qacctTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}`;
}

export function sgeResourceArgs(r: Resources, pe = 'smp', memory = 'h_vmem'): string[] {
  const a: string[] = [];
  if (r.cpus !== undefined && r.cpus > 1) a.push('-pe', pe, String(r.cpus));
  if (r.memoryMb !== undefined) a.push('-l', `${memory}=${Math.ceil(r.memoryMb)}M`);
  if (r.walltimeMin !== undefined) a.push('-l', `h_rt=${hms(r.walltimeMin)}`);
  if (r.queue !== undefined) a.push('-q', r.queue);
  if (r.account !== undefined) a.push('-A', r.account);
  a.push(...(r.extra ?? []));
  return a;
}

/** The script of an array job: runs task i's wrapper (SGE_TASK_ID = i + 1) with task i's stdout/stderr. */
export function sgeArrayScript(dir: string, jobs: JobSpec[]): string {
  return arrayCaseScript(dir, jobs, 'SGE_TASK_ID', 1);
}

const ARRAY_PREFIX = 'rcarr.';

// ---------------------------------------------------------------------------------------------------------

export class SgeBackend implements Backend {
  readonly name = 'sge';
  private readonly env: NodeJS.ProcessEnv;
  private readonly user: string;
  private readonly timeoutMs: number;
  private readonly submitTimeoutMs: number;
  private readonly arraysDir: string;
  private readonly cancelled = new Set<string>();
  private readonly final = new Map<string, JobState>();
  private readonly manifests = new Map<string, string[]>();
  private pruned = false;

  constructor(private readonly opts: SgeOptions) {
    this.env = opts.env ?? process.env;
    this.user = opts.user ?? currentUser(this.env);
    this.timeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.submitTimeoutMs = opts.submitTimeoutMs ?? 60_000;
    this.arraysDir = path.join(opts.stateDir, 'sge', 'arrays');
  }

  private run(cmd: string, args: string[], input?: string, timeoutMs = this.timeoutMs): Promise<ExecResult> {
    return exec(cmd, args, { env: this.env, timeoutMs, ...(input === undefined ? {} : { input }) });
  }

  private resArgs(r: Resources): string[] {
    return sgeResourceArgs(r, this.opts.parallelEnvironment, this.opts.memoryResource);
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

  private outArgs(stdout: string, stderr: string): string[] {
    return stdout === stderr ? ['-j', 'y', '-o', stdout] : ['-o', stdout, '-e', stderr];
  }

  private async submitOne(job: JobSpec, result: SubmitResult): Promise<void> {
    const args = [
      '-terse',
      '-N',
      sgeJobName(job.name),
      '-S',
      '/bin/sh',
      '-wd',
      job.workDir,
      ...this.outArgs(job.stdout, job.stderr),
      ...this.resArgs(job.resources),
      ...sgePriorityArgs(job.priority),
    ];
    const r = await this.run('qsub', args, jobScript(job), this.submitTimeoutMs);
    await this.take(r, [job], (p) => (p.tasks ? undefined : [{ name: job.name, id: p.jobId }]), result);
  }

  private async submitArray(jobs: JobSpec[], result: SubmitResult): Promise<void> {
    const first = jobs[0] as JobSpec;
    const { token, dir, names } = await writeArrayDir(this.arraysDir, jobs, 1);
    this.manifests.set(token, names);
    const script = sgeArrayScript(dir, jobs);
    await writeFile(path.join(dir, 'array.sh'), script);
    const args = [
      '-terse',
      '-t',
      `1-${jobs.length}`,
      ...(this.opts.arrayThrottle ? ['-tc', String(this.opts.arrayThrottle)] : []),
      '-N',
      `${ARRAY_PREFIX}${token}`,
      '-S',
      '/bin/sh',
      '-wd',
      dir,
      '-j',
      'y',
      '-o',
      path.join(dir, 'sge-$TASK_ID.out'),
      ...this.resArgs(first.resources),
      ...sgePriorityArgs(first.priority),
    ];
    const r = await this.run('qsub', args, script, this.submitTimeoutMs);
    await this.take(
      r,
      jobs,
      (p) =>
        p.tasks && p.tasks.length === jobs.length
          ? jobs.map((j, i) => ({ name: j.name, id: `${p.jobId}.${i + 1}` }))
          : undefined,
      result,
    );
  }

  private async take(
    r: ExecResult,
    jobs: JobSpec[],
    ids: (p: { jobId: string; tasks?: number[] }) => Submitted[] | undefined,
    result: SubmitResult,
  ): Promise<void> {
    if (r.spawnError && /ENOENT/.test(r.spawnError)) {
      throw new UserError('qsub not found: is the Grid Engine client installed and on PATH?');
    }
    if (r.code === 0 && !r.timedOut) {
      const p = parseQsubTerse(r.stdout);
      const subs = p ? ids(p) : undefined;
      if (subs) {
        result.submitted.push(...subs);
        return;
      }
    }
    if (r.timedOut || r.code === 0) {
      // Maybe queued although no id came back: look for it before deferring.
      await takeUnanswered('qsub', r, this.submitTimeoutMs, jobs, (n) => this.find(n), result);
      return;
    }
    const text = `${r.stderr}\n${r.stdout}`;
    const reason =
      nonEmptyLines(text)
        .filter((l) => l !== 'Exiting.')
        .join('; ') || `qsub exited ${r.code}`;
    const kind = classifyQsubFailure(text);
    for (const j of jobs) result[kind].push({ name: j.name, reason });
  }

  private async pruneArrayDirs(): Promise<void> {
    if (this.pruned) return;
    this.pruned = true;
    await pruneOldDirs(this.arraysDir, this.opts.keepArrayDirsMs ?? 14 * 24 * 3600_000);
  }

  private async manifestNames(token: string): Promise<string[] | undefined> {
    if (!/^[A-Za-z0-9-]+$/.test(token)) return undefined;
    const cached = this.manifests.get(token);
    if (cached) return cached;
    const names = await readManifestNames(path.join(this.arraysDir, token, 'manifest.json'));
    if (names) this.manifests.set(token, names);
    return names;
  }

  // ------------------------------------------------------------------------------------------------ status

  private async qstat(): Promise<QstatJob[]> {
    const r = await this.run('qstat', ['-xml', '-u', this.user]);
    if (r.code !== 0 || r.timedOut || !/<job_info/.test(r.stdout)) queryFailed('qstat', r, this.timeoutMs);
    return parseQstatXml(r.stdout);
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    if (jobs.length === 0) return out;
    const listed = new Map<string, QstatJob>();
    for (const q of await this.qstat()) {
      if (q.tasks) for (const t of q.tasks) listed.set(`${q.jobId}.${t}`, q);
      else listed.set(q.jobId, q);
    }
    const missing: TrackedJob[] = [];
    for (const job of jobs) {
      const id = splitSgeId(job.id);
      const q = id ? listed.get(job.id) : undefined;
      if (q) out.set(job.id, mapSgeState(q.state));
      else if (id && this.final.has(job.id)) out.set(job.id, this.final.get(job.id) as JobState);
      else missing.push(job);
    }
    if (missing.length === 0) return out;
    const acct = this.opts.accounting === false ? new Map<string, QacctRecord>() : await this.qacct(missing);
    for (const job of missing) {
      const rec = acct.get(job.id);
      let st: JobState;
      if (rec) {
        st = stateFromQacct(rec);
        if (st.state === 'failed' && this.cancelled.has(job.id)) {
          st = {
            state: 'cancelled',
            ...(st.exitCode === undefined ? {} : { exitCode: st.exitCode }),
            reason: 'cancelled by runctrl',
          };
        }
        this.remember(job.id, st);
      } else {
        st = await fromExitCodeFile(
          job.exitCodeFile,
          'not in qstat, no accounting record, no exit-code file',
        );
        if (st.state === 'unknown' && this.cancelled.has(job.id)) {
          st = { state: 'cancelled', reason: 'cancelled by runctrl; no longer listed' };
        } else if (st.state === 'failed' && this.cancelled.has(job.id)) {
          st = { ...st, state: 'cancelled', reason: 'cancelled by runctrl' };
        }
      }
      out.set(job.id, st);
    }
    return out;
  }

  private remember(id: string, st: JobState): void {
    if (this.final.size >= 100_000) this.final.clear();
    this.final.set(id, st);
  }

  /** Accounting records of the given jobs (one qacct call); never throws. */
  private async qacct(jobs: TrackedJob[]): Promise<Map<string, QacctRecord>> {
    const out = new Map<string, QacctRecord>();
    const wanted = new Set(jobs.filter((j) => splitSgeId(j.id)).map((j) => j.id));
    if (wanted.size === 0) return out;
    const since = jobs.reduce((m, j) => Math.min(m, j.submittedAt), Infinity) - 10 * 60_000;
    const r = await this.run('qacct', ['-o', this.user, '-b', qacctTime(since), '-j']);
    if (r.code !== 0 || r.timedOut) return out; // e.g. no accounting file yet: the exit-code file decides
    for (const rec of parseQacct(r.stdout)) {
      const id = rec.taskId === undefined ? rec.jobId : `${rec.jobId}.${rec.taskId}`;
      // A recycled id keeps its latest record (qacct prints in order of completion).
      if (wanted.has(id)) out.set(id, rec);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------ cancel

  async cancel(ids: string[]): Promise<void> {
    const valid = ids.filter((id) => splitSgeId(id) !== undefined);
    for (const part of chunks(valid, 500)) {
      const r = await this.run('qdel', part);
      // Only jobs qdel actually took are "cancelled by runctrl" (not ones that had already finished).
      for (const id of parseQdelTaken(`${r.stdout}\n${r.stderr}`)) {
        if (this.cancelled.size >= 100_000) this.cancelled.clear();
        this.cancelled.add(id);
      }
      if (r.code === 0 && !r.timedOut) continue;
      const bad = nonEmptyLines(`${r.stderr}\n${r.stdout}`).filter(
        (l) =>
          !/does not exist|has registered the job|has deleted job|for deletion|already deleted|already in deletion/i.test(
            l,
          ),
      );
      if (r.timedOut || r.spawnError || bad.length > 0) queryFailed('qdel', r, this.timeoutMs);
    }
  }

  // ------------------------------------------------------------------------------------------------ find

  async find(names: string[]): Promise<Submitted[]> {
    if (names.length === 0) return [];
    const wanted = new Map<string, string>();
    for (const n of names) wanted.set(sgeJobName(n), n);
    const found: Submitted[] = [];
    const seen = new Set<string>();
    const add = (name: string | undefined, id: string): void => {
      if (name !== undefined && !seen.has(id)) {
        seen.add(id);
        found.push({ name, id });
      }
    };
    for (const q of await this.qstat()) {
      if (q.name.startsWith(ARRAY_PREFIX)) {
        const taskNames = await this.manifestNames(q.name.slice(ARRAY_PREFIX.length));
        if (!taskNames) continue;
        for (const t of q.tasks ?? []) {
          const n = taskNames[t - 1];
          if (n !== undefined && names.includes(n)) add(n, `${q.jobId}.${t}`);
        }
      } else if (!q.tasks) {
        add(wanted.get(q.name), q.jobId);
      }
    }
    return found;
  }

  // ------------------------------------------------------------------------------------------------ misc

  async inFlight(): Promise<number> {
    let n = 0;
    for (const q of await this.qstat()) n += q.tasks?.length ?? 1;
    return n;
  }

  /** Nothing to release. Idempotent. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
