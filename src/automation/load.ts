/**
 * Step 2 of a pass: a campaign's current state (run × workflow states, registered runs, jobs), read in a
 * constant number of queries and independent of the length of the history: the newest snapshot plus the points
 * written since its watermark (Store.campaignState), then only what changed since the previous pass when a
 * StateCache from the previous pass is at hand (daemon mode). A fresh read may leave a new snapshot behind.
 */
import type { JobRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import { pointId, type MalformedPoint } from '../store/malformed.js';
import type { CampaignReadResult, Store } from '../store/store.js';
import { fault } from './fault.js';

/**
 * What a long-running loop keeps between passes: each campaign's state, so that a pass reads only the points
 * written since the previous read (minus an overlap window for late writes) instead of the whole history.
 */
export class StateCache {
  readonly entries = new Map<
    string,
    {
      states: Map<string, RunState>;
      registered: Map<number, RegisteredRun>;
      jobs: Map<string, JobRecord>;
      /** Malformed points the reads skipped and no newer valid point superseded (docs/malformed-points.md). */
      malformed: MalformedPoint[];
      readAt: number;
      /** When the last full pass read (its reads overlap the previous full pass's by overlapMs). */
      fullReadAt: number;
      loadedAt: number;
    }
  >();
  /**
   * A full pass reads what was written since the previous full pass's read minus overlapMs (late writes: points
   * whose timestamps are older than their arrival); a wake-up pass, since the previous read minus wakeOverlapMs,
   * so that a burst of wake-ups does not re-read the last minute each time — what a wake-up pass misses, the
   * next full pass reads. Everything is read again every fullReloadMs.
   */
  constructor(
    readonly overlapMs = 60_000,
    readonly fullReloadMs = 3_600_000,
    readonly wakeOverlapMs = 1_000,
  ) {}
}

/** A fresh read leaves a new snapshot when the newest one is older than this… */
export const SNAPSHOT_EVERY_MS = 30 * 60_000;
/** …or when this many entries changed since its watermark, or when there was none. */
export const SNAPSHOT_AFTER_CHANGES = 20_000;

export interface LoadOptions {
  /** Write a snapshot when the one read is missing or old (false with --dry-run). Default true. */
  snapshot?: boolean;
  log?: (line: string) => void;
  /** A wake-up pass (a short overlap, see StateCache). */
  wake?: boolean;
}

function snapshotDue(r: CampaignReadResult, now: number): boolean {
  if (r.via === 'full' || !r.head) return true;
  return r.changed >= SNAPSHOT_AFTER_CHANGES || now - r.head.watermark >= SNAPSHOT_EVERY_MS;
}

/**
 * The state through the fast path; a snapshot taken from it when due, before anyone folds anything into the
 * state (it must be exactly what InfluxDB holds). A failed snapshot write costs speed, never correctness.
 */
async function freshRead(
  store: Store,
  campaign: string,
  now: number,
  o: LoadOptions,
): Promise<CampaignReadResult> {
  const r = await store.campaignState(campaign);
  if ((o.snapshot ?? true) && snapshotDue(r, now)) {
    try {
      await store.writeSnapshot(campaign, r, r.readAt, () => fault('snapshot-before-head'));
    } catch (err) {
      o.log?.(
        `campaign ${campaign}: snapshot not written (${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  return r;
}

export async function loadCampaignState(
  store: Store,
  cache: StateCache | undefined,
  campaign: string,
  now: number,
  o: LoadOptions = {},
): Promise<{
  states: Map<string, RunState>;
  registered: Map<number, RegisteredRun>;
  jobs: Map<string, JobRecord>;
}> {
  const hit = cache?.entries.get(campaign);
  if (!hit || !cache || now - hit.loadedAt > cache.fullReloadMs) {
    const { states, registered, jobs, readAt, malformed } = await freshRead(store, campaign, now, o);
    const entry = { states, registered, jobs, malformed, readAt, fullReadAt: readAt, loadedAt: now };
    cache?.entries.set(campaign, entry);
    return { states, registered, jobs };
  }
  const since = o.wake ? hit.readAt - cache.wakeOverlapMs : hit.fullReadAt - cache.overlapMs;
  const malformed: MalformedPoint[] = [];
  const [states, registered, jobs] = await Promise.all([
    store.runStates(campaign, { since, malformed }),
    store.registeredRuns(campaign, { since, malformed }),
    store.jobs(campaign, { since, malformed }),
  ]);
  for (const [k, s] of states) {
    const cur = hit.states.get(k);
    if (!cur || s.time >= cur.time) hit.states.set(k, s);
  }
  for (const [k, r] of registered) hit.registered.set(k, r);
  for (const [k, j] of jobs) {
    const cur = hit.jobs.get(k);
    if (!cur || j.time >= cur.time) hit.jobs.set(k, j);
  }
  hit.malformed = stillMalformed(hit, [...hit.malformed, ...malformed]);
  hit.readAt = now;
  if (!o.wake) hit.fullReadAt = now;
  return hit;
}

/** The malformed points (once each) whose entity has no valid point as new as them in the state. */
function stillMalformed(
  st: { states: Map<string, RunState>; jobs: Map<string, JobRecord> },
  points: readonly MalformedPoint[],
): MalformedPoint[] {
  const out = new Map<string, MalformedPoint>();
  for (const p of points) {
    const e = p.entity;
    const valid =
      e === undefined
        ? undefined
        : p.measurement === 'run'
          ? st.states.get(e)
          : p.measurement === 'job'
            ? st.jobs.get(e)
            : undefined;
    if (!valid || valid.time < p.time) out.set(pointId(p), p);
  }
  return [...out.values()];
}
