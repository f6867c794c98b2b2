/** Status of one run × workflow. */
export const RUN_STATUSES = ['new', 'processing', 'done', 'failed', 'reprocess'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Status of one batch job (ECAL JobCtrl one-hot fields). */
export const JOB_STATUSES = ['idle', 'running', 'done', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export function isRunStatus(s: string): s is RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(s);
}

export function isJobStatus(s: string): s is JobStatus {
  return (JOB_STATUSES as readonly string[]).includes(s);
}

/** Statuses a run × workflow is waiting to be (re)processed in. */
export function isPending(s: RunStatus): boolean {
  return s === 'new' || s === 'reprocess';
}

/** A count of zero for every run status. */
export function emptyCounts(): Record<RunStatus, number> {
  return Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
}
