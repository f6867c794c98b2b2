/** Helpers shared by the backends: exit-code files, grouping, command errors. */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { TransientError, UserError } from '../errors.js';
import type { ExecResult } from './exec.js';
import type { JobSpec, JobState, Resources } from './types.js';

/** Exit code written by the wrapper, or undefined when the file is missing, empty or not a number. */
export async function readExitCodeFile(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^\s*(-?\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The state an exit code alone tells: 0 → done, anything else → failed with that code. */
export function stateFromExitCode(code: number, source = 'exit-code file'): JobState {
  if (code === 0) return { state: 'done', exitCode: 0 };
  const why = code === 143 ? 'terminated (SIGTERM)' : code === 130 ? 'interrupted (SIGINT)' : `exit ${code}`;
  return { state: 'failed', exitCode: code, reason: `${why} (${source})` };
}

/** Last job resort for a job the system does not list: its exit-code file, else `unknown`. */
export async function fromExitCodeFile(exitCodeFile: string, why: string): Promise<JobState> {
  const code = await readExitCodeFile(exitCodeFile);
  if (code !== undefined) return stateFromExitCode(code);
  return { state: 'unknown', reason: why };
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

/** Groups jobs with equal resources, keeping the input order inside each group. */
export function groupByResources(jobs: JobSpec[]): JobSpec[][] {
  const groups = new Map<string, JobSpec[]>();
  for (const j of jobs) {
    const k = resourceKey(j.resources);
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

/** The last non-empty line of a text (batch commands put the answer last; warnings come first). */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
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

export function currentUser(env: NodeJS.ProcessEnv): string {
  const u = env.USER ?? env.LOGNAME;
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
