/**
 * PBS Pro / OpenPBS and Torque backend.
 *
 * - flavour: option, or detected once with `qstat --version` (`pbs_version = …` is PBS Pro, else Torque).
 * - submit: `qsub <script>` prints one line id (`548.moab`, `2154.edtb-01.mcp.alcf.anl.gov`) that is kept
 *   whole. Jobs with equal resources go out as one array (PBS Pro `-J 1-N`, Torque `-t 1-N`; id `123[].server`,
 *   elements `123[4].server`) whose script runs `<stateDir>/pbs/arrays/<name>/<index>.sh`.
 * - status: PBS Pro ONE `qstat -f -F json -x <ids>`; Torque ONE `qstat -x <ids>` (XML; the `qstat` table is
 *   understood too). `qstat: Unknown Job Id <id>` (exit 153) = not known → exit-code file → `unknown`.
 *   E (exiting) is still running; F/X/C are finished and read Exit_status (0 done, 265/271 cancelled).
 * - cancel: `qdel`; "Job has finished" / "Unknown Job Id" are success.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { TransientError, UserError } from '../errors.js';
import {
  ArrayRegistry,
  arrayUnits,
  cancelInChunks,
  chunks,
  currentUser,
  dispatcherScript,
  hhmmss,
  walltimeSeconds,
  isRecord,
  jsonFrom,
  oneLine,
  outputText,
  redirectedScript,
  refuseAll,
  resolveMissing,
  runBatch,
  safeName,
  submitInOrder,
  toInt,
  toStr,
  writeScript,
} from './common.js';
import type { FailureClass } from '../domain/retry.js';
import type { Backend, JobSpec, JobState, Resources, SubmitResult, Submitted, TrackedJob } from './types.js';
import { pbsPriorityArgs } from './priority.js';

export type PbsFlavour = 'pbspro' | 'torque';

export interface PbsBackendOptions {
  /** Directory for job scripts and the array-name registry. */
  stateDir: string;
  /** Environment of qsub/qstat/qdel (PATH, PBS_SERVER, …). */
  env?: NodeJS.ProcessEnv;
  /** `pbspro` (also OpenPBS), `torque`, or `auto` (default: `qstat --version`). */
  flavour?: PbsFlavour | 'auto';
  /** Default queue (`-q`) when a job names none. */
  queue?: string;
  /** Default account (`-A`) when a job names none. */
  account?: string;
  /** Timeout of qstat/qdel (default 60 s). */
  commandTimeoutMs?: number;
  /** Timeout of qsub (default 120 s). */
  submitTimeoutMs?: number;
  /** Most elements per array (default 1000). */
  maxArraySize?: number;
  /** Submit groups of equal jobs as arrays (default true). */
  arrays?: boolean;
}

export interface PbsJobInfo {
  /** The full id as the server prints it (`123.server`, `123[4].server`, `123[].server`). */
  id: string;
  /** One-letter job_state. */
  state: string;
  exitStatus?: number;
  name?: string;
  owner?: string;
  comment?: string;
  /** Array parent (PBS Pro): subjobs not yet finished, from array_state_count. */
  remaining?: number;
}

/** The job id from qsub: the last non-empty line, kept whole. */
export function parseQsubOutput(stdout: string): string | undefined {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const last = lines[lines.length - 1];
  return last !== undefined && /^\d+(\[\d*\])?(\.\S+)?$/.test(last) ? last : undefined;
}

/** PBS Pro prints `pbs_version = 19.1.3` for `qstat --version`; Torque prints `Version: 6.1.3`. */
export function detectPbsFlavour(versionText: string): PbsFlavour | undefined {
  if (/pbs_version/i.test(versionText)) return 'pbspro';
  if (/^\s*(Version|version):\s*\d/m.test(versionText)) return 'torque';
  return undefined;
}

