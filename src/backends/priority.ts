/**
 * runctrl's job priority (JobSpec.priority, see domain/priority.ts) in each batch system's own terms, within
 * what an ordinary user may set:
 *
 * | backend     | option                     | value                                         | user may set          |
 * |-------------|----------------------------|-----------------------------------------------|-----------------------|
 * | Slurm       | `sbatch --nice=N`          | top − priority (the highest gets nice 0)      | N ≥ 0 (lower only)    |
 * | Grid Engine | `qsub -p N`                | priority − top, at least −1023                | −1023 … 0             |
 * | HTCondor    | `priority = N` (submit)    | priority                                      | any integer           |
 * | LSF         | `bsub -sp N`               | 50 + priority, 1 … 100 (50: LSF's default)    | 1 … MAX_USER_PRIORITY |
 * | PBS         | `qsub -p N`                | priority, −1024 … 1023                        | −1024 … 1023          |
 *
 * A job at the default (priority 0, or the top for the lower-only systems) gets no option: the command line
 * stays what it was without priorities.
 */
import type { JobSpec } from './types.js';

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Math.round(v)));

type Prio = JobSpec['priority'];

export function slurmPriorityArgs(p: Prio): string[] {
  const nice = p ? clamp(p.top - p.value, 0, 2_000_000) : 0;
  return nice > 0 ? [`--nice=${nice}`] : [];
}

export function sgePriorityArgs(p: Prio): string[] {
  const v = p ? clamp(p.value - p.top, -1023, 0) : 0;
  return v < 0 ? ['-p', String(v)] : [];
}

export function htcondorPriorityLines(p: Prio): string[] {
  return p && p.value !== 0 ? [`priority = ${Math.round(p.value)}`] : [];
}

export function lsfPriorityArgs(p: Prio): string[] {
  return p && p.value !== 0 ? ['-sp', String(clamp(50 + p.value, 1, 100))] : [];
}

export function pbsPriorityArgs(p: Prio): string[] {
  const v = p ? clamp(p.value, -1024, 1023) : 0;
  return v !== 0 ? ['-p', String(v)] : [];
}

/** Part of the key of jobs that may share one array submission (they must share their priority). */
export function priorityKey(p: Prio): string {
  return p ? `${p.value}/${p.top}` : '';
}
