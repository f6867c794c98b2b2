/**
 * Step 2 of a pass: a campaign's current state (run × workflow states, registered runs, jobs), read in a
 * constant number of queries; incremental when a StateCache from the previous pass is at hand (daemon mode).
 */
import type { JobRecord } from '../domain/jobs.js';
import type { RegisteredRun, RunState } from '../domain/state.js';
import type { Store } from '../store/store.js';

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
      readAt: number;
      loadedAt: number;
    }
  >();
  /** Reads overlap the previous read by overlapMs; everything is read again every fullReloadMs. */
  constructor(
    readonly overlapMs = 60_000,
    readonly fullReloadMs = 3_600_000,
  ) {}
}

export async function loadCampaignState(
  store: Store,
  cache: StateCache | undefined,
  campaign: string,
  now: number,
): Promise<{
  states: Map<string, RunState>;
  registered: Map<number, RegisteredRun>;
  jobs: Map<string, JobRecord>;
}> {
  const hit = cache?.entries.get(campaign);
  if (!hit || !cache || now - hit.loadedAt > cache.fullReloadMs) {
    const [states, registered, jobs] = await Promise.all([
      store.runStates(campaign),
      store.registeredRuns(campaign),
      store.jobs(campaign),
    ]);
    cache?.entries.set(campaign, { states, registered, jobs, readAt: now, loadedAt: now });
    return { states, registered, jobs };
  }
  const since = hit.readAt - cache.overlapMs;
  const [states, registered, jobs] = await Promise.all([
    store.runStates(campaign, { since }),
    store.registeredRuns(campaign, { since }),
    store.jobs(campaign, { since }),
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
  hit.readAt = now;
  return hit;
}
