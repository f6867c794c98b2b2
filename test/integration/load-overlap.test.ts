/**
 * The daemon's incremental reads: a wake-up pass reads only since the previous read minus a short overlap, a
 * full pass since the previous full pass's read minus the long one — so a late write (a point whose timestamp
 * is older than its arrival) that a burst of wake-up passes skips is still read by the next full pass.
 */
import { describe, expect, it } from 'vitest';
import { loadCampaignState, StateCache } from '../../src/automation/load.js';
import { stateKey } from '../../src/domain/state.js';
import { Store } from '../../src/store/store.js';
import { freshDb } from '../helpers/influx.js';

const client = freshDb('overlap');
const store = new Store(client);
const C = 'ov';

const line = (run: number, status: string, ms: number): string =>
  `run,campaign=${C},workflow=w run=${run}i,status="${status}",attempt=1i,tries=1i,outputs="",reason="" ${ms * 1_000_000 + run}`;

describe('incremental reads of the daemon', () => {
  it('a late write missed by wake-up passes is read by the next full pass', async () => {
    await client.createDatabase();
    const t = Date.now();
    await client.write([line(1, 'new', t - 1_000), line(2, 'new', t - 30_000)]);
    const cache = new StateCache(60_000, 3_600_000, 5_000);
    const first = await loadCampaignState(store, cache, C, t, { snapshot: false });
    expect(first.states.get(stateKey(2, 'w'))?.status).toBe('new');

    // run 1 moves on normally; run 2's point arrives late, stamped 20 s in the past
    await client.write([line(1, 'processing', Date.now()), line(2, 'done', t - 20_000 + 500)]);
    const woken = await loadCampaignState(store, cache, C, Date.now(), { snapshot: false, wake: true });
    expect(woken.states.get(stateKey(1, 'w'))?.status).toBe('processing');
    expect(woken.states.get(stateKey(2, 'w'))?.status).toBe('new'); // outside the short overlap

    const full = await loadCampaignState(store, cache, C, Date.now(), { snapshot: false });
    expect(full.states.get(stateKey(2, 'w'))?.status).toBe('done');
  });
});
