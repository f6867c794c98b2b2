/**
 * Loop health use cases: the loops that wrote a heartbeat (`runctrl loops`) and, per campaign, who holds it,
 * how long since its last pass and whether it is stale (`list`, `status`, the dashboard). Two queries
 * whatever the number of campaigns, loops or runs: the last heartbeat of every loop, and the lease claims.
 */
import type { Campaign } from '../domain/campaign.js';
import { activityOf } from '../domain/campaign.js';
import type { LeasePoint } from '../domain/jobs.js';
import {
  campaignHealth,
  holders,
  loopViews,
  type CampaignHealth,
  type CampaignWork,
  type Heartbeat,
  type LoopView,
} from '../domain/loop-health.js';
import type { RunStatus } from '../domain/status.js';
import type { Store } from '../store/store.js';
import type { Ctx } from './context.js';

/** Heartbeats older than this are not listed by default. */
export const LOOPS_SINCE_MS = 7 * 86_400_000;
/** Lease claims are read this far back (at least the window a loop reads, see Lease). */
const CLAIMS_SINCE_MS = 86_400_000;

export interface LoopHealthInput {
  heartbeats: Heartbeat[];
  claims: Map<string, LeasePoint[]>;
  now: number;
}

/** The heartbeats and lease claims, read together (2 queries); nothing when the database does not exist. */
export async function readLoopHealth(
  store: Store,
  sinceMs: number = LOOPS_SINCE_MS,
): Promise<LoopHealthInput> {
  const now = Date.now();
  if (!(await store.databaseExists())) return { heartbeats: [], claims: new Map(), now };
  const [heartbeats, claims] = await Promise.all([
    store.heartbeats(now - Math.max(sinceMs, CLAIMS_SINCE_MS)),
    store.leasePointsByScope(now - CLAIMS_SINCE_MS),
  ]);
  return { heartbeats, claims, now };
}

export interface LoopsResult {
  loops: LoopView[];
  /** Campaigns whose lease a loop holds but whose holder wrote no heartbeat (a loop of an older version). */
  heldWithoutHeartbeat: { campaign: string; holder: string }[];
}

/** Every loop seen in the last `sinceMs`: live, stale or stopped, with the campaigns it holds. */
export async function listLoops(ctx: Ctx, o: { sinceMs?: number } = {}): Promise<LoopsResult> {
  const since = o.sinceMs ?? LOOPS_SINCE_MS;
  const h = await readLoopHealth(ctx.store, since);
  const loops = loopViews(
    h.heartbeats.filter((b) => b.passEnd >= h.now - since),
    h.claims,
    h.now,
  );
  const known = new Set(h.heartbeats.map((b) => b.loop));
  const heldWithoutHeartbeat = [...holders(h.claims, h.now)]
    .filter(([, holder]) => !known.has(holder))
    .map(([campaign, holder]) => ({ campaign, holder }));
  return { loops, heldWithoutHeartbeat };
}

/** Waiting or in flight: what a loop has to do for a campaign. */
export function hasWork(counts: Readonly<Record<RunStatus, number>>): boolean {
  return counts.new + counts.processing + counts.reprocess > 0;
}

export function workOf(c: Campaign, counts: Readonly<Record<RunStatus, number>>): CampaignWork {
  return { name: c.name, active: activityOf(c) !== 'idle', hasWork: hasWork(counts) };
}

/** The dashboard's overview and campaign page: each campaign's loop health, its work from its state's counts. */
export function healthOfCounts(
  items: readonly { campaign: Campaign; counts: Readonly<Record<RunStatus, number>> }[],
  h: LoopHealthInput,
): Map<string, CampaignHealth> {
  return campaignHealth(
    items.map((i) => workOf(i.campaign, i.counts)),
    h.heartbeats,
    h.claims,
    h.now,
  );
}
