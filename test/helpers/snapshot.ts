/** Comparing a campaign's state read through its snapshot with the full read (snapshot tests). */
import { expect } from 'vitest';
import { RUN_STATUSES } from '../../src/domain/status.js';
import type { CampaignState } from '../../src/store/snapshot.js';
import type { Store } from '../../src/store/store.js';

/** A state as plain, order-independent data. */
export function plainState(st: CampaignState): object {
  return {
    states: Object.fromEntries([...st.states].sort()),
    registered: Object.fromEntries([...st.registered].sort((a, b) => a[0] - b[0])),
    jobs: Object.fromEntries([...st.jobs].sort()),
  };
}

/** The fast path went `via` and equals the full read; so do list's counts. */
export async function expectFastEqualsFull(
  store: Store,
  campaign: string,
  via: 'snapshot' | 'full',
): Promise<void> {
  const fast = await store.campaignState(campaign);
  expect(fast.via).toBe(via);
  const full = await store.fullState(campaign);
  expect(plainState(fast)).toEqual(plainState(full));
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0]));
  for (const s of full.states.values()) counts[s.status] = (counts[s.status] ?? 0) + 1;
  const runs = new Set([...full.states.values()].map((s) => s.run)).size;
  expect(await store.statusCounts(campaign)).toEqual({ counts, runs, malformed: [] });
  // `status` reads the statuses only: the same run × workflow statuses and registered runs
  const statuses = (st: CampaignState): object =>
    Object.fromEntries([...st.states.values()].map((s) => [`${s.workflow}/${s.run}`, s.status]).sort());
  const light = await store.campaignState(campaign, undefined, { statusesOnly: true });
  expect(light.via).toBe(via);
  expect(statuses(light)).toEqual(statuses(full));
  expect([...light.registered].sort((a, b) => a[0] - b[0])).toEqual(
    [...full.registered].sort((a, b) => a[0] - b[0]),
  );
}
