/**
 * Helpers shared by the backends: exit-code files, grouping by resources, running batch commands and their
 * errors, job scripts that redirect their own output, array-name registries in the state directory, and
 * lenient JSON/XML value readers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsync, open as openCb, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TransientError, UserError } from '../errors.js';
import { exec, type ExecResult } from './exec.js';
import type { JobSpec, JobState, Resources, Submitted, SubmitResult, TrackedJob } from './types.js';
import { shq, wrapperBody, type WrapperOptions } from './wrapper.js';
import { priorityKey } from './priority.js';

/** Exit code written by the wrapper, or undefined when the file is missing, empty or not a number. */
export async function readExitCodeFile(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseExitCode(text);
}

/** readExitCodeFile with a synchronous read (a local file read by the local executor: µs, no pool round trip). */
export function readExitCodeFileSync(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return parseExitCode(text);
}

function parseExitCode(text: string): number | undefined {
  const m = /^\s*(-?\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** How a non-zero exit code reads in a reason: the signal for 130/143, else `<exitWord> <code>`. */
function exitWhy(code: number, exitWord: string): string {
  return code === 143
    ? 'terminated (SIGTERM)'
    : code === 130
      ? 'interrupted (SIGINT)'
      : `${exitWord} ${code}`;
}

/** The state an exit code alone tells: 0 → done, anything else → failed with that code. */
export function stateFromExitCode(code: number, source = 'exit-code file'): JobState {
  if (code === 0) return { state: 'done', exitCode: 0 };
  return { state: 'failed', exitCode: code, reason: `${exitWhy(code, 'exit')} (${source})` };
}

/**
 * The same with the reason in front (HTCondor, LSF, PBS wording): 0 done, anything else failed with
 * `<reason>; exit code N` (just `exit code N` without a reason).
 */
export function stateOfExitCode(code: number, reason?: string): JobState {
  if (code === 0)
    return reason === undefined ? { state: 'done', exitCode: 0 } : { state: 'done', exitCode: 0, reason };
  const why = exitWhy(code, 'exit code');
  return { state: 'failed', exitCode: code, reason: reason === undefined ? why : `${reason}; ${why}` };
}

/** Last job resort for a job the system does not list: its exit-code file, else `unknown`. */
export async function fromExitCodeFile(exitCodeFile: string, why: string): Promise<JobState> {
  const code = await readExitCodeFile(exitCodeFile);
  if (code !== undefined) return stateFromExitCode(code);
  return { state: 'unknown', reason: why };
}

/**
 * Adds the states of `missing` jobs (not reported by the batch system) from their exit-code files; without
 * one a job is `unknown` (never failed: the caller waits a grace period before calling it lost).
 */
export async function resolveMissing(
  out: Map<string, JobState>,
  missing: readonly TrackedJob[],
  why: (job: TrackedJob) => string,
): Promise<void> {
  await Promise.all(
    missing.map(async (j) => {
      const reason = why(j);
      const code = await readExitCodeFile(j.exitCodeFile);
      out.set(
        j.id,
        code === undefined
          ? { state: 'unknown', reason: `${reason}; no exit-code file` }
          : stateOfExitCode(code, `${reason}; exit-code file`),
      );
    }),
  );
}

/**
 * A wall time in minutes (possibly fractional: 0.05 = 3 s) as whole seconds / whole minutes, rounded up (at
 * least 1), ignoring float noise (0.05 × 60 is 3.0000000000000004: 3 s, not 4).
 */
export function walltimeSeconds(walltimeMin: number): number {
  return Math.max(1, Math.ceil(walltimeMin * 60 - 1e-6));
}
export function walltimeMinutes(walltimeMin: number): number {
  return Math.max(1, Math.ceil(walltimeMin - 1e-6));
}

/** Key of the resources that must be equal for jobs to share one array submission. */
export function resourceKey(r: Resources): string {
  return JSON.stringify([
    r.cpus ?? null,
    r.memoryMb ?? null,
    r.walltimeMin ?? null,
    r.queue ?? null,
    r.account ?? null,
    r.extra ?? [],
  ]);
}

/** Groups jobs with equal resources (and priority), keeping the input order inside each group. */
export function groupByResources(jobs: JobSpec[]): JobSpec[][] {
  const groups = new Map<string, JobSpec[]>();
  for (const j of jobs) {
    const k = `${resourceKey(j.resources)}|${priorityKey(j.priority)}`;
    const g = groups.get(k);
    if (g) g.push(j);
    else groups.set(k, [j]);
  }
  return [...groups.values()];
}

export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** The submission units of an array-capable backend: jobs grouped by resources, at most `maxArraySize` a unit. */
export function arrayUnits(jobs: JobSpec[], maxArraySize: number): JobSpec[][] {
  return groupByResources(jobs).flatMap((group) => chunks(group, maxArraySize));
}

/**
 * Submits the units in order; once one is deferred (limit reached, scheduler busy), the rest are deferred
 * with its reason without being tried.
 */
export async function submitInOrder(
  units: readonly JobSpec[][],
  submitUnit: (unit: JobSpec[]) => Promise<SubmitResult>,
): Promise<SubmitResult> {
  const res: SubmitResult = { submitted: [], deferred: [], rejected: [] };
  let stop: string | undefined;
  for (const unit of units) {
    if (stop !== undefined) {
      for (const j of unit) res.deferred.push({ name: j.name, reason: stop });
      continue;
    }
    const r = await submitUnit(unit);
    res.submitted.push(...r.submitted);
    res.rejected.push(...r.rejected);
    if (r.deferred.length > 0) {
      res.deferred.push(...r.deferred);
      stop = r.deferred[0]?.reason;
    }
  }
  return res;
}

/** Records every job of a failed submission as deferred (`transient`: try again later) or rejected. */
export function refuseAll(
  res: SubmitResult,
  jobs: readonly JobSpec[],
  reason: string,
  transient: boolean,
): void {
  const bucket = transient ? res.deferred : res.rejected;
  for (const j of jobs) bucket.push({ name: j.name, reason });
}

/** The lines of a text, trimmed, without the empty ones. */
export function nonEmptyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The last non-empty line of a text (batch commands put the answer last; warnings come first). */
export function lastLine(text: string): string {
  const lines = nonEmptyLines(text);
  return lines[lines.length - 1] ?? '';
}

/** A one-line description of a failed command for error messages. */
export function describeFailure(cmd: string, r: ExecResult, timeoutMs?: number): string {
  if (r.spawnError) return `${cmd}: ${r.spawnError}`;
  if (r.timedOut) return `${cmd} did not answer within ${timeoutMs ?? '?'} ms`;
  const msg = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
  return `${cmd} exited ${r.code}${msg ? `: ${msg}` : ''}`;
}

/** Throws UserError when the command is not installed, TransientError for any other failure of a query. */
export function queryFailed(cmd: string, r: ExecResult, timeoutMs?: number): never {
  if (r.spawnError && /ENOENT/.test(r.spawnError)) {
    throw new UserError(`${cmd} not found: is the batch system's client installed and on PATH?`);
  }
  throw new TransientError(describeFailure(cmd, r, timeoutMs));
}

/** The user's login name: $USER, $LOGNAME (of `env`, default the process environment), else the passwd entry. */
export function currentUser(env?: NodeJS.ProcessEnv): string {
  const e = env ?? process.env;
  const u = e.USER ?? e.LOGNAME;
  if (u) return u;
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}

/** Local time as `YYYY-MM-DDTHH:MM:SS` (the form sacct/qacct options expect). */
export function localIsoSeconds(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Expands an array index list such as `0-3%2`, `1,3,5-7`, `1-9:2` (Slurm/SGE); undefined when malformed. */
export function expandIndexList(list: string, limit = 1_000_000): number[] | undefined {
  const body = list.replace(/%\d+$/, '');
  const out: number[] = [];
  for (const part of body.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (step <= 0 || b < a || out.length + (b - a) / step > limit) return undefined;
    for (let i = a; i <= b; i += step) out.push(i);
  }
  return out;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

/** Runs a batch command (no shell). A command that cannot be started is a UserError (not installed / PATH). */
export async function runBatch(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.spawnError !== undefined) {
    if (r.spawnError.startsWith('ENOENT')) {
      throw new UserError(
        `${cmd} not found on PATH: is the batch system's client installed? (${r.spawnError})`,
      );
    }
    throw new TransientError(`${cmd} could not be started: ${r.spawnError}`);
  }
  return r;
}

/**
 * Runs a cancel command over `ids` in chunks of 500 (after `leadingArgs`); a failure whose output lines are all
 * `benign` (already finished, unknown id) is not an error; any other is a TransientError.
 */
export async function cancelInChunks(
  cmd: string,
  ids: readonly string[],
  benign: (line: string) => boolean,
  opts: { env: NodeJS.ProcessEnv | undefined; timeoutMs: number },
  leadingArgs: readonly string[] = [],
): Promise<void> {
  for (const part of chunks(ids, 500)) {
    if (part.length === 0) continue;
    const r = await runBatch(cmd, [...leadingArgs, ...part], { env: opts.env, timeoutMs: opts.timeoutMs });
    if (r.timedOut) throw new TransientError(`${cmd} timed out after ${opts.timeoutMs} ms`);
    if (r.code === 0) continue;
    const bad = outputText(r)
      .split('\n')
      .filter((l) => !benign(l));
    if (bad.length > 0)
      throw new TransientError(`${cmd} failed (exit ${r.code}): ${oneLine(bad.join('\n'))}`);
  }
}

/** stdout and stderr of a command, for error messages and pattern matching. */
export function outputText(r: ExecResult): string {
  return [r.stdout.trim(), r.stderr.trim()].filter((s) => s !== '').join('\n');
}

/** The first `max` characters of a text on one line (for reasons and error messages). */
export function oneLine(text: string, max = 500): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Redirections of a job's stdout and stderr to its JobSpec paths (one file: `2>&1`). */
export function redirections(job: Pick<JobSpec, 'stdout' | 'stderr'>): string {
  return job.stdout === job.stderr ? `>${shq(job.stdout)} 2>&1` : `>${shq(job.stdout)} 2>${shq(job.stderr)}`;
}

/** A POSIX sh job script: directives, then stdout/stderr redirected to the JobSpec paths, then the wrapper. */
export function redirectedScript(job: JobSpec, directives: string[] = [], opts: WrapperOptions = {}): string {
  return ['#!/bin/sh', ...directives, `exec ${redirections(job)} </dev/null`, wrapperBody(job, opts)].join(
    '\n',
  );
}

/** A script that runs the per-index script `<dir>/<index>.sh` of an array element (index from `indexVar`). */
export function dispatcherScript(dir: string, indexVar: string, directives: string[] = []): string {
  return ['#!/bin/sh', ...directives, `exec /bin/sh ${shq(`${dir}/`)}"$${indexVar}"'.sh'`, ''].join('\n');
}

export async function writeScript(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content, { mode: 0o755 });
}

/** Writes a file atomically (temp + rename), creating its directory. */
export async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await atomicWrite(file, content);
}

/** Per process: a random part drawn once, and a counter (a draw per name cost ~20 µs of the local executor's). */
const tempTag = `${process.pid}.${randomBytes(3).toString('hex')}`;
let tempCount = 0;

/** A hidden temp name next to a file, unique to this process. */
function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${tempTag}.${++tempCount}`);
}

/** Temp file + rename (+ fsync of the file when `durable`): a reader never sees a partial file. */
export async function atomicWrite(file: string, text: string, durable = false): Promise<void> {
  const tmp = tempNameFor(file);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** Opens a file in the thread pool (creating one can take a while: ext4 looks for a free inode). */
function openAsync(file: string, flags: string, mode = 0o666): Promise<number> {
  return new Promise((resolve, reject) =>
    openCb(file, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

/**
 * A small local file written with two thread-pool round trips at most: its creation (`open`) and, when
 * `durable`, its fsync; the write itself and the close are synchronous (µs each: the data goes to the page cache).
 */
export async function writeSmallFile(
  file: string,
  text: string,
  durable = false,
  mode = 0o666,
): Promise<void> {
  const fd = await openAsync(file, 'w', mode);
  try {
    writeFileSync(fd, text);
    if (durable)
      await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    closeSync(fd);
  }
}

/**
 * A durable atomicWrite of a small local file in two steps: the temp file written and synced now (writeSmallFile),
 * the rename (`commit`, synchronous: a few µs) when the caller says, so that a batch of files can appear in an
 * order of its choosing.
 */
export async function stagedWrite(file: string, text: string): Promise<() => void> {
  const tmp = tempNameFor(file);
  await writeSmallFile(tmp, text, true);
  return () => renameSync(tmp, file);
}

/** atomicWrite without fsync, synchronously (small local files: cheaper than a thread-pool round trip). */
export function atomicWriteSync(file: string, text: string): void {
  const tmp = tempNameFor(file);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Minutes as `HH:MM:SS` (PBS walltime). */
export function hhmmss(minutes: number): string {
  const total = Math.max(0, Math.round(minutes * 60));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** A file-name-safe form of a job name. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
}

/** A deterministic name for an array of jobs (from its members' names). */
export function arrayNameFor(prefix: string, names: readonly string[]): string {
  const h = createHash('sha256').update(names.join('\n')).digest('hex').slice(0, 12);
  return `${prefix}${h}`;
}

/**
 * Remembers which job names make up an array (`<dir>/<arrayName>.json`), written before the array is
 * submitted, so that find(names) can map array elements back to job names after a crash.
 */
export class ArrayRegistry {
  private readonly cache = new Map<string, string[]>();
  constructor(private readonly dir: string) {}

  /**
   * Writes the per-index scripts of an array (`<dir>/<arrayName>/<i + 1>.sh`, for dispatcherScript) and
   * records its members; the array name comes from the member names.
   */
  async writeArray(jobs: readonly JobSpec[]): Promise<{ arrayName: string; dir: string }> {
    const names = jobs.map((j) => j.name);
    const arrayName = arrayNameFor('rcarr.', names);
    const dir = path.join(this.dir, arrayName);
    await Promise.all(jobs.map((j, i) => writeScript(path.join(dir, `${i + 1}.sh`), redirectedScript(j))));
    await this.record(arrayName, names);
    return { arrayName, dir };
  }

  async record(arrayName: string, names: readonly string[]): Promise<void> {
    await writeAtomic(path.join(this.dir, `${arrayName}.json`), JSON.stringify({ names }, null, 1));
    this.cache.set(arrayName, [...names]);
  }

  async lookup(arrayName: string): Promise<string[] | undefined> {
    const hit = this.cache.get(arrayName);
    if (hit) return hit;
    if (!/^[A-Za-z0-9._-]+$/.test(arrayName)) return undefined;
    try {
      const parsed: unknown = JSON.parse(await readFile(path.join(this.dir, `${arrayName}.json`), 'utf8'));
      if (
        isRecord(parsed) &&
        Array.isArray(parsed.names) &&
        parsed.names.every((n) => typeof n === 'string')
      ) {
        const names = parsed.names as string[];
        this.cache.set(arrayName, names);
        return names;
      }
    } catch {
      return undefined;
    }
    return undefined;
  }
}

/**
 * The JSON document in a command's stdout, from the first line that starts with `open` (`{` or `[`): LSF and
 * others may print "Cannot connect to LSF. Please wait ..." lines before it. Undefined when there is none.
 */
export function jsonFrom(stdout: string, open: '{' | '['): string | undefined {
  const re = open === '{' ? /^\s*\{/m : /^\s*\[/m;
  const m = re.exec(stdout);
  return m ? stdout.slice(m.index).trim() : undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A number from a JSON/XML value that may be a number or a numeric string. */
export function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v.trim());
  return undefined;
}

export function toStr(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Array directories (Slurm, Grid Engine): `<arraysDir>/<token>/` holds one wrapper script a task, the array
// script and `manifest.json` (the names of the tasks, in task order) so a restarted process can find them.

/**
 * Creates a fresh array directory with `task-<firstTask + i>.sh` (the wrapper of job i) and `manifest.json`.
 */
export async function writeArrayDir(
  arraysDir: string,
  jobs: readonly JobSpec[],
  firstTask: number,
): Promise<{ token: string; dir: string; manifest: string; names: string[] }> {
  const token = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const dir = path.join(arraysDir, token);
  await mkdir(dir, { recursive: true });
  await Promise.all(
    jobs.map((j, i) => writeFile(path.join(dir, `task-${i + firstTask}.sh`), wrapperBody(j))),
  );
  const names = jobs.map((j) => j.name);
  const manifest = path.join(dir, 'manifest.json');
  await writeFile(manifest, JSON.stringify({ names, created: Date.now() }) + '\n');
  return { token, dir, manifest, names };
}

/** The task names of an array manifest; undefined when it is missing or not ours. */
export async function readManifestNames(file: string): Promise<string[] | undefined> {
  try {
    const data: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof data === 'object' && data !== null && 'names' in data && Array.isArray(data.names)) {
      return data.names.filter((n): n is string => typeof n === 'string');
    }
  } catch {
    // missing or not ours
  }
  return undefined;
}

/** Deletes the entries of `dir` not modified for `keepMs`; never throws. */
export async function pruneOldDirs(dir: string, keepMs: number): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if (now - (await stat(p)).mtimeMs > keepMs) await rm(p, { recursive: true, force: true });
    } catch {
      // pruned by another process
    }
  }
}

/**
 * The script of an array job: task `first + i` runs job i's wrapper (`<dir>/task-<first + i>.sh`) with job i's
 * stdout/stderr; `prelude` lines run before.
 */
export function arrayCaseScript(
  dir: string,
  jobs: readonly JobSpec[],
  taskVar: string,
  first: number,
  prelude: string[] = [],
): string {
  const cases = jobs.map((j, i) => {
    return `  ${i + first}) exec /bin/sh ${shq(path.join(dir, `task-${i + first}.sh`))} ${redirections(j)} ;;`;
  });
  return [
    '#!/bin/sh',
    `# runctrl array job: ${jobs.length} tasks`,
    ...prelude,
    `case "$${taskVar}" in`,
    ...cases,
    'esac',
    `echo "runctrl: no task $${taskVar} in this array" >&2`,
    'exit 1',
    '',
  ].join('\n');
}

/**
 * A submission that timed out or answered without an id may still have queued the jobs: those `find` sees
 * are submitted, the others deferred to a later pass.
 */
export async function takeUnanswered(
  cmd: string,
  r: ExecResult,
  timeoutMs: number,
  jobs: readonly JobSpec[],
  find: (names: string[]) => Promise<Submitted[]>,
  result: SubmitResult,
): Promise<void> {
  const found = await find(jobs.map((j) => j.name)).catch(() => [] as Submitted[]);
  const byName = new Map(found.map((f) => [f.name, f]));
  for (const j of jobs) {
    const f = byName.get(j.name);
    if (f) result.submitted.push(f);
    else {
      result.deferred.push({
        name: j.name,
        reason: r.timedOut
          ? `${cmd} did not answer within ${timeoutMs} ms`
          : `unexpected ${cmd} output: ${lastLine(r.stdout) || '(empty)'}`,
      });
    }
  }
}
