/**
 * Retention (`compact --prune-older-than 90d`, `automation --retention 90d`): deletes history that a snapshot
 * superseded and that is older than the period, keeping the current state, each run × workflow pair's last N
 * status points and every job of a pair's last attempt (docs/metrics-and-retention.md).
 *
 * Per campaign: the current state is read (snapshot and what changed since), then an index of the status points
 * and of the job points older than the cutoff; the jobs that go are dropped from a fresh snapshot written before
 * anything is deleted; a prune marker says from when history is missing; then the gaps between kept points are
 * deleted by exact time ranges (src/domain/retention.ts); then job-end reports and lease claims older than the cutoff
 * (the newest claim of each campaign kept). Each step is idempotent and deletes only points no read
 * needs, so a prune cut short at any point loses nothing and the next one finishes it. A constant number of
 * queries per campaign, plus one request per DELETES_PER_REQUEST ranges.
 */
import { isInFlight, type JobRecord } from '../domain/jobs.js';
import { deletionRanges, keepLastN } from '../domain/retention.js';
import { stateKey, type RunState } from '../domain/state.js';
import { UsageError } from '../errors.js';
import {
  checkDeletePrivilege,
  deleteRanges,
  jobPointIndex,
  lastPrune,
  pruneJobEnds,
  pruneLeasePoints,
  statusPointIndex,
  writePruneMarker,
  type IndexedSeries,
  type PruneMarker,
  type SeriesRange,
} from '../store/retention.js';
import { M } from '../store/schema.js';
import { SNAPSHOT_OVERLAP_MS, type Store } from '../store/store.js';
import { loadCampaign } from './campaigns.js';
import type { Ctx } from './context.js';

export { lastPrune, type PruneMarker };

export const DEFAULT_KEEP = 20;
/** The daemon prunes at most this often. */
export const PRUNE_EVERY_MS = 86_400_000;
/** Lease claims are kept at least this long, whatever the period (a lease may be long-lived). */
const LEASE_KEEP_MS = 7 * 86_400_000;

export interface PruneOptions {
  /** History older than this (ms) goes. */
  olderThanMs: number;
  /** Status points kept per pair. */
  keep: number;
  /** Points written up to this long before the snapshot's watermark are still read with it (tests: 0). */
  overlapMs?: number;
  now?: () => number;
  /** DELETE statements per request (default DELETES_PER_REQUEST). */
  deletesPerRequest?: number;
}

export interface PruneResult {
  campaign: string;
  /** Points older than this (Unix ms) were considered. */
  cutoff: number;
  statusPoints: number;
  jobPoints: number;
  /** Jobs dropped (all their points; none of a pair's last attempt). */
  jobs: number;
  ranges: number;
  requests: number;
}

export function checkKeep(keep: number): void {
  if (!Number.isInteger(keep) || keep < 1)
    throw new UsageError(`--keep-status-points: a whole number of at least 1, not '${keep}'`);
}

/** A job whose points may all go: ended before the cutoff, and every run of it has a later attempt. */
function prunable(j: JobRecord, states: ReadonlyMap<string, RunState>, cutoff: number): boolean {
  if (isInFlight(j) || j.time >= cutoff) return false;
  return j.runs.every((run) => {
    const s = states.get(stateKey(run, j.workflow));
    return s !== undefined && s.attempt > j.attempt;
  });
}

function rangesOf(
  measurement: string,
  campaign: string,
  by: Map<string, IndexedSeries>,
): { ranges: SeriesRange[]; points: number } {
  const ranges: SeriesRange[] = [];
  let points = 0;
  for (const [workflow, s] of by) {
    for (const r of deletionRanges(s)) {
      ranges.push({ ...r, measurement, campaign, workflow });
      points += r.points;
    }
  }
  return { ranges, points };
}

/** Prunes one campaign (see the module's comment). */
export async function pruneCampaign(store: Store, campaign: string, o: PruneOptions): Promise<PruneResult> {
  const now = (o.now ?? Date.now)();
  const st = await store.campaignState(campaign);
  const cutoff = Math.min(now - o.olderThanMs, st.readAt - (o.overlapMs ?? SNAPSHOT_OVERLAP_MS));
  const [statusIdx, jobIdx] = await Promise.all([
    statusPointIndex(store, campaign),
    jobPointIndex(store, campaign, cutoff),
  ]);
  for (const s of statusIdx.values()) keepLastN(s, s.run, o.keep, cutoff);
  const gone = new Set<string>();
  for (const j of st.jobs.values()) if (prunable(j, st.states, cutoff)) gone.add(j.name);
  for (const s of jobIdx.values()) s.job.forEach((name, i) => (s.keep[i] = !gone.has(name)));
  const status = rangesOf(M.run, campaign, statusIdx);
  const jobs = rangesOf(M.job, campaign, jobIdx);
  const ranges = [...status.ranges, ...jobs.ranges];
  const result = {
    campaign,
    cutoff,
    statusPoints: status.points,
    jobPoints: jobs.points,
    jobs: gone.size,
    ranges: ranges.length,
    requests: 0,
  };
  // reads go through the snapshot: it must not hold the jobs about to go (a full read would not find them)
  for (const name of gone) st.jobs.delete(name);
  await store.writeSnapshot(campaign, st, st.readAt);
  if (ranges.length > 0) {
    await writePruneMarker(store, campaign, { cutoff, keep: o.keep });
    result.requests = await deleteRanges(store, ranges, o.deletesPerRequest);
  }
  await pruneJobEnds(store, campaign, cutoff);
  await pruneLeasePoints(store, campaign, Math.min(cutoff, now - LEASE_KEEP_MS));
  return result;
}

/** Refuses (one line naming the privilege) before anything is written when the user may not delete. */
export async function checkPrunePrivilege(store: Store): Promise<void> {
  await checkDeletePrivilege(store);
}

/** `compact --prune-older-than`: every campaign (or one), after the privilege check. */
export async function prune(ctx: Ctx, o: PruneOptions & { campaign?: string }): Promise<PruneResult[]> {
  checkKeep(o.keep);
  await checkPrunePrivilege(ctx.store);
  const names =
    o.campaign === undefined
      ? (await ctx.store.campaigns()).map((c) => c.name)
      : [(await loadCampaign(ctx, o.campaign)).name];
  const out: PruneResult[] = [];
  for (const c of names) out.push(await pruneCampaign(ctx.store, c, o));
  return out;
}

export function pruneSummary(r: PruneResult): string {
  return `retention: campaign ${r.campaign}: ${r.statusPoints} status point(s) and ${r.jobPoints} job point(s) of ${r.jobs} job(s) older than ${new Date(r.cutoff).toISOString()} deleted (${r.ranges} range(s), ${r.requests} request(s))`;
}

/** The daemon's retention: at most once a day, on the campaigns whose lease it holds; true when it deleted. */
export function retentionTask(
  ctx: Ctx,
  o: PruneOptions & { everyMs?: number; log?: (line: string) => void },
): (campaigns: string[]) => Promise<boolean> {
  let next = 0;
  return async (campaigns) => {
    const now = (o.now ?? Date.now)();
    if (now < next || campaigns.length === 0) return false;
    let changed = false;
    for (const c of campaigns) {
      const r = await pruneCampaign(ctx.store, c, o);
      o.log?.(pruneSummary(r));
      if (r.ranges > 0) changed = true;
    }
    next = now + (o.everyMs ?? PRUNE_EVERY_MS);
    return changed;
  };
}
