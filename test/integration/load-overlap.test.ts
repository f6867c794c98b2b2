/**
 * The daemon's incremental reads: a wake-up pass reads only since the previous read minus a short overlap, a
 * full pass since the previous full pass's read minus the long one — so a late write (a point whose timestamp
 * is older than its arrival) that a burst of wake-up passes skips is still read by the next full pass.
 */
import { describe, expect, it } from 'vitest';
import { loadCampaignState, StateCache } from '../../src/automation/load.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import { stateKey } from '../../src/domain/state.js';
import { jobPoint, selfReportedJobPoint } from '../../src/store/schema.js';
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

  it("a pass re-reads only the jobs' own reports, not the points it wrote itself", async () => {
    const job = (name: string, run: number): JobRecord => ({
      campaign: C,
      workflow: 'w',
      name,
      unit: `r${run}`,
      runs: [run],
      attempt: 1,
      status: 'done',
      backend: 'local',
      nativeId: `local:h:${run}`,
      stdout: '/o',
      stderr: '/e',
      exitCodeFile: '/x',
      outputFile: '/f',
      exitCode: 0,
      outputs: [`/data/${run}.root`],
      reason: '',
      submittedAt: 1,
      unknownSince: 0,
      heldSince: 0,
      time: Date.now(),
    });
    const t = Date.now();
    await store.write([jobPoint(job('by-the-pass', 11)), selfReportedJobPoint(job('by-the-job', 12))]);
    const all = await store.jobs(C, { since: t - 5_000 });
    expect([...all.keys()].sort()).toEqual(['by-the-job', 'by-the-pass']);
    const own = await store.jobs(C, { since: t - 5_000, selfReported: true });
    expect([...own.keys()]).toEqual(['by-the-job']);
    expect(own.get('by-the-job')?.outputs).toEqual(['/data/12.root']);
  });
});
