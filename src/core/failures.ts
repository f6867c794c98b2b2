/**
 * `runctrl failures` and the dashboard's failures view: a campaign's current failures grouped by cause
 * (src/domain/failures.ts), with the last non-empty stderr line of each unit's latest failed job (read by
 * the caller's `lastLine`, bounded in count and concurrency).
 */
import { failedJob, currentFailures, groupFailures, type FailureGroup } from '../domain/failures.js';
import type { JobRecord } from '../domain/jobs.js';
import type { RunState } from '../domain/state.js';
import { forEachStatus } from '../domain/state-table.js';
import { loadCampaign } from './campaigns.js';
import type { Ctx } from './context.js';

export interface FailuresResult {
  campaign: string;
  /** Pairs failed for good now. */
  failedNow: number;
  /** Failed jobs (attempts) in the last 24 h. */
  failedJobs24h: number;
  /** Units whose latest attempt failed. */
  units: number;
  /** Stderr lines read (the newest `maxStderr` units), of `units`. */
  stderrRead: number;
  groups: FailureGroup[];
}

export interface FailuresOptions {
  workflow?: string;
  now?: number;
  /** How many units' stderr is read at most (the newest first). */
  maxStderr?: number;
  lastLine: (job: JobRecord) => Promise<string>;
}

export async function failuresOf(
  campaign: string,
  st: { states: ReadonlyMap<string, RunState>; jobs: ReadonlyMap<string, JobRecord> },
  o: FailuresOptions,
): Promise<FailuresResult> {
  const now = o.now ?? Date.now();
  const jobs = [...st.jobs.values()].filter((j) => o.workflow === undefined || j.workflow === o.workflow);
  const current = currentFailures(jobs).sort((a, b) => b.head.time - a.head.time);
  const max = o.maxStderr ?? 500;
  const lines = await mapLimited(current.slice(0, max), 16, (c) => o.lastLine(c.head));
  const entries = current.map((c, i) => ({
    ...failedJob(c.head, lines[i] ?? ''),
    superseded: c.superseded.map((j) => failedJob(j)),
  }));
  let failedNow = 0;
  forEachStatus(st.states, (w, _run, s) => {
    if (s === 'failed' && (o.workflow === undefined || w === o.workflow)) failedNow++;
  });
  return {
    campaign,
    failedNow,
    failedJobs24h: jobs.filter((j) => j.status === 'failed' && j.time > now - 86_400_000).length,
    units: current.length,
    stderrRead: Math.min(max, current.length),
    groups: groupFailures(entries),
  };
}

async function mapLimited<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** `runctrl failures -c C`: the store's current state; stderr read from the recorded paths. */
export async function failures(
  ctx: Ctx,
  o: { campaign: string; workflow?: string },
): Promise<FailuresResult> {
  const c = await loadCampaign(ctx, o.campaign);
  const st = await ctx.store.campaignState(c.name);
  const { lastNonEmptyLine } = await import('../util/last-line.js');
  return failuresOf(c.name, st, {
    ...(o.workflow !== undefined ? { workflow: o.workflow } : {}),
    lastLine: (j) => lastNonEmptyLine(j.stderr),
  });
}
