/**
 * Jobs, work units, locks and leases (pure types and rules).
 *
 * Glossary
 * - work unit: what one job processes: one run (granularity "run") or a group of runs (an era, or every N runs).
 * - attempt: the number of a job of a work unit; grows across retries and reprocessing, so job names never repeat.
 * - intent: a job point written before submission, without a native id; on restart it is reconciled with the
 *   backend (found → its id is recorded; not found → submitted again under the same name).
 */
import type { FailureClass } from './retry.js';
import type { JobStatus } from './status.js';

export interface JobRecord {
  campaign: string;
  workflow: string;
  /** Deterministic name: rc.<campaign>.<workflow>.<unit>.a<attempt>. */
  name: string;
  /** Unit key: `r<run>` or `g<era-or-index>-<firstRun>-<lastRun>`. */
  unit: string;
  /** Runs processed by the job. */
  runs: number[];
  attempt: number;
  status: JobStatus;
  backend: string;
  /** Native id; '' while only the intent is recorded. */
  nativeId: string;
  stdout: string;
  stderr: string;
  exitCodeFile: string;
  outputFile: string;
  exitCode: number | null;
  outputs: string[];
  reason: string;
  /** Unix ms of the submission (intent). */
  submittedAt: number;
  /** Unix ms since the backend first could not say anything of the job (0 = it could). */
  unknownSince: number;
  /** Unix ms since the job has been held (0 = not held). */
  heldSince: number;
  /** Unix ms of this point. */
  time: number;
  /** Of a failed job: why it failed (`unknown` for failed points recorded before classes existed). */
  failureClass?: FailureClass;
  /** Memory (MB) and wall time (min) this attempt asked for; absent: none asked (or recorded before). */
  memoryMb?: number;
  walltimeMin?: number;
  /** Node retries in a row up to this attempt (they do not count against max_retries). */
  nodeRetries?: number;
}

export function isInFlight(j: JobRecord): boolean {
  return j.status === 'idle' || j.status === 'running';
}

export interface LockRecord {
  campaign: string;
  workflow: string;
  /** Runs ≥ fromRun are held. */
  fromRun: number;
  reason: string;
  locked: boolean;
  by: string;
  time: number;
}

export function lockHolds(
  locks: readonly LockRecord[],
  workflow: string,
  run: number,
): LockRecord | undefined {
  return locks.find((l) => l.locked && l.workflow === workflow && run >= l.fromRun);
}

export interface LeasePoint {
  owner: string;
  /** Unix ms; 0 = released. */
  expires: number;
  time: number;
}

/**
 * Who holds the lease, from the claim history: the earliest claim made while no valid lease existed wins;
 * the holder renews (later expiry) or releases (expires = 0). Every reader computes the same answer from the
 * same points, however its reads and writes interleave with a competitor's.
 */
export function leaseHolder(points: readonly LeasePoint[], now: number): LeasePoint | undefined {
  let holder: LeasePoint | undefined;
  // ties (two claims stamped in the same millisecond) are broken by owner, so the order the points were read
  // in never matters
  const ordered = [...points].sort(
    (a, b) => a.time - b.time || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : a.expires - b.expires),
  );
  for (const p of ordered) {
    const valid = holder !== undefined && holder.expires > p.time;
    if (holder && valid && p.owner === holder.owner) {
      holder = p.expires === 0 ? undefined : p;
    } else if (!valid && p.expires > 0) {
      holder = p;
    }
  }
  return holder && holder.expires > now ? holder : undefined;
}
