/**
 * The local backend's memory and wall-time limits (docs/retry-policy.md):
 * - memory_mb: RLIMIT_AS (`ulimit -v`) for the command: an allocation beyond it fails inside the command.
 *   When the command then fails and its stderr tail tells an allocation failure (MemoryError, Cannot allocate
 *   memory, std::bad_alloc, out of memory), the job is marked `oom`.
 * - walltime_min: the executor sends SIGTERM to the job's process group at the limit and SIGKILL 5 s later,
 *   and marks the job `timeout` (a restarted executor does the same for the jobs it adopts, from their start).
 * The mark is a file next to the exit-code file (`<exit-code file>.limit`), written before the job's process
 * ends, so the executor's end record always finds it.
 */
import { readFile } from 'node:fs/promises';
import type { JobSpec, JobState } from './types.js';
import { UserError } from '../errors.js';
import { shq } from './wrapper.js';

/** Seconds between SIGTERM and SIGKILL at the wall-time limit. */
export const KILL_AFTER_S = 5;

/** What an allocation failure prints (CPython, C/strerror(ENOMEM), C++, V8, glibc, bash). */
const ALLOCATION_FAILED =
  'MemoryError|Cannot allocate memory|bad_alloc|out of memory|memory allocation failed|xmalloc: cannot allocate';

export function limitMarkFile(exitCodeFile: string): string {
  return `${exitCodeFile}.limit`;
}

/**
 * RUNCTRL_LOCAL_MEMORY_LIMIT: `as` (default: memory_mb is RLIMIT_AS) or `off` (memory_mb only schedules, as
 * before limits existed: for commands that reserve more address space than they use, e.g. Node or a JVM).
 */
export function memoryLimitOf(env: NodeJS.ProcessEnv): boolean {
  const v = (env.RUNCTRL_LOCAL_MEMORY_LIMIT ?? '').trim();
  if (v === '' || v === 'as') return true;
  if (v === 'off') return false;
  throw new UserError(
    `RUNCTRL_LOCAL_MEMORY_LIMIT must be 'as' (RLIMIT_AS, the default) or 'off', not '${v}'`,
  );
}

/**
 * The job-script lines that set the job's memory limit: RLIMIT_AS, and at the end the `oom` mark when the
 * command failed on an allocation (none when it asks for no memory, or with RUNCTRL_LOCAL_MEMORY_LIMIT=off).
 * The wall time is the executor's to enforce (deadlines below): no process of the job's waits for it.
 */
export function limitLines(
  job: Pick<JobSpec, 'exitCodeFile' | 'stderr' | 'resources'>,
  enforceMemory = true,
): string[] {
  const mb = job.resources.memoryMb;
  if (!enforceMemory || mb === undefined) return [];
  const mark = shq(limitMarkFile(job.exitCodeFile));
  // an earlier mark was removed when the job was queued (LocalBackend.enqueue); a timeout mark stands
  const atExit = `runctrl_lrc=$?; [ "$runctrl_lrc" -eq 0 ] || [ -s ${mark} ] || ! tail -c 8192 ${shq(job.stderr)} 2>/dev/null | grep -qiE '${ALLOCATION_FAILED}' || printf 'oom\\n' > ${mark}`;
  return [`trap ${shq(atExit)} EXIT`, `ulimit -v ${Math.ceil(mb * 1024)}`];
}

/** When the executor ends a job that started at `startedAt` (ms; undefined: no wall-time limit). */
export function walltimeDeadline(startedAt: number, walltimeS: number | undefined): number | undefined {
  return walltimeS === undefined ? undefined : startedAt + walltimeS * 1000;
}

/** A failed local job's state with the class its limit mark tells (`oom`, `timeout`), else as it is. */
export async function withLimitClass(st: JobState, exitCodeFile: string): Promise<JobState> {
  if (st.state !== 'failed') return st;
  let mark: string;
  try {
    mark = (await readFile(limitMarkFile(exitCodeFile), 'utf8')).trim();
  } catch {
    return st;
  }
  if (mark === 'timeout')
    return {
      ...st,
      failureClass: 'timeout',
      reason: `timeout: killed at its walltime_min; ${st.reason ?? ''}`,
    };
  if (mark === 'oom')
    return {
      ...st,
      failureClass: 'oom',
      reason: `oom: an allocation failed beyond its memory_mb (RLIMIT_AS); ${st.reason ?? ''}`,
    };
  return st;
}
