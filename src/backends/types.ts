/**
 * Glossary
 * - backend: a batch system runctrl submits jobs to (local processes, Slurm, Grid Engine, HTCondor, LSF, PBS).
 * - job name: deterministic, `rc.<campaign>.<workflow>.<key>.a<attempt>`; a restarted loop finds jobs by it.
 * - native id: the backend's own id, an opaque string that keeps the cluster/schedd (e.g. `1234_7`, `schedd#31.0`).
 * - exit-code file: written by the job wrapper when the job ends (130/143 when signalled); the last word
 *   on a job that the batch system has forgotten.
 * - unknown: the backend cannot say (job gone from the queue, no accounting yet, no exit-code file).
 *   Never the same as failed: the loop waits a grace period before calling such a job lost.
 */

import type { FailureClass } from '../domain/retry.js';

export interface Resources {
  cpus?: number;
  /** Memory in MB. */
  memoryMb?: number;
  /** Wall time in minutes. */
  walltimeMin?: number;
  /** Queue (LSF, PBS, SGE, HTCondor accounting group) or partition (Slurm). */
  queue?: string;
  account?: string;
  /** Extra directives passed verbatim (e.g. `--qos=short` for Slurm, `+MaxRuntime = 3600` for HTCondor). */
  extra?: string[];
}

export interface JobSpec {
  /** Deterministic job name, unique per campaign, workflow, run/group and attempt. */
  name: string;
  /** Shell command line, run by /bin/sh inside the wrapper. */
  command: string;
  /** Working directory of the job; exists before submit. */
  workDir: string;
  stdout: string;
  stderr: string;
  /** Where the wrapper writes the exit code. */
  exitCodeFile: string;
  env: Record<string, string>;
  /**
   * Secrets for the job (e.g. the InfluxDB credentials a job reports with): handed to the job through the
   * process environment only — never written into a job script, a log, a registry or any other file.
   */
  secretEnv?: Record<string, string>;
  resources: Resources;
  /**
   * runctrl's priority of the job (higher first, see domain/priority.ts) and the highest priority of the
   * campaigns in play: backends that let a user only lower a job's priority (Slurm nice, Grid Engine -p) lower
   * it by top − value, the others set value. Absent: the backend's default.
   */
  priority?: { value: number; top: number };
}

export interface Submitted {
  name: string;
  /** Native id, opaque. */
  id: string;
}

export interface SubmitResult {
  submitted: Submitted[];
  /** Refused for now (submit limit, busy scheduler): submit again in a later pass; never a failure. */
  deferred: { name: string; reason: string }[];
  /** Refused for good (impossible request): the attempt fails with this reason. */
  rejected: { name: string; reason: string }[];
}

export type NativeState = 'pending' | 'running' | 'held' | 'done' | 'failed' | 'cancelled' | 'unknown';

export interface JobState {
  state: NativeState;
  exitCode?: number;
  /** Why (hold reason, failure reason, "not in queue"). */
  reason?: string;
  /** Of a failed job: why the batch system says it failed (absent: the poller decides from the exit code). */
  failureClass?: FailureClass;
}

export interface TrackedJob {
  id: string;
  name: string;
  exitCodeFile: string;
  /** Unix ms of the submission. */
  submittedAt: number;
}

export interface Backend {
  readonly name: string;
  /** Submits jobs in bulk (array jobs where the system has them). */
  submit(jobs: JobSpec[]): Promise<SubmitResult>;
  /** One bulk query for all jobs (plus accounting/exit-file fallback for those missing); keyed by native id. */
  status(jobs: TrackedJob[]): Promise<Map<string, JobState>>;
  /** Cancels; ids that already finished or are unknown are not an error. */
  cancel(ids: string[]): Promise<void>;
  /** Jobs currently known to the system whose names are among `names` (reconciliation after a crash). */
  find(names: string[]): Promise<Submitted[]>;
  /** All of the user's jobs in the system (for the in-flight limit). */
  inFlight(): Promise<number>;
  /**
   * Optional wake-up: calls `onChange` soon after one of this backend's jobs ends (or starts), so the loop can
   * act at once instead of waiting for its next poll; a hint only, the loop still asks `status`. Returns a
   * function that stops watching (idempotent).
   */
  watch?(onChange: () => void): () => void;
  /** Idempotent. */
  close(): Promise<void>;
}

export function jobName(campaign: string, workflow: string, key: string | number, attempt: number): string {
  return `rc.${campaign}.${workflow}.${key}.a${attempt}`;
}
