/**
 * Local backend: a small batch system of its own. `submit` writes every job into a file queue under
 * `<stateDir>/local/` (see local-files.ts) and answers at once; a detached executor process per state
 * directory (local-executor.ts, started on demand by submit, status, find and cancel) runs the queued jobs
 * as cpus and memory allow. Jobs run in their own session (`/bin/sh <script>`, stdout/stderr to the JobSpec
 * paths, the usual wrapper with its exit-code file), so they outlive the executor and the loop. Linux.
 *
 * Native id: `local:<hostname>:<token>`, the token orders the queue (submission time, counter, random).
 * status: queued → pending, claimed → running, ended → its exit code (cancelled when runctrl cancelled it).
 */
import { watch as fsWatch, mkdirSync, rmSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  fromExitCodeFile,
  redirectedScript,
  stateFromExitCode,
  walltimeSeconds,
  writeSmallFile,
} from './common.js';
import {
  alive,
  capacity,
  demand,
  fileName,
  impossible,
  LocalFiles,
  newToken,
  parseQueueId,
  runsScript,
  syncDir,
  terminate,
  type Capacity,
  type EndedJob,
  type QueuedJob,
} from './local-files.js';
import { ensureExecutor } from './local-launch.js';
import { limitLines, limitMarkFile, memoryLimitOf, withLimitClass } from './local-limits.js';
import type { Backend, JobSpec, JobState, Submitted, SubmitResult, TrackedJob } from './types.js';
import { shq } from './wrapper.js';

export { parseProcStat, procStat } from './local-files.js';

export interface LocalOptions {
  /** runctrl's state directory; the queue is `<stateDir>/local/`. */
  stateDir: string;
  /** Environment of the executor and so of the jobs (before the JobSpec's own env); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Jobs at once at most (default: RUNCTRL_LOCAL_MAX_RUNNING, else only cpus and memory limit). */
  maxRunning?: number;
}

/** `local:<host>:<pid>:<start>` (ids of the former executor-less backend) → parts. */
export function parseLocalId(id: string): { host: string; pid: number; start: string } | undefined {
  const m = /^local:([^:]+):(\d+):(\d+)$/.exec(id);
  if (!m) return undefined;
  return { host: m[1] as string, pid: Number(m[2]), start: m[3] as string };
}

/**
 * The job script: it first claims its pid file by creating it exclusively (noclobber: O_EXCL; a second copy
 * of it exits at once, see local-executor.ts), then sends its output to the JobSpec paths and runs the lean
 * wrapper (no process but the command's own: wrapper.ts). A reader may find the pid file created but still
 * empty for an instant: that reads as not claimed yet, and a copy started then loses the claim all the same.
 * Secrets are not in it: they reach the job through its environment.
 */
export function localScript(job: JobSpec, pidFile: string, enforceMemory = true): string {
  const claim = shq(pidFile);
  return redirectedScript(
    job,
    [
      `set -C; { printf '%s\\n' "$$" > ${claim}; } 2>/dev/null || exit 0; set +C`,
      ...limitLines(job, enforceMemory),
    ],
    { lean: true },
  );
}

/** The state an ended job's record tells. */
function endedState(e: EndedJob): JobState {
  if (e.cancelled) {
    return {
      state: 'cancelled',
      ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
      reason: e.reason ?? 'cancelled by runctrl',
    };
  }
  if (e.exitCode !== undefined) return stateFromExitCode(e.exitCode);
  return { state: 'failed', reason: e.reason ?? 'the job ended without an exit-code file (killed?)' };
}

export class LocalBackend implements Backend {
  readonly name = 'local';
  private readonly files: LocalFiles;
  private readonly host = os.hostname();
  private readonly env: NodeJS.ProcessEnv;
  private readonly cap: Capacity;
  /** Ended jobs by token (ended stays ended). */
  private readonly finals = new Map<string, EndedJob>();
  private readonly watchers = new Set<() => void>();
  /** memory_mb as RLIMIT_AS (RUNCTRL_LOCAL_MEMORY_LIMIT, local-limits.ts). */
  private readonly enforceMemory: boolean;

  constructor(opts: LocalOptions) {
    this.files = new LocalFiles(path.resolve(opts.stateDir, 'local'));
    const max = opts.maxRunning;
    this.env = { ...(opts.env ?? process.env), ...(max ? { RUNCTRL_LOCAL_MAX_RUNNING: String(max) } : {}) };
    this.cap = capacity(this.env);
    this.enforceMemory = memoryLimitOf(this.env);
  }

