/**
 * IBM Spectrum LSF backend.
 *
 * - submit: `bsub` with the job script on stdin (`Job <123> is submitted to queue <normal>.`); jobs with equal
 *   resources go out as one array `-J "rcarr.<hash>[1-N]"` whose stdin script runs the per-index script
 *   `<stateDir>/lsf/arrays/<name>/<LSB_JOBINDEX>.sh`; ids `123` / `123[4]`.
 * - status: ONE `bjobs -o "jobid jobindex stat exit_code exit_reason pend_reason job_name" -json -a <ids>`;
 *   records `{"ERROR":"Job <123> is not found"}` (and jobs absent from the answer) go to the exit-code file,
 *   else `unknown`.
 * - cancel: `bkill`; "Job has already finished" / "No matching job found" are success.
 */
import path from 'node:path';
import { TransientError } from '../errors.js';
import {
  ArrayRegistry,
  arrayUnits,
  cancelInChunks,
  currentUser,
  dispatcherScript,
  isRecord,
  jsonFrom,
  oneLine,
  outputText,
  readExitCodeFile,
  redirectedScript,
  refuseAll,
  resolveMissing,
  runBatch,
  stateOfExitCode,
  submitInOrder,
  toInt,
  toStr,
  walltimeMinutes,
} from './common.js';
import type { FailureClass } from '../domain/retry.js';
import type { Backend, JobSpec, JobState, Resources, SubmitResult, Submitted, TrackedJob } from './types.js';
import { lsfPriorityArgs } from './priority.js';

export interface LsfBackendOptions {
  /** Directory for array scripts and the array-name registry. */
  stateDir: string;
  /** Environment of bsub/bjobs/bkill (PATH, LSF_ENVDIR, …). */
  env?: NodeJS.ProcessEnv;
  /** Default queue (`-q`) when a job names none. */
  queue?: string;
  /** Default project (`-P`) when a job names no account. */
  project?: string;
  /** Timeout of bjobs/bkill (default 60 s). */
  commandTimeoutMs?: number;
  /**
   * Timeout of bsub (default 120 s). bsub keeps retrying on "Pending job threshold reached. Retrying in 60
   * seconds..." — a bsub stopped by this timeout is a deferred submission.
   */
  submitTimeoutMs?: number;
  /** Most elements per array (default 1000, LSF's MAX_JOB_ARRAY_SIZE default). */
  maxArraySize?: number;
  /** Submit groups of equal jobs as arrays (default true). */
  arrays?: boolean;
}

export const BJOBS_FIELDS = 'jobid jobindex stat exit_code exit_reason pend_reason job_name';

export type BjobsRecord = Record<string, string>;

export interface BjobsAnswer {
  records: BjobsRecord[];
  /** Ids from `{"ERROR":"Job <id> is not found"}` records. */
  notFound: string[];
  /** Other ERROR records. */
  errors: string[];
}

/** The job id from bsub's output (`Job <123> is submitted to [default ]queue <normal>.`). */
export function parseBsubOutput(stdout: string): string | undefined {
  let id: string | undefined;
  for (const m of stdout.matchAll(/Job <(\d+)> is submitted/g)) id = m[1];
  return id;
}

/** bsub errors that mean "try again later". */
export function isLsfSubmitTransient(text: string): boolean {
  return /Pending job threshold reached|Cannot connect to LSF|LSF is down|daemon not responding|not responding|Failed in an LSF library call|lsb_init|Unable to contact|try again later|timed out|Timeout|job slot limit|limit reached|Too many jobs/i.test(
    text,
  );
}

/** Parses `bjobs -o … -json` (lines before the document are skipped). Throws when there is no document. */
export function parseBjobsJson(stdout: string): BjobsAnswer {
  const parsed: unknown = JSON.parse(jsonFrom(stdout, '{') ?? stdout);
  if (!isRecord(parsed) || !Array.isArray(parsed.RECORDS)) throw new Error('bjobs JSON has no RECORDS');
  const out: BjobsAnswer = { records: [], notFound: [], errors: [] };
  for (const rec of parsed.RECORDS) {
    if (!isRecord(rec)) continue;
    const err = toStr(rec.ERROR);
    if (err !== undefined) {
      const m = /Job <([^>]+)> is not found/.exec(err);
      if (m?.[1] !== undefined) out.notFound.push(m[1]);
      else out.errors.push(err);
      continue;
    }
    const r: BjobsRecord = {};
    for (const [k, v] of Object.entries(rec)) {
      const s = toStr(v);
      if (s !== undefined) r[k.toUpperCase()] = s;
    }
    out.records.push(r);
  }
  return out;
}

