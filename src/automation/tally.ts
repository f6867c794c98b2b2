/** What a pass counts for metrics beyond its report's totals (src/automation/metrics.ts exports them). */
import type { JobRecord } from '../domain/jobs.js';

export interface UnitTally {
  submitted: number;
  done: number;
  failed: number;
}

/** Counts a unit of a workflow in a campaign's report (per-workflow metrics). */
export function tallyUnit(
  r: { byWorkflow?: Record<string, UnitTally> },
  workflow: string,
  k: keyof UnitTally,
): void {
  const w = ((r.byWorkflow ??= {})[workflow] ??= { submitted: 0, done: 0, failed: 0 });
  w[k]++;
}

/** The state of a job in flight as metrics label it: intent (no native id yet), held, unknown, idle or running. */
export function inFlightState(j: JobRecord): string {
  if (j.nativeId === '') return 'intent';
  if (j.heldSince > 0) return 'held';
  if (j.unknownSince > 0) return 'unknown';
  return j.status;
}