  private id(token: string): string {
    return `local:${this.host}:${token}`;
  }

  async submit(jobs: JobSpec[]): Promise<SubmitResult> {
    const result: SubmitResult = { submitted: [], deferred: [], rejected: [] };
    if (jobs.length === 0) return result;
    await this.files.ensure();
    const secrets: Record<string, string> = {};
    const queued: [JobSpec, string][] = [];
    for (const job of jobs) {
      const why = impossible(demand(job.resources), this.cap);
      const live = why === undefined ? await this.liveToken(job.name) : undefined;
      if (why !== undefined) result.rejected.push({ name: job.name, reason: `${job.name} ${why}` });
      else if (live !== undefined) result.submitted.push({ name: job.name, id: this.id(live) });
      else queued.push([job, newToken()]);
    }
    for (const [job, token] of queued) {
      Object.assign(secrets, job.secretEnv ?? {});
      result.submitted.push({ name: job.name, id: this.id(token) });
    }
    // the executor starts (a Node process: about 0.1 s) while the queue is written
    const ready = ensureExecutor(this.files.root, this.env, secrets);
    try {
      const commits: (() => void)[] = [];
      for (let i = 0; i < queued.length; i += 64) {
        const batch = queued.slice(i, i + 64).map(([job, token]) => this.enqueue(job, token));
        commits.push(...(await Promise.all(batch)));
      }
      // the queue entries appear in submission order, so that a running executor takes them in that order
      for (const commit of commits) commit();
      await Promise.all([syncDir(this.files.dir('queue')), syncDir(this.files.dir('names'))]);
    } finally {
      await ready;
    }
    return result;
  }

  /**
   * Old exit code gone, then script, name and the queue entry (each durable): a queued job is always found by
   * name. The queue entry is staged: it appears when the returned function is called.
   */
  private async enqueue(job: JobSpec, token: string): Promise<() => void> {
    const script = this.files.script(token);
    // an exit code (or limit mark) of an earlier run of this name (resubmitted after a crash) must not answer for
    // this one (synchronous: a removal of a missing file takes µs; a creation goes to the thread pool)
    rmSync(job.exitCodeFile, { force: true });
    rmSync(limitMarkFile(job.exitCodeFile), { force: true });
    await writeSmallFile(script, localScript(job, this.files.pidFile(token), this.enforceMemory));
    const d = demand(job.resources);
    const rec: QueuedJob = {
      token,
      id: this.id(token),
      name: job.name,
      script,
      exitCodeFile: job.exitCodeFile,
      cpus: d.cpus,
      memoryMb: d.memoryMb,
      secretNames: Object.keys(job.secretEnv ?? {}),
      submittedAt: Date.now(),
      ...(job.resources.walltimeMin !== undefined
        ? { walltimeS: walltimeSeconds(job.resources.walltimeMin) }
        : {}),
    };
    await this.files.write('names', fileName(job.name), token, true);
    return this.files.stage('queue', token, rec);
  }

  /** The token of a job of this name that is queued or running. */
  private async liveToken(name: string): Promise<string | undefined> {
    const token = await this.tokenOf(name);
    if (token === undefined) return undefined;
    return (await this.files.exists('queue', token)) || (await this.files.exists('run', token))
      ? token
      : undefined;
  }