/** Ids from plain-text `Job <123> is not found` lines (bjobs stderr). */
export function parseBjobsNotFound(text: string): string[] {
  return [...text.matchAll(/Job <([^>]+)> is not found/g)].map((m) => m[1] as string);
}

/** `123` or `123[4]` for a bjobs record. */
export function bjobsKey(rec: BjobsRecord): string | undefined {
  const id = rec.JOBID?.trim();
  if (!id) return undefined;
  if (/\[\d+\]$/.test(id)) return id;
  const idx = rec.JOBINDEX?.trim();
  return idx && idx !== '0' && idx !== '-' ? `${id}[${idx}]` : id;
}

const KILLED =
  /TERM_OWNER|TERM_ADMIN|TERM_FORCE_OWNER|TERM_FORCE_ADMIN|killed by owner|killed by root or LSF administrator/i;

/**
 * The failure class of an LSF exit reason (`TERM_MEMLIMIT: job killed after reaching LSF memory usage limit`):
 * TERM_MEMLIMIT, TERM_SWAP → oom; TERM_RUNLIMIT, TERM_CPULIMIT, TERM_DEADLINE → timeout; TERM_PREEMPT,
 * TERM_HOST, TERM_LOAD, TERM_ORPHAN_SYSTEM, TERM_REQUEUE_ADMIN, TERM_UNKNOWN, TERM_ZOMBIE → node; none (a plain
 * `exit code N`) → the poller decides.
 */
export function classifyLsf(exitReason: string): FailureClass | undefined {
  const term = /\b(TERM_[A-Z_]+)/.exec(exitReason)?.[1];
  if (term === undefined) return undefined;
  if (term === 'TERM_MEMLIMIT' || term === 'TERM_SWAP') return 'oom';
  if (term === 'TERM_RUNLIMIT' || term === 'TERM_CPULIMIT' || term === 'TERM_DEADLINE') return 'timeout';
  if (
    /^TERM_(PREEMPT|HOST|LOAD|ORPHAN_SYSTEM|REQUEUE_ADMIN|UNKNOWN|ZOMBIE|RC_RECLAIM|REMOVE_HUNG_JOB|MC_RECALL|WINDOW)$/.test(
      term,
    )
  )
    return 'node';
  return undefined;
}

/** The state of one bjobs record; `undefined` for UNKWN/ZOMBI (the caller asks the exit-code file). */
export function lsfRecordState(rec: BjobsRecord): JobState | undefined {
  const stat = (rec.STAT ?? '').trim();
  const pend = rec.PEND_REASON?.trim();
  const why = rec.EXIT_REASON?.trim();
  switch (stat) {
    case 'PEND':
    case 'PROV':
    case 'WAIT':
      return pend ? { state: 'pending', reason: pend } : { state: 'pending' };
    case 'PSUSP':
      return { state: 'pending', reason: 'suspended while pending (PSUSP)' };
    case 'RUN':
      return { state: 'running' };
    case 'USUSP':
    case 'SSUSP':
      return { state: 'running', reason: `suspended (${stat})` };
    case 'DONE':
      return { state: 'done', exitCode: 0 };
    case 'EXIT': {
      const code = toInt(rec.EXIT_CODE);
      const st: JobState = { state: why && KILLED.test(why) ? 'cancelled' : 'failed' };
      if (code !== undefined) st.exitCode = code;
      st.reason = why || (code !== undefined ? `exit code ${code}` : 'EXIT');
      const cls = st.state === 'failed' ? classifyLsf(why ?? '') : undefined;
      if (cls) st.failureClass = cls;
      return st;
    }
    case 'UNKWN':
    case 'ZOMBI':
      return undefined;
    default:
      return { state: 'unknown', reason: `LSF state ${stat || '(none)'}` };
  }
}

/** bkill output lines that mean "nothing left to kill". */
export function isBkillBenign(line: string): boolean {
  const l = line.trim();
  return (
    l === '' ||
    /Job has already finished|No matching job found|is being terminated|is being signaled|has already been terminated|is not found/i.test(
      l,
    )
  );
}

