/**
 * The local backend's memory and wall-time limits (docs/retry-policy.md), enforced by the job script itself so
 * that they hold whatever happens to the executor (a restarted executor adopts jobs with their limits):
 * - memory_mb: RLIMIT_AS (`ulimit -v`) for the command: an allocation beyond it fails inside the command.
 *   When the command then fails and its stderr tail tells an allocation failure (MemoryError, Cannot allocate
 *   memory, std::bad_alloc, out of memory), the job is marked `oom`.
 * - walltime_min: a watchdog in the job's session sends SIGTERM to the job's process group at the limit and
 *   SIGKILL 5 s later; the job is marked `timeout`.
 * The mark is a file next to the exit-code file (`<exit-code file>.limit`), written before the job's process
 * ends, so the executor's end record always finds it.
 */
import { readFile } from 'node:fs/promises';
import type { JobSpec, JobState, Resources } from './types.js';
import { UserError } from '../errors.js';
import { walltimeSeconds } from './common.js';
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

/** The job-script lines that set the job's limits (none when it asks for neither). */
export function limitLines(
  job: Pick<JobSpec, 'exitCodeFile' | 'stderr' | 'resources'>,
  enforceMemory = true,
): string[] {
  const r: Resources = enforceMemory ? job.resources : { ...job.resources, memoryMb: undefined };
  if (r.memoryMb === undefined && r.walltimeMin === undefined) return [];
  const mark = shq(limitMarkFile(job.exitCodeFile));
  // an earlier mark was removed when the job was queued (LocalBackend.enqueue)
  const lines = ['runctrl_wd='];
  if (r.walltimeMin !== undefined) {
    const s = walltimeSeconds(r.walltimeMin);
    // sleeps in steps of at most 5 s while the job lives, so that it does not outlive the job by long
    lines.push(
      `( trap '' TERM INT; n=${s}; while [ "$n" -gt 0 ] && kill -0 $$ 2>/dev/null; do t=$n; [ "$t" -gt 5 ] && t=5; sleep "$t"; n=$((n - t)); done; ` +
        `kill -0 $$ 2>/dev/null || exit 0; printf 'timeout\\n' > ${mark}; kill -TERM -$$ 2>/dev/null; sleep ${KILL_AFTER_S}; kill -KILL -$$ 2>/dev/null ) </dev/null >/dev/null 2>&1 &`,
      'runctrl_wd=$!',
    );
  }
  const oom =
    r.memoryMb === undefined
      ? ''
      : `; [ "$runctrl_lrc" -eq 0 ] || [ -s ${mark} ] || ! tail -c 8192 ${shq(job.stderr)} 2>/dev/null | grep -qiE '${ALLOCATION_FAILED}' || printf 'oom\\n' > ${mark}`;
  // at the end: the watchdog goes (unless it timed the job out: its SIGKILL still comes), the oom mark is set
  const atExit = `runctrl_lrc=$?; [ -z "$runctrl_wd" ] || [ -s ${mark} ] || kill -KILL "$runctrl_wd" 2>/dev/null${oom}`;
  lines.push(`trap ${shq(atExit)} EXIT`);
  if (r.memoryMb !== undefined) lines.push(`ulimit -v ${Math.ceil(r.memoryMb * 1024)}`);
  return lines;
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