/** Fixes backslashes that older PBS Pro versions leave unescaped in JSON strings. */
function sanitizePbsJson(text: string): string {
  return text.replace(/\\(?!["\\/bfnrtu])/g, '\\\\');
}

function remainingOf(arrayStateCount: string | undefined): number | undefined {
  if (arrayStateCount === undefined) return undefined;
  let n = 0;
  for (const m of arrayStateCount.matchAll(/(Queued|Running|Exiting|Held):(\d+)/g)) n += Number(m[2]);
  return n;
}

/** Parses `qstat -f -F json [-x]` (PBS Pro). A document without "Jobs" has no jobs. */
export function parsePbsProJson(stdout: string): PbsJobInfo[] {
  const raw = stdout.trim();
  if (raw === '') return [];
  const text = jsonFrom(raw, '{') ?? raw;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = JSON.parse(sanitizePbsJson(text));
  }
  if (!isRecord(parsed)) throw new Error('qstat JSON is not an object');
  const jobs = parsed.Jobs;
  if (jobs === undefined) return [];
  if (!isRecord(jobs)) throw new Error('qstat JSON "Jobs" is not an object');
  const out: PbsJobInfo[] = [];
  for (const [id, v] of Object.entries(jobs)) {
    if (!isRecord(v)) continue;
    const info: PbsJobInfo = { id, state: toStr(v.job_state)?.trim() ?? '' };
    const exit = toInt(v.Exit_status);
    if (exit !== undefined) info.exitStatus = exit;
    const name = toStr(v.Job_Name);
    if (name !== undefined) info.name = name;
    const owner = toStr(v.Job_Owner);
    if (owner !== undefined) info.owner = owner;
    const comment = toStr(v.comment);
    if (comment !== undefined) info.comment = comment;
    const remaining = remainingOf(toStr(v.array_state_count));
    if (remaining !== undefined) info.remaining = remaining;
    out.push(info);
  }
  return out;
}

function xmlDecode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&');
}

function xmlTag(block: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(block);
  return m?.[1] === undefined ? undefined : xmlDecode(m[1]).trim();
}

/** Parses Torque's `qstat -x` XML (`<Data><Job><Job_Id>…</Job_Id>…<job_state>R</job_state>…</Job></Data>`). */
export function parseTorqueXml(stdout: string): PbsJobInfo[] {
  const out: PbsJobInfo[] = [];
  for (const m of stdout.matchAll(/<Job>([\s\S]*?)<\/Job>/g)) {
    const block = m[1] ?? '';
    const id = xmlTag(block, 'Job_Id');
    if (id === undefined) continue;
    const info: PbsJobInfo = { id, state: xmlTag(block, 'job_state') ?? '' };
    const exit = toInt(xmlTag(block, 'exit_status'));
    if (exit !== undefined) info.exitStatus = exit;
    const name = xmlTag(block, 'Job_Name');
    if (name !== undefined) info.name = name;
    const owner = xmlTag(block, 'Job_Owner');
    if (owner !== undefined) info.owner = owner;
    const comment = xmlTag(block, 'comment');
    if (comment !== undefined) info.comment = comment;
    out.push(info);
  }
  return out;
}

/**
 * Parses the default `qstat` table (Torque `Job ID Name User Time Use S Queue`, PBS Pro `Job id …`).
 * Long ids may be truncated by qstat in this format; prefer JSON/XML.
 */
export function parseQstatTable(stdout: string): PbsJobInfo[] {
  const out: PbsJobInfo[] = [];
  let inBody = false;
  for (const line of stdout.split('\n')) {
    if (/^-{3,}/.test(line.trim())) {
      inBody = true;
      continue;
    }
    if (!inBody || line.trim() === '') continue;
    const cols = line.trim().split(/\s+/);
    if (cols.length < 6) continue;
    const [id, name, user, , state] = cols;
    if (id === undefined || state === undefined) continue;
    const info: PbsJobInfo = { id, state };
    if (name !== undefined) info.name = name;
    if (user !== undefined) info.owner = user;
    out.push(info);
  }
  return out;
}

/** Ids from `qstat: Unknown Job Id <id>` / `qstat: Unknown Job Id Error <id>` lines. */
export function parseUnknownJobIds(text: string): string[] {
  return [...text.matchAll(/Unknown Job Id(?: Error)?\s+(\S+)/g)].map((m) => m[1] as string);
}

/** qstat stderr lines that only concern jobs it does not know (not a failure of the query). */
export function isQstatJobLine(line: string): boolean {
  const l = line.trim();
  return l === '' || /Unknown Job Id|Job has finished, use -x|Job has finished/i.test(l);
}

/** qsub errors that mean "try again later". */
export function isPbsSubmitTransient(text: string): boolean {
  return /cannot connect to server|could not connect to trqauthd|Connection refused|Premature end of message|pbs_iff|Invalid credential|Maximum number of jobs already in queue|would exceed .*limit|limit of jobs|server is busy|Server is not responding|timed out|No route to host|End of File/i.test(
    text,
  );
}

/** qdel output lines that mean the job is gone or finished already. */
export function isQdelBenign(line: string): boolean {
  const l = line.trim();
  return (
    l === '' ||
    /Unknown Job Id|Job has finished|Request invalid for state of job|invalid state for job|has already finished|already completed/i.test(
      l,
    )
  );
}

/** Exit statuses of a job the batch system killed (256 + SIGKILL/SIGTERM/SIGINT). */
const KILLED_EXIT = new Set([265, 271, 258]);

/** The state of a qstat entry; `undefined` when a finished job carries no exit status (use the exit-code file). */
export function pbsJobState(job: PbsJobInfo, flavour?: PbsFlavour): JobState | undefined {
  const withComment = (st: JobState): JobState =>
    job.comment ? { ...st, reason: st.reason ? `${st.reason}: ${job.comment}` : job.comment } : st;
  switch (job.state) {
    case 'Q':
    case 'W':
    case 'T':
    case 'M':
      return withComment({ state: 'pending' });
    case 'H':
      return { state: 'held', reason: job.comment ?? 'held (H)' };
    case 'R':
    case 'B':
      return { state: 'running' };
    case 'U':
    case 'S':
      return { state: 'running', reason: `suspended (${job.state})` };
    case 'E':
      return { state: 'running', reason: 'exiting (E)' };
    case 'F':
    case 'X':
    case 'C': {
      const code = job.exitStatus;
      if (code === undefined) return undefined;
      if (code === 0) return { state: 'done', exitCode: 0 };
      const cls = classifyPbs(code, job.comment, flavour);
      if (KILLED_EXIT.has(code) && cls === undefined)
        return { state: 'cancelled', exitCode: code, reason: `killed (Exit_status ${code})` };
      const st: JobState = { state: 'failed', exitCode: code, reason: `Exit_status ${code}` };
      return cls ? { ...st, failureClass: cls } : st;
    }
    default:
      return { state: 'unknown', reason: `PBS job_state ${job.state || '(none)'}` };
  }
}

/**
 * The failure class of a finished PBS job's Exit_status: PBS Pro JOB_EXEC_KILL_WALLTIME -29 and _CPUT -28 →
 * timeout, _MEM -27 and _VMEM -26 → oom, _NCPUS -24/-25 → app, other negative codes (launch, MoM, rerun) →
 * node; Torque JOB_EXEC_OVERLIMIT_MEM -10 → oom, _WT -11 and _CPUT -12 → timeout, other negatives → node; a
 * kill by signal (256 + N) with a `walltime … exceeded limit` / `mem … exceeded limit` comment → timeout / oom;
 * a plain exit 1–255 → app (left to the poller, which tells signals apart).
 */
export function classifyPbs(
  code: number,
  comment: string | undefined,
  flavour: PbsFlavour | undefined,
): FailureClass | undefined {
  if (code < 0) {
    const table: Record<number, FailureClass> =
      flavour === 'torque'
        ? { [-10]: 'oom', [-11]: 'timeout', [-12]: 'timeout' }
        : { [-29]: 'timeout', [-28]: 'timeout', [-27]: 'oom', [-26]: 'oom', [-25]: 'app', [-24]: 'app' };
    return table[code] ?? 'node';
  }
  const why = comment ?? '';
  if (/walltime \S+ exceeded limit|cput \S+ exceeded limit/i.test(why)) return 'timeout';
  if (/\b(v?mem) \S+ exceeded limit/i.test(why)) return 'oom';
  return undefined;
}

/** The part of an id before the server name (`123[4]` of `123[4].server`). */
export function pbsShortId(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/** The id of element `index` of an array submitted as `base` (`123[].server` → `123[4].server`). */
export function pbsElementId(base: string, index: number): string {
  if (base.includes('[]')) return base.replace('[]', `[${index}]`);
  const dot = base.indexOf('.');
  return dot < 0 ? `${base}[${index}]` : `${base.slice(0, dot)}[${index}]${base.slice(dot)}`;
}

function directives(r: Resources): string[] {
  return (r.extra ?? []).map((e) => (e.trim().startsWith('#') ? e : `#PBS ${e}`));
}

interface QstatAnswer {
  jobs: PbsJobInfo[];
  unknown: string[];
}

export class PbsBackend implements Backend {
  readonly name = 'pbs';
  private readonly stateDir: string;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private flavour: PbsFlavour | undefined;
  private readonly queue: string | undefined;
  private readonly account: string | undefined;
  private readonly commandTimeoutMs: number;
  private readonly submitTimeoutMs: number;
  private readonly maxArraySize: number;
  private readonly arrays: boolean;
  private readonly registry: ArrayRegistry;

  constructor(opts: PbsBackendOptions) {
    this.stateDir = path.join(opts.stateDir, 'pbs');
    this.env = opts.env;
    this.flavour = opts.flavour === 'auto' ? undefined : opts.flavour;
    this.queue = opts.queue;
    this.account = opts.account;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 60_000;
    this.submitTimeoutMs = opts.submitTimeoutMs ?? 120_000;
    this.maxArraySize = Math.max(2, opts.maxArraySize ?? 1000);
    this.arrays = opts.arrays ?? true;
    this.registry = new ArrayRegistry(path.join(this.stateDir, 'arrays'));
  }

  /** PBS Pro or Torque (detected once). */
  async getFlavour(): Promise<PbsFlavour> {
    if (this.flavour) return this.flavour;
    const r = await runBatch('qstat', ['--version'], { env: this.env, timeoutMs: this.commandTimeoutMs });
    const text = outputText(r);
    const f = detectPbsFlavour(text);
    if (!f) {
      throw new UserError(
        `cannot tell PBS Pro from Torque from \`qstat --version\` (${oneLine(text, 200) || 'no output'}); set the PBS flavour`,
      );
    }
    this.flavour = f;
    return f;
  }

  private resourceArgs(r: Resources, flavour: PbsFlavour): string[] {
    const args: string[] = [];
    const queue = r.queue ?? this.queue;
    if (queue !== undefined) args.push('-q', queue);
    const account = r.account ?? this.account;
    if (account !== undefined) args.push('-A', account);
    const cpus = r.cpus === undefined ? undefined : Math.max(1, Math.ceil(r.cpus));
    const mem = r.memoryMb === undefined ? undefined : Math.max(1, Math.ceil(r.memoryMb));
    if (flavour === 'pbspro') {
      if (cpus !== undefined || mem !== undefined) {
        const parts = ['select=1'];
        if (cpus !== undefined) parts.push(`ncpus=${cpus}`);
        if (mem !== undefined) parts.push(`mem=${mem}mb`);
        args.push('-l', parts.join(':'));
      }
    } else {
      if (cpus !== undefined) args.push('-l', `nodes=1:ppn=${cpus}`);
      if (mem !== undefined) args.push('-l', `mem=${mem}mb`);
    }
    if (r.walltimeMin !== undefined)
      args.push('-l', `walltime=${hhmmss(walltimeSeconds(r.walltimeMin) / 60)}`);
    args.push('-o', '/dev/null', '-e', '/dev/null');
    return args;
  }

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    if (jobs.length === 0) return { submitted: [], deferred: [], rejected: [] };
    const flavour = await this.getFlavour();
    const units = arrayUnits(jobs, this.arrays ? this.maxArraySize : 1);
    return submitInOrder(units, (unit) =>
      unit.length === 1 ? this.submitOne(unit[0] as JobSpec, flavour) : this.submitArray(unit, flavour),
    );
  }

  private async qsub(
    jobs: JobSpec[],
    args: string[],
    cwd: string,
    ids: (id: string) => string[],
  ): Promise<SubmitResult> {
    const res: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    const r = await runBatch('qsub', args, { env: this.env, cwd, timeoutMs: this.submitTimeoutMs });
    const text = outputText(r);
    const id = r.timedOut || r.code !== 0 ? undefined : parseQsubOutput(r.stdout);
    if (id === undefined) {
      const reason = r.timedOut
        ? `qsub timed out after ${this.submitTimeoutMs} ms (find() reconciles a late submission)`
        : `qsub exit ${r.code}: ${oneLine(text) || 'no output'}`;
      refuseAll(res, jobs, reason, r.timedOut || isPbsSubmitTransient(text));
      return res;
    }
    const list = ids(id);
    jobs.forEach((j, i) => res.submitted.push({ name: j.name, id: list[i] as string }));
    return res;
  }

  private async submitOne(job: JobSpec, flavour: PbsFlavour): Promise<SubmitResult> {
    const dir = path.join(this.stateDir, 'jobs');
    const file = path.join(dir, `${safeName(job.name)}.${randomBytes(3).toString('hex')}.sh`);
    await writeScript(file, redirectedScript(job, directives(job.resources)));
    const args = [
      '-N',
      job.name,
      ...this.resourceArgs(job.resources, flavour),
      ...pbsPriorityArgs(job.priority),
      file,
    ];
    return this.qsub([job], args, dir, (id) => [id]);
  }

  private async submitArray(jobs: JobSpec[], flavour: PbsFlavour): Promise<SubmitResult> {
    const { arrayName, dir } = await this.registry.writeArray(jobs);
    const first = jobs[0] as JobSpec;
    const indexVar = flavour === 'pbspro' ? 'PBS_ARRAY_INDEX' : 'PBS_ARRAYID';
    const script = path.join(dir, 'array.sh');
    await writeScript(script, dispatcherScript(dir, indexVar, directives(first.resources)));
    const arrayFlag = flavour === 'pbspro' ? '-J' : '-t';
    const args = [
      '-N',
      arrayName,
      arrayFlag,
      `1-${jobs.length}`,
      ...this.resourceArgs(first.resources, flavour),
      ...pbsPriorityArgs(first.priority),
      script,
    ];
    return this.qsub(jobs, args, dir, (id) => jobs.map((_, i) => pbsElementId(id, i + 1)));
  }

  /** One qstat for the given ids (all of the user's when `ids` is empty). */
  private async qstat(
    flavour: PbsFlavour,
    ids: string[],
    history: boolean,
    user?: string,
  ): Promise<QstatAnswer> {
    const args =
      flavour === 'pbspro'
        ? [
            '-f',
            '-F',
            'json',
            ...(history ? ['-x'] : []),
            ...(user !== undefined ? ['-u', user] : []),
            ...ids,
          ]
        : ['-x', ...ids];
    const r = await runBatch('qstat', args, { env: this.env, timeoutMs: this.commandTimeoutMs });
    if (r.timedOut) throw new TransientError(`qstat timed out after ${this.commandTimeoutMs} ms`);
    const unknown = parseUnknownJobIds(r.stderr);
    for (const m of r.stderr.matchAll(/qstat:\s+(\S+)\s+Job has finished/g)) unknown.push(m[1] as string);
    const otherErrors = r.stderr.split('\n').filter((l) => !isQstatJobLine(l));
    if (r.code !== 0 && otherErrors.length > 0) {
      throw new TransientError(`qstat failed (exit ${r.code}): ${oneLine(otherErrors.join('\n'))}`);
    }
    const out = r.stdout.trim();
    try {
      if (flavour === 'pbspro') {
        if (out !== '' && jsonFrom(out, '{') === undefined) throw new Error('not JSON');
        return { jobs: parsePbsProJson(out), unknown };
      }
      if (out === '' || out.includes('<Data>') || out.startsWith('<?xml'))
        return { jobs: parseTorqueXml(out), unknown };
      return { jobs: parseQstatTable(out), unknown };
    } catch (err) {
      throw new TransientError(`qstat printed unparsable output: ${oneLine(out, 200)}`, { cause: err });
    }
  }

  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    if (jobs.length === 0) return out;
    const flavour = await this.getFlavour();
    const exact = new Map<string, PbsJobInfo>();
    const byShort = new Map<string, PbsJobInfo[]>();
    for (const part of chunks([...new Set(jobs.map((j) => j.id))], 500)) {
      const answer = await this.qstat(flavour, part, true);
      for (const info of answer.jobs) {
        exact.set(info.id, info);
        const s = pbsShortId(info.id);
        const list = byShort.get(s);
        if (list) list.push(info);
        else byShort.set(s, [info]);
      }
    }
    const missing: TrackedJob[] = [];
    for (const j of jobs) {
      const short = byShort.get(pbsShortId(j.id));
      const info = exact.get(j.id) ?? (short?.length === 1 ? short[0] : undefined);
      const st = info ? pbsJobState(info, flavour) : undefined;
      if (st) out.set(j.id, st);
      else missing.push(j);
    }
    await resolveMissing(out, missing, (j) =>
      exact.has(j.id) ? 'finished without exit status' : 'not known to qstat',
    );
    return out;
  }

  async cancel(ids: string[]): Promise<void> {
    await cancelInChunks('qdel', ids, isQdelBenign, { env: this.env, timeoutMs: this.commandTimeoutMs });
  }

  /** The user's jobs (PBS Pro: `-u user`; Torque: all jobs filtered on Job_Owner). */
  private async userJobs(flavour: PbsFlavour, history: boolean): Promise<PbsJobInfo[]> {
    const user = currentUser(this.env);
    const answer = await this.qstat(flavour, [], history, flavour === 'pbspro' ? user : undefined);
    return answer.jobs.filter(
      (j) => j.owner === undefined || j.owner === user || j.owner.startsWith(`${user}@`),
    );
  }

  async find(names: string[]): Promise<Submitted[]> {
    const wanted = new Set(names);
    if (wanted.size === 0) return [];
    const flavour = await this.getFlavour();
    const best = new Map<string, { id: string; num: number }>();
    const offer = (name: string, id: string): void => {
      if (!wanted.has(name)) return;
      const num = Number(/^\d+/.exec(id)?.[0] ?? 0);
      const cur = best.get(name);
      if (!cur || num > cur.num) best.set(name, { id, num });
    };
    for (const info of await this.userJobs(flavour, true)) {
      const name = info.name;
      if (name === undefined) continue;
      if (/\[\]/.test(info.id)) {
        const members = await this.registry.lookup(name);
        members?.forEach((n, i) => offer(n, pbsElementId(info.id, i + 1)));
        continue;
      }
      const sub = /\[(\d+)\]/.exec(info.id);
      if (sub?.[1] !== undefined) {
        // Torque names subjobs `<array name>-<index>`; PBS Pro keeps the array name.
        const index = Number(sub[1]);
        const arrayName = name.endsWith(`-${index}`) ? name.slice(0, -`-${index}`.length) : name;
        const members = await this.registry.lookup(arrayName);
        const member = members?.[index - 1];
        if (member !== undefined) {
          offer(member, info.id);
          continue;
        }
      }
      offer(name, info.id);
    }
    return [...wanted].filter((n) => best.has(n)).map((n) => ({ name: n, id: best.get(n)?.id as string }));
  }

  async inFlight(): Promise<number> {
    const flavour = await this.getFlavour();
    const jobs = await this.userJobs(flavour, false);
    let n = 0;
    for (const j of jobs) {
      if (j.state === 'F' || j.state === 'X' || j.state === 'C') continue;
      n += j.remaining ?? 1;
    }
    return n;
  }

  async close(): Promise<void> {
    // Nothing held open.
  }
}