  private async tokenOf(name: string): Promise<string | undefined> {
    try {
      return (await readFile(this.files.file('names', fileName(name)), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  private async ended(token: string): Promise<EndedJob | undefined> {
    const known = this.finals.get(token);
    if (known) return known;
    const e = await this.files.read<EndedJob>('done', token);
    if (e) this.finals.set(token, e);
    return e;
  }

  /** Queue, then run, then done: the order the files move in, so no job is missed in transit. */
  async status(jobs: TrackedJob[]): Promise<Map<string, JobState>> {
    const out = new Map<string, JobState>();
    const queued = new Set(await this.files.tokens('queue'));
    const running = new Set(await this.files.tokens('run'));
    for (const job of jobs) out.set(job.id, await this.stateOf(job, queued, running));
    if (queued.size + running.size > 0) await ensureExecutor(this.files.root, this.env, {});
    return out;
  }

  private async stateOf(job: TrackedJob, queued: Set<string>, running: Set<string>): Promise<JobState> {
    const p = parseQueueId(job.id);
    if (!p) return this.legacyState(job);
    if (p.host !== this.host) {
      return fromExitCodeFile(job.exitCodeFile, `a local job of host ${p.host}: no exit-code file`);
    }
    if (queued.has(p.token)) return { state: 'pending', reason: 'queued in the local executor' };
    if (running.has(p.token)) return { state: 'running' };
    const e = await this.ended(p.token);
    const st = e
      ? endedState(e)
      : await fromExitCodeFile(job.exitCodeFile, 'not in the local queue, no exit-code file');
    return withLimitClass(st, job.exitCodeFile);
  }

  /** A job of the former backend (pid in the id): alive → running, else its exit-code file. */
  private async legacyState(job: TrackedJob): Promise<JobState> {
    const p = parseLocalId(job.id);
    if (p && p.host === this.host && alive(p.pid, p.start)) return { state: 'running' };
    return fromExitCodeFile(job.exitCodeFile, 'process gone, no exit-code file');
  }

  async cancel(ids: string[]): Promise<void> {
    let wrote = false;
    let ensured = false;
    for (const id of ids) {
      const p = parseQueueId(id);
      if (p && !ensured) {
        await this.files.ensure();
        ensured = true;
      }
      if (!p) this.cancelLegacy(id);
      else if (p.host === this.host && !(await this.ended(p.token)))
        wrote = (await this.cancelOne(p.token)) || wrote;
    }
    if (wrote) await ensureExecutor(this.files.root, this.env, {});
  }

  /**
   * A job not ended yet (cancel checked): the request first (the executor honours it when it claims or spawns
   * the job), then the queue entry removed (never started), else the running process group signalled. True
   * when the executor must act.
   */
  private async cancelOne(token: string): Promise<boolean> {
    await this.files.write('cancel', token, '');
    const q = await this.files.read('queue', token);
    if (q && (await this.files.remove('queue', token))) {
      const e: EndedJob = {
        ...q,
        endedAt: Date.now(),
        cancelled: true,
        reason: 'cancelled before it started',
      };
      await this.files.write('done', token, e);
      await this.files.remove('cancel', token);
      return false;
    }
    const r = await this.files.read('run', token);
    const pid = (await this.files.claimedPid(token)) ?? r?.pid;
    if (r && pid !== undefined && runsScript(pid, r.script)) terminate(pid);
    return r !== undefined;
  }

  private cancelLegacy(id: string): void {
    const p = parseLocalId(id);
    if (p && p.host === this.host && alive(p.pid, p.start)) terminate(p.pid);
  }

  async find(names: string[]): Promise<Submitted[]> {
    const out: Submitted[] = [];
    for (const name of names) {
      const token = await this.tokenOf(name);
      if (token === undefined) continue;
      const known =
        (await this.files.exists('queue', token)) ||
        (await this.files.exists('run', token)) ||
        (await this.ended(token)) !== undefined;
      if (known) out.push({ name, id: this.id(token) });
    }
    if (out.length > 0) await ensureExecutor(this.files.root, this.env, {});
    return out;
  }

  async inFlight(): Promise<number> {
    // queue/ before run/, as jobs move: a job renamed between the two reads is seen twice, never missed
    const queued = await this.files.tokens('queue');
    return new Set([...queued, ...(await this.files.tokens('run'))]).size;
  }

  /** The pid of a running job (for tests and operators), from its claim. */
  async pidOf(id: string): Promise<number | undefined> {
    const p = parseQueueId(id);
    return p ? this.files.claimedPid(p.token) : parseLocalId(id)?.pid;
  }

  /** Calls `onChange` when a job of this state directory ends (inotify on done/). */
  watch(onChange: () => void): () => void {
    const dir = this.files.dir('done');
    mkdirSync(dir, { recursive: true });
    const w: FSWatcher = fsWatch(dir, (_event, file) => {
      if (file === null || !file.startsWith('.')) onChange();
    });
    w.on('error', () => undefined);
    let open = true;
    const stop = (): void => {
      if (!open) return;
      open = false;
      w.close();
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    return stop;
  }

  /** Stops the watchers; the executor and the jobs keep running. Idempotent. */
  close(): Promise<void> {
    for (const stop of [...this.watchers]) stop();
    return Promise.resolve();
  }
}