function directives(r: Resources): string[] {
  return (r.extra ?? []).map((e) => (e.trim().startsWith('#') ? e : `#BSUB ${e}`));
}

export class LsfBackend implements Backend {
  readonly name = 'lsf';
  private readonly stateDir: string;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly queue: string | undefined;
  private readonly project: string | undefined;
  private readonly commandTimeoutMs: number;
  private readonly submitTimeoutMs: number;
  private readonly maxArraySize: number;
  private readonly arrays: boolean;
  private readonly registry: ArrayRegistry;

  constructor(opts: LsfBackendOptions) {
    this.stateDir = path.join(opts.stateDir, 'lsf');
    this.env = opts.env;
    this.queue = opts.queue;
    this.project = opts.project;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 60_000;
    this.submitTimeoutMs = opts.submitTimeoutMs ?? 120_000;
    this.maxArraySize = Math.max(1, opts.maxArraySize ?? 1000);
    this.arrays = opts.arrays ?? true;
    this.registry = new ArrayRegistry(path.join(this.stateDir, 'arrays'));
  }

  private resourceArgs(r: Resources): string[] {
    const args: string[] = [];
    const queue = r.queue ?? this.queue;
    if (queue !== undefined) args.push('-q', queue);
    if (r.cpus !== undefined) args.push('-n', String(Math.max(1, Math.ceil(r.cpus))));
    if (r.memoryMb !== undefined) args.push('-M', `${Math.max(1, Math.ceil(r.memoryMb))}MB`);
    // bsub -W takes [hour:]minute: a fractional minute is rounded up
    if (r.walltimeMin !== undefined) args.push('-W', String(walltimeMinutes(r.walltimeMin)));
    const project = r.account ?? this.project;
    if (project !== undefined) args.push('-P', project);
    args.push('-o', '/dev/null', '-e', '/dev/null');
    return args;
  }

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    const units = arrayUnits(jobs, this.arrays ? this.maxArraySize : 1);
    return submitInOrder(units, (unit) =>
      unit.length === 1 ? this.submitOne(unit[0] as JobSpec) : this.submitArray(unit),
    );
  }

  private async bsub(
    jobs: JobSpec[],
    args: string[],
    script: string,
    ids: (id: string) => string[],
  ): Promise<SubmitResult> {
    const res: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    const r = await runBatch('bsub', args, { env: this.env, input: script, timeoutMs: this.submitTimeoutMs });
    const text = outputText(r);
    const id = r.timedOut ? undefined : parseBsubOutput(r.stdout);
    if (id === undefined) {
      const reason = r.timedOut
        ? `bsub stopped after ${this.submitTimeoutMs} ms${text ? `: ${oneLine(text)}` : ''}`
        : `bsub exit ${r.code}: ${oneLine(text) || 'no output'}`;
      refuseAll(res, jobs, reason, r.timedOut || isLsfSubmitTransient(text));
      return res;
    }
    const list = ids(id);
    jobs.forEach((j, i) => res.submitted.push({ name: j.name, id: list[i] as string }));
    return res;
  }

  private async submitOne(job: JobSpec): Promise<SubmitResult> {
    const args = ['-J', job.name, ...this.resourceArgs(job.resources), ...lsfPriorityArgs(job.priority)];
    return this.bsub([job], args, redirectedScript(job, directives(job.resources)), (id) => [id]);
  }

  private async submitArray(jobs: JobSpec[]): Promise<SubmitResult> {
    const { arrayName, dir } = await this.registry.writeArray(jobs);
    const first = jobs[0] as JobSpec;
    const args = [
      '-J',
      `${arrayName}[1-${jobs.length}]`,
      ...this.resourceArgs(first.resources),
      ...lsfPriorityArgs(first.priority),
    ];
    const script = dispatcherScript(dir, 'LSB_JOBINDEX', directives(first.resources));
    return this.bsub(jobs, args, script, (id) => jobs.map((_, i) => `${id}[${i + 1}]`));
  }

  /** Runs bjobs -json; throws TransientError when it did not answer. */
  private async bjobs(args: string[]): Promise<BjobsAnswer> {
    const r = await runBatch('bjobs', args, { env: this.env, timeoutMs: this.commandTimeoutMs });
    if (r.timedOut) throw new TransientError(`bjobs timed out after ${this.commandTimeoutMs} ms`);
    const doc = jsonFrom(r.stdout, '{');
    if (doc !== undefined) {
      try {
        return parseBjobsJson(doc);
      } catch (err) {
        throw new TransientError(`bjobs printed unparsable output: ${oneLine(doc, 200)}`, { cause: err });
      }
    }
    const text = outputText(r);
    const notFound = parseBjobsNotFound(text);
    const rest = text
      .split('\n')
      .filter(
        (l) => l.trim() !== '' && !/is not found|No (unfinished )?job found|No matching job found/i.test(l),
      );
    if (rest.length === 0) return { records: [], notFound, errors: [] };
    throw new TransientError(`bjobs failed (exit ${r.code}): ${oneLine(text)}`);
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    if (jobs.length === 0) return out;
    // One argument per single job; an array's base id when several of its elements are asked for.
    const perBase = new Map<string, number>();
    for (const j of jobs) {
      const base = j.id.replace(/\[\d+\]$/, '');
      perBase.set(base, (perBase.get(base) ?? 0) + 1);
    }
    const args = new Set<string>();
    for (const j of jobs) {
      const base = j.id.replace(/\[\d+\]$/, '');
      args.add((perBase.get(base) ?? 0) > 1 ? base : j.id);
    }
    const answer = await this.bjobs(['-o', BJOBS_FIELDS, '-json', '-a', ...args]);
    const byKey = new Map<string, BjobsRecord>();
    for (const rec of answer.records) {
      const k = bjobsKey(rec);
      if (k !== undefined) byKey.set(k, rec);
    }
    const missing: TrackedJob[] = [];
    for (const j of jobs) {
      const rec = byKey.get(j.id);
      if (!rec) {
        missing.push(j);
        continue;
      }
      const st = lsfRecordState(rec);
      if (st) {
        out.set(j.id, st);
        continue;
      }
      const code = await readExitCodeFile(j.exitCodeFile);
      const lsfState = rec.STAT ?? '';
      out.set(
        j.id,
        code === undefined
          ? { state: 'unknown', reason: `LSF state ${lsfState}; no exit-code file` }
          : stateOfExitCode(code, `LSF state ${lsfState}; exit-code file`),
      );
    }
    await resolveMissing(out, missing, () => 'not known to bjobs');
    return out;
  }

  async cancel(ids: string[]): Promise<void> {
    await cancelInChunks('bkill', ids, isBkillBenign, { env: this.env, timeoutMs: this.commandTimeoutMs });
  }

  /** Job name of a record, with array elements mapped back through the registry. */
  private async recordName(rec: BjobsRecord): Promise<string | undefined> {
    const name = rec.JOB_NAME?.trim();
    if (!name) return undefined;
    const m = /^(.+)\[(\d+)\]$/.exec(name);
    if (!m || m[1] === undefined || m[2] === undefined) return name;
    const members = await this.registry.lookup(m[1]);
    return members?.[Number(m[2]) - 1] ?? name;
  }

  async find(names: string[]): Promise<Submitted[]> {
    const wanted = new Set(names);
    if (wanted.size === 0) return [];
    const answer = await this.bjobs([
      '-o',
      'jobid jobindex stat job_name',
      '-json',
      '-a',
      '-u',
      currentUser(this.env),
    ]);
    const best = new Map<string, { id: string; num: number }>();
    for (const rec of answer.records) {
      const key = bjobsKey(rec);
      const name = await this.recordName(rec);
      if (key === undefined || name === undefined || !wanted.has(name)) continue;
      const num = Number(rec.JOBID) || 0;
      const cur = best.get(name);
      if (!cur || num > cur.num) best.set(name, { id: key, num });
    }
    return [...wanted].filter((n) => best.has(n)).map((n) => ({ name: n, id: best.get(n)?.id as string }));
  }

  async inFlight(): Promise<number> {
    const answer = await this.bjobs(['-o', 'jobid jobindex stat', '-json', '-u', currentUser(this.env)]);
    return answer.records.filter((r) => r.STAT !== 'DONE' && r.STAT !== 'EXIT').length;
  }

  async close(): Promise<void> {
    // Nothing held open.
  }
}
